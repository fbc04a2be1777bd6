"""Real data formats of the belt segmenter: LabelMe JSON, label PNGs, the 7:2:1 split, presets, CLI report."""

import base64
import io
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from liberation.deploy.belt.io import (
    parse_split,
    read_labelled_folder,
    read_labelme_folder,
    read_labelme_json,
    split_indices,
)
from liberation.errors import FileFormatError, InputError


def _png(path, arr):
    Image.fromarray(arr).save(path)


def _labelme(path, shapes, *, image_path=None, image_data=None, h=20, w=24):
    doc = {"version": "5.2.1", "flags": {}, "shapes": [{"label": lab, "points": pts, "group_id": None,
                                                           "shape_type": kind, "flags": {}}
                                                          for lab, pts, kind in shapes],
           "imagePath": image_path, "imageData": image_data, "imageHeight": h, "imageWidth": w}
    path.write_text(json.dumps(doc))


def test_labelme_polygons_rasterised(tmp_path):
    img = np.full((20, 24), 230, np.uint8)
    _png(tmp_path / "f1.png", img)
    # a rectangle as a polygon (pixel centres 2..9 x 3..7 inside), a triangle over it, a rectangle shape
    _labelme(tmp_path / "f1.json", [
        ("waste", [[2, 3], [9, 3], [9, 7], [2, 7]], "polygon"),
        ("ore", [[15, 2], [22, 2], [15, 9]], "polygon"),
        ("ore", [[4, 12], [7, 15]], "rectangle"),
        ("waste", [[5, 5], [8, 5], [8, 6], [5, 6]], "polygon"),  # later shapes paint over earlier ones
    ], image_path="f1.png")
    image, mask = read_labelme_json(tmp_path / "f1.json")
    assert image.shape == (20, 24) and mask.dtype == np.uint8
    expect = np.zeros((20, 24), np.uint8)
    expect[3:8, 2:10] = 2
    expect[12:16, 4:8] = 1
    yy, xx = np.mgrid[:20, :24]
    tri = (xx >= 15) & (yy >= 2) & (xx - 15 + yy - 2 <= 7)  # closed triangle of pixel centres
    expect[tri] = 1
    assert np.array_equal(mask, expect)
    # the same file with the image embedded (no file beside it)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    _labelme(tmp_path / "emb.json", [("ore", [[1, 1], [5, 1], [5, 5], [1, 5]], "polygon")],
             image_path="missing.png", image_data=base64.b64encode(buf.getvalue()).decode())
    image2, mask2 = read_labelme_json(tmp_path / "emb.json")
    assert np.array_equal(image2, img) and mask2[1:6, 1:6].min() == 1 and mask2.sum() == 25


def test_labelme_errors_name_the_problem(tmp_path):
    _png(tmp_path / "a.png", np.zeros((20, 24), np.uint8))
    _labelme(tmp_path / "a.json", [("slag", [[1, 1], [5, 1], [5, 5]], "polygon")], image_path="a.png")
    with pytest.raises(FileFormatError, match="slag"):
        read_labelme_json(tmp_path / "a.json")
    _labelme(tmp_path / "a.json", [("ore", [[1, 1], [5, 5]], "circle")], image_path="a.png")
    with pytest.raises(FileFormatError, match="circle"):
        read_labelme_json(tmp_path / "a.json")
    _labelme(tmp_path / "a.json", [], image_path="gone.png")
    with pytest.raises(FileFormatError, match="gone.png"):
        read_labelme_json(tmp_path / "a.json")
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="LabelMe"):
        read_labelme_json(tmp_path / "a.json")


def test_labelled_folder_reads_label_pngs_and_labelme(tmp_path):
    (tmp_path / "png" / "images").mkdir(parents=True)
    (tmp_path / "png" / "masks").mkdir()
    m = np.zeros((16, 16), np.uint8)
    m[2:6, 3:9] = 1
    m[10:14, 10:12] = 2
    _png(tmp_path / "png" / "images" / "x.png", np.full((16, 16), 200, np.uint8))
    _png(tmp_path / "png" / "masks" / "x.png", m)
    _, images, masks = read_labelled_folder(tmp_path / "png")
    assert images.shape == (1, 16, 16) and np.array_equal(masks[0], m)
    (tmp_path / "lm").mkdir()
    for k in range(3):
        _png(tmp_path / "lm" / f"f{k}.png", np.full((20, 24), 220, np.uint8))
        _labelme(tmp_path / "lm" / f"f{k}.json", [("ore", [[1, 1], [6, 1], [6, 6], [1, 6]], "polygon")],
                 image_path=f"f{k}.png")
    paths, images, masks = read_labelled_folder(tmp_path / "lm")
    assert [p.name for p in paths] == ["f0.json", "f1.json", "f2.json"]
    assert images.shape == (3, 20, 24) and (masks == 1).sum() == 3 * 36
    assert read_labelme_folder(tmp_path / "lm")[2].shape == (3, 20, 24)


def test_split_7_2_1_seeded_and_stratified():
    strata = np.r_[np.ones(60, int), np.full(40, 2)]
    tr, va, te = split_indices(100, "7:2:1", seed=3, strata=strata)
    assert (len(tr), len(va), len(te)) == (70, 20, 10)
    assert np.array_equal(np.sort(np.r_[tr, va, te]), np.arange(100))
    for part, n in ((tr, 70), (va, 20), (te, 10)):
        assert (strata[part] == 1).sum() == round(0.6 * n)  # each part keeps the 60/40 class mix
    again = split_indices(100, (7, 2, 1), seed=3, strata=strata)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    other = split_indices(100, (7, 2, 1), seed=4, strata=strata)
    assert not np.array_equal(te, other[2])
    assert [len(p) for p in split_indices(3, "7:2:1")] == [1, 1, 1]
    assert [len(p) for p in split_indices(10, "8:2:0")] == [8, 2, 0]
    assert parse_split("7:2:1") == pytest.approx((0.7, 0.2, 0.1))
    for bad in ("7:2", "a:b:c", "0:1:1", "7:-2:1", "7:0:3"):
        with pytest.raises(InputError, match="split"):
            parse_split(bad)


def test_presets_named_for_what_they_are():
    torch = pytest.importorskip("torch")
    from liberation.deploy.belt.config import BELT_PRESETS, belt_config_preset
    from liberation.deploy.belt.model import build_belt_segmenter, count_parameters

    assert set(BELT_PRESETS) == {"test", "cpu", "edge", "paper"}
    for old, new in (("tiny", "test"), ("small", "cpu"), ("base", "edge")):
        with pytest.warns(DeprecationWarning, match=new):
            assert belt_config_preset(old) == belt_config_preset(new)
    with pytest.raises(InputError, match="preset"):
        belt_config_preset("large")
    # the paper's Mineral-DeepLabV3+ has 30.5 M parameters; built on the meta device (no memory, no training)
    with torch.device("meta"):
        paper = build_belt_segmenter(belt_config_preset("paper"), seed=None)
    n = count_parameters(paper)
    assert 28e6 <= n <= 33e6, n
    with torch.device("meta"):
        cpu = count_parameters(build_belt_segmenter(belt_config_preset("cpu"), seed=None))
        test = count_parameters(build_belt_segmenter(belt_config_preset("test"), seed=None))
    assert test < 50e3 < cpu < 1e6 < n


@pytest.mark.slow
def test_cli_train_split_labelme_and_segment_warns(tmp_path, capsys):
    pytest.importorskip("torch")
    from liberation.cli import main
    from liberation.deploy.belt.generators import make_generator_dataset

    x, y = make_generator_dataset("pebble", 10, (64, 64), bits=8, seed=1)
    data = tmp_path / "lm"
    data.mkdir()
    for k in range(10):
        _png(data / f"f{k}.png", x[k])
        shapes = [("ore", [[2, 2], [20, 2], [20, 20], [2, 20]], "polygon")] if k % 2 else []
        _labelme(data / f"f{k}.json", shapes, image_path=f"f{k}.png", h=64, w=64)
    model = tmp_path / "belt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rc = main(["deploy", "train", "--data", str(data), "--split", "7:2:1", "--preset", "test", "--max-steps", "2",
                   "--threads", "1", "--out", str(model)])
    assert rc in (0, None)
    card = json.loads((model / "model_card.json").read_text())
    assert card["input"]["i0"] == "auto" and card["metrics"]["n_test"] == 1
    assert set(card["metrics"]["test"]) >= {"accuracy", "mpa", "miou", "iou", "pa"}
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(2):
        _png(frames / f"g{k}.png", x[k])
    out = capsys.readouterr().out
    assert "test (1 frames): Accuracy" in out and "test IoU per class: background" in out
    assert main(["deploy", "segment", str(model), str(frames), "--out", str(tmp_path / "m1"), "--i0", "4000"]) in (0, None)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(lines) == 1 and "i0=4000" in lines[0] and "frames look unlike the training data" in lines[0]
    assert main(["deploy", "segment", str(model), str(frames), "--out", str(tmp_path / "m2"), "--i0", "zero"]) == 2
    assert "i0='zero'" in capsys.readouterr().err
