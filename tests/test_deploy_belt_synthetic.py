"""Synthetic XRT belt frames: Beer-Lambert values, truth consistency, seeds, errors (numpy only)."""

import numpy as np
import pytest

from liberation.deploy.belt.synthetic import belt_attenuation, make_belt_dataset, make_belt_image
from liberation.errors import InputError


def test_clean_frame_follows_beer_lambert():
    f = make_belt_image((96, 96), size_class_mm=(10, 15), coverage=0.3, adhesion=0.0, fines=0.0, dust=0.0,
                        gain_sigma=0.0, noise=False, seed=3, mu_gangue_per_mm=0.1, mu_ore_per_mm=0.2,
                        belt_attenuation_total=0.05)
    att = belt_attenuation(f.image, i0=f.i0)
    # empty belt: exactly the belt attenuation (up to count rounding)
    assert np.allclose(att[f.instances == 0], 0.05, atol=2e-3)
    for i, t in zip(f.fragments["id"], f.fragments["thickness_mm"]):
        peak = att[f.instances == i].max() - 0.05
        # path through the thickest point: between all-gangue and all-ore attenuation
        assert 0.1 * t * 0.85 <= peak <= 0.2 * t * 1.001


def test_truth_is_consistent():
    f = make_belt_image((128, 128), size_class_mm=(5, 10), adhesion=0.5, seed=1)
    assert f.image.dtype == np.uint16 and f.mask.dtype == np.uint8 and f.instances.shape == (128, 128)
    n = len(f.fragments["id"])
    assert n > 3 and set(np.unique(f.instances)) == set(range(n + 1))
    lut = np.concatenate([[0], f.fragments["label"]])
    assert np.array_equal(f.mask, lut[f.instances])
    ore = f.fragments["label"] == 1
    assert np.all(f.fragments["grade"][ore] >= 0.35) and np.all(f.fragments["grade"][~ore] < 0.35)
    assert np.all((f.fragments["size_mm"] >= 5) & (f.fragments["size_mm"] <= 10))


def test_seed_reproducible_and_dataset_shapes():
    a = make_belt_image((64, 64), seed=5)
    b = make_belt_image((64, 64), seed=5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    images, masks = make_belt_dataset(5, (64, 64), seed=0)
    assert images.shape == masks.shape == (5, 64, 64)
    assert set(np.unique(masks)) <= {0, 1, 2}


def test_attenuation_inverts_counts():
    counts = np.array([[4000, 2000, 1]], np.uint16)
    att = belt_attenuation(counts, i0=4000.0)
    assert np.allclose(att, [0.0, np.log(2.0), np.log(4000.0)], atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(shape=(8, 8)), dict(size_class_mm=(10, 5)), dict(coverage=0.0),
                                    dict(pixel_size_um=-1.0), dict(ore_fraction=2.0)])
def test_bad_parameters(kwargs):
    with pytest.raises(InputError):
        make_belt_image(**{"shape": (64, 64), **kwargs})


def test_thickness_profile_volume_closed_form():
    """t = T (1 - r²)^q over a star-shaped outline: volume ∝ 1 / (2 (q + 1)); paraboloid / ellipsoid = 0.75."""
    kw = dict(shape=(96, 96), size_class_mm=(18.0, 20.0), coverage=0.05, fines=0.0, dust=0.0, noise=False, seed=4)
    ell, par, slab = (make_belt_image(**kw, profile=q) for q in (0.5, 1.0, 0.25))
    assert (ell.mask == par.mask).all() and (ell.mask == slab.mask).all()  # same outlines
    assert par.fragments["mass_g"].sum() / ell.fragments["mass_g"].sum() == pytest.approx(0.75, rel=0.03)
    assert slab.fragments["mass_g"].sum() / ell.fragments["mass_g"].sum() == pytest.approx(1.5 / 1.25, rel=0.03)
    with pytest.raises(InputError, match="profile=0"):
        make_belt_image(profile=0.0)


def test_physics_randomised_dataset():
    from liberation.deploy.belt.synthetic import PHYSICS_RANGES

    x1, y1 = make_belt_dataset(4, (64, 64), physics={}, seed=3)
    x2, y2 = make_belt_dataset(4, (64, 64), physics={}, seed=3)
    assert (x1 == x2).all() and (y1 == y2).all()
    # one-point ranges: the first frame has the same geometry (later frames differ: Poisson draws consume a
    # variable number of random numbers); a harder beam attenuates less
    fixed = {"mu_gangue_per_mm": (0.1, 0.1), "ore_gangue_ratio": (2.2, 2.2), "profile": (0.5, 0.5),
             "thickness_ratio_low": (0.45, 0.45), "thickness_ratio_high": (0.7, 0.7)}
    assert set(fixed) == set(PHYSICS_RANGES)
    xf, yf = make_belt_dataset(1, (64, 64), physics=fixed, seed=7)
    assert 0.1 < (yf > 0).mean() < 0.6
    xp, yp = xf, yf
    xh, yh = make_belt_dataset(1, (64, 64), physics={**fixed, "mu_gangue_per_mm": (0.07, 0.07)}, seed=7)
    assert (yh == yp).all()
    assert xh[yp > 0].astype(float).mean() > xp[yp > 0].astype(float).mean() * 1.05
    with pytest.raises(InputError, match="unknown keys"):
        make_belt_dataset(2, (64, 64), physics={"mu": (0.1, 0.2)})
    with pytest.raises(InputError, match="both given"):
        make_belt_dataset(2, (64, 64), physics={}, mu_gangue_per_mm=0.1)
