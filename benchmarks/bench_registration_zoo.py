"""Benchmark: automatic registration over the sample zoo (issue 17), next to plain SimpleITK from identity.

For each kind of :data:`liberation.synthetic.zoo.REGISTRATION_ZOO` (dense cores with Fe maps at
CT/map pixel ratios 4, 2, 1, particle mounts at 4, 2, 1, a sparse section with few particles),
one sample and ``--poses`` random poses (any height, rotation, mirror, tilt <= 5°); a pose
succeeds when the map pixel centres are within 1 voxel RMS of the truth. Prints per kind:
successes, failures flagged poor (never a confident wrong pose: a failure must be flagged),
correct poses flagged poor, the median and largest wall time, and the successes of plain
SimpleITK (Mattes MI, the same pyramid) started from the untilted, unrotated pose at the volume
centre.

Run::

    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/bench_registration_zoo.py --poses 2 [--kinds core-r4-m36,...]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    from liberation.registration import pixel_centre_rms_error, register_map
    from liberation.registration.fine import prepare_levels, refine_pose
    from liberation.registration.geometry import pose_matrix
    from liberation.synthetic.zoo import REGISTRATION_ZOO, registration_case, registration_sample

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poses", type=int, default=2)
    ap.add_argument("--first-pose", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="sample seed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kinds", default=None, help="comma-separated kind names (default all)")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args(argv)
    kinds = [k for k in REGISTRATION_ZOO if args.kinds is None or k.name in args.kinds.split(",")]
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; workers {args.workers}")
    rows = []
    for kind in kinds:
        sample = registration_sample(kind, seed=args.seed)
        ok = flagged_wrong = flagged_right = base_ok = 0
        times, errors = [], []
        for i in range(args.first_pose, args.first_pose + args.poses):
            case = registration_case(kind, pose_seed=i, sample=sample)
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = register_map(case.ct, case.map, voxel_size_um=case.voxel_size_um,
                                   pixel_size_um=case.pixel_size_um, axis="z", workers=args.workers,
                                   show_progress=False)
            times.append(time.perf_counter() - t)
            err = pixel_centre_rms_error(res.matrix, case.matrix, case.map.shape, case.pixel_size_um) / case.voxel_size_um
            errors.append(err)
            good = err < 1.0
            ok += good
            flagged_wrong += (not good) and res.poor_quality
            flagged_right += good and res.poor_quality
            line = (f"{kind.name} pose {i}: error {err:7.2f} voxel, poor {res.poor_quality}, contrast "
                    f"{res.contrast:.2f}, {times[-1]:.0f} s")
            if not args.no_baseline:
                vs = (case.voxel_size_um,) * 3
                init = pose_matrix(axis=0, centre_um=0.5 * (np.asarray(case.ct.shape) - 1) * case.voxel_size_um,
                                   rotation_deg=0.0, mirror=False, map_shape=case.map.shape,
                                   pixel_size_um=case.pixel_size_um)
                levels = prepare_levels(case.ct, case.map, voxel_size_um=vs, pixel_size_um=case.pixel_size_um, axis=0)
                m, _ = refine_pose(levels, init, map_shape=case.map.shape, pixel_size_um=case.pixel_size_um,
                                   voxel_size_um=vs, workers=args.workers)
                berr = pixel_centre_rms_error(m, case.matrix, case.map.shape, case.pixel_size_um) / case.voxel_size_um
                base_ok += berr < 1.0
                line += f" | SimpleITK from identity {berr:7.2f} voxel"
            print(line + f" | load {os.getloadavg()[0]:.1f}", flush=True)
        n = args.poses
        rows.append((kind.name, f"{ok}/{n}", f"{flagged_wrong}/{n - ok}", f"{flagged_right}/{ok}",
                     f"{np.median(times):.0f} / {max(times):.0f}", "-" if args.no_baseline else f"{base_ok}/{n}"))
    print("\n| kind | within 1 voxel | failures flagged poor | correct flagged poor | wall s (median / max) |"
          " SimpleITK from identity |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
