"""The napari view of a store: layer-data tuples (no napari), the reader plugin, the `view` command.

Known answers: the store's own arrays and metadata (voxel size, pyramid level shapes), the
mineral colours of :func:`liberation.minerals.spodumene_ore` (converted independently by
matplotlib), and napari itself building the layers headless (``napari.components.ViewerModel``;
a real Qt window cannot open here, so ``napari.Viewer`` is replaced by a ViewerModel).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from liberation.cli import main
from liberation.errors import InputError
from liberation.io import create_store
from liberation.io.store import pyramid_shapes
from liberation.minerals import spodumene_ore
from liberation.viewer import get_reader, read_store, store_layers

SHAPE = (17, 18, 19)
VOXEL = (3.0, 2.5, 2.0)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    ct = rng.integers(1000, 3000, size=SHAPE, dtype=np.uint16)
    ct[:4] = 500  # a dark slab: the contrast limits must span it
    path = tmp_path_factory.mktemp("view") / "sample.zarr"
    store = create_store(path, ct, voxel_size_um=VOXEL, chunks=(8, 8, 8), pyramid_levels=2)
    phases = rng.integers(0, 5, size=SHAPE, dtype=np.uint8)
    store.write_label("phases", phases, minerals=spodumene_ore())
    store.write_label("particles", (rng.integers(0, 40, size=SHAPE)).astype(np.uint32))
    sparse = np.full(SHAPE, 255, np.uint8)
    sparse[8] = phases[8]
    store.write_label("sparse", sparse, minerals=spodumene_ore())
    return path


def _by_name(layers):
    return {kwargs["name"]: (data, kwargs, layer_type) for data, kwargs, layer_type in layers}


def test_store_layers_names_types_scale_and_levels(store_path):
    layers = store_layers(store_path)
    assert [(k["name"], t) for _, k, t in layers] == [("CT", "image"), ("phases", "labels"), ("particles", "labels"),
                                                      ("sparse", "labels")]
    from liberation.io import open_store

    store = open_store(store_path)
    expected_shapes = pyramid_shapes(SHAPE, 2)
    for data, kwargs, _ in layers:
        assert kwargs["scale"] == VOXEL  # level 0 voxel size in µm, z y x
        assert kwargs["translate"] == (0.0, 0.0, 0.0)
        assert kwargs["units"] == ("micrometer",) * 3 and kwargs["axis_labels"] == ("z", "y", "x")
        assert kwargs["multiscale"] is True
        assert [tuple(level.shape) for level in data] == expected_shapes
    ct_data = _by_name(layers)["CT"][0]
    np.testing.assert_array_equal(np.asarray(ct_data[1]), store.image(1)[...])
    np.testing.assert_array_equal(np.asarray(_by_name(layers)["phases"][0][2]), store.label("phases", 2)[...])
    lo, hi = _by_name(layers)["CT"][1]["contrast_limits"]
    coarsest = store.image(2)[...].astype(float)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(coarsest, [0.5, 99.5])))
    assert not _by_name(layers)["particles"][1]["visible"]  # under the phases; toggled on in napari


def test_phase_colours_and_names_are_the_minerals(store_path):
    minerals = spodumene_ore()
    layers = _by_name(store_layers(store_path, ct=False))
    _, kwargs, _ = layers["phases"]
    colours = kwargs["colormap"]
    assert colours[0] == (0.0, 0.0, 0.0, 0.0)  # void transparent
    for m in minerals:
        assert colours[m.id] == pytest.approx(to_rgba(m.color))
    assert set(colours) == {0, None, *minerals.ids}
    features = kwargs["features"]
    assert features["index"] == [0, *sorted(minerals.ids)]
    assert features["name"] == ["void", *[minerals[i].name for i in sorted(minerals.ids)]]
    np.testing.assert_allclose(features["density_g_cm3"][1:], [minerals[i].density for i in sorted(minerals.ids)])
    sparse = layers["sparse"][1]
    assert sparse["colormap"][255] == (0.0, 0.0, 0.0, 0.0)  # not labelled: transparent
    assert sparse["colormap"][minerals.ids[0]] == pytest.approx(to_rgba(minerals[minerals.ids[0]].color))
    assert "colormap" not in layers["particles"][1]  # napari's own label colours


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_single_level_store_and_label_selection(tmp_path, version):
    path = tmp_path / "flat.zarr"
    store = create_store(path, np.arange(60, dtype=np.float32).reshape(3, 4, 5), voxel_size_um=1.5,
                         ngff_version=version)
    store.write_label("particles", np.ones((3, 4, 5), np.uint32))
    layers = store_layers(path, labels=["particles"], ct=False)
    assert len(layers) == 1
    data, kwargs, layer_type = layers[0]
    assert layer_type == "labels" and kwargs["multiscale"] is False and data.shape == (3, 4, 5)
    assert kwargs["scale"] == (1.5, 1.5, 1.5)
    with pytest.raises(InputError, match="no label image 'phases'.*labels present: particles"):
        store_layers(path, labels=["phases"])


def test_reader_accepts_stores_only(store_path, tmp_path):
    import zarr

    assert get_reader(str(store_path)) is read_store
    assert get_reader([str(store_path)]) is read_store
    assert get_reader(str(tmp_path)) is None  # a folder that is not a .zarr
    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w")  # a zarr group without OME metadata
    assert get_reader(str(plain)) is None
    assert get_reader(str(tmp_path / "missing.zarr")) is None
    assert get_reader([str(store_path), str(plain)]) is None
    ours = [(k["name"], t) for _, k, t in read_store(str(store_path))]
    assert ours == [(k["name"], t) for _, k, t in store_layers(store_path)]


def test_manifest_and_entry_point_agree():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    entry = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["napari.manifest"]
    assert entry == {"liberation": "liberation.viewer:napari.yaml"}
    import yaml

    manifest = yaml.safe_load((root / "liberation" / "viewer" / "napari.yaml").read_text())
    assert manifest["name"] == "liberation"  # npe2: the distribution name
    (command,) = manifest["contributions"]["commands"]
    module, _, attribute = command["python_name"].partition(":")
    import importlib

    assert getattr(importlib.import_module(module), attribute) is get_reader
    assert manifest["contributions"]["readers"][0]["command"] == command["id"]


def test_view_without_napari_is_one_line(store_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "napari", None)  # import napari -> ImportError
    assert main(["view", str(store_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the viewer needs napari") and "pip install 'liberation[viewer]'" in err
    assert "\n" not in err


def test_view_errors(store_path, tmp_path, capsys):
    assert main(["view", str(store_path), "--label", "nope"]) == 2
    assert "no label image 'nope'" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "missing.zarr")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_napari_builds_the_layers_headless(store_path, monkeypatch):
    napari = pytest.importorskip("napari")
    from napari.components import ViewerModel

    # the layers of the reader, built by napari itself
    viewer = ViewerModel()
    for data, kwargs, layer_type in read_store(str(store_path)):
        viewer.add_layer(napari.layers.Layer.create(data, kwargs, layer_type))
    assert [(layer.name, type(layer).__name__) for layer in viewer.layers] == [
        ("CT", "Image"), ("phases", "Labels"), ("particles", "Labels"), ("sparse", "Labels")]
    minerals = spodumene_ore()
    for layer in viewer.layers:
        np.testing.assert_allclose(layer.scale, VOXEL)
        assert [str(u) for u in layer.units] == ["micrometer"] * 3
        assert layer.multiscale and [tuple(d.shape) for d in layer.data] == pyramid_shapes(SHAPE, 2)
    phases = viewer.layers["phases"]
    ids = np.array([0, *minerals.ids])
    expected = np.array([(0.0, 0.0, 0.0, 0.0)] + [to_rgba(minerals[i].color) for i in minerals.ids])
    np.testing.assert_allclose(phases.colormap.map(ids), expected, atol=1e-6)
    assert list(phases.features["name"]) == ["void", *[minerals[i].name for i in sorted(minerals.ids)]]
    assert viewer.layers["CT"].contrast_limits[0] < viewer.layers["CT"].contrast_limits[1]

    # `liberation view` with napari.Viewer replaced by a headless ViewerModel and no event loop
    made = []

    def fake_viewer(**kwargs):
        made.append(ViewerModel(**kwargs))
        return made[-1]

    monkeypatch.setattr(napari, "Viewer", fake_viewer)
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no display here; the fake viewer needs none
    assert main(["view", str(store_path), "--label", "phases"]) == 0
    (shown,) = made
    assert shown.title == "liberation: sample.zarr"
    assert [layer.name for layer in shown.layers] == ["CT", "phases"]
    assert shown.canvas.overlays.scale_bar.visible
    np.testing.assert_allclose(shown.layers["phases"].colormap.map(ids), expected, atol=1e-6)


@pytest.mark.slow
def test_manifest_validates_with_npe2(store_path, tmp_path):
    npe2 = pytest.importorskip("npe2")
    root = Path(__file__).resolve().parents[1]
    manifest = npe2.PluginManifest.from_file(root / "liberation" / "viewer" / "napari.yaml")
    assert manifest.name == "liberation"
    (reader,) = manifest.contributions.readers
    assert reader.accepts_directories and reader.filename_patterns == ["*.zarr"]
    (command,) = manifest.contributions.commands
    assert command.python_name == "liberation.viewer._napari:get_reader"
    manifest.validate_imports()  # every python_name of the manifest imports
    from npe2.manifest.utils import import_python_name

    assert import_python_name(command.python_name) is get_reader
    # npe2 dispatches a dropped store to the reader (napari's own path; npe2's _read takes a plugin manager)
    from npe2.io_utils import _read

    pm = npe2.PluginManager()
    pm.register(manifest)
    pm.activate("liberation")
    layers = _read([str(store_path)], stack=False, plugin_name="liberation", _pm=pm)
    assert [(k["name"], t) for _, k, t in layers] == [(k["name"], t) for _, k, t in store_layers(store_path)]
    with pytest.raises(ValueError, match="refused"):
        _read([str(tmp_path)], stack=False, plugin_name="liberation", _pm=pm)


@pytest.mark.slow
def test_view_without_qt_or_display_is_one_line(store_path, monkeypatch, capsys):
    napari = pytest.importorskip("napari")

    def no_qt(**kwargs):
        raise ImportError("No Qt bindings could be found")

    monkeypatch.setattr(napari, "Viewer", no_qt)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["view", str(store_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: napari has no Qt backend") and 'pip install "napari[pyqt5]"' in err
    if sys.platform.startswith("linux"):
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
            monkeypatch.delenv(name, raising=False)
        assert main(["view", str(store_path)]) == 2
        assert "needs a display" in capsys.readouterr().err
