"""Benchmark: automatic registration of a face map into a CT volume over random poses.

Synthetic truth: a textured CT with mineral grains (``liberation.synthetic.make_sample`` when
available, else ``textured_phantom``), a face map at a random pose (any position along z,
any in-plane rotation, mirrored or not, tilt up to 5°), pixel 4x the CT voxel, element-count
intensities with Poisson noise. Only the axis is given. Success = registered map pixel
centres within 1 CT voxel RMS of the truth.

Side by side: SimpleITK alone (the same Mattes-MI refinement started from the map centred in
the volume, unrotated), i.e. what a user without the coarse search would run.

    OMP_NUM_THREADS=2 python benchmarks/bench_registration.py --size 256 --map 48 --poses 20 --workers 2
    OMP_NUM_THREADS=2 python benchmarks/bench_registration.py --size 256 --map 128 --pixel-factor 2 --poses 3 --workers 2
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _phantom(size: int, voxel: float, seed: int):
    try:
        from liberation.synthetic import make_sample

        s = make_sample(shape=(size, size, size), voxel_size_um=voxel, seed=seed)
        return s.ct, s.phases, "make_sample"
    except (ImportError, AttributeError):
        from liberation.synthetic.face import textured_phantom

        ph = textured_phantom((size, size, size), voxel_size_um=voxel, seed=seed)
        return ph.ct, ph.phases, "textured_phantom"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="CT edge (voxels)")
    ap.add_argument("--map", type=int, default=48, help="map edge (pixels)")
    ap.add_argument("--pixel-factor", type=float, default=4.0, help="map pixel / CT voxel")
    ap.add_argument("--poses", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the SimpleITK-only comparison")
    args = ap.parse_args()

    from liberation.registration import pixel_centre_rms_error, register_map
    from liberation.registration.fine import prepare_levels, refine_pose
    from liberation.registration.geometry import pose_matrix
    from liberation.synthetic.face import make_face_map, random_face_pose

    voxel = 10.0
    pixel = args.pixel_factor * voxel
    shape = (args.map, args.map)
    t = time.perf_counter()
    ct, phases, source = _phantom(args.size, voxel, args.seed + 100)
    print(f"phantom {source} {ct.shape} in {time.perf_counter() - t:.1f}s; map {shape} at {pixel:g} µm; workers {args.workers}")
    errors, times, cpu, flags, base_errors, base_times = [], [], [], [], [], []
    for i in range(args.poses):
        pose = random_face_pose(ct.shape, voxel, map_shape=shape, pixel_size_um=pixel, axis=0, seed=args.seed + i)
        fm = make_face_map(phases, voxel, map_shape=shape, pixel_size_um=pixel, seed=args.seed + i, **pose)
        t = time.perf_counter()
        c0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = register_map(ct, fm.map, voxel_size_um=voxel, pixel_size_um=pixel, axis="z", workers=args.workers,
                               show_progress=False)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c0)
        errors.append(pixel_centre_rms_error(res.matrix, fm.matrix, shape, pixel))
        flags.append(res.poor_quality)
        line = (f"pose {i:2d}: rot {pose['rotation_deg']:6.1f} mirror {int(pose['mirror'])} tilt {pose['tilt_deg']:.1f}"
                f" -> error {errors[-1]:8.2f} µm, wall {times[-1]:5.1f} s (coarse {res.timings_s['coarse']:.1f}), "
                f"CPU {cpu[-1]:5.1f} s, "
                f"NMI {res.nmi:.3f} contrast {res.contrast:.2f} poor {res.poor_quality}")
        if not args.no_baseline:
            t = time.perf_counter()
            init = pose_matrix(axis=0, centre_um=0.5 * (np.asarray(ct.shape) - 1) * voxel, rotation_deg=0.0, mirror=False,
                               map_shape=shape, pixel_size_um=pixel)
            levels = prepare_levels(ct, fm.map, voxel_size_um=(voxel,) * 3, pixel_size_um=pixel, axis=0)
            m, _ = refine_pose(levels, init, map_shape=shape, pixel_size_um=pixel, voxel_size_um=(voxel,) * 3,
                               workers=args.workers)
            base_times.append(time.perf_counter() - t)
            base_errors.append(pixel_centre_rms_error(m, fm.matrix, shape, pixel))
            line += f" | SimpleITK alone: {base_errors[-1]:8.1f} µm"
        print(line, flush=True)
    errors = np.asarray(errors)
    ok = errors < voxel
    print(f"\nliberation.register_map: success (RMS < 1 voxel) {ok.sum()}/{len(ok)}; median error {np.median(errors):.2f} µm "
          f"({np.median(errors) / voxel:.2f} voxel); wall time median {np.median(times):.1f} s, max {np.max(times):.1f} s; "
          f"CPU time (all threads) median {np.median(cpu):.1f} s, max {np.max(cpu):.1f} s")
    wrong_flagged = int(np.sum(~ok & np.asarray(flags)))
    print(f"failures flagged poor: {wrong_flagged}/{int((~ok).sum())}; correct ones flagged poor: {int(np.sum(ok & np.asarray(flags)))}")
    if base_errors:
        b = np.asarray(base_errors) < voxel
        print(f"SimpleITK alone (no coarse search): success {b.sum()}/{len(b)}; time median {np.median(base_times):.1f} s; "
              f"success ratio liberation/SimpleITK = {ok.sum()}/{max(b.sum(), 0)}; time ratio {np.median(times) / np.median(base_times):.1f}x")


if __name__ == "__main__":
    main()
