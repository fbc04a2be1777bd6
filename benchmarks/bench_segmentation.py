"""Benchmark of the segmentation subpackage on a 128^3 textured phantom (CPU preset).

Trains the phases model on the top and bottom faces only (labels = truth on those two
planes), evaluates on held-out interior planes against the truth, compares with the
same network applied slice by slice (2D), with an ilastik-style pixel classifier on
filter features (the preset's bootstrap, alone) and with per-voxel grey-value
classifiers (Gaussian mixture, multi-Otsu), measures sliding-window inference speed, then trains the
particles model (faces + classical bootstrap) and counts particles.

    OMP_NUM_THREADS=2 python benchmarks/bench_segmentation.py --size 128 --threads 2

The work of each training is fixed (epochs x steps), so the results do not depend on the
machine's speed; ``--max-time`` adds an optional wall-clock limit.

Prints a table; ``--json FILE`` also writes the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="phases training epochs (default: the cpu preset's, 65)")
    ap.add_argument("--particle-epochs", type=int, default=40,
                    help="particles training epochs (40 x 50 steps: about the former 300 s budget)")
    ap.add_argument("--max-time", type=float, default=None, help="optional wall-clock limit of each training (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results as JSON to this file")
    ap.add_argument("--no-particles", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from liberation.segmentation import (
        classical_particles,
        evaluate_planes,
        get_preset,
        grey_value_baseline,
        instance_metrics,
        interslice_consistency,
        particle_targets,
        predict_face_matched,
        predict_pixel_classifier,
        predict_slices_2d,
        predict_volume,
        segment_particles,
        train_model,
        train_pixel_classifier,
    )
    from liberation.synthetic.seg_phantom import make_texture_phantom

    n = args.size
    res: dict = {"size": n, "threads": args.threads, "torch_threads": torch.get_num_threads(),
                 "load_average_start": os.getloadavg()}
    t = time.perf_counter()
    s = make_texture_phantom((n, n, n), seed=args.seed)
    res["phantom_s"] = time.perf_counter() - t
    sparse = np.full(s.phases.shape, 255, np.uint8)
    sparse[0] = s.phases[0]
    sparse[-1] = s.phases[-1]
    planes = [n // 4, n // 2, 3 * n // 4]

    cfg = get_preset("cpu", max_epochs=args.epochs, max_time_s=args.max_time)
    t = time.perf_counter()
    r = train_model(s.ct, sparse, voxel_size_um=s.voxel_size_um, config=cfg, minerals=s.minerals, seed=args.seed,
                    device="cpu")
    res["train_s"] = time.perf_counter() - t
    res["epochs"] = len(r.history)
    res["steps"] = r.card.training["work"]["steps"]
    res["stopped_by"] = r.card.training["work"]["stopped_by"]
    res["validation"] = {k: r.card.validation.get(k) for k in ("accuracy", "miou")}
    res["validation_baseline"] = {k: r.card.validation.get("baseline", {}).get(k) for k in ("accuracy", "miou")}
    res["best_epoch"] = r.best_epoch
    res["bootstrap"] = r.card.training.get("bootstrap")
    ids, names = r.card.class_ids, r.card.class_names

    t = time.perf_counter()
    pred = predict_volume(s.ct, r.network, r.card, device="cpu")
    dt = time.perf_counter() - t
    res["inference_s"] = dt
    res["inference_voxels_per_s"] = s.ct.size / dt

    ev3 = evaluate_planes(pred, s.phases, class_ids=ids, class_names=names, planes=planes)
    t = time.perf_counter()
    pred_mirror = predict_volume(s.ct, r.network, r.card, device="cpu", mirror=True)
    res["inference_mirror_s"] = time.perf_counter() - t
    evm = evaluate_planes(pred_mirror, s.phases, class_ids=ids, class_names=names, planes=planes)
    t = time.perf_counter()
    pred_fm = predict_face_matched(s.ct, r.network, r.card, z_indices=planes, device="cpu", show_progress=False)
    res["face_matched_s_per_plane"] = (time.perf_counter() - t) / len(planes)
    evf = evaluate_planes(pred_fm, s.phases[planes], class_ids=ids, class_names=names, planes=range(3))
    slabs_2d = [predict_slices_2d(s.ct, r.network, r.card, range(z - 3, z + 4), device="cpu") for z in planes]
    pred2 = np.stack([sl[3] for sl in slabs_2d])
    ev2 = evaluate_planes(pred2, s.phases[planes], class_ids=ids, class_names=names, planes=range(3))
    t = time.perf_counter()
    pixel = train_pixel_classifier(s.ct, sparse, seed=args.seed)
    pixel_pred, _ = predict_pixel_classifier(s.ct, pixel, planes)
    res["pixel_classifier_s"] = time.perf_counter() - t
    evp = evaluate_planes(pixel_pred, s.phases[planes], class_ids=ids, class_names=names, planes=range(3))
    gmm = grey_value_baseline(s.ct, sparse, method="gmm", seed=args.seed)
    otsu = grey_value_baseline(s.ct, sparse, method="otsu", seed=args.seed)
    evg = evaluate_planes(gmm, s.phases, class_ids=ids, class_names=names, planes=planes)
    evo = evaluate_planes(otsu, s.phases, class_ids=ids, class_names=names, planes=planes)
    cons = {
        "3d": float(np.mean([interslice_consistency(pred[z - 3:z + 4]) for z in planes])),
        "2d": float(np.mean([interslice_consistency(sl) for sl in slabs_2d])),
        "truth": float(np.mean([interslice_consistency(s.phases[z - 3:z + 4]) for z in planes])),
    }
    res["phases"] = {
        "planes": planes,
        "3d": {k: ev3[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "3d_mirror_tta": {k: evm[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "3d_face_matched": {k: evf[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "2d_slice_by_slice": {k: ev2[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "pixel_classifier": {k: evp[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "grey_gmm": {k: evg[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "grey_multiotsu": {k: evo[k] for k in ("accuracy", "miou", "per_class_accuracy")},
        "interslice_consistency": cons,
        "confusion_normalized_3d": ev3["confusion_normalized"],
        "class_names": names,
    }
    print(f"\nphases on held-out interior planes {planes} (truth), {n}^3, trained on faces z=0 and z={n - 1}:")
    print(f"  {'method':28s} {'accuracy':>9s} {'mIoU':>6s}")
    for label, e in (("3D U-Net (this library)", ev3), ("3D U-Net, mirror TTA (8 flips)", evm),
                     ("3D U-Net, face-matched context", evf),
                     ("same net, 2D slice by slice", ev2),
                     ("pixel classifier (filters)", evp),
                     ("grey-value GMM", evg), ("grey-value multi-Otsu", evo)):
        print(f"  {label:28s} {e['accuracy']:9.3f} {e['miou']:6.3f}")
    print(f"  ratio accuracy 3D / GMM = {ev3['accuracy'] / evg['accuracy']:.2f}; "
          f"mIoU 3D / GMM = {ev3['miou'] / evg['miou']:.2f}")
    print(f"  per-class 3D: {ev3['per_class_accuracy']}")
    if res["bootstrap"]:
        b = res["bootstrap"]
        print(f"  bootstrap: planes {b['planes']}, {b['kept_fraction']:.1%} of their voxels kept "
              f"(probability >= {b['min_probability']}), classifier validation accuracy "
              f"{b.get('validation_accuracy', float('nan')):.3f}")
    print(f"  per-class 3D face-matched: {evf['per_class_accuracy']} ({res['face_matched_s_per_plane']:.2f} s/plane)")
    print(f"  inter-slice consistency: 3D {cons['3d']:.3f}, 2D {cons['2d']:.3f}, truth {cons['truth']:.3f}")
    print(f"  validation (held-out band of the faces): accuracy {res['validation']['accuracy']:.3f}, mIoU "
          f"{res['validation']['miou']:.3f}; pixel-classifier baseline {res['validation_baseline']['accuracy']:.3f}, "
          f"{res['validation_baseline']['miou']:.3f}; notes: {r.notes}")
    print(f"  training {res['train_s']:.0f} s ({res['epochs']} epochs, {res['steps']} steps, stopped by "
          f"{res['stopped_by']}, {args.threads} thread(s)); inference {dt:.1f} s = {res['inference_voxels_per_s']:.3g} voxels/s "
          f"(mirror TTA {res['inference_mirror_s']:.1f} s)")

    if not args.no_particles:
        t = time.perf_counter()
        boot = classical_particles(s.ct, voxel_size_um=s.voxel_size_um)
        res["bootstrap_s"] = time.perf_counter() - t
        targets = particle_targets(sparse, instances=boot, bootstrap_planes=0)
        pcfg = get_preset("cpu", max_epochs=args.particle_epochs, max_time_s=args.max_time)
        t = time.perf_counter()
        rp = train_model(s.ct, targets, voxel_size_um=s.voxel_size_um, task="particles", config=pcfg,
                         class_ids=[0, 1, 2], class_names=["outside", "particle", "contact"], seed=args.seed,
                         device="cpu")
        res["particles_train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        inst = segment_particles(s.ct, rp.network, rp.card)
        res["particles_inference_s"] = time.perf_counter() - t
        mp = instance_metrics(s.particles, inst)
        mb = instance_metrics(s.particles, boot)
        res["particles"] = {"network": mp, "classical_bootstrap": mb}
        print(f"\nparticles ({mp['n_true']} true): network {mp['n_pred']} (count error {mp['count_error']:+.1%}, "
              f"F1@0.5 {mp['f1']:.3f}); classical threshold+watershed {mb['n_pred']} "
              f"(count error {mb['count_error']:+.1%}, F1@0.5 {mb['f1']:.3f})")
    res["load_average_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2, default=float)
    print(f"\nload average start {res['load_average_start']}, end {res['load_average_end']} (shared machine)")
    return res


if __name__ == "__main__":
    main()
