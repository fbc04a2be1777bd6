"""Preprocessing: noise estimate, bilateral denoising, scaling, sample mask, resampling, feature stack."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from liberation.errors import InputError
from liberation.labels import (
    denoise_bilateral_map,
    denoise_maps,
    estimate_noise,
    feature_stack,
    resample_to_grid,
    sample_mask,
    scale_maps,
)


def test_estimate_noise_of_gaussian_noise():
    rng = np.random.default_rng(0)
    img = np.zeros((200, 200))
    img[:, 100:] = 5.0  # a step edge barely affects the estimate
    noisy = img + rng.normal(0, 0.3, img.shape)
    assert estimate_noise(noisy) == pytest.approx(0.3, rel=0.1)


def test_bilateral_removes_noise_and_keeps_the_edge():
    rng = np.random.default_rng(1)
    clean = np.zeros((80, 80))
    clean[:, 40:] = 10.0
    noisy = rng.poisson(clean + 2.0).astype(float)
    out = denoise_bilateral_map(noisy, sigma_spatial_px=2.0)
    assert out[:, 5:30].std() < 0.6 * noisy[:, 5:30].std()
    # the edge stays sharp: the jump between the two pixels at the step is far larger than after a
    # Gaussian filter of the same width, which smooths as much inside the regions
    gauss = ndi.gaussian_filter(noisy, 2.0)
    jump = out[:, 40].mean() - out[:, 39].mean()
    assert jump > 0.6 * 10.0
    assert jump > 3 * (gauss[:, 40].mean() - gauss[:, 39].mean())


def test_denoise_maps_default_only_light_elements_and_no_mutation():
    rng = np.random.default_rng(2)
    maps = {"Na": rng.poisson(2.0, (30, 30)).astype(float), "Fe": rng.poisson(50.0, (30, 30)).astype(float)}
    copy = {k: v.copy() for k, v in maps.items()}
    out = denoise_maps(maps)
    assert out["Fe"] is maps["Fe"]
    assert out["Na"].std() < maps["Na"].std()
    for k in maps:
        np.testing.assert_array_equal(maps[k], copy[k])
    with pytest.raises(InputError, match="unknown keys"):
        denoise_maps(maps, elements={"Na": {"radius": 3}})


def test_scale_maps_8bit_and_zscore():
    a = np.linspace(0, 1000, 10000, dtype=np.float32).reshape(100, 100)
    scaled, table = scale_maps({"Fe": a}, method="8bit", percentiles=(0, 100))
    assert scaled["Fe"].min() == 0 and scaled["Fe"].max() == pytest.approx(255)
    assert table.loc["Fe", "scale"] == pytest.approx(0.255)
    assert table.loc["Fe", "offset"] == 0.0
    z, _ = scale_maps({"Fe": a}, method="zscore")
    assert np.median(z["Fe"]) == pytest.approx(0, abs=1e-3)
    with pytest.raises(InputError, match="scaling method"):
        scale_maps({"Fe": a}, method="minmax")


def test_sample_mask_from_total_counts_and_ct():
    yy, xx = np.mgrid[0:64, 0:64]
    disk = (yy - 32) ** 2 + (xx - 32) ** 2 < 25**2
    rng = np.random.default_rng(3)
    maps = {"Si": rng.poisson(np.where(disk, 80, 0.5)).astype(float),
            "Fe": rng.poisson(np.where(disk, 20, 0.5)).astype(float)}
    mask = sample_mask(maps)
    assert np.mean(mask == disk) > 0.995
    ct_mask = sample_mask(ct=np.where(disk, 1000.0, 10.0))
    np.testing.assert_array_equal(ct_mask, disk)
    # a map cut inside the sample has no outside: everything is sample
    full = {"Si": rng.poisson(80, (32, 32)).astype(float)}
    assert sample_mask(full).all()


def test_resample_block_mean_and_interpolation():
    fine = np.arange(64, dtype=np.float32).reshape(8, 8)
    coarse = resample_to_grid(fine, (2, 2))
    np.testing.assert_allclose(coarse, fine.reshape(2, 4, 2, 4).mean(axis=(1, 3)))
    assert resample_to_grid(fine, (3, 5)).shape == (3, 5)


def test_feature_stack_channels_weights_and_errors():
    maps = {"Fe": np.ones((4, 4)), "Si": np.arange(16.0).reshape(4, 4)}
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    stack = feature_stack(maps, ct=np.ones((8, 8)), mask=mask, scaling="none", weights={"CT": 2.0})
    assert stack.channels == ["Fe", "Si", "CT"]
    assert stack.features.shape == (4, 3)
    np.testing.assert_array_equal(stack.features[:, 2], 2.0)
    np.testing.assert_array_equal(stack.raw[:, 1], [5, 6, 9, 10])
    with pytest.raises(InputError, match=r"elements \['Na'\]"):
        feature_stack(maps, elements=["Na"])
    with pytest.raises(InputError, match="mask is empty"):
        feature_stack(maps, mask=np.zeros((4, 4), bool))


def test_noise_and_poisson_scaling_known_answers():
    """'noise' divides by the measured pixel noise (Immerkær), 'poisson' by sqrt(mean), both after the median."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:200, :200]
    smooth = 50.0 + 20.0 * (xx > 100)  # two flat regions: the noise estimate ignores the step
    a = (smooth + rng.normal(0.0, 3.0, smooth.shape)).astype(np.float32)
    counts = rng.poisson(16.0, (200, 200)).astype(np.float32)
    scaled, table = scale_maps({"A": a, "K": counts}, method="noise")
    assert 1.0 / table.loc["A", "scale"] == pytest.approx(3.0, rel=0.05)
    assert 1.0 / table.loc["K", "scale"] == pytest.approx(4.0, rel=0.05)  # Poisson noise sqrt(16)
    assert table.loc["A", "offset"] == pytest.approx(np.median(a))
    np.testing.assert_allclose(scaled["A"], (a - table.loc["A", "offset"]) * table.loc["A", "scale"], rtol=1e-5)
    _, table = scale_maps({"K": counts}, method="poisson")
    assert table.loc["K", "scale"] == pytest.approx(1.0 / np.sqrt(counts.mean()), rel=1e-6)
    with pytest.raises(InputError, match="'noise', 'poisson'"):
        scale_maps({"K": counts}, method="whiten")
