"""Mixed pixels labelled by their majority member (issue 17): :func:`liberation.labels.unmix_labels`."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.labels import unmix_labels

A, B, C = np.array([0.0, 0.0]), np.array([12.0, 0.0]), np.array([6.0, 3.0])  # C lies near the middle of A-B


def _scene(noise=0.0, seed=0):
    """A | B halves meeting at one column of 60 % A / 40 % B pixels, a 6 x 6 grain of C inside A.

    The mixed column (4.8, 0) is nearer to C (distance 3.2) than to A (4.8): the nearest centre
    labels it C, its majority mineral is A.
    """
    h, w = 20, 21
    frac_b = np.zeros((h, w))
    frac_b[:, 11:] = 1.0
    frac_b[:, 10] = 0.4
    truth = np.where(frac_b > 0.5, 2, 1)
    x = (1 - frac_b)[..., None] * A + frac_b[..., None] * B
    x[2:8, 2:8] = C
    truth[2:8, 2:8] = 3
    x = x + noise * np.random.default_rng(seed).standard_normal(x.shape)
    centres = np.stack([A, B, C])
    nearest = 1 + ((x[..., None, :] - centres) ** 2).sum(-1).argmin(-1)
    return x, truth, nearest


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_mixed_column_goes_to_its_majority_mineral_not_the_mineral_between(noise):
    x, truth, nearest = _scene(noise)
    mask = np.ones(truth.shape, bool)
    assert (nearest[:, 10] == 3).all() and (truth[:, 10] == 1).all()  # the trap: nearest centre says C
    out = unmix_labels(nearest.astype(np.uint8), mask, x.reshape(-1, 2))
    assert out.dtype == np.uint8
    assert (out == truth).all()  # the mixed column is A, the real C grain stays C, nothing else moves


def test_rim_pixel_mostly_void_gets_its_mineral_never_the_void():
    x, truth, nearest = _scene()
    void = np.array([0.0, -10.0])
    mask = np.ones(truth.shape, bool)
    mask[:, 20] = False  # outside the sample, right of the B half
    x = x.copy()
    x[:, 19] = 0.45 * B + 0.55 * void  # (5.4, -5.5): nearest centre A, a B grain 45 % in the pixel
    centres = np.stack([A, B, C])
    labels = (1 + ((x[..., None, :] - centres) ** 2).sum(-1).argmin(-1)).astype(np.uint8)
    labels[~mask] = 0
    assert (labels[:, 19] == 1).all()
    out = unmix_labels(labels, mask, x[mask], void=void)
    assert (out[:, 19] == 2).all() and (out[:, 20] == 0).all()
    without = unmix_labels(labels, mask, x[mask])  # no void member: B alone does not fit, nothing better
    assert (without[:, 19] > 0).all()


def test_bad_inputs_name_the_parameter():
    x, truth, nearest = _scene()
    mask = np.ones(truth.shape, bool)
    with pytest.raises(InputError, match="features"):
        unmix_labels(nearest, mask, x.reshape(-1, 2)[:-1])
    with pytest.raises(InputError, match="mask"):
        unmix_labels(nearest, mask[:-1], x.reshape(-1, 2))
    with pytest.raises(InputError, match="radius"):
        unmix_labels(nearest, mask, x.reshape(-1, 2), radius=0)


def test_unnamed_cluster_of_mixed_pixels_is_dissolved_a_real_unknown_mineral_is_not():
    x, truth, nearest = _scene(0.3)
    mask = np.ones(truth.shape, bool)
    labels = nearest.astype(np.uint8)
    labels[:, 10] = 4  # K-means gave the mixed column a cluster of its own, left unnamed: mean (4.8, 0) on A-B
    x = x.copy()
    x[12:18, 2:8] = np.array([4.0, 12.0])  # a real mineral absent from the reference, far from every segment
    labels[12:18, 2:8] = 5
    truth = truth.copy()
    truth[12:18, 2:8] = 5
    out = unmix_labels(labels, mask, x.reshape(-1, 2), unknown=[4, 5])
    assert (out == truth).all()  # column 10 back to A (its majority), label 4 gone, label 5 kept
    kept = unmix_labels(labels, mask, x.reshape(-1, 2))  # not declared unknown: a label like any other
    assert (kept[:, 10] == 4).all()


def test_centre_refit_recovers_the_centres_of_exact_mixtures():
    """x = (1 - t) c_a + t c_b is linear in the centres: exact mixtures (and the void fixed) give them back."""
    from liberation.labels.unmix import _refit_centres

    rng = np.random.default_rng(0)
    k, n = 4, 400
    centres = rng.normal(scale=10.0, size=(k, 3))
    void = np.array([-5.0, 0.0, 2.0])
    a = rng.integers(0, k, n)
    b = rng.integers(0, k + 1, n)  # k = the void
    t = rng.uniform(0.0, 1.0, n)
    pure = rng.uniform(size=n) < 0.3
    b[pure], t[pure] = a[pure], 0.0
    ends = np.vstack([centres, void])
    rows = (1 - t)[:, None] * ends[a] + t[:, None] * ends[b]
    got = _refit_centres(rows, k, a, b, t, void, np.zeros((k, 3)))
    np.testing.assert_allclose(got, centres, atol=1e-9)
