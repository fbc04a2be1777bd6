"""Speed of the soft (sub-voxel) statistics next to the hard ones, at several volume sizes in one run.

    PYTHONPATH=. python benchmarks/bench_partial_volume.py --sizes 256 512 --workers 2 [--rules unclipped session4]

One ``make_sample`` volume of ``--base`` voxels a side is generated once; larger sizes tile it
(2x2x2 copies for 512 from 256, particle ids offset per copy), so the tissue is realistic and the
generation stays short. Both sides run with the same threads, after a warm-up on a small volume
(numba compilation and cache loading are not timed).

Hard: ``measure`` + particle table + liberation classes, modal, grade-recovery (by volume).
Soft: the partial-volume model (:func:`liberation.stats.partial_volume.estimate_model`) + the unmixing
pass + the same tables from the soft counts. Prints seconds, the ratio soft / hard and ``uptime``'s load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def tile(a: np.ndarray, reps: int, *, ids: bool = False) -> np.ndarray:
    """``reps`` copies per axis; particle ids offset per copy when ``ids``."""
    if reps == 1:
        return a
    out = np.empty(tuple(n * reps for n in a.shape), dtype=np.uint32 if ids else a.dtype)
    step = int(a.max()) + 1 if ids else 0
    k = 0
    for i in range(reps):
        for j in range(reps):
            for m in range(reps):
                sl = tuple(slice(q * n, (q + 1) * n) for q, n in zip((i, j, m), a.shape))
                if ids:
                    out[sl] = np.where(a > 0, a.astype(np.uint32) + np.uint32(k * step), 0)
                else:
                    out[sl] = a
                k += 1
    return out


RULES = {"default": {}, "unclipped": {"radius": "auto", "clip": False}, "session4": {"radius": 1, "clip": True}}


def benchmark_volumes(base: int, cache: str | None = None):
    """The minerals, voxel size and ``{"particles", "phases", "ct"}`` of the ``make_sample`` benchmark volume
    (``base``^3, seed 0), read from / written to the ``.npz`` file ``cache`` when given."""
    from liberation.synthetic import make_sample

    sample = make_sample(shape=(8, 8, 8), seed=0)  # minerals and voxel size
    mins, vs = sample.minerals, sample.voxel_size_um
    if cache and os.path.exists(cache):
        with np.load(cache) as f:
            vols = {k: f[k] for k in ("particles", "phases", "ct")}
    else:
        sample = make_sample(shape=(base,) * 3, seed=0)
        vols = {"particles": sample.particles, "phases": sample.phases, "ct": sample.ct}
        if cache:
            np.savez(cache, **vols)
    return mins, vs, vols


def run(particles, phases, image, mins, vs, workers, rule="default"):
    from liberation.stats import grade_recovery, liberation_classes, measure, modal_mineralogy
    from liberation.stats import partial_volume as pv
    from liberation.stats.particles import table_from_measurements

    t0 = time.perf_counter()
    m = measure(particles, phases, voxel_size_um=vs, minerals=mins, workers=workers)
    table = table_from_measurements(m)
    liberation_classes(table, minerals=mins)
    modal_mineralogy(table, minerals=mins, voxel_size_um=vs)
    grade_recovery(table, minerals=mins)
    hard = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = pv.estimate_model(image, phases, n_phases=m.n_phases, workers=workers)
    t_model = time.perf_counter() - t0
    s = pv.soft_statistics(particles, phases, image, table=table, measurements=m, minerals=mins,
                           voxel_size_um=vs, model=model, workers=workers, **RULES[rule])
    soft = time.perf_counter() - t0
    moved = float((s.particles["voxels"] - table["voxels"]).abs().sum()) / table["voxels"].sum()
    return hard, soft, t_model, len(m.ids), moved, model


def main() -> None:

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--base", type=int, default=256, help="edge of the generated volume; sizes must be multiples")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=None, help="an .npz file to keep the generated volume in between runs")
    ap.add_argument("--rules", nargs="+", default=["default"], choices=sorted(RULES),
                    help="unmixing rules timed in turn: soft_statistics' defaults, the defaults of soft_counts (radius auto, "
                         "unclipped, tail ring) or radius=1, clip=True")
    ap.add_argument("--check-model", action="store_true",
                    help="also estimate the levels on the whole volume and print the difference (not timed)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    mins, vs, vols = benchmark_volumes(args.base, args.cache)
    print(f"volume {args.base}^3 ready in {time.perf_counter() - t0:.1f} s")
    small = tuple(slice(0, 48) for _ in range(3))
    for rule in args.rules:  # warm-up
        run(vols["particles"][small], vols["phases"][small], vols["ct"][small], mins, vs, args.workers, rule)
    for n in args.sizes:
        reps = n // args.base
        if reps * args.base != n:
            raise SystemExit(f"--sizes {n} is not a multiple of --base {args.base}")
        particles = tile(vols["particles"], reps, ids=True)
        phases = tile(vols["phases"], reps)
        image = tile(vols["ct"], reps)
        for rule in args.rules:
            load = os.getloadavg()[0]
            hard, soft, t_model, n_part, moved, model = run(particles, phases, image, mins, vs, args.workers, rule)
            print(f"{n}^3 ({n_part} particles, moved volume {moved:.4f}), workers {args.workers}, rule {rule}, "
                  f"load {load:.1f}->{os.getloadavg()[0]:.1f}: hard {hard:.2f} s   soft {soft:.2f} s "
                  f"(model {t_model:.2f} s)   soft/hard {soft / hard:.2f}", flush=True)
        if args.check_model:
            # the sampled interiors (``sample_voxels`` in z slabs) against the whole volume: level differences in
            # grey and in standard errors of the sampled mean
            from liberation.stats import partial_volume as pv

            whole = pv.estimate_model(image, phases, n_phases=model.n_phases, sample_voxels=None, edge=False,
                                      workers=args.workers)
            ok = np.isfinite(whole.levels) & (model.interior_voxels > 1)
            dl = np.abs(model.levels - whole.levels)[ok]
            se = (whole.noise / np.sqrt(np.maximum(model.interior_voxels, 1)))[ok]
            print(f"  model on {model.interior_voxels.sum()} sampled interior voxels vs {whole.interior_voxels.sum()}: "
                  f"max |level difference| {dl.max():.1f} grey ({(dl / se).max():.1f} standard errors; "
                  f"noise {model.noise_sigma:.0f} vs {whole.noise_sigma:.0f})")
        del particles, phases, image
    print(np.round(model.levels, 0), f"noise {model.noise_sigma:.0f} edge sigma {model.edge_sigma_vox:.2f} vox")


if __name__ == "__main__":
    main()
