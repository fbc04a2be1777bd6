"""Validation of mineral label maps: confusion table, per-mineral accuracy, abundance vs XRD."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.metrics import confusion_matrix as _counts

__all__ = [
    "abundance_table",
    "accuracy_table",
    "compare_abundance",
    "confusion_matrix",
    "confusion_table",
    "pixel_accuracy",
]


def _pair(predicted, reference, mask):
    predicted = np.asarray(predicted)
    reference = np.asarray(reference)
    if predicted.shape != reference.shape:
        raise InputError(f"predicted has shape {predicted.shape} but reference has shape {reference.shape}; "
                         "they must match")
    for name, arr in (("predicted", predicted), ("reference", reference)):
        if arr.dtype.kind not in "ui":
            raise InputError(f"{name} has dtype {arr.dtype}; expected integer labels")
    if mask is None:
        mask = reference > 0
    else:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != reference.shape:
            raise InputError(f"mask has shape {mask.shape}; expected {reference.shape}")
    return predicted[mask].astype(np.int64), reference[mask].astype(np.int64)


def _name(names, i) -> str:
    if names is None:
        return str(i)
    if isinstance(names, Mapping):
        return str(names.get(i, i))
    try:
        return str(names[i])
    except (KeyError, IndexError):
        return str(i)


def _names_lookup(names):
    if names is None:
        return None
    if hasattr(names, "ids") and hasattr(names, "names"):  # MineralList
        return dict(zip(names.ids, names.names))
    if isinstance(names, pd.DataFrame):
        return {int(i): str(n) for i, n in names["name"].items()}
    return names


def confusion_table(reference, predicted, *, mask=None, names=None, normalize: bool = False) -> pd.DataFrame:
    """Pixel confusion matrix of a predicted label map against a reference map, as a table.

    The counts are :func:`liberation.metrics.confusion_matrix` over the labels present in
    either map (within ``mask``).

    Parameters
    ----------
    reference, predicted : numpy.ndarray of int, same shape (y, x)
        Reference and predicted mineral label maps.
    mask : numpy.ndarray of bool, shape (y, x), optional
        Pixels to count (default: reference > 0).
    names : MineralList, DataFrame with ``name``, or mapping id -> name, optional
        Row/column labels.
    normalize : bool
        Divide each row by its total (fractions of the reference class).

    Returns
    -------
    pandas.DataFrame
        Rows: reference label; columns: predicted label; pixel counts (or fractions).
    """
    pred, ref = _pair(predicted, reference, mask)
    names = _names_lookup(names)
    ids = sorted(set(np.unique(ref).tolist()) | set(np.unique(pred).tolist()))
    if ids:
        counts = _counts(ref, pred, class_ids=ids, ignore_index=None)
    else:
        counts = np.zeros((0, 0), dtype=np.int64)
    labels = [_name(names, i) for i in ids]
    table = pd.DataFrame(counts, index=pd.Index(labels, name="reference"), columns=pd.Index(labels, name="predicted"))
    if normalize:
        table = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    return table


def confusion_matrix(predicted, reference, *, mask=None, names=None, normalize: bool = False) -> pd.DataFrame:
    """Deprecated: use :func:`confusion_table` (``reference`` first).

    Kept for one release with its old argument order ``(predicted, reference)``; warns with
    :class:`DeprecationWarning`. For a plain count array use :func:`liberation.metrics.confusion_matrix`.
    """
    warnings.warn("liberation.labels.confusion_matrix(predicted, reference) is deprecated; use "
                  "liberation.labels.confusion_table(reference, predicted) (note the argument order)",
                  DeprecationWarning, stacklevel=2)
    return confusion_table(reference, predicted, mask=mask, names=names, normalize=normalize)


def pixel_accuracy(predicted, reference, *, mask=None) -> float:
    """Fraction of pixels (of ``mask``, default reference > 0) where predicted equals reference."""
    pred, ref = _pair(predicted, reference, mask)
    if ref.size == 0:
        raise InputError("no pixel to compare (the mask or the reference is empty)")
    return float(np.mean(pred == ref))


def accuracy_table(predicted, reference, *, mask=None, names=None) -> pd.DataFrame:
    """Per-mineral accuracy against a reference map.

    Returns
    -------
    pandas.DataFrame
        Index: reference mineral; columns ``pixels`` (reference), ``correct``, ``recall``
        (producer's accuracy), ``precision`` (user's accuracy), ``iou``. ``attrs["overall"]`` is the
        pixel accuracy.
    """
    pred, ref = _pair(predicted, reference, mask)
    names = _names_lookup(names)
    rows = []
    for i in sorted(np.unique(ref).tolist()):
        in_ref, in_pred = ref == i, pred == i
        tp = int(np.sum(in_ref & in_pred))
        union = int(np.sum(in_ref | in_pred))
        rows.append({"mineral": _name(names, i), "id": i, "pixels": int(in_ref.sum()), "correct": tp,
                     "recall": tp / max(int(in_ref.sum()), 1), "precision": tp / max(int(in_pred.sum()), 1) if
                     in_pred.any() else np.nan, "iou": tp / max(union, 1)})
    table = pd.DataFrame(rows).set_index("mineral")
    table.attrs["overall"] = float(np.mean(pred == ref)) if ref.size else np.nan
    return table


def abundance_table(label_map, *, names=None, mask=None, densities=None) -> pd.DataFrame:
    """Area (and optionally mass) abundance of each label in a map.

    Parameters
    ----------
    label_map : numpy.ndarray
        Integer labels; 0 = outside.
    names : MineralList, DataFrame with ``name`` (and ``density``) or mapping id -> name, optional
    mask : numpy.ndarray of bool, optional
        Pixels to count (default: label > 0).
    densities : mapping id -> g/cm³, optional
        Adds ``mass_percent`` (area fraction x density, renormalised).

    Returns
    -------
    pandas.DataFrame
        Index ``id``; columns ``name``, ``pixels``, ``percent`` (of the counted pixels)[, ``mass_percent``].
    """
    label_map = np.asarray(label_map)
    if label_map.dtype.kind not in "ui":
        raise InputError(f"label_map has dtype {label_map.dtype}; expected integer labels")
    if mask is None:
        values = label_map[label_map > 0]
    else:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != label_map.shape:
            raise InputError(f"mask has shape {mask.shape}; expected {label_map.shape}")
        values = label_map[mask & (label_map > 0)]
    if densities is None and isinstance(names, pd.DataFrame) and "density" in names:
        densities = {int(i): float(d) for i, d in names["density"].items()}
    if densities is None and hasattr(names, "density_lut"):
        densities = {m.id: m.density for m in names}
    lookup = _names_lookup(names)
    counts = np.bincount(values.astype(np.int64).ravel(), minlength=1)
    ids = [i for i in range(1, counts.size) if counts[i] > 0]
    if lookup is not None:
        ids = sorted(set(ids) | {int(i) for i in (lookup.keys() if isinstance(lookup, Mapping) else [])})
    total = max(int(values.size), 1)
    pix = [int(counts[i]) if i < counts.size else 0 for i in ids]
    table = pd.DataFrame({"name": [_name(lookup, i) for i in ids], "pixels": pix,
                          "percent": [100.0 * p / total for p in pix]}, index=pd.Index(ids, name="id"))
    if densities is not None:
        dens = np.array([float(densities.get(i, np.nan)) for i in ids])
        mass = np.array(pix, dtype=float) * dens
        if np.isfinite(mass).all() and mass.sum() > 0:
            table["mass_percent"] = 100.0 * mass / mass.sum()
    return table


def compare_abundance(label_map, xrd, *, names, by: str = "area", mask=None) -> pd.DataFrame:
    """Compare map abundances with an XRD (or other bulk) table.

    Parameters
    ----------
    label_map : numpy.ndarray
        Mineral labels.
    xrd : mapping of str to float, or pandas.Series / DataFrame (``mineral``, ``percent``)
        Abundance per mineral name in %; XRD gives wt%, so use ``by="mass"`` when densities are known.
    names : MineralList or DataFrame with ``name`` (and ``density``) or mapping id -> name
    by : {"area", "mass"}
        Compare area % or mass % (area x density) of the map.
    mask : numpy.ndarray of bool, optional

    Returns
    -------
    pandas.DataFrame
        Index ``mineral``; columns ``map_percent``, ``reference_percent``, ``difference_pp`` (map - reference).
        Minerals only in one of the two get 0 in the other.
    """
    if by not in ("area", "mass"):
        raise InputError(f"by={by!r}; expected 'area' or 'mass'")
    if isinstance(xrd, pd.DataFrame):
        if not {"mineral", "percent"} <= set(xrd.columns):
            raise InputError(f"xrd table has columns {list(xrd.columns)}; expected 'mineral' and 'percent'")
        ref = dict(zip(xrd["mineral"].astype(str), xrd["percent"].astype(float)))
    elif isinstance(xrd, pd.Series):
        ref = {str(k): float(v) for k, v in xrd.items()}
    elif isinstance(xrd, Mapping):
        ref = {str(k): float(v) for k, v in xrd.items()}
    else:
        raise InputError(f"xrd has type {type(xrd).__name__}; expected a mapping mineral -> percent or a table")
    table = abundance_table(label_map, names=names, mask=mask)
    column = "percent"
    if by == "mass":
        if "mass_percent" not in table:
            raise InputError("by='mass' needs the density of every mineral in names")
        column = "mass_percent"
    found = dict(zip(table["name"], table[column]))
    minerals = list(dict.fromkeys([*found, *ref]))
    out = pd.DataFrame({"map_percent": [float(found.get(m, 0.0)) for m in minerals],
                        "reference_percent": [float(ref.get(m, 0.0)) for m in minerals]},
                       index=pd.Index(minerals, name="mineral"))
    out["difference_pp"] = out["map_percent"] - out["reference_percent"]
    return out
