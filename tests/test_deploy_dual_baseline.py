"""Dual-energy synthetic data, R-value baseline (closed form) and metrics (by hand / scikit-learn)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from liberation.deploy.dual_energy.baseline import (
    RValueClassifier,
    fit_threshold,
    fragment_mask,
    log_attenuation,
    r_value,
)
from liberation.deploy.dual_energy.metrics import classification_metrics, roc_auc, summarize_runs
from liberation.deploy.dual_energy.synthetic import attenuation_coefficient, make_dual_energy_set
from liberation.errors import InputError


def test_r_value_closed_form_monochromatic_slab():
    # one material, monochromatic: A = mu * t, so R = mu_low / mu_high whatever the thickness
    mu_h, mu_l = 0.37, 0.95
    t = np.zeros((3, 16, 16))
    t[0, 4:12, 4:12] = 1.0
    t[1, 2:14, 3:13] = 4.0
    yy, xx = np.mgrid[:16, :16]
    t[2] = np.clip(6.0 - 0.5 * np.hypot(yy - 8, xx - 8), 0, None) * ((yy - 8) ** 2 + (xx - 8) ** 2 < 36)
    high, low = np.exp(-mu_h * t), np.exp(-mu_l * t)
    r = r_value(high, low, mask=t > 0)
    np.testing.assert_allclose(r, mu_l / mu_h, rtol=1e-9)
    # default mask (above the border = belt level) gives the same here
    np.testing.assert_allclose(r_value(high, low), mu_l / mu_h, rtol=1e-9)
    np.testing.assert_array_equal(fragment_mask(high), (mu_h * t) > 0.05)


def test_log_attenuation_and_bad_shapes():
    np.testing.assert_allclose(log_attenuation([1.0, np.exp(-2.0)]), [0.0, 2.0])
    with pytest.raises(InputError, match="shape"):
        r_value(np.ones((4, 4)), np.ones((4, 5)))


def test_fit_threshold_by_hand():
    s = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([0, 0, 0, 1, 1, 1])
    thr, d = fit_threshold(s, y)
    assert d == 1 and 3.0 < thr < 4.0 and thr == pytest.approx(3.5)
    thr, d = fit_threshold(-s, y)  # reversed relation
    assert d == -1 and thr == pytest.approx(-3.5)
    assert ((d * -s >= d * thr).astype(int) == y).all()


def test_metrics_by_hand_and_sklearn():
    y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.7, 0.4])
    m = classification_metrics(y, s, threshold=0.5)
    # called ore: 0.9, 0.8, 0.6, 0.7 -> tp=3 fp=1; missed 0.3 -> fn=1; tn=3
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 1, 3)
    assert m["precision"] == pytest.approx(0.75) and m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75) and m["accuracy"] == pytest.approx(0.75)
    # AUC: pairs (pos, neg) correctly ordered = 16 - (0.3 < 0.6, 0.3 < 0.4) = 14 of 16
    assert m["auc"] == pytest.approx(14 / 16)
    import sklearn.metrics as sk  # a core dependency: never a skip

    ties = np.array([0.5, 0.5, 0.2, 0.5, 0.1, 0.9, 0.5, 0.2])
    assert roc_auc(y, ties) == pytest.approx(sk.roc_auc_score(y, ties))
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))
    summ = summarize_runs([{"auc": 0.8, "f1": 0.5, "recall": 1, "precision": 0, "accuracy": 0.6},
                           {"auc": 0.6, "f1": 0.5, "recall": 1, "precision": 0, "accuracy": 0.8}])
    assert summ["auc"] == pytest.approx((0.7, 0.1))


def test_attenuation_table():
    # chalcopyrite attenuates far more than quartz at low energy, and the ratio shrinks at high energy
    lo = attenuation_coefficient("chalcopyrite", 60) / attenuation_coefficient("quartz", 60)
    hi = attenuation_coefficient("chalcopyrite", 150) / attenuation_coefficient("quartz", 150)
    assert lo > 5 and 1 < hi < lo / 2
    assert attenuation_coefficient("quartz", 100) == pytest.approx(0.168 * 2.65)
    with pytest.raises(InputError, match="mineral"):
        attenuation_coefficient("gold", 60)


def test_synthetic_set_truth_and_confounding():
    s = make_dual_energy_set(400, size=24, seed=5)
    assert s.stack().shape == (400, 2, 24, 24) and s.stack().dtype == np.float32
    assert 0.3 < s.label.mean() < 0.7
    assert ((s.high > 0) & (s.high <= 1)).all() and ((s.low > 0) & (s.low <= 1)).all()
    np.testing.assert_array_equal(s.label, (s.cu_pct >= 0.5).astype(int))
    # low energy is attenuated more than high energy inside the fragment
    assert (log_attenuation(s.low)[s.mask].mean()) > 1.5 * log_attenuation(s.high)[s.mask].mean()
    # a single energy confounds grade and thickness: the mean attenuation tracks thickness, not grade
    ah = (log_attenuation(s.high) * s.mask).sum((1, 2)) / s.mask.sum((1, 2))
    assert abs(np.corrcoef(ah, s.thickness_cm)[0, 1]) > 0.8
    assert roc_auc(s.label, ah) < 0.65
    # same seed -> same data
    s2 = make_dual_energy_set(400, size=24, seed=5)
    np.testing.assert_array_equal(s.high, s2.high)
    with pytest.raises(InputError, match="thickness_range_cm"):
        make_dual_energy_set(2, thickness_range_cm=(3, 1))


def test_r_value_baseline_better_than_chance_but_thickness_biased():
    tr = make_dual_energy_set(600, size=24, seed=1)
    te = make_dual_energy_set(600, size=24, seed=2)
    clf = RValueClassifier().fit(tr.high, tr.low, tr.label)
    assert clf.direction == 1  # sulfide raises R
    m = clf.evaluate(te.high, te.low, te.label)
    assert 0.6 < m["auc"] < 0.9
    np.testing.assert_array_equal(clf.predict(te.high, te.low) == 1,
                                  clf.score(te.high, te.low) >= clf.threshold)
    # beam hardening: R falls with thickness
    assert np.corrcoef(r_value(te.high, te.low), te.thickness_cm)[0, 1] < -0.3
    with pytest.raises(InputError, match="not fitted"):
        RValueClassifier().predict(te.high, te.low)


def test_light_imports():
    code = ("import sys, liberation, liberation.deploy.fragments.sizing, liberation.deploy.fragments.distribution, "
            "liberation.deploy.dual_energy.baseline, liberation.deploy.dual_energy.metrics, liberation.deploy.dual_energy.synthetic, "
            "liberation.deploy.fragments.synthetic, liberation.cli.deploy_dual; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
