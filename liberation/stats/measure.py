"""One pass over the voxels: composition, faces and bounding boxes of every particle.

The volume is cut into blocks (the zarr/dask chunks, or slabs of a numpy array). Each block is
read once (no halo, so each zarr chunk is decoded once) and reduced by a single-pass kernel
(:mod:`liberation.stats._kernels`) to *sparse* per-particle tables: rows only for the particle ids
present in that block. Faces between two blocks are counted from the last plane of one block and
the first plane of the next (kept only until the neighbour arrives; blocks are consumed in C
order). The sparse tables are merged incrementally (:class:`_Accumulator`), with at most
``2 * workers`` blocks in flight, so memory is bounded by a few blocks plus the final tables,
whatever the volume size. With a ``distributed.Client`` the same block tasks run on the cluster.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from liberation._validation import as_voxel_size, check_label_array, check_same_shape
from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats import _kernels

#: Kept for compatibility: block tables are sparse now (rows for the ids present in a block only),
#: ids of any size are handled without a global relabelling (see ``_kernels.LUT_ID_LIMIT``).
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
    pore_faces : ndarray of int64, shape (n, n_phases, 3), optional
        Faces between a particle voxel (by phase) and a pore of the particle (background it fully
        encloses), by axis; they are part of ``faces[:, :, -1]`` (outside) and are subtracted from
        the free surface (:func:`liberation.stats.shape.particle_shapes`). None: not measured.
    pore_voxels : ndarray of int64, shape (n,), optional
        Pore voxels of each particle. None: not measured.
    moments : ndarray of int64, shape (n, 10), optional
        Coordinate sums ``(count, Σz, Σy, Σx, Σzz, Σzy, Σzx, Σyy, Σyx, Σxx)`` of each particle's voxel
        indices relative to its bounding box's low corner (exact integers; the input of
        :func:`liberation.stats.shape.principal_moments`). None: not measured.
    """

    ids: np.ndarray
    counts: np.ndarray
    faces: np.ndarray
    bbox: np.ndarray
    background: np.ndarray
    shape: tuple[int, int, int]
    voxel_size_um: tuple[float, float, float]
    minerals: MineralList
    pore_faces: np.ndarray | None = None
    pore_voxels: np.ndarray | None = None
    moments: np.ndarray | None = None

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


def _read(a, sl):
    """One block of a numpy, zarr or dask array as numpy (dask: computed in this thread)."""
    if _is_dask(a):
        return np.asarray(a[sl].compute(scheduler="synchronous"))
    return np.asarray(a[sl])


class BlockReader:
    """Crops of a chunked (zarr or dask) array assembled from whole decoded chunks, kept in a small LRU cache.

    Reading many small crops (one per particle) straight from zarr decodes every chunk a crop
    touches, again for each crop; visiting the crops in chunk order (:meth:`order`) through this
    cache decodes each chunk about once. Numpy arrays are sliced directly.

    Parameters
    ----------
    array : array, shape (z, y, x)
        numpy, zarr or dask array.
    max_bytes : int
        Most decoded chunk bytes kept.
    """

    def __init__(self, array, *, max_bytes: int = 512 << 20):
        import threading
        from collections import OrderedDict

        self.lock = threading.Lock()

        self.array = array
        self.shape = tuple(int(n) for n in array.shape)
        self.direct = isinstance(array, np.ndarray)
        self.cache: OrderedDict = OrderedDict()
        self.nbytes = 0
        self.max_bytes = int(max_bytes)
        self.decoded = 0
        if not self.direct:
            grid = normalise_chunks(self.shape, None, array)
            self.edges = [np.concatenate([[0], np.cumsum(g)]).astype(np.int64) for g in grid]

    def chunk_index(self, point) -> tuple:
        """Chunk index (iz, iy, ix) holding voxel ``point``."""
        if self.direct:
            return (0, 0, 0)
        return tuple(int(np.searchsorted(e, p, side="right") - 1) for e, p in zip(self.edges, point))

    def chunk_bytes(self) -> int:
        """Bytes of one full chunk (numpy: 0)."""
        if self.direct:
            return 0
        return int(np.prod([int(e[1] - e[0]) for e in self.edges])) * np.dtype(self.array.dtype).itemsize

    def row_chunks(self) -> int:
        """Chunks along x (the last axis)."""
        return 1 if self.direct else len(self.edges[2]) - 1

    def _chunk(self, idx):
        with self.lock:  # threads share the cache; a chunk decoded twice at once is kept once
            block = self.cache.get(idx)
            if block is not None:
                self.cache.move_to_end(idx)
                return block
        sl = tuple(slice(int(e[i]), int(e[i + 1])) for e, i in zip(self.edges, idx))
        block = _read(self.array, sl)
        with self.lock:
            if idx in self.cache:
                return self.cache[idx]
            self.decoded += 1
            self.cache[idx] = block
            self.nbytes += block.nbytes
            while self.nbytes > self.max_bytes and len(self.cache) > 1:
                _, old = self.cache.popitem(last=False)
                self.nbytes -= old.nbytes
        return block

    def read(self, sl) -> np.ndarray:
        """``array[sl]`` as numpy for a tuple of 3 slices with explicit, in-range bounds (step 1)."""
        if self.direct:
            return self.array[sl]
        lo = [s.start for s in sl]
        hi = [s.stop for s in sl]
        out = np.empty(tuple(h - lo_ for lo_, h in zip(lo, hi)), dtype=self.array.dtype)
        first = self.chunk_index(lo)
        last = self.chunk_index([h - 1 for h in hi])
        for idx in itertools.product(*(range(a, b + 1) for a, b in zip(first, last))):
            block = self._chunk(idx)
            c0 = [int(e[i]) for e, i in zip(self.edges, idx)]
            a = [max(lo[k], c0[k]) for k in range(3)]
            b = [min(hi[k], c0[k] + block.shape[k]) for k in range(3)]
            out[tuple(slice(a[k] - lo[k], b[k] - lo[k]) for k in range(3))] = \
                block[tuple(slice(a[k] - c0[k], b[k] - c0[k]) for k in range(3))]
        return out


def _call_block(fn, particles, phases, core, args):
    sl = tuple(slice(lo, hi) for lo, hi in core)
    return fn(_read(particles, sl), _read(phases, sl), core, *args)


def run_blocks(particles, phases, grid, fn, args=(), *, client=None, workers=None):
    """Yield ``fn(pid_block, ph_block, core, *args)`` for every block of ``grid``, in C order.

    Blocks are read inside the worker (zarr chunks are decoded there), at most ``2 * workers``
    blocks are in flight at once (threads), so memory is bounded by a few blocks plus what the
    caller keeps of the results. With a ``distributed.Client`` the blocks run on the cluster, in
    windows of ``2 * n_workers`` tasks.
    """
    shape = tuple(int(n) for n in particles.shape)
    cores = list(_block_grid(shape, grid))
    if client is not None:
        import dask
        import dask.array as da

        pa = particles if _is_dask(particles) else da.from_array(particles, chunks=grid)
        qa = phases if _is_dask(phases) else da.from_array(phases, chunks=grid)
        task = dask.delayed(fn, pure=True)
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        except Exception:  # pragma: no cover - depends on the client
            n_workers = 2
        window = workers or 2 * n_workers
        futures = deque()
        for core in cores:
            sl = tuple(slice(lo, hi) for lo, hi in core)
            futures.append(client.compute(task(pa[sl], qa[sl], core, *args)))
            if len(futures) >= window:
                f = futures.popleft()
                yield f.result()
                f.release()
        while futures:
            f = futures.popleft()
            yield f.result()
            f.release()
        return
    n_workers = workers or min(len(cores), os.cpu_count() or 1)
    if n_workers <= 1 or len(cores) <= 1:
        for core in cores:
            yield _call_block(fn, particles, phases, core, args)
        return
    with ThreadPoolExecutor(n_workers) as pool:
        futures = deque()
        for core in cores:
            futures.append(pool.submit(_call_block, fn, particles, phases, core, args))
            if len(futures) >= 2 * n_workers:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()


class _Accumulator:
    """Sum of sparse per-block tables (rows keyed by particle id), merged in batches.

    Pending block tables are concatenated and reduced by id (sort + ``reduceat``) whenever they
    hold more rows than the running total, so the cost is amortised linear and the memory stays
    within a small multiple of the final tables.
    """

    #: Smallest number of pending rows that triggers a merge.
    min_batch = 1 << 15

    def __init__(self, n_phases: int, with_faces: bool, with_moments: bool = False):
        self.P = n_phases
        self.with_faces = with_faces
        self.with_moments = with_moments
        self.parts: list[tuple] = []
        self.pending = 0
        self.total: tuple | None = None
        self.bad = 0
        self.bad_value = -1

    def add(self, ids, counts=None, faces=None, bbox=None, moments=None):
        n = len(ids)
        if not self.with_moments:
            moments = None
        elif moments is None:
            moments = np.zeros((n, 10), dtype=np.int64)
        if counts is None:
            counts = np.zeros((n, self.P), dtype=np.int64)
        if bbox is None:
            bbox = np.empty((n, 6), dtype=np.int64)
            bbox[:, :3] = _kernels.BIG
            bbox[:, 3:] = -1
        if not self.with_faces:
            faces = None
        elif faces is None:
            faces = np.zeros((n, self.P, self.P + 1, 3), dtype=np.int64)
        self.parts.append((ids, counts, faces, bbox, moments))
        self.pending += n
        if self.pending > max(self.min_batch, len(self.total[0]) if self.total is not None else 0):
            self._reduce()

    def _reduce(self):
        parts = ([self.total] if self.total is not None else []) + self.parts
        self.parts, self.pending = [], 0
        if not parts:
            return
        ids = np.concatenate([p[0] for p in parts])
        order = np.argsort(ids, kind="stable")
        s = ids[order]
        starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
        counts = np.add.reduceat(np.concatenate([p[1] for p in parts])[order], starts, axis=0)
        faces = None
        if self.with_faces:
            faces = np.add.reduceat(np.concatenate([p[2] for p in parts])[order], starts, axis=0)
        bb = np.concatenate([p[3] for p in parts])[order]
        bbox = np.concatenate([np.minimum.reduceat(bb[:, :3], starts, axis=0),
                               np.maximum.reduceat(bb[:, 3:], starts, axis=0)], axis=1)
        sums = None
        if self.with_moments:
            sums = np.add.reduceat(np.concatenate([p[4] for p in parts])[order], starts, axis=0)
        self.total = (s[starts], counts, faces, bbox, sums)

    def result(self):
        """``(ids, counts, faces, bbox)`` summed over every block (:meth:`moments`: the coordinate sums)."""
        if self.total is None and not self.parts:
            self.add(np.zeros(1, dtype=np.int64))
        self._reduce()
        return self.total[:4]

    def moments(self):
        """Coordinate sums of the rows of :meth:`result` (None without ``with_moments``)."""
        self.result()
        return self.total[4]


def _measure_block(pid, ph, core, shape, n_phases, with_faces, engine, with_grains=False, planes=(),
                   with_moments=False):
    """Sparse tables of one core block, its first and last plane along each axis, (``with_grains``)
    its grains (:func:`liberation.stats.grains._grain_block`) and its pieces of the requested
    ``planes`` (``(axis, index)`` pairs), all from the same decoded block. With ``with_moments`` the
    tables end with the coordinate sums of each row (:func:`liberation.stats._kernels.block_moments`,
    about the volume's origin)."""
    offset = tuple(lo for lo, _ in core)
    tables = _kernels.sparse_block_tables(pid, ph, offset, shape, n_phases, with_faces=with_faces, engine=engine,
                                          moments=with_moments)
    if with_moments:
        tables = tables[:6] + (_kernels.shift_moments(tables[6], np.asarray(offset, dtype=np.int64)),)
    grains = None
    if with_grains:
        from liberation.stats.grains import _grain_block

        grains = _grain_block(pid, ph, core, n_phases, engine)
    pieces = [(axis, pos, np.take(pid, pos - core[axis][0], axis=axis).copy(),
               np.take(ph, pos - core[axis][0], axis=axis).copy())
              for axis, pos in planes if core[axis][0] <= pos < core[axis][1]]
    if not with_faces:
        return tables, None, None, grains, pieces
    low = tuple((np.take(pid, 0, axis=a).copy(), np.take(ph, 0, axis=a).copy()) for a in range(3))
    high = tuple((np.take(pid, -1, axis=a).copy(), np.take(ph, -1, axis=a).copy()) for a in range(3))
    return tables, low, high, grains, pieces


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
        Threads that read and count blocks (default: number of CPUs); at most ``2 * workers``
        blocks are in flight. With ``client``: tasks in flight (default 2 per cluster worker).

    Returns
    -------
    ParticleMeasurements

    Notes
    -----
    Memory: a few blocks, one plane of the volume (faces between blocks) and the per-particle
    tables; each block yields sparse tables (rows for its own particle ids only), merged
    incrementally, so the number of blocks does not matter.
    """
    return measure_pass(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals, client=client,
                        chunks=chunks, faces=faces, engine=engine, workers=workers)[0]


def measure_pass(particles, phases, *, voxel_size_um, minerals: MineralList, client=None, chunks=None,
                 faces: bool = True, engine: str = "auto", workers: int | None = None, grains: bool = False,
                 planes=(), moments: bool = False):
    """:func:`measure`, plus the grains and section planes, all from one read of the volume.

    Parameters
    ----------
    particles, phases, voxel_size_um, minerals, client, chunks, faces, engine, workers
        As :func:`measure`.
    grains : bool
        Also label the grains of every block (from the same decoded block).
    planes : sequence of (int, int)
        ``(axis, index)`` of axis-normal planes to keep (the virtual sections), assembled from the
        decoded blocks.
    moments : bool
        Also sum each particle's voxel coordinates (``ParticleMeasurements.moments``, the input of the
        vectorised shape moments, :func:`liberation.stats.shape.principal_moments`) in the same pass.

    Returns
    -------
    ParticleMeasurements
    GrainMerger or None
        With ``grains``: the merged grains (``.table(...)`` makes the grain table,
        :func:`liberation.stats.grains.grain_size_distribution`).
    dict
        ``{(axis, index): (particle ids 2D, phases 2D)}`` of the requested planes.
    """
    vs = check_inputs(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals)
    shape = tuple(int(n) for n in particles.shape)
    if engine not in ("auto", "numba", "numpy"):
        raise InputError(f"engine={engine!r}; expected 'auto', 'numba' or 'numpy'")
    if min(shape) == 0:
        raise InputError(f"particles has shape {shape}; expected a non-empty 3D array")
    n_phases = int(minerals.max_id) + 1
    source = particles if not isinstance(particles, np.ndarray) else phases
    grid = normalise_chunks(shape, chunks, source)
    if _is_dask(particles) and chunks is not None:
        particles = particles.rechunk(grid)
    if _is_dask(phases) and chunks is not None:
        phases = phases.rechunk(grid)
    nblocks = tuple(len(g) for g in grid)
    acc = _Accumulator(n_phases, faces, with_moments=bool(moments))
    merger = None
    if grains:
        from liberation.stats.grains import GrainMerger

        merger = GrainMerger(nblocks)
    pending = {}
    planes = tuple((int(a), int(p)) for a, p in planes)
    for a, p in planes:
        if not (0 <= a < 3 and 0 <= p < shape[a]):
            raise InputError(f"plane (axis {a}, index {p}) is outside the volume of shape {shape}")
    plane_out = {}
    blocks = run_blocks(particles, phases, grid, _measure_block,
                        (shape, n_phases, faces, engine, bool(grains), planes, bool(moments)), client=client,
                        workers=workers)
    for idx, (tables, low, high, grain_out, pieces) in zip(np.ndindex(*nblocks), blocks):
        ids_b, counts_b, faces_b, bbox_b, bad_b, bad_value_b = tables[:6]
        if merger is not None:
            merger.add(idx, *grain_out)
        for axis, pos, p2, q2 in pieces:
            others = [k for k in range(3) if k != axis]
            if (axis, pos) not in plane_out:
                plane_out[(axis, pos)] = (np.empty([shape[k] for k in others], dtype=p2.dtype),
                                          np.empty([shape[k] for k in others], dtype=q2.dtype))
            lo = [int(sum(grid[k][: idx[k]])) for k in others]
            sl = tuple(slice(lo[j], lo[j] + p2.shape[j]) for j in range(2))
            plane_out[(axis, pos)][0][sl] = p2
            plane_out[(axis, pos)][1][sl] = q2
        acc.add(ids_b, counts_b, faces_b, bbox_b, tables[6] if moments else None)
        acc.bad += bad_b
        if bad_value_b != -1:
            acc.bad_value = bad_value_b
        if not faces:
            continue
        for axis in range(3):
            if idx[axis] > 0:
                prev = list(idx)
                prev[axis] -= 1
                hp, hq = pending.pop((tuple(prev), axis))
                lp, lq = low[axis]
                pair_ids, pair_faces = _kernels.sparse_pair_tables(hp, hq, lp, lq, axis, n_phases)
                acc.add(pair_ids, faces=pair_faces)
            if idx[axis] < nblocks[axis] - 1:
                pending[(idx, axis)] = high[axis]
    all_ids, counts, face, bbox = acc.result()
    bad, bad_value = acc.bad, acc.bad_value
    if not faces:
        face = np.zeros((0, 0, 0, 3), dtype=np.int64)
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
    present = np.flatnonzero((all_ids > 0) & (counts.sum(axis=1) > 0))
    background = counts[0] if all_ids[0] == 0 else np.zeros(n_phases, dtype=np.int64)
    sums = None
    if moments:  # about each particle's bounding box corner, as principal_moments' own pass sums them
        sums = _kernels.shift_moments(acc.moments()[present], -bbox[present, :3])
    return ParticleMeasurements(
        ids=np.asarray(all_ids[present], dtype=np.int64),
        counts=counts[present],
        faces=face[present] if faces else face,
        bbox=bbox[present],
        background=background,
        shape=shape,
        voxel_size_um=vs,
        minerals=minerals,
        moments=sums,
    ), merger, plane_out
