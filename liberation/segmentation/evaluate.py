"""Evaluation of a phase segmentation on held-out planes, with the 2D and grey-value comparisons."""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError
from liberation.segmentation.metrics import confusion_matrix, interslice_consistency, phase_metrics
from liberation.segmentation.targets import IGNORE

__all__ = ["evaluate_planes"]


def evaluate_planes(pred, truth, *, class_ids, class_names=None, planes=None, void_id: int = 0) -> dict:
    """Phase metrics of ``pred`` on labelled planes of ``truth``.

    Parameters
    ----------
    pred : ndarray of uint8, shape (z, y, x) or (len(planes), y, x)
        Predicted phase ids (whole volume, or just the planes).
    truth : ndarray of uint8, shape (z, y, x)
        Reference labels (255 = unknown), e.g. held-out labelled planes or a phantom's truth.
    class_ids, class_names
        Classes of the confusion matrix.
    planes : sequence of int, optional
        z planes to evaluate; default every plane of ``truth`` with labels.
    void_id : int
        Label value of void (excluded from accuracy and mIoU).

    Returns
    -------
    dict
        :func:`phase_metrics` output plus ``planes`` and ``n_voxels``.
    """
    truth = np.asarray(truth)
    if planes is None:
        planes = [int(z) for z in range(truth.shape[0]) if (np.asarray(truth[z]) != IGNORE).any()]
    planes = [int(z) for z in planes]
    if not planes:
        raise InputError("no plane to evaluate: truth holds no labelled voxel")
    t = np.stack([np.asarray(truth[z]) for z in planes])
    p = np.asarray(pred)
    if p.shape[0] != len(planes) or p.shape != t.shape:
        p = np.stack([np.asarray(pred[z]) for z in planes])
    cm = confusion_matrix(t, p, class_ids=class_ids)
    ids = list(class_ids)
    out = phase_metrics(cm, class_names=class_names, void_index=ids.index(void_id) if void_id in ids else None)
    out["planes"] = planes
    out["n_voxels"] = int(cm.sum())
    return out


def consistency_report(pred_3d, pred_2d, truth) -> dict:
    """Inter-slice consistency of a 3D and a 2D prediction of the same slab, and of the truth."""
    return {
        "interslice_3d": interslice_consistency(pred_3d),
        "interslice_2d": interslice_consistency(pred_2d),
        "interslice_truth": interslice_consistency(truth),
    }
