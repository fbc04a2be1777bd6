"""Segmentation metrics of the paper (numpy only): confusion matrix, Accuracy, mPA, mIoU.

With ``p_ij`` the number of pixels of true class i predicted as class j (k+1 classes)::

    Accuracy = sum_i p_ii / sum_ij p_ij
    mPA      = 1/(k+1) sum_i p_ii / sum_j p_ij
    mIoU     = 1/(k+1) sum_i p_ii / (sum_j p_ij + sum_j p_ji - p_ii)

Classes absent from both truth and prediction are left out of the means (NaN per class).
"""

from __future__ import annotations

import numpy as np

from liberation._validation import check_same_shape
from liberation.errors import InputError

__all__ = ["confusion_matrix", "segmentation_metrics"]


def confusion_matrix(truth, pred, *, num_classes: int, ignore_index: int | None = None) -> np.ndarray:
    """Pixel confusion matrix ``C[i, j]`` = pixels of true class i predicted as j.

    Parameters
    ----------
    truth, pred : array_like of int, same shape
        True and predicted class per pixel.
    num_classes : int
        Number of classes (labels 0..num_classes-1).
    ignore_index : int, optional
        Truth value to skip (e.g. 255 = unlabelled).

    Returns
    -------
    ndarray, (num_classes, num_classes) int64
    """
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    check_same_shape(truth, pred, name_a="truth", name_b="pred")
    if num_classes < 1:
        raise InputError(f"num_classes={num_classes!r} must be positive")
    t = truth.ravel().astype(np.int64)
    p = pred.ravel().astype(np.int64)
    if ignore_index is not None:
        keep = t != ignore_index
        t, p = t[keep], p[keep]
    if t.size and (t.min() < 0 or t.max() >= num_classes or p.min() < 0 or p.max() >= num_classes):
        raise InputError(f"labels must lie in 0..{num_classes - 1}; got truth {t.min()}..{t.max()}, "
                         f"pred {p.min()}..{p.max()}")
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def segmentation_metrics(cm, *, class_names=None) -> dict:
    """Accuracy, mPA, mIoU (paper formulas 1-3) and per-class PA/IoU from a confusion matrix.

    Parameters
    ----------
    cm : array_like, (K, K)
        Confusion matrix (rows truth, columns prediction).
    class_names : sequence of str, optional
        Names for the per-class entries.

    Returns
    -------
    dict
        ``accuracy``, ``mpa``, ``miou`` (floats in 0..1), ``pa`` and ``iou`` (dicts per
        class; NaN where a class is absent from truth and prediction), ``pixels``.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"cm has shape {cm.shape}; expected a square (K, K) confusion matrix")
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    diag = np.diag(cm)
    rows = cm.sum(axis=1)
    cols = cm.sum(axis=0)
    total = cm.sum()
    present = (rows + cols) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pa = np.where(rows > 0, diag / rows, np.where(present, 0.0, np.nan))
        iou = np.where(present, diag / (rows + cols - diag), np.nan)
    return {
        "accuracy": float(diag.sum() / total) if total else float("nan"),
        "mpa": float(np.nanmean(pa)) if present.any() else float("nan"),
        "miou": float(np.nanmean(iou)) if present.any() else float("nan"),
        "pa": {n: float(v) for n, v in zip(names, pa)},
        "iou": {n: float(v) for n, v in zip(names, iou)},
        "pixels": int(total),
    }
