"""Stores written by the command line validate as OME-NGFF with three independent tools.

`convert` (odd sizes, pyramids, both NGFF versions) then `segment --classical` (labels/phases with
mineral names and colours, labels/particles) on the converted store: ome-zarr-models and ngff-zarr
validate the image and every label image at every pyramid level, ome-zarr-py and ngff-zarr read
them (tests/_ngff.py). The demo store and the library-level writers are checked in
tests/test_store_ngff.py; the ML segment and pipeline outputs in tests/test_segmentation_ml.py.
"""

import numpy as np
import pytest
import tifffile

from liberation.cli import main
from liberation.io import open_store
from liberation.io.store import pyramid_shapes
from liberation.synthetic import touching_spheres

pytest.importorskip("ome_zarr_models")
pytest.importorskip("ome_zarr")
pytest.importorskip("ngff_zarr")

from _ngff import assert_valid_ngff  # noqa: E402


@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_convert_then_classical_segment_validates(tmp_path, version):
    pack = touching_spheres(shape=(33, 30, 31), n_particles=4, radius_um=50.0, seed=2)  # odd and even sizes
    ct = pack.ct if pack.ct.dtype == np.uint16 else np.clip(pack.ct * 1000, 0, 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "ct.tif", ct)
    path = tmp_path / "s.zarr"
    assert main(["-q", "convert", str(tmp_path / "ct.tif"), str(path), "--voxel-size", "3,2.5,2",
                 "--chunks", "8", "--pyramid-levels", "2", "--ngff", version]) == 0
    expected = pyramid_shapes((33, 30, 31), 2)
    assert assert_valid_ngff(path) == {"version": version, "image": expected, "labels": {}}
    assert main(["-q", "segment", str(path), "--classical", "--classes", "2"]) == 0
    found = assert_valid_ngff(path)
    assert found["labels"] == {"phases": expected, "particles": expected}
    store = open_store(path)
    assert store.ngff_version == version
    assert store.voxel_size_um == pytest.approx((3.0, 2.5, 2.0))
