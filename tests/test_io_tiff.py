"""TIFF stack import: folders of slices, multi-page files, metadata, bad input, bounded memory."""

import os
import tracemalloc

import numpy as np
import pytest
import tifffile

from liberation.cli import main
from liberation.errors import FileFormatError, InputError
from liberation.io import open_store
from liberation.io.tiff import convert_tiff, natural_key, read_tiff_stack_info


def _write_slices(folder, volume, name="slice_{}.tif"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, plane in enumerate(volume):
        tifffile.imwrite(folder / name.format(i), plane)


@pytest.fixture
def volume():
    return np.random.default_rng(1).integers(0, 65535, size=(12, 20, 17), dtype=np.uint16)


def test_natural_sort():
    names = ["s_10.tif", "s_2.tif", "s_1.tif", "S_3.tif"]
    assert sorted(names, key=natural_key) == ["s_1.tif", "s_2.tif", "S_3.tif", "s_10.tif"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_folder_of_slices_round_trip(tmp_path, volume, dtype):
    vol = volume.astype(dtype)
    _write_slices(tmp_path / "slices", vol)  # 12 slices: natural order matters (slice_10 after slice_9)
    store = convert_tiff(tmp_path / "slices", tmp_path / "s.zarr", voxel_size_um=2.296, chunks=5)
    assert store.voxel_size_um == (2.296, 2.296, 2.296)
    assert store.image().dtype == dtype
    np.testing.assert_array_equal(store.image()[:], vol)
    assert store.provenance[0]["step"] == "convert"


def test_multipage_with_imagej_metadata(tmp_path, volume):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, volume, imagej=True, resolution=(1 / 1.5, 1 / 1.5),
                     metadata={"spacing": 3.0, "unit": "um"})
    info = read_tiff_stack_info(path)
    assert info.shape == volume.shape and info.multipage
    assert info.voxel_size_um == pytest.approx((3.0, 1.5, 1.5))
    store = convert_tiff(path, tmp_path / "s.zarr", chunks=4, pyramid_levels=1)
    assert store.voxel_size_um == pytest.approx((3.0, 1.5, 1.5))
    np.testing.assert_array_equal(store.image()[:], volume)
    assert store.image(1).shape == (6, 10, 9)  # ceil(n / 2): the odd edge keeps its last voxel


def test_option_overrides_metadata(tmp_path, volume):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, volume, imagej=True, resolution=(1.0, 1.0), metadata={"spacing": 1.0, "unit": "um"})
    store = convert_tiff(path, tmp_path / "s.zarr", voxel_size_um=(4.0, 2.0, 2.0))
    assert store.voxel_size_um == (4.0, 2.0, 2.0)


def test_bad_input_names_the_file_and_leaves_no_store(tmp_path, volume):
    folder = tmp_path / "mixed"
    _write_slices(folder, volume[:3])
    tifffile.imwrite(folder / "slice_3.tif", volume[3, :10])
    with pytest.raises(FileFormatError, match="slice_3.tif has shape"):
        convert_tiff(folder, tmp_path / "a.zarr", voxel_size_um=1.0)
    os.remove(folder / "slice_3.tif")
    tifffile.imwrite(folder / "slice_3.tif", volume[3].astype(np.float32))
    with pytest.raises(FileFormatError, match="slice_3.tif has dtype float32"):
        convert_tiff(folder, tmp_path / "a.zarr", voxel_size_um=1.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="no TIFF slices"):
        convert_tiff(tmp_path / "empty", tmp_path / "a.zarr", voxel_size_um=1.0)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "slice_0.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(FileFormatError, match="slice_0.tif"):
        convert_tiff(bad, tmp_path / "a.zarr", voxel_size_um=1.0)
    _write_slices(tmp_path / "ok", volume[:2])
    with pytest.raises(InputError, match="voxel size is missing"):
        convert_tiff(tmp_path / "ok", tmp_path / "a.zarr")
    assert not [p for p in os.listdir(tmp_path) if "a.zarr" in p]


def test_unreadable_slice_midway_leaves_no_store(tmp_path, volume):
    folder = tmp_path / "slices"
    _write_slices(folder, volume)
    info = read_tiff_stack_info(folder)  # headers are fine
    assert info.shape == volume.shape
    # corrupt the pixel data of a late slice after the header check
    path = folder / "slice_9.tif"
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:200]))
    with pytest.raises(FileFormatError, match="slice_9.tif"):
        convert_tiff(folder, tmp_path / "a.zarr", voxel_size_um=1.0, chunks=4)
    assert not [p for p in os.listdir(tmp_path) if "a.zarr" in p]


def test_memory_stays_bounded(tmp_path):
    """Peak Python-heap memory is about one slab, far below the stack size."""
    rng = np.random.default_rng(2)
    folder = tmp_path / "big"
    folder.mkdir()
    plane_shape = (256, 256)
    n = 64
    for i in range(n):
        tifffile.imwrite(folder / f"s{i:03d}.tif", rng.integers(0, 65535, plane_shape, dtype=np.uint16))
    stack_bytes = n * plane_shape[0] * plane_shape[1] * 2  # 8 MiB
    tracemalloc.start()
    convert_tiff(folder, tmp_path / "s.zarr", voxel_size_um=1.0, chunks=(4, 128, 128))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < stack_bytes / 3, f"peak {peak / 2**20:.1f} MiB for an {stack_bytes / 2**20:.0f} MiB stack"


def test_cli_convert_and_info(tmp_path, volume, capsys):
    _write_slices(tmp_path / "slices", volume)
    assert main(["-q", "convert", str(tmp_path / "slices"), str(tmp_path / "s.zarr"), "--voxel-size", "2.296"]) == 0
    assert open_store(tmp_path / "s.zarr").shape == volume.shape
    assert main(["convert", str(tmp_path / "slices"), str(tmp_path / "s.zarr"), "--voxel-size", "2.296"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "already exists" in err and "Traceback" not in err
    assert main(["info", str(tmp_path / "s.zarr")]) == 0
    out = capsys.readouterr().out
    assert "12 x 20 x 17" in out and "2.296" in out
    assert main(["convert", str(tmp_path / "slices"), str(tmp_path / "t.zarr"), "--voxel-size", "abc"]) == 2
    assert "--voxel-size" in capsys.readouterr().err


def test_converted_store_reads_in_ome_zarr_py(tmp_path, volume):
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    _write_slices(tmp_path / "slices", volume)
    assert main(["-q", "convert", str(tmp_path / "slices"), str(tmp_path / "s.zarr"), "--voxel-size", "2.296",
                 "--chunks", "5"]) == 0
    image = list(Reader(parse_url(str(tmp_path / "s.zarr")))())[0]
    assert image.data[0].shape == volume.shape and image.data[0].dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(image.data[0]), volume)
    assert image.metadata["coordinateTransformations"][0][0]["scale"] == [2.296] * 3
