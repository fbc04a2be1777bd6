"""Chunked (zarr, small chunks) analysis equals the in-memory analysis, table for table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr
from _stats_phantoms import random_particles

from liberation.minerals import spodumene_ore
from liberation.stats import analyse, measure
from liberation.stats.measure import _Accumulator


def _to_zarr(path, a, chunks):
    z = zarr.create_array(path, shape=a.shape, chunks=chunks, dtype=a.dtype)
    z[:] = a
    return z


def _grains(g):
    return sorted(zip(g["particle_id"], g["mineral"], g["voxels"]))


@pytest.fixture(scope="module")
def sample():
    # 60 touching particles of radius ~7 voxels: most of them cross the 8-voxel chunk borders
    pid, ph = random_particles(shape=(40, 48, 44), n=60, seed=11)
    return pid, ph


@pytest.mark.slow
def test_analyse_on_small_zarr_chunks_equals_in_memory(sample, tmp_path, monkeypatch):
    pid, ph = sample
    minerals = spodumene_ore()
    kw = dict(voxel_size_um=3.0, minerals=minerals, size_classes_um=(20, 30), section_axes=("z", "x"),
              section_spacing=8)
    ref = analyse(pid, ph, **kw)
    chunks = (12, 11, 13)  # irregular, not dividing the shape
    zp = _to_zarr(tmp_path / "p.zarr", pid, chunks)
    zq = _to_zarr(tmp_path / "q.zarr", ph, chunks)
    # the sparse per-block tables must really be merged in several batches
    monkeypatch.setattr(_Accumulator, "min_batch", 16)
    got = analyse(zp, zq, **kw)
    spanning = ((ref.particles["bbox_z0"] // 12 != (ref.particles["bbox_z1"] - 1) // 12)
                | (ref.particles["bbox_x0"] // 13 != (ref.particles["bbox_x1"] - 1) // 13))
    assert spanning.mean() > 0.8 and len(ref.particles) >= 50
    pd.testing.assert_frame_equal(got.particles, ref.particles)
    pd.testing.assert_frame_equal(got.association, ref.association)
    pd.testing.assert_frame_equal(got.sections, ref.sections)
    for name in ("modal", "liberation", "surface_liberation", "locking", "grade_recovery", "comparison",
                 "cumulative_yield", "size_distribution"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(ref, name), obj=name)
    assert _grains(got.grain_sizes) == _grains(ref.grain_sizes)
    assert got.summary == ref.summary


@pytest.mark.slow
def test_measure_sparse_tables_match_dense_reference(sample):
    """Sparse block tables, merged from 1-voxel-thick slabs, equal one block over the whole volume."""
    pid, ph = sample
    minerals = spodumene_ore()
    whole = measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=pid.shape, engine="numpy")
    for chunks, engine in (((1, 48, 44), "auto"), ((6, 7, 8), "auto"), ((13, 6, 44), "numpy")):
        m = measure(pid, ph, voxel_size_um=1.0, minerals=minerals, chunks=chunks, engine=engine, workers=2)
        for f in ("ids", "counts", "faces", "bbox", "background"):
            assert np.array_equal(getattr(m, f), getattr(whole, f)), (chunks, f)
    # particle ids far beyond the lookup-table limit and ids missing in most blocks
    big = pid.astype(np.uint64) * np.uint64(1 << 30)
    m = measure(big, ph, voxel_size_um=1.0, minerals=minerals, chunks=(20, 16, 22))
    assert np.array_equal(m.ids, whole.ids * (1 << 30))
    assert np.array_equal(m.counts, whole.counts) and np.array_equal(m.faces, whole.faces)
