"""Mixed (grain-boundary) pixels: two-centre unmixing, K-means fitted on pure pixels, unmixed abundance (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.labels import kmeans_maps, mixed_pixels, unmixed_abundance


def _two_minerals(rng, t_mixed, n_pure=400, noise=1.0):
    a, b = np.zeros(4), np.array([20.0, -10.0, 5.0, 0.0])
    pure_a = a + noise * rng.standard_normal((n_pure, 4))
    pure_b = b + noise * rng.standard_normal((n_pure, 4))
    mix = (1 - t_mixed)[:, None] * a + t_mixed[:, None] * b + noise * rng.standard_normal((t_mixed.size, 4))
    return np.vstack([pure_a, pure_b, mix]), np.vstack([a, b])


def test_mixed_pixels_finds_mixtures_and_their_fraction():
    rng = np.random.default_rng(0)
    t_true = np.linspace(0.3, 0.7, 200)
    rows, centres = _two_minerals(rng, t_true)
    mixed, first, second, t = mixed_pixels(rows, centres)
    assert mixed[800:].all()  # every 30-70 % mixture is found
    assert mixed[:800].mean() < 0.01  # pure pixels: chi-square(1) > 9 in 0.3 %
    frac_b = np.where(first[800:] == 1, 1 - t[800:], t[800:])  # fraction of centre 1 (b)
    assert np.abs(frac_b - t_true).max() < 0.15  # noise 1 on a 22.9-unit segment
    assert np.abs(frac_b - t_true).mean() < 0.05


def test_rim_pixels_are_mixtures_with_the_void():
    """A pixel half sample, half void (no signal) is mixed only when the void is given as an endmember."""
    rng = np.random.default_rng(2)
    a, b, void = np.array([10.0, 10.0, 0.0]), np.array([10.0, 20.0, -30.0]), np.array([-20.0, -5.0, -5.0])
    rim = (a + void) / 2 + 0.5 * rng.standard_normal((50, 3))
    rows = np.vstack([a + 0.5 * rng.standard_normal((50, 3)), rim])
    without = mixed_pixels(rows, np.vstack([a, b]))[0]
    with_void = mixed_pixels(rows, np.vstack([a, b]), void=void)[0]
    assert not without[50:].any()
    assert with_void[50:].all() and not with_void[:50].any()


def test_unmixed_abundance_splits_mixed_pixels_exactly():
    """Noiseless rows: 10 pixels of a, 10 half-and-half pixels labelled a between them and 10 of b
    -> 50 % / 50 % (pixel counts: 66.7 / 33.3); a neighbour of another label is the partner."""
    a, b = np.array([0.0, 0.0, 0.0]), np.array([30.0, -12.0, 4.0])
    rows = np.vstack([np.tile(a, (10, 1)), np.tile((a + b) / 2, (10, 1)), np.tile(b, (10, 1))])
    labels = np.repeat(np.array([1, 1, 2], dtype=np.uint8), 10).reshape(3, 10)
    mask = np.ones((3, 10), bool)
    pure = np.ones((3, 10), bool)
    pure[1] = False
    shares = unmixed_abundance(labels, mask, rows, pure=pure)
    assert shares[1] == pytest.approx(50.0) and shares[2] == pytest.approx(50.0)
    # without the neighbour of label 2 nothing is split
    far = np.repeat(np.array([1, 1, 1, 2], dtype=np.uint8), 10).reshape(4, 10)
    rows_far = np.vstack([rows[:20], np.tile(a, (10, 1)), rows[20:]])
    shares = unmixed_abundance(far, np.ones((4, 10), bool), rows_far, pure=np.vstack([pure, np.ones((1, 10), bool)]))
    assert shares[1] == pytest.approx(75.0) and shares[2] == pytest.approx(25.0)


def test_mixed_option_is_checked():
    maps = {"Fe": np.ones((8, 8)), "Ca": np.arange(64.0).reshape(8, 8)}
    with pytest.raises(InputError, match="mixed='drop'"):
        kmeans_maps(maps, n_clusters=2, mask=None, denoise=None, mixed="drop")
