"""Which texture features help the pixel classifier: feature sets compared on the zoo's texture kinds (issue 18).

For every kind and seed of ``liberation.synthetic.seg_zoo``, the classifier's filter features and
all texture features named in the sets are computed once on the whole normalised volume
(``filter_features``, equal to the plane-wise features), then one ``HistGradientBoostingClassifier``
per feature set (the classifier's settings: 200 iterations, the seed) is trained on the training
part of the labels (the split of ``train_model``) and measured on the test planes (accuracy and
mIoU without void, ``evaluate_planes``), as ``bench_segmentation_zoo.py --classical-only`` does for the delivered sets.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_pixel_classifier_features.py --size 64 --seeds 0,1

``--sets`` takes ``name=feature,feature;name=...`` (texture feature names of
``liberation.segmentation.texture_features``; ``basic=`` for none); the default compares the
original features, the oriented ones (structure tensor, Hessian, boundary tensor, band-pass)
and the least-variance windows (the default ``TEXTURE_FEATURES``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

DEFAULT_SETS = ("basic=;"
                "structure-tensor=st1.5_l1,st1.5_l2,st1.5_l3,st1.5_coh,st3_l1,st3_l2,st3_l3,st3_coh;"
                "hessian=hess1_l1,hess1_l2,hess1_l3;"
                "band-pass=bp1.5,bp3,bpstd1.5,bpstd3;"
                "boundary-tensor=bt1.5_l1,bt1.5_l2,bt1.5_l3,bt3_l1,bt3_l2,bt3_l3;"
                "small-scale-oriented=st1_l1,st1_l2,st1_l3,st1_coh,bp1,bpstd1,bpstd2;"
                "least-variance-1-1.6=kstd1,kstd1.6,kmean1,kmean1.6,kbp1,kbp1.6;"
                "default=TEXTURE_FEATURES")


def _sets(text: str) -> dict:
    from liberation.segmentation.texture_features import TEXTURE_FEATURES

    out = {}
    for part in text.split(";"):
        name, _, feats = part.partition("=")
        names = [f for f in feats.split(",") if f]
        out[name.strip()] = list(TEXTURE_FEATURES) if names == ["TEXTURE_FEATURES"] else names
    return out


def run_case(kind: str, seed: int, *, size: int, sets: dict) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.evaluate import evaluate_planes
    from liberation.segmentation.normalize import apply_normalization, robust_percentiles
    from liberation.segmentation.patches import split_validation
    from liberation.segmentation.pixel_classifier import filter_features
    from liberation.segmentation.targets import phase_classes
    from liberation.segmentation.texture_features import texture_features
    from liberation.synthetic.seg_zoo import seg_case

    load = os.getloadavg()[0]
    case = seg_case(kind, size=size, seed=seed)
    s = case.sample
    cfg = get_preset("cpu")
    train, _, _ = split_validation(case.sparse, val_fraction=cfg.val_fraction)
    norm = robust_percentiles(s.ct, low=cfg.percentiles[0], high=cfg.percentiles[1], seed=np.random.default_rng(seed))
    ids, names = phase_classes(case.sparse, minerals=s.minerals)
    vol = apply_normalization(s.ct, norm)
    every = sorted({f for feats in sets.values() for f in feats})
    t = time.perf_counter()
    basic = filter_features(vol)
    basic_s = time.perf_counter() - t
    t = time.perf_counter()
    texture = texture_features(vol, every) if every else np.zeros(vol.shape + (0,), np.float32)
    texture_s = time.perf_counter() - t
    planes = case.test_planes
    truth = np.where(case.sparse[planes] == 255, s.phases[planes], 255).astype(np.uint8)
    where = train != 255
    row = {"kind": kind, "seed": seed, "size": size, "basic_features_s": basic_s, "texture_features_s": texture_s,
           "load_start": load, "sets": {}}
    for name, feats in sets.items():
        x = np.concatenate([basic, texture[..., [every.index(f) for f in feats]]], axis=-1)
        model = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(x[where], train[where])
        xt = x[planes].reshape(-1, x.shape[-1])
        pred = model.classes_[model.predict_proba(xt).argmax(1)].reshape(truth.shape).astype(np.uint8)
        e = evaluate_planes(pred, truth, class_ids=ids, class_names=names, planes=range(len(planes)))
        row["sets"][name] = {"accuracy": e["accuracy"], "miou": e["miou"], "n_texture": len(feats)}
    row["load_end"] = os.getloadavg()[0]
    return row


def main(argv=None) -> dict:
    from liberation.synthetic.seg_zoo import SEG_ZOO

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(k.name for k in SEG_ZOO))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--sets", default=DEFAULT_SETS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sets = _sets(args.sets)
    rows = []
    for kind in args.kinds.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run_case(kind, seed, size=args.size, sets=sets)
            rows.append(row)
            cells = " | ".join(f"{n} {v['accuracy']:.3f}/{v['miou']:.3f}" for n, v in row["sets"].items())
            print(f"{kind:18s} s{seed} {cells}  (load {row['load_start']:.1f})", flush=True)
    print("mean over cases (accuracy / mIoU; min):")
    for name in sets:
        a = np.array([[r["sets"][name]["accuracy"], r["sets"][name]["miou"]] for r in rows])
        print(f"  {name:22s} {a[:, 0].mean():.3f} / {a[:, 1].mean():.3f}  (min {a[:, 0].min():.3f} / {a[:, 1].min():.3f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1, default=float)
    return {"rows": rows}


if __name__ == "__main__":
    main()
