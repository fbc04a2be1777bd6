"""Phase segmentation over the texture kinds of the sample zoo (issue 18): the delivered method,
the network, the pixel classifier and the grey-value GMM on held-out test planes, per kind and seed.

Every kind (``liberation.synthetic.seg_zoo.SEG_ZOO``) holds quartz and albite of equal mean grey
value (albite with twin lamellae of a random direction per grain): dense Voronoi cores and
particle mounts, blur 0.4-0.8 voxel, noise 2-5 %, labels at the ends, a few voxels inside, in
the interior or on tilted sheets. ``train_model`` trains the network and validates it, the pixel
classifier and the GMM (all three trained on the same training labels) on the same validation
voxels, and delivers the best (``choose_delivered``); the test planes z = N/4, N/2, 3N/4 (voxels
not labelled) then measure all four. The preset's work is ``--epochs`` x ``--steps`` (default:
the preset's own, 65 x 50 for ``cpu``); ``--input-features`` trains one network per choice.

Full sweep (quiet machine, 2 cores; about 10 minutes per kind and seed):

    PYTHONPATH=. python benchmarks/bench_segmentation_zoo.py --size 96 --seeds 0,1 --threads 2 --json zoo.json

The classical candidates alone, the classifier with and without its texture features
(``liberation.segmentation.texture_features``), with their feature and training times:

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_segmentation_zoo.py --size 96 --seeds 0,1 --classical-only --texture default,none

The classifier with the auto-context stage ``train`` tries (``add_context_stage``, in-plane smoothing, 2 folds)
and the 3D stage, with training and prediction times (wall and CPU):

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_segmentation_zoo.py --size 96 --seeds 0,1 --classical-only --texture default,context-yx,context

The two auto-context candidates ``train`` tries (in-plane and 3D smoothing, 2 folds) and the one it keeps
(``context-chosen``, as ``train``: of the two candidates the better on the validation voxels by mIoU then
accuracy, kept when it beats the one-stage classifier by accuracy then mIoU, ties to the cheaper; session 8):

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_segmentation_zoo.py --size 96 --seeds 0,1 --classical-only --texture default,context-yx,context-zyx,context-chosen

The Potts smoothing ``train`` adds to the classifier it keeps (session 9: an in-plane mean-field relaxation of the
probabilities, its weight chosen on the validation voxels, ``smoothed``):

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_segmentation_zoo.py --size 96 --seeds 0,1 --classical-only --texture default,context-yx,context-zyx,context-chosen,smoothed

Reduced sweep (a shared machine):

    PYTHONPATH=. python benchmarks/bench_segmentation_zoo.py --size 64 --epochs 10 --steps 20 --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

TARGET_ACCURACY, TARGET_MIOU = 0.92, 0.85


def _metrics(pred_planes, truth_planes, ids, names) -> dict:
    from liberation.segmentation.evaluate import evaluate_planes

    e = evaluate_planes(pred_planes, truth_planes, class_ids=ids, class_names=names,
                        planes=range(len(truth_planes)))
    return {"accuracy": e["accuracy"], "miou": e["miou"], "per_class_accuracy": e["per_class_accuracy"],
            "n_voxels": e["n_voxels"]}


def run_case(kind: str, seed: int, *, size: int, preset: str, epochs, steps, input_features: str,
             threads: int) -> dict:
    """Train on one zoo case and measure the four methods on its test planes."""
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.features import resolve_input_features
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.pixel_classifier import predict_pixel_classifier
    from liberation.segmentation.train import train_model
    from liberation.synthetic.seg_zoo import seg_case

    load_start = os.getloadavg()[0]
    t = time.perf_counter()
    case = seg_case(kind, size=size, seed=seed)
    s = case.sample
    gen_s = time.perf_counter() - t
    base = get_preset(preset)
    patch = tuple(min(p, size) for p in base.patch_size)
    cfg = get_preset(preset, max_epochs=epochs, steps_per_epoch=steps, patch_size=patch,
                     input_features=resolve_input_features(input_features, base.input_features))
    t = time.perf_counter()
    r = train_model(s.ct, case.sparse, voxel_size_um=s.voxel_size_um, config=cfg, minerals=s.minerals, seed=seed,
                    device="cpu", show_progress=False)
    train_s = time.perf_counter() - t
    ids, names = r.card.class_ids, r.card.class_names
    planes = case.test_planes
    truth = np.where(case.sparse[planes] == 255, s.phases[planes], 255).astype(np.uint8)
    t = time.perf_counter()
    net_pred = np.asarray(predict_volume(s.ct, r.network, r.card, device="cpu", show_progress=False))[planes]
    infer_s = time.perf_counter() - t
    test = {"network": _metrics(net_pred, truth, ids, names)}
    for name, clf in r.candidates.items():
        test[name] = _metrics(predict_pixel_classifier(s.ct, clf, planes)[0], truth, ids, names)
    v = r.card.validation
    delivered = v["delivered"]
    test["delivered"] = dict(test[delivered], method=delivered)
    validation = {"network": {k: v[k] for k in ("accuracy", "miou")}}
    for name in ("pixel-classifier", "grey-gmm"):
        if name in v["delivery"]:
            validation[name] = v["delivery"][name]
    d = test["delivered"]
    others = [test[n] for n in ("pixel-classifier", "grey-gmm") if n in test]
    row = {"kind": kind, "seed": seed, "size": size, "preset": preset, "input_features": input_features,
           "epochs": cfg.max_epochs, "steps_per_epoch": cfg.steps_per_epoch, "steps": r.card.training["work"]["steps"],
           "patch": list(patch), "threads": threads, "blur": case.kind.blur, "noise": case.kind.noise,
           "layout": case.kind.layout, "delivered": delivered, "delivery_reason": v["delivery"]["reason"],
           "validation": validation, "test": test,
           "delivered_not_worse": bool(all(d["accuracy"] >= o["accuracy"] - 1e-12 and d["miou"] >= o["miou"] - 1e-12
                                           for o in others)),
           "meets_target": bool(d["accuracy"] >= TARGET_ACCURACY and d["miou"] >= TARGET_MIOU),
           "generate_s": gen_s, "train_s": train_s, "inference_s": infer_s,
           "load_start": load_start, "load_end": os.getloadavg()[0]}
    return row


def run_classical(kind: str, seed: int, *, size: int, preset: str, textures=("default",),
                  context_folds: int | None = None) -> dict:
    """The two classical candidates alone (no network): trained on the training part of the labels as in
    ``train_model`` (the same split), measured on the test planes. Minutes, not tens of minutes.

    ``textures``: one pixel classifier per entry, ``"default"`` (the classifier's texture features,
    ``TEXTURE_FEATURES``) or ``"none"`` (the original filter features alone), reported as
    ``pixel-classifier`` and ``pixel-classifier/none``, or ``"context"`` (the default features plus the
    auto-context stage at ``CONTEXT_SIGMAS``, 3D smoothing, ``pixel-classifier/context``) or ``"context-yx"``
    (the same with in-plane smoothing, what ``train`` tries); the feature time of one plane and the training time
    of each are recorded, wall clock and CPU time of this process (same run, same load: compare them as ratios;
    with one thread the CPU time is the steadier under load)."""
    from liberation.segmentation.baseline import fit_grey_gmm, grey_gmm_classifier
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.normalize import apply_normalization, robust_percentiles
    from liberation.segmentation.patches import split_validation
    from liberation.segmentation.pixel_classifier import (
        CONTEXT_SIGMAS,
        add_context_stage,
        plane_features,
        predict_pixel_classifier,
        train_pixel_classifier,
    )
    from liberation.segmentation.targets import phase_classes
    from liberation.segmentation.texture_features import TEXTURE_FEATURES
    from liberation.synthetic.seg_zoo import seg_case

    load_start = os.getloadavg()[0]
    case = seg_case(kind, size=size, seed=seed)
    s = case.sample
    cfg = get_preset(preset)
    train, val, _ = split_validation(case.sparse, val_fraction=cfg.val_fraction)
    norm = robust_percentiles(s.ct, low=cfg.percentiles[0], high=cfg.percentiles[1], seed=np.random.default_rng(seed))
    ids, names = phase_classes(case.sparse, minerals=s.minerals)
    planes = case.test_planes
    truth = np.where(case.sparse[planes] == 255, s.phases[planes], 255).astype(np.uint8)
    where = train != 255
    gmm = grey_gmm_classifier(fit_grey_gmm(apply_normalization(s.ct[where].astype(np.float64), norm), train[where],
                                           seed=seed), norm)
    test = {"grey-gmm": _metrics(predict_pixel_classifier(s.ct, gmm, planes)[0], truth, ids, names)}
    timing = {}
    one_stage = None  # the default classifier (and its times), reused by the context-yx choices as train does
    trained = {}  # choice -> classifier, for context-chosen
    val_scores = {}

    def val_score(clf):
        # validation accuracy / mIoU on the held-out labelled voxels (as train scores its candidates)
        from liberation.metrics import confusion_matrix
        from liberation.segmentation.metrics import phase_metrics
        from liberation.segmentation.pixel_classifier import classify_labelled_voxels

        pred, coords = classify_labelled_voxels(s.ct, clf, val)
        cm = confusion_matrix(val[tuple(coords.T)], pred, class_ids=ids)
        e = phase_metrics(cm, class_names=names, void_index=ids.index(0) if 0 in ids else None)
        recalls[id(clf)] = e["per_class_accuracy"]
        return e["accuracy"], e["miou"]

    recalls = {}  # id(classifier) -> validation recall per class (the rare-class guard of context-chosen-acc)
    for choice in textures:
        if choice == "smoothed":
            # train's Potts smoothing candidate (session 9) on what train keeps (context-chosen, else the default
            # classifier): the weight chosen on the validation voxels
            from liberation.metrics import confusion_matrix
            from liberation.segmentation.metrics import phase_metrics
            from liberation.segmentation.pixel_classifier import _classify_labelled_potts
            from liberation.segmentation.train import _potts_candidate

            base = ("pixel-classifier/context-chosen" if "pixel-classifier/context-chosen" in test
                    else "pixel-classifier")
            chosen = test[base].get("chosen", "default")
            clf0 = trained[chosen]

            def score_weights(clf, weights):
                preds, coords = _classify_labelled_potts(s.ct, clf, val, weights=weights)
                out = {}
                for w, pred in preds.items():
                    cm = confusion_matrix(val[tuple(coords.T)], pred, class_ids=ids)
                    out[w] = phase_metrics(cm, class_names=names, void_index=ids.index(0) if 0 in ids else None)
                return out

            t, c = time.perf_counter(), time.process_time()
            rec = _potts_candidate(clf0, {}, score_weights)
            clf = rec.pop("classifier", clf0)
            rec.pop("metrics", None)
            extra_s, extra_cpu = time.perf_counter() - t, time.process_time() - c
            t, c = time.perf_counter(), time.process_time()
            test["pixel-classifier/smoothed"] = dict(_metrics(predict_pixel_classifier(s.ct, clf, planes)[0], truth,
                                                              ids, names), chosen=f"{chosen} + weight {rec['weight']:g}",
                                                     smoothing=rec)
            tm = dict(timing[base])
            tm.update(train_s=tm["train_s"] + extra_s, train_cpu_s=tm["train_cpu_s"] + extra_cpu,
                      predict_per_plane_s=(time.perf_counter() - t) / len(planes),
                      predict_per_plane_cpu_s=(time.process_time() - c) / len(planes))
            timing["pixel-classifier/smoothed"] = tm
            continue
        if choice == "context-chosen-acc":
            # the alternative rule (session 9, not train's): the context candidates by accuracy then mIoU, among
            # those that lower no class's validation recall by more than 0.05 below the one-stage classifier's (the
            # rare-class guard); kept when it beats one stage by accuracy then mIoU
            order = [c for c in ("default", "context-yx", "context-zyx") if c in trained]
            for c in order:
                val_scores.setdefault(c, val_score(trained[c]))
                if id(trained[c]) not in recalls:
                    val_score(trained[c])
            r0 = recalls[id(trained["default"])]

            def guarded(c, r0=r0):
                r = recalls[id(trained[c])]
                return all(not (r0[k] - r[k] > 0.05) for k in r0 if k in r)

            ctx = [c for c in order if c != "default" and guarded(c)]
            best = max(ctx, key=lambda c: val_scores[c]) if ctx else "default"
            if val_scores[best] <= val_scores["default"]:
                best = "default"
            src = "pixel-classifier" if best == "default" else f"pixel-classifier/{best}"
            test["pixel-classifier/context-chosen-acc"] = dict(test[src], chosen=best,
                                                               guarded=[c for c in order if c != "default" and
                                                                        not guarded(c)])
            timing["pixel-classifier/context-chosen-acc"] = dict(timing[src])
            continue
        if choice == "context-chosen":
            # what train keeps: the best on the validation voxels of the one-stage classifier and the two
            # candidates (ties to the cheaper: listed first), trained above
            order = [c for c in ("default", "context-yx", "context-zyx") if c in trained]
            for c in order:
                val_scores.setdefault(c, val_score(trained[c]))
            # train: the context candidates by mIoU then accuracy; the best kept when it beats one stage
            # by accuracy then mIoU
            ctx = [c for c in order if c != "default"]
            best = max(ctx, key=lambda c: val_scores[c][::-1]) if ctx else "default"
            if "default" in order and val_scores[best] <= val_scores["default"]:
                best = "default"
            test["pixel-classifier/context-chosen"] = dict(test["pixel-classifier" if best == "default"
                                                                 else f"pixel-classifier/{best}"], chosen=best,
                                                            validation={c: val_scores[c] for c in order})
            timing["pixel-classifier/context-chosen"] = dict(timing["pixel-classifier" if best == "default"
                                                                     else f"pixel-classifier/{best}"])
            continue
        texture = {"default": TEXTURE_FEATURES, "none": (), "context": TEXTURE_FEATURES,
                   "context-yx": TEXTURE_FEATURES, "context-yx-wide": TEXTURE_FEATURES,
                   "context-zyx": TEXTURE_FEATURES}[choice]
        context = CONTEXT_SIGMAS if choice.startswith("context") else ()
        name = "pixel-classifier" if choice == "default" else f"pixel-classifier/{choice}"
        extra = {"context_folds": int(context_folds)} if context and context_folds else {}
        if choice.startswith("context-yx") or choice == "context-zyx":
            # what train tries: the default one-stage classifier, then add_context_stage (in-plane smoothing,
            # 2 folds unless --context-folds); its time = the one-stage training + the added stage
            if one_stage is None:
                t, c = time.perf_counter(), time.process_time()
                one_stage = (train_pixel_classifier(s.ct, train, norm=norm, seed=seed, texture=TEXTURE_FEATURES),
                             time.perf_counter() - t, time.process_time() - c)
            sig = CONTEXT_SIGMAS + ((4.0,) if choice == "context-yx-wide" else ())
            t, c = time.perf_counter(), time.process_time()
            clf = add_context_stage(s.ct, train, one_stage[0], context_sigmas=sig, seed=seed,
                                    context_axes="zyx" if choice == "context-zyx" else "yx", **extra)
            train_s, train_cpu_s = one_stage[1] + time.perf_counter() - t, one_stage[2] + time.process_time() - c
        else:
            t, c = time.perf_counter(), time.process_time()
            clf = train_pixel_classifier(s.ct, train, norm=norm, seed=seed, texture=texture, context_sigmas=context,
                                         **extra)
            train_s, train_cpu_s = time.perf_counter() - t, time.process_time() - c
            if choice == "default":
                one_stage = (clf, train_s, train_cpu_s)
        trained[choice] = clf
        t = time.perf_counter()
        if context:  # the context stage needs stage-1 probabilities around the plane: time a prediction
            predict_pixel_classifier(s.ct, clf, [size // 2])
        else:
            plane_features(s.ct, [size // 2], norm, texture=texture)
        feature_s = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        test[name] = _metrics(predict_pixel_classifier(s.ct, clf, planes)[0], truth, ids, names)
        timing[name] = {"train_s": train_s, "train_cpu_s": train_cpu_s, "features_per_plane_s": feature_s,
                        "predict_per_plane_s": (time.perf_counter() - t) / len(planes),
                        "predict_per_plane_cpu_s": (time.process_time() - c) / len(planes),
                        "n_features": len(clf.info["features"])}
    return {"kind": kind, "seed": seed, "size": size, "blur": case.kind.blur, "noise": case.kind.noise,
            "layout": case.kind.layout, "test": test, "timing": timing,
            "classifier_s": timing[next(iter(timing))]["train_s"], "load_start": load_start,
            "load_end": os.getloadavg()[0]}


def _line(row) -> str:
    t = row["test"]
    cells = " ".join(f"{n[:5]:>5s} {t[n]['accuracy']:.3f}/{t[n]['miou']:.3f}"
                     for n in ("network", "pixel-classifier", "grey-gmm") if n in t)
    return (f"{row['kind']:18s} s{row['seed']} {row['input_features']:10s} delivered {row['delivered']:16s} "
            f"{t['delivered']['accuracy']:.3f}/{t['delivered']['miou']:.3f} | {cells} | "
            f"not worse {row['delivered_not_worse']!s:5s} target {row['meets_target']!s:5s} "
            f"train {row['train_s']:.0f} s load {row['load_start']:.1f}")


def main(argv=None) -> dict:
    from liberation.synthetic.seg_zoo import SEG_ZOO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(k.name for k in SEG_ZOO))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    ap.add_argument("--steps", type=int, default=None, help="steps per epoch; default: the preset's")
    ap.add_argument("--input-features", default="preset", help="comma-separated: preset, classifier, none")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--classical-only", action="store_true",
                    help="only the pixel classifier and the GMM (no network): the test-plane numbers to beat")
    ap.add_argument("--texture", default="default",
                    help="with --classical-only, comma-separated: default (the classifier's texture features), "
                         "none (the original filter features alone), context (default plus the auto-context "
                         "stage, 3D smoothing), context-yx (in-plane smoothing, 2 folds, added to the default classifier: what "
                         "train tries), context-zyx (3D smoothing, 2 folds, added to the default classifier: train's second "
                         "candidate), context-chosen (the best of default, context-yx, context-zyx on the validation "
                         "voxels: what train keeps), context-chosen-acc (the same by accuracy then mIoU, with a rare-class recall guard: not train's rule), smoothed (train's in-plane Potts smoothing, the weight chosen on the validation voxels, on what train keeps: context-chosen when listed before it, else default), context-yx-wide (the same with a third scale, 4 voxels); e.g. "
                         "'default,none' compares them")
    ap.add_argument("--context-folds", type=int, default=None,
                    help="folds of the auto-context stage (default: train_pixel_classifier's)")
    args = ap.parse_args(argv)
    if args.classical_only:
        rows = []
        for kind in args.kinds.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = run_classical(kind, seed, size=args.size, preset=args.preset,
                                    textures=tuple(args.texture.split(",")), context_folds=args.context_folds)
                rows.append(row)
                t = row["test"]
                cells = []
                for name, tm in row["timing"].items():
                    pc = t[name]["per_class_accuracy"]
                    chosen = f" = {t[name]['chosen']}" if "chosen" in t[name] else ""
                    cells.append(f"{name}{chosen} {t[name]['accuracy']:.3f}/{t[name]['miou']:.3f} (quartz/albite "
                                 f"{pc.get('quartz', 0):.3f}/{pc.get('albite', 0):.3f}; train {tm['train_s']:.1f} s, "
                                 f"cpu {tm['train_cpu_s']:.1f} s, predict cpu {tm['predict_per_plane_cpu_s']:.2f} s/plane, "
                                 f"features {tm['features_per_plane_s']:.2f} s/plane, {tm['n_features']} features)")
                print(f"{kind:18s} s{seed} " + "  ".join(cells) + f"  GMM {t['grey-gmm']['accuracy']:.3f}/"
                      f"{t['grey-gmm']['miou']:.3f}  (load {row['load_start']:.1f}-{row['load_end']:.1f})", flush=True)
                if args.json:  # written after every case, so a cut-short sweep keeps its rows
                    with open(args.json, "w") as fh:
                        json.dump({"args": vars(args), "rows": rows}, fh, indent=1, default=float)
        return {"rows": rows}

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    t0 = time.perf_counter()
    for kind in args.kinds.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for choice in args.input_features.split(","):
                row = run_case(kind, seed, size=args.size, preset=args.preset, epochs=args.epochs, steps=args.steps,
                               input_features=choice, threads=args.threads)
                rows.append(row)
                print(_line(row), flush=True)
                if args.json:  # written after every case, so a cut-short sweep keeps its rows
                    with open(args.json, "w") as fh:
                        json.dump({"args": vars(args), "rows": rows}, fh, indent=1, default=float)
    print(f"{len(rows)} cases in {time.perf_counter() - t0:.0f} s; delivered not worse than the classifier and the "
          f"GMM on the test planes in {sum(r['delivered_not_worse'] for r in rows)}, target (accuracy >= "
          f"{TARGET_ACCURACY}, mIoU >= {TARGET_MIOU}) met in {sum(r['meets_target'] for r in rows)}")
    return {"rows": rows}


if __name__ == "__main__":
    main()
