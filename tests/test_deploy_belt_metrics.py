"""Accuracy / mPA / mIoU against hand-computed confusion matrices (paper formulas 1-3)."""

import numpy as np
import pytest

from liberation.deploy.belt.metrics import confusion_matrix, segmentation_metrics
from liberation.errors import InputError


def test_confusion_matrix_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 0]])
    cm = confusion_matrix(truth, pred, num_classes=3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]


def test_metrics_formulas_by_hand():
    cm = np.array([[50, 10, 0], [5, 30, 5], [0, 0, 20]])
    m = segmentation_metrics(cm, class_names=["bg", "ore", "waste"])
    assert m["accuracy"] == pytest.approx(100 / 120)
    pa = [50 / 60, 30 / 40, 20 / 20]
    assert m["mpa"] == pytest.approx(np.mean(pa))
    iou = [50 / (60 + 55 - 50), 30 / (40 + 40 - 30), 20 / (20 + 25 - 20)]
    assert m["miou"] == pytest.approx(np.mean(iou))
    assert m["iou"]["ore"] == pytest.approx(0.6)


def test_absent_class_left_out_and_ignore_index():
    truth = np.array([0, 0, 1, 255])
    pred = np.array([0, 0, 1, 2])
    cm = confusion_matrix(truth, pred, num_classes=3, ignore_index=255)
    m = segmentation_metrics(cm)
    assert m["miou"] == 1.0 and np.isnan(m["iou"]["2"])


def test_metrics_errors():
    with pytest.raises(InputError):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), num_classes=2)
    with pytest.raises(InputError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=2)
    with pytest.raises(InputError):
        segmentation_metrics(np.zeros((2, 3)))
