"""Per-particle table: exact counts on phantoms, scikit-image/scipy agreement, chunked equality."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from _stats_phantoms import boxes, random_particles, sphere, two_minerals
from scipy import ndimage
from skimage.measure import regionprops_table

from liberation.errors import InputError
from liberation.minerals import spodumene_ore
from liberation.stats import _kernels, composition_table, measure, particle_table


def test_boxes_exact():
    pid, ph = boxes()
    t = particle_table(pid, ph, voxel_size_um=(1.0, 2.0, 3.0), minerals=two_minerals(), size_classes_um=(12,))
    t = t.set_index("particle_id")
    assert t["voxels"].tolist() == [120, 64, 180]
    assert np.allclose(t["volume_um3"], np.array([120, 64, 180]) * 6.0)
    assert np.allclose(t["esd_um"], np.cbrt(6 * t["volume_um3"] / np.pi))
    assert t.loc[2, "voxels_ore"] == 32 and t.loc[2, "voxels_gangue"] == 32
    assert t.loc[1, "grade_ore"] == 1.0 and t.loc[3, "grade_gangue"] == 1.0 and t.loc[2, "grade_ore"] == 0.5
    # mass grade with densities 4 and 2
    assert t.loc[2, "mass_grade_ore"] == pytest.approx(4 / 6)
    assert t.loc[2, "mass_ug"] == pytest.approx((32 * 4 + 32 * 2) * 6.0 * 1e-6)
    assert t["touches_border"].tolist() == [False, False, True]
    assert t.loc[1, ["bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1"]].tolist() == [2, 2, 2, 6, 7, 8]
    assert t["size_class"].tolist() == ["<12", "<12", ">=12"]
    # half ore / half gangue box: each mineral has half of the outer faces
    assert t.loc[2, "surface_ore"] == pytest.approx(0.5)
    assert t.loc[1, "surface_ore"] == 1.0


def test_box_raw_surface_exact():
    pid, ph = boxes()
    t = particle_table(pid, ph, voxel_size_um=(1.0, 2.0, 3.0), minerals=two_minerals(), surface="faces")
    t = t.set_index("particle_id")
    # box 1: 4 x 5 x 6 voxels of 1 x 2 x 3 µm -> 4 x 10 x 18 µm
    a, b, c = 4.0, 10.0, 18.0
    assert t.loc[1, "surface_area_um2"] == pytest.approx(2 * (a * b + a * c + b * c))
    corrected = particle_table(pid, ph, voxel_size_um=(1.0, 2.0, 3.0), minerals=two_minerals(), surface="corrected")
    assert corrected["surface_area_um2"].iloc[0] == pytest.approx(2 / 3 * 2 * (a * b + a * c + b * c))


@pytest.mark.parametrize("radius", [6, 10, 16])
def test_sphere_surface_area(radius):
    s = sphere(radius)
    t = particle_table(s.astype(np.uint8), s.astype(np.uint8), voxel_size_um=2.0, minerals=two_minerals())
    true = 4 * np.pi * (2.0 * radius) ** 2
    assert t["surface_area_um2"].iloc[0] == pytest.approx(true, rel=0.03)
    assert t["sphericity"].iloc[0] == pytest.approx(1.0, abs=0.05)


def test_against_skimage_and_scipy():
    pid, ph = random_particles()
    minerals = spodumene_ore()
    t = particle_table(pid, ph, voxel_size_um=1.0, minerals=minerals)
    ref = regionprops_table(pid.astype(np.int32), properties=("label", "area", "bbox"))
    assert np.array_equal(t["particle_id"], ref["label"])
    assert np.array_equal(t["voxels"], ref["area"])
    for k, c in enumerate(["bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1"]):
        assert np.array_equal(t[c], ref[f"bbox-{k}"])
    for m in minerals:
        ref_counts = ndimage.sum_labels(ph == m.id, pid, index=t["particle_id"].to_numpy())
        assert np.array_equal(t[f"voxels_{m.name}"], ref_counts.astype(np.int64))
    assert np.array_equal(t["unassigned_voxels"], ndimage.sum_labels(ph == 0, pid, index=t["particle_id"]))
    ct = composition_table(pid, ph, minerals=minerals)
    assert np.array_equal(ct["voxels_quartz"], t["voxels_quartz"])


def _assert_same(a, b):
    for f in ("ids", "counts", "faces", "bbox", "background"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def test_numba_numpy_and_chunked_agree():
    pid, ph = random_particles(seed=3)
    minerals = spodumene_ore()
    ref = measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=pid.shape, engine="numpy")
    _assert_same(ref, measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=(7, 11, 13), engine="numpy"))
    if _kernels.HAVE_NUMBA:
        _assert_same(ref, measure(pid, ph, voxel_size_um=1.0, minerals=minerals, engine="numba"))
        _assert_same(ref, measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=(9, 10, 17)))
    # dask arrays with particles spanning chunks
    dp = da.from_array(pid, chunks=(13, 16, 20))
    dq = da.from_array(ph, chunks=(13, 16, 20))
    _assert_same(ref, measure(dp, dq, voxel_size_um=1.0, minerals=minerals))


def test_zarr_input_agrees(tmp_path):
    import zarr

    pid, ph = random_particles(seed=4)
    zp = zarr.create_array(tmp_path / "p.zarr", shape=pid.shape, chunks=(16, 16, 16), dtype=pid.dtype)
    zp[:] = pid
    zq = zarr.create_array(tmp_path / "q.zarr", shape=ph.shape, chunks=(16, 16, 16), dtype=ph.dtype)
    zq[:] = ph
    ref = measure(pid, ph, voxel_size_um=1.0, minerals=spodumene_ore())
    _assert_same(ref, measure(zp, zq, voxel_size_um=1.0, minerals=spodumene_ore()))


def test_large_sparse_ids_are_relabelled():
    pid, ph = boxes()
    big = pid.astype(np.uint64)
    big[big == 2] = 2**40
    t = particle_table(big, ph, voxel_size_um=1.0, minerals=two_minerals()).set_index("particle_id")
    assert t.loc[2**40, "voxels"] == 64 and t.loc[2**40, "voxels_ore"] == 32


def test_bad_input():
    pid, ph = boxes()
    m = two_minerals()
    with pytest.raises(InputError, match="shape"):
        particle_table(pid, ph[:-1], voxel_size_um=1.0, minerals=m)
    with pytest.raises(InputError, match="dtype"):
        particle_table(pid.astype(float), ph, voxel_size_um=1.0, minerals=m)
    with pytest.raises(InputError, match="voxel_size_um"):
        particle_table(pid, ph, voxel_size_um=0.0, minerals=m)
    with pytest.raises(InputError, match="voxel_size_um"):
        particle_table(pid, ph, voxel_size_um=None, minerals=m)
    bad = ph.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(InputError, match="7"):
        particle_table(pid, bad, voxel_size_um=1.0, minerals=m)
    with pytest.raises(InputError, match="minerals"):
        particle_table(pid, ph, voxel_size_um=1.0, minerals=["ore"])
    with pytest.raises(InputError, match="negative"):
        particle_table(pid.astype(np.int32) - 1, ph, voxel_size_um=1.0, minerals=m)
    with pytest.raises(InputError, match="size_classes_um"):
        particle_table(pid, ph, voxel_size_um=1.0, minerals=m, size_classes_um=(100, 50))


def test_phase_id_without_mineral_numpy_engine():
    pid, ph = boxes()
    gap = MineralList_with_gap()
    bad = ph.copy()
    bad[pid == 2] = 2  # id 2 is not in the list (ids 1 and 3)
    with pytest.raises(InputError, match="without a mineral"):
        measure(pid, bad, voxel_size_um=1.0, minerals=gap, engine="numpy")


def MineralList_with_gap():
    from liberation.minerals import Mineral, MineralList

    return MineralList([Mineral(1, "ore", 4.0), Mineral(3, "gangue", 2.0)])


def test_inputs_not_modified():
    pid, ph = random_particles(seed=5)
    p0, q0 = pid.copy(), ph.copy()
    particle_table(pid, ph, voxel_size_um=1.0, minerals=spodumene_ore(), chunks=(8, 8, 8))
    assert np.array_equal(pid, p0) and np.array_equal(ph, q0)
