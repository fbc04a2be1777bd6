"""Speed of the soft (sub-voxel) statistics next to the hard ones.

    PYTHONPATH=. python benchmarks/bench_partial_volume.py --size 256

Hard: ``measure`` + particle table + liberation classes, modal, grade-recovery. Soft: the partial-volume
model (:func:`liberation.stats.partial_volume.estimate_model`) + the unmixing pass + the same tables
from the soft counts. Prints seconds and the ratio soft / hard.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from liberation.stats import grade_recovery, liberation_classes, measure, modal_mineralogy
    from liberation.stats import partial_volume as pv
    from liberation.stats.particles import table_from_measurements
    from liberation.synthetic import make_sample

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    n = args.size
    sample = make_sample(shape=(n, n, n), seed=0)
    image = sample.ct
    mins, vs = sample.minerals, sample.voxel_size_um
    t0 = time.perf_counter()
    m = measure(sample.particles, sample.phases, voxel_size_um=vs, minerals=mins)
    table = table_from_measurements(m)
    for tab in (table,):
        liberation_classes(tab, minerals=mins)
        modal_mineralogy(tab, minerals=mins)
        grade_recovery(tab, minerals=mins)
    hard = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = pv.estimate_model(image, sample.phases, n_phases=m.n_phases)
    t_model = time.perf_counter() - t0
    s = pv.soft_statistics(sample.particles, sample.phases, image, table=table, measurements=m, minerals=mins,
                           voxel_size_um=vs, model=model)
    soft = time.perf_counter() - t0
    print(f"shape {n}^3, {len(m.ids)} particles, mixed-voxel share "
          f"{float((s.particles['voxels'] - table['voxels']).abs().sum()) / table['voxels'].sum():.3f} (moved volume)")
    print(f"hard {hard:.2f} s   soft {soft:.2f} s (model {t_model:.2f} s)   soft/hard {soft / hard:.2f}")
    print(np.round(model.levels, 0), f"noise {model.noise_sigma:.0f} edge sigma {model.edge_sigma_vox:.2f} vox")


if __name__ == "__main__":
    main()
