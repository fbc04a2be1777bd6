"""One pass over the voxels: composition, faces and bounding boxes of every particle.

The volume is cut into blocks (the zarr/dask chunks, or slabs of a numpy array); each block is
read with a one-voxel halo on its high side, reduced to small per-particle tables by a
single-pass kernel (:mod:`liberation.stats._kernels`) and the partial tables are summed.
Memory stays bounded by a few blocks plus the tables, whatever the volume size. With a
``distributed.Client`` the same block tasks run on the cluster.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from liberation._validation import as_voxel_size, check_label_array, check_same_shape
from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats import _kernels

#: Largest particle id handled without relabelling (dense tables indexed by id).
DENSE_ID_LIMIT = 1 << 22
#: Voxels per block of an in-memory numpy volume.
BLOCK_VOXELS = 1 << 24


@dataclass
class ParticleMeasurements:
    """Raw per-particle tables from one pass over the voxels.

    Attributes
    ----------
    ids : ndarray of int64, shape (n,)
        Particle ids present, increasing.
    counts : ndarray of int64, shape (n, n_phases)
        Voxels of each phase id (column = phase id; column 0 = unassigned/void inside the particle).
    faces : ndarray of int64, shape (n, n_phases, n_phases + 1, 3) or (0, 0, 0, 3)
        Face counts by (own phase, neighbour phase or ``n_phases`` = outside, axis z/y/x).
    bbox : ndarray of int64, shape (n, 6)
        ``z0, y0, x0, z1, y1, x1`` (half-open voxel indices).
    background : ndarray of int64, shape (n_phases,)
        Phase counts of voxels outside every particle.
    shape : tuple of int
        Volume shape (z, y, x).
    voxel_size_um : tuple of float
        Voxel size (z, y, x) in µm.
    minerals : MineralList
        The minerals.
    """

    ids: np.ndarray
    counts: np.ndarray
    faces: np.ndarray
    bbox: np.ndarray
    background: np.ndarray
    shape: tuple[int, int, int]
    voxel_size_um: tuple[float, float, float]
    minerals: MineralList

    @property
    def n_phases(self) -> int:
        return self.counts.shape[1]

    @property
    def has_faces(self) -> bool:
        return self.faces.shape[0] == self.counts.shape[0] and self.faces.size > 0 or self.counts.shape[0] == 0

    def face_areas_um2(self) -> np.ndarray:
        """Face areas (µm²) of faces normal to z, y, x: ``(sy*sx, sz*sx, sz*sy)``."""
        sz, sy, sx = self.voxel_size_um
        return np.array([sy * sx, sz * sx, sz * sy])


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask.")


def _is_zarr(a) -> bool:
    return type(a).__module__.startswith("zarr.")


def check_inputs(particles, phases, *, voxel_size_um, minerals, particles_name="particles", phases_name="phases"):
    """Validate the common inputs; return the voxel size tuple. Raises :class:`InputError`."""
    vs = as_voxel_size(voxel_size_um)
    if particles is None:
        raise InputError(f"{particles_name} is missing; expected an integer label array (z, y, x)")
    if phases is None:
        raise InputError(f"{phases_name} is missing; expected an integer phase array (z, y, x)")
    for arr, name in ((particles, particles_name), (phases, phases_name)):
        if not hasattr(arr, "shape") or not hasattr(arr, "dtype"):
            raise InputError(f"{name} is a {type(arr).__name__}; expected an array (numpy, dask or zarr)")
        check_label_array(arr, name=name, ndim=3)
    check_same_shape(particles, phases, name_a=particles_name, name_b=phases_name)
    if not isinstance(minerals, MineralList):
        raise InputError(f"minerals is {type(minerals).__name__}; expected a liberation.minerals.MineralList")
    return vs


def _block_grid(shape, chunks):
    """Yield core slices of every block; ``chunks`` is a tuple of per-axis tuples of sizes."""
    bounds = []
    for sizes in chunks:
        edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        bounds.append(list(zip(edges[:-1], edges[1:])))
    yield from itertools.product(*bounds)


def normalise_chunks(shape, chunks, array=None):
    """Per-axis chunk sizes for ``shape`` from an int, a tuple, dask/zarr chunks or a default."""
    if chunks is None and array is not None:
        if _is_dask(array):
            return tuple(tuple(int(c) for c in ax) for ax in array.chunks)
        if _is_zarr(array):
            chunks = tuple(array.chunks)
    if chunks is None:
        ny, nx = shape[1], shape[2]
        slab = max(1, min(shape[0], BLOCK_VOXELS // max(1, ny * nx)))
        chunks = (slab, ny, nx)
    if isinstance(chunks, (int, np.integer)):
        chunks = (int(chunks),) * 3
    if len(chunks) != 3:
        raise InputError(f"chunks={chunks!r} must have 3 entries (z, y, x) or be one int")
    out = []
    for n, c in zip(shape, chunks):
        if isinstance(c, (tuple, list)):
            if sum(c) != n:
                raise InputError(f"chunks={chunks!r} do not add up to the shape {tuple(shape)}")
            out.append(tuple(int(v) for v in c))
            continue
        c = int(c)
        if c <= 0:
            raise InputError(f"chunks={chunks!r} must be positive")
        full, rest = divmod(n, c)
        out.append((c,) * full + ((rest,) if rest else ()))
    return tuple(out)


def _ext(core, shape):
    return tuple(slice(lo, min(hi + 1, n)) for (lo, hi), n in zip(core, shape))


def _task(pid, ph, core, shape, n_ids, n_phases, remap, with_faces, engine):
    pid = np.asarray(pid)
    ph = np.asarray(ph)
    if remap is not None:
        pid = np.searchsorted(remap, pid).astype(np.int64)
    core_shape = tuple(hi - lo for lo, hi in core)
    offset = tuple(lo for lo, _ in core)
    return _kernels.block_tables(pid, ph, core_shape, offset, shape, n_ids, n_phases,
                                 with_faces=with_faces, engine=engine)


def _combine(*parts):
    counts = parts[0][0].copy()
    faces = parts[0][1].copy()
    bbox = parts[0][2].copy()
    bad = parts[0][3]
    bad_value = parts[0][4]
    for c, f, b, nb, bv in parts[1:]:
        counts += c
        faces += f
        np.minimum(bbox[:, :3], b[:, :3], out=bbox[:, :3])
        np.maximum(bbox[:, 3:], b[:, 3:], out=bbox[:, 3:])
        bad += nb
        if bv != -1:
            bad_value = bv
    return counts, faces, bbox, bad, bad_value


def _max_and_remap(particles, client):
    """Max particle id, and the sorted ids (with 0) when ids are too large for dense tables."""
    if _is_dask(particles):
        import dask.array as da

        mx = particles.max()
        mx = int(client.compute(mx).result() if client is not None else mx.compute())
        mn = particles.min()
        mn = int(client.compute(mn).result() if client is not None else mn.compute())
        if mn < 0:
            raise InputError(f"particles contains negative ids (min {mn}); expected ids >= 0")
        if mx < DENSE_ID_LIMIT:
            return mx, None
        u = da.unique(particles)
        u = np.asarray(client.compute(u).result() if client is not None else u.compute())
    else:
        arr = np.asarray(particles)
        if arr.size == 0:
            raise InputError(f"particles has shape {arr.shape}; expected a non-empty 3D array")
        mx = int(arr.max())
        if int(arr.min()) < 0:
            raise InputError(f"particles contains negative ids (min {int(arr.min())}); expected ids >= 0")
        if mx < DENSE_ID_LIMIT:
            return mx, None
        u = np.unique(arr)
    u = np.union1d(np.array([0], dtype=u.dtype), u).astype(np.int64)
    return mx, u


def measure(
    particles,
    phases,
    *,
    voxel_size_um,
    minerals: MineralList,
    client=None,
    chunks=None,
    faces: bool = True,
    engine: str = "auto",
    workers: int | None = None,
) -> ParticleMeasurements:
    """Count phases, faces and bounding boxes of every particle in one pass over the voxels.

    Parameters
    ----------
    particles : array, shape (z, y, x), integer
        Particle instance ids (0 = outside particles); numpy, dask or zarr array.
    phases : array, shape (z, y, x), integer
        Mineral phase ids (0 = void), same shape.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.
    minerals : MineralList
        Minerals; every phase id > 0 present must be one of them.
    client : distributed.Client, optional
        Run the block tasks on this Dask cluster.
    chunks : int or tuple, optional
        Block shape; default the array's own chunks (dask/zarr) or z slabs of ~16 M voxels.
    faces : bool
        Count faces too (needed for surfaces, exposure and association).
    engine : {"auto", "numba", "numpy"}
        Kernel; "auto" uses numba when importable.
    workers : int, optional
        Threads for in-memory numpy volumes (default: number of CPUs).

    Returns
    -------
    ParticleMeasurements
    """
    vs = check_inputs(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals)
    shape = tuple(int(n) for n in particles.shape)
    if engine not in ("auto", "numba", "numpy"):
        raise InputError(f"engine={engine!r}; expected 'auto', 'numba' or 'numpy'")
    if _is_zarr(particles) or _is_zarr(phases) or (client is not None and not _is_dask(particles)):
        import dask.array as da

        zc = normalise_chunks(shape, chunks, particles if not isinstance(particles, np.ndarray) else phases)
        particles = da.from_array(particles, chunks=zc) if not _is_dask(particles) else particles.rechunk(zc)
        phases = da.from_array(phases, chunks=zc) if not _is_dask(phases) else phases.rechunk(zc)
    if _is_dask(particles) and not _is_dask(phases):
        import dask.array as da

        phases = da.from_array(np.asarray(phases), chunks=particles.chunks)
    if _is_dask(phases) and not _is_dask(particles):
        import dask.array as da

        particles = da.from_array(np.asarray(particles), chunks=phases.chunks)
    n_phases = int(minerals.max_id) + 1
    max_id, remap = _max_and_remap(particles, client)
    n_ids = (max_id + 1) if remap is None else len(remap)
    grid = normalise_chunks(shape, chunks, particles)
    if _is_dask(particles):
        import dask

        if chunks is not None:
            particles = particles.rechunk(grid)
            phases = phases.rechunk(grid)
        tasks = []
        task = dask.delayed(_task, pure=True)
        for core in _block_grid(shape, grid):
            ext = _ext(core, shape)
            tasks.append(task(particles[ext], phases[ext], core, shape, n_ids, n_phases, remap, faces, engine))
        combine = dask.delayed(_combine, pure=True)
        while len(tasks) > 1:
            tasks = [combine(*tasks[i : i + 8]) for i in range(0, len(tasks), 8)]
        if client is not None:
            result = client.compute(tasks[0]).result()
        else:
            result = tasks[0].compute(scheduler="threads")
    else:
        pid = np.asarray(particles)
        ph = np.asarray(phases)
        cores = list(_block_grid(shape, grid))
        n_workers = workers or min(len(cores), os.cpu_count() or 1)

        def run(core):
            ext = _ext(core, shape)
            return _task(pid[ext], ph[ext], core, shape, n_ids, n_phases, remap, faces, engine)

        if n_workers <= 1 or len(cores) == 1:
            result = None
            for core in cores:
                part = run(core)
                result = part if result is None else _combine(result, part)
        else:
            result = None
            with ThreadPoolExecutor(n_workers) as pool:
                for part in pool.map(run, cores):
                    result = part if result is None else _combine(result, part)
    counts, face, bbox, bad, bad_value = result
    if bad:
        raise InputError(
            f"phases contains {bad} voxels with phase id {bad_value} that is not a mineral id; "
            f"known ids: {minerals.ids} (0 = void)"
        )
    known = set(minerals.ids) | {0}
    total = counts.sum(axis=0)
    unknown = [i for i in np.nonzero(total)[0] if int(i) not in known]
    if unknown:
        raise InputError(
            f"phases contains phase id(s) {[int(i) for i in unknown]} without a mineral; "
            f"minerals has ids {minerals.ids} ({', '.join(minerals.names)})"
        )
    present = np.nonzero(counts[1:].sum(axis=1))[0] + 1
    ids = present if remap is None else remap[present]
    return ParticleMeasurements(
        ids=np.asarray(ids, dtype=np.int64),
        counts=counts[present],
        faces=face[present] if faces else face,
        bbox=bbox[present],
        background=counts[0],
        shape=shape,
        voxel_size_um=vs,
        minerals=minerals,
    )
