"""Domain transfer of the belt segmenter: train on the project's generator, evaluate on others.

Trains a segmenter on the project's synthetic frames (16-bit, open beam 4000) with domain
randomisation (``detector_augment``) and the automatic open beam, then evaluates the
default runtime (``BeltRuntime``, ``i0="auto"``) on held-out frames of the project's
generator and of the two other generators of :mod:`liberation.deploy.belt.generators`
(``angular``, ``pebble``) in 8 and 16 bits; the same frames are also segmented with the
training open beam fixed (``i0=4000``, the old behaviour). With the automatic open beam
the ore/waste decisions of the runtime are scored: ``pixel`` (argmax), ``fragment`` (the
network's vote per predicted fragment), ``features`` (per fragment from thickness-free
features, :mod:`liberation.deploy.belt.fragment_class`) and ``hybrid`` (features + the
network's vote). Prints and writes a JSON table: foreground IoU
(class > 0 vs belt), ore/waste mIoU (mean IoU of the ore and waste classes), the
three-class mIoU, and the ore->waste / waste->ore pixel error rates. ``--physics all|shape``
trains on physics-randomised frames (``make_belt_dataset(physics=...)``); ``--steps``
fixes the training budget.

Short runs only on a shared 2-core machine::

    OMP_NUM_THREADS=1 python benchmarks/bench_belt_transfer.py --minutes 8 --out benchmarks/results/belt_transfer.json
    OMP_NUM_THREADS=1 python benchmarks/bench_belt_transfer.py --steps 450 --physics shape --save /tmp/shape
    OMP_NUM_THREADS=1 python benchmarks/bench_belt_transfer.py --model /tmp/shape --out shape.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

I0 = 4000.0
#: --physics choices -> make_belt_dataset(physics=...)
PHYSICS = {"none": None, "all": {}, "shape": {"mu_gangue_per_mm": (0.10, 0.10), "ore_gangue_ratio": (2.2, 2.2)}}


def scores(pred, truth) -> dict:
    """Foreground IoU, ore/waste mIoU and 3-class mIoU of predicted masks."""
    import numpy as np

    fg_p, fg_t = pred > 0, truth > 0
    out = {"fg_iou": float((fg_p & fg_t).sum() / max((fg_p | fg_t).sum(), 1))}
    ious = []
    for c in (0, 1, 2):
        inter = ((pred == c) & (truth == c)).sum()
        union = ((pred == c) | (truth == c)).sum()
        ious.append(float(inter / union) if union else float("nan"))
    out["iou"] = ious
    out["ore_waste_miou"] = float(np.nanmean(ious[1:]))
    out["miou"] = float(np.nanmean(ious))
    return out


def ore_waste_confusion(pred, truth) -> dict:
    """Among pixels that are fragment in both: share of true ore called waste and of true waste called ore."""
    both = (pred > 0) & (truth > 0)
    ore, waste = both & (truth == 1), both & (truth == 2)
    return {"ore_as_waste": float((pred[ore] == 2).mean()) if ore.any() else float("nan"),
            "waste_as_ore": float((pred[waste] == 1).mean()) if waste.any() else float("nan")}


def test_sets(n: int, size: int, seed: int) -> dict:
    """Held-out frames: project generator (16-bit) and angular/pebble in 8 and 16 bits."""
    from liberation.deploy.belt.generators import make_generator_dataset
    from liberation.deploy.belt.synthetic import make_belt_dataset

    sets = {"project-16bit": make_belt_dataset(n, (size, size), i0=I0, seed=seed + 2000)}
    for name in ("angular", "pebble"):
        for bits in (8, 16):
            sets[f"{name}-{bits}bit"] = make_generator_dataset(name, n, (size, size), bits=bits, seed=seed + 3000 + bits)
    return sets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=240)
    ap.add_argument("--n-test", type=int, default=24)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--preset", default="cpu", help="architecture preset")
    ap.add_argument("--minutes", type=float, default=8.0, help="training wall-clock budget")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--steps", type=int, default=None, help="fixed number of training steps (default: from --minutes)")
    ap.add_argument("--physics", choices=("none", "all", "shape"), default="none",
                    help="physics randomisation of the training frames: 'all' = synthetic.PHYSICS_RANGES per frame, "
                         "'shape' = thickness profile and ratio only (the project's beam)")
    ap.add_argument("--no-domain", action="store_true", help="train without detector_augment (ablation)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="evaluate this model folder instead of training")
    ap.add_argument("--save", default=None, help="write the trained model folder here")
    ap.add_argument("--out", default=None, help="JSON results")
    args = ap.parse_args(argv)

    import numpy as np

    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.deploy.belt.synthetic import make_belt_dataset
    from liberation.deploy.belt.workflow import belt_input_spec

    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp()
    model_path = args.model
    train_info = {}
    if model_path is None:
        from liberation.deploy.belt.io import save_belt_checkpoint
        from liberation.deploy.belt.train import train_belt_segmenter

        x, y = make_belt_dataset(args.n_train, (args.size, args.size), i0=I0, seed=args.seed,
                                 physics=PHYSICS[args.physics])
        deadline = time.perf_counter() + 60 * args.minutes

        class Stop(Exception):
            pass

        def cb(entry):
            print(f"epoch {entry['epoch']} step {entry['step']} loss {entry['loss']:.4f} {entry['seconds']:.0f}s",
                  flush=True)

        # steps from the time budget: time 5 steps first
        config = belt_config_preset(args.preset)
        probe = train_belt_segmenter(x[:16], y[:16], config=config, i0=I0, max_steps=3, seed=args.seed,
                                     domain=not args.no_domain)
        per_step = probe.seconds / 3
        steps = max(10, int((deadline - time.perf_counter()) / per_step * 0.9)) if args.steps is None else args.steps
        print(f"{per_step:.2f} s/step -> {steps} steps", flush=True)
        res = train_belt_segmenter(x, y, config=config, i0=I0, epochs=args.epochs, max_steps=steps, seed=args.seed,
                                   domain=not args.no_domain, callback=cb)
        model_path = os.path.join(tmp, "belt") if args.save is None else args.save
        card = {"input": belt_input_spec(x, y, i0=I0, auto=not args.no_domain), "train": res.train_params,
                "history": res.history}
        save_belt_checkpoint(model_path, res.model, card, overwrite=args.save is not None)
        train_info = {"steps": res.train_params["steps"], "seconds": res.seconds, "n_train": args.n_train,
                      "size": args.size, "preset": args.preset, "domain": not args.no_domain,
                      "physics": args.physics}
    results = {}
    rt = BeltRuntime(model_path, backend="torch", threads=1)
    modes = (("auto", "pixel"), ("auto", "fragment"), ("auto", "features"), ("auto", "hybrid"), (I0, "pixel"))
    for name, (xt, yt) in test_sets(args.n_test, args.size, args.seed).items():
        row = {}
        for i0, decision in modes:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pred = rt.segment(xt, i0=i0, decision=decision)
            key = f"{'auto' if i0 == 'auto' else 'fixed_i0'}_{decision}"
            row[key] = {**scores(pred, yt), **ore_waste_confusion(pred, yt), "warned": len(caught) > 0}
        results[name] = row
        f = row["fixed_i0_pixel"]
        ow = " ".join(f"{d} {row['auto_' + d]['ore_waste_miou']:.3f} ({row['auto_' + d]['ore_as_waste']:.2f}/"
                      f"{row['auto_' + d]['waste_as_ore']:.2f})" for d in ("pixel", "fragment", "features", "hybrid"))
        print(f"{name:15s} auto: fgIoU {row['auto_pixel']['fg_iou']:.3f} ore/waste mIoU (ore->waste/waste->ore) {ow} "
              f"warn {row['auto_pixel']['warned']} | i0={I0:.0f}: fgIoU {f['fg_iou']:.3f} warn {f['warned']}", flush=True)
    out = {"train": train_info, "results": results, "seconds": time.perf_counter() - t0, "n_test": args.n_test,
           "np": np.__version__}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
