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

__all__ = ["SYNTHETIC_I0", "belt_input_spec", "benchmark_model", "evaluate_model", "export_model", "load_frames", "segment_folder",
           "simulate_trials", "train_model"]

#: Open-beam counts of the synthetic frames used by the CLI.
SYNTHETIC_I0 = 4000.0
_FRAME_SUFFIXES = (".png", ".tif", ".tiff")


def belt_input_spec(images, masks, *, i0, auto: bool = True, pixel_size_um: float = 500.0) -> dict:
    """The model card's ``input``: how frames are normalised and what the training frames looked like.

    Parameters
    ----------
    images : ndarray, (n, y, x)
        Training detector counts.
    masks : ndarray, (n, y, x)
        Their class masks.
    i0 : float or "auto"
        Open beam of the training frames.
    auto : bool
        Whether the runtime estimates the open beam per frame (models trained with domain
        randomisation) or uses ``i0``.
    pixel_size_um : float
        Belt pixel size, µm.

    Returns
    -------
    dict
        ``kind``, ``i0`` (``"auto"`` or the count), ``train_i0``, ``dtype``, ``count_max``,
        ``attenuation_p99`` (99th percentile of the normalised training frames),
        ``foreground_share`` ([min, max] over frames), ``size_multiple``, ``pixel_size_um``.
    """
    from liberation.deploy.belt.preprocess import prepare_belt_inputs

    images = np.asarray(images)
    att = prepare_belt_inputs(images, i0="auto" if auto else i0)
    share = (np.asarray(masks) > 0).reshape(len(images), -1).mean(1)
    return {"kind": "log_attenuation", "i0": "auto" if auto else i0, "train_i0": i0, "dtype": str(images.dtype),
            "count_max": float(images.max()), "attenuation_p99": float(np.percentile(att, 99)),
            "foreground_share": [float(share.min()), float(share.max())], "size_multiple": 32,
            "pixel_size_um": float(pixel_size_um)}


def load_frames(data: str | os.PathLike | None, synthetic: int | None, *, size: int = 128, seed: int = 0,
                i0=None, class_names=("background", "ore", "waste")) -> tuple[np.ndarray, np.ndarray, float | str]:
    """Labelled frames from a folder (``images/`` + ``masks/`` label PNGs, or LabelMe JSON) or the synthetic generator.

    Parameters
    ----------
    data : path-like or None
        Folder of PNG/TIFF pairs or LabelMe JSON files (see
        :func:`~liberation.deploy.belt.io.read_labelled_folder`).
    synthetic : int or None
        Number of synthetic frames instead (give exactly one of ``data`` and ``synthetic``).
    size : int
        Synthetic frame size in pixels (square, multiple of 32).
    seed : int
        Seed of the synthetic frames.
    i0 : float or "auto", optional
        Open-beam counts of ``data`` (default ``"auto"``: estimated per frame from the belt).
    class_names : sequence of str
        Classes (LabelMe labels), background first.

    Returns
    -------
    images : ndarray, (n, y, x)
        Detector counts.
    masks : ndarray, (n, y, x) uint8
    i0 : float or "auto"
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
    from liberation.deploy.belt.preprocess import parse_i0

    _, images, masks = read_labelled_folder(data, class_names=class_names)
    return images, masks, parse_i0(i0) if i0 is not None else "auto"


def _strata(masks: np.ndarray) -> np.ndarray:
    """Dominant non-background class of each frame (0 for an empty frame): the split's strata."""
    m = np.asarray(masks).reshape(len(masks), -1).astype(np.int64)
    k = int(m.max()) + 1
    counts = np.stack([np.bincount(row, minlength=k) for row in m])
    counts[:, 0] = 0
    return np.where(counts.sum(1) > 0, counts.argmax(1), 0)


def _split(masks, split, seed: int, val_fraction: float):
    """(train, val, test) indices: the seeded stratified ``split`` or a random validation fraction."""
    from liberation.deploy.belt.io import split_indices

    if split:
        return split_indices(len(masks), split, seed=seed, strata=_strata(masks))
    n_val = max(1, int(round(len(masks) * val_fraction)))
    order = np.random.default_rng(seed).permutation(len(masks))
    return np.sort(order[n_val:]), np.sort(order[:n_val]), np.zeros(0, int)


def train_model(
    out: str | os.PathLike,
    *,
    data=None,
    synthetic: int | None = None,
    size: int = 128,
    seed: int = 0,
    i0=None,
    preset: str = "cpu",
    aspp: str = "s-aspp",
    attention: str = "both",
    class_names: tuple[str, ...] = ("background", "ore", "waste"),
    train_preset: str = "cpu",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_steps: int | None = None,
    val_fraction: float = 0.1,
    split: str | None = None,
    domain: bool = True,
    pixel_size_um: float = 500.0,
    threads: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Train the segmenter and write the model folder ``out``.

    The frames are split either by ``split`` (``"7:2:1"``: seeded, stratified by each
    frame's dominant class; the test part is evaluated once at the end) or into a random
    validation fraction. With ``domain`` (default) training re-renders every sample as a
    random detector would (:func:`~liberation.deploy.belt.augment.detector_augment`) and
    the model card asks the runtime for the automatic open beam.

    Returns
    -------
    dict
        ``out`` (Path), ``parameters``, ``steps``, ``seconds``, ``metrics`` (validation:
        accuracy, mpa, miou, iou, pa), ``n_validation``, ``test`` (the same on the test
        part, or None), ``n_test``, ``split`` (sizes).
    """
    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.io import save_belt_checkpoint
    from liberation.deploy.belt.model import count_parameters
    from liberation.deploy.belt.preprocess import prepare_belt_inputs
    from liberation.deploy.belt.train import evaluate_belt_segmenter, train_belt_segmenter

    out = check_new_output(out, overwrite=overwrite, what="model folder")
    if not (0 < val_fraction < 0.9):
        raise InputError(f"--val-fraction {val_fraction} must be in (0, 0.9)")
    images, masks, i0 = load_frames(data, synthetic, size=size, seed=seed, i0=i0, class_names=tuple(class_names))
    config = belt_config_preset(preset, aspp=aspp, attention=attention, class_names=tuple(class_names))
    tr, va, te = _split(masks, split, seed, val_fraction)
    res = train_belt_segmenter(images[tr], masks[tr], config=config, preset=train_preset, i0=i0, domain=domain,
                               epochs=epochs, batch_size=batch_size, lr=lr, max_steps=max_steps, seed=seed,
                               threads=threads)
    run_i0 = "auto" if domain else i0
    keys = ("accuracy", "mpa", "miou", "iou", "pa")

    def report(idx):
        m = evaluate_belt_segmenter(res.model, prepare_belt_inputs(images[idx], i0=run_i0), masks[idx],
                                    class_names=config.class_names)
        return {k: m[k] for k in keys}

    validation = report(va)
    test = report(te) if len(te) else None
    card = {"class_names": list(config.class_names), "parameters": count_parameters(res.model),
            "input": belt_input_spec(images[tr], masks[tr], i0=i0, auto=domain, pixel_size_um=pixel_size_um),
            "train": res.train_params, "history": res.history,
            "metrics": {"validation": validation, "n_validation": int(len(va)),
                        **({"test": test, "n_test": int(len(te))} if test else {})},
            "data": {"source": str(data) if data else f"synthetic:{synthetic}x{size} seed {seed}",
                     "split": split or f"validation fraction {val_fraction}", "seed": seed,
                     "test_indices": te.tolist(), "validation_indices": va.tolist()}}
    save_belt_checkpoint(out, res.model, card, overwrite=overwrite)
    return {"out": out, "parameters": card["parameters"], "steps": res.train_params["steps"],
            "seconds": res.seconds, "metrics": validation, "n_validation": int(len(va)), "test": test,
            "n_test": int(len(te)), "split": [int(len(tr)), int(len(va)), int(len(te))]}


def evaluate_model(model_path, *, data=None, synthetic: int | None = None, size: int = 128, seed: int = 0,
                   i0="auto", split: str | None = None, backend: str = "auto", out=None,
                   overwrite: bool = False) -> dict:
    """Accuracy, mPA and mIoU of a model on labelled frames (synthetic frames use ``seed + 7919``, held out).

    ``i0`` is the open beam of the frames (``"auto"``: estimated per frame). With ``split``
    (e.g. ``"7:2:1"``, the same ``seed`` as training) only the test part of ``data`` is
    evaluated, the frames :func:`train_model` held out.

    Returns
    -------
    dict
        ``backend`` and the metrics of :func:`~liberation.deploy.belt.metrics.segmentation_metrics`;
        also written as JSON to ``out`` when given.
    """
    from liberation.deploy.belt.metrics import segmentation_metrics
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.metrics import confusion_matrix

    if out:
        check_new_output(out, overwrite=overwrite, what="metrics file", inputs=[model_path])
    rt = BeltRuntime(model_path, backend=backend, i0=i0 if i0 is not None else "auto")
    images, masks, _ = load_frames(data, synthetic, size=size, seed=seed if data else seed + 7919, i0=None,
                                   class_names=rt.class_names)
    n_all = len(images)
    if split and data is not None:
        _, _, te = _split(masks, split, seed, 0.1)
        if not len(te):
            raise InputError(f"--split {split} leaves no test frames; give a test ratio above 0")
        images, masks = images[te], masks[te]
    pred = rt.segment(images)
    m = segmentation_metrics(confusion_matrix(masks, pred, num_classes=len(rt.class_names)),
                             class_names=rt.class_names)
    result = {"backend": rt.backend, "n_frames": int(len(images)), "n_available": int(n_all),
              "i0": rt.last_check.get("i0"), "problems": rt.last_check.get("problems", []), **m}
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
                   threshold: float = 0.5, eject: str = "waste", i0="auto", decision: str = "auto",
                   overwrite: bool = False) -> dict:
    """Segment every PNG/TIFF frame of ``images_dir``: one mask PNG each and ``fragments.csv``.

    ``decision``: ``"auto"``, ``"hybrid"``, ``"features"``, ``"fragment"`` (each predicted
    fragment takes one class) or ``"pixel"``, see
    :class:`~liberation.deploy.belt.runtime.BeltRuntime`.

    ``i0``: open beam of the frames, ``"auto"`` (estimated per frame from the belt) or a
    count. Frames that look unlike the training data (see
    :func:`~liberation.deploy.belt.runtime.check_belt_frames`) give one
    :class:`~liberation.deploy.belt.runtime.BeltInputWarning` for the whole folder.

    Returns
    -------
    dict
        ``backend``, ``n_images``, ``n_fragments``, ``out``, ``i0`` (per frame),
        ``problems`` (``{image name: [problems]}`` for the frames with any).
    """
    import warnings

    import pandas as pd

    from liberation.deploy.belt.io import write_mask_png
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.deploy.belt.sorting import fragment_decisions
    from liberation.io.images import read_image

    check_new_output(out, overwrite=overwrite, what="output folder", inputs=[model_path, images_dir])
    paths = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in _FRAME_SUFFIXES)
    if not paths:
        raise FileFormatError(f"no PNG/TIFF images in {images_dir}")
    from liberation.deploy.belt.runtime import BeltInputWarning

    rt = BeltRuntime(model_path, backend=backend, i0=i0 if i0 is not None else "auto", decision=decision)
    problems, levels = {}, []
    px = pixel_size_um or rt.card["input"].get("pixel_size_um") or 500.0
    ore = [i for i, n in enumerate(rt.class_names) if n == "ore"] or [1]
    rows = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for p in paths:
            mask = rt.segment(read_image(p), warn=False)
            levels.append(rt.last_check["i0"][0])
            if rt.last_check["problems"]:
                problems[p.name] = rt.last_check["problems"]
            write_mask_png(tmp / f"{p.stem}.png", mask)
            frag = fragment_decisions(mask, pixel_size_um=px, ore_classes=ore, threshold=threshold, eject=eject)
            for i in range(len(frag["id"])):
                rows.append({"image": p.name, **{k: v[i].item() for k, v in frag.items()}})
        pd.DataFrame(rows).to_csv(tmp / "fragments.csv", index=False)
    if problems:
        first = next(iter(problems))
        warnings.warn(f"{len(problems)} of {len(paths)} frames look unlike the training data "
                      f"(e.g. {first}: {'; '.join(problems[first])})", BeltInputWarning, stacklevel=2)
    return {"backend": rt.backend, "n_images": len(paths), "n_fragments": len(rows), "out": Path(out),
            "i0": levels, "problems": problems}


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
