"""The steps behind ``liberation deploy train|evaluate|export|benchmark|segment|simulate``.

Each function takes plain values (paths, numbers), does one whole step with its files,
and returns a dict the CLI prints; nothing here needs click. Torch, onnx and onnxruntime
are imported only by the steps that need them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from liberation._atomic import atomic_dir, atomic_file, check_new_output
from liberation._json import to_jsonable
from liberation.errors import FileFormatError, InputError

__all__ = ["SYNTHETIC_I0", "benchmark_model", "evaluate_model", "export_model", "load_frames", "segment_folder",
           "simulate_trials", "train_model"]

#: Open-beam counts of the synthetic frames used by the CLI.
SYNTHETIC_I0 = 4000.0
_FRAME_SUFFIXES = (".png", ".tif", ".tiff")


def load_frames(data: str | os.PathLike | None, synthetic: int | None, *, size: int = 128, seed: int = 0,
                i0: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Labelled frames from a folder (``images/`` + ``masks/``) or the synthetic generator.

    Parameters
    ----------
    data : path-like or None
        Folder of PNG/TIFF pairs (see :func:`~liberation.deploy.belt.io.read_labelled_folder`).
    synthetic : int or None
        Number of synthetic frames instead (give exactly one of ``data`` and ``synthetic``).
    size : int
        Synthetic frame size in pixels (square, multiple of 32).
    seed : int
        Seed of the synthetic frames.
    i0 : float, optional
        Open-beam counts of ``data`` (default: its 99.9th percentile).

    Returns
    -------
    images : ndarray, (n, y, x)
        Detector counts.
    masks : ndarray, (n, y, x) uint8
    i0 : float
    """
    if (data is None) == (synthetic is None):
        raise InputError("give exactly one of --data DIR (images/ and masks/) or --synthetic N")
    if synthetic is not None:
        from liberation.deploy.belt.synthetic import make_belt_dataset

        if synthetic < 2 or size % 32:
            raise InputError(f"--synthetic {synthetic} --size {size}: need at least 2 frames and a size multiple of 32")
        images, masks = make_belt_dataset(int(synthetic), (size, size), i0=SYNTHETIC_I0, seed=seed)
        return images, masks, SYNTHETIC_I0
    from liberation.deploy.belt.io import read_labelled_folder

    _, images, masks = read_labelled_folder(data)
    if i0 is None:
        i0 = float(np.percentile(images, 99.9))
    return images, masks, i0


def train_model(
    out: str | os.PathLike,
    *,
    data=None,
    synthetic: int | None = None,
    size: int = 128,
    seed: int = 0,
    i0: float | None = None,
    preset: str = "small",
    aspp: str = "s-aspp",
    attention: str = "both",
    class_names: tuple[str, ...] = ("background", "ore", "waste"),
    train_preset: str = "cpu",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_steps: int | None = None,
    val_fraction: float = 0.1,
    pixel_size_um: float = 500.0,
    threads: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Train the segmenter on a random split and write the model folder ``out``.

    Returns
    -------
    dict
        ``out`` (Path), ``parameters``, ``steps``, ``seconds``, ``metrics`` (validation:
        accuracy, mpa, miou, iou, pa), ``n_validation``.
    """
    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.io import save_belt_checkpoint
    from liberation.deploy.belt.model import count_parameters
    from liberation.deploy.belt.preprocess import prepare_belt_inputs
    from liberation.deploy.belt.train import evaluate_belt_segmenter, train_belt_segmenter

    out = check_new_output(out, overwrite=overwrite, what="model folder")
    if not (0 < val_fraction < 0.9):
        raise InputError(f"--val-fraction {val_fraction} must be in (0, 0.9)")
    images, masks, i0 = load_frames(data, synthetic, size=size, seed=seed, i0=i0)
    config = belt_config_preset(preset, aspp=aspp, attention=attention, class_names=tuple(class_names))
    n_val = max(1, int(round(len(images) * val_fraction)))
    order = np.random.default_rng(seed).permutation(len(images))
    va, tr = order[:n_val], order[n_val:]
    res = train_belt_segmenter(images[tr], masks[tr], config=config, preset=train_preset, i0=i0, epochs=epochs,
                               batch_size=batch_size, lr=lr, max_steps=max_steps, seed=seed, threads=threads)
    metrics = evaluate_belt_segmenter(res.model, prepare_belt_inputs(images[va], i0=i0), masks[va],
                                      class_names=config.class_names)
    validation = {k: metrics[k] for k in ("accuracy", "mpa", "miou", "iou", "pa")}
    card = {"class_names": list(config.class_names), "parameters": count_parameters(res.model),
            "input": {"kind": "log_attenuation", "i0": i0, "size_multiple": 32, "pixel_size_um": pixel_size_um},
            "train": res.train_params, "history": res.history,
            "metrics": {"validation": validation, "n_validation": int(n_val)},
            "data": {"source": str(data) if data else f"synthetic:{synthetic}x{size} seed {seed}"}}
    save_belt_checkpoint(out, res.model, card, overwrite=overwrite)
    return {"out": out, "parameters": card["parameters"], "steps": res.train_params["steps"],
            "seconds": res.seconds, "metrics": validation, "n_validation": int(n_val)}


def evaluate_model(model_path, *, data=None, synthetic: int | None = None, size: int = 128, seed: int = 0,
                   i0: float | None = None, backend: str = "auto", out=None, overwrite: bool = False) -> dict:
    """Accuracy, mPA and mIoU of a model on labelled frames (synthetic frames use ``seed + 7919``, held out).

    Returns
    -------
    dict
        ``backend`` and the metrics of :func:`~liberation.deploy.belt.metrics.segmentation_metrics`;
        also written as JSON to ``out`` when given.
    """
    from liberation.deploy.belt.metrics import segmentation_metrics
    from liberation.deploy.belt.preprocess import belt_attenuation
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.metrics import confusion_matrix

    if out:
        check_new_output(out, overwrite=overwrite, what="metrics file", inputs=[model_path])
    rt = BeltRuntime(model_path, backend=backend)
    images, masks, i0 = load_frames(data, synthetic, size=size, seed=seed + 7919, i0=i0 or rt.i0)
    pred = rt.segment(belt_attenuation(images, i0=i0), counts=False)
    m = segmentation_metrics(confusion_matrix(masks, pred, num_classes=len(rt.class_names)),
                             class_names=rt.class_names)
    result = {"backend": rt.backend, **m}
    if out:
        _write_json(out, {"model": str(model_path), **result}, overwrite=overwrite)
    return result


def export_model(model_path, out, *, opset: int = 17, fp16: bool = False, check_size: int = 64,
                 overwrite: bool = False) -> dict:
    """Export a model folder to ONNX, check parity with onnxruntime and write the card beside it.

    Returns
    -------
    dict
        ``out`` (Path), ``card`` (its path), ``opset``, ``fp16`` and ``parity``
        (see :func:`~liberation.deploy.belt.export.verify_belt_onnx`).
    """
    from liberation.deploy.belt.export import export_belt_onnx, verify_belt_onnx
    from liberation.deploy.belt.io import card_path, load_belt_checkpoint, write_model_card

    check_new_output(out, overwrite=overwrite, what="ONNX file", inputs=[model_path])
    check_new_output(card_path(out), overwrite=overwrite, what="model card")
    model, card = load_belt_checkpoint(model_path)
    path = export_belt_onnx(model, out, opset=opset, fp16=fp16, overwrite=overwrite)
    # float16 weights differ by ~1e-2 by design; float32 must match
    parity = verify_belt_onnx(model, path, shape=(2, 1, check_size, check_size), atol=None if fp16 else 1e-3)
    export = {"from": str(model_path), "opset": opset, "fp16_weights": fp16, "parity": parity}
    card = _fresh({**card, "extra": {**card["extra"], "export": export}})
    written = write_model_card(path, card, overwrite=True)
    return {"out": path, "card": written, "opset": opset, "fp16": fp16, "parity": parity}


def _fresh(card: dict) -> dict:
    """The card with this library version and the time now."""
    import time

    from liberation import __version__

    return {**card, "library_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}


def benchmark_model(model_path, *, backend: str = "auto", size: int = 512, batch: int = 1, threads: int | None = None,
                    repeats: int = 20, warmup: int = 3, out=None) -> dict:
    """Milliseconds per frame and frames per second on this machine (see :meth:`BeltRuntime.benchmark`)."""
    from liberation.deploy.belt.runtime import BeltRuntime

    rt = BeltRuntime(model_path, backend=backend, threads=threads)
    r = rt.benchmark(shape=(size, size), batch=batch, repeats=repeats, warmup=warmup)
    if out:
        _write_json(out, {"model": str(model_path), **r}, overwrite=True)
    return r


def segment_folder(model_path, images_dir, out, *, backend: str = "auto", pixel_size_um: float | None = None,
                   threshold: float = 0.5, eject: str = "waste", overwrite: bool = False) -> dict:
    """Segment every PNG/TIFF frame of ``images_dir``: one mask PNG each and ``fragments.csv``.

    Returns
    -------
    dict
        ``backend``, ``n_images``, ``n_fragments``, ``out``.
    """
    import pandas as pd

    from liberation.deploy.belt.io import write_mask_png
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.deploy.belt.sorting import fragment_decisions
    from liberation.io.images import read_image

    check_new_output(out, overwrite=overwrite, what="output folder", inputs=[model_path, images_dir])
    paths = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in _FRAME_SUFFIXES)
    if not paths:
        raise FileFormatError(f"no PNG/TIFF images in {images_dir}")
    rt = BeltRuntime(model_path, backend=backend)
    px = pixel_size_um or rt.card["input"].get("pixel_size_um") or 500.0
    ore = [i for i, n in enumerate(rt.class_names) if n == "ore"] or [1]
    rows = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for p in paths:
            mask = rt.segment(read_image(p))
            write_mask_png(tmp / f"{p.stem}.png", mask)
            frag = fragment_decisions(mask, pixel_size_um=px, ore_classes=ore, threshold=threshold, eject=eject)
            for i in range(len(frag["id"])):
                rows.append({"image": p.name, **{k: v[i].item() for k, v in frag.items()}})
        pd.DataFrame(rows).to_csv(tmp / "fragments.csv", index=False)
    return {"backend": rt.backend, "n_images": len(paths), "n_fragments": len(rows), "out": Path(out)}


def simulate_trials(out, *, model_card=None, miou: float | None = None, fps: float = 25.0,
                    series: tuple[str, ...] = ("size", "feed", "speed"), n_fragments: int = 20000, seed: int = 0,
                    overwrite: bool = False) -> dict:
    """Belt simulation of the paper's trial series: ``trials.csv``, ``trials.png``, ``summary.json`` in ``out``.

    ``miou`` defaults to the model card's held-out or validation mIoU, else 0.95.

    Returns
    -------
    dict
        ``table`` (DataFrame of the operating points), ``best`` (its row of highest
        concentrate grade), ``out``.
    """
    from liberation.deploy.belt.simulation import default_profiles, plot_trials, simulate_paper_trials

    check_new_output(out, overwrite=overwrite, what="output folder", inputs=[model_card] if model_card else None)
    if miou is None and model_card:
        miou = _card_miou(model_card)
    miou = 0.95 if miou is None else float(miou)
    table = simulate_paper_trials(default_profiles(miou=miou, fps=fps), series=tuple(series),
                                  n_fragments=n_fragments, seed=seed)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        table.to_csv(tmp / "trials.csv", index=False)
        fig = plot_trials(table)
        fig.savefig(tmp / "trials.png", dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
        (tmp / "summary.json").write_text(json.dumps(to_jsonable({"profiles": table.attrs.get("profiles"),
                                                                  "seed": seed, "n_fragments": n_fragments}),
                                                     indent=2))
    return {"table": table, "best": table.loc[table["concentrate_grade"].idxmax()], "out": Path(out)}


def _card_miou(path) -> float | None:
    """mIoU from a model card file or a model folder (held-out synthetic, else validation)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model_card.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"model card {path} is not readable JSON: {exc}") from None
    ms = card.get("metrics", {})
    m = ms.get("held_out_synthetic") or ms.get("validation") or {}
    return m.get("miou")


def _write_json(path, data: dict, *, overwrite: bool) -> None:
    with atomic_file(path, overwrite=overwrite, what="JSON file") as tmp:
        Path(tmp).write_text(json.dumps(to_jsonable(data), indent=2))
