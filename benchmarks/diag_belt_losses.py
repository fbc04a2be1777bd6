"""Where the belt segmenter's ore/waste mIoU is lost: foreground, fragment split, or fragment class.

Segments held-out frames of the project's generator and of the ``angular`` and ``pebble``
generators (8 and 16 bit; the frames of ``bench_belt_transfer.py`` for the same
``--seed``, rebuilt with their instance maps) with a trained model and the default
runtime decision (``hybrid``: automatic open beam, grown and trimmed foreground, split
fragments, thickness-free features + the network's vote), then scores, per set and
optionally per frame, the ore/waste mIoU (mean of the ore and the waste IoU, each from the
confusion matrix pooled over the frame set) of:

``decision``
    the runtime's masks;
``perfect classes``
    the same foreground and fragments, each fragment given the majority true class of
    its pixels: what is left is foreground and split/merge error;
``perfect split``
    the same foreground, every foreground pixel that is truly a fragment given its true
    class (belt pixels taken in get their fragment's majority class): only foreground
    error is left;
``true fragments``
    the true foreground and instances with the runtime's classifier and vote: only class
    error is left.

So ``perfect split - perfect classes`` is the cost of splits and merges, ``perfect
classes - decision`` the cost of wrong fragment classes, and ``1 - perfect split``
roughly that of the foreground. It also counts predicted fragments that merge two true
fragments (each >= 20 % of the predicted one) and those merges that mix ore and waste.
Numpy + the model's backend; about a minute per model on one core::

    OMP_NUM_THREADS=1 python benchmarks/diag_belt_losses.py MODEL [--seed 5] [--n-test 24] [--frames angular-16bit]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

SETS = ("project-16bit", "angular-8bit", "angular-16bit", "pebble-8bit", "pebble-16bit")


def frames(name: str, n: int, seed: int):
    """The frames of ``bench_belt_transfer.test_sets(n, 128, seed)[name]``, as BeltImage records (with instances)."""
    import inspect

    from liberation._validation import make_rng
    from liberation.deploy.belt.generators import FRAME_GENERATORS
    from liberation.deploy.belt.synthetic import make_belt_dataset, make_belt_image

    if name == "project-16bit":
        sig = inspect.signature(make_belt_dataset).parameters
        cov, classes = sig["coverage"].default, sig["size_classes_mm"].default
        rng = make_rng(seed + 2000)
        return [make_belt_image((128, 128), size_class_mm=tuple(classes[i % len(classes)]), coverage=rng.uniform(*cov),
                                seed=rng, i0=4000.0) for i in range(n)]
    gen, bits = name.split("-")
    bits = int(bits[:-3])
    rng = make_rng(seed + 3000 + bits)
    return [FRAME_GENERATORS[gen]((128, 128), bits=bits, coverage=rng.uniform(0.15, 0.45), seed=rng) for _ in range(n)]


def confusion(pred, truth) -> np.ndarray:
    """3 x 3 pixel confusion, rows truth (belt, ore, waste), columns prediction."""
    return np.bincount((3 * truth.astype(np.int64) + pred).ravel(), minlength=9).reshape(3, 3)


def ore_waste_miou(c) -> float:
    """Mean of the ore and waste IoU of a pooled confusion matrix."""
    return float(np.mean([c[k, k] / max(c[k].sum() + c[:, k].sum() - c[k, k], 1) for k in (1, 2)]))


def majority(labels, truth) -> np.ndarray:
    """Lookup id -> majority true class (ore on ties) of each labelled region's ore and waste pixels."""
    n = int(labels.max())
    ore = np.bincount(labels.ravel(), weights=(truth == 1).ravel(), minlength=n + 1)
    waste = np.bincount(labels.ravel(), weights=(truth == 2).ravel(), minlength=n + 1)
    lut = np.where(ore >= waste, 1, 2).astype(np.uint8)
    lut[0] = 0
    return lut


def analyse(rt, frs) -> tuple[dict, list]:
    """Pooled scores of the four decompositions and one row per frame."""
    from liberation.deploy.belt.fragment_class import classify_fragments, grow_foreground, trim_foreground
    from liberation.deploy.belt.sorting import split_fragments

    img = np.stack([f.image for f in frs])
    x = rt.preprocess(img)
    logits = rt.logits(x[:, None])
    z = np.exp(logits - logits.max(1, keepdims=True))
    p = z / z.sum(1, keepdims=True)
    keys = ("decision", "perfect_classes", "perfect_split", "true_fragments")
    pooled = {k: np.zeros((3, 3), np.int64) for k in keys}
    rows = []
    for i, f in enumerate(frs):
        y, inst = f.mask, f.instances
        fg = trim_foreground(grow_foreground(p[i].argmax(0) > 0, x[i]), x[i])
        lab = split_fragments(fg, attenuation=x[i])
        share = p[i, 1] / np.maximum(p[i, 1] + p[i, 2], 1e-12)
        true_p = np.stack([y == 0, (y > 0) * share, (y > 0) * (1 - share)]).astype(float)
        masks = {"decision": classify_fragments(p[i], x[i], network_weight=1.0),
                 "perfect_classes": majority(lab, y)[lab],
                 "perfect_split": np.where(fg, np.where(y > 0, y, majority(lab, y)[lab]), 0).astype(np.uint8),
                 "true_fragments": classify_fragments(true_p, x[i], network_weight=1.0, instances=inst,
                                                      grow_sigma=None, trim_alpha=None)}
        row = {"frame": i, "n_true": int(len(np.unique(inst[inst > 0]))), "n_predicted": int(lab.max())}
        merged = mixed = 0
        for fid in range(1, int(lab.max()) + 1):
            m = lab == fid
            ids, cnt = np.unique(inst[m & (inst > 0)], return_counts=True)
            big = ids[cnt >= 0.2 * m.sum()]
            if len(big) > 1:
                merged += 1
                mixed += len({int(np.bincount(y[inst == b]).argmax()) for b in big}) > 1
        row.update(merged=merged, mixed_merges=mixed)
        for k, pred in masks.items():
            c = confusion(pred, y)
            pooled[k] += c
            row[k] = ore_waste_miou(c)
        rows.append(row)
    out = {k: ore_waste_miou(c) for k, c in pooled.items()}
    c = pooled["decision"]
    out["fg_iou"] = float(c[1:, 1:].sum() / max(c.sum() - c[0, 0], 1))
    for k in ("n_true", "n_predicted", "merged", "mixed_merges"):
        out[k] = int(sum(r[k] for r in rows))
    return out, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model folder (or .onnx with its card)")
    ap.add_argument("--seed", type=int, default=5, help="frame seed (bench_belt_transfer.py's --seed)")
    ap.add_argument("--n-test", type=int, default=24)
    ap.add_argument("--frames", default=None, help="also print per-frame rows for this set, e.g. angular-16bit")
    ap.add_argument("--out", default=None, help="JSON results")
    args = ap.parse_args(argv)

    from liberation.deploy.belt.runtime import BeltRuntime

    rt = BeltRuntime(args.model, threads=1)
    results = {}
    for name in SETS:
        out, rows = analyse(rt, frames(name, args.n_test, args.seed))
        results[name] = {"pooled": out, "frames": rows}
        print(f"{name:14s} ore/waste mIoU: decision {out['decision']:.3f} | perfect classes {out['perfect_classes']:.3f} "
              f"| perfect split {out['perfect_split']:.3f} | true fragments {out['true_fragments']:.3f} || fg IoU "
              f"{out['fg_iou']:.3f}; fragments true {out['n_true']} predicted {out['n_predicted']}, "
              f"merges {out['merged']} ({out['mixed_merges']} ore+waste)", flush=True)
        if args.frames == name:
            for r in rows:
                print("   " + " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
