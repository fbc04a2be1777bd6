"""Benchmarks of the belt XRT sorter: segmenter latency per backend and the per-fragment sorting table.

    python benchmarks/bench_deploy_belt.py [--model CKPT.pt] [--size 512] [--threads 2] [--repeats 20]

1. Segmenter, one 512 x 512 frame: PyTorch eager (what a user would run without export)
   vs onnxruntime on CPU with ``--threads`` threads, FP32 and FP16-weight ONNX. Prints
   ms/frame, FPS and the ratio to PyTorch. Weights do not change the latency, so
   without ``--model`` an untrained "small" model is timed.
2. Sorting decision for a segmented frame: ``fragment_decisions`` (bincount, vectorised)
   vs ``skimage.measure.regionprops`` with a Python loop over fragments; checks both agree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np


def _median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.median(t))


def bench_segmenter(model_path, size, threads, repeats):
    import torch

    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.export import export_belt_onnx, verify_belt_onnx
    from liberation.deploy.belt.io import (
        load_belt_checkpoint,
        read_model_card,
        save_belt_checkpoint,
        write_model_card,
    )
    from liberation.deploy.belt.model import build_belt_segmenter, count_parameters
    from liberation.deploy.belt.runtime import BeltRuntime

    torch.set_num_threads(threads)
    tmp = tempfile.mkdtemp(prefix="bench_belt_")
    if model_path:
        model, card = load_belt_checkpoint(model_path)
    else:
        model = build_belt_segmenter(belt_config_preset("cpu"))
        card = {"class_names": list(model.config.class_names), "input": {"i0": 4000.0}}
        model_path = save_belt_checkpoint(os.path.join(tmp, "model"), model, card)
    card = read_model_card(model_path)  # the model card, copied beside each ONNX file
    rows = []
    rt = BeltRuntime(model_path, backend="torch", threads=threads)
    r = rt.benchmark(shape=(size, size), repeats=repeats)
    rows.append({**r, "runtime": r["backend"], "backend": "torch eager fp32"})
    for fp16 in (False, True):
        p = export_belt_onnx(model, os.path.join(tmp, f"m{'16' if fp16 else ''}.onnx"), fp16=fp16)
        write_model_card(p, card, overwrite=True)
        parity = verify_belt_onnx(model, p, shape=(1, 1, size, size))  # at the timed size
        rt = BeltRuntime(p, backend="onnxruntime", threads=threads)
        r = rt.benchmark(shape=(size, size), repeats=repeats)
        rows.append({**r, "runtime": r["backend"], "backend": f"onnxruntime cpu {'fp16-weights' if fp16 else 'fp32'}",
                     "max_abs_diff_vs_torch": parity["max_abs_diff"]})
    base = rows[0]["ms_per_frame"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nSegmenter {size}x{size}, batch 1, {threads} thread(s), parameters {count_parameters(model)}, "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'backend':34s} {'ms/frame':>9s} {'p90':>8s} {'FPS':>7s} {'speed-up':>9s} {'max|diff|':>10s}")
    for r in rows:
        print(f"{r['backend']:34s} {r['ms_per_frame']:9.2f} {r['ms_p90']:8.2f} {r['fps']:7.1f} "
              f"{base / r['ms_per_frame']:8.2f}x {r.get('max_abs_diff_vs_torch', float('nan')):10.2e}")
    return rows


def bench_sorting(repeats):
    from skimage.measure import label, regionprops

    from liberation.deploy.belt.sorting import fragment_decisions
    from liberation.deploy.belt.synthetic import make_belt_image

    mask = make_belt_image((512, 512), size_class_mm=(5, 10), coverage=0.4, seed=0).mask

    def ours():
        return fragment_decisions(mask, pixel_size_um=500.0)

    def skimage_loop():
        lab = label(mask > 0, connectivity=2)
        out = []
        for rp in regionprops(lab, intensity_image=(mask == 1).astype(np.float32)):
            out.append((rp.area, rp.intensity_mean, rp.centroid, rp.bbox))
        return out

    a, b = ours(), skimage_loop()
    assert len(a["id"]) == len(b) and np.allclose(a["ore_share"], [x[1] for x in b])
    t_ours, t_sk = _median_ms(ours, repeats), _median_ms(skimage_loop, repeats)
    print(f"\nSorting table, 512x512 frame, {len(b)} fragments")
    print(f"fragment_decisions {t_ours:8.2f} ms | skimage regionprops loop {t_sk:8.2f} ms | ratio {t_sk / t_ours:.2f}x")
    return {"fragments": len(b), "ours_ms": t_ours, "skimage_ms": t_sk}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    seg = bench_segmenter(args.model, args.size, args.threads, args.repeats)
    sort = bench_sorting(args.repeats)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"command": "python benchmarks/bench_deploy_belt.py " + " ".join(argv or sys.argv[1:]),
                       "segmenter": seg, "sorting": sort}, fh, indent=2)


if __name__ == "__main__":
    main()
