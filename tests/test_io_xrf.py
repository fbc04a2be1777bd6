"""Micro-XRF map readers: round trips through TIFF/PNG/CSV/txt/multi-channel TIFF, names, shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from liberation.errors import FileFormatError, OverwriteError
from liberation.io.xrf import element_from_filename, read_map_file, read_text_matrix, read_xrf_maps, write_xrf_maps


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    return {"Fe": rng.integers(0, 200, (12, 17)).astype(np.float32),
            "Na": rng.integers(0, 9, (12, 17)).astype(np.float32),
            "Si": rng.integers(0, 255, (12, 17)).astype(np.float32)}


@pytest.mark.parametrize(
    "name, element",
    [("Fe.tif", "Fe"), ("Fe Ka.tif", "Fe"), ("sample_Na.bmp", "Na"), ("Na-K.txt", "Na"), ("K.png", "K"),
     ("K Ka.tif", "K"), ("FeKa.csv", "Fe"), ("fe.tif", "Fe"), ("Ca_K.txt", "Ca"), ("map_Si_Ka1.txt", "Si"),
     ("overview.png", None), ("Sum.tif", None)],
)
def test_element_from_filename(name, element):
    assert element_from_filename(name) == element


@pytest.mark.parametrize("fmt", ["tif", "png", "csv", "txt"])
def test_folder_round_trip(tmp_path, maps, fmt):
    folder = write_xrf_maps(tmp_path / "maps", maps, pixel_size_um=40.0, format=fmt)
    back = read_xrf_maps(folder)
    assert sorted(back.maps) == sorted(maps)
    for k in maps:
        np.testing.assert_array_equal(back.maps[k], maps[k])
    assert back.pixel_size_um == 40.0
    assert read_xrf_maps(folder, pixel_size_um=10.0).pixel_size_um == 10.0
    assert list(read_xrf_maps(folder, elements=["Si"]).maps) == ["Si"]


def test_multichannel_tiff_round_trip(tmp_path, maps):
    path = write_xrf_maps(tmp_path / "maps.tif", maps, pixel_size_um=25.0, format="multitiff")
    back = read_xrf_maps(path)
    assert list(back.maps) == list(maps)
    np.testing.assert_array_equal(back.maps["Na"], maps["Na"])
    assert back.pixel_size_um == 25.0
    with pytest.raises(OverwriteError):
        write_xrf_maps(path, maps, format="multitiff")


def test_imagej_labels_multichannel(tmp_path, maps):
    stack = np.stack([maps[k] for k in maps]).astype(np.float32)
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "CYX", "Labels": ["Fe Ka", "Na K", "Si Ka"]},
                     resolution=(1 / 30.0, 1 / 30.0))
    back = read_xrf_maps(path)
    assert list(back.maps) == ["Fe", "Na", "Si"]


def test_bruker_style_text_with_header_and_decimal_comma(tmp_path):
    text = "Element;Fe Ka\nUnit;cps\n1,5;2;3;\n4;5,25;6;\n"
    p = tmp_path / "Fe Ka.csv"
    p.write_text(text)
    np.testing.assert_allclose(read_text_matrix(p), [[1.5, 2, 3], [4, 5.25, 6]])
    (tmp_path / "bad.txt").write_text("1 2 3\n4 5\n")
    with pytest.raises(FileFormatError, match=r"bad.txt, line 2: 2 values"):
        read_text_matrix(tmp_path / "bad.txt")


def test_mismatched_shapes_name_the_odd_file(tmp_path, maps):
    folder = write_xrf_maps(tmp_path / "maps", maps, format="tif")
    tifffile.imwrite(folder / "Mg Ka.tif", np.zeros((12, 16), np.float32))
    with pytest.raises(FileFormatError, match=r"Mg Ka.tif \(12, 16\).*\(12, 17\)"):
        read_xrf_maps(folder)


def test_duplicates_skipped_files_and_sidecar_json(tmp_path, maps):
    folder = write_xrf_maps(tmp_path / "maps", maps, format="tif")
    (folder / "overview.png").write_bytes(b"not read")
    (folder / "meta.json").write_text(json.dumps({"pixel_size_um": 12.5}))
    back = read_xrf_maps(folder)
    assert [p.name for p in back.skipped] == ["overview.png"]
    assert back.pixel_size_um == 12.5
    tifffile.imwrite(folder / "Fe Ka.tif", maps["Fe"])
    with pytest.raises(FileFormatError, match="two maps for Fe"):
        read_xrf_maps(folder)


def test_rgb_map_and_missing_inputs(tmp_path):
    from PIL import Image

    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 0] = 200  # a red-tinted Fe map: intensity from the brightest channel
    Image.fromarray(rgb).save(tmp_path / "Fe.png")
    np.testing.assert_array_equal(read_map_file(tmp_path / "Fe.png"), 200)
    with pytest.raises(FileFormatError, match="do not exist"):
        read_xrf_maps(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileFormatError, match="no element map"):
        read_xrf_maps(empty)
    with pytest.raises(FileFormatError, match=r"no map for \['Ti'\]"):
        read_xrf_maps(tmp_path, elements=["Ti"])


@pytest.mark.parametrize("delim", [",", ";"])
def test_eds_csv_grid_with_trailing_delimiter(tmp_path, delim):
    """EDS exports: one header-less grid per element, a delimiter at every line end (empty last column)."""
    grid = np.array([[0, 1.5, 2], [3, 4, 5.25], [6, 7, 8]], np.float32)
    folder = tmp_path / "eds"
    folder.mkdir()
    for element, factor in (("Fe", 1), ("Ca", 10)):
        lines = [delim.join(f"{v:g}" if delim == "," else f"{v:g}".replace(".", ",") for v in row * factor) + delim
                 for row in grid]
        (folder / f"{element}.csv").write_text("\n".join(lines) + "\n")
    back = read_xrf_maps(folder, pixel_size_um=6.35)
    assert sorted(back.maps) == ["Ca", "Fe"]
    np.testing.assert_array_equal(back.maps["Fe"], grid)
    np.testing.assert_array_equal(back.maps["Ca"], grid * 10)
    assert back.maps["Fe"].shape == (3, 3) and back.pixel_size_um == 6.35


def test_eds_csv_ragged_rows_name_file_and_line(tmp_path):
    folder = tmp_path / "eds"
    folder.mkdir()
    (folder / "Fe.csv").write_text("1,2,3,\n4,5,6,\n7,8,\n")
    (folder / "Ca.csv").write_text("1,2,3,\n4,5,6,\n7,8,9,\n")
    with pytest.raises(FileFormatError, match=r"Fe.csv, line 3: 2 values but the first row has 3"):
        read_xrf_maps(folder, pixel_size_um=1.0)


def _write_pages(path, planes, descriptions=None):
    with tifffile.TiffWriter(path) as tif:
        for i, plane in enumerate(planes):
            if descriptions is None:
                tif.write(plane)
            else:
                tif.write(plane, description=descriptions[i], metadata=None)


def test_multipage_tiff_names_from_page_descriptions(tmp_path, maps):
    path = tmp_path / "eds.tif"
    _write_pages(path, [maps[k].astype(np.uint16) for k in maps], ["Fe Ka", "element: Na", "Si"])
    back = read_xrf_maps(path)
    assert list(back.maps) == ["Fe", "Na", "Si"]
    for k in maps:
        np.testing.assert_array_equal(back.maps[k], maps[k])
    assert list(read_xrf_maps(path, elements=["Si", "Fe"]).maps) == ["Si", "Fe"]


def test_multipage_tiff_unnamed_pages_take_the_elements_option(tmp_path, maps):
    path = tmp_path / "pages.tif"
    _write_pages(path, [maps[k] for k in maps])  # tifffile JSON shape descriptions: no names
    with pytest.raises(FileFormatError, match="3 pages but no channel names.*--elements"):
        read_xrf_maps(path)
    back = read_xrf_maps(path, elements=["Fe", "Na", "Si"])
    for k in maps:
        np.testing.assert_array_equal(back.maps[k], maps[k])
    with pytest.raises(FileFormatError, match="3 pages without names but elements names 2"):
        read_xrf_maps(path, elements=["Fe", "Na"])
    stack = tmp_path / "stack.tif"  # one series, no names
    tifffile.imwrite(stack, np.stack([maps[k] for k in maps]), photometric="minisblack")
    np.testing.assert_array_equal(read_xrf_maps(stack, elements=["Fe", "Na", "Si"]).maps["Na"], maps["Na"])
    odd = tmp_path / "odd.tif"
    _write_pages(odd, [maps["Fe"], maps["Na"][:-1]])
    with pytest.raises(FileFormatError, match=r"pages of different shapes \(page 1 \(12, 17\), page 2 \(11, 17\)\)"):
        read_xrf_maps(odd, elements=["Fe", "Na"])
