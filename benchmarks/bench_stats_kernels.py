"""The voxel kernels of the report's hard passes against another tree's, on one decoded block (min-of-N, interleaved).

    NUMBA_CACHE_DIR=/tmp/nbcache OMP_NUM_THREADS=1 python benchmarks/bench_stats_kernels.py --store /tmp/s7_b512.zarr \
        --other /work/main

Loads ``liberation/stats/_kernels.py`` and ``shape.py`` of this tree and of ``--other`` as separate modules, decodes
one 128³ block of ``labels/particles`` and ``labels/phases`` and times, one thread, CPU seconds per voxel, the
tables kernel (counts, faces, boxes; with the shape moments where the tree sums them there), the grain labelling
and the shape moments' projection, alternating the trees, ``--repeat`` times each; prints the minimum and checks
that both trees' outputs are equal. ``NUMBA_CACHE_DIR`` keeps the other tree's compiled cache out of its folder.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np


def _load(tree: Path, name: str, tag: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{tag}_{name}", tree / "liberation" / "stats" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--other", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--block", type=int, default=128)
    args = parser.parse_args()
    from liberation.io import open_store

    store = open_store(args.store, mode="r")
    b = args.block
    shape = tuple(int(n) for n in store.label("particles").shape)
    z0 = shape[0] // 2 - b // 2
    pid = np.ascontiguousarray(store.label("particles")[z0:z0 + b, :b, :b])
    ph = np.ascontiguousarray(store.label("phases")[z0:z0 + b, :b, :b])
    n_phases = int(ph.max()) + 1
    trees = {"this": Path(__file__).resolve().parents[1], "other": Path(args.other).resolve()}
    mods = {k: (_load(t, "_kernels", k), _load(t, "shape", k)) for k, t in trees.items()}
    ids, lut, src = mods["this"][0].local_ids(pid)
    rows = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    rows[ids[1:]] = np.arange(len(ids) - 1)
    n = len(ids) - 1
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(n, 3))
    lo = np.zeros((n, 3), dtype=np.int64)

    def tables(k):
        kern = mods[k][0]
        counts, faces, bbox = kern.empty_tables(len(ids), n_phases)
        if hasattr(kern, "_nb_core_moments"):
            sums = np.zeros((len(ids), 10), dtype=np.int64)
            kern._nb_core_moments(src, lut, ph, z0, 0, 0, *shape, n_phases, counts, faces, bbox, True, True, sums)
        else:
            kern._nb_core(src, lut, ph, z0, 0, 0, *shape, n_phases, counts, faces, bbox, True)
        return counts, faces, bbox

    def grains(k):
        return mods[k][0].grain_labels(pid, ph, n_phases)

    def project(k):
        hi, lo_out = np.full(n, -np.inf), np.full(n, np.inf)
        mods[k][1]._nb_project(pid, rows, z0, 0, 0, lo, vec, hi, lo_out)
        return hi, lo_out

    cases = {"tables (+ moments where fused)": tables, "grain labels": grains, "shape projection": project}
    times = {(c, k): [] for c in cases for k in trees}
    for c, fn in cases.items():
        outs = [fn(k) for k in trees]  # compile, and compare
        same = all(np.array_equal(x, y) for x, y in zip(outs[0], outs[1]))
        print(f"{c}: outputs {'equal' if same else 'DIFFER'}")
    for _ in range(args.repeat):
        for c, fn in cases.items():
            for k in trees:
                t = time.process_time()
                fn(k)
                times[(c, k)].append(time.process_time() - t)
    import os

    print(f"load {os.getloadavg()[0]:.1f}; block {pid.shape}, {n} particles; min of {args.repeat}, CPU ns per voxel")
    for c in cases:
        a, o = min(times[(c, "this")]), min(times[(c, "other")])
        print(f"  {c:32s} this {a / pid.size * 1e9:6.2f}  other {o / pid.size * 1e9:6.2f}  ratio {o / a:5.2f}x")


if __name__ == "__main__":
    main()
