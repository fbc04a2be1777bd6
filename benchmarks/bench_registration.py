"""Benchmark: automatic registration of a face map into a CT volume over random poses.

Synthetic truth: a textured CT with mineral grains (``liberation.synthetic.make_sample`` when
available, else ``textured_phantom``), a face map at a random pose (any position along z,
any in-plane rotation, mirrored or not, tilt up to 5°), pixel 4x the CT voxel, element-count
intensities with Poisson noise. Only the axis is given. Success = registered map pixel
centres within 1 CT voxel RMS of the truth.

Side by side: SimpleITK alone (the same Mattes-MI refinement started from the map centred in
the volume, unrotated), i.e. what a user without the coarse search would run.

    OMP_NUM_THREADS=2 python benchmarks/bench_registration.py --size 256 --map 48 --poses 20 --workers 2
    OMP_NUM_THREADS=2 python benchmarks/bench_registration.py --size 256 --map 128 --pixel-factor 2 --poses 5 --workers 2
    OMP_NUM_THREADS=2 python benchmarks/bench_registration.py --size 256 --map 64 --pixel-factor 4 --poses 5 --workers 2

``--memory`` also registers one pose from a sample store on disk (zarr, 2 pyramid levels) under
tracemalloc and reports the peak of numpy allocations for both inputs (in memory / store).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

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
    ap.add_argument("--memory", action="store_true", help="also measure the numpy memory peak, in memory vs from a store")
    ap.add_argument("--json", type=Path, default=None, help="write the per-pose results here")
    args = ap.parse_args()
    load0 = os.getloadavg()

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
    errors, times, cpu, flags, base_errors, base_times, rows = [], [], [], [], [], [], []
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
        rows.append({"pose": i, **{k: pose[k] for k in ("rotation_deg", "mirror", "tilt_deg")},
                     "z_um": pose["centre_um"][0], "error_um": errors[-1], "wall_s": times[-1], "cpu_s": cpu[-1],
                     "coarse_wall_s": res.timings_s["coarse"], "nmi": res.nmi, "contrast": res.contrast,
                     "poor": res.poor_quality, "load": os.getloadavg()[0]})
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
            rows[-1]["sitk_alone_error_um"] = base_errors[-1]
        print(line + f" | load {os.getloadavg()[0]:.1f}", flush=True)
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
    load1 = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {tuple(round(v, 1) for v in load0)}, at end {tuple(round(v, 1) for v in load1)} "
          f"on {os.cpu_count()} CPUs")
    if args.memory:
        _memory(ct, phantom_phases=phases, voxel=voxel, pixel=pixel, shape=shape, seed=args.seed, workers=args.workers)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "load_start": load0,
                                         "load_end": load1, "poses": rows}, indent=1, default=float))


def _memory(ct, *, phantom_phases, voxel, pixel, shape, seed, workers):
    """Peak numpy memory (tracemalloc) of one registration: CT in memory vs CT in a zarr store with a pyramid."""
    from liberation.io import create_store
    from liberation.registration import pixel_centre_rms_error, register_map
    from liberation.synthetic.face import make_face_map, random_face_pose

    pose = random_face_pose(ct.shape, voxel, map_shape=shape, pixel_size_um=pixel, axis=0, seed=seed)
    fm = make_face_map(phantom_phases, voxel, map_shape=shape, pixel_size_um=pixel, seed=seed, **pose)
    with tempfile.TemporaryDirectory() as tmp:
        store = create_store(Path(tmp) / "s.zarr", ct, voxel_size_um=voxel, pyramid_levels=2, chunks=64)
        pyramid = [(store.image(lv), (2**lv,) * 3) for lv in range(1, len(store.level_paths))]
        for name, src, pyr in (("numpy in memory", ct, None), ("zarr store + pyramid", store.image(0), pyramid)):
            tracemalloc.start()
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = register_map(src, fm.map, voxel_size_um=voxel, pixel_size_um=pixel, axis="z", workers=workers,
                                   show_progress=False, ct_pyramid=pyr)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            err = pixel_centre_rms_error(res.matrix, fm.matrix, shape, pixel)
            print(f"memory, CT {name}: numpy peak {peak / 2**20:.0f} MiB (CT itself {ct.nbytes / 2**20:.0f} MiB), "
                  f"error {err:.2f} µm, wall {time.perf_counter() - t:.1f} s, fine slabs (level, axis, lo, hi) {res.fine_slabs}")


if __name__ == "__main__":
    main()
