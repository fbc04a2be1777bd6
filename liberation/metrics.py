"""One confusion matrix for the whole package (3D phases, 2D mineral maps, belt frames)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from liberation._validation import check_same_shape
from liberation.errors import InputError

__all__ = ["IGNORE", "confusion_matrix"]

#: Label value of an unlabelled voxel or pixel (``labels/sparse``, training masks).
IGNORE = 255


def confusion_matrix(
    truth,
    predicted,
    *,
    class_ids: Iterable[int] | None = None,
    num_classes: int | None = None,
    ignore_index: int | None = IGNORE,
    mask=None,
) -> np.ndarray:
    """Counts ``cm[i, j]`` of voxels of true class ``class_ids[i]`` predicted as ``class_ids[j]``.

    Rows are the truth, columns the prediction, in the order of ``class_ids``.

    Parameters
    ----------
    truth, predicted : array_like of int, same shape (any number of dimensions)
        True and predicted label per voxel or pixel.
    class_ids : iterable of int, optional
        The classes (rows and columns). Give this or ``num_classes``.
    num_classes : int, optional
        Shorthand for ``class_ids = range(num_classes)``.
    ignore_index : int or None
        Truth value that is skipped (default 255, unlabelled).
    mask : array_like of bool, same shape, optional
        Count only these voxels.

    Returns
    -------
    numpy.ndarray of int64, shape (n, n)

    Raises
    ------
    InputError
        Shapes differ, neither or both of ``class_ids`` / ``num_classes`` are given, or a
        counted truth or predicted value is not one of the classes.
    """
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    check_same_shape(truth, predicted, name_a="truth", name_b="predicted")
    if (class_ids is None) == (num_classes is None):
        raise InputError("give exactly one of class_ids= and num_classes=")
    if num_classes is not None:
        if int(num_classes) < 1:
            raise InputError(f"num_classes={num_classes!r} must be a positive integer")
        class_ids = range(int(num_classes))
    ids = np.asarray(list(class_ids), dtype=np.int64)
    if ids.size == 0 or ids.min() < 0 or len(np.unique(ids)) != ids.size:
        raise InputError(f"class_ids={ids.tolist()!r}: expected distinct non-negative integers")
    t = truth.ravel().astype(np.int64)
    p = predicted.ravel().astype(np.int64)
    keep = np.ones(t.shape, dtype=bool)
    if ignore_index is not None:
        keep &= t != ignore_index
    if mask is not None:
        mask = np.asarray(mask)
        check_same_shape(truth, mask, name_a="truth", name_b="mask")
        keep &= mask.ravel().astype(bool)
    t, p = t[keep], p[keep]
    n = ids.size
    top = int(max(ids.max(), t.max(initial=0), p.max(initial=0))) + 1
    lut = np.full(top, -1, dtype=np.int64)
    lut[ids] = np.arange(n)
    ti = lut[np.clip(t, 0, None)]
    pi = lut[np.clip(p, 0, None)]
    ti[t < 0] = -1
    pi[p < 0] = -1
    for name, values, index in (("truth", t, ti), ("predicted", p, pi)):
        if (index < 0).any():
            bad = np.unique(values[index < 0])[:5].tolist()
            raise InputError(f"{name} holds labels {bad} that are not among the classes {ids.tolist()}")
    return np.bincount(ti * n + pi, minlength=n * n).reshape(n, n).astype(np.int64)
