"""The particle bootstrap: binned sums (the default) against the dense matrix products, on a store's tables.

    OMP_NUM_THREADS=2 python benchmarks/bench_stats_bootstrap.py --store /tmp/b512.zarr
    OMP_NUM_THREADS=2 python benchmarks/bench_stats_bootstrap.py --store /tmp/b512.zarr --repeat 8 --n-boot 200

The tables are those of ``liberation report`` (``analyse`` with ``--size-classes 63,100,250``, no
bootstrap); ``--repeat k`` stacks ``k`` copies of them (new particle ids) to reach the particle count
of a larger store (x 8: the 1024^3 store's ~80 000 particles) without its voxel passes. Both sides
run in this process, one after the other (``--rounds`` times, alternating): "binned" is
``bootstrap_intervals`` as shipped; "dense" is the same function with every statistic taken as
dense ``(n, k)`` columns and matrix products (the former method, what ``_Stats.columns`` builds).
Prints the CPU and wall time of each, the peak RSS each adds (a fresh process per side with
``--rss``), and how far the intervals are apart (relative, and as a fraction of the interval width).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np


def tables(store_path: str, repeat: int):
    """Particle and section tables of the report's analysis of ``store_path``, stacked ``repeat`` times."""
    import pandas as pd

    from liberation.io import open_store
    from liberation.stats import analyse
    from liberation.workflows.report_store import _minerals_of

    store = open_store(store_path, mode="r")
    minerals = _minerals_of(store)[0]
    res = analyse(store.label("particles"), store.label("phases"), voxel_size_um=store.voxel_size_um,
                  minerals=minerals, size_classes_um=(63, 100, 250), bootstrap=0, shapes="fast")
    p, s = res.particles, res.sections
    if repeat > 1:
        off = int(p["particle_id"].max()) + 1
        p = pd.concat([p.assign(particle_id=p["particle_id"] + r * off) for r in range(repeat)], ignore_index=True)
        s = pd.concat([s.assign(particle_id=s["particle_id"] + r * off) for r in range(repeat)], ignore_index=True)
    kw = dict(minerals=minerals, target=res.target, threshold=res.threshold, by=res.summary["basis"], seed=0)
    return p, s, kw


def run(side: str, p, s, kw, n_boot: int) -> dict:
    """``bootstrap_intervals`` as ``side`` ("binned" or "dense")."""
    import liberation.stats.bootstrap as B

    add = B._Stats.add
    if side == "dense":
        B._Stats.add = lambda self, key, k, kd, fill, binned=None: add(self, key, k, kd, fill)
    try:
        return B.bootstrap_intervals(p, s, n_boot=n_boot, **kw)
    finally:
        B._Stats.add = add


def compare(a: dict, b: dict) -> tuple[float, float]:
    """Largest relative difference of the interval ends, and largest difference / interval width."""
    rel = width = 0.0
    for key, val in a.items():
        if not isinstance(val, tuple):
            continue
        lo_a, hi_a = (np.asarray(v, dtype=float) for v in val)
        lo_b, hi_b = (np.asarray(v, dtype=float) for v in b[key])
        d = np.maximum(np.abs(lo_a - lo_b), np.abs(hi_a - hi_b))
        ok = np.isfinite(d)
        if ok.any():
            scale = np.maximum(np.maximum(np.abs(lo_a), np.abs(hi_a)), 1e-300)
            rel = max(rel, float(np.max(d[ok] / scale[ok])))
            w = (hi_a - lo_a)[ok]
            if (w > 0).any():
                width = max(width, float(np.max(d[ok][w > 0] / w[w > 0])))
    return rel, width


def _peak_mib() -> float:
    """Peak resident memory of this process image in MiB (``VmHWM``: ``ru_maxrss`` would carry the
    parent's peak over ``exec``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--repeat", type=int, default=1, help="stack the tables this many times")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per side")
    parser.add_argument("--rss", action="store_true", help="also the peak RSS each side adds (one process each)")
    parser.add_argument("--side", choices=("binned", "dense"), help=argparse.SUPPRESS)
    parser.add_argument("--pickle", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # child of --rss: one side on the parent's tables, the peak RSS it adds
        import pickle

        import liberation.stats._kernels  # noqa: F401  (numba, before the baseline)

        with open(args.pickle, "rb") as fh:
            p, s, kw = pickle.load(fh)
        before = _peak_mib()
        run(args.side, p, s, kw, args.n_boot)
        print(f"{_peak_mib() - before:.0f}")
        return
    p, s, kw = tables(args.store, args.repeat)
    print(f"{len(p)} particles, {len(s)} section rows, {args.n_boot} replicates; load {os.getloadavg()[0]:.1f}")
    run("binned", p.head(200), s.head(100), kw, 100)  # numba compile / cache load, not timed
    out = {}
    for _ in range(args.rounds):
        for side in ("binned", "dense"):
            t, c = time.perf_counter(), time.process_time()
            out[side] = run(side, p, s, kw, args.n_boot)
            print(f"{side:<7s} cpu {time.process_time() - c:7.2f} s  wall {time.perf_counter() - t:7.2f} s  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    rel, width = compare(out["dense"], out["binned"])
    print(f"intervals: max relative difference {rel:.1e}, max difference / interval width {width:.1e}")
    if args.rss:
        import pickle
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "tables.pkl")
            with open(path, "wb") as fh:
                pickle.dump((p, s, kw), fh)
            for side in ("binned", "dense"):
                cmd = [sys.executable, __file__, "--store", args.store, "--n-boot", str(args.n_boot), "--side", side,
                       "--pickle", path]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                added = done.stdout.split()[-1]
                print(f"{side:<7s} peak RSS added by the bootstrap: {added} MiB")


if __name__ == "__main__":
    main()
