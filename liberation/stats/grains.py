"""Grain size distribution: connected grains of one mineral inside one particle.

A grain is a 6-connected set of voxels with the same particle id and the same phase id (> 0).
Blocks are labelled independently and the labels that touch across block faces are merged
(union of equal-key neighbours, then connected components), so the result does not depend on
the block size and the memory stays bounded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.measure import label as sk_label

from liberation.minerals import MineralList
from liberation.stats.measure import _block_grid, _is_dask, _is_zarr, check_inputs, normalise_chunks


def _grain_block(pid, ph, n_phases):
    pid = np.asarray(pid).astype(np.int64)
    ph = np.asarray(ph).astype(np.int64)
    key = np.where((pid > 0) & (ph > 0), pid * n_phases + ph, 0)
    lab = sk_label(key, background=0, connectivity=1).astype(np.int64)
    n = int(lab.max())
    voxels = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    keys = np.zeros(n + 1, dtype=np.int64)
    keys[lab.ravel()] = key.ravel()
    faces = [(lab[0], lab[-1]), (lab[:, 0], lab[:, -1]), (lab[:, :, 0], lab[:, :, -1])]
    return n, voxels, keys[1:], faces


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
    grid = normalise_chunks(shape, chunks, particles)
    cores = list(_block_grid(shape, grid))
    nblocks = tuple(len(g) for g in grid)
    if _is_dask(particles) or _is_zarr(particles) or client is not None:
        import dask
        import dask.array as da

        pa = particles if _is_dask(particles) else da.from_array(particles, chunks=grid)
        qa = phases if _is_dask(phases) else da.from_array(phases, chunks=grid)
        task = dask.delayed(_grain_block, pure=True)
        tasks = [task(pa[tuple(slice(lo, hi) for lo, hi in c)], qa[tuple(slice(lo, hi) for lo, hi in c)], n_phases)
                 for c in cores]
        results = client.compute(tasks, sync=True) if client is not None else dask.compute(*tasks, scheduler="threads")
    else:
        pa = np.asarray(particles)
        qa = np.asarray(phases)
        results = [_grain_block(pa[tuple(slice(lo, hi) for lo, hi in c)], qa[tuple(slice(lo, hi) for lo, hi in c)],
                                n_phases) for c in cores]
    offsets = np.concatenate([[0], np.cumsum([r[0] for r in results])]).astype(np.int64)
    total = int(offsets[-1])
    voxels = np.concatenate([r[1] for r in results]) if total else np.zeros(0, dtype=np.int64)
    keys = np.concatenate([r[2] for r in results]) if total else np.zeros(0, dtype=np.int64)
    index = {ijk: i for i, ijk in enumerate(np.ndindex(*nblocks))}
    src, dst = [], []
    for ijk, i in index.items():
        for axis in range(3):
            nxt = list(ijk)
            nxt[axis] += 1
            j = index.get(tuple(nxt))
            if j is None:
                continue
            hi = results[i][3][axis][1]
            lo = results[j][3][axis][0]
            m = (hi > 0) & (lo > 0)
            if not np.any(m):
                continue
            a = hi[m] - 1 + offsets[i]
            b = lo[m] - 1 + offsets[j]
            same = keys[a] == keys[b]
            src.append(a[same])
            dst.append(b[same])
    if total and src:
        s = np.concatenate(src)
        d = np.concatenate(dst)
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
