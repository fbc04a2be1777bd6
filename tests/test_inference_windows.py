"""Sliding-window inference (issue 22): one window grid over the volume, each window run once.

References: MONAI's ``sliding_window_inference`` on the block reflect-padded by half a patch
(the former implementation, ``edge="reflect"``), and on the bare volume (``edge="inside"``).
"""

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from liberation.errors import InputError  # noqa: E402
from liberation.segmentation.inference import predict_probabilities, predict_volume, window_grid  # noqa: E402

ROI = (8, 12, 12)


@pytest.fixture(scope="module")
def model():
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.model import build_network, network_params

    torch.manual_seed(0)
    net = build_network(network_params(get_preset("tiny"), in_channels=1, out_channels=3)).eval()
    card = SimpleNamespace(patch_size=ROI, class_ids=[1, 2, 5],
                           normalization={"method": "percentile", "low": 0.5, "high": 99.5,
                                          "value_low": 0.0, "value_high": 1.0})
    img = np.random.default_rng(0).normal(size=(19, 23, 26)).astype(np.float32)
    return net, card, img


def _monai(net, x, *, overlap=0.5, mode="gaussian", mirror=False):
    from monai.inferers import sliding_window_inference

    flips = [()] if not mirror else [tuple(a + 2 for a, b in enumerate(bits) if b) for bits in np.ndindex(2, 2, 2)]
    t = torch.from_numpy(np.ascontiguousarray(x))[None, None]
    total = 0.0
    with torch.no_grad():
        for axes in flips:
            logits = sliding_window_inference(torch.flip(t, axes) if axes else t, roi_size=ROI, sw_batch_size=3,
                                              predictor=net, overlap=overlap, mode=mode)
            p = torch.softmax(logits, 1)
            total = total + (torch.flip(p, axes) if axes else p)
    return (total / len(flips))[0].numpy()


def _reference_reflect(net, img, **kw):
    """The former implementation: reflect-pad half a patch on every side, MONAI, crop."""
    from liberation.segmentation.patches import reflect_index

    m = [p // 2 for p in ROI]
    index = [reflect_index(np.arange(-a, s + a), s) for a, s in zip(m, img.shape)]
    probs = _monai(net, img[np.ix_(*index)], **kw)
    return probs[:, m[0]:m[0] + img.shape[0], m[1]:m[1] + img.shape[1], m[2]:m[2] + img.shape[2]]


@pytest.mark.parametrize("kw", [{}, {"overlap": 0.25}, {"mode": "constant"}, {"mirror": True}])
def test_reflect_edge_equals_monai_on_the_reflect_padded_volume(model, kw):
    net, card, img = model
    ours = predict_probabilities(img, net, card, device="cpu", normalized=True, sw_batch_size=3,
                                 overlap=kw.get("overlap", 0.5), blend=kw.get("mode", "gaussian"),
                                 mirror=kw.get("mirror", False))
    np.testing.assert_allclose(ours, _reference_reflect(net, img, **kw), atol=1e-5)


def test_inside_edge_equals_plain_monai(model):
    net, card, img = model
    ours = predict_probabilities(img, net, card, device="cpu", normalized=True, edge="inside", sw_batch_size=4)
    np.testing.assert_allclose(ours, _monai(net, img), atol=1e-5)


def test_z_ends_edge_is_monai_inside_plus_reflected_z_end_windows(model):
    """``edge="z-ends"``: planes half a patch from the z ends are plain MONAI; on a depth that is a
    multiple of the z step the whole result is MONAI on the volume reflect-padded along z only."""
    from liberation.segmentation.patches import reflect_index

    net, card, img = model
    ours = predict_probabilities(img, net, card, device="cpu", normalized=True, edge="z-ends", sw_batch_size=3)
    h = ROI[0] // 2
    np.testing.assert_allclose(ours[:, h:img.shape[0] - h], _monai(net, img)[:, h:img.shape[0] - h], atol=1e-5)
    assert np.abs(ours[:, 0] - _monai(net, img)[:, 0]).max() > 1e-3  # the end planes do change
    for depth, kw in ((16, {}), (12, {}), (12, {"mirror": True})):  # multiples of the step 4
        sub = img[:depth]
        ours = predict_probabilities(sub, net, card, device="cpu", normalized=True, edge="z-ends", sw_batch_size=3,
                                     mirror=kw.get("mirror", False))
        padded = sub[reflect_index(np.arange(-h, depth + h), depth)]
        np.testing.assert_allclose(ours, _monai(net, padded, **kw)[:, h:h + depth], atol=1e-5)
        streamed = np.zeros((3, *sub.shape), np.uint8)
        predict_volume(sub, net, card, prob_out=streamed, slab=3, device="cpu", edge="z-ends", show_progress=False,
                       mirror=kw.get("mirror", False))
        whole = predict_probabilities(sub, net, card, device="cpu", edge="z-ends", mirror=kw.get("mirror", False))
        np.testing.assert_array_equal(streamed, np.round(whole * 255.0).astype(np.uint8))


def test_window_counts_have_no_halos():
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    shape, patch = (128, 128, 128), (16, 64, 64)
    inside = window_grid(shape, patch, reflect=((False, False),) * 3)
    assert len(inside) == 15 * 3 * 3 == 135
    assert len(inside) == len(dense_patch_slices(shape, patch, _get_scan_interval(shape, patch, 3, (0.5,) * 3)))
    # half a patch of reflected context on each end: two more windows per axis at overlap 0.5
    assert len(window_grid(shape, patch)) == 17 * 5 * 5
    assert len(window_grid(shape, patch, mirror=True)) == 8 * 17 * 5 * 5
    starts = sorted({w[2] for w in window_grid(shape, patch)})
    assert starts == [-32, 0, 32, 64, 96]
    # z-ends: MONAI's windows plus one layer centred on each end plane
    z_ends = window_grid(shape, patch, reflect=(("window", "window"), (False, False), (False, False)))
    assert len(z_ends) == 17 * 3 * 3 == 153
    assert sorted({w[1] for w in z_ends}) == [-8, *range(0, 113, 8), 120]
    assert set(inside) < set(z_ends)
    assert len(window_grid((256,) * 3, patch, reflect=(("window", "window"), (False, False), (False, False)))) \
        == 33 * 7 * 7 == 1617
    assert len(window_grid((256,) * 3, patch, reflect=((False, False),) * 3)) == 31 * 7 * 7


def test_predict_volume_runs_each_window_once_and_slabs_do_not_change_the_result(model):
    net, card, img = model
    seen = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            seen.append(x.shape[0])
            return net(x)

    whole = predict_probabilities(img, net, card, device="cpu")
    expected = np.round(whole * 255.0).astype(np.uint8)
    for slab in (1, 3, 8, 100):
        seen.clear()
        prob = np.zeros((3, *img.shape), np.uint8)
        labels = predict_volume(img, Counting(), card, prob_out=prob, slab=slab, sw_batch_size=5, device="cpu",
                                show_progress=False)
        assert sum(seen) == len(window_grid(img.shape, ROI)) and max(seen) == 5
        np.testing.assert_array_equal(prob, expected)
        np.testing.assert_array_equal(labels, np.array(card.class_ids)[whole.argmax(0)])


def test_volume_smaller_than_a_window_and_bad_options(model):
    net, card, img = model
    small = img[:5, :7, :9]
    probs = predict_probabilities(small, net, card, device="cpu", edge="inside")
    assert probs.shape == (3, 5, 7, 9) and np.allclose(probs.sum(0), 1.0, atol=1e-5)
    with pytest.raises(InputError, match="edge"):
        predict_volume(img, net, card, edge="zero", show_progress=False)
    with pytest.raises(InputError, match="blend"):
        predict_probabilities(img, net, card, blend="cosine")
