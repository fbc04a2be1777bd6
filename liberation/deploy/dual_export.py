"""Checkpoints and ONNX export of the dual-energy classifier, verified with onnxruntime.

This is the file-writing side of the dual-energy classifier (torch; import lazily). Files are
written atomically (a temporary file beside the target, then a rename) and never replace an
existing file without ``overwrite=True``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from liberation._atomic import atomic_file, check_new_output
from liberation.deploy.dual_model import DualEnergyNet, build_dual_energy_net
from liberation.errors import FileFormatError, InputError, require

__all__ = ["save_checkpoint", "load_checkpoint", "export_onnx", "onnx_predict", "verify_onnx"]

_FORMAT = "liberation-dual-energy-v1"


def save_checkpoint(path, model: DualEnergyNet, *, metadata: dict | None = None, overwrite: bool = False) -> Path:
    """Save the model configuration, weights and a metadata dict (e.g. metrics, threshold) to ``path``."""
    path = Path(path)
    payload = {"format": _FORMAT, "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.config.items()},
               "state_dict": model.state_dict(), "metadata": dict(metadata or {})}
    with atomic_file(path, overwrite=overwrite, what="checkpoint") as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path) -> tuple[DualEnergyNet, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`; returns ``(model in eval mode, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling error means a bad file
        raise FileFormatError(f"{path} is not a readable dual-energy checkpoint: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise FileFormatError(f"{path} is not a dual-energy checkpoint (expected format {_FORMAT!r})")
    cfg = dict(payload["config"])
    cfg["widths"] = tuple(cfg["widths"])
    model = build_dual_energy_net(**cfg)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, dict(payload.get("metadata", {}))


def export_onnx(model: DualEnergyNet, path, *, image_size: tuple[int, int] = (64, 64), opset: int = 17,
                overwrite: bool = False) -> Path:
    """Export to ONNX with input ``transmission`` ``(batch, 2, y, x)`` and output ``logit`` ``(batch,)``.

    Batch, height and width are dynamic axes (the towers end in global pooling); ``image_size``
    is only the tracing example.
    """
    require("onnx", "deploy")
    path = check_new_output(path, overwrite=overwrite, what="ONNX file")
    h, w = (int(v) for v in image_size)
    if h < 8 or w < 8:
        raise InputError(f"image_size={image_size!r}; expected at least 8 x 8 pixels")
    model.eval()
    example = torch.full((1, 2, h, w), 0.5)

    with atomic_file(path, overwrite=overwrite, what="ONNX file") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(tmp), input_names=["transmission"], output_names=["logit"],
                          dynamic_axes={"transmission": {0: "batch", 2: "y", 3: "x"}, "logit": {0: "batch"}},
                          opset_version=int(opset), dynamo=False)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    return path


def onnx_predict(path, images) -> np.ndarray:
    """Ore probabilities from an exported ONNX model with onnxruntime (CPU), shape (n,)."""
    ort = require("onnxruntime", "deploy")
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 2:
        raise InputError(f"images has shape {x.shape}; expected (n, 2, y, x)")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logit = sess.run(["logit"], {"transmission": x})[0]
    return 1.0 / (1.0 + np.exp(-logit.astype(np.float64)))


def verify_onnx(model: DualEnergyNet, path, images, *, atol: float = 1e-4) -> float:
    """Largest absolute difference of ore probabilities between torch and onnxruntime.

    Raises
    ------
    FileFormatError
        If the difference exceeds ``atol``.
    """
    from liberation.deploy.dual_train import predict_proba

    diff = float(np.abs(predict_proba(model, images) - onnx_predict(path, images)).max())
    if diff > atol:
        raise FileFormatError(f"ONNX model {path} differs from torch by {diff:.3g} (> atol={atol})")
    return diff
