"""The inference form of the 3D network (issue 22): the same function as the network, faster on the CPU.

References: scipy's ``correlate1d`` (``mode="nearest"``) for the stem's filter matrices, the
network itself (logits within 1e-5), MONAI's ``sliding_window_inference`` on the network itself
(probabilities within 1e-5), numpy's ``argmax`` for :func:`class_labels`.
"""

import copy
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from liberation.errors import InputError  # noqa: E402
from liberation.segmentation.fast_network import (  # noqa: E402
    cached_inference_network,
    inference_network,
    replicate_filter_matrix,
)
from liberation.segmentation.inference import class_labels, predict_probabilities, predict_volume  # noqa: E402

pytestmark = pytest.mark.ml
ROI = (8, 16, 16)


def _network(preset="tiny", **overrides):
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.model import build_network, network_params

    torch.manual_seed(0)
    cfg = get_preset(preset, **overrides)
    net = build_network(network_params(cfg, in_channels=1, out_channels=3)).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics and affine maps, so that folding matters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net


@pytest.fixture(scope="module")
def cpu_like():
    """The cpu preset's parts (filter stem of 5 features, batch norm, U-Net, per-voxel head), small windows."""
    return _network(input_features=("gauss1", "std0.7", "std1", "std2", "gauss2.5"), head_channels=4, norm="batch",
                    patch_size=ROI)


@pytest.mark.parametrize("n", [1, 5, 16, 64])
def test_filter_matrix_is_scipy_correlate1d_nearest(n):
    from scipy.ndimage import correlate1d

    from liberation.segmentation.features import gaussian_kernel_1d

    v = np.random.default_rng(n).random(n)
    for kernel in (gaussian_kernel_1d(2.5), gaussian_kernel_1d(1.0, order=1), gaussian_kernel_1d(0.7, order=2)):
        m = replicate_filter_matrix(kernel, n)
        assert m.shape == (n, n) and m.dtype == np.float32
        np.testing.assert_allclose(m.astype(np.float64) @ v, correlate1d(v, kernel.astype(np.float64), mode="nearest"),
                                   atol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
def test_inference_form_gives_the_network_logits(cpu_like, channels_last):
    net = cpu_like
    before = copy.deepcopy(net.state_dict())
    fast = inference_network(net, ROI, channels_last=channels_last)
    assert 0 < fast.max_abs_diff <= 1e-5  # rewritten (float rounding moved) and checked
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fast.modules())  # all folded
    for batch in (1, 3):
        x = torch.from_numpy(np.random.default_rng(batch).normal(0.5, 0.3, size=(batch, 1, *ROI)).astype(np.float32))
        with torch.inference_mode():
            ref, got = net(x), fast(x)
        assert got.shape == ref.shape == (batch, 3, *ROI)
        assert float(ref.std()) > 1e-2
        assert float((got - ref).abs().max()) <= 1e-5
    # the caller's network is not modified
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in net.modules())
    with pytest.raises(InputError, match="expected"):
        fast(torch.zeros((1, 1, 8, 8, 8)))
    with pytest.raises(InputError, match="window"):
        inference_network(net, (8, 16))
    with pytest.raises(InputError, match="differs from it"):
        inference_network(net, ROI, atol=0.0)


def test_predict_probabilities_equals_monai_on_the_network(cpu_like):
    from monai.inferers import sliding_window_inference

    net = cpu_like
    card = SimpleNamespace(patch_size=ROI, class_ids=[1, 2, 5], normalization={})
    img = np.random.default_rng(3).random((13, 29, 22), dtype=np.float32)
    got = predict_probabilities(img, net, card, device="cpu", normalized=True, edge="inside", sw_batch_size=3)
    with torch.no_grad():
        logits = sliding_window_inference(torch.from_numpy(img)[None, None], roi_size=ROI, sw_batch_size=3,
                                          predictor=net, overlap=0.5, mode="gaussian")
    ref = torch.softmax(logits, 1)[0].numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-5)
    labels = predict_volume(img * 1000.0, net, SimpleNamespace(patch_size=ROI, class_ids=[1, 2, 5], normalization={
        "value_low": 0.0, "value_high": 1000.0}), device="cpu", edge="inside", show_progress=False)
    top2 = np.sort(ref, axis=0)[-2:]
    clear = top2[1] - top2[0] > 1e-4
    assert clear.mean() > 0.99 and np.ptp(ref.argmax(0)) > 0
    np.testing.assert_array_equal(labels[clear], np.array([1, 2, 5])[ref.argmax(0)][clear])


def test_cached_form_is_rebuilt_when_the_weights_change(cpu_like):
    net = copy.deepcopy(cpu_like)
    a = cached_inference_network(net, ROI, channels_last=True)
    assert cached_inference_network(net, ROI, channels_last=True) is a
    assert cached_inference_network(net, ROI) is not a  # other options: another form
    x = torch.rand(2, 1, *ROI)
    with torch.no_grad():
        net.head[-1].bias.add_(1.0)  # in place, as an optimiser step
    b = cached_inference_network(net, ROI, channels_last=True)
    assert b is not a
    with torch.inference_mode():
        assert float((b(x) - net(x)).abs().max()) <= 1e-5
        assert float((a(x) - net(x)).abs().max()) > 0.5


def test_class_labels_is_argmax_first_on_ties():
    rng = np.random.default_rng(0)
    p = rng.random((4, 5, 6, 7)).astype(np.float32)
    p[2, 0] = p[1, 0]  # ties: the first class wins, as numpy's argmax
    p[:, 1] = 0.25
    ids = [3, 7, 9, 200]
    np.testing.assert_array_equal(class_labels(p, ids), np.array(ids, np.uint8)[p.argmax(0)])
    np.testing.assert_array_equal(class_labels(torch.from_numpy(p), ids), np.array(ids, np.uint8)[p.argmax(0)])
    with pytest.raises(InputError, match="expected 3 classes"):
        class_labels(p, ids[:3])
