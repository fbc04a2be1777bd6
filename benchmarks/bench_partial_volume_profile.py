"""Where the time of the unclipped soft pass goes, stage by stage (wall and CPU per stage).

    PYTHONPATH=. python benchmarks/bench_partial_volume_profile.py --size 512 --workers 2 --cache /tmp/pv256.npz

The volume is :mod:`bench_partial_volume`'s (a ``make_sample`` 256^3 tiled 2x2x2 for 512). Stages of
``soft_statistics(radius="auto", clip=False)`` after ``estimate_model``: the model; in ``soft_counts`` per block
(summed over the blocks, CPU of the worker threads) the halo reads, the Python set-up of ``soft_deltas``, the numba
kernel ``_nb_soft_deltas``; the rest of ``soft_counts`` (block grid, lookup, merge: its wall minus the blocks'
share); the tables. ``--split``: the kernel alone on the cached 256^3 volume (one block, one thread, CPU time)
against the same kernel on a one-phase volume (the same plane preparation, every voxel skipped at its first test):
the difference is the per-voxel work.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np


class Clock:
    """Wall and thread CPU per stage, summed over calls (thread-safe)."""

    def __init__(self):
        self.wall = {}
        self.cpu = {}
        self.calls = {}
        self.lock = threading.Lock()

    def wrap(self, name, fn):
        def timed(*args, **kwargs):
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                dt, dc = time.perf_counter() - t0, time.thread_time() - c0
                with self.lock:
                    self.wall[name] = self.wall.get(name, 0.0) + dt
                    self.cpu[name] = self.cpu.get(name, 0.0) + dc
                    self.calls[name] = self.calls.get(name, 0) + 1
        return timed


def profile(particles, phases, image, mins, vs, workers):
    from liberation.stats import measure
    from liberation.stats import partial_volume as pv
    from liberation.stats import partial_volume_kernels as K
    from liberation.stats import partial_volume_tables as T
    from liberation.stats import partial_volume_unmix as U
    from liberation.stats.particles import table_from_measurements

    m = measure(particles, phases, voxel_size_um=vs, minerals=mins, workers=workers)
    table = table_from_measurements(m)
    clock = Clock()
    saved = (U.read_halo, U.soft_deltas, K._nb_soft_deltas, T.soft_counts, U._soft_block)
    U.read_halo = clock.wrap("halo reads", U.read_halo)
    U.soft_deltas = clock.wrap("soft_deltas (set-up + kernel)", U.soft_deltas)
    K._nb_soft_deltas = clock.wrap("kernel _nb_soft_deltas", K._nb_soft_deltas)
    U._soft_block = clock.wrap("block (reads + soft_deltas)", U._soft_block)
    T.soft_counts = clock.wrap("soft_counts (wall)", T.soft_counts)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        model = pv.estimate_model(image, phases, n_phases=m.n_phases, workers=workers)
        t_model, c_model = time.perf_counter() - t0, time.process_time() - c0
        t1, c1 = time.perf_counter(), time.process_time()
        pv.soft_statistics(particles, phases, image, table=table, measurements=m, minerals=mins, voxel_size_um=vs,
                           model=model, workers=workers, radius="auto", clip=False)
        t_soft, c_soft = time.perf_counter() - t1, time.process_time() - c1
    finally:
        U.read_halo, U.soft_deltas, K._nb_soft_deltas, T.soft_counts, U._soft_block = saved
    return clock, (t_model, c_model), (t_soft, c_soft), model


def main() -> None:
    from bench_partial_volume import benchmark_volumes, tile


    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--base", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--split", action="store_true", help="also the kernel vs its plane preparation on one block")
    args = ap.parse_args()
    mins, vs, vols = benchmark_volumes(args.base, args.cache)
    small = tuple(slice(0, 48) for _ in range(3))
    profile(vols["particles"][small], vols["phases"][small], vols["ct"][small], mins, vs, args.workers)  # warm-up
    reps = args.size // args.base
    particles = tile(vols["particles"], reps, ids=True)
    phases = tile(vols["phases"], reps)
    image = tile(vols["ct"], reps)
    load = os.getloadavg()[0]
    clock, (tm, cm), (ts, cs), model = profile(particles, phases, image, mins, vs, args.workers)
    print(f"{args.size}^3, workers {args.workers}, load {load:.1f}->{os.getloadavg()[0]:.1f}, "
          f"blur {model.edge_sigma_vox:.2f} voxel")
    print(f"{'stage':34s} {'wall s':>8s} {'CPU s':>8s} {'calls':>6s}")
    print(f"{'model (estimate_model)':34s} {tm:8.2f} {cm:8.2f} {1:6d}")
    for name in ("soft_counts (wall)", "block (reads + soft_deltas)", "halo reads", "soft_deltas (set-up + kernel)",
                 "kernel _nb_soft_deltas"):
        print(f"{name:34s} {clock.wall.get(name, 0):8.2f} {clock.cpu.get(name, 0):8.2f} {clock.calls.get(name, 0):6d}")
    sc = clock.wall["soft_counts (wall)"]
    print(f"{'tables (soft_statistics - counts)':34s} {ts - sc:8.2f}")
    print(f"{'soft_statistics total':34s} {ts:8.2f} {cs:8.2f}   (CPU: process time, all threads)")
    if args.split:
        split(vols)



def split(vols, repeats=3):
    """One 256^3 block (the cached volume, halo 2), one thread: the whole kernel vs its plane preparation."""
    from liberation.stats import partial_volume_kernels as K
    from liberation.stats._kernels import local_ids

    ph, g = np.ascontiguousarray(vols["phases"]), np.ascontiguousarray(vols["ct"])
    ids, lut, src = local_ids(vols["particles"])
    src = np.ascontiguousarray(src)
    flat = np.zeros_like(ph)  # one phase: the same plane preparation, every voxel leaves the loop at its first test
    levels = np.array([7997.0, 47997.0, 39572.0, 39299.0, 45756.0])
    sig, mc, se = 1238.0, 2.0, 0.70
    args = (lut, len(ids), 1, levels, sig, mc, False)
    K.soft_deltas(g[:8], ph[:8], src[:8], *args, sigma_eff=se)
    tk, tp = [], []
    for _ in range(repeats):
        t0 = time.thread_time()
        K.soft_deltas(g, ph, src, *args, sigma_eff=se)
        tk.append(time.thread_time() - t0)
        t0 = time.thread_time()
        K.soft_deltas(g, flat, src, *args, sigma_eff=se)
        tp.append(time.thread_time() - t0)
    n = float(np.prod([m - 4 for m in ph.shape]))
    print(f"256^3 one block, one thread, CPU time (thread_time), min of {repeats} interleaved: kernel {min(tk):.2f} s "
          f"({1e9 * min(tk) / n:.0f} ns/voxel); on one phase (plane preparation + an empty loop) {min(tp):.2f} s "
          f"({1e9 * min(tp) / n:.0f} ns/voxel); the voxel work (difference) {min(tk) - min(tp):.2f} s")


if __name__ == "__main__":
    main()
