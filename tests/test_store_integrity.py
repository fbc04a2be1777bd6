"""Store completeness (missing or corrupt chunks), damaged metadata, and locked metadata updates."""

import json
import multiprocessing

import numpy as np
import pytest

from liberation.errors import StoreError
from liberation.io import create_store, open_store
from liberation.io.store import check_array_complete
from liberation.minerals import spodumene_ore


def _make(tmp_path, version="0.5"):
    rng = np.random.default_rng(0)
    ct = rng.integers(0, 60000, size=(16, 16, 16), dtype=np.uint16)
    store = create_store(tmp_path / "s.zarr", ct, voxel_size_um=2.0, chunks=8, ngff_version=version)
    phases = np.zeros(ct.shape, np.uint8)  # mostly void: fill-value chunks must be written too
    phases[:8, :8, :8] = 1
    store.write_label("phases", phases, minerals=spodumene_ore())
    return store.path


def _chunk(path, array, index, version):
    return path / array / ("c/" + "/".join(map(str, index)) if version == "0.5" else ".".join(map(str, index)))


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_all_chunks_are_written_and_recorded(tmp_path, version):
    path = _make(tmp_path, version)
    store = open_store(path)
    for arr in (store.image(), store.label("phases")):
        assert arr.attrs["liberation"]["complete"]["chunks"] == 8
    # every chunk of the mostly void label is on disk, so "missing" is well defined
    for index in np.ndindex(2, 2, 2):
        assert _chunk(path, "labels/phases/0", index, version).is_file()
    report = store.verify(deep=True)
    assert report["arrays"]["labels/phases/0"] == {"chunks": 8, "complete_recorded": True}


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_missing_chunk_is_refused_not_read_as_zeros(tmp_path, version):
    path = _make(tmp_path, version)
    _chunk(path, "labels/phases/0", (1, 0, 1), version).unlink()
    key = "c/1/0/1" if version == "0.5" else "1.0.1"
    store = open_store(path)
    with pytest.raises(StoreError, match=f"labels/phases/0: chunk {key} is missing") as err:
        store.label("phases")
    assert "1 of 8 chunks" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(StoreError, match="is missing"):
        store.label_dask("phases")
    with pytest.raises(StoreError, match="is missing"):
        store.verify()
    with pytest.raises(StoreError, match="is missing"):
        check_array_complete(path, "phases")
    store.image()  # the other arrays are fine
    assert store.describe()["labels"]["phases"]["shape"] == [16, 16, 16]  # info can still describe it

    _chunk(path, "0", (0, 0, 0), version).unlink()
    with pytest.raises(StoreError, match=r"array 0: chunk \S+ is missing"):
        open_store(path).image()


def test_only_chunk_missing(tmp_path):
    store = create_store(tmp_path / "s.zarr", np.ones((4, 4, 4), np.uint8), voxel_size_um=1.0)
    store.write_label("phases", np.ones((4, 4, 4), np.uint8))
    (store.path / "labels/phases/0/c/0/0/0").unlink()
    with pytest.raises(StoreError, match="labels/phases/0: chunk c/0/0/0 is missing"):
        open_store(store.path).label("phases")


def test_corrupt_chunk_is_a_store_error_not_a_codec_traceback(tmp_path):
    path = _make(tmp_path)
    _chunk(path, "labels/phases/0", (0, 1, 0), "0.5").write_bytes(b"garbage" * 10)
    store = open_store(path)
    store.label("phases")  # the cheap check lists files only
    with pytest.raises(StoreError, match="labels/phases/0: chunk c/0/1/0 is corrupt") as err:
        store.verify(deep=True)
    assert "\n" not in str(err.value)
    with pytest.raises(StoreError, match="chunk c/0/1/0 is corrupt"):
        check_array_complete(store, "phases", deep=True)
    check_array_complete(store, "image", deep=True)


def test_arrays_of_older_versions_are_not_flagged(tmp_path):
    path = _make(tmp_path)
    meta_path = path / "labels/phases/0/zarr.json"
    meta = json.loads(meta_path.read_text())
    del meta["attributes"]["liberation"]  # written before completeness was recorded
    meta_path.write_text(json.dumps(meta))
    _chunk(path, "labels/phases/0", (1, 1, 1), "0.5").unlink()  # may be an elided fill-value chunk
    store = open_store(path)
    assert store.label("phases")[15, 15, 15] == 0
    assert store.verify(deep=True)["arrays"]["labels/phases/0"]["complete_recorded"] is False


def test_damaged_metadata_is_a_one_line_store_error(tmp_path):
    path = _make(tmp_path)
    label_meta = path / "labels/phases/zarr.json"
    good = label_meta.read_text()
    label_meta.write_text(good[: len(good) // 2])  # truncated
    with pytest.raises(StoreError, match="labels/phases") as err:
        open_store(path).label("phases")
    assert "\n" not in str(err.value)
    with pytest.raises(StoreError):
        _ = open_store(path).minerals

    meta = json.loads(good)
    meta["attributes"]["ome"]["image-label"]["properties"] = "spodumene"
    label_meta.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="properties.*expected a list"):
        _ = open_store(path).minerals
    label_meta.write_text(good)

    root_meta = path / "zarr.json"
    meta = json.loads(root_meta.read_text())
    meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] = ["abc"] * 3
    root_meta.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="voxel size scale .*abc.* not a list of numbers"):
        _ = open_store(path).voxel_size_um
    with pytest.raises(StoreError, match="voxel size"):
        open_store(path).verify()


# ------------------------------------------------------------------------ locking
def _append_records(path: str, worker: int, n: int, how: str) -> None:
    store = open_store(path, mode="r+")
    for i in range(n):
        if how == "append":
            store.append_metadata("registrations", {"worker": worker, "i": i})
        elif how == "provenance":
            store.add_provenance("register", {"worker": worker, "i": i})
        else:
            store.set_metadata(f"key_{worker}_{i}", i)


@pytest.mark.parametrize("how", ["append", "provenance", "set"])
def test_concurrent_metadata_updates_keep_every_record(tmp_path, how):
    store = create_store(tmp_path / "s.zarr", np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0)
    n = 20
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_records, args=(str(store.path), w, n, how)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    meta = open_store(store.path).metadata
    if how == "append":
        records = meta["registrations"]
    elif how == "provenance":
        records = [p["parameters"] for p in meta["provenance"] if p["step"] == "register"]
    else:
        records = [{"worker": int(k.split("_")[1]), "i": v} for k, v in meta.items() if k.startswith("key_")]
    assert sorted((r["worker"], r["i"]) for r in records) == [(w, i) for w in range(2) for i in range(n)]


def _write_labels(path: str, worker: int) -> None:
    store = open_store(path, mode="r+")
    for i in range(4):
        store.write_label(f"w{worker}_{i}", np.full((4, 4, 4), i, np.uint8))


def test_concurrent_label_writes_keep_every_label(tmp_path):
    store = create_store(tmp_path / "s.zarr", np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_labels, args=(str(store.path), w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sorted(open_store(store.path).label_names) == sorted(f"w{w}_{i}" for w in range(2) for i in range(4))
