"""Files of the belt segmenter: checkpoints (state_dict + model card JSON) and labelled image folders.

A checkpoint ``model.pt`` holds only a ``state_dict`` (loaded with ``weights_only=True``);
its model card ``model.pt.json`` holds the architecture, classes, input normalisation
(open-beam counts ``i0``), parameter count, training settings and metrics. An exported
``model.onnx`` gets ``model.onnx.json`` the same way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from liberation._atomic import atomic_file, check_new_output
from liberation.errors import FileFormatError, InputError, require

__all__ = ["card_path", "load_belt_checkpoint", "read_image", "read_labelled_folder", "read_model_card",
           "save_belt_checkpoint", "write_mask_png", "write_model_card"]

CARD_FORMAT = "liberation-belt-segmenter"
_IMAGE_EXT = (".png", ".tif", ".tiff")


def card_path(model_path) -> Path:
    """Model card path of a model file: ``<model file>.json``."""
    return Path(str(model_path) + ".json")


def _write_bytes(path, data: bytes, *, overwrite: bool, what: str = "output file") -> None:
    with atomic_file(path, overwrite=overwrite, what=what) as tmp:
        tmp.write_bytes(data)


def write_model_card(model_path, card: dict, *, overwrite: bool = False) -> Path:
    """Write ``card`` as JSON beside ``model_path``; returns the card path."""
    from liberation import __version__

    card = {"format": CARD_FORMAT, "library_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **card}
    path = card_path(model_path)
    _write_bytes(path, json.dumps(card, indent=2, default=_json_default).encode(), overwrite=overwrite,
                 what="model card")
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def read_model_card(model_path) -> dict:
    """Read the model card of ``model_path`` (``<model>.json``)."""
    path = card_path(model_path)
    if not path.is_file():
        raise FileFormatError(f"model card {path} not found; a belt model needs its card beside it")
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"model card {path} is not readable JSON: {exc}") from None
    if card.get("format") != CARD_FORMAT or "config" not in card:
        raise FileFormatError(f"{path} is not a belt segmenter model card (format {card.get('format')!r})")
    return card


def save_belt_checkpoint(path, model, card: dict, *, overwrite: bool = False) -> Path:
    """Save ``model.state_dict()`` to ``path`` and its model card beside it.

    Parameters
    ----------
    path : path-like
        Checkpoint file (``.pt``).
    model : torch.nn.Module
        Trained segmenter.
    card : dict
        Card content (``config`` is taken from ``model.config`` when absent).
    overwrite : bool
        Replace existing files.
    """
    torch = require("torch", "deploy")
    import io

    path = check_new_output(path, overwrite=overwrite, what="checkpoint")
    check_new_output(card_path(path), overwrite=overwrite, what="model card")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    card = dict(card)
    card.setdefault("config", model.config.to_dict())
    _write_bytes(path, buf.getvalue(), overwrite=True)
    write_model_card(path, card, overwrite=True)
    return path


def load_belt_checkpoint(path):
    """Load a checkpoint saved by :func:`save_belt_checkpoint`; returns ``(model, card)`` (model in eval mode)."""
    torch = require("torch", "deploy")
    from liberation.deploy.belt_config import BeltSegmenterConfig
    from liberation.deploy.belt_model import build_belt_segmenter

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"checkpoint {path} not found")
    card = read_model_card(path)
    model = build_belt_segmenter(BeltSegmenterConfig.from_dict(card["config"]), seed=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - any unpickling/shape error is a bad file
        raise FileFormatError(f"checkpoint {path} cannot be loaded into the architecture of its card: {exc}") from None
    return model.eval(), card


def read_image(path) -> np.ndarray:
    """Read a 2D PNG or TIFF frame (first channel of colour images)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as im:
                arr = np.array(im)
    except Exception as exc:  # noqa: BLE001
        raise FileFormatError(f"cannot read image {path}: {exc}") from None
    arr = np.asarray(arr)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise FileFormatError(f"image {path} has shape {arr.shape}; expected a 2D frame")
    return arr


def read_labelled_folder(folder, *, images: str = "images", masks: str = "masks") -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Read image/mask pairs (PNG/TIFF, e.g. LabelMe exports) from ``folder/images`` and ``folder/masks``.

    Masks match images by file stem; mask values are class indices (0 = background).

    Returns
    -------
    paths : list of Path
    images : ndarray, (n, y, x)
    masks : ndarray, (n, y, x) uint8
    """
    folder = Path(folder)
    img_dir, msk_dir = folder / images, folder / masks
    if not img_dir.is_dir() or not msk_dir.is_dir():
        raise FileFormatError(f"{folder} must hold '{images}/' and '{masks}/' folders of PNG/TIFF files")
    mask_files = {p.stem: p for p in msk_dir.iterdir() if p.suffix.lower() in _IMAGE_EXT}
    paths = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in _IMAGE_EXT)
    if not paths:
        raise FileFormatError(f"no PNG/TIFF images in {img_dir}")
    missing = [p.name for p in paths if p.stem not in mask_files]
    if missing:
        raise FileFormatError(f"images without a mask in {msk_dir}: {missing[:5]}")
    imgs = [read_image(p) for p in paths]
    msks = [read_image(mask_files[p.stem]) for p in paths]
    shapes = {a.shape for a in imgs} | {m.shape for m in msks}
    if len(shapes) != 1:
        raise FileFormatError(f"images and masks in {folder} differ in size: {sorted(shapes)}")
    return paths, np.stack(imgs), np.stack(msks).astype(np.uint8)


def write_mask_png(path, mask, *, overwrite: bool = False) -> Path:
    """Write a class mask as an 8-bit PNG (0 = background, 1.. classes), atomically."""
    import io

    from PIL import Image

    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.max(initial=0) > 255 or mask.min(initial=0) < 0:
        raise InputError(f"mask has shape {mask.shape} / range {mask.min(initial=0)}..{mask.max(initial=0)}; "
                         "expected a 2D class mask within 0..255")
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8)).save(buf, format="PNG")
    path = Path(path)
    _write_bytes(path, buf.getvalue(), overwrite=overwrite, what="mask")
    return path
