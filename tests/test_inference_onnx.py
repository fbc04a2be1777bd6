"""ONNX Runtime backend of 3D inference (issue 22): export, parity with torch, the CLI option.

References: the torch network itself (logits and blended probabilities within 1e-4), and the
torch backend of ``predict_volume`` on the same volume.
"""

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from liberation.errors import FileFormatError, InputError, OverwriteError  # noqa: E402
from liberation.segmentation.inference import (  # noqa: E402
    predict_probabilities,
    predict_volume,
    resolve_backend,
)
from liberation.segmentation.onnx_backend import OnnxNetwork, export_network_onnx, onnx_network  # noqa: E402

pytestmark = pytest.mark.ml
ROI = (8, 16, 16)


@pytest.fixture(scope="module")
def model():
    """A small random network with the cpu preset's parts: filter stem, batch norm, U-Net, per-voxel head."""
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.model import build_network, network_params

    torch.manual_seed(0)
    cfg = get_preset("tiny", input_features=("gauss1", "std1"), head_channels=4, norm="batch", patch_size=ROI)
    net = build_network(network_params(cfg, in_channels=1, out_channels=3)).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that the export must carry them
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    card = SimpleNamespace(patch_size=ROI, class_ids=[1, 2, 5],
                           normalization={"method": "percentile", "low": 0.5, "high": 99.5,
                                          "value_low": 0.0, "value_high": 1.0})
    img = np.random.default_rng(1).random((13, 21, 18), dtype=np.float32)
    return net, card, img, onnx_network(net, card, threads=1)


def test_onnx_logits_equal_torch_within_1e_4(model):
    net, card, _, onet = model
    assert isinstance(onet, OnnxNetwork) and onet.max_abs_diff <= 1e-4
    x = np.random.default_rng(2).normal(0.5, 0.3, size=(3, 1, *ROI)).astype(np.float32)  # another batch size
    with torch.no_grad():
        ref = net(torch.from_numpy(x))
    got = onet(torch.from_numpy(x))
    assert got.shape == ref.shape == (3, 3, *ROI)
    assert float((got - ref).abs().max()) <= 1e-4
    assert float(ref.std()) > 1e-2  # the logits vary: the comparison is not of constants
    with pytest.raises(InputError, match="expected"):
        onet(np.zeros((1, 1, 8, 8, 8), np.float32))


@pytest.mark.parametrize("edge", ["reflect", "inside", "z-ends"])
def test_onnxruntime_backend_gives_the_torch_probabilities(model, edge):
    net, card, img, onet = model
    ref = predict_probabilities(img, net, card, device="cpu", normalized=True, edge=edge, sw_batch_size=3)
    got = predict_probabilities(img, onet, card, device="cpu", normalized=True, edge=edge, sw_batch_size=3,
                                backend="onnxruntime")
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.ptp(ref.argmax(0)) > 0  # more than one class predicted
    # the same from a torch module: exported inside the call
    direct = predict_probabilities(img, net, card, device="cpu", normalized=True, edge=edge, sw_batch_size=3,
                                   backend="onnxruntime")
    np.testing.assert_allclose(direct, got, atol=1e-6)


def test_predict_volume_onnxruntime_streams_like_torch(model):
    net, card, img, onet = model
    labels_t = predict_volume(img, net, card, slab=4, device="cpu", show_progress=False)
    prob = np.zeros((3, *img.shape), np.uint8)
    labels_o = predict_volume(img, onet, card, slab=4, device="cpu", prob_out=prob, show_progress=False,
                              backend="onnxruntime")
    whole = predict_probabilities(img, net, card, device="cpu")
    # labels equal wherever the top two classes of torch are more than 1e-4 apart
    top2 = np.sort(whole, axis=0)[-2:]
    clear = (top2[1] - top2[0]) > 1e-4
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(labels_o[clear], labels_t[clear])
    assert np.abs(prob.astype(int) - np.round(whole * 255).astype(int)).max() <= 1


def test_backend_choice_and_errors(model, tmp_path):
    net, card, img, onet = model
    assert resolve_backend("auto", "cpu") == "torch"  # torch's inference form: faster (issue 22)
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(InputError, match=r"backend='tensorrt'; expected one of \['torch', 'onnxruntime', 'auto'\]"):
        resolve_backend("tensorrt")
    with pytest.raises(InputError, match="backend"):
        predict_volume(img, net, card, backend="tf", show_progress=False)
    with pytest.raises(InputError, match="backend='onnxruntime'"):
        predict_volume(img, onet, card, backend="torch", show_progress=False)
    # an explicit export path is kept, and not overwritten
    path = export_network_onnx(net, card, tmp_path / "net.onnx")
    assert path.is_file()
    with pytest.raises(OverwriteError):
        export_network_onnx(net, card, tmp_path / "net.onnx")
    kept = onnx_network(net, card, path=tmp_path / "kept.onnx", threads=1)
    assert (tmp_path / "kept.onnx").is_file() and kept.max_abs_diff <= 1e-4
    if onet.max_abs_diff > 0:  # float rounding differs somewhere: a zero tolerance is refused
        with pytest.raises(FileFormatError, match="differs from torch"):
            onnx_network(net, card, atol=0.0, threads=1)


def test_cli_segment_backend_onnxruntime_on_a_tiny_store(tmp_path):
    from liberation.cli import main
    from liberation.io import create_store, open_store
    from liberation.segmentation.checkpoint import save_model
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.train import train_model

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    shape = (16, 20, 20)
    phases = np.zeros(shape, np.uint8)
    phases[:, 3:-3, 3:10] = 1
    phases[:, 3:-3, 10:-3] = 2
    grey = np.array([100.0, 1000.0, 2000.0])[phases] + rng.normal(0, 20, shape)
    sparse = np.full(shape, 255, np.uint8)
    sparse[0], sparse[-1] = phases[0], phases[-1]
    cfg = get_preset("tiny", max_epochs=1, steps_per_epoch=1, patch_size=(8, 16, 16))
    result = train_model(grey.astype(np.float32), sparse, voxel_size_um=5.0, config=cfg, seed=0, device="cpu",
                         show_progress=False, baseline=False, deliver="network")
    folder = save_model(result, tmp_path / "model")
    stores = {}
    for backend in ("onnxruntime", None):  # None: the default, auto = torch
        stores[backend] = path = tmp_path / f"{backend}.zarr"
        create_store(path, np.round(grey).astype(np.uint16), voxel_size_um=5.0)
        option = ["--backend", backend] if backend else []
        assert main(["segment", str(path), "--model", str(folder), "--threads", "1", "--probabilities",
                     *option]) == 0
        record = [r for r in open_store(path).provenance if r["step"] == "segment"][-1]["parameters"]
        assert (record["backend"], record["edge"]) == (backend or "torch", "z-ends")
    # the same network on both backends: probabilities (0..255) equal within 1, labels equal
    # except at near-ties
    t, o = (open_store(stores[b]) for b in (None, "onnxruntime"))
    for name in result.card.class_names:
        pt, po = (np.asarray(s.label(f"phases_prob_{name}")[...]).astype(int) for s in (t, o))
        assert pt.shape == shape and np.abs(pt - po).max() <= 1
    assert (np.asarray(o.label("phases")[...]) == np.asarray(t.label("phases")[...])).mean() > 0.99
    path = stores[None]
    assert main(["segment", str(path), "--model", str(folder), "--backend", "jax", "--overwrite"]) == 2
    assert main(["segment", str(path), "--model", str(folder), "--edge", "zero", "--overwrite"]) == 2
    assert main(["segment", str(path), "--model", str(folder), "--threads", "1", "--backend", "torch", "--edge",
                 "inside", "--overwrite"]) == 0
    record = [r for r in open_store(path).provenance if r["step"] == "segment"][-1]["parameters"]
    assert (record["backend"], record["edge"]) == ("torch", "inside")
