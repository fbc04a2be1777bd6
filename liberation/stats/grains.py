"""Grain size distribution: connected grains of one mineral inside one particle.

A grain is a 6-connected set of voxels with the same particle id and the same phase id (> 0).
Blocks are labelled independently (read one at a time, a few in flight) and the labels that touch
across block faces are merged (union of equal-key neighbours, then connected components), so the
result does not depend on the block size. Only the face planes of blocks whose high-side
neighbour has not arrived yet are kept, so memory is bounded by a few blocks plus one plane of
the volume plus the per-grain tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from liberation.minerals import MineralList
from liberation.stats import _kernels
from liberation.stats.measure import check_inputs, normalise_chunks, run_blocks


def _grain_block(pid, ph, core, n_phases, engine="auto"):
    """Label one block; return the grain count, voxels and keys of its grains, and its face planes.

    Face planes are ``(labels, keys)`` of the first (``low``) and last (``high``) plane along each axis.
    """
    lab, voxels, keys = _kernels.grain_labels(pid, ph, n_phases, engine=engine)
    n = len(voxels)

    def plane(a, i):
        la = np.take(lab, i, axis=a).astype(np.int64)
        ka = np.zeros(la.shape, dtype=np.int64)
        inside = la > 0
        ka[inside] = keys[la[inside] - 1]
        return la, ka

    low = tuple(plane(a, 0) for a in range(3))
    high = tuple(plane(a, -1) for a in range(3))
    return n, voxels, keys, low, high


class GrainMerger:
    """Grains of blocks labelled independently, merged across block faces (blocks arrive in C order).

    Parameters
    ----------
    nblocks : tuple of int
        Blocks per axis.
    """

    def __init__(self, nblocks):
        self.nblocks = tuple(nblocks)
        self.pending = {}
        self.voxel_parts, self.key_parts, self.src, self.dst = [], [], [], []
        self.total = 0

    def add(self, idx, n, voxels, keys, low, high) -> None:
        """Add the output of :func:`_grain_block` of block ``idx`` (C order)."""
        self.voxel_parts.append(voxels)
        self.key_parts.append(keys)
        for axis in range(3):
            if idx[axis] > 0:
                prev = list(idx)
                prev[axis] -= 1
                (hl, hk), hoff = self.pending.pop((tuple(prev), axis))
                ll, lk = low[axis]
                m = (hl > 0) & (ll > 0) & (hk == lk)
                if np.any(m):
                    pair = np.unique((hl[m] << 32) | ll[m])  # labels of one block are < 2**32
                    self.src.append((pair >> 32) - 1 + hoff)
                    self.dst.append((pair & 0xFFFFFFFF) - 1 + self.total)
            if idx[axis] < self.nblocks[axis] - 1:
                self.pending[(tuple(idx), axis)] = (high[axis], self.total)
        self.total += int(n)

    def table(self, *, voxel_size_um, minerals: MineralList, particle_table: pd.DataFrame | None = None
              ) -> pd.DataFrame:
        """The grain table (see :func:`grain_size_distribution`)."""
        total = self.total
        vs = voxel_size_um
        n_phases = minerals.max_id + 1
        voxels = np.concatenate(self.voxel_parts).astype(np.int64) if total else np.zeros(0, dtype=np.int64)
        keys = np.concatenate(self.key_parts) if total else np.zeros(0, dtype=np.int64)
        if total and self.src:
            s = np.concatenate(self.src)
            d = np.concatenate(self.dst)
            graph = coo_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(total, total))
            _, comp = connected_components(graph, directed=False)
        else:
            comp = np.arange(total)
        n_grains = int(comp.max()) + 1 if total else 0
        gvox = np.bincount(comp, weights=voxels, minlength=n_grains).astype(np.int64)
        gkey = np.zeros(n_grains, dtype=np.int64)
        gkey[comp] = keys
        # number grains in order of first appearance
        _, first = np.unique(comp, return_index=True)
        order = np.argsort(first, kind="stable")
        gvox, gkey = gvox[order], gkey[order]
        vox_um3 = float(np.prod(vs))
        names = np.array([""] * n_phases, dtype=object)
        for m in minerals:
            names[m.id] = m.name
        vol = gvox * vox_um3
        df = pd.DataFrame({
            "grain_id": np.arange(1, n_grains + 1, dtype=np.int64),
            "particle_id": gkey // n_phases,
            "mineral": names[gkey % n_phases] if n_grains else np.array([], dtype=object),
            "voxels": gvox,
            "volume_um3": vol,
            "esd_um": np.cbrt(6.0 * vol / np.pi),
        })
        if particle_table is not None and len(df):
            lut = particle_table.set_index("particle_id")
            df["size_class"] = lut["size_class"].reindex(df["particle_id"]).to_numpy()
            df["excluded"] = lut["excluded"].reindex(df["particle_id"]).fillna(False).to_numpy(dtype=bool)
        return df


def grain_size_distribution(
    particles,
    phases,
    *,
    voxel_size_um,
    minerals: MineralList,
    particle_table: pd.DataFrame | None = None,
    client=None,
    chunks=None,
) -> pd.DataFrame:
    """One row per grain (connected mineral region inside a particle).

    Parameters
    ----------
    particles, phases : array, shape (z, y, x), integer
        Particle ids and phase ids (numpy, dask or zarr).
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.
    minerals : MineralList
        The minerals.
    particle_table : DataFrame, optional
        Copies ``size_class`` and ``excluded`` of the parent particle.
    client : distributed.Client, optional
        Label the blocks on this cluster.
    chunks : int or tuple, optional
        Block shape (default the array's chunks, or z slabs of ~16 M voxels).

    Returns
    -------
    DataFrame
        Columns ``grain_id, particle_id, mineral, voxels, volume_um3, esd_um`` (+ ``size_class``,
        ``excluded``), grains numbered 1.. in block order.
    """
    vs = check_inputs(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals)
    shape = tuple(int(n) for n in particles.shape)
    n_phases = minerals.max_id + 1
    source = particles if not isinstance(particles, np.ndarray) else phases
    grid = normalise_chunks(shape, chunks, source)
    nblocks = tuple(len(g) for g in grid)
    merger = GrainMerger(nblocks)
    blocks = run_blocks(particles, phases, grid, _grain_block, (n_phases,), client=client)
    for idx, out in zip(np.ndindex(*nblocks), blocks):
        merger.add(idx, *out)
    return merger.table(voxel_size_um=vs, minerals=minerals, particle_table=particle_table)
