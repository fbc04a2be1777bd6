"""Benchmark: automatic registration over the sample zoo (issue 17), next to plain SimpleITK from identity.

For each kind of :data:`liberation.synthetic.zoo.REGISTRATION_ZOO` (dense cores with Fe maps at
CT/map pixel ratios 4, 2, 1, particle mounts at 4, 2, 1, a sparse section with few particles),
one sample and ``--poses`` random poses (any height, rotation, mirror, tilt <= 5°); a pose
succeeds when the map pixel centres are within 1 voxel RMS of the truth. Prints per kind:
successes, failures flagged poor (never a confident wrong pose: a failure must be flagged),
correct poses flagged poor, the median and largest wall time, and the successes of plain
SimpleITK (Mattes MI, the same pyramid) started from the untilted, unrotated pose at the volume
centre. Per pose the error is also split into its RMS along the true plane normal and within the plane,
and the map's ``structure_px`` is printed. Per pose it also prints the particle fraction of the map at the true pose (``solid``: a
map with no particle section carries no signal) and whether the measure prefers the truth
(``truth NMI >= found NMI``, the NMI over the whole map with the CT beyond the volume drawn
from its border): a failure where the measure prefers the truth is a search failure, one where
it does not is a measure failure.

``--variants`` instead runs only the coarse search, in several feature spaces (natural-level
bins or quantile bins, map pixels beyond the CT ignored or scored against the CT's border), and
prints per kind how often a candidate within 3 voxels RMS of the truth (or one coarse pixel,
when that is larger) is among its best 8 (the fine stage then finds the pose).

Run::

    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/bench_registration_zoo.py --poses 2 [--kinds core-r4-m36,...]
    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/bench_registration_zoo.py --variants --poses 3 --kinds sparse-r2-m48
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    from liberation.registration import pixel_centre_rms_error, register_map, registration_quality
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
    ap.add_argument("--variants", action="store_true", help="coarse search only, per feature space")
    ap.add_argument("--outside", default=None, help="register_map's outside= (default: its default)")
    ap.add_argument("--diagnose", action="store_true",
                    help="per pose: where the truth stands at each stage (coarse grid, coarse candidates, refined "
                         "candidates, refinement started at the truth)")
    args = ap.parse_args(argv)
    if args.variants:
        return variants(args)
    if args.diagnose:
        return diagnose(args)
    kinds = [k for k in REGISTRATION_ZOO if args.kinds is None or k.name in args.kinds.split(",")]
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; workers {args.workers}")
    rows = []
    for kind in kinds:
        sample = registration_sample(kind, seed=args.seed)
        bg = _border_samples(sample.ct)
        ok = flagged_wrong = flagged_right = base_ok = 0
        times, cpus, errors = [], [], []
        for i in range(args.first_pose, args.first_pose + args.poses):
            case = registration_case(kind, pose_seed=i, sample=sample)
            t = time.perf_counter()
            c0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = register_map(case.ct, case.map, voxel_size_um=case.voxel_size_um,
                                   pixel_size_um=case.pixel_size_um, axis="z", workers=args.workers,
                                   show_progress=False, **({} if args.outside is None else {"outside": args.outside}))
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c0)
            err = pixel_centre_rms_error(res.matrix, case.matrix, case.map.shape, case.pixel_size_um) / case.voxel_size_um
            errors.append(err)
            err_n, err_p = _error_split(res.matrix, case)
            good = err < 1.0
            q_true = registration_quality(case.ct, case.map, case.matrix, voxel_size_um=case.voxel_size_um,
                                          pixel_size_um=case.pixel_size_um, outside_value=bg)
            q_found = registration_quality(case.ct, case.map, res.matrix, voxel_size_um=case.voxel_size_um,
                                           pixel_size_um=case.pixel_size_um, outside_value=bg)
            solid = _solid_fraction(sample, case)
            ok += good
            flagged_wrong += (not good) and res.poor_quality
            flagged_right += good and res.poor_quality
            line = (f"{kind.name} pose {i}: error {err:7.2f} voxel (normal {err_n:.2f}, in-plane {err_p:.2f}), poor "
                    f"{res.poor_quality}, structure {res.structure_px} px, contrast "
                    f"{res.contrast:.2f}, pose SE {res.pose_se_vox:.2f}, {times[-1]:.0f} s wall, {cpus[-1]:.0f} s CPU, solid {solid:.3f}, truth NMI >= found NMI "
                    f"{q_true['nmi_padded'] >= q_found['nmi_padded']} ({q_true['nmi_padded']:.4f} vs "
                    f"{q_found['nmi_padded']:.4f})")
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
                     f"{np.median(times):.0f} / {max(times):.0f}", f"{np.median(cpus):.0f}", "-" if args.no_baseline else f"{base_ok}/{n}"))
    print("\n| kind | within 1 voxel | failures flagged poor | correct flagged poor | wall s (median / max) |"
          " CPU s (median) | SimpleITK from identity |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


def _error_split(matrix, case) -> tuple[float, float]:
    """RMS over the map pixel centres of the error along the true plane normal and within the plane (voxels)."""
    from liberation.registration.geometry import apply_affine, map_pixel_centres

    pts = map_pixel_centres(case.map.shape, case.pixel_size_um).reshape(-1, 3)
    diff = (apply_affine(matrix, pts) - apply_affine(case.matrix, pts)) / case.voxel_size_um
    normal = case.matrix[:3, 0] / np.linalg.norm(case.matrix[:3, 0])
    along = diff @ normal
    inplane = diff - along[:, None] * normal
    return float(np.sqrt(np.mean(along**2))), float(np.sqrt(np.mean(np.sum(inplane**2, axis=1))))


def _border_samples(ct) -> np.ndarray:
    """Grey values on the lateral border of the CT (what register_map takes as the outside)."""
    from liberation.registration.coarse import lateral_border

    b = lateral_border(np.asarray(ct, dtype=np.float32))
    return np.sort(b)[np.linspace(0, b.size - 1, 1024).astype(int)]


def _solid_fraction(sample, case) -> float:
    """Fraction of the map pixel centres on a solid phase (not void) at the true pose."""
    from liberation.registration import ct_on_map_grid

    ph = ct_on_map_grid(np.asarray(sample.phases > 0, dtype=np.float32), case.matrix, voxel_size_um=case.voxel_size_um,
                        map_shape=case.map.shape, pixel_size_um=case.pixel_size_um)
    return float(np.nanmean(ph > 0.5))


VARIANTS = (("levels", 4, "ignore"), ("levels", 4, "background"), ("quantile", 6, "ignore"),
            ("quantile", 6, "background"))


def variants(args) -> None:
    """Coarse search only: per kind and feature space, poses with a candidate within 3 voxels in the best 8."""
    from liberation.registration import pixel_centre_rms_error
    from liberation.registration.coarse import coarse_search
    from liberation.synthetic.zoo import REGISTRATION_ZOO, registration_case, registration_sample

    kinds = [k for k in REGISTRATION_ZOO if args.kinds is None or k.name in args.kinds.split(",")]
    print(f"load average at start {os.getloadavg()[0]:.1f}; coarse search only, 8 candidates, hit = within "
          "max(3 voxels, 1 coarse pixel)")
    rows = []
    for kind in kinds:
        sample = registration_sample(kind, seed=args.seed)
        hits = dict.fromkeys(VARIANTS, 0)
        union = 0
        for i in range(args.first_pose, args.first_pose + args.poses):
            case = registration_case(kind, pose_seed=i, sample=sample)
            any_hit = False
            for var in VARIANTS:
                binning, nb, outside = var
                t = time.perf_counter()
                cands, info = coarse_search(case.ct, case.map, voxel_size_um=(case.voxel_size_um,) * 3,
                                         pixel_size_um=case.pixel_size_um, axes=(0,), n_bins=nb, binning=binning,
                                         outside=outside, n_candidates=8, workers=args.workers, show_progress=False)
                errs = [pixel_centre_rms_error(c.matrix, case.matrix, case.map.shape, case.pixel_size_um)
                        / case.voxel_size_um for c in cands]
                hit = max(3.0, max(info["spacing_um"]) / case.voxel_size_um)
                rank = next((r for r, e in enumerate(errs) if e < hit), None)
                hits[var] += rank is not None
                any_hit |= rank is not None
                print(f"{kind.name} pose {i} {binning}/{nb}/{outside}: best-candidate error {min(errs):6.1f} voxel, "
                      f"rank of the first within {hit:g} voxels {rank}, {time.perf_counter() - t:.0f} s", flush=True)
            union += any_hit
        rows.append((kind.name, *[f"{hits[v]}/{args.poses}" for v in VARIANTS], f"{union}/{args.poses}"))
    print("\n| kind | " + " | ".join(f"{b} {n} bins, outside {o}" for b, n, o in VARIANTS) + " | any |")
    print("|---|" + "---|" * (len(VARIANTS) + 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


def _truth_cell(info, axis, case, factors):
    """Coarse-grid score near the true pose (best over +-1 slice and +-1 angle step) and its rank among the peaks."""
    from liberation.registration.coarse import _peaks

    grid = info["scores"].get(axis)
    if grid is None:
        return None
    n_k, n_a, _ = grid.shape
    step = 360.0 / n_a
    f = factors[axis]
    vs = case.voxel_size_um
    k = int(round((case.pose["centre_um"][axis] / vs - (f - 1) / 2.0) / f))
    a = int(round(case.pose["rotation_deg"] / step)) % n_a
    im = int(bool(case.pose["mirror"]))
    ks = [kk for kk in (k - 1, k, k + 1) if 0 <= kk < n_k]
    cells = [(grid[kk, (a + da) % n_a, im], kk, (a + da) % n_a) for kk in ks for da in (-1, 0, 1)]
    best, kk, aa = max(cells)
    peaks = _peaks(grid, 10_000)
    rank = next((r for r, (pk, pa, pm) in enumerate(peaks) if abs(pk - kk) <= 1 and abs((pa - aa + n_a // 2) % n_a
                                                                                     - n_a // 2) <= 1 and pm == im),
                None)
    return float(best), float(grid.max()), rank, step


def diagnose(args) -> None:
    """Per pose: the truth at each stage of register_map (coarse grid, candidates, refined poses, measure maximum)."""
    import liberation.registration.register as reg_mod
    from liberation.registration import pixel_centre_rms_error, registration_quality
    from liberation.registration.fine import polish_bins, prepare_levels, refine_pose
    from liberation.synthetic.zoo import REGISTRATION_ZOO, registration_case, registration_sample

    kinds = [k for k in REGISTRATION_ZOO if args.kinds is None or k.name in args.kinds.split(",")]
    print(f"load average at start {os.getloadavg()[0]:.1f}; errors in voxels RMS over the map pixel centres")
    original = reg_mod.coarse_search
    for kind in kinds:
        sample = registration_sample(kind, seed=args.seed)
        bg = _border_samples(sample.ct)
        for i in range(args.first_pose, args.first_pose + args.poses):
            case = registration_case(kind, pose_seed=i, sample=sample)
            shape, p, vs = case.map.shape, case.pixel_size_um, case.voxel_size_um

            def err(m, case=case, shape=shape, p=p, vs=vs):
                return pixel_centre_rms_error(m, case.matrix, shape, p) / vs

            calls = []

            def spy(*a, calls=calls, **kw):
                out = original(*a, **kw)
                calls.append((kw.get("binning"), kw.get("n_bins"), out))
                return out

            reg_mod.coarse_search = spy
            t = time.perf_counter()
            c0 = time.process_time()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = reg_mod.register_map(case.ct, case.map, voxel_size_um=vs, pixel_size_um=p, axis="z",
                                               workers=args.workers, show_progress=False)
            finally:
                reg_mod.coarse_search = original
            wall, cpu = time.perf_counter() - t, time.process_time() - c0
            solid = _solid_fraction(sample, case)
            e = err(res.matrix)
            print(f"== {kind.name} pose {i}: error {e:.2f}, poor {res.poor_quality}, solid {solid:.3f}, "
                  f"wall {wall:.0f} s, CPU {cpu:.0f} s, timings "
                  + ", ".join(f"{k} {v:.0f}" for k, v in res.timings_s.items()), flush=True)
            for binning, nb, (cands, info) in calls:
                tc = _truth_cell(info, 0, case, info["factors"])
                errs = [err(c.matrix) for c in cands]
                near = [r for r, x in enumerate(errs) if x < 2.0 * max(info["spacing_um"]) / vs]
                line = (f"   coarse {binning}/{nb}: two-level {info['two_level'].get(0)}, coarse pixel "
                        f"{max(info['spacing_um']) / vs:g} vox; candidate errors "
                        + " ".join(f"{x:.1f}" for x in errs) + f"; within 2 coarse px: ranks {near}")
                if tc is not None:
                    line += (f"; grid ({'level A' if info['two_level'].get(0) else 'one level'}, step {tc[3]:.1f} deg)"
                             f" best near truth {tc[0]:.4f} vs grid max {tc[1]:.4f}, truth peak rank {tc[2]}")
                print(line)
                print("      candidate scores " + " ".join(f"{c.score:.4f}" for c in cands))
            q_t = registration_quality(case.ct, case.map, case.matrix, voxel_size_um=vs, pixel_size_um=p,
                                       outside_value=bg)
            fine = [(c["nmi_padded"], err(c["matrix"]), "R" if c.get("restart") else "C") for c in res.candidates]
            fine.sort(reverse=True)
            print(f"   refined (NMI padded, error, C=candidate R=restart), truth NMI {q_t['nmi_padded']:.4f}: "
                  + " ".join(f"{n:.4f}/{x:.1f}{k}" for n, x, k in fine[:10]))
            (lv,) = prepare_levels(case.ct, case.map, voxel_size_um=(vs,) * 3, pixel_size_um=p, axis=0, levels=(1,))
            m, _ = refine_pose([lv], case.matrix, map_shape=shape, pixel_size_um=p, voxel_size_um=(vs,) * 3,
                               bins=polish_bins(shape), workers=args.workers)
            q_m = registration_quality(case.ct, case.map, m, voxel_size_um=vs, pixel_size_um=p, outside_value=bg)
            print(f"   refined from the truth: error {err(m):.2f}, NMI {q_m['nmi_padded']:.4f}; chosen NMI "
                  f"{res.nmi:.4f} (padded {max(f[0] for f in fine):.4f}) | load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
