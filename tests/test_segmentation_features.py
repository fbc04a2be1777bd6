"""The fixed filter stem (local mean, local standard deviation) against scipy.ndimage."""

import numpy as np
import pytest
from scipy import ndimage

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from liberation.errors import InputError  # noqa: E402
from liberation.segmentation.features import STD_SCALE, build_feature_stem, gaussian_kernel_1d, parse_feature  # noqa: E402

pytestmark = pytest.mark.ml


def test_parse_feature_and_errors():
    assert parse_feature("std2") == ("std", 2.0)
    assert parse_feature("gauss1.5") == ("gauss", 1.5)
    for bad in ("sobel1", "std", "std0", "gauss20"):
        with pytest.raises(InputError, match=repr(bad)):
            parse_feature(bad)


def test_kernel_matches_scipy_weights():
    impulse = np.zeros(41)
    impulse[20] = 1.0
    for sigma in (0.7, 1.0, 2.0):
        kernel = gaussian_kernel_1d(sigma)
        radius = (len(kernel) - 1) // 2
        expected = ndimage.gaussian_filter1d(impulse, sigma, truncate=3.0)[20 - radius: 20 + radius + 1]
        np.testing.assert_allclose(kernel, expected, rtol=1e-5, atol=1e-7)


def test_stem_equals_scipy_local_mean_and_std():
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 0.1, (12, 14, 16)).astype(np.float64)
    stem = build_feature_stem(["gauss1", "std1", "std2"])
    with torch.no_grad():
        out = stem(torch.from_numpy(x[None, None])).numpy()[0]
    assert out.shape == (4, 12, 14, 16)
    np.testing.assert_allclose(out[0], x)
    mean1 = ndimage.gaussian_filter(x, 1.0, mode="nearest", truncate=3.0)
    np.testing.assert_allclose(out[1], mean1, atol=1e-6)
    for channel, sigma in ((2, 1.0), (3, 2.0)):
        mean = ndimage.gaussian_filter(x, sigma, mode="nearest", truncate=3.0)
        square = ndimage.gaussian_filter(x * x, sigma, mode="nearest", truncate=3.0)
        std = np.sqrt(np.maximum(square - mean * mean, 0) + 1e-8) * STD_SCALE
        np.testing.assert_allclose(out[channel], std, rtol=1e-4, atol=1e-5)
    assert not list(stem.parameters())


def test_network_with_stem_trains_saves_and_loads(tmp_path):
    from liberation.segmentation.checkpoint import load_model, save_model
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.train import train_model

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    shape = (16, 16, 16)
    phases = np.zeros(shape, np.uint8)
    phases[:, 2:-2, 2:8] = 1
    phases[:, 2:-2, 8:-2] = 2
    # equal mean grey: phase 2 is striped (texture), phase 1 flat
    grey = np.where(phases == 0, 100.0, 1000.0) + rng.normal(0, 5, shape)
    stripes = np.where(np.arange(16) % 2 == 0, 150.0, -150.0)[None, :, None]
    grey = np.where(phases == 2, grey + stripes, grey).astype(np.float32)
    sparse = np.full(shape, 255, np.uint8)
    sparse[0] = phases[0]
    sparse[-1] = phases[-1]
    cfg = get_preset("tiny", input_features=("gauss1", "std1"), max_epochs=2)
    result = train_model(grey, sparse, voxel_size_um=5.0, config=cfg, seed=0, device="cpu", show_progress=False)
    assert result.card.network["input_features"] == ["gauss1", "std1"]
    save_model(result, tmp_path / "model")
    network, card = load_model(tmp_path / "model")
    a = predict_volume(grey, result.network, result.card, device="cpu")
    b = predict_volume(grey, network, card, device="cpu")
    np.testing.assert_array_equal(a, b)


def test_per_voxel_head_runs_at_full_resolution_and_round_trips(tmp_path):
    from liberation.segmentation import get_preset, load_model, predict_volume, save_model, train_model
    from liberation.segmentation.model import build_network, network_params

    cfg = get_preset("tiny", input_features=("gauss1", "std1"), head_channels=6, norm="batch", max_epochs=1)
    net = build_network(network_params(cfg, in_channels=1, out_channels=3)).eval()
    # the head is a per-voxel function of (stem channels, U-Net features): changing one
    # U-Net feature at one voxel changes the logits at that voxel only
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 1, 16, 16, 16)).astype(np.float32))
    with torch.no_grad():
        stem = net.stem(x)
        feats = net.unet(stem)
        base = net.head(torch.cat([stem, feats], 1))
        bumped = feats.clone()
        bumped[0, 0, 5, 6, 7] += 10.0
        changed = (net.head(torch.cat([stem, bumped], 1)) - base).abs().sum(1)[0]
        assert torch.equal(net(x), base)
    assert changed[5, 6, 7] > 0 and int((changed > 0).sum()) == 1
    assert tuple(feats.shape[1:2]) == (6,) and tuple(base.shape) == (1, 3, 16, 16, 16)
    with pytest.raises(InputError, match="head_channels"):
        get_preset("tiny", head_channels=-1)
    # trains, saves and reloads to the same predictions
    rng = np.random.default_rng(3)
    grey = rng.normal(0, 1, (16, 16, 16)).astype(np.float32)
    sparse = np.full(grey.shape, 255, np.uint8)
    sparse[0] = (grey[0] > 0).astype(np.uint8) + 1
    result = train_model(grey, sparse, voxel_size_um=2.0, config=cfg, seed=0, device="cpu", show_progress=False)
    assert result.card.network["head_channels"] == 6
    save_model(result, tmp_path / "model")
    network, card = load_model(tmp_path / "model")
    np.testing.assert_array_equal(predict_volume(grey, result.network, result.card, device="cpu"),
                                  predict_volume(grey, network, card, device="cpu"))


@pytest.mark.parametrize("name", ["cpu", "gpu", "deep-xfct", "tiny"])
def test_every_preset_builds_a_network_that_keeps_the_input_shape(name):
    from liberation.segmentation import get_preset
    from liberation.segmentation.model import build_network, network_params

    cfg = get_preset(name)
    net = build_network(network_params(cfg, in_channels=1, out_channels=4)).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 16, 32, 32))
    assert tuple(out.shape) == (1, 4, 16, 32, 32)
    if cfg.head_channels:
        assert net.head[-1].out_channels == 4 and net.unet is not None
