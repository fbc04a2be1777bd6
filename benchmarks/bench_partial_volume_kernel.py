"""The unclipped rule's numba kernel alone, this tree against another version's, interleaved in one process.

    git show 69ccf0e:liberation/stats/partial_volume_kernels.py > /tmp/pvk_base.py
    PYTHONPATH=. python benchmarks/bench_partial_volume_kernel.py --base /tmp/pvk_base.py --radius 1 --repeats 5 \
        --cache /tmp/pv256.npz

``soft_deltas`` on the cached ``make_sample`` volume (``--cache``, as :mod:`bench_partial_volume`) as one block, one
thread, CPU time (``time.thread_time``), the two versions alternating; prints the minimum of each, their ratio, the
largest absolute difference of the per-particle corrections (voxels) and the shares moved by each.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

import numpy as np


def main() -> None:
    from bench_partial_volume import benchmark_volumes

    from liberation.stats import partial_volume as pv
    from liberation.stats import partial_volume_kernels as K
    from liberation.stats._kernels import local_ids

    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="a copy of another version's partial_volume_kernels.py")
    ap.add_argument("--radius", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cache", default=None)
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("pvk_base", args.base)
    B = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(B)
    _mins, _vs, vols = benchmark_volumes(args.size, args.cache)
    ph, g = np.ascontiguousarray(vols["phases"]), np.ascontiguousarray(vols["ct"])
    ids, lut, src = local_ids(vols["particles"])
    src = np.ascontiguousarray(src)
    model = pv.estimate_model(g, ph, n_phases=int(ph.max()) + 1)
    lv = np.asarray(model.levels, dtype=np.float64)
    kw = {"sigma_eff": model.edge_sigma_vox}
    a = (lut, len(ids), args.radius, lv, model.noise_sigma, model.min_contrast, False)
    sides = {"base": B, "this": K}
    times = {k: [] for k in sides}
    out = {}
    for m in sides.values():
        m.soft_deltas(g[:8], ph[:8], src[:8], *a, **kw)  # compile / load the cache
    for _ in range(args.repeats):
        for k, m in sides.items():
            t0 = time.thread_time()
            out[k] = m.soft_deltas(g, ph, src, *a, **kw)
            times[k].append(time.thread_time() - t0)
    n = float(np.prod([s - 2 * (args.radius + 1) for s in ph.shape]))
    for k in sides:
        t = min(times[k])
        print(f"{k:5s} radius {args.radius}: min {t:.3f} s ({1e9 * t / n:.1f} ns/voxel), all "
              f"{[round(x, 3) for x in times[k]]}, shares moved {out[k][1]}")
    diff = float(np.abs(out["base"][0] - out["this"][0]).max())
    print(f"base / this {min(times['base']) / min(times['this']):.2f}, max |diff| {diff:.3g} voxel, "
          f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
