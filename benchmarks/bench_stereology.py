"""Stereological correction on synthetic textures: uncorrected 2D vs corrected 2D vs the 3D truth.

For each texture (:mod:`liberation.synthetic.textures`) a fit sample (seed ``--fit-seed``) and an
independent sister sample (seed ``--sister-seed``) are made; the 2D -> 3D liberation-class kernel
(:mod:`liberation.stats.stereology`) is fitted on the fit sample's particles and z sections and
applied to the sister's z sections only; the sister's 3D particles are the truth. Prints, per
texture and size class, the liberated ore fraction (mineral-weighted, grade > 90 %) of the
uncorrected 2D sections, of the corrected estimate and of 3D, and both errors (estimate - 3D).
Also times the sieve sizes (vectorised intermediate axis vs per-crop minimum Feret).

    PYTHONPATH=. python benchmarks/bench_stereology.py            # ~1 min on 2 cores
    PYTHONPATH=. python benchmarks/bench_stereology.py --pairs 3  # three fit/sister pairs per texture
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from liberation.stats import particle_table, section_table
from liberation.stats.sieve import intermediate_axis_lengths, sieve_sizes
from liberation.stats.stereology import correction_table, fit_kernel
from liberation.synthetic.textures import texture_sample


def tables(s, *, sizes, spacing):
    t = particle_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals,
                       size_classes_um=sizes, surface="corrected", pores=False)
    sec = section_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals, axes=("z",),
                        spacing=spacing, particle_table=t)
    return t, sec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--textures", default="disseminated,halves,rims,columns")
    ap.add_argument("--grid", default="5,8,8", help="cells z,y,x (one particle each)")
    ap.add_argument("--cell", type=int, default=24, help="cell edge in voxels")
    ap.add_argument("--spacing", type=int, default=2, help="z section spacing in voxels")
    ap.add_argument("--size-classes", default="12,16", help="ESD bounds in µm (1 µm voxels)")
    ap.add_argument("--fit-seed", type=int, default=1)
    ap.add_argument("--sister-seed", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=1, help="fit/sister seed pairs per texture (seeds +2 each)")
    args = ap.parse_args()
    grid = tuple(int(v) for v in args.grid.split(","))
    sizes = tuple(float(v) for v in args.size_classes.split(","))
    print(f"load {os.getloadavg()[0]:.1f}; grid {grid} x {args.cell}^3 voxels, z sections every {args.spacing} voxels, "
          f"size classes {sizes} µm ESD")
    print()
    print("| texture | pair | size class | sections | 2D | corrected | 3D | error 2D | error corrected |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    summary = []
    for tex in args.textures.split(","):
        for p in range(args.pairs):
            t0 = time.perf_counter()
            fit = texture_sample(tex, grid=grid, cell=args.cell, seed=args.fit_seed + 2 * p)
            sister = texture_sample(tex, grid=grid, cell=args.cell, seed=args.sister_seed + 2 * p)
            kernel = fit_kernel(*tables(fit, sizes=sizes, spacing=args.spacing), minerals=fit.minerals, mineral="ore")
            t3, s2 = tables(sister, sizes=sizes, spacing=args.spacing)
            tab = correction_table(kernel, s2, minerals=sister.minerals, particles_3d=t3)
            dt = time.perf_counter() - t0
            for _, r in tab.iterrows():
                print(f"| {tex} | {p + 1} | {r['size_class']} | {r['n_sections']} | {r['liberated_2d']:.3f} | "
                      f"{r['liberated_corrected']:.3f} | {r['liberated_3d']:.3f} | {r['error_2d']:+.3f} | "
                      f"{r['error_corrected']:+.3f} |")
            a = tab.iloc[0]
            summary.append((tex, abs(a["error_2d"]), abs(a["error_corrected"]), dt))
    print()
    print("| texture | mean abs error 2D (all sizes) | mean abs error corrected | seconds per pair |")
    print("|---|---:|---:|---:|")
    for tex in dict.fromkeys(s[0] for s in summary):
        rows = [s for s in summary if s[0] == tex]
        print(f"| {tex} | {np.mean([r[1] for r in rows]):.3f} | {np.mean([r[2] for r in rows]):.3f} | "
              f"{np.mean([r[3] for r in rows]):.1f} |")
    # cost of the sieve sizes
    s = texture_sample("halves", grid=grid, cell=args.cell, seed=args.fit_seed)
    n = int(s.particles.max())
    t0 = time.perf_counter()
    intermediate_axis_lengths(s.particles, voxel_size_um=s.voxel_size_um)
    t_axis = time.perf_counter() - t0
    t0 = time.perf_counter()
    sieve_sizes(s.particles, voxel_size_um=s.voxel_size_um, feret=True)
    t_both = time.perf_counter() - t0
    print()
    print(f"sieve sizes of {n} particles ({s.particles.size / 1e6:.1f} Mvoxels): intermediate axis (vectorised) "
          f"{t_axis:.2f} s; with minimum Feret (one crop per particle) {t_both:.2f} s; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
