"""3D inference throughput: ``predict_volume`` (torch and ONNX Runtime) against plain MONAI ``sliding_window_inference``.

Same network (``build_network`` of a preset, random weights, eval mode), same volume, same
threads (torch and ONNX Runtime intra-op), same window / overlap / Gaussian blending / batch
size on every side; the sides run interleaved ``--repeats`` times, in one process, in reversed
order every second repeat (against a trend in the machine's load), and the best time of each
is compared (ratio = MONAI time / side time, > 1 = faster than MONAI). MONAI runs on the
volume as it is (windows inside the volume) and its probabilities are arg-maxed, as
``predict_volume`` does. ``--sides`` picks among MONAI, ``predict_volume`` with the torch or
the ONNX Runtime backend (``ort``), each with ``edge="inside"`` (the same windows as MONAI),
``edge="z-ends"`` (MONAI's windows plus one layer centred on each z end plane, the ``segment``
default) or ``edge="reflect"`` (half a patch of reflected context at every volume end). Every side's
network time is measured too (a timing wrapper around the forward pass), so the overhead
outside the network is reported apart.
``--old PATH`` (a copy of a former ``inference.py``) adds that implementation as a side.

    OMP_NUM_THREADS=2 python benchmarks/bench_inference.py --size 128 --threads 2 --repeats 2
    python benchmarks/bench_inference.py --shape 48,256,256 --sides monai,torch-inside,ort-inside
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time

import numpy as np

ALL_SIDES = ("monai", "torch-inside", "ort-inside", "torch-z-ends", "ort-z-ends", "torch-reflect", "ort-reflect",
             "former")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128, help="cube edge (voxels)")
    ap.add_argument("--shape", default=None, help="z,y,x instead of a cube")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2, help="windows per forward pass (every side)")
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--sides", default="monai,torch-z-ends,ort-z-ends,torch-inside,ort-inside",
                    help=f"comma-separated, of {ALL_SIDES}")
    ap.add_argument("--old", default=None, help="path of a former inference.py (side 'former')")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch
    from monai.inferers import sliding_window_inference

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.inference import _edge_reflect, window_grid
    from liberation.segmentation.model import build_network, network_params
    from liberation.segmentation.onnx_backend import onnx_network

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = get_preset(args.preset)
    net = build_network(network_params(cfg, in_channels=1, out_channels=4)).eval()
    roi = tuple(int(p) for p in cfg.patch_size)

    class Card:
        patch_size = roi
        class_ids = [1, 2, 3, 4]
        normalization = {"method": "percentile", "low": 0.5, "high": 99.5, "value_low": 0.0, "value_high": 1.0}

    shape = tuple(int(v) for v in args.shape.split(",")) if args.shape else (args.size,) * 3
    n_vox = int(np.prod(shape))
    vol = np.random.default_rng(0).random(shape, dtype=np.float32)
    sides = [s for s in args.sides.split(",") if s]
    if args.old:
        sides.append("former")
    unknown = set(sides) - set(ALL_SIDES)
    if unknown:
        raise SystemExit(f"unknown sides {sorted(unknown)}; expected some of {ALL_SIDES}")

    t_export = time.perf_counter()
    onnx_net = onnx_network(net, Card, threads=args.threads) if any(s.startswith("ort") for s in sides) else None
    t_export = time.perf_counter() - t_export
    forward_s = {}

    class Timed:
        """Times the forward passes of one side (the same thin wrapper on every side)."""

        def __init__(self, fn, name):
            self.fn, self.name = fn, name

        def __call__(self, x):
            t0 = time.perf_counter()
            y = self.fn(x)
            forward_s[self.name] += time.perf_counter() - t0
            return y

        # predict_volume calls network.to(device).eval()
        def to(self, _device):
            return self

        def eval(self):
            return self

    def run_monai():
        with torch.inference_mode():
            logits = sliding_window_inference(torch.from_numpy(vol)[None, None], roi_size=roi,
                                              sw_batch_size=args.batch, predictor=Timed(net, "monai"),
                                              overlap=args.overlap, mode="gaussian")
            return torch.softmax(logits, 1)[0].argmax(0).numpy().astype(np.uint8) + 1

    from liberation.segmentation import inference

    def run_ours(name):
        backend, edge = name.split("-", 1)
        model = net if backend == "torch" else onnx_net

        def run():
            # the timing wrapper goes around the forward function predict_volume builds (for torch:
            # the inference form of the network, built inside the call and timed with the run)
            former = inference._forward
            inference._forward = lambda *a, **k: Timed(former(*a, **k), name)
            try:
                return inference.predict_volume(vol, model, Card, device="cpu", overlap=args.overlap,
                                                sw_batch_size=args.batch, edge=edge, show_progress=False,
                                                backend="torch" if backend == "torch" else "onnxruntime")
            finally:
                inference._forward = former

        return run

    fns = {}
    for s in sides:
        if s == "monai":
            fns[s] = run_monai
        elif s == "former":
            spec = importlib.util.spec_from_file_location("old_inference", args.old)
            old = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(old)
            fns[s] = lambda old=old: old.predict_volume(vol, Timed(net, "former"), Card, device="cpu",
                                                        overlap=args.overlap, sw_batch_size=args.batch,
                                                        show_progress=False)
        else:
            fns[s] = run_ours(s)
    counts = {s: len(window_grid(shape, roi, overlap=args.overlap,
                                 reflect=_edge_reflect("inside" if s in ("monai", "former") else s.split("-", 1)[1])))
              for s in sides}
    times = {s: [] for s in sides}
    fwd = {s: [] for s in sides}
    results = {}
    load_start = os.getloadavg()
    for r in range(args.repeats):
        order = list(fns.items())
        for name, fn in (order if r % 2 == 0 else order[::-1]):  # alternate the order against a load trend
            forward_s[name] = 0.0
            t0 = time.perf_counter()
            results[name] = np.asarray(fn())
            times[name].append(time.perf_counter() - t0)
            fwd[name].append(forward_s[name])
            print(f"  {name}: {times[name][-1]:.2f} s (network {forward_s[name]:.2f} s), load {os.getloadavg()}",
                  flush=True)
    load_end = os.getloadavg()
    best = {k: min(v) for k, v in times.items()}
    agree = {s: float((results[s] == results["monai"]).mean()) for s in sides if "monai" in results}
    report = {"shape": shape, "preset": args.preset, "patch": roi, "threads": args.threads, "batch": args.batch,
              "overlap": args.overlap, "load_start": load_start, "load_end": load_end, "times_s": times,
              "forward_s": fwd, "windows": counts, "onnx_export_s": t_export,
              "onnx_max_abs_diff": None if onnx_net is None else onnx_net.max_abs_diff,
              "voxels_per_s": {k: n_vox / t for k, t in best.items()},
              "ratio_vs_monai": {k: best["monai"] / t for k, t in best.items()} if "monai" in best else {},
              "labels_equal_monai": agree}
    print(f"shape {shape}, patch {roi}, {args.threads} threads, batch {args.batch}, load {load_start} -> {load_end}")
    for k in sides:
        i = int(np.argmin(times[k]))
        ratio = f"{best['monai'] / best[k]:5.2f}" if "monai" in best else "  -  "
        print(f"{k:14s} windows {counts[k]:>5}  best {best[k]:7.2f} s (network {fwd[k][i]:6.2f} s)  "
              f"{n_vox / best[k]:9.3g} vox/s  / MONAI {ratio}  labels = MONAI {agree.get(k, float('nan')):.5f}  "
              f"runs {', '.join(f'{t:.2f}' for t in times[k])}")
    if onnx_net is not None:
        print(f"ONNX export + check {t_export:.1f} s, max |logit difference| vs torch {onnx_net.max_abs_diff:.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()
