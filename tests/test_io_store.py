"""The OME-Zarr sample store: round trips, both NGFF versions, safe writes, interoperability."""

import json
import os

import numpy as np
import pytest

from liberation.errors import InputError, OverwriteError, StoreError
from liberation.io import create_store, open_store
from liberation.io import store as store_module
from liberation.minerals import spodumene_ore


@pytest.fixture
def ct():
    rng = np.random.default_rng(0)
    return rng.integers(0, 60000, size=(20, 24, 28), dtype=np.uint16)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_round_trip_image_and_labels(tmp_path, ct, version):
    path = tmp_path / "s.zarr"
    store = create_store(path, ct, voxel_size_um=(3.0, 2.5, 2.0), chunks=8, ngff_version=version)
    phases = (ct % 5).astype(np.uint8)
    particles = (ct % 7).astype(np.uint32)
    store.write_label("phases", phases, minerals=spodumene_ore(), step="test", parameters={"a": 1})
    store.write_label("particles", particles)
    again = open_store(path)
    assert again.ngff_version == version
    assert again.shape == ct.shape
    assert again.voxel_size_um == (3.0, 2.5, 2.0)
    np.testing.assert_array_equal(again.image()[:], ct)
    np.testing.assert_array_equal(again.label("phases")[:], phases)
    np.testing.assert_array_equal(again.label_dask("particles").compute(), particles)
    assert again.label("particles").dtype == np.uint32
    assert again.label_names == ["phases", "particles"]
    assert again.minerals.names == ["spodumene", "quartz", "albite", "muscovite"]
    assert again.minerals["quartz"].density == pytest.approx(2.65)
    steps = [p["step"] for p in again.provenance]
    assert steps == ["create", "test", "write_label"]
    assert again.provenance[1]["parameters"] == {"label": "phases", "a": 1}
    assert again.provenance[0]["version"]


def test_reads_are_lazy(tmp_path, ct):
    store = create_store(tmp_path / "s.zarr", ct, voxel_size_um=1.0, chunks=8)
    image = store.image()
    assert not isinstance(image, np.ndarray)
    assert store.image_dask().chunks[0][0] == 8


def test_pyramid_levels(tmp_path, ct):
    store = create_store(tmp_path / "s.zarr", ct, voxel_size_um=2.0, chunks=8, pyramid_levels=2)
    assert store.image(1).shape == (10, 12, 14)
    assert store.image(2).shape == (5, 6, 7)
    expected = ct[:2, :2, :2].astype(np.float64).mean()
    assert abs(float(store.image(1)[0, 0, 0]) - expected) <= 0.5  # rounded to nearest
    # labels constant on each 2x2x2 block: level 1 is that block value (mode), level 2 the mode of those
    coarse = (ct[::2, ::2, ::2] % 3).astype(np.uint8)
    phases = coarse.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    store.write_label("phases", phases)
    np.testing.assert_array_equal(store.label("phases", level=1)[:], coarse)
    assert store.label("phases", level=2).shape == store.image(2).shape == (5, 6, 7)


def test_refuses_to_overwrite(tmp_path, ct):
    path = tmp_path / "s.zarr"
    store = create_store(path, ct, voxel_size_um=1.0)
    with pytest.raises(OverwriteError, match="already exists"):
        create_store(path, ct, voxel_size_um=1.0)
    store.write_label("phases", np.zeros(ct.shape, np.uint8))
    with pytest.raises(OverwriteError, match="labels/phases"):
        store.write_label("phases", np.ones(ct.shape, np.uint8))
    assert store.label("phases")[:].max() == 0
    store.write_label("phases", np.ones(ct.shape, np.uint8), overwrite=True)
    assert store.label("phases")[:].min() == 1
    create_store(path, ct[:5], voxel_size_um=1.0, overwrite=True)
    assert open_store(path).shape == (5, 24, 28)


def test_interrupted_label_write_leaves_nothing_half_written(tmp_path, ct, monkeypatch):
    path = tmp_path / "s.zarr"
    store = create_store(path, ct, voxel_size_um=1.0, chunks=4)
    store.write_label("phases", np.full(ct.shape, 2, np.uint8))
    original = store_module._write_array

    def failing(group, name, data, **kw):
        arr = group.create_array(name, shape=data.shape, chunks=kw["chunks"], dtype=kw["dtype"])
        arr[:4] = 9
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(store_module, "_write_array", failing)
    with pytest.raises(KeyboardInterrupt):
        store.write_label("phases", np.full(ct.shape, 9, np.uint8), overwrite=True)
    with pytest.raises(KeyboardInterrupt):
        store.write_label("particles", np.full(ct.shape, 9, np.uint32))
    monkeypatch.setattr(store_module, "_write_array", original)
    again = open_store(path)
    assert again.label_names == ["phases"]
    assert np.all(again.label("phases")[:] == 2)
    assert sorted(os.listdir(path / "labels")) == ["phases", "zarr.json"]


def test_interrupted_create_leaves_no_store(tmp_path, ct):
    path = tmp_path / "s.zarr"

    def blocks():
        yield 0, ct[:4]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        create_store(path, None, voxel_size_um=1.0, chunks=4, blocks=(ct.shape, ct.dtype, blocks()))
    assert os.listdir(tmp_path) == []


def test_bad_input(tmp_path, ct):
    with pytest.raises(InputError, match="voxel_size_um"):
        create_store(tmp_path / "a.zarr", ct, voxel_size_um=0)
    with pytest.raises(InputError, match="voxel_size_um"):
        create_store(tmp_path / "a.zarr", ct, voxel_size_um=None)
    with pytest.raises(InputError, match="3D"):
        create_store(tmp_path / "a.zarr", ct[0], voxel_size_um=1.0)
    with pytest.raises(InputError, match="ngff_version"):
        create_store(tmp_path / "a.zarr", ct, voxel_size_um=1.0, ngff_version="0.3")
    store = create_store(tmp_path / "b.zarr", ct, voxel_size_um=1.0)
    with pytest.raises(InputError, match="shape"):
        store.write_label("phases", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InputError, match="integer"):
        store.write_label("phases", np.zeros(ct.shape, np.float32))
    with pytest.raises(StoreError, match="read-only"):
        open_store(tmp_path / "b.zarr").write_label("phases", np.zeros(ct.shape, np.uint8))
    with pytest.raises(StoreError, match="no label image 'phases'"):
        store.label("phases")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "missing.zarr")


def test_metadata_namespace(tmp_path, ct):
    store = create_store(tmp_path / "s.zarr", ct, voxel_size_um=1.0)
    store.set_metadata("registration", {"matrix": np.eye(4)})
    meta = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())["attributes"]["liberation"]
    assert meta["registration"]["matrix"][0] == [1.0, 0.0, 0.0, 0.0]
    assert open_store(tmp_path / "s.zarr").metadata["registration"]["matrix"][3][3] == 1.0


def test_ome_zarr_py_reads_our_store(tmp_path, ct):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    path = tmp_path / "s.zarr"
    store = create_store(path, ct, voxel_size_um=2.296, chunks=8, pyramid_levels=1)
    phases = (ct % 4).astype(np.uint8)
    store.write_label("phases", phases, minerals=spodumene_ore())
    nodes = list(Reader(parse_url(str(path)))())
    image = nodes[0]
    assert image.data[0].shape == ct.shape
    np.testing.assert_array_equal(np.asarray(image.data[0]), ct)
    assert image.metadata["coordinateTransformations"][0][0]["scale"] == [2.296] * 3
    assert [ax["unit"] for ax in image.metadata["axes"]] == ["micrometer"] * 3
    label_nodes = [n for n in nodes if n.metadata.get("name") == "phases"]
    assert label_nodes, "ome-zarr-py did not find labels/phases"
    np.testing.assert_array_equal(np.asarray(label_nodes[0].data[0]), phases)
    props = label_nodes[0].metadata.get("properties")
    assert props and props[1]["name"] == "spodumene"


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_reads_store_written_by_plain_zarr(tmp_path, ct, zarr_format):
    import zarr

    path = tmp_path / "plain.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    root.create_array("s0", shape=ct.shape, chunks=(10, 12, 14), dtype=ct.dtype)[:] = ct
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
    ms = {"axes": axes, "datasets": [{"path": "s0", "coordinateTransformations": [{"type": "scale", "scale": [4.0, 2.0, 2.0]}]}]}
    labels = root.create_group("labels")
    lab = labels.create_group("phases")
    lab.create_array("0", shape=ct.shape, chunks=(10, 12, 14), dtype=np.uint8)[:] = (ct % 3).astype(np.uint8)
    lab_ms = {"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [4.0, 2.0, 2.0]}]}]}
    props = [{"label-value": 1, "name": "quartz", "density": 2.65}, {"label-value": 2, "name": "pyrite", "density": 5.0}]
    if zarr_format == 3:
        root.attrs["ome"] = {"version": "0.5", "multiscales": [ms]}
        labels.attrs["ome"] = {"version": "0.5", "labels": ["phases"]}
        lab.attrs["ome"] = {"version": "0.5", "multiscales": [lab_ms], "image-label": {"properties": props}}
    else:
        root.attrs["multiscales"] = [{"version": "0.4", **ms}]
        labels.attrs["labels"] = ["phases"]
        lab.attrs["multiscales"] = [{"version": "0.4", **lab_ms}]
        lab.attrs["image-label"] = {"version": "0.4", "properties": props}
    store = open_store(path)
    assert store.ngff_version == ("0.5" if zarr_format == 3 else "0.4")
    assert store.voxel_size_um == (4.0, 2.0, 2.0)
    np.testing.assert_array_equal(store.image()[:], ct)
    np.testing.assert_array_equal(store.label("phases")[:], (ct % 3).astype(np.uint8))
    assert store.minerals.names == ["quartz", "pyrite"]
    assert store.minerals["pyrite"].density == 5.0
