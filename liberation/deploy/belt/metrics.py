"""Segmentation metrics of the paper (numpy only): confusion matrix, Accuracy, mPA, mIoU.

With ``p_ij`` the number of pixels of true class i predicted as class j (k+1 classes)::

    Accuracy = sum_i p_ii / sum_ij p_ij
    mPA      = 1/(k+1) sum_i p_ii / sum_j p_ij
    mIoU     = 1/(k+1) sum_i p_ii / (sum_j p_ij + sum_j p_ji - p_ii)

Classes absent from both truth and prediction are left out of the means (NaN per class).
The confusion matrix itself is :func:`liberation.metrics.confusion_matrix` (re-exported here).
"""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError
from liberation.metrics import confusion_matrix  # the package's one confusion matrix, re-exported

__all__ = ["confusion_matrix", "segmentation_metrics"]


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
