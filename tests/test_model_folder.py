"""The one model folder format and model card (liberation.model_folder), and the older U-Net card."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from liberation._atomic import MARKER_NAME
from liberation.errors import FileFormatError, OverwriteError
from liberation.model_folder import (
    CARD_FILE,
    CARD_KEYS,
    WEIGHTS_FILE,
    card_class_names,
    make_card,
    make_classes,
    read_card,
    read_model_folder,
    validate_card,
    write_card,
    write_model_folder,
)


def _card(**kw):
    return make_card("belt-segmenter", architecture={"widths": (8, 16)}, classes=["background", "ore"],
                     input={"pixel_size_um": 500.0, "i0": 4000.0}, **kw)


def test_card_has_the_fixed_keys_and_plain_json():
    card = _card(metrics={"miou": float("nan")}, extra={"parameters": 12})
    assert tuple(card) == CARD_KEYS
    assert card["format_version"] == 1 and card["kind"] == "belt-segmenter"
    assert card["architecture"]["widths"] == [8, 16]  # tuples become lists
    assert card["classes"] == [{"id": 0, "name": "background", "colour": None}, {"id": 1, "name": "ore", "colour": None}]
    assert card["metrics"]["miou"] is None  # NaN has no JSON form
    assert card_class_names(card) == ("background", "ore")
    assert card["library_version"] and card["created"]
    json.dumps(card, allow_nan=False)


def test_classes_with_ids_and_colours():
    classes = make_classes(["void", "quartz"], ids=[0, 3], colours=["#000000", [255, 0, 0]])
    assert classes[1] == {"id": 3, "name": "quartz", "colour": [255, 0, 0]}
    with pytest.raises(ValueError, match="classes"):
        make_classes(["a", "b"], ids=[0])


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("metrics"), "lacks"),
    (lambda c: c.update(kind="cnn"), "kind"),
    (lambda c: c.update(format_version=99), "format_version"),
    (lambda c: c.update(input=[1]), "input"),
    (lambda c: c.update(classes=["ore"]), "classes"),
])
def test_validate_rejects_malformed_cards(change, message):
    card = _card()
    change(card)
    with pytest.raises(FileFormatError, match=message):
        validate_card(card)


def test_write_and_read_card(tmp_path):
    path = write_card(tmp_path / "m.onnx.json", _card())
    assert read_card(path)["input"]["i0"] == 4000.0
    with pytest.raises(OverwriteError):
        write_card(path, _card())
    write_card(path, _card(metrics={"miou": 0.5}), overwrite=True)
    assert read_card(path)["metrics"] == {"miou": 0.5}
    path.write_text(json.dumps({"task": "phases"}))
    with pytest.raises(FileFormatError, match="lacks"):
        read_card(path)
    assert read_card(path, upgrade=lambda old: _card(extra={"old": old}))["extra"]["old"] == {"task": "phases"}
    path.write_text("{not json")
    with pytest.raises(FileFormatError, match="JSON"):
        read_card(path)
    with pytest.raises(FileFormatError, match="not found"):
        read_card(tmp_path / "missing.json")


def test_model_folder_without_weights_is_atomic_and_refuses_overwrite(tmp_path):
    folder = write_model_folder(tmp_path / "m", _card(), write_extra=lambda tmp: (tmp / "notes.txt").write_text("x"))
    assert sorted(p.name for p in folder.iterdir()) == sorted([MARKER_NAME, CARD_FILE, "notes.txt"])
    assert read_model_folder(folder)["kind"] == "belt-segmenter"
    with pytest.raises(OverwriteError):
        write_model_folder(folder, _card())

    def fail(tmp):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_model_folder(tmp_path / "broken", _card(), write_extra=fail)
    assert not (tmp_path / "broken").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary left behind
    with pytest.raises(FileFormatError, match="not found"):
        read_model_folder(tmp_path / "none")


def test_weights_round_trip_with_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    from liberation.model_folder import load_weights

    state = {"w": torch.arange(6.0).reshape(2, 3)}
    folder = write_model_folder(tmp_path / "m", _card(), state_dict=state)
    assert (folder / WEIGHTS_FILE).is_file()
    got = load_weights(folder)
    assert torch.equal(got["w"], state["w"])
    (folder / WEIGHTS_FILE).write_bytes(b"not a torch file")
    with pytest.raises(FileFormatError, match="cannot be read"):
        load_weights(folder)


def test_model_folder_module_does_not_import_torch():
    code = ("import sys, liberation.model_folder, liberation.segmentation.card, liberation.segmentation.checkpoint; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


OLD_UNET_CARD = {
    "task": "phases", "class_ids": [0, 1, 2], "class_names": ["void", "quartz", "spodumene"], "in_channels": 1,
    "patch_size": [16, 16, 16], "voxel_size_um": [5.0, 5.0, 5.0],
    "normalization": {"method": "percentile", "low": 1.0, "high": 99.0},
    "network": {"channels": [8, 16], "in_channels": 1, "out_channels": 3},
    "minerals": [{"name": "quartz", "density": 2.65}], "training": {"epochs": 3}, "validation": {"miou": 0.8},
    "library_version": "0.0.9", "card_version": 1,
    "checkpoints": [{"epoch": 3, "val_loss": 0.2, "file": "checkpoints/epoch_0003.pt"}],
}


def test_old_unet_card_still_loads(tmp_path):
    from liberation.segmentation.card import ModelCard
    from liberation.segmentation.checkpoint import load_card

    (tmp_path / CARD_FILE).write_text(json.dumps(OLD_UNET_CARD))
    card = load_card(tmp_path)
    assert card == ModelCard.from_dict(OLD_UNET_CARD)
    new = card.to_model_card()
    assert new["kind"] == "phases-unet" and new["library_version"] == "0.0.9"
    assert new["input"]["normalization"]["method"] == "percentile"
    assert [c["id"] for c in new["classes"]] == [0, 1, 2]
    assert ModelCard.from_model_card(new) == card
    upgraded = ModelCard.upgrade(OLD_UNET_CARD)
    assert upgraded["extra"]["checkpoints"][0]["epoch"] == 3
    with pytest.raises(FileFormatError, match="U-Net"):
        ModelCard.from_model_card(_card())
