"""Binary classification metrics for ore/waste sorting: AUC, F1, recall, precision, accuracy.

numpy only (no torch, no scikit-learn needed). Ore is the positive class (label 1).
"""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError

__all__ = ["roc_auc", "classification_metrics", "summarize_runs", "METRIC_NAMES"]

METRIC_NAMES = ("auc", "f1", "recall", "precision", "accuracy")


def _check(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise InputError(f"y_true has {y.size} values but score has {s.size}; they must match")
    if y.size == 0:
        raise InputError("y_true is empty; expected at least one sample")
    if not np.isin(y, (0, 1)).all():
        raise InputError(f"y_true has values {np.unique(y)[:5]}; expected 0 (waste) and 1 (ore)")
    if not np.all(np.isfinite(s)):
        raise InputError("score has NaN or infinite values")
    return y.astype(np.int64), s


def roc_auc(y_true, score) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties).

    Returns NaN when only one class is present.
    """
    from scipy.stats import rankdata

    y, s = _check(y_true, score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(y_true, score, *, threshold: float = 0.5) -> dict:
    """AUC, F1, recall, precision and accuracy of a scored binary classifier.

    Parameters
    ----------
    y_true : array_like of {0, 1}, shape (n,)
        Truth, 1 = ore.
    score : array_like, shape (n,)
        Higher = more likely ore (a probability, or any score such as the R-value).
    threshold : float
        A sample is called ore when ``score >= threshold``.

    Returns
    -------
    dict
        ``auc, f1, recall, precision, accuracy`` (fractions 0..1) and ``tp, fp, tn, fn, n``.
        Precision (or F1) is 0 when nothing is called ore.
    """
    y, s = _check(y_true, score)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"auc": roc_auc(y, s), "f1": f1, "recall": recall, "precision": precision,
            "accuracy": (tp + tn) / y.size, "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": int(y.size)}


def summarize_runs(runs: list[dict], *, keys=METRIC_NAMES) -> dict:
    """Mean and standard deviation (ddof=0) of each metric over several runs (e.g. seeds).

    Returns ``{key: (mean, std)}``.
    """
    if not runs:
        raise InputError("runs is empty; expected at least one metrics dict")
    out = {}
    for k in keys:
        v = np.array([float(r[k]) for r in runs])
        out[k] = (float(v.mean()), float(v.std()))
    return out
