"""Block-wise reading for the sub-voxel quantification: input checks, blocks with a halo, threads."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from liberation.errors import InputError

__all__ = ["ChunkShellReader", "check_image", "block_grid", "check_phases", "is_dask", "map_blocks", "offsets", "read",
           "read_ext", "read_halo", "shell_cached"]


def offsets(radius: int) -> np.ndarray:
    """Neighbour offsets (dz, dy, dx) of the ``(2 radius + 1)^3`` neighbourhood, the voxel itself included."""
    r = range(-radius, radius + 1)
    return np.array([(dz, dy, dx) for dz in r for dy in r for dx in r], dtype=np.int64)


def is_dask(a) -> bool:
    return type(a).__module__.startswith("dask.")


def read(a, sl) -> np.ndarray:
    if is_dask(a):
        return np.asarray(a[sl].compute(scheduler="synchronous"))
    return np.asarray(a[sl])


def check_image(image, phases) -> None:
    if image is None:
        raise InputError("image is missing; soft quantification needs the CT grey values (z, y, x)")
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise InputError(f"image is a {type(image).__name__}; expected an array (numpy, dask or zarr)")
    if len(image.shape) != 3:
        raise InputError(f"image has shape {tuple(image.shape)}; expected a 3D array (z, y, x)")
    if np.dtype(image.dtype).kind not in "uif":
        raise InputError(f"image has dtype {image.dtype}; expected numeric grey values")
    if tuple(image.shape) != tuple(phases.shape):
        raise InputError(f"image has shape {tuple(image.shape)} but phases has shape {tuple(phases.shape)}; "
                         "they must match")


def block_grid(shape, chunks, array):
    from liberation.stats.measure import _block_grid, normalise_chunks

    return list(_block_grid(shape, normalise_chunks(shape, chunks, array)))


def read_ext(a, core, shape, halo: int) -> np.ndarray:
    """Block ``core`` of ``a`` with ``halo`` voxels around it (edge-replicated outside the volume)."""
    sl = tuple(slice(max(lo - halo, 0), min(hi + halo, n)) for (lo, hi), n in zip(core, shape))
    block = read(a, sl)
    pad = [(halo - (lo - s.start), halo - (s.stop - hi)) for (lo, hi), s in zip(core, sl)]
    if any(p != (0, 0) for p in pad):
        block = np.pad(block, pad, mode="edge")
    return block


def read_halo(a, core, shape, halo: int):
    """Block ``core`` of ``a`` with up to ``halo`` voxels around it (no padding: the kernels clamp at the edge).

    Returns ``(block, lo, hi)``: the core is ``block[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]``.
    """
    sl = tuple(slice(max(lo - halo, 0), min(hi + halo, n)) for (lo, hi), n in zip(core, shape))
    lo = tuple(c[0] - s.start for c, s in zip(core, sl))
    hi = tuple(c[1] - s.start for c, s in zip(core, sl))
    return read(a, sl), lo, hi


def map_blocks(fn, cores, workers):
    workers = workers or min(len(cores), os.cpu_count() or 1)
    if workers <= 1 or len(cores) <= 1:
        for core in cores:
            yield fn(core)
        return
    from collections import deque

    with ThreadPoolExecutor(workers) as pool:
        futures = deque()
        for core in cores:
            futures.append(pool.submit(fn, core))
            if len(futures) >= 2 * workers:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()


def check_phases(phases) -> None:
    if not hasattr(phases, "shape") or len(phases.shape) != 3 or np.dtype(phases.dtype).kind not in "ui":
        raise InputError(f"phases must be a 3D integer label array (z, y, x), got "
                         f"{getattr(phases, 'dtype', type(phases).__name__)} of shape {getattr(phases, 'shape', None)}")


class ChunkShellReader:
    """Boxes of a chunked (zarr) array, each chunk's outer shell kept for the halos of its neighbours.

    A block read with a halo of ``h`` voxels touches up to 26 neighbouring chunks for a few planes
    each, and a compressed chunk is decoded whole for any part of it: read block by block, every
    chunk is decoded once as a core and up to 26 more times for its neighbours' halos (13-16x the
    core's decoding at 128^3 chunks). This reader keeps, for each chunk it decodes whole, its
    ``h``-voxel shell (two slabs per axis) and serves the thin parts of later reads from it, so a
    chunk is decoded about twice (once for the first neighbour that needs its shell, once as a
    core). Shells are kept in a least-recently-used cache of at most ``budget_bytes``; what does not
    fit is read again from the array (same values, more decoding). Blocks read in C order need the shells
    of about two layers of chunks at a time (the default budget: 1.5 times that). Thread-safe.

    Parameters
    ----------
    array : zarr.Array
        3D array with regular chunks.
    halo : int
        Shell thickness, voxels (the largest halo the reads use).
    budget_bytes : int, optional
        Most bytes of shells kept; default 1.5 times the shells of two z layers of chunks, two rows and three
        chunks (at least 16 MiB).
    """

    def __init__(self, array, *, halo: int, budget_bytes: int | None = None):
        import threading
        from collections import OrderedDict

        self.array = array
        self.shape = tuple(int(n) for n in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        self.chunks = tuple(int(c) for c in array.chunks)
        self.halo = int(halo)
        if budget_bytes is None:
            c = self.chunks
            shell = 2 * self.dtype.itemsize * sum(min(self.halo, c[i]) * int(np.prod(c)) // c[i] for i in range(self.ndim))
            n_chunks = [-(-n // k) for n, k in zip(self.shape, c)]
            front = 2 * int(np.prod(n_chunks[1:])) + 2 * n_chunks[-1] + 3  # (z-1, y-1, x-1) .. (z+1, y+1, x+1)
            budget_bytes = max(16 << 20, int(1.5 * shell * front))
        self.budget_bytes = int(budget_bytes)
        self._shells: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def _chunk_box(self, index):
        return tuple((k * c, min((k + 1) * c, n)) for k, c, n in zip(index, self.chunks, self.shape))

    def _store_shell(self, index, data) -> list:
        shell = []
        for axis, n in enumerate(data.shape):
            t = min(self.halo, n)
            lo = [slice(None)] * self.ndim
            hi = [slice(None)] * self.ndim
            lo[axis] = slice(0, t)
            hi[axis] = slice(n - t, n)
            # copies: a contiguous slab would otherwise be a view that keeps the whole decoded chunk alive
            shell.append((np.array(data[tuple(lo)], copy=True), np.array(data[tuple(hi)], copy=True)))
        size = sum(a.nbytes + b.nbytes for a, b in shell)
        with self._lock:
            if index not in self._shells and size <= self.budget_bytes:
                self._shells[index] = shell
                self._bytes += size
                while self._bytes > self.budget_bytes:
                    _k, old = self._shells.popitem(last=False)
                    self._bytes -= sum(a.nbytes + b.nbytes for a, b in old)
        return shell

    def _shell(self, index) -> list:
        with self._lock:
            shell = self._shells.get(index)
            if shell is not None:
                self._shells.move_to_end(index)
                return shell
        box = self._chunk_box(index)
        data = np.asarray(self.array[tuple(slice(a, b) for a, b in box)])
        return self._store_shell(index, data)

    def _thin_piece(self, index, box, local):
        """The part ``local`` (chunk coordinates) of chunk ``index`` from its shell, or None when it is thicker."""
        for axis, ((a, b), (c0, c1)) in enumerate(zip(local, box)):
            n = c1 - c0
            t = min(self.halo, n)
            if b <= t:
                side, off = 0, 0
            elif a >= n - t:
                side, off = 1, n - t
            else:
                continue
            slab = self._shell(index)[axis][side]
            sl = tuple(slice(lo - (off if i == axis else 0), hi - (off if i == axis else 0))
                       for i, (lo, hi) in enumerate(local))
            return slab[sl]
        return None

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if len(key) != self.ndim or any(not isinstance(s, slice) or s.step not in (None, 1) for s in key):
            raise InputError(f"ChunkShellReader reads boxes (one slice per axis, step 1); got {key!r}")
        want = [s.indices(n)[:2] for s, n in zip(key, self.shape)]
        out = np.empty(tuple(max(0, b - a) for a, b in want), self.dtype)
        if out.size == 0:
            return out
        ranges = [range(a // c, (b - 1) // c + 1) for (a, b), c in zip(want, self.chunks)]
        from itertools import product

        for index in product(*ranges):
            box = self._chunk_box(index)
            inter = [(max(a, c0), min(b, c1)) for (a, b), (c0, c1) in zip(want, box)]
            local = [(a - c0, b - c0) for (a, b), (c0, _c1) in zip(inter, box)]
            dest = tuple(slice(a - w0, b - w0) for (a, b), (w0, _w1) in zip(inter, want))
            piece = self._thin_piece(index, box, local)
            if piece is None:
                piece = np.asarray(self.array[tuple(slice(a, b) for a, b in inter)])
                if all(a == c0 and b == c1 for (a, b), (c0, c1) in zip(inter, box)):
                    with self._lock:
                        known = index in self._shells
                    if not known:
                        self._store_shell(index, piece)
            out[dest] = piece
        return out


def shell_cached(array, *, halo: int):
    """``array`` wrapped in a :class:`ChunkShellReader` when it is a chunked zarr array and ``halo`` > 0, else itself."""
    from liberation.stats.measure import _is_zarr

    if array is None or halo <= 0 or not _is_zarr(array):
        return array
    return ChunkShellReader(array, halo=halo)
