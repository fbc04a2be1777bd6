"""Files of the belt segmenter: model folders, model cards and labelled image folders.

A trained segmenter is a model folder (:mod:`liberation.model_folder`): ``model.pt`` (the
``state_dict``, loaded with ``weights_only=True``) and ``model_card.json`` of kind
``belt-segmenter``: architecture (``BeltSegmenterConfig``), classes, input (open-beam
counts ``i0``, pixel size), training settings and history, metrics; parameter count and
export records under ``extra``. An exported ``model.onnx`` (or a TensorRT engine built
from it) carries the same card beside it as ``model.onnx.json``. The older checkpoint, a
``model.pt`` file with a ``model.pt.json`` card of format ``liberation-belt-segmenter``,
still loads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liberation._atomic import atomic_file
from liberation.errors import FileFormatError, InputError, require
from liberation.io.images import read_image
from liberation.model_folder import (
    CARD_FILE,
    load_weights,
    make_card,
    read_card,
    validate_card,
    write_card,
    write_model_folder,
)

__all__ = ["belt_card", "card_path", "load_belt_checkpoint", "read_image", "read_labelled_folder",
           "read_model_card", "save_belt_checkpoint", "write_mask_png", "write_model_card"]

#: ``format`` of the older belt model card (``<model>.pt.json``), still read.
CARD_FORMAT = "liberation-belt-segmenter"
KIND = "belt-segmenter"
_IMAGE_EXT = (".png", ".tif", ".tiff")
_SIDECAR_SUFFIXES = (".onnx", ".engine", ".plan")
# keys of the loose card dict that the belt code writes, and where they go in the model card
_LOOSE_KEYS = ("config", "class_names", "input", "train", "history", "data", "metrics")


def card_path(model_path) -> Path:
    """Model card of a model: ``<folder>/model_card.json`` for a model folder, ``<file>.json`` for a file.

    A path that does not exist yet is a model folder unless it ends in ``.onnx``, ``.engine``
    or ``.plan`` (exported files carry their card beside them).
    """
    path = Path(model_path)
    if path.is_dir() or (not path.is_file() and path.suffix.lower() not in _SIDECAR_SUFFIXES):
        return path / CARD_FILE
    return Path(str(path) + ".json")


def belt_card(content: dict) -> dict:
    """A belt-segmenter model card from a card or from the loose dict the belt code builds.

    Parameters
    ----------
    content : dict
        Either a model card (``format_version`` present) or a dict with ``config``
        (``BeltSegmenterConfig.to_dict()``) and optionally ``class_names``, ``input``
        (``i0``, ``pixel_size_um``, ...), ``train``, ``history``, ``data``, ``metrics``;
        other keys (``parameters``, ``export``, ...) go to the card's ``extra``.

    Returns
    -------
    dict
    """
    if "format_version" in content:
        card = validate_card(dict(content))
    else:
        if "config" not in content:
            raise InputError("the belt model card needs 'config' (the BeltSegmenterConfig as a dict)")
        config = dict(content["config"])
        names = content.get("class_names") or config.get("class_names") or ()
        training = dict(content.get("train") or {})
        for key in ("history", "data"):
            if content.get(key) is not None:
                training[key] = content[key]
        card = make_card(KIND, architecture=config, classes=list(names), input=content.get("input") or {},
                         training=training, metrics=content.get("metrics") or {},
                         extra={k: v for k, v in content.items() if k not in _LOOSE_KEYS})
    if card["kind"] != KIND:
        raise FileFormatError(f"model card of kind {card['kind']!r}; expected {KIND!r}")
    return card


def _upgrade(old: dict) -> dict:
    """An older belt card (``format: liberation-belt-segmenter``) in the current format."""
    if old.get("format") != CARD_FORMAT or "config" not in old:
        raise FileFormatError(f"not a belt segmenter model card (format {old.get('format')!r})")
    card = belt_card({k: v for k, v in old.items() if k not in ("format", "library_version", "created")})
    card["library_version"] = old.get("library_version", "")
    card["created"] = old.get("created", "")
    return card


def write_model_card(model_path, card: dict, *, overwrite: bool = False) -> Path:
    """Write the card of ``model_path`` (see :func:`card_path`, :func:`belt_card`); returns the card path."""
    return write_card(card_path(model_path), belt_card(card), overwrite=overwrite)


def read_model_card(model_path) -> dict:
    """Read the model card of a belt model folder or exported file (current or older format)."""
    path = card_path(model_path)
    if not path.is_file():
        raise FileFormatError(f"model card {path} not found; a belt model needs its card beside it")
    card = read_card(path, upgrade=_upgrade)
    if card["kind"] != KIND:
        raise FileFormatError(f"{path} is a model card of kind {card['kind']!r}; expected {KIND!r}")
    return card


def save_belt_checkpoint(path, model, card: dict, *, overwrite: bool = False) -> Path:
    """Save a segmenter as a model folder: ``path/model.pt`` (``state_dict``) and ``path/model_card.json``.

    Parameters
    ----------
    path : path-like
        Model folder to create.
    model : BeltSegmenter
        Trained segmenter.
    card : dict
        Card content (see :func:`belt_card`; ``config`` is taken from ``model.config`` when absent).
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    Path
    """
    require("torch", "deploy")
    card = dict(card)
    if "format_version" not in card:
        card.setdefault("config", model.config.to_dict())
    return write_model_folder(path, belt_card(card), state_dict=model.state_dict(), overwrite=overwrite)


def load_belt_checkpoint(path):
    """Load a segmenter saved by :func:`save_belt_checkpoint` (or an older ``.pt`` file with its ``.pt.json``).

    Returns
    -------
    model : BeltSegmenter
        In eval mode, on the CPU.
    card : dict
        Its model card.
    """
    require("torch", "deploy")
    from liberation.deploy.belt.config import BeltSegmenterConfig
    from liberation.deploy.belt.model import build_belt_segmenter

    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"checkpoint {path} not found")
    card = read_model_card(path)
    model = build_belt_segmenter(BeltSegmenterConfig.from_dict(card["architecture"]), seed=None)
    state = load_weights(path)
    try:
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - any shape/key error is a bad file
        raise FileFormatError(f"checkpoint {path} cannot be loaded into the architecture of its card: {exc}") from None
    return model.eval(), card


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
    msks = [read_image(mask_files[p.stem], grey=False) for p in paths]
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
    with atomic_file(path, overwrite=overwrite, what="mask") as tmp:
        tmp.write_bytes(buf.getvalue())
    return path
