"""Chunked zarr input of the sub-voxel passes: the shell-caching reader against direct reads."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from liberation.errors import InputError
from liberation.stats import measure
from liberation.stats import partial_volume as pv
from liberation.stats.partial_volume_blocks import ChunkShellReader, read_ext, read_halo, shell_cached
from liberation.synthetic.pv_phantom import partial_volume_phantom


class CountingArray:
    """A zarr array that counts the voxels of the chunks each read decodes."""

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype, self.chunks = array.shape, array.dtype, array.chunks
        self.decoded = 0

    def __getitem__(self, key):
        n = 1
        for s, c, size in zip(key, self.chunks, self.shape):
            a, b = s.indices(size)[:2]
            n *= sum(min((k + 1) * c, size) - k * c for k in range(a // c, (b - 1) // c + 1))
        self.decoded += n
        return self.array[key]


def _zarr(data, chunks):
    z = zarr.create_array(store={}, shape=data.shape, dtype=data.dtype, chunks=chunks)
    z[...] = data
    return z


@pytest.fixture(scope="module")
def phantom():
    return partial_volume_phantom(seed=1, blur_sigma_vox=0.7, inclusion_radii=(2, 3), per_radius=2, rims=(1.0,),
                                  grain_radii=(2, 3))


@pytest.mark.parametrize("chunks", [(16, 16, 16), (7, 13, 50), (40, 9, 11)])
def test_reader_returns_the_array_values(chunks):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 60000, size=(37, 41, 45), dtype=np.uint16)
    z = _zarr(data, chunks)
    reader = ChunkShellReader(z, halo=2)
    shape = data.shape
    for _ in range(60):
        lo = [int(rng.integers(0, n)) for n in shape]
        hi = [int(rng.integers(a + 1, n + 1)) for a, n in zip(lo, shape)]
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        assert np.array_equal(reader[sl], data[sl])
    # halo reads of every block of the chunk grid, as the passes do them
    grid = [tuple((k * c, min((k + 1) * c, n)) for k, c, n in zip(idx, chunks, shape))
            for idx in np.ndindex(*[-(-n // c) for n, c in zip(shape, chunks)])]
    for core in grid:
        for h in (1, 2, 3):
            a, lo, hi = read_halo(reader, core, shape, h)
            b, lo2, hi2 = read_halo(z, core, shape, h)
            assert (lo, hi) == (lo2, hi2) and np.array_equal(a, b)
            assert np.array_equal(read_ext(reader, core, shape, h), read_ext(z, core, shape, h))
    # a tiny budget keeps almost nothing: same values, read again from the array
    small = ChunkShellReader(z, halo=2, budget_bytes=1)
    assert all(np.array_equal(read_halo(small, core, shape, 2)[0], read_halo(z, core, shape, 2)[0]) for core in grid)


def test_reader_decodes_each_chunk_about_twice():
    data = np.arange(64 * 64 * 64, dtype=np.uint32).reshape(64, 64, 64)
    direct, cached = CountingArray(_zarr(data, (16, 16, 16))), CountingArray(_zarr(data, (16, 16, 16)))
    reader = ChunkShellReader(cached, halo=1)
    grid = [tuple((k * 16, k * 16 + 16) for k in idx) for idx in np.ndindex(4, 4, 4)]
    for core in grid:
        assert np.array_equal(read_halo(reader, core, data.shape, 1)[0], read_halo(direct, core, data.shape, 1)[0])
    # block by block with a one-voxel halo: (2 * 2 + 2 * 3) / 4 = 2.5 chunks per axis, 15.6x the volume
    assert direct.decoded / data.size == pytest.approx(2.5 ** 3)
    assert cached.decoded / data.size <= 2.0
    # the shells are copies (a view of a slab would keep its whole decoded chunk alive) and within the budget
    slabs = [s for shell in reader._shells.values() for pair in shell for s in pair]
    assert slabs and all(s.base is None for s in slabs)
    assert reader._bytes == sum(s.nbytes for s in slabs) <= reader.budget_bytes
    assert reader._bytes < 0.5 * data.nbytes  # shells of one-voxel thickness, not the chunks


def test_reader_rejects_other_keys():
    z = _zarr(np.zeros((8, 8, 8), np.uint8), (4, 4, 4))
    with pytest.raises(InputError, match="boxes"):
        ChunkShellReader(z, halo=1)[0, :, :]
    assert shell_cached(np.zeros((4, 4, 4)), halo=1).__class__ is np.ndarray
    assert shell_cached(z, halo=0) is z
    assert isinstance(shell_cached(z, halo=1), ChunkShellReader)


@pytest.mark.parametrize("clip, radius", [(True, 1), (False, "auto")])
def test_soft_passes_on_zarr_equal_numpy(phantom, clip, radius):
    ct, ph, pid = phantom.ct, phantom.phases, phantom.particles
    chunks = (16, 24, 20)
    zct, zph, zpid = _zarr(ct, chunks), _zarr(ph, chunks), _zarr(pid, chunks)
    m = measure(pid, ph, voxel_size_um=2.0, minerals=phantom.minerals)
    model = pv.estimate_model(ct, ph, n_phases=5, chunks=chunks)
    zmodel = pv.estimate_model(zct, zph, n_phases=5)
    np.testing.assert_array_equal(model.levels, zmodel.levels)
    assert model.edge_sigma_vox == zmodel.edge_sigma_vox
    a = pv.soft_counts(pid, ph, ct, model=model, ids=m.ids, hard_counts=m.counts, radius=radius, clip=clip,
                       chunks=chunks, workers=2)
    b = pv.soft_counts(zpid, zph, zct, model=model, ids=m.ids, hard_counts=m.counts, radius=radius, clip=clip,
                       workers=2)
    np.testing.assert_array_equal(a, b)
    f = pv.phase_fractions(ct, ph, pid, model=model, radius=radius, clip=clip, chunks=chunks)
    g = pv.phase_fractions(zct, zph, zpid, model=model, radius=radius, clip=clip)
    assert np.array_equal(f.fraction, g.fraction) and np.array_equal(f.owner, g.owner)
