"""Validation helpers against independent implementations (scikit-learn) and hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion

from liberation.errors import InputError
from liberation.labels import abundance_table, accuracy_table, compare_abundance, confusion_table, pixel_accuracy
from liberation.labels.validate import confusion_matrix as deprecated_confusion_matrix
from liberation.minerals import spodumene_ore


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(0)
    ref = rng.integers(1, 5, (40, 30)).astype(np.uint8)
    pred = np.where(rng.random(ref.shape) < 0.8, ref, rng.integers(1, 5, ref.shape)).astype(np.uint8)
    table = confusion_table(ref, pred, names=spodumene_ore())
    expected = sk_confusion(ref.ravel(), pred.ravel(), labels=[1, 2, 3, 4])
    np.testing.assert_array_equal(table.to_numpy(), expected)
    assert list(table.index) == spodumene_ore().names
    assert pixel_accuracy(pred, ref) == pytest.approx(np.trace(expected) / expected.sum())


def test_accuracy_table_hand_counts():
    ref = np.array([[1, 1, 2, 2, 0]], dtype=np.uint8)
    pred = np.array([[1, 2, 2, 2, 1]], dtype=np.uint8)
    table = accuracy_table(pred, ref, names={1: "a", 2: "b"})
    assert table.loc["a", "recall"] == 0.5 and table.loc["a", "precision"] == 1.0
    assert table.loc["b", "recall"] == 1.0 and table.loc["b", "precision"] == pytest.approx(2 / 3)
    assert table.loc["b", "iou"] == pytest.approx(2 / 3)
    assert table.attrs["overall"] == 0.75


def test_abundance_and_xrd_comparison():
    labels = np.array([[1, 1, 1, 2], [2, 2, 2, 0]], dtype=np.uint8)  # 3 px id1, 4 px id2
    names = pd.DataFrame({"name": ["spodumene", "quartz"], "density": [3.15, 2.65]}, index=pd.Index([1, 2], name="id"))
    ab = abundance_table(labels, names=names)
    assert ab.loc[1, "percent"] == pytest.approx(300 / 7)
    mass1 = 3 * 3.15 / (3 * 3.15 + 4 * 2.65) * 100
    assert ab.loc[1, "mass_percent"] == pytest.approx(mass1)
    cmp = compare_abundance(labels, {"spodumene": 40.0, "quartz": 55.0, "albite": 5.0}, names=names)
    assert cmp.loc["spodumene", "difference_pp"] == pytest.approx(300 / 7 - 40)
    assert cmp.loc["albite", "map_percent"] == 0.0
    cmp_mass = compare_abundance(labels, {"spodumene": 40.0}, names=names, by="mass")
    assert cmp_mass.loc["spodumene", "map_percent"] == pytest.approx(mass1)


def test_validation_errors():
    with pytest.raises(InputError, match="shape"):
        pixel_accuracy(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))
    with pytest.raises(InputError, match="dtype"):
        confusion_table(np.ones((2, 2), np.uint8), np.zeros((2, 2)))


def test_deprecated_confusion_matrix_keeps_old_argument_order():
    ref = np.array([[1, 1, 2, 2]], dtype=np.uint8)
    pred = np.array([[1, 2, 2, 2]], dtype=np.uint8)
    with pytest.warns(DeprecationWarning, match="confusion_table"):
        old = deprecated_confusion_matrix(pred, ref, names={1: "a", 2: "b"}, normalize=True)
    pd.testing.assert_frame_equal(old, confusion_table(ref, pred, names={1: "a", 2: "b"}, normalize=True))
    assert old.loc["a", "b"] == 0.5
