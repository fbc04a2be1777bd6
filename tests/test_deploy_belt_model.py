"""Belt segmenter (torch): shapes, parameter budget, switchable modules, attention windows, training, checkpoints."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from liberation.deploy.belt.config import BeltSegmenterConfig, belt_config_preset  # noqa: E402
from liberation.deploy.belt.layers import CrossShapedWindowAttention  # noqa: E402
from liberation.deploy.belt.model import build_belt_segmenter, count_parameters  # noqa: E402
from liberation.errors import InputError  # noqa: E402

pytestmark = pytest.mark.deploy


@pytest.mark.parametrize("preset", ["cpu", "edge"])
def test_parameters_under_5m_and_shapes(preset):
    model = build_belt_segmenter(belt_config_preset(preset)).eval()
    assert count_parameters(model) < 5_000_000
    if preset == "cpu":
        with torch.no_grad():
            y = model(torch.zeros(2, 1, 64, 96))
        assert tuple(y.shape) == (2, 3, 64, 96)


def test_modules_switch():
    counts = {}
    for aspp in ("s-aspp", "aspp", "none"):
        for attn in ("both", "none"):
            m = build_belt_segmenter(belt_config_preset("test", aspp=aspp, attention=attn))
            counts[aspp, attn] = count_parameters(m)
            assert m(torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    assert counts["s-aspp", "both"] > counts["s-aspp", "none"]
    assert counts["s-aspp", "none"] > counts["aspp", "none"] > counts["none", "none"]
    assert belt_config_preset("cpu", aspp="aspp").rates == (6, 12, 18)
    assert belt_config_preset("cpu").rates == (3, 9, 15)
    with pytest.raises(InputError):
        BeltSegmenterConfig(aspp="bogus")
    with pytest.raises(InputError):
        BeltSegmenterConfig.from_dict({"nope": 1})


def test_config_round_trip():
    c = belt_config_preset("test", attention="deep")
    assert BeltSegmenterConfig.from_dict(c.to_dict()) == c


def test_stripe_attention_stays_inside_stripes():
    """Horizontal stripes of 2 rows (no LePE mixing across the cut, deep copy of weights): changing rows 4.. must not
    change the attention output of rows 0..1 beyond the 3x3 LePE reach of one row."""
    torch.manual_seed(0)
    att = CrossShapedWindowAttention(8, heads=2, stripe=2).eval()
    x = torch.randn(1, 8, 8, 8)
    x2 = x.clone()
    x2[:, :, 4:] += torch.randn(1, 8, 4, 8)
    with torch.no_grad():
        half = 4
        q, k, v = att.qkv(att.norm1(x)).chunk(3, 1)
        q2, k2, v2 = att.qkv(att.norm1(x2)).chunk(3, 1)
        h1 = att._stripes(q[:, :half], k[:, :half], v[:, :half], 2, 8, 1)
        h2 = att._stripes(q2[:, :half], k2[:, :half], v2[:, :half], 2, 8, 1)
        # same result for the unchanged stripes (rows 0-3), different below
        assert torch.allclose(h1[..., :4, :], h2[..., :4, :], atol=1e-6)
        assert not torch.allclose(h1[..., 4:, :], h2[..., 4:, :])
        # a stripe as tall as the map is full self-attention of all its pixels
        full = att._stripes(q[:, :half], k[:, :half], v[:, :half], 8, 8, 1)
        qq, kk, vv = (t[:, :half].reshape(1, half, 64).transpose(1, 2) for t in (q, k, v))
        ref = torch.softmax(qq @ kk.transpose(1, 2) * att.scale, -1) @ vv
        assert torch.allclose(full.reshape(1, half, 64).transpose(1, 2), ref, atol=1e-5)


def test_training_reduces_loss_and_checkpoint_round_trip(tmp_path):
    from liberation.deploy.belt.io import card_path, load_belt_checkpoint, save_belt_checkpoint
    from liberation.deploy.belt.synthetic import make_belt_dataset
    from liberation.deploy.belt.train import predict_belt, prepare_belt_inputs, train_belt_segmenter
    from liberation.errors import OverwriteError

    images, masks = make_belt_dataset(4, (32, 32), size_classes_mm=[(5, 10)], seed=0)
    res = train_belt_segmenter(images, masks, config=belt_config_preset("test"), i0=4000.0, epochs=20,
                               batch_size=4, lr=1e-2, augment=False, seed=0)
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 20 and losses[-1] < 0.6 * losses[0]
    path = tmp_path / "m.pt"
    save_belt_checkpoint(path, res.model, {"input": {"i0": 4000.0}, "class_names": ["background", "ore", "waste"]})
    assert card_path(path).is_file()
    with pytest.raises(OverwriteError):
        save_belt_checkpoint(path, res.model, {})
    model, card = load_belt_checkpoint(path)
    x = prepare_belt_inputs(images[:2], i0=4000.0)
    a = predict_belt(res.model, x, return_logits=True)
    b = predict_belt(model, x, return_logits=True)
    assert np.allclose(a, b, atol=1e-6)
    assert card["architecture"]["widths"] == list(belt_config_preset("test").widths)


def test_train_rejects_bad_input():
    from liberation.deploy.belt.train import train_belt_segmenter

    with pytest.raises(InputError):
        train_belt_segmenter(np.zeros((2, 50, 50)), np.zeros((2, 50, 50), np.uint8), config=belt_config_preset("test"))
    with pytest.raises(InputError):
        train_belt_segmenter(np.zeros((2, 32, 32)), np.full((2, 32, 32), 5, np.uint8), config=belt_config_preset("test"))
    with pytest.raises(InputError):
        train_belt_segmenter(np.zeros((2, 32, 32)), np.zeros((2, 32, 32), np.uint8), preset="gpu")


def test_paper_preset_settings():
    from liberation.deploy.belt.train import TRAIN_PRESETS, train_belt_segmenter

    assert TRAIN_PRESETS["paper"] == dict(optimizer="sgd", lr=0.01, momentum=0.937, weight_decay=5e-4, batch_size=16,
                                          epochs=100, schedule="poly")
    rng = np.random.default_rng(0)
    res = train_belt_segmenter(rng.uniform(0, 2, (2, 32, 32)), rng.integers(0, 3, (2, 32, 32)),
                               config=belt_config_preset("test"), preset="paper", max_steps=1)
    assert res.train_params["optimizer"] == "sgd" and res.train_params["steps"] == 1


def _window_attention_reference(q, k, v, wh, ww, heads, scale):
    """Brute force: every pixel attends to the valid pixels of its (wh x ww) window, one pixel at a time."""
    b, c, h, w = q.shape
    d = c // heads
    out = torch.zeros_like(q)
    for y in range(h):
        for x in range(w):
            y0, x0 = (y // wh) * wh, (x // ww) * ww
            keys = k[:, :, y0:y0 + wh, x0:x0 + ww].reshape(b, heads, d, -1)
            vals = v[:, :, y0:y0 + wh, x0:x0 + ww].reshape(b, heads, d, -1)
            qq = q[:, :, y, x].reshape(b, heads, 1, d)
            attn = torch.softmax(qq @ keys * scale, -1)  # (b, heads, 1, n)
            out[:, :, y, x] = (attn @ vals.transpose(-2, -1)).reshape(b, c)
    return out


@pytest.mark.parametrize("shape, window", [((6, 10), (2, 4)), ((5, 7), (2, 3)), ((8, 8), (2, 8)), ((3, 9), (4, 16))])
def test_stripe_attention_pads_and_masks_partial_windows(shape, window):
    """Maps that are not whole windows (or smaller than one): padded keys must not take part."""
    torch.manual_seed(1)
    att = CrossShapedWindowAttention(8, heads=2, stripe=2).eval()
    q, k, v = (torch.randn(2, 4, *shape) for _ in range(3))
    with torch.no_grad():
        got = att._stripes(q, k, v, window[0], window[1], 2)
    ref = _window_attention_reference(q, k, v, window[0], window[1], 2, att.scale)
    assert got.shape == q.shape
    assert torch.allclose(got, ref, atol=1e-5)
