"""3D inference throughput: ``predict_volume`` against plain MONAI ``sliding_window_inference``.

Same network (``build_network`` of a preset, random weights, eval mode), same volume, same torch
threads, same window / overlap / Gaussian blending / batch size on both sides; the sides are run
interleaved ``--repeats`` times. MONAI runs on the volume as it is (windows inside the volume);
``predict_volume`` runs with ``edge="inside"`` (the same windows) and ``edge="reflect"`` (half a
patch of reflected context at every volume end, as training patches see it). Optionally the
former implementation (``--old PATH`` to a copy of the previous ``inference.py``) is timed too.

    python benchmarks/bench_inference.py --size 128 --threads 2 --repeats 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="cube edge (voxels)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2, help="windows per forward pass (both sides)")
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--old", default=None, help="path of the former inference.py, timed as a third side")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch
    from monai.inferers import sliding_window_inference

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.inference import predict_volume, window_grid
    from liberation.segmentation.model import build_network, network_params

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = get_preset(args.preset)
    net = build_network(network_params(cfg, in_channels=1, out_channels=4)).eval()
    roi = tuple(int(p) for p in cfg.patch_size)

    class Card:
        patch_size = roi
        class_ids = [1, 2, 3, 4]
        normalization = {"method": "percentile", "low": 0.5, "high": 99.5, "value_low": 0.0, "value_high": 1.0}

    n = args.size
    vol = np.random.default_rng(0).random((n, n, n), dtype=np.float32)

    def run_monai():
        with torch.no_grad():
            logits = sliding_window_inference(torch.from_numpy(vol)[None, None], roi_size=roi,
                                              sw_batch_size=args.batch, predictor=net, overlap=args.overlap,
                                              mode="gaussian", padding_mode="replicate")
            return torch.softmax(logits, 1)[0].argmax(0).numpy()

    def run_ours(edge):
        return lambda: predict_volume(vol, net, Card, device="cpu", overlap=args.overlap,
                                      sw_batch_size=args.batch, edge=edge, show_progress=False)

    sides = {"monai": run_monai, "predict_volume inside": run_ours("inside"),
             "predict_volume reflect": run_ours("reflect")}
    if args.old:
        spec = importlib.util.spec_from_file_location("old_inference", args.old)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
        sides["former predict_volume"] = lambda: old.predict_volume(vol, net, Card, device="cpu", overlap=args.overlap,
                                                                    sw_batch_size=args.batch, show_progress=False)
    counts = {"monai": len(window_grid(vol.shape, roi, overlap=args.overlap, reflect=((False, False),) * 3)),
              "predict_volume inside": len(window_grid(vol.shape, roi, overlap=args.overlap,
                                                       reflect=((False, False),) * 3)),
              "predict_volume reflect": len(window_grid(vol.shape, roi, overlap=args.overlap))}
    times = {k: [] for k in sides}
    results = {}
    for _ in range(args.repeats):
        for name, fn in sides.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    agree = float((results["monai"] == results["predict_volume inside"].astype(np.int64) - 1).mean())
    best = {k: min(v) for k, v in times.items()}
    report = {"size": n, "preset": args.preset, "patch": roi, "threads": args.threads, "batch": args.batch,
              "overlap": args.overlap, "load": os.getloadavg(), "times_s": times, "windows": counts,
              "voxels_per_s": {k: n ** 3 / t for k, t in best.items()},
              "ratio_vs_monai": {k: best["monai"] / t for k, t in best.items()},
              "labels_equal_monai_inside": agree}
    for k in sides:
        print(f"{k:24s} windows {counts.get(k, '-')!s:>5}  best {best[k]:7.2f} s  "
              f"{n ** 3 / best[k]:10.3g} vox/s  ratio vs MONAI {best['monai'] / best[k]:5.2f}  "
              f"runs {', '.join(f'{t:.2f}' for t in times[k])}")
    print(f"labels equal to MONAI's (inside placement): {agree:.6f}; load {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
