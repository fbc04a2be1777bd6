"""Block-wise reading for the sub-voxel quantification: input checks, blocks with a halo, threads."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from liberation.errors import InputError

__all__ = ["check_image", "block_grid", "check_phases", "is_dask", "map_blocks", "offsets", "read", "read_ext", "read_halo"]


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
