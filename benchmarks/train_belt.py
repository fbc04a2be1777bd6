"""Train the belt segmenter on synthetic XRT frames and report held-out Accuracy / mPA / mIoU.

Runs on one CPU thread (the machine is shared)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/train_belt.py --epochs 25 --out benchmarks/results/belt_small.pt

Data: ``--n-train`` frames for training, 40 for validation and ``--n-test`` held-out
frames generated from other seeds, cycling through the five size classes of the paper
(0-5 ... 20-25 mm) at 0.5 mm/pixel with coverage 15-45 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


I0 = 4000.0


def make_splits(n_train: int, n_test: int, size: int, *, seed: int = 0, train_seed: int | None = None):
    """Train / validation / held-out test frames (counts) and masks from disjoint seeds."""
    from liberation.deploy.belt.synthetic import make_belt_dataset

    train = make_belt_dataset(n_train, (size, size), i0=I0, seed=seed if train_seed is None else train_seed)
    val = make_belt_dataset(40, (size, size), i0=I0, seed=seed + 1000)
    test = make_belt_dataset(n_test, (size, size), i0=I0, seed=seed + 2000)
    return train, val, test


def run_experiment(config, splits, *, epochs: int, preset: str = "cpu", seed: int = 0, log=print, model=None,
                   lr=None):
    """Train ``config`` on ``splits``; return (result, test metrics dict)."""
    import torch

    from liberation.deploy.belt.model import count_parameters
    from liberation.deploy.belt.train import evaluate_belt_segmenter, prepare_belt_inputs, train_belt_segmenter

    torch.set_num_threads(1)
    (xtr, ytr), (xva, yva), (xte, yte) = splits

    def cb(entry):
        log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in entry.items()}))

    res = train_belt_segmenter(xtr, ytr, config=config, preset=preset, i0=I0, epochs=epochs, val_images=xva,
                               val_masks=yva, seed=seed, callback=cb, model=model, lr=lr)
    t0 = time.perf_counter()
    metrics = evaluate_belt_segmenter(res.model, prepare_belt_inputs(xte, i0=I0), yte, class_names=config.class_names)
    metrics["eval_seconds"] = time.perf_counter() - t0
    metrics["parameters"] = count_parameters(res.model)
    metrics["train_seconds"] = res.seconds
    metrics["n_test"] = int(len(xte))
    return res, metrics


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--n-train", type=int, default=320)
    ap.add_argument("--n-test", type=int, default=60)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--train-preset", default="cpu")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--init", default=None, help="fine-tune this model folder (or older .pt checkpoint) instead of training from scratch")
    ap.add_argument("--train-seed", type=int, default=None, help="seed of the training frames (default 0)")
    ap.add_argument("--out", default=None, help="model folder to write (model.pt + model_card.json); metrics JSON beside it")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)

    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.io import load_belt_checkpoint, save_belt_checkpoint

    model = None
    if args.init:
        model, _ = load_belt_checkpoint(args.init)
        config = model.config
    else:
        config = belt_config_preset(args.preset)
    splits = make_splits(args.n_train, args.n_test, args.size, train_seed=args.train_seed)
    res, metrics = run_experiment(config, splits, epochs=args.epochs, preset=args.train_preset, model=model,
                                  lr=args.lr)
    summary = {"command": " ".join(["python", "benchmarks/train_belt.py", *(argv or sys.argv[1:])]),
               "config": config.to_dict(), "train": res.train_params, "test": metrics, "history": res.history}
    print(json.dumps({k: metrics[k] for k in ("accuracy", "mpa", "miou", "parameters", "train_seconds")}))
    if args.out:
        card = {"class_names": list(config.class_names), "parameters": metrics["parameters"],
                "input": {"kind": "log_attenuation", "i0": I0, "size_multiple": 32, "pixel_size_um": 500.0},
                "train": {**res.train_params, "init": args.init}, "metrics": {"held_out_synthetic": metrics}}
        save_belt_checkpoint(args.out, res.model, card, overwrite=args.overwrite)
        with open(args.out + ".metrics.json", "w") as fh:
            json.dump(summary, fh, indent=2, default=str)
    return summary


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
