"""The pixel classifier's filter features as input channels of the network (issue 18,
``train --input-features classifier``): computed inside the network, equal to scipy."""

import json

import numpy as np
import pytest
from scipy import ndimage

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from liberation.errors import InputError  # noqa: E402
from liberation.segmentation.features import (  # noqa: E402
    CLASSIFIER_FEATURES,
    build_feature_stem,
    gaussian_kernel_1d,
    parse_feature,
    resolve_input_features,
)
from liberation.segmentation.pixel_classifier import FEATURE_SIGMAS, feature_names  # noqa: E402

pytestmark = pytest.mark.ml


def test_stem_gradient_and_laplacian_equal_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(14, 16, 18)).astype(np.float32)
    names = ["grad0.7", "log0.7", "grad1.6", "log2.5", "gauss1"]
    out = build_feature_stem(names)(torch.from_numpy(x)[None, None])[0].numpy()
    assert out.shape == (1 + len(names),) + x.shape
    kw = {"mode": "nearest", "truncate": 3.0}
    ref = [ndimage.gaussian_gradient_magnitude(x, 0.7, **kw), ndimage.gaussian_laplace(x, 0.7, **kw),
           ndimage.gaussian_gradient_magnitude(x, 1.6, **kw), ndimage.gaussian_laplace(x, 2.5, **kw),
           ndimage.gaussian_filter(x, 1.0, **kw)]
    np.testing.assert_array_equal(out[0], x)
    for got, expect in zip(out[1:], ref):
        np.testing.assert_allclose(got, expect, atol=2e-6)


def test_derivative_kernels_known_answers():
    # the first-derivative kernel applied (as a correlation) to a ramp gives its slope, the
    # second-derivative kernel to a parabola x^2 gives 2 (away from the truncation error)
    offsets = np.arange(-5, 6, dtype=np.float64)
    k1 = gaussian_kernel_1d(1.6, truncate=3.0, order=1).astype(np.float64)
    k2 = gaussian_kernel_1d(1.6, truncate=3.0, order=2).astype(np.float64)
    assert float(np.dot(k1, 3.0 * offsets)) == pytest.approx(3.0, rel=0.02)
    assert float(np.dot(k2, offsets ** 2)) == pytest.approx(2.0, rel=0.05)
    with pytest.raises(InputError, match="order"):
        gaussian_kernel_1d(1.0, order=3)


def test_classifier_features_are_the_pixel_classifiers():
    rename = {"gauss": "gauss", "std": "std", "grad": "gradient", "log": "log"}
    names = []
    for f in CLASSIFIER_FEATURES:
        kind, sigma = parse_feature(f)
        assert sigma in FEATURE_SIGMAS
        names.append(f"{rename[kind]}{sigma:g}")
    assert names == feature_names(FEATURE_SIGMAS)[1:]  # the classifier's, less its grey value channel
    assert resolve_input_features("none", ("gauss1",)) == ()
    assert resolve_input_features("preset", ("gauss1",)) == ("gauss1",)
    assert resolve_input_features("classifier") == CLASSIFIER_FEATURES
    with pytest.raises(InputError, match="input_features='sobel'"):
        resolve_input_features("sobel")


@pytest.mark.slow
def test_train_with_classifier_features_records_them_and_segment_applies_them(tmp_path):
    from liberation import io
    from liberation.cli import main

    rng = np.random.default_rng(0)
    phases = np.zeros((16, 20, 20), np.uint8)
    phases[:, 2:-2, 2:10] = 1
    phases[:, 2:-2, 10:-2] = 2
    grey = np.array([100.0, 1000.0, 2000.0])[phases] + rng.normal(0, 20, phases.shape)
    sparse = np.full(phases.shape, 255, np.uint8)
    sparse[0], sparse[-1] = phases[0], phases[-1]
    io.create_store(tmp_path / "s.zarr", grey.astype(np.uint16), voxel_size_um=2.0)
    store = io.open_store(tmp_path / "s.zarr", mode="r+")
    store.write_label("sparse", sparse)
    model = tmp_path / "model"
    assert main(["train", str(store.path), "--out", str(model), "--preset", "tiny", "--epochs", "1", "--threads", "1",
                 "--no-bootstrap", "--deliver", "network", "--input-features", "classifier"]) == 0
    card = json.loads((model / "model_card.json").read_text())
    assert card["training"]["input_features"] == {"choice": "classifier", "features": list(CLASSIFIER_FEATURES)}
    assert card["architecture"]["input_features"] == list(CLASSIFIER_FEATURES)
    from liberation.segmentation.checkpoint import load_model
    from liberation.segmentation.inference import predict_volume

    net, loaded = load_model(model)
    # the loaded network computes the 16 classifier features itself: segment needs no extra step
    stems = [m for m in net.modules() if type(m).__name__ == "FeatureStem"]
    assert len(stems) == 1 and len(stems[0].kinds) == 16
    pred = np.asarray(predict_volume(grey.astype(np.float32), net, loaded, show_progress=False))
    assert pred.shape == phases.shape
    assert main(["segment", str(store.path), "--model", str(model)]) == 0
