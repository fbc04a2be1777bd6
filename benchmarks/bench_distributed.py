"""``liberation report`` and the 3D inference locally and on a Dask LocalCluster of N workers, one run.

    python benchmarks/bench_distributed.py --size 256 --workers 2
    python benchmarks/bench_distributed.py --inference 64,128,128 --workers 2   # segment's windows only

Prints the wall time of the whole command both ways (the distributed one includes starting and
closing the cluster), and of the block passes alone (``analyse`` without sections, shapes,
bootstrap: what runs on the workers) locally and on an already running cluster of the same
size, with the ratio local / distributed; then whether the two report folders are identical
(time stamps aside). With ``--inference Z,Y,X``: instead, the sliding windows of the ``cpu`` preset
network (random weights) on a random volume of that shape, ``predict_volume`` with torch on
N threads vs ``predict_volume_distributed`` on N workers of 1 thread (cluster already running),
and whether the labels are equal. Load (``os.getloadavg``) is printed before and after: on a shared machine
the numbers are noisy, compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

GENERATED = re.compile(rb"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def _folder(folder: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    marker = json.loads(files.pop(".liberation-output.json"))
    marker.pop("time", None)
    files[".liberation-output.json"] = json.dumps(marker, sort_keys=True).encode()
    files["report.html"] = GENERATED.sub(b"", files["report.html"])
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192, help="edge length of the cubic demo sample (voxels)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inference", default=None, metavar="Z,Y,X", help="time the inference on this shape instead")
    args = parser.parse_args()
    if args.inference:
        inference(tuple(int(v) for v in args.inference.split(",")), args.workers, args.seed)
        return

    import distributed

    from liberation.cli import main as cli
    from liberation.io import open_store
    from liberation.stats import analyse
    from liberation.workflows.demo import make_demo_store

    print(f"load before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_demo_store(tmp, size=args.size, seed=args.seed)
        store = tmp / "sample.zarr"
        common = ["-q", "report", str(store), "--no-pdf"]
        t = time.perf_counter()
        assert cli([*common, "--out", str(tmp / "local")]) == 0
        t_local = time.perf_counter() - t
        t = time.perf_counter()
        assert cli([*common, "--out", str(tmp / "dist"), "--workers", str(args.workers)]) == 0
        t_dist = time.perf_counter() - t
        same = _folder(tmp / "local") == _folder(tmp / "dist")

        s = open_store(store)
        kw = {"voxel_size_um": s.voxel_size_um, "minerals": s.minerals, "section_axes": (), "shapes": False,
              "bootstrap": 0}
        particles, phases = s.label("particles"), s.label("phases")
        analyse(particles, phases, **kw)  # numba kernels compiled / loaded from the cache
        t = time.perf_counter()
        analyse(particles, phases, **kw)
        p_local = time.perf_counter() - t
        with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as c, distributed.Client(c) as client:
            analyse(particles, phases, client=client, **kw)  # the workers compile / load their kernels
            t = time.perf_counter()
            analyse(particles, phases, client=client, **kw)
            p_dist = time.perf_counter() - t
    print(f"store {args.size}^3, chunks {tuple(particles.chunks)}, {args.workers} workers of 1 thread")
    print(f"report, whole command: local {t_local:.1f} s, --workers {args.workers} {t_dist:.1f} s "
          f"(ratio local/distributed {t_local / t_dist:.2f})")
    print(f"block passes only (analyse without sections, shapes, bootstrap): local {p_local:.2f} s, "
          f"running cluster {p_dist:.2f} s (ratio {p_local / p_dist:.2f})")
    print(f"report folders identical (time stamps aside): {same}")
    print(f"load after: {os.getloadavg()}")


def inference(shape: tuple, workers: int, seed: int) -> None:
    """predict_volume on ``workers`` torch threads vs predict_volume_distributed on ``workers`` x 1 thread."""
    from types import SimpleNamespace

    import distributed
    import numpy as np
    import torch

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.distributed_inference import predict_volume_distributed
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.model import build_network, network_params

    print(f"load before: {os.getloadavg()}")
    cfg = get_preset("cpu")
    torch.manual_seed(seed)
    net = build_network(network_params(cfg, in_channels=1, out_channels=3)).eval()
    card = SimpleNamespace(patch_size=tuple(cfg.patch_size), class_ids=[0, 1, 2],
                           normalization={"method": "percentile", "low": 0.5, "high": 99.5,
                                          "value_low": 0.0, "value_high": 1.0})
    img = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    torch.set_num_threads(workers)
    predict_volume(img[: 2 * cfg.patch_size[0]], net, card, device="cpu", show_progress=False)  # warm-up
    t = time.perf_counter()
    ref = predict_volume(img, net, card, device="cpu", show_progress=False)
    t_local = time.perf_counter() - t
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c, distributed.Client(c) as client:
        predict_volume_distributed(img[: 2 * cfg.patch_size[0]], net, card, client=client, device="cpu",
                                   show_progress=False)  # the workers import torch
        t = time.perf_counter()
        got = predict_volume_distributed(img, net, card, client=client, device="cpu", show_progress=False)
        t_dist = time.perf_counter() - t
    n = float(np.prod(shape))
    print(f"inference {shape}, cpu preset patch {tuple(cfg.patch_size)}: local ({workers} torch threads) "
          f"{t_local:.1f} s = {n / t_local:.3g} voxels/s; {workers} workers x 1 thread {t_dist:.1f} s = "
          f"{n / t_dist:.3g} voxels/s (ratio local/distributed {t_local / t_dist:.2f}); labels equal: "
          f"{bool(np.array_equal(ref, got))}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
