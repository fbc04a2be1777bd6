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

__all__ = ["belt_card", "card_path", "load_belt_checkpoint", "parse_split", "read_image", "read_labelled_folder",
           "read_labelme_folder", "read_labelme_json", "read_model_card", "save_belt_checkpoint", "split_indices",
           "write_mask_png", "write_model_card"]

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


def read_labelled_folder(folder, *, images: str = "images", masks: str = "masks",
                         class_names=("background", "ore", "waste")) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Read labelled frames: image/label-PNG pairs from ``folder/images`` and ``folder/masks``, or LabelMe JSON.

    Label PNGs (or TIFFs) match images by file stem; their values are class indices
    (0 = background). A folder without ``images/`` and ``masks/`` but with ``*.json`` files
    is read as LabelMe annotations (:func:`read_labelme_folder`, labels named by
    ``class_names``).

    Returns
    -------
    paths : list of Path
    images : ndarray, (n, y, x)
    masks : ndarray, (n, y, x) uint8
    """
    folder = Path(folder)
    img_dir, msk_dir = folder / images, folder / masks
    if not img_dir.is_dir() or not msk_dir.is_dir():
        if folder.is_dir() and any(folder.glob("*.json")):
            return read_labelme_folder(folder, class_names=class_names)
        raise FileFormatError(f"{folder} must hold '{images}/' and '{masks}/' folders of PNG/TIFF files, "
                              "or LabelMe .json files")
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


def read_labelme_json(path, *, class_names=("background", "ore", "waste"), image=None) -> tuple[np.ndarray, np.ndarray]:
    """Read one LabelMe annotation (the paper's annotation tool): the frame and its class mask.

    Polygons (and rectangles) are rasterised with :func:`skimage.draw.polygon` (a pixel is
    inside when its centre is), in file order, later shapes over earlier ones. LabelMe
    points are ``[x, y]`` (column, row) in pixels.

    Parameters
    ----------
    path : path-like
        LabelMe ``.json`` file (keys ``shapes``, ``imagePath``, ``imageData``,
        ``imageHeight``, ``imageWidth``).
    class_names : sequence of str
        Classes, background first; a shape's ``label`` must be one of the others.
    image : ndarray, optional
        The frame, when already read (otherwise from ``imagePath`` beside the JSON, else
        the embedded base64 ``imageData``).

    Returns
    -------
    image : ndarray, (y, x)
        The frame as stored (grey).
    mask : ndarray, (y, x) uint8
        Class indices (0 = background).

    Raises
    ------
    FileFormatError
        Unreadable JSON, missing image, unknown label or shape type.
    """
    import base64
    import io as _io
    import json

    from skimage.draw import polygon

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        shapes = doc["shapes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(f"{path} is not a LabelMe JSON file (needs 'shapes'): {exc}") from None
    names = [str(c) for c in class_names]
    if image is None:
        rel = doc.get("imagePath")
        candidate = (path.parent / rel) if rel else None
        if candidate is not None and candidate.is_file():
            image = read_image(candidate)
        elif doc.get("imageData"):
            from PIL import Image

            with Image.open(_io.BytesIO(base64.b64decode(doc["imageData"]))) as im:
                image = np.asarray(im.convert("L") if im.mode not in ("L", "I;16", "I", "F") else im)
        else:
            raise FileFormatError(f"{path}: image {rel!r} not found beside it and no imageData embedded")
    image = np.asarray(image)
    if image.ndim == 3:
        image = image.mean(-1).astype(image.dtype)
    h = int(doc.get("imageHeight") or image.shape[0])
    w = int(doc.get("imageWidth") or image.shape[1])
    if (h, w) != image.shape[:2]:
        raise FileFormatError(f"{path}: imageHeight/imageWidth {h}x{w} differ from the image {image.shape[:2]}")
    mask = np.zeros((h, w), np.uint8)
    for i, shp in enumerate(shapes):
        label = str(shp.get("label", ""))
        if label not in names[1:]:
            raise FileFormatError(f"{path}: shape {i} has label {label!r}; expected one of {names[1:]}")
        pts = np.asarray(shp.get("points", []), float)
        kind = shp.get("shape_type") or "polygon"
        if kind == "rectangle" and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        elif kind != "polygon":
            raise FileFormatError(f"{path}: shape {i} has shape_type {kind!r}; expected 'polygon' or 'rectangle'")
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
            raise FileFormatError(f"{path}: shape {i} needs at least 3 [x, y] points; got {pts.tolist()[:4]}")
        rr, cc = polygon(pts[:, 1], pts[:, 0], shape=(h, w))
        mask[rr, cc] = names.index(label)
    return image, mask


def read_labelme_folder(folder, *, class_names=("background", "ore", "waste")) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Every LabelMe ``*.json`` of ``folder`` with its image (see :func:`read_labelme_json`).

    Returns
    -------
    paths : list of Path
        The JSON files, sorted.
    images : ndarray, (n, y, x)
    masks : ndarray, (n, y, x) uint8
    """
    folder = Path(folder)
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise FileFormatError(f"no LabelMe .json files in {folder}")
    pairs = [read_labelme_json(p, class_names=class_names) for p in paths]
    shapes = {im.shape for im, _ in pairs}
    if len(shapes) != 1:
        raise FileFormatError(f"LabelMe images in {folder} differ in size: {sorted(shapes)}")
    return paths, np.stack([im for im, _ in pairs]), np.stack([m for _, m in pairs])


def parse_split(text) -> tuple[float, float, float]:
    """``"7:2:1"`` -> train, validation and test fractions (0.7, 0.2, 0.1); the test part may be 0."""
    parts = str(text).split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or values[1] <= 0 or not np.all(np.isfinite(values)):
        raise InputError(f"--split {text!r} must be three non-negative ratios train:val:test with train and "
                         "val above 0, e.g. 7:2:1")
    total = sum(values)
    return tuple(v / total for v in values)


def split_indices(n: int, ratios=(7, 2, 1), *, seed: int = 0, strata=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/validation/test split of ``n`` frames, stratified when ``strata`` is given.

    Within each stratum the frames are shuffled and cut by the ratios (largest-remainder
    rounding over the whole set, so the part sizes are ``round(n * ratio)`` to within one
    frame per stratum); every part with a positive ratio gets at least one frame when
    ``n`` allows.

    Parameters
    ----------
    n : int
        Number of frames.
    ratios : 3 numbers or str
        Train, validation, test (e.g. ``(7, 2, 1)`` or ``"7:2:1"``).
    seed : int
        Shuffle seed.
    strata : array_like of int, (n,), optional
        A group per frame (e.g. its dominant class); each group is split by the ratios.

    Returns
    -------
    train, val, test : ndarray of int
        Disjoint sorted indices covering ``0..n-1``.
    """
    frac = parse_split(ratios if isinstance(ratios, str) else ":".join(str(r) for r in ratios))
    n = int(n)
    if n < 2:
        raise InputError(f"n={n} frames cannot be split; need at least 2")
    rng = np.random.default_rng(seed)
    groups = np.zeros(n, int) if strata is None else np.asarray(strata)
    if len(groups) != n:
        raise InputError(f"strata has {len(groups)} values for {n} frames")
    parts: list[list[int]] = [[], [], []]
    carry = np.zeros(3)
    for g in np.unique(groups):
        idx = rng.permutation(np.flatnonzero(groups == g))
        want = len(idx) * np.asarray(frac) + carry
        sizes = np.floor(want).astype(int)
        rest = len(idx) - sizes.sum()
        sizes[np.argsort(-(want - sizes))[:rest]] += 1
        carry = want - sizes
        cuts = np.cumsum(sizes)[:-1]
        for k, chunk in enumerate(np.split(idx, cuts)):
            parts[k].extend(chunk.tolist())
    # every part with a positive ratio gets a frame, taken from the largest part
    for k in range(3):
        if frac[k] > 0 and not parts[k] and n >= sum(f > 0 for f in frac):
            big = int(np.argmax([len(p) for p in parts]))
            parts[k].append(parts[big].pop())
    return tuple(np.sort(np.asarray(p, int)) for p in parts)
