"""Dual-tower network: parameter count, fusion modes, Chebyshev KAN, tiny training, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from liberation.deploy.dual_energy.model import (  # noqa: E402
    FUSIONS,
    ChebyKANLayer,
    build_dual_energy_net,
    count_parameters,
    make_head,
)
from liberation.deploy.dual_energy.synthetic import make_dual_energy_set  # noqa: E402
from liberation.errors import InputError, OverwriteError  # noqa: E402

pytestmark = pytest.mark.deploy
TINY = {"widths": (4, 8), "hidden": 8, "head_layers": 2}


def _closed_form_parameters(widths=(24, 48, 96, 176), hidden=32, layers=6, degree=3) -> int:
    """Parameters of the default hybrid network counted from its layer list, not from torch."""
    def block(cin, cout, stride):
        n = 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout  # conv-BN-conv-BN, no biases
        n += 2 * cout * max(cout // 8, 4) + 2 * 49  # channel attention MLP, 7x7 spatial attention
        if stride != 1 or cin != cout:
            n += cin * cout + 2 * cout  # projection shortcut
        return n

    tower = 9 * widths[0] + 2 * widths[0]  # stem: 1 -> w0, BN
    prev = widths[0]
    for i, w in enumerate(widths):
        tower += block(prev, w, 1 if i == 0 else 2)
        prev = w
    dims = [2 * widths[-1]] + [hidden] * (layers - 1) + [1]
    head = sum(a * (degree + 1) * b for a, b in zip(dims[:-1], dims[1:])) + 2 * hidden * (layers - 1)
    exchange = (2 * widths[0]) ** 2 + 2 * (2 * widths[0])
    return 2 * tower + head + exchange


def test_default_parameter_count_about_1_3_million():
    model = build_dual_energy_net()
    n = count_parameters(model)
    # the total is the two towers (identical, one per energy) plus the head and the exchange:
    # nothing registered outside them, nothing shared between them
    parts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    assert set(parts) == {"tower_high", "tower_low", "head", "exchange"}
    assert parts["tower_high"] == parts["tower_low"]
    assert n == sum(parts.values())
    # closed form of the architecture (the paper's ~1.3 M): towers, 6-layer KAN head, exchange
    assert n == _closed_form_parameters() == 1_330_048
    # single tower (data-level or one energy) about half of it, as in the paper's ablation
    half = count_parameters(build_dual_energy_net(fusion="high"))
    assert 0.45 * n < half < 0.55 * n
    assert count_parameters(build_dual_energy_net(fusion="data")) > half  # one more input channel


def test_parameter_count_closed_form_for_kan_degree():
    # a Chebyshev KAN edge of degree d has d + 1 coefficients: one degree more adds exactly
    # in_features * out_features parameters per KAN layer, nothing else changes
    from liberation.deploy.dual_energy.model import ChebyKANLayer

    base = build_dual_energy_net(kan_degree=3)
    kan = [m for m in base.modules() if isinstance(m, ChebyKANLayer)]
    assert kan
    expected = sum(m.in_features * m.out_features for m in kan)
    assert count_parameters(build_dual_energy_net(kan_degree=4)) - count_parameters(base) == expected
    assert sum(m.coeffs.numel() for m in kan) == 4 * expected
    # KAN heads grow with depth; the MLP head is the smaller one
    sizes = [count_parameters(build_dual_energy_net(head_layers=k)) for k in (2, 4, 6)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert count_parameters(build_dual_energy_net(head="mlp", head_layers=2)) < sizes[0]


@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusion_modes_forward(fusion):
    m = build_dual_energy_net(fusion=fusion, **TINY).eval()
    x = torch.rand(3, 2, 16, 12) * 0.9 + 0.05
    with torch.no_grad():
        y = m(x)
    assert y.shape == (3,) and torch.isfinite(y).all()


def test_single_energy_models_ignore_the_other_channel():
    m = build_dual_energy_net(fusion="high", **TINY).eval()
    x = torch.rand(2, 2, 16, 16) * 0.9 + 0.05
    x2 = x.clone()
    x2[:, 1] = 0.5
    with torch.no_grad():
        assert torch.allclose(m(x), m(x2))


def test_chebyshev_kan_layer_closed_form():
    layer = ChebyKANLayer(2, 1, degree=3)
    with torch.no_grad():
        layer.coeffs.zero_()
        layer.coeffs[3, 0] = 1.0  # input 0, T_3
        layer.coeffs[5, 0] = 2.0  # input 1, T_1
    x = torch.tensor([[0.3, -0.7], [1.2, 0.1]])
    u = torch.tanh(x)
    expected = 4 * u[:, 0] ** 3 - 3 * u[:, 0] + 2 * u[:, 1]
    assert torch.allclose(layer(x)[:, 0], expected, atol=1e-6)
    head = make_head(10, kind="kan", layers=6, hidden=4)
    assert sum(isinstance(mod, ChebyKANLayer) for mod in head) == 6
    with pytest.raises(InputError, match="head="):
        make_head(4, kind="svm")


def test_bad_config():
    with pytest.raises(InputError, match="fusion"):
        build_dual_energy_net(fusion="early")
    with pytest.raises(InputError, match="unknown model options"):
        build_dual_energy_net(depth=3)


@pytest.mark.slow
def test_tiny_training_loss_decreases_and_is_seeded():
    from liberation.deploy.dual_energy.train import evaluate_model, predict_proba, train_dual_energy

    s = make_dual_energy_set(16, size=16, seed=0)
    kw = dict(config=TINY, epochs=40, batch_size=16, lr=1e-2, augment=False, seed=3, show_progress=False)
    res = train_dual_energy(s.stack(), s.label, max_steps=20, **kw)
    assert len(res.step_losses) == 20
    assert np.mean(res.step_losses[-5:]) < 0.8 * np.mean(res.step_losses[:5])
    p = predict_proba(res.model, s.stack())
    assert p.shape == (16,) and ((p >= 0) & (p <= 1)).all()
    m = evaluate_model(res.model, s.stack(), s.label)
    assert set(m) >= {"auc", "f1", "recall", "precision", "accuracy"}
    res2 = train_dual_energy(s.stack(), s.label, max_steps=3, **kw)
    res3 = train_dual_energy(s.stack(), s.label, max_steps=3, **kw)
    assert res2.step_losses == res3.step_losses
    with pytest.raises(InputError, match="images"):
        train_dual_energy(s.high, s.label)


def test_onnx_export_parity_and_checkpoint(tmp_path):
    pytest.importorskip("onnxruntime")
    from liberation.deploy.dual_energy.export import (
        export_onnx,
        load_checkpoint,
        onnx_predict,
        save_checkpoint,
        verify_onnx,
    )
    from liberation.deploy.dual_energy.train import predict_proba

    with torch.random.fork_rng():
        torch.manual_seed(0)
        m = build_dual_energy_net(fusion="hybrid", **TINY).eval()
    x = np.random.default_rng(0).uniform(0.05, 1.0, (3, 2, 16, 16)).astype(np.float32)
    path = export_onnx(m, tmp_path / "m.onnx", image_size=(16, 16))
    assert verify_onnx(m, path, x) < 1e-5
    # dynamic spatial axes: another image size runs too
    x2 = np.random.default_rng(1).uniform(0.05, 1.0, (2, 2, 24, 20)).astype(np.float32)
    np.testing.assert_allclose(onnx_predict(path, x2), predict_proba(m, x2), atol=1e-5)
    with pytest.raises(OverwriteError):
        export_onnx(m, path)
    ck = save_checkpoint(tmp_path / "m.pt", m, metadata={"r_value_threshold": 1.7})
    m2, meta = load_checkpoint(ck)
    assert meta["r_value_threshold"] == 1.7
    np.testing.assert_allclose(predict_proba(m2, x), predict_proba(m, x), atol=1e-7)
