"""One model folder format and one model card for every trained model of the package.

A model folder (the 3D U-Nets of :mod:`liberation.segmentation` and the models of the
deploy wings) holds:

- ``model.pt``: the network's ``state_dict`` (``torch.save``; read back with
  ``torch.load(weights_only=True)``, so a folder cannot run code when it is loaded);
- ``model_card.json``: the model card below;
- other files its writer adds (``checkpoints/``, ``metrics.csv``, plots, ``model.onnx``).

The model card is one JSON object with these top-level keys, all present:

``format_version`` (int, :data:`MODEL_CARD_VERSION`), ``kind`` (one of :data:`KINDS`),
``architecture`` (dict: what builds the network), ``classes`` (list of
``{"id": int, "name": str, "colour": ...}``), ``input`` (dict: pixel or voxel size in µm,
normalisation, channels), ``training`` (dict: settings and summary), ``metrics`` (dict),
``library_version`` (str), ``created`` (ISO 8601 local time), ``extra`` (dict: whatever
else the kind needs, e.g. minerals, export records).

Torch is imported only inside :func:`write_model_folder` (when weights are given) and
:func:`load_weights`; everything else is JSON.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from liberation._atomic import atomic_dir, atomic_file
from liberation._json import to_jsonable
from liberation.errors import FileFormatError, InputError, require

__all__ = [
    "CARD_FILE",
    "CARD_KEYS",
    "KINDS",
    "MODEL_CARD_VERSION",
    "WEIGHTS_FILE",
    "card_class_names",
    "load_weights",
    "make_card",
    "make_classes",
    "read_card",
    "read_model_folder",
    "validate_card",
    "weights_error_reason",
    "write_card",
    "write_model_folder",
]

MODEL_CARD_VERSION = 1
WEIGHTS_FILE = "model.pt"
CARD_FILE = "model_card.json"
#: The kinds of model a card may describe.
KINDS = ("phases-unet", "particles-unet", "belt-segmenter", "dual-energy")
#: Top-level keys of a model card, in the order they are written.
CARD_KEYS = ("format_version", "kind", "architecture", "classes", "input", "training", "metrics",
             "library_version", "created", "extra")
_DICT_KEYS = ("architecture", "input", "training", "metrics", "extra")

Upgrade = Callable[[dict], dict]


def make_classes(names: Iterable[str], *, ids: Iterable[int] | None = None,
                 colours: Iterable[Any] | None = None) -> list[dict]:
    """The ``classes`` entry of a card: one ``{"id", "name", "colour"}`` per output channel.

    Parameters
    ----------
    names : iterable of str
        Class names in the order of the network's output channels.
    ids : iterable of int, optional
        Label value of each class (default ``0, 1, ...``).
    colours : iterable, optional
        Display colour of each class (e.g. ``"#aabbcc"`` or an RGB list); None when unknown.

    Returns
    -------
    list of dict
    """
    names = [str(n) for n in names]
    ids = list(range(len(names))) if ids is None else [int(i) for i in ids]
    colours = [None] * len(names) if colours is None else list(colours)
    if not (len(ids) == len(colours) == len(names)):
        raise InputError(f"classes: {len(names)} names, {len(ids)} ids and {len(colours)} colours; "
                         "expected one of each per class")
    return [{"id": i, "name": n, "colour": c} for i, n, c in zip(ids, names, colours)]


def make_card(
    kind: str,
    *,
    architecture: Mapping,
    classes: Iterable,
    input: Mapping,  # noqa: A002 - the card key
    training: Mapping | None = None,
    metrics: Mapping | None = None,
    extra: Mapping | None = None,
    created: str | None = None,
) -> dict:
    """Build a validated model card (plain JSON types).

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    architecture : mapping
        Parameters that rebuild the network.
    classes : iterable of str or of dict
        Class names (ids 0, 1, ...) or ``{"id", "name", "colour"}`` dicts (see :func:`make_classes`).
    input : mapping
        Input specification: pixel or voxel size in µm, normalisation, channels.
    training, metrics, extra : mapping, optional
        Training summary, evaluation metrics, anything else the kind needs.
    created : str, optional
        Creation time (default: now, ``YYYY-MM-DDTHH:MM:SS``).

    Returns
    -------
    dict
        A card with the keys :data:`CARD_KEYS`.
    """
    from liberation import __version__

    classes = list(classes)
    if classes and all(isinstance(c, str) for c in classes):
        classes = make_classes(classes)
    card = {
        "format_version": MODEL_CARD_VERSION,
        "kind": kind,
        "architecture": dict(architecture),
        "classes": classes,
        "input": dict(input),
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
        "library_version": __version__,
        "created": created or time.strftime("%Y-%m-%dT%H:%M:%S"),
        "extra": dict(extra or {}),
    }
    return validate_card(to_jsonable(card), source="card")


def validate_card(card: Any, *, source: str = "model card") -> dict:
    """Check that ``card`` is a model card of this format; return it.

    Raises
    ------
    FileFormatError
        Not a dict, a key missing, an unknown ``kind`` or format version, or a malformed ``classes``.
    """
    if not isinstance(card, dict):
        raise FileFormatError(f"{source} is a {type(card).__name__}; expected a JSON object (model card)")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise FileFormatError(f"{source} lacks the keys {missing}; expected a model card with {list(CARD_KEYS)}")
    version = card["format_version"]
    if not isinstance(version, int) or not 1 <= version <= MODEL_CARD_VERSION:
        raise FileFormatError(f"{source}: format_version={version!r}; expected 1..{MODEL_CARD_VERSION} "
                              "(a newer liberation may have written it)")
    if card["kind"] not in KINDS:
        raise FileFormatError(f"{source}: kind={card['kind']!r}; expected one of {KINDS}")
    for key in _DICT_KEYS:
        if not isinstance(card[key], dict):
            raise FileFormatError(f"{source}: {key!r} is a {type(card[key]).__name__}; expected a JSON object")
    classes = card["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, dict) and {"id", "name"} <= set(c) for c in classes):
        raise FileFormatError(f"{source}: 'classes' must be a list of {{'id', 'name', 'colour'}} objects")
    return card


def card_class_names(card: Mapping) -> tuple[str, ...]:
    """Names of the classes of a card, in output-channel order."""
    return tuple(str(c["name"]) for c in card["classes"])


def write_card(path: str | os.PathLike, card: Mapping, *, overwrite: bool = False) -> Path:
    """Write a validated card as JSON to ``path``, atomically (refuses to replace without ``overwrite``)."""
    card = validate_card(to_jsonable(dict(card)), source=str(path))
    with atomic_file(path, overwrite=overwrite, what="model card") as tmp:
        Path(tmp).write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    return Path(path)


def read_card(path: str | os.PathLike, *, upgrade: Upgrade | None = None) -> dict:
    """Read and validate a model card JSON file.

    Parameters
    ----------
    path : path-like
        The JSON file.
    upgrade : callable, optional
        Turns a card of an older, kind-specific shape (no ``format_version``) into this
        format; such cards are refused without it.

    Returns
    -------
    dict
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"model card {path} not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"model card {path} is not readable JSON: {exc}") from None
    if isinstance(data, dict) and "format_version" not in data and upgrade is not None:
        data = upgrade(data)
    return validate_card(data, source=str(path))


def write_model_folder(
    directory: str | os.PathLike,
    card: Mapping,
    *,
    state_dict: Mapping | None = None,
    write_extra: Callable[[Path], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a model folder atomically: ``model.pt``, ``model_card.json`` and extra files.

    Parameters
    ----------
    directory : path-like
        The folder to create (written under a temporary name beside it, then renamed).
    card : mapping
        A model card (see :func:`make_card`); validated before anything is written.
    state_dict : mapping, optional
        Network weights, saved with ``torch.save``.
    write_extra : callable, optional
        Called with the temporary folder to add more files (checkpoints, tables, plots).
    overwrite : bool
        Replace an existing folder; refused otherwise.

    Returns
    -------
    Path
    """
    card = validate_card(to_jsonable(dict(card)), source="card")
    final = Path(directory)
    with atomic_dir(final, overwrite=overwrite, what="model folder") as tmp:
        if state_dict is not None:
            torch = require("torch", "ml")
            torch.save(dict(state_dict), tmp / WEIGHTS_FILE)
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
        if write_extra is not None:
            write_extra(tmp)
    return final


def read_model_folder(directory: str | os.PathLike, *, upgrade: Upgrade | None = None) -> dict:
    """The model card of a model folder (see :func:`read_card` for ``upgrade``)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileFormatError(f"model folder {directory} not found; expected a folder with {CARD_FILE} "
                              f"and {WEIGHTS_FILE}")
    return read_card(directory / CARD_FILE, upgrade=upgrade)


def weights_error_reason(exc: BaseException | str) -> str:
    """The useful part of a torch/pickle load error, without torch's advice to load with
    ``weights_only=False`` (that would run code stored in the file)."""
    text = str(exc)
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if m:
        return f"it holds a Python object ({m.group(1)}), not plain tensors"
    m = re.search(r"Unsupported operand \d+|invalid load key, [^.\n]*|[\w ]*EOF[\w ]*|"
                  r"PytorchStreamReader failed[^\n]*", text)
    if m:
        return m.group(0).strip().rstrip(".")
    first = text.strip().splitlines()[0] if text.strip() else "unreadable"
    if "weights_only" in first or "Weights only" in first:
        return "not a PyTorch file of plain tensors (or a damaged one)"
    return first.rstrip(".")


def load_weights(path: str | os.PathLike) -> dict:
    """Load a ``state_dict`` with ``torch.load(weights_only=True)`` on the CPU.

    Parameters
    ----------
    path : path-like
        A model folder (its ``model.pt`` is read) or a weights file.

    Returns
    -------
    dict of str to torch.Tensor
    """
    torch = require("torch", "ml")
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise FileFormatError(f"weights {path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling error is a bad file
        raise FileFormatError(f"weights {path} cannot be read: {weights_error_reason(exc)}") from None
