"""Segmentation metrics: accuracy without void, per-class accuracy, mIoU, confusion matrix,
instance F1 at IoU 0.5, count error, inter-slice consistency. Pure numpy, vectorised."""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError
from liberation.metrics import confusion_matrix  # the package's one confusion matrix, re-exported

__all__ = ["confusion_matrix", "phase_metrics", "instance_metrics", "interslice_consistency"]


def phase_metrics(cm, *, class_names=None, void_index: int | None = 0) -> dict:
    """Accuracy excluding void, per-class accuracy (recall), IoU, mIoU and the row-normalised matrix.

    Parameters
    ----------
    cm : ndarray, shape (n, n)
        Confusion matrix (rows true, columns predicted).
    class_names : list of str, optional
    void_index : int or None
        Row/column of void, excluded from the overall accuracy and the mIoU (as in
        Deep-XFCT: "with the voids excluded"); None keeps every class.

    Returns
    -------
    dict
        ``accuracy`` (true non-void voxels predicted correctly / true non-void voxels),
        ``accuracy_all``, ``per_class_accuracy`` {name: value}, ``iou`` {name: value},
        ``miou`` (mean over non-void classes present in the truth), ``confusion_normalized``
        (list of rows), ``confusion`` (counts), ``class_names``.
    """
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise InputError(f"class_names has {len(names)} entries; expected {n}")
    diag = np.diag(cm)
    rows = cm.sum(1)
    cols = cm.sum(0)
    keep = np.ones(n, dtype=bool)
    if void_index is not None:
        keep[void_index] = False
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = diag / rows
        iou = diag / (rows + cols - diag)
        norm = cm / rows[:, None]
    acc = float(diag[keep].sum() / rows[keep].sum()) if rows[keep].sum() > 0 else float("nan")
    present = keep & (rows > 0)
    miou = float(np.nanmean(iou[present])) if present.any() else float("nan")
    return {
        "accuracy": acc,
        "accuracy_all": float(diag.sum() / cm.sum()) if cm.sum() > 0 else float("nan"),
        "per_class_accuracy": {names[i]: float(per_class[i]) for i in range(n)},
        "iou": {names[i]: float(iou[i]) for i in range(n)},
        "miou": miou,
        "confusion_normalized": np.nan_to_num(norm).tolist(),
        "confusion": cm.astype(np.int64).tolist(),
        "class_names": names,
    }


def instance_metrics(true, pred, *, iou_threshold: float = 0.5) -> dict:
    """Instance detection F1 at an IoU threshold, and the count error.

    A true and a predicted instance match when their IoU exceeds ``iou_threshold``
    (>= 0.5 makes matches unique).

    Parameters
    ----------
    true, pred : array-like of int, same shape
        Instance labels, 0 = background.

    Returns
    -------
    dict
        ``n_true``, ``n_pred``, ``tp``, ``precision``, ``recall``, ``f1``, ``count_error``
        (``(n_pred - n_true) / n_true``), ``mean_matched_iou``.
    """
    true = np.asarray(true).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    if true.shape != pred.shape:
        raise InputError(f"true has {true.size} voxels but pred has {pred.size}; they must match")
    t_ids, t_inv = np.unique(true, return_inverse=True)
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    t_area = np.bincount(t_inv)
    p_area = np.bincount(p_inv)
    both = (true > 0) & (pred > 0)
    pair = t_inv[both] * len(p_ids) + p_inv[both]
    pairs, inter = np.unique(pair, return_counts=True)
    ti, pi = np.divmod(pairs, len(p_ids))
    iou = inter / (t_area[ti] + p_area[pi] - inter)
    matched = iou > iou_threshold
    n_true = int((t_ids > 0).sum())
    n_pred = int((p_ids > 0).sum())
    tp = int(matched.sum())
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * tp / (n_true + n_pred) if (n_true + n_pred) else 1.0
    return {
        "n_true": n_true,
        "n_pred": n_pred,
        "tp": tp,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "count_error": float((n_pred - n_true) / n_true) if n_true else float("nan"),
        "mean_matched_iou": float(iou[matched].mean()) if tp else 0.0,
    }


def interslice_consistency(labels, *, axis: int = 0, ignore_void: bool = True) -> float:
    """Fraction of voxels whose label equals the label of the next slice along ``axis``.

    Striations of a slice-by-slice (2D) segmentation lower this value; compare it with the
    value of the truth. Pairs where both voxels are void are skipped when ``ignore_void``.

    Parameters
    ----------
    labels : array-like of int, shape (z, y, x)
    axis : int
    ignore_void : bool

    Returns
    -------
    float
    """
    labels = np.asarray(labels)
    if labels.shape[axis] < 2:
        raise InputError(f"labels have {labels.shape[axis]} slices along axis {axis}; need at least 2")
    a = np.take(labels, np.arange(labels.shape[axis] - 1), axis=axis)
    b = np.take(labels, np.arange(1, labels.shape[axis]), axis=axis)
    keep = ((a != 0) | (b != 0)) if ignore_void else np.ones(a.shape, dtype=bool)
    if not keep.any():
        return float("nan")
    return float((a[keep] == b[keep]).mean())
