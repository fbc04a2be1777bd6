"""Size distribution: passing curve, percentiles, Rosin-Rammler, oversize alarm, plot."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.deploy.fragments.distribution import (
    fit_rosin_rammler,
    oversize_alarm,
    passing_curve,
    percentile_size,
    plot_size_distribution,
    rosin_rammler,
    size_distribution,
)
from liberation.errors import InputError


def test_passing_curve_by_hand():
    c = passing_curve([2.0, 1.0, 3.0], weights="number")
    np.testing.assert_allclose(c["size"], [1, 2, 3])
    np.testing.assert_allclose(c["passing_pct"], [100 / 3, 200 / 3, 100])
    v = passing_curve([1.0, 2.0], weights="volume")  # weights 1 and 8
    np.testing.assert_allclose(v["passing_pct"], [100 / 9, 100])


def test_percentile_interpolation_by_hand():
    sizes = [1.0, 2.0, 3.0, 4.0]
    # number passing at sizes: 25, 50, 75, 100 -> P80 = 3 + (80-75)/25 = 3.2
    assert percentile_size(sizes, 80, weights="number") == pytest.approx(3.2)
    assert percentile_size(sizes, 50, weights="number") == pytest.approx(2.0)
    assert percentile_size(sizes, 10, weights="number") == pytest.approx(1.0)
    with pytest.raises(InputError, match="q="):
        percentile_size(sizes, 120)


def test_rosin_rammler_recovered():
    s = np.geomspace(0.5, 30, 40)
    p = 100 * rosin_rammler(s, 8.0, 1.7)
    x63, n, r2 = fit_rosin_rammler(s, p)
    assert x63 == pytest.approx(8.0, rel=1e-6)
    assert n == pytest.approx(1.7, rel=1e-6)
    assert r2 == pytest.approx(1.0)


def test_oversize_alarm():
    out = oversize_alarm([1.0, 2.0, 10.0], limit=5.0, weights="number", max_fraction=0.2)
    assert out["count"] == 1 and out["fraction"] == pytest.approx(1 / 3) and out["alarm"]
    ok = oversize_alarm([1.0, 2.0, 10.0], limit=20.0)
    assert ok["count"] == 0 and not ok["alarm"]


def test_size_distribution_and_plot():
    rng = np.random.default_rng(0)
    sizes = 6.0 * (-np.log(rng.uniform(size=300))) ** (1 / 2.0)
    sizes = sizes[sizes > 0.1]
    d = size_distribution(sizes, oversize_limit=12.0)
    assert d.p50 < d.p80
    assert d.p80 == pytest.approx(percentile_size(sizes, 80))
    summary = d.summary()
    assert summary["n_fragments"] == len(sizes) and summary["oversize"]["limit"] == 12.0
    fig = plot_size_distribution(d, title="test")
    assert len(fig.axes) == 1 and fig.axes[0].get_xscale() == "log"


def test_bad_sizes():
    with pytest.raises(InputError, match="empty"):
        passing_curve([])
    with pytest.raises(InputError, match="positive"):
        passing_curve([1.0, -2.0])
    with pytest.raises(InputError, match="weights"):
        passing_curve([1.0], weights="mass")
