"""The store is valid OME-NGFF (0.5 and 0.4) at every pyramid level, checked by independent tools,
and its pyramid levels sit where their metadata says (closed forms).

Validators: ome-zarr-models (the spec's pydantic schema) and ome-zarr-py (a reader); see
tests/_ngff.py. ngff-zarr is not installed in the project's environment.
"""

import json

import numpy as np
import pytest

from liberation.io import create_store, open_store
from liberation.io import store as store_module
from liberation.minerals import spodumene_ore

pytest.importorskip("ome_zarr_models")
pytest.importorskip("ome_zarr")

from _ngff import assert_valid_ngff  # noqa: E402


def _ome(path, *parts):
    meta = json.loads((path.joinpath(*parts) / ("zarr.json" if (path / "zarr.json").exists() else ".zattrs")).read_text())
    attrs = meta.get("attributes", meta)
    return attrs.get("ome", attrs)


@pytest.mark.parametrize("version", ["0.5", "0.4"])
@pytest.mark.parametrize(("shape", "levels"), [((17, 18, 19), 0), ((17, 18, 19), 3), ((16, 20, 9), 2)])
def test_every_store_and_label_level_validates(tmp_path, version, shape, levels):
    rng = np.random.default_rng(1)
    ct = rng.integers(0, 4000, size=shape, dtype=np.uint16)
    path = tmp_path / "s.zarr"
    store = create_store(path, ct, voxel_size_um=(3.0, 2.5, 2.0), chunks=(8, 5, 7), pyramid_levels=levels,
                         ngff_version=version)
    store.write_label("phases", (ct % 5).astype(np.uint8), minerals=spodumene_ore())
    store.write_label("particles", (ct % 300).astype(np.uint32))
    store.write_label("sparse", np.full(shape, 255, np.uint8))
    found = assert_valid_ngff(path)
    assert found["version"] == version
    expected = store_module.pyramid_shapes(shape, levels)
    assert found["image"] == expected
    # every label image has exactly the image's level shapes
    assert found["labels"] == {"phases": expected, "particles": expected, "sparse": expected}


def test_pyramid_shape_rule():
    assert store_module.pyramid_shapes((17, 18, 19), 2) == [(17, 18, 19), (9, 9, 10), (5, 5, 5)]
    assert store_module.pyramid_shapes((17, 18, 19), 9)[-1] == (1, 1, 1)
    assert len(store_module.pyramid_shapes((17, 18, 19), 9)) == 6  # 17 9 5 3 2 1: stops at one voxel
    assert store_module.pyramid_shapes((3, 1, 5), 2) == [(3, 1, 5)]  # an axis of 1 cannot be halved


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_block_means_of_a_ramp_land_at_the_declared_positions(tmp_path, dtype, version):
    # A linear ramp in physical coordinates: g(p) = 4 pz/vz + 2 py/vy + 6 px/vx + 100. The mean of a
    # block of a linear function is its value at the block centre, so every level-k voxel whose block
    # lies inside the volume must equal g at the position its scale and translation declare.
    # (Integer coefficients make g an integer at every block centre, so uint16 is exact too.)
    shape, voxel = (17, 18, 19), np.array([3.0, 2.5, 2.0])
    coef = np.array([4.0, 2.0, 6.0])
    idx = np.indices(shape, dtype=np.float64)
    ct = (np.tensordot(coef, idx, axes=1) + 100).astype(dtype)
    path = tmp_path / "ramp.zarr"
    store = create_store(path, ct, voxel_size_um=tuple(voxel), chunks=(4, 6, 5), pyramid_levels=3,
                         ngff_version=version)
    ms = _ome(path)["multiscales"][0]
    assert ms["type"] == "mean" and ms["metadata"]["kwargs"]["reduction"] == "mean"
    n_checked = 0
    for k, ds in enumerate(ms["datasets"]):
        scale, translation = (np.array(t[t["type"]]) for t in ds["coordinateTransformations"])
        f = 2**k
        np.testing.assert_allclose(scale, voxel * f)
        np.testing.assert_allclose(translation, voxel * (f - 1) / 2)
        level = np.asarray(store.image(k)[:], dtype=np.float64)
        full = tuple(s // f for s in shape)  # voxels whose level-0 block is not cut by an edge
        i = np.indices(full, dtype=np.float64)
        position = i * scale[:, None, None, None] + translation[:, None, None, None]  # µm
        expected = np.tensordot(coef, position / voxel[:, None, None, None], axes=1) + 100
        np.testing.assert_array_equal(level[: full[0], : full[1], : full[2]], expected)
        n_checked += expected.size
    assert n_checked == 17 * 18 * 19 + 8 * 9 * 9 + 4 * 4 * 4 + 2 * 2 * 2
    # a block cut by the odd x edge (x = 18 alone) is the mean of the voxels it has
    level1 = np.asarray(store.image(1)[:], dtype=np.float64)
    np.testing.assert_array_equal(level1[0, 0, 9], ct[0:2, 0:2, 18].astype(np.float64).mean())


def _brute_mode(labels, factor=2):
    """Mode of every 2x2x2 block (cut at odd edges), ties to the first voxel in z, y, x order."""
    out_shape = tuple(-(-s // factor) for s in labels.shape)
    out = np.empty(out_shape, labels.dtype)
    for i in np.ndindex(*out_shape):
        block = labels[tuple(slice(factor * a, factor * a + factor) for a in i)].ravel().tolist()
        counts = [block.count(v) for v in block]
        out[i] = block[counts.index(max(counts))]
    return out


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_label_levels_are_block_modes_with_the_image_transforms(tmp_path, version):
    rng = np.random.default_rng(3)
    shape = (11, 14, 13)
    ct = rng.integers(0, 100, size=shape, dtype=np.uint16)
    phases = rng.choice(np.array([0, 1, 1, 2, 3], np.uint8), size=shape)
    phases[2:8, 4:10, 2:12] = 2  # a uniform region (the all-equal fast path)
    particles = rng.integers(0, 2**31, size=shape, dtype=np.uint64).astype(np.uint32) % 7 + 70000
    path = tmp_path / "s.zarr"
    store = create_store(path, ct, voxel_size_um=1.5, chunks=(3, 4, 5), pyramid_levels=2, ngff_version=version)
    store.write_label("phases", phases)
    store.write_label("particles", particles)
    for name, truth in (("phases", phases), ("particles", particles)):
        expected = truth
        for k in range(3):
            got = store.label(name, level=k)[:]
            assert got.dtype == truth.dtype
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} level {k}")
            expected = _brute_mode(expected)
        ms = _ome(path, "labels", name)["multiscales"][0]
        assert ms["type"] == "mode" and ms["metadata"]["kwargs"] == {"factor": [2, 2, 2], "reduction": "mode"}
        assert ms["datasets"] == _ome(path)["multiscales"][0]["datasets"]  # same levels, scales, translations
    assert_valid_ngff(path)


def test_label_pyramid_from_a_lazy_array_equals_the_one_from_numpy(tmp_path):
    import dask.array as da

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, size=(13, 10, 9), dtype=np.uint8)
    store = create_store(tmp_path / "s.zarr", labels.astype(np.uint16), voxel_size_um=1.0, chunks=4, pyramid_levels=2)
    store.write_label("a", labels)
    store.write_label("b", da.from_array(labels, chunks=5))
    for k in range(3):
        np.testing.assert_array_equal(store.label("a", k)[:], store.label("b", k)[:])


def test_levels_are_read_one_tile_at_a_time(tmp_path):
    # The level-1 writer must not read the level above whole: each read is at most one source chunk deep.
    import zarr

    rng = np.random.default_rng(5)
    src = zarr.create_array(str(tmp_path / "src.zarr"), shape=(40, 30, 20), chunks=(8, 10, 20), dtype=np.uint16)
    src[:] = rng.integers(0, 1000, size=src.shape, dtype=np.uint16)
    reads = []

    class Spy:
        shape, chunks, dtype = src.shape, src.chunks, src.dtype

        def __getitem__(self, key):
            reads.append(key)
            return src[key]

    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="w")
    out = store_module._write_reduced(group, "1", Spy(), label=False, dtype=np.uint16, chunks=(16, 16, 16))
    assert all(k[0].stop - k[0].start <= 8 and k[1].stop - k[1].start <= 10 for k in reads)
    full = src[:].astype(np.float64)
    expected = np.rint(full.reshape(20, 2, 15, 2, 10, 2).mean(axis=(1, 3, 5)))
    np.testing.assert_array_equal(out[:], expected)
    assert out.attrs["liberation"]["complete"]["chunks"] == 2 * 1 * 1


def test_stores_made_by_convert_and_demo_validate(tmp_path):
    import tifffile

    from liberation.io import convert_tiff
    from liberation.workflows.demo import make_demo_store

    volume = np.random.default_rng(6).integers(0, 255, size=(9, 14, 11), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "v.tif", volume)
    for version in ("0.5", "0.4"):
        converted = convert_tiff(tmp_path / "v.tif", tmp_path / f"c{version}.zarr", voxel_size_um=2.0, chunks=4,
                                 pyramid_levels=2, ngff_version=version)
        assert assert_valid_ngff(converted.path)["image"] == [(9, 14, 11), (5, 7, 6), (3, 4, 3)]
    demo = make_demo_store(tmp_path / "demo", size=16, seed=1)
    assert set(assert_valid_ngff(demo)["labels"]) == {"phases", "particles"}
    assert open_store(demo).ngff_version == "0.5"
