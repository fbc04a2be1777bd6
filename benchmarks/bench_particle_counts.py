"""Particle counts of the particles network's separation on touching and elongated particles.

Run::

    python benchmarks/bench_particle_counts.py --threads 1 --seeds 1 2 3
    python benchmarks/bench_particle_counts.py --threads 1 --seeds 1 --ct        # also the bootstraps from the CT
    python benchmarks/bench_particle_counts.py --threads 1 --seeds 1 --network 120  # also a tiny training run
    python benchmarks/bench_particle_counts.py --threads 1 --seeds 1 2 --texture    # also the texture phantom

What ``liberation segment`` does with a particles model: the network predicts, per voxel,
outside (0) / particle (1) / contact (2), and
:func:`liberation.segmentation.particles.instances_from_prediction` separates the
instances. This benchmark feeds that separation classes made from the exact truth of
phantoms with a known count, so the count error is the separation's own, then degrades the
classes the way a network fails:

- ``perfect``: foreground and contact zone (particle voxels within 1 voxel of another
  particle, :func:`~liberation.segmentation.particles.contact_zone`) from the truth;
- ``half contacts``: the contact voxels of a random half of the touching pairs set back to
  particle (a network that misses some contacts);
- ``no contacts``: the foreground only (a network that predicts no contact at all).

Seeding: ``core`` (every connected core is a seed, the library's default before issue 18),
``distance`` (h-maxima of the core's distance map, h = 2 voxels), ``relative`` (the
relative-dynamic merge on the foreground's distance map with the predicted contacts cut to
zero, issue 18).

Phantoms, 64^3, 10 µm voxels (``liberation.synthetic.packs``, no gap between particles;
every particle inside the volume, so the truth count is exact): touching spheres of radius
4 and 6 voxels (necks of 2 % overlap, and wide necks of 8 % at radius 6), touching prolate
ellipsoids of aspect 2 and 3 (random orientation, equivalent radius 4 and 6 voxels), and
ellipsoids of aspect 2-3 at equivalent radius 5 voxels in x/y on voxels twice as long in z
(20 x 10 x 10 µm, 32 x 64 x 64), and a control of separated particles in void
(``make_particles``, no touching).

Count error = (n_pred - n_true) / n_true; matched = the fraction of true particles matched
by a predicted one at IoU > 0.5. ``--threads`` sets every library's thread count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)


SHAPE = (64, 64, 64)
VOXEL_UM = 10.0

#: name -> (generator, keyword arguments); radii in voxels are converted to µm.
PHANTOMS = {
    "spheres r4": ("touching_spheres", {"n_particles": 30, "radius_um": 4 * VOXEL_UM}),
    "spheres r6": ("touching_spheres", {"n_particles": 12, "radius_um": 6 * VOXEL_UM}),
    "spheres r6 wide necks": ("touching_spheres", {"n_particles": 12, "radius_um": 6 * VOXEL_UM, "overlap": 0.08}),
    "ellipsoids 2:1 r4": ("touching_ellipsoids", {"n_particles": 30, "radius_um": 4 * VOXEL_UM,
                                                  "aspect_range": (2.0, 2.0)}),
    "ellipsoids 3:1 r4": ("touching_ellipsoids", {"n_particles": 30, "radius_um": 4 * VOXEL_UM,
                                                  "aspect_range": (3.0, 3.0)}),
    "ellipsoids 2:1 r6": ("touching_ellipsoids", {"n_particles": 12, "radius_um": 6 * VOXEL_UM,
                                                  "aspect_range": (2.0, 2.0)}),
    "ellipsoids 3:1 r6": ("touching_ellipsoids", {"n_particles": 12, "radius_um": 6 * VOXEL_UM,
                                                  "aspect_range": (3.0, 3.0)}),
    "ellipsoids 2-3:1 r5, voxels 2:1:1": ("touching_ellipsoids", {
        "n_particles": 12, "radius_um": 5 * VOXEL_UM, "aspect_range": (2.0, 3.0), "shape": (32, 64, 64),
        "voxel_size_um": (2 * VOXEL_UM, VOXEL_UM, VOXEL_UM)}),
    "in void (control)": ("make_particles", {}),
}

CLASSES = ("perfect", "half contacts", "no contacts")
SEEDS = ("core", "distance", "relative")


def make_phantom(name: str, seed: int):
    """(truth instances, CT, phases, voxel size µm (z, y, x)) of phantom ``name``."""
    import numpy as np

    from liberation.minerals import spodumene_ore
    from liberation.synthetic import packs
    from liberation.synthetic.ct import ct_forward
    from liberation.synthetic.particles import make_particles

    func, kw = PHANTOMS[name]
    if func == "make_particles":
        truth = make_particles(SHAPE, voxel_size_um=VOXEL_UM, esd_range_um=(8 * VOXEL_UM, 20 * VOXEL_UM),
                               packing_fraction=0.2, touching_fraction=0.0, seed=seed)
        minerals = spodumene_ore()
        phases = np.where(truth > 0, minerals.ids[0], 0).astype(np.uint8)
        ct = ct_forward(phases, minerals=minerals, voxel_size_um=VOXEL_UM, noise=0.03, seed=seed)
        return truth, ct, phases, (VOXEL_UM,) * 3
    kw = {"shape": SHAPE, "voxel_size_um": VOXEL_UM, **kw}
    sample = getattr(packs, func)(seed=seed, **kw)
    return sample.particles, sample.ct, sample.phases, tuple(sample.voxel_size_um)


def truth_classes(truth):
    """Outside 0 / particle 1 / contact 2 from the truth instances (contact width 1 voxel)."""
    import numpy as np

    from liberation.segmentation.particles import contact_zone

    classes = (truth > 0).astype(np.uint8)
    classes[contact_zone(truth, width=1) & (truth > 0)] = 2
    return classes


def drop_contacts(truth, classes, fraction: float, rng):
    """Classes with the contact voxels of a random ``fraction`` of the touching pairs set to particle."""
    import numpy as np
    from scipy import ndimage

    big = np.iinfo(np.int64).max
    t = truth.astype(np.int64)
    high = ndimage.maximum_filter(t, size=3)
    low = ndimage.minimum_filter(np.where(t > 0, t, big), size=3)
    contact = classes == 2
    own = t[contact]
    other = np.where(high[contact] != own, high[contact], low[contact])
    key = np.minimum(own, other) * (int(t.max()) + 1) + np.maximum(own, other)
    pairs = np.unique(key)
    dropped = pairs[rng.random(pairs.size) < fraction]
    out = classes.copy()
    idx = np.flatnonzero(contact.ravel())
    out.ravel()[idx[np.isin(key, dropped)]] = 1
    return out


def measure(truth, pred) -> tuple[float, float]:
    """(count error %, matched fraction at IoU > 0.5)."""
    from liberation.segmentation.metrics import instance_metrics

    m = instance_metrics(truth, pred)
    return 100.0 * m["count_error"], m["recall"]


def run_truth(seeds):
    """{(phantom, classes, seeding): [(count error %, matched), ...]} over the seeds."""
    import numpy as np

    from liberation.segmentation.particles import instances_from_prediction

    table: dict = {}
    for name in PHANTOMS:
        for seed in seeds:
            truth, _, _, vs = make_phantom(name, seed)
            perfect = truth_classes(truth)
            variants = {"perfect": perfect,
                        "half contacts": drop_contacts(truth, perfect, 0.5, np.random.default_rng(seed)),
                        "no contacts": (truth > 0).astype(np.uint8)}
            for vname, classes in variants.items():
                for how in SEEDS:
                    pred = instances_from_prediction(classes, voxel_size_um=vs, seeds=how, min_size_voxels=10)
                    table.setdefault((name, vname, how), []).append(measure(truth, pred) + (int(truth.max()),))
    return table


def run_texture(seeds):
    """The project's texture phantom (96^3) with its void gaps (1.5 voxels) and without (0):
    {(gap, classes, seeding): [(count error %, matched, n), ...]}."""
    import numpy as np

    from liberation.segmentation.particles import instances_from_prediction
    from liberation.synthetic.seg_phantom import make_texture_phantom

    table: dict = {}
    for gap in (1.5, 0.0):
        for seed in seeds:
            sample = make_texture_phantom((96, 96, 96), seed=seed, gap=gap)
            truth = sample.particles
            for vname, classes in (("perfect", truth_classes(truth)), ("no contacts", (truth > 0).astype(np.uint8))):
                for how in SEEDS:
                    pred = instances_from_prediction(classes, voxel_size_um=sample.voxel_size_um, seeds=how)
                    table.setdefault((gap, vname, how), []).append(measure(truth, pred) + (int(truth.max()),))
    return table


def run_ct(seeds):
    """Bootstraps from the CT: {(phantom, method): [(count error %, matched), ...]}."""
    from liberation.segmentation.classical import classical_phases, separate_particles
    from liberation.segmentation.particles import bootstrap_particles, classical_particles

    table: dict = {}
    for name in PHANTOMS:
        for seed in seeds:
            truth, ct, _, vs = make_phantom(name, seed)
            methods = {
                "classical_particles": lambda ct, vs: classical_particles(ct, voxel_size_um=vs),
                "separate_particles(classical_phases)": lambda ct, vs: separate_particles(
                    classical_phases(ct, classes=2) > 0, voxel_size_um=vs),
                "bootstrap_particles": lambda ct, vs: bootstrap_particles(ct, voxel_size_um=vs),
            }
            for mname, fn in methods.items():
                table.setdefault((name, mname), []).append(measure(truth, fn(ct, vs)) + (int(truth.max()),))
    return table


def run_network(seed: int, max_time_s: float, phantoms):
    """A tiny particles network per phantom: labels on z=1 and z=N-2 plus 8 bootstrap planes."""
    import numpy as np
    import torch

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.particles import bootstrap_particles, instances_from_prediction, particle_targets
    from liberation.segmentation.train import train_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rows = []
    for name in phantoms:
        truth, ct, phases, vs = make_phantom(name, seed)
        sparse = np.full(truth.shape, 255, dtype=np.uint8)
        for z in (1, truth.shape[0] - 2):
            sparse[z] = phases[z]
        boot = bootstrap_particles(ct, voxel_size_um=vs)
        targets = particle_targets(sparse, instances=boot, bootstrap_planes=8)
        config = get_preset("tiny", channels=[8, 16], patch_size=[24, 24, 24], steps_per_epoch=8, max_epochs=1000,
                            early_stopping=1000, max_time_s=float(max_time_s))
        t = time.perf_counter()
        res = train_model(ct, targets, voxel_size_um=vs, task="particles", config=config, class_ids=[0, 1, 2],
                          class_names=["outside", "particle", "contact"], seed=seed, device="cpu", show_progress=False)
        train_s = time.perf_counter() - t
        classes = np.asarray(predict_volume(ct, res.network, res.card, device="cpu"))
        fg_error = float(np.mean((classes > 0) != (truth > 0)) / np.mean(truth > 0))
        for how in SEEDS:
            pred = instances_from_prediction(classes, voxel_size_um=vs, seeds=how)
            rows.append((name, how, *measure(truth, pred), int(truth.max()), train_s, fg_error))
        rows.append((name, "(bootstrap)", *measure(truth, boot), int(truth.max()), train_s, fg_error))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="phantom seeds")
    ap.add_argument("--ct", action="store_true", help="also the bootstraps from the CT")
    ap.add_argument("--texture", action="store_true", help="also the texture phantom (gap 1.5 and 0 voxels)")
    ap.add_argument("--network", type=float, default=0.0, metavar="SECONDS",
                    help="also a tiny training run per phantom of this many seconds (first seed only)")
    ap.add_argument("--network-phantoms", nargs="*", default=["spheres r6", "ellipsoids 3:1 r6", "in void (control)"])
    args = ap.parse_args(argv)
    _set_threads(args.threads)
    import numpy as np

    print(f"seeds {args.seeds}, threads {args.threads}, load average {os.getloadavg()}\n")
    t0 = time.perf_counter()
    table = run_truth(args.seeds)
    print("separation of classes made from the truth: count error % (mean over seeds / max abs) and matched "
          "fraction (IoU > 0.5, mean)\n")
    print("| phantom | particles | classes | " + " | ".join(SEEDS) + " |")
    print("|---|---:|---|" + "---|" * len(SEEDS))
    for name in PHANTOMS:
        for vname in CLASSES:
            cells = []
            for how in SEEDS:
                v = np.array(table[(name, vname, how)])
                cells.append(f"{v[:, 0].mean():+.1f} / {np.abs(v[:, 0]).max():.1f}, {v[:, 1].mean():.2f}")
            n = np.array(table[(name, vname, SEEDS[0])])[:, 2].mean()
            print(f"| {name} | {n:.0f} | {vname} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.ct:
        t0 = time.perf_counter()
        ct_table = run_ct(args.seeds)
        print("\nbootstraps from the CT (3 % noise, blur 0.7 voxel): count error % (mean / max abs), matched\n")
        methods = sorted({m for _, m in ct_table}, key=lambda m: list(dict.fromkeys(m for _, m in ct_table)).index(m))
        print("| phantom | " + " | ".join(methods) + " |")
        print("|---|" + "---|" * len(methods))
        for name in PHANTOMS:
            cells = []
            for m in methods:
                v = np.array(ct_table[(name, m)])
                cells.append(f"{v[:, 0].mean():+.1f} / {np.abs(v[:, 0]).max():.1f}, {v[:, 1].mean():.2f}")
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.texture:
        t0 = time.perf_counter()
        tex = run_texture(args.seeds)
        print("\ntexture phantom 96^3 (make_texture_phantom), classes from the truth: count error % (mean / max abs), "
              "matched\n")
        print("| void gap (voxels) | particles | classes | " + " | ".join(SEEDS) + " |")
        print("|---|---:|---|" + "---|" * len(SEEDS))
        for gap in (1.5, 0.0):
            for vname in ("perfect", "no contacts"):
                cells = []
                for how in SEEDS:
                    v = np.array(tex[(gap, vname, how)])
                    cells.append(f"{v[:, 0].mean():+.1f} / {np.abs(v[:, 0]).max():.1f}, {v[:, 1].mean():.2f}")
                n = np.array(tex[(gap, vname, SEEDS[0])])[:, 2].mean()
                print(f"| {gap:g} | {n:.0f} | {vname} | " + " | ".join(cells) + " |")
        print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.network > 0:
        rows = run_network(args.seeds[0], args.network, args.network_phantoms)
        print(f"\ntiny particles network, seed {args.seeds[0]}, {args.network:g} s training per phantom\n")
        print("| phantom | seeding | count error % | matched | particles | train s | foreground error / particle volume |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, how, ce, rec, n, ts, fe in rows:
            print(f"| {name} | {how} | {ce:+.1f} | {rec:.2f} | {n} | {ts:.0f} | {fe:.3f} |")
    print(f"\nload average at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
