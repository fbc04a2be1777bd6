"""Training patches around labelled planes, with context on both sides of the plane.

Labelled faces are often the ends of the scanned volume. A patch is placed so that its
labelled voxel lies in the central part of the patch (``context_margin``); where the patch
then reaches past the end of the volume, the missing part is filled by reflection of real
data, never by the volume border alone.
"""

from __future__ import annotations

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.segmentation.targets import IGNORE

__all__ = ["labelled_planes", "split_validation", "sample_patch_origins", "extract_patch", "reflect_index"]


def labelled_planes(sparse, *, axis: int = 0) -> list[int]:
    """Indices along ``axis`` of planes that hold at least one labelled voxel (value != 255)."""
    counts = labelled_counts(sparse, axis=axis)
    return [int(i) for i in np.flatnonzero(counts)]


def labelled_counts(sparse, *, axis: int = 0) -> np.ndarray:
    """Number of labelled voxels in each plane along ``axis``."""
    if axis == 0:
        return np.array([int((np.asarray(sparse[z]) != IGNORE).sum()) for z in range(sparse.shape[0])])
    arr = np.asarray(sparse)
    other = tuple(a for a in range(3) if a != axis)
    return (arr != IGNORE).sum(axis=other)


def split_validation(sparse, *, val_fraction: float = 0.2, val_planes=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Split sparse labels into training and validation labels.

    With ``val_planes`` (z indices) or at least three labelled z planes, whole planes are
    held out (``val_fraction`` of them, at least one, the planes farthest from the volume
    ends first, as Deep-XFCT validated on interior faces). With fewer planes a band
    of each plane at high x (``val_fraction`` of its width) is held out.

    Parameters
    ----------
    sparse : ndarray of uint8, shape (z, y, x)
        Sparse labels, 255 = unlabelled.
    val_fraction : float
        Fraction held out.
    val_planes : sequence of int, optional
        Explicit z planes for validation.

    Returns
    -------
    train, val : ndarray of uint8, shape (z, y, x)
        Copies of ``sparse`` with the other part set to 255.
    info : dict
        ``{"mode": "planes" | "region", "val_planes": [...], "x_split": int or None}``.
    """
    sparse = np.asarray(sparse)
    planes = labelled_planes(sparse)
    if not planes:
        raise InputError("sparse labels hold no labelled voxel (all 255)")
    train = sparse.copy()
    val = np.full_like(sparse, IGNORE)
    if val_planes is None and len(planes) >= 3:
        n_val = max(1, int(round(val_fraction * len(planes))))
        depth = sparse.shape[0]
        by_interior = sorted(planes, key=lambda z: -min(z, depth - 1 - z))
        val_planes = sorted(by_interior[:n_val])
    if val_planes is not None:
        val_planes = [int(z) for z in val_planes]
        bad = [z for z in val_planes if z not in planes]
        if bad:
            raise InputError(f"val_planes={val_planes!r}: planes {bad} hold no labels; labelled planes: {planes}")
        if len(val_planes) >= len(planes):
            raise InputError(f"val_planes={val_planes!r} leaves no labelled plane for training")
        val[val_planes] = sparse[val_planes]
        train[val_planes] = IGNORE
        return train, val, {"mode": "planes", "val_planes": val_planes, "x_split": None}
    width = sparse.shape[2]
    x_split = int(round(width * (1.0 - val_fraction)))
    x_split = min(max(x_split, 1), width - 1)
    val[:, :, x_split:] = sparse[:, :, x_split:]
    train[:, :, x_split:] = IGNORE
    return train, val, {"mode": "region", "val_planes": planes, "x_split": x_split}


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Reflect integer indices into ``0..size-1`` (mirror without repeating the edge voxel)."""
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    index = np.abs(index) % period
    return np.where(index >= size, period - index, index)


def sample_patch_origins(mask, patch_size, n: int, *, context_margin: float = 0.25,
                         seed: int | np.random.Generator | None = 0, coords: np.ndarray | None = None) -> np.ndarray:
    """Patch origins (corner, may be negative) such that each patch holds a labelled voxel well inside it.

    Parameters
    ----------
    mask : ndarray of bool, shape (z, y, x)
        Labelled voxels (or give ``coords``).
    patch_size : tuple of 3 int
        Patch shape.
    n : int
        Number of origins.
    context_margin : float
        The chosen labelled voxel lies between ``margin * size`` and ``(1 - margin) * size``
        from the patch corner along every axis.
    seed : int or Generator
        Random seed.
    coords : ndarray of int, shape (m, 3), optional
        Coordinates of labelled voxels (instead of scanning ``mask``).

    Returns
    -------
    ndarray of int, shape (n, 3)
    """
    rng = make_rng(seed)
    if coords is None:
        coords = np.argwhere(np.asarray(mask))
    if len(coords) == 0:
        raise InputError("no labelled voxel to centre a patch on")
    size = np.asarray(patch_size, dtype=np.int64)
    picks = coords[rng.integers(0, len(coords), size=n)]
    lo = np.floor(context_margin * size).astype(np.int64)
    hi = np.maximum(np.ceil((1.0 - context_margin) * size).astype(np.int64), lo + 1)
    offsets = rng.integers(lo, hi, size=(n, 3))
    return picks - offsets


def extract_patch(volume, origin, patch_size, *, fill=None) -> np.ndarray:
    """Read a patch starting at ``origin``; parts beyond the volume are reflected (or ``fill``-ed).

    Parameters
    ----------
    volume : array-like, shape (z, y, x)
        numpy or zarr array; only the overlapping block is read.
    origin : sequence of 3 int
        Patch corner; may lie outside the volume.
    patch_size : sequence of 3 int
        Patch shape.
    fill : scalar, optional
        Value for voxels outside the volume instead of reflection (e.g. 255 for labels
        when the reflected copy must not count twice).

    Returns
    -------
    ndarray, shape ``patch_size``
    """
    shape = tuple(volume.shape)
    starts, stops, index = [], [], []
    for o, p, s in zip(origin, patch_size, shape):
        idx = reflect_index(np.arange(int(o), int(o) + int(p)), s)
        starts.append(int(idx.min()))
        stops.append(int(idx.max()) + 1)
        index.append(idx - int(idx.min()))
    block = np.asarray(volume[starts[0]:stops[0], starts[1]:stops[1], starts[2]:stops[2]])
    patch = block[np.ix_(*index)]
    if fill is not None:
        outside = np.zeros(tuple(int(p) for p in patch_size), dtype=bool)
        for axis, (o, p, s) in enumerate(zip(origin, patch_size, shape)):
            pos = np.arange(int(o), int(o) + int(p))
            bad = (pos < 0) | (pos >= s)
            if bad.any():
                sl = [slice(None)] * 3
                sl[axis] = bad
                outside[tuple(sl)] = True
        patch = patch.copy()
        patch[outside] = fill
    return patch
