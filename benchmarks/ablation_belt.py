"""Ablation of the belt segmenter like Table 4 of Mineral-DeepLabV3+: ASPP vs S-ASPP, with/without CSWin.

Four models with the same backbone, data, seed and schedule:
baseline (ASPP 6/12/18, no attention), +S-ASPP (3/9/15, gated, cascaded), +attention
(ASPP + CSWin after ASPP and on the shallow features), both. Held-out synthetic frames.
One CPU thread::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/ablation_belt.py --epochs 15 --size 96 --n-train 200 \
        --json docs/ablation_belt.json

Prints a Markdown table (mPA, Accuracy, mIoU in %, parameters).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = (
    ("baseline (ASPP 6/12/18)", dict(aspp="aspp", attention="none")),
    ("+S-ASPP (3/9/15, gate)", dict(aspp="s-aspp", attention="none")),
    ("+CSWin attention", dict(aspp="aspp", attention="both")),
    ("S-ASPP + CSWin (full)", dict(aspp="s-aspp", attention="both")),
)


def table(rows) -> str:
    lines = ["| Model | S-ASPP | CSWin | mPA / % | Accuracy / % | mIoU / % | Parameters / M | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {'✓' if r['aspp'] == 's-aspp' else '×'} | "
                     f"{'✓' if r['attention'] != 'none' else '×'} | {100 * r['mpa']:.2f} | {100 * r['accuracy']:.2f} | "
                     f"{100 * r['miou']:.2f} | {r['parameters'] / 1e6:.3f} | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=60)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--json", default=None, help="write the rows and the table here")
    args = ap.parse_args(argv)

    from train_belt import make_splits, run_experiment

    from liberation.deploy.belt.config import belt_config_preset

    splits = make_splits(args.n_train, args.n_test, args.size)
    rows = []
    for name, overrides in VARIANTS:
        config = belt_config_preset(args.preset, **overrides)
        print(f"== {name}", flush=True)
        res, m = run_experiment(config, splits, epochs=args.epochs, log=lambda s: print(s, flush=True))
        rows.append({"name": name, **overrides, "accuracy": m["accuracy"], "mpa": m["mpa"], "miou": m["miou"],
                     "iou": m["iou"], "parameters": m["parameters"], "train_seconds": m["train_seconds"]})
        print(table(rows), flush=True)
    md = table(rows)
    print(md)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"command": "python benchmarks/ablation_belt.py " + " ".join(argv or sys.argv[1:]),
                       "rows": rows, "table": md}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
