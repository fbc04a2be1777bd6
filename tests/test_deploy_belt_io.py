"""Labelled image folders, mask PNGs and model cards (no torch)."""

import json

import numpy as np
import pytest
from PIL import Image

from liberation.deploy.belt.io import (
    card_path,
    read_labelled_folder,
    read_model_card,
    write_mask_png,
    write_model_card,
)
from liberation.errors import FileFormatError, OverwriteError


def test_labelled_folder_round_trip(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = rng.integers(0, 4000, (20, 30)).astype(np.uint16)
        Image.fromarray(img).save(tmp_path / "images" / f"f{i}.tif")
        write_mask_png(tmp_path / "masks" / f"f{i}.png", (img % 3).astype(np.uint8))
    paths, images, masks = read_labelled_folder(tmp_path)
    assert [p.name for p in paths] == ["f0.tif", "f1.tif", "f2.tif"]
    assert images.shape == masks.shape == (3, 20, 30)
    assert np.array_equal(masks, images % 3)
    with pytest.raises(OverwriteError):
        write_mask_png(tmp_path / "masks" / "f0.png", masks[0])
    (tmp_path / "images" / "lonely.png").write_bytes((tmp_path / "masks" / "f0.png").read_bytes())
    with pytest.raises(FileFormatError):
        read_labelled_folder(tmp_path)


def test_model_card(tmp_path):
    model = tmp_path / "m.onnx"
    path = write_model_card(model, {"config": {"class_names": ["background", "ore"]}, "input": {"i0": 10.0}})
    assert path == card_path(model) and path.name == "m.onnx.json"
    assert read_model_card(model)["input"]["i0"] == 10.0
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(FileFormatError):
        read_model_card(model)
    with pytest.raises(FileFormatError):
        read_model_card(tmp_path / "missing.pt")
