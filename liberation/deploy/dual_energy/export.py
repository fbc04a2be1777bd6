"""Model folders and ONNX export of the dual-energy classifier, verified with onnxruntime.

This is the file-writing side of the dual-energy classifier (torch; import lazily). A
trained classifier is a model folder (:mod:`liberation.model_folder`): ``model.pt`` (the
``state_dict``) and ``model_card.json`` of kind ``dual-energy`` (architecture = the
network configuration, classes waste/ore, input = two transmission channels, metrics,
and the caller's metadata under ``extra``). The older single-file checkpoint (format
``liberation-dual-energy-v1``) still loads. Files are written atomically (a temporary
file beside the target, then a rename) and never replace an existing file without
``overwrite=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from liberation._onnx import export_onnx_model, onnx_parity, run_onnx
from liberation.deploy.dual_energy.model import DualEnergyNet, build_dual_energy_net
from liberation.errors import FileFormatError, InputError
from liberation.model_folder import (
    CARD_FILE,
    WEIGHTS_FILE,
    make_card,
    make_classes,
    read_model_folder,
    weights_error_reason,
    write_model_folder,
)

__all__ = ["save_checkpoint", "load_checkpoint", "export_onnx", "onnx_predict", "verify_onnx"]

#: Format of the older single-file checkpoint, still read.
_FORMAT = "liberation-dual-energy-v1"
KIND = "dual-energy"


def _config(model: DualEnergyNet) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.config.items()}


def save_checkpoint(path, model: DualEnergyNet, *, metadata: dict | None = None, overwrite: bool = False,
                    write_extra: Callable[[Path], None] | None = None) -> Path:
    """Save the classifier as a model folder at ``path`` (``model.pt`` + ``model_card.json``).

    Parameters
    ----------
    path : path-like
        Model folder to create.
    model : DualEnergyNet
    metadata : dict, optional
        Kept in the card's ``extra.metadata`` (e.g. the R-value threshold) and returned by
        :func:`load_checkpoint`; ``val_metrics`` also becomes the card's ``metrics`` and
        ``image_size`` part of its ``input``.
    overwrite : bool
        Replace an existing folder.
    write_extra : callable, optional
        Called with the temporary folder to add more files (tables, histories).

    Returns
    -------
    Path
    """
    metadata = dict(metadata or {})
    card = make_card(KIND, architecture=_config(model), classes=make_classes(["waste", "ore"]),
                     input={"channels": ["high", "low"], "values": "transmission I/I0 in (0, 1]",
                            "image_size": metadata.get("image_size")},
                     metrics=metadata.get("val_metrics") or {}, extra={"metadata": metadata})
    return write_model_folder(path, card, state_dict=model.state_dict(), write_extra=write_extra, overwrite=overwrite)


def _build(config: dict) -> DualEnergyNet:
    cfg = dict(config)
    cfg["widths"] = tuple(cfg["widths"])
    return build_dual_energy_net(**cfg)


def _load_old(path: Path) -> tuple[DualEnergyNet, dict]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling error means a bad file
        raise FileFormatError(f"{path} is not a readable dual-energy checkpoint: {weights_error_reason(exc)}") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise FileFormatError(f"{path} is not a dual-energy checkpoint (expected a model folder or format {_FORMAT!r})")
    model = _build(payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), dict(payload.get("metadata", {}))


def load_checkpoint(path) -> tuple[DualEnergyNet, dict]:
    """Load a classifier: a model folder, its ``model.pt``, or an older single-file checkpoint (or its folder).

    Returns
    -------
    model : DualEnergyNet
        In eval mode, on the CPU.
    metadata : dict
        The ``metadata`` given to :func:`save_checkpoint`.
    """
    from liberation.model_folder import load_weights

    path = Path(path)
    if path.is_file() and path.name == WEIGHTS_FILE and (path.parent / CARD_FILE).is_file():
        path = path.parent
    elif path.is_dir() and not (path / CARD_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
        path = path / WEIGHTS_FILE  # an older training folder: OUT/model.pt is a single-file checkpoint
    if not path.exists():
        raise FileFormatError(f"checkpoint {path} does not exist")
    if path.is_file():
        return _load_old(path)
    card = read_model_folder(path)
    if card["kind"] != KIND:
        raise FileFormatError(f"{path} holds a model of kind {card['kind']!r}; expected {KIND!r}")
    model = _build(card["architecture"])
    try:
        model.load_state_dict(load_weights(path))
    except (RuntimeError, KeyError) as exc:
        raise FileFormatError(f"weights in {path} do not fit the architecture of its card: {exc}") from None
    return model.eval(), dict(card["extra"].get("metadata", {}))


def export_onnx(model: DualEnergyNet, path, *, image_size: tuple[int, int] = (64, 64), opset: int = 17,
                overwrite: bool = False) -> Path:
    """Export to ONNX with input ``transmission`` ``(batch, 2, y, x)`` and output ``logit`` ``(batch,)``.

    Batch, height and width are dynamic axes (the towers end in global pooling); ``image_size``
    is only the tracing example.
    """
    h, w = (int(v) for v in image_size)
    if h < 8 or w < 8:
        raise InputError(f"image_size={image_size!r}; expected at least 8 x 8 pixels")
    return export_onnx_model(model, path, example=torch.full((1, 2, h, w), 0.5), input_names=["transmission"],
                             output_names=["logit"],
                             dynamic_axes={"transmission": {0: "batch", 2: "y", 3: "x"}, "logit": {0: "batch"}},
                             opset=int(opset), overwrite=overwrite)


def _check(images) -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 2:
        raise InputError(f"images has shape {x.shape}; expected (n, 2, y, x)")
    return x


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logit, dtype=np.float64)))


def onnx_predict(path, images) -> np.ndarray:
    """Ore probabilities from an exported ONNX model with onnxruntime (CPU), shape (n,)."""
    return _sigmoid(run_onnx(path, {"transmission": _check(images)})[0])


def verify_onnx(model: DualEnergyNet, path, images, *, atol: float = 1e-4) -> float:
    """Largest absolute difference of ore probabilities between torch and onnxruntime.

    Raises
    ------
    FileFormatError
        If the difference exceeds ``atol``.
    """
    return onnx_parity(model, path, _check(images), input_name="transmission", output=_sigmoid, atol=atol,
                       threads=None)["max_abs_diff"]
