"""ONNX export parity (FP32 < 1e-4, FP16 weights), runtime backends, and the deploy CLI end to end."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from liberation.deploy.belt.config import belt_config_preset  # noqa: E402
from liberation.deploy.belt.export import export_belt_onnx, verify_belt_onnx  # noqa: E402
from liberation.deploy.belt.model import build_belt_segmenter  # noqa: E402

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def tiny_model():
    model = build_belt_segmenter(belt_config_preset("test"), seed=1)
    # non-trivial BN statistics so the check is not on near-zero outputs
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 1, 64, 64) * 3)
    return model.eval()


@pytest.fixture(scope="module")
def tiny_onnx(tiny_model, tmp_path_factory):
    return export_belt_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "m.onnx")


@pytest.mark.slow
def test_onnx_parity_fp32_and_fp16(tiny_model, tiny_onnx, tmp_path):
    import onnx

    p = tiny_onnx
    proto = onnx.load(str(p))
    assert proto.opset_import[0].version >= 17
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    r = verify_belt_onnx(tiny_model, p, shape=(2, 1, 64, 64))
    print("ONNX FP32 max abs diff", r["max_abs_diff"])
    assert r["max_abs_diff"] < 1e-4
    r3 = verify_belt_onnx(tiny_model, p, shape=(3, 1, 32, 96))  # other batch and size
    assert r3["max_abs_diff"] < 1e-4
    p16 = export_belt_onnx(tiny_model, tmp_path / "m16.onnx", fp16=True)
    r16 = verify_belt_onnx(tiny_model, p16, shape=(2, 1, 64, 64))
    print("ONNX FP16-weights max abs diff", r16["max_abs_diff"])
    assert r16["max_abs_diff"] < 5e-2 and r16["argmax_agreement"] > 0.99
    half = [i for i in onnx.load(str(p16)).graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(half) >= len(proto.graph.initializer) // 2


def test_runtime_backends_agree(tiny_model, tiny_onnx, tmp_path):
    import shutil

    from liberation.deploy.belt.io import save_belt_checkpoint, write_model_card
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.deploy.belt.synthetic import make_belt_dataset

    card = {"class_names": ["background", "ore", "waste"], "input": {"i0": 4000.0}}
    pt = save_belt_checkpoint(tmp_path / "m.pt", tiny_model, card)
    onnx_path = shutil.copy(tiny_onnx, tmp_path / "m.onnx")
    write_model_card(onnx_path, {**card, "config": tiny_model.config.to_dict()})
    images, _ = make_belt_dataset(2, (50, 70), seed=0)  # not multiples of 32: padded and cropped
    rt_t = BeltRuntime(pt)
    rt_o = BeltRuntime(onnx_path, threads=1)
    assert rt_t.backend == "torch" and rt_o.backend in ("onnxruntime", "tensorrt")
    a, b = rt_t.segment(images), rt_o.segment(images)
    assert a.shape == (2, 50, 70) and a.dtype == np.uint8
    assert (a == b).mean() > 0.999
    assert rt_o.segment(images[0]).shape == (50, 70)
    bench = rt_o.benchmark(shape=(64, 64), repeats=2, warmup=1)
    assert bench["ms_per_frame"] > 0 and bench["fps"] == pytest.approx(1000 / bench["ms_per_frame"])


@pytest.mark.slow
def test_cli_train_export_benchmark_segment_evaluate(tmp_path):
    from PIL import Image

    from liberation.cli import main
    from liberation.deploy.belt.synthetic import make_belt_dataset

    model = tmp_path / "belt.pt"
    assert main(["deploy", "train", "--synthetic", "6", "--size", "64", "--preset", "test", "--max-steps", "2",
                 "--out", str(model)]) == 0
    assert main(["deploy", "train", "--synthetic", "6", "--size", "64", "--out", str(model)]) == 2  # exists
    onnx_path = tmp_path / "belt.onnx"
    assert main(["deploy", "export", str(model), "--out", str(onnx_path)]) == 0
    assert onnx_path.is_file() and (tmp_path / "belt.onnx.json").is_file()
    assert main(["deploy", "benchmark", str(onnx_path), "--size", "64", "--repeats", "2", "--threads", "1"]) == 0
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    frames, _ = make_belt_dataset(2, (64, 64), seed=3)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(imgs / f"frame{i}.png")
    out = tmp_path / "masks"
    assert main(["deploy", "segment", str(onnx_path), str(imgs), "--out", str(out)]) == 0
    m = np.array(Image.open(out / "frame0.png"))
    assert m.shape == (64, 64) and m.max() <= 2 and (out / "fragments.csv").is_file()
    assert main(["deploy", "evaluate", str(model), "--synthetic", "3", "--size", "64"]) == 0
    assert main(["deploy", "export", str(model), "--out", str(onnx_path), "--opset", "12", "--overwrite"]) == 2


@pytest.mark.slow
def test_onnx_keeps_attention_windows_at_every_frame_size(tmp_path):
    """Traced at 64 x 64 (stride-4 map 16 < stripe length 32), run at 256 x 192 (map 64 x 48, not whole windows):
    the ONNX graph must use the same 32-pixel windows as PyTorch, not a size frozen at trace time."""
    model = build_belt_segmenter(belt_config_preset("test", stripe_length=(None, 32)), seed=3).eval()
    with torch.no_grad():  # make the shallow attention dominate the output
        model.attn_shallow.qkv.weight.mul_(20.0)
        model.attn_shallow.proj.weight.mul_(20.0)
    p = export_belt_onnx(model, tmp_path / "m.onnx")
    r = verify_belt_onnx(model, p, shape=(1, 1, 256, 192))
    assert r["max_abs_diff"] < 1e-4
    # the check is sensitive: a model with whole-row windows gives a clearly different output
    other = build_belt_segmenter(belt_config_preset("test", stripe_length=(None, None)), seed=3).eval()
    other.load_state_dict(model.state_dict())
    x = torch.rand(1, 1, 256, 192) * 3
    with torch.no_grad():
        assert (model(x) - other(x)).abs().max() > 10 * 1e-4


@pytest.mark.slow
def test_opset13_export_for_older_tensorrt(tiny_model, tmp_path):
    """The Jetson Nano path: an opset-13 graph with the same dynamic axes and onnxruntime parity."""
    import onnx

    p = export_belt_onnx(tiny_model, tmp_path / "m13.onnx", opset=13)
    proto = onnx.load(str(p))
    assert proto.opset_import[0].version == 13
    assert "LayerNormalization" not in {n.op_type for n in proto.graph.node}
    parity = verify_belt_onnx(tiny_model, p, shape=(1, 1, 96, 64), atol=1e-4)
    assert parity["max_abs_diff"] < 1e-4 and parity["argmax_agreement"] == 1.0
