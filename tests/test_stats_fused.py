"""The fused block kernels against plain numpy/scipy/scikit-image computations (issue 22).

- the geometry kernel (counts per phase, faces, boxes in one numba pass) equals the numpy
  reference and independent bincount / find_objects / neighbour-pair counts on random labels;
- the numba grain labelling equals ``skimage.measure.label`` (same numbering);
- one read for tables and grains (``measure_pass(grains=True)``) equals the two separate passes;
- per-particle crops through the decoded-chunk cache equal plain slicing, and the shapes
  measured on a zarr store equal the in-memory ones;
- the numba Taubin smoothing equals the scipy loop bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from _stats_phantoms import random_particles
from scipy import ndimage

from liberation.minerals import spodumene_ore
from liberation.stats import _kernels, grain_size_distribution, measure
from liberation.stats.measure import BlockReader, measure_pass

pytestmark = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba kernels")


def _random_labels(shape, n_ids, n_phases, seed):
    rng = np.random.default_rng(seed)
    # blobs of equal id (so faces inside and between particles both occur) plus salt noise
    coarse = rng.integers(0, n_ids, tuple(-(-s // 3) for s in shape))
    pid = np.repeat(np.repeat(np.repeat(coarse, 3, 0), 3, 1), 3, 2)[: shape[0], : shape[1], : shape[2]]
    salt = rng.random(shape) < 0.1
    pid[salt] = rng.integers(0, n_ids, int(salt.sum()))
    ph = rng.integers(0, n_phases, shape)
    return pid.astype(np.uint32), ph.astype(np.uint8)


def _independent_faces(pid, ph, n_ids, n_phases):
    """Faces by direct neighbour pairs (padded with id 0 outside the volume), numpy only."""
    P = n_phases
    faces = np.zeros((n_ids, P, P + 1, 3), dtype=np.int64)
    p = np.pad(pid.astype(np.int64), 1)
    q = np.pad(ph.astype(np.int64), 1)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        a, b, qa, qb = p[tuple(lo)].ravel(), p[tuple(hi)].ravel(), q[tuple(lo)].ravel(), q[tuple(hi)].ravel()
        for own, other, qo, qt in ((a, b, qa, qb), (b, a, qb, qa)):
            inside = (own > 0) & (own == other) & (qo != qt)
            np.add.at(faces, (own[inside], qo[inside], qt[inside], axis), 1)
            out = (own > 0) & (own != other)
            np.add.at(faces, (own[out], qo[out], P, axis), 1)
    return faces


@pytest.mark.parametrize("seed", [0, 1])
def test_fused_geometry_kernel_equals_numpy(seed):
    shape, n_ids, P = (17, 23, 19), 12, 4
    pid, ph = _random_labels(shape, n_ids, P, seed)
    ids, counts, faces, bbox, bad, _ = _kernels.sparse_block_tables(pid, ph, (0, 0, 0), shape, P, engine="numba")
    ids_n, counts_n, faces_n, bbox_n, bad_n, _ = _kernels.sparse_block_tables(pid, ph, (0, 0, 0), shape, P,
                                                                            engine="numpy")
    assert bad == bad_n == 0
    np.testing.assert_array_equal(ids, ids_n)
    np.testing.assert_array_equal(counts, counts_n)
    np.testing.assert_array_equal(faces, faces_n)
    np.testing.assert_array_equal(bbox[1:], bbox_n[1:])
    # independent references: bincount, find_objects, neighbour pairs
    dense = np.bincount(pid.ravel().astype(np.int64) * P + ph.ravel(), minlength=n_ids * P).reshape(n_ids, P)
    np.testing.assert_array_equal(counts, dense[ids])
    np.testing.assert_array_equal(faces, _independent_faces(pid, ph, n_ids, P)[ids])
    for row, i in enumerate(ids):
        if i == 0:
            continue
        sl = ndimage.find_objects((pid == i).astype(np.int32))[0]
        assert tuple(bbox[row]) == tuple(s.start for s in sl) + tuple(s.stop for s in sl)


@pytest.mark.parametrize("shape, offset, gshape", [
    ((9, 11, 40), (0, 0, 0), (9, 11, 40)),          # long runs along x, the whole volume
    ((1, 13, 17), (0, 0, 0), (1, 13, 17)),          # one plane: two border faces per voxel along z
    ((6, 1, 25), (4, 7, 0), (10, 8, 30)),           # one row, a block inside a larger volume (far borders)
    ((7, 5, 1), (3, 0, 29), (10, 5, 30)),           # one voxel along x, on the volume's far x border
])
def test_run_kernel_equals_numpy_on_thin_and_offset_blocks(shape, offset, gshape):
    """The numba kernel takes each row as runs of one value and phase (counts, boxes, moments, border faces
    once per run): it equals the numpy reference and the per-voxel coordinate sums on blocks with long runs,
    one-voxel-thin blocks and blocks inside a larger volume."""
    rng = np.random.default_rng(sum(shape))
    pid = np.repeat(rng.integers(0, 4, shape[:2] + (-(-shape[2] // 6),)), 6, axis=2)[:, :, : shape[2]]
    pid = pid.astype(np.uint32) * 1000  # sparse ids (a lookup table with gaps)
    ph = np.repeat(rng.integers(0, 3, shape[:2] + (-(-shape[2] // 4),)), 4, axis=2)[:, :, : shape[2]].astype(np.uint8)
    P = 3
    got = _kernels.sparse_block_tables(pid, ph, offset, gshape, P, engine="numba", moments=True)
    want = _kernels.sparse_block_tables(pid, ph, offset, gshape, P, engine="numpy", moments=True)
    for g, w in zip(got[:4] + got[6:], want[:4] + want[6:]):
        np.testing.assert_array_equal(g[1:], w[1:])
    assert got[4] == 0
    ids = got[0]
    for row in range(1, len(ids)):
        z, y, x = np.nonzero(pid == ids[row])
        sums = [len(z), z.sum(), y.sum(), x.sum(), (z * z).sum(), (z * y).sum(), (z * x).sum(), (y * y).sum(),
                (y * x).sum(), (x * x).sum()]
        assert got[6][row].tolist() == [int(v) for v in sums]


def test_run_kernel_counts_bad_phase_voxels():
    """Voxels with a phase id outside the minerals are counted one by one (runs of them included)."""
    pid, ph = _random_labels((8, 9, 10), 5, 3, 4)
    ph[2, 3, 1:7] = 9
    ph[5, 0, 0] = 7
    ids, counts, faces, bbox, bad, bad_value = _kernels.sparse_block_tables(pid, ph, (0, 0, 0), pid.shape, 3,
                                                                           engine="numba")
    assert bad == 7 and bad_value in (7, 9)
    assert counts.sum() == pid.size - 7


def test_measure_on_blocks_equals_one_block():
    shape, P = (30, 26, 28), 5
    pid, ph = _random_labels(shape, 40, P, 3)
    minerals = spodumene_ore()
    ph = np.minimum(ph, minerals.max_id).astype(np.uint8)
    whole = measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=shape, engine="numpy")
    blocks = measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=(7, 9, 11), engine="numba", workers=2)
    for name in ("ids", "counts", "faces", "bbox", "background"):
        np.testing.assert_array_equal(getattr(blocks, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("seed", [0, 5])
def test_grain_labels_equal_skimage(seed):
    pid, ph = _random_labels((19, 21, 17), 6, 3, seed)
    lab, vox, keys = _kernels.grain_labels(pid, ph, 3, engine="numba")
    lab_s, vox_s, keys_s = _kernels.grain_labels(pid, ph, 3, engine="numpy")
    np.testing.assert_array_equal(lab, lab_s)
    np.testing.assert_array_equal(vox, vox_s)
    np.testing.assert_array_equal(keys, keys_s)
    assert vox.sum() == np.count_nonzero((pid > 0) & (ph > 0))


@pytest.mark.parametrize("kind", ["long runs", "alternating", "combs"])
def test_grain_runs_equal_skimage(kind):
    """The run-based labelling on long runs, keys alternating at every voxel (one run per voxel) and combs whose
    teeth meet only in a later row or plane (roots merged late): skimage's labels, numbering included."""
    rng = np.random.default_rng(11)
    shape = (12, 14, 33)
    if kind == "long runs":
        pid = np.repeat(rng.integers(0, 3, (12, 14, 5)), 7, axis=2)[:, :, :33].astype(np.uint32)
        ph = np.repeat(rng.integers(0, 3, (12, 14, 3)), 11, axis=2)[:, :, :33].astype(np.uint8)
    elif kind == "alternating":
        pid = np.ones(shape, dtype=np.uint32)
        ph = (1 + (np.indices(shape).sum(axis=0) % 2)).astype(np.uint8)
    else:
        pid = np.zeros(shape, dtype=np.uint32)
        pid[:, :, ::3] = 1  # teeth along z/y, joined in the last row (y) and the last plane (z) only
        pid[:, -1, :] = 1
        pid[-1, :, 1::4] = 1
        ph = np.ones(shape, dtype=np.uint8)
        ph[rng.random(shape) < 0.05] = 2
    lab, vox, keys = _kernels.grain_labels(pid, ph, 3, engine="numba")
    lab_s, vox_s, keys_s = _kernels.grain_labels(pid, ph, 3, engine="numpy")
    np.testing.assert_array_equal(lab, lab_s)
    np.testing.assert_array_equal(vox, vox_s)
    np.testing.assert_array_equal(keys, keys_s)


def test_one_read_for_tables_and_grains(tmp_path):
    pid, ph = random_particles(shape=(32, 36, 30), n=30, seed=4)
    minerals = spodumene_ore()
    zp = zarr.create_array(tmp_path / "p.zarr", shape=pid.shape, chunks=(10, 12, 9), dtype=pid.dtype)
    zp[:] = pid
    zq = zarr.create_array(tmp_path / "q.zarr", shape=ph.shape, chunks=(10, 12, 9), dtype=ph.dtype)
    zq[:] = ph
    m, merger, planes = measure_pass(zp, zq, voxel_size_um=2.0, minerals=minerals, grains=True, workers=2,
                                     planes=[(0, 5), (0, 31), (1, 17), (2, 0)])
    for (axis, pos), (p2, q2) in planes.items():
        np.testing.assert_array_equal(p2, np.take(pid, pos, axis=axis))
        np.testing.assert_array_equal(q2, np.take(ph, pos, axis=axis))
    assert len(planes) == 4
    ref = measure(pid, ph, voxel_size_um=2.0, minerals=minerals)
    for name in ("ids", "counts", "faces", "bbox"):
        np.testing.assert_array_equal(getattr(m, name), getattr(ref, name), err_msg=name)
    g = merger.table(voxel_size_um=m.voxel_size_um, minerals=minerals)
    assert g.equals(grain_size_distribution(zp, zq, voxel_size_um=2.0, minerals=minerals))
    # numbering follows the blocks; the grains themselves do not depend on them
    g_mem = grain_size_distribution(pid, ph, voxel_size_um=2.0, minerals=minerals)
    assert sorted(zip(g["particle_id"], g["mineral"], g["voxels"])) == \
        sorted(zip(g_mem["particle_id"], g_mem["mineral"], g_mem["voxels"]))


def test_block_reader_equals_slicing_and_shapes_on_zarr(tmp_path, monkeypatch):
    from liberation.stats import shape
    from liberation.stats.shape import particle_shapes

    pid, ph = random_particles(shape=(30, 34, 28), n=20, seed=9)
    zp = zarr.create_array(tmp_path / "p.zarr", shape=pid.shape, chunks=(8, 7, 9), dtype=pid.dtype)
    zp[:] = pid
    zq = zarr.create_array(tmp_path / "q.zarr", shape=ph.shape, chunks=(8, 7, 9), dtype=ph.dtype)
    zq[:] = ph
    reader = BlockReader(zp, max_bytes=3 * 8 * 7 * 9 * 4)  # 3 chunks: evictions happen
    rng = np.random.default_rng(0)
    for _ in range(30):
        lo = [int(rng.integers(0, s - 1)) for s in pid.shape]
        hi = [int(rng.integers(a + 1, s + 1)) for a, s in zip(lo, pid.shape)]
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        np.testing.assert_array_equal(reader.read(sl), pid[sl])
    m = measure(pid, ph, voxel_size_um=1.5, minerals=spodumene_ore())
    kw = dict(voxel_size_um=m.voxel_size_um, n_phases=m.n_phases)
    ref, ref_faces = particle_shapes(pid, ph, m.ids, m.bbox, **kw)
    got, got_faces = particle_shapes(zp, zq, m.ids, m.bbox, **kw)
    assert got.equals(ref)
    np.testing.assert_array_equal(got_faces, ref_faces)
    # threads (each with its own small chunk cache) give the same table
    monkeypatch.setattr(shape, "MIN_PARTICLES_PER_THREAD", 1)
    got, got_faces = particle_shapes(zp, zq, m.ids, m.bbox, workers=3, cache_bytes=1 << 14, **kw)
    assert got.equals(ref)
    np.testing.assert_array_equal(got_faces, ref_faces)


def test_taubin_numba_equals_scipy(monkeypatch):
    from skimage.measure import marching_cubes

    from liberation.stats import shape

    z, y, x = np.ogrid[-9:10, -9:10, -9:10]
    m = np.pad(((z * z + 1.7 * y * y + x * x) <= 60).astype(np.float32), 1)
    v, f, _, _ = marching_cubes(m, 0.5, spacing=(1.0, 2.0, 0.5), allow_degenerate=False)
    v = v.astype(np.float64)
    fast = shape._taubin(v, f, 10)
    monkeypatch.setattr(_kernels, "HAVE_NUMBA", False)
    slow = shape._taubin(v, f, 10)
    np.testing.assert_array_equal(fast, slow)


def test_unassigned_volume_chunkwise(tmp_path):
    from liberation.workflows.report_store import unassigned_volume

    pid, ph = random_particles(shape=(26, 30, 22), n=15, seed=2)
    ph = ph.copy()
    ph[::3, ::2] = 0
    expected = (int(np.count_nonzero((pid > 0) & (ph == 0))), int(np.count_nonzero(pid > 0)))
    zp = zarr.create_array(tmp_path / "p.zarr", shape=pid.shape, chunks=(7, 8, 9), dtype=pid.dtype)
    zp[:] = pid
    zq = zarr.create_array(tmp_path / "q.zarr", shape=ph.shape, chunks=(7, 8, 9), dtype=ph.dtype)
    zq[:] = ph
    assert unassigned_volume(zp, zq) == expected
    assert unassigned_volume(pid, ph) == expected
    assert unassigned_volume(pid, ph, slab=4) == expected
