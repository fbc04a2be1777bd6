"""The steps behind ``liberation deploy dual-energy train|evaluate|export`` (no click).

Each function takes plain values, does one whole step with its files and returns a dict
the CLI prints. Torch is imported only inside the steps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from liberation._atomic import atomic_file, check_new_output
from liberation._json import to_jsonable
from liberation.errors import InputError, require

__all__ = ["evaluate_run", "export_run", "load_pairs", "train_run"]


def load_pairs(data: str | os.PathLike | None, synthetic: int | None, *, size: int = 64,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labelled pairs from a folder or the synthetic generator (give exactly one).

    Returns
    -------
    images : ndarray of float32, (n, 2, size, size)
        Transmission, channel 0 high and 1 low energy.
    labels : ndarray of int64, (n,)
        1 = ore, 0 = waste.
    """
    if (data is None) == (synthetic is None):
        raise InputError("give exactly one of --data DIR or --synthetic N")
    if data is not None:
        from liberation.deploy.dual_energy.io import read_dual_energy_folder

        images, labels, _ = read_dual_energy_folder(data, size=(size, size))
        return images, labels
    if synthetic < 4:
        raise InputError(f"--synthetic {synthetic}; expected at least 4 fragments")
    from liberation.deploy.dual_energy.synthetic import make_dual_energy_set

    s = make_dual_energy_set(int(synthetic), size=size, seed=seed)
    return s.stack(), s.label


def _baseline(images, labels, threshold=None):
    from liberation.deploy.dual_energy.baseline import RValueClassifier

    clf = RValueClassifier()
    if threshold is None:
        clf.fit(images[:, 0], images[:, 1], labels)
    else:
        clf.threshold, clf.direction = float(threshold[0]), int(threshold[1])
    return clf


def train_run(out, *, data=None, synthetic: int | None = None, size: int = 64, seed: int = 0,
              config: dict | None = None, epochs: int = 10, batch_size: int = 32, lr: float = 3e-3,
              val_fraction: float = 0.2, overwrite: bool = False) -> dict:
    """Train on a random split; write the model folder ``out`` with ``metrics.json`` and ``history.csv``.

    Returns
    -------
    dict
        ``model`` and ``r_value_baseline`` (validation metrics), ``n_parameters``, ``out``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"--val-fraction {val_fraction}; expected a fraction between 0 and 1")
    check_new_output(out, overwrite=overwrite, what="output folder")
    require("torch", "deploy")
    import pandas as pd

    from liberation.deploy.dual_energy.export import save_checkpoint
    from liberation.deploy.dual_energy.train import evaluate_model, train_dual_energy

    images, labels = load_pairs(data, synthetic, size=size, seed=seed)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_val = max(1, int(round(val_fraction * len(labels))))
    val, tr = order[:n_val], order[n_val:]
    if tr.size < 2:
        raise InputError(f"only {tr.size} training pairs after the validation split; need more data")
    res = train_dual_energy(images[tr], labels[tr], config=config, epochs=epochs, batch_size=batch_size, lr=lr,
                            seed=seed, val_images=images[val], val_labels=labels[val])
    model_m = evaluate_model(res.model, images[val], labels[val])
    base = _baseline(images[tr], labels[tr])
    base_m = base.evaluate(images[val, 0], images[val, 1], labels[val])
    metrics = {"model": model_m, "r_value_baseline": base_m, "n_parameters": res.n_parameters, "config": res.config,
               "n_train": int(tr.size), "n_val": int(val.size), "train_seconds": res.seconds}

    def write_extra(tmp: Path) -> None:
        (tmp / "metrics.json").write_text(json.dumps(to_jsonable(metrics), indent=2))
        pd.DataFrame(res.history).to_csv(tmp / "history.csv", index=False)

    save_checkpoint(out, res.model, metadata={
        "r_value_threshold": base.threshold, "r_value_direction": base.direction, "image_size": size,
        "val_metrics": {k: float(v) for k, v in model_m.items()}}, overwrite=overwrite, write_extra=write_extra)
    return {"model": model_m, "r_value_baseline": base_m, "n_parameters": res.n_parameters, "out": Path(out)}


def evaluate_run(model_path, *, data=None, synthetic: int | None = None, size: int = 64, seed: int = 1, out=None,
                 overwrite: bool = False) -> dict:
    """Evaluate a model folder (or older checkpoint) next to the R-value baseline.

    Returns
    -------
    dict
        ``model`` and ``r_value_baseline`` metrics, ``threshold_fitted`` (True when the card
        had no R-value threshold and it was fitted on this data).
    """
    require("torch", "deploy")
    from liberation.deploy.dual_energy.export import load_checkpoint
    from liberation.deploy.dual_energy.train import evaluate_model

    model, meta = load_checkpoint(model_path)
    if out is not None:
        check_new_output(out, overwrite=overwrite, what="metrics file")
    images, labels = load_pairs(data, synthetic, size=size, seed=seed)
    model_m = evaluate_model(model, images, labels)
    thr = meta.get("r_value_threshold")
    base = _baseline(images, labels, None if thr is None else (thr, meta.get("r_value_direction", 1)))
    base_m = base.evaluate(images[:, 0], images[:, 1], labels)
    result = {"model": model_m, "r_value_baseline": base_m}
    if out is not None:
        with atomic_file(out, overwrite=overwrite, what="metrics file") as tmp:
            Path(tmp).write_text(json.dumps(to_jsonable(result), indent=2))
    return {**result, "threshold_fitted": thr is None}


def export_run(model_path, out, *, size: int = 64, opset: int = 17, overwrite: bool = False) -> dict:
    """Export a trained classifier to ONNX and verify it against torch on random pairs.

    Returns
    -------
    dict
        ``out`` (Path) and ``max_abs_diff`` (of ore probabilities).
    """
    require("torch", "deploy")
    from liberation.deploy.dual_energy.export import export_onnx, load_checkpoint, verify_onnx

    model, _ = load_checkpoint(model_path)
    path = export_onnx(model, out, image_size=(size, size), opset=opset, overwrite=overwrite)
    x = np.random.default_rng(0).uniform(0.05, 1.0, size=(4, 2, size, size)).astype(np.float32)
    return {"out": path, "max_abs_diff": verify_onnx(model, path, x)}
