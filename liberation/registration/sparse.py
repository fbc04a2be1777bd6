"""Transfer a registered label map onto CT voxels: sparse label volumes (255 = not labelled).

A CT voxel takes the label of the nearest map pixel of the registered plane when its
centre lies within half a voxel of the plane (distance along the plane normal at most
``0.5 * |n * voxel_size|``, i.e. half the voxel's size measured along the normal ``n``) and
its projection onto the plane falls inside the map; all other voxels are 255.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from liberation._validation import check_label_array, check_same_shape
from liberation.errors import InputError
from liberation.metrics import IGNORE  # re-exported: the value of unlabelled voxels
from liberation.registration.geometry import apply_affine

__all__ = ["IGNORE", "plane_voxels", "labels_to_sparse", "accumulate_sparse_labels", "merge_sparse_labels"]


def plane_voxels(
    matrix: np.ndarray, *, ct_shape, voxel_size_um, map_shape: tuple[int, int], pixel_size_um: float
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CT voxels within half a voxel of the registered plane whose projection falls on the map.

    Returns
    -------
    voxels : (k, j, i) int arrays
        Voxel indices (z, y, x).
    pixels : (r, c) int arrays
        Nearest map pixel of each voxel.
    """
    m = np.asarray(matrix, dtype=float)
    vs = np.asarray(voxel_size_um, dtype=float)
    shape = np.asarray(ct_shape, dtype=int)
    h, w = map_shape
    p = float(pixel_size_um)
    normal = m[:3, 0] / np.linalg.norm(m[:3, 0])
    axis = int(np.argmax(np.abs(normal)))
    o1, o2 = [a for a in range(3) if a != axis]
    # bounding box of the map footprint in the two other axes
    corners = np.array([[0, r, c] for r in (-0.5 * p, (h - 0.5) * p) for c in (-0.5 * p, (w - 0.5) * p)], dtype=float)
    cw = apply_affine(m, corners) / vs
    lo1, hi1 = max(0, int(np.floor(cw[:, o1].min()))), min(shape[o1] - 1, int(np.ceil(cw[:, o1].max())))
    lo2, hi2 = max(0, int(np.floor(cw[:, o2].min()))), min(shape[o2] - 1, int(np.ceil(cw[:, o2].max())))
    empty = (np.zeros(0, dtype=np.int64),) * 3, (np.zeros(0, dtype=np.int64),) * 2
    if hi1 < lo1 or hi2 < lo2:
        return empty
    j, i = np.meshgrid(np.arange(lo1, hi1 + 1), np.arange(lo2, hi2 + 1), indexing="ij")
    j, i = j.ravel(), i.ravel()
    t = m[:3, 3]
    depth = t[axis] - (normal[o1] * (j * vs[o1] - t[o1]) + normal[o2] * (i * vs[o2] - t[o2])) / normal[axis]
    half = 0.5 * float(np.linalg.norm(normal * vs))
    reach = half / abs(normal[axis])
    k0 = np.ceil((depth - reach) / vs[axis] - 1e-9).astype(np.int64)
    n_max = int(np.ceil(2 * reach / vs[axis])) + 1
    ks, js, is_ = [], [], []
    for step in range(n_max):
        k = k0 + step
        ok = (np.abs(k * vs[axis] - depth) * abs(normal[axis]) <= half + 1e-9) & (k >= 0) & (k < shape[axis])
        ks.append(k[ok])
        js.append(j[ok])
        is_.append(i[ok])
    k, j, i = np.concatenate(ks), np.concatenate(js), np.concatenate(is_)
    idx = np.empty((k.size, 3), dtype=np.int64)
    idx[:, axis], idx[:, o1], idx[:, o2] = k, j, i
    local = apply_affine(np.linalg.inv(m), idx * vs)
    r = np.rint(local[:, 1] / p).astype(np.int64)
    c = np.rint(local[:, 2] / p).astype(np.int64)
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    idx = idx[ok]
    return (idx[:, 0], idx[:, 1], idx[:, 2]), (r[ok], c[ok])


def labels_to_sparse(
    labels_map: np.ndarray,
    matrix: np.ndarray,
    *,
    ct_shape,
    voxel_size_um,
    pixel_size_um: float,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Sparse uint8 label volume in CT geometry from one registered label map.

    Parameters
    ----------
    labels_map : numpy.ndarray, integer, shape (rows, columns)
        Mineral ids 0..254 (255 = unlabelled pixel, passed through).
    matrix : numpy.ndarray, shape (4, 4)
        Map µm -> CT µm.
    ct_shape : (int, int, int)
    voxel_size_um : (float, float, float)
    pixel_size_um : float
    out : numpy.ndarray, uint8, optional
        Volume to write into (voxels of the plane are overwritten); default a new volume of 255.

    Returns
    -------
    numpy.ndarray, uint8, shape ``ct_shape``
    """
    check_label_array(labels_map, name="labels_map", ndim=2)
    if labels_map.size and (labels_map.min() < 0 or labels_map.max() > IGNORE):
        raise InputError(f"labels_map has values {labels_map.min()}..{labels_map.max()}; expected 0..255 (255 = unlabelled)")
    if out is None:
        out = np.full(tuple(ct_shape), IGNORE, dtype=np.uint8)
    elif out.shape != tuple(ct_shape) or out.dtype != np.uint8:
        raise InputError(f"out has shape {out.shape} and dtype {out.dtype}; expected {tuple(ct_shape)} uint8")
    vox, (r, c) = plane_voxels(matrix, ct_shape=ct_shape, voxel_size_um=voxel_size_um, map_shape=labels_map.shape, pixel_size_um=pixel_size_um)
    out[vox] = labels_map[r, c].astype(np.uint8)
    return out


def merge_sparse_labels(existing: np.ndarray, new: np.ndarray, *, conflict: str = "new") -> np.ndarray:
    """Merge two sparse label volumes (255 = unlabelled) into a new array.

    Parameters
    ----------
    conflict : {"new", "old", "unlabel"}
        Where both are labelled with different ids: keep the new label, keep the old one,
        or mark the voxel unlabelled.
    """
    check_same_shape(existing, new, name_a="existing", name_b="new")
    if conflict not in ("new", "old", "unlabel"):
        raise InputError(f"conflict={conflict!r}; expected 'new', 'old' or 'unlabel'")
    out = np.array(existing, dtype=np.uint8, copy=True)
    new = np.asarray(new)
    has_new = new != IGNORE
    clash = has_new & (out != IGNORE) & (out != new)
    take = has_new & ~clash
    out[take] = new[take]
    if conflict == "new":
        out[clash] = new[clash]
    elif conflict == "unlabel":
        out[clash] = IGNORE
    return out


def accumulate_sparse_labels(
    planes: Iterable,
    *,
    ct_shape,
    voxel_size_um,
    existing: np.ndarray | None = None,
    conflict: str = "unlabel",
) -> np.ndarray:
    """Accumulate several registered label maps into one sparse volume.

    Parameters
    ----------
    planes : iterable of (labels_map, matrix, pixel_size_um)
        Each a label map with its registration matrix (map µm -> CT µm) and pixel size.
    ct_shape, voxel_size_um
        CT geometry.
    existing : numpy.ndarray, uint8, optional
        Sparse labels to start from (not modified).
    conflict : {"unlabel", "new", "old"}
        Rule for voxels labelled differently by two planes (see :func:`merge_sparse_labels`).

    Returns
    -------
    numpy.ndarray, uint8, shape ``ct_shape``
    """
    out = np.full(tuple(ct_shape), IGNORE, dtype=np.uint8) if existing is None else np.array(existing, dtype=np.uint8)
    for labels_map, matrix, pixel_size_um in planes:
        one = labels_to_sparse(labels_map, matrix, ct_shape=ct_shape, voxel_size_um=voxel_size_um, pixel_size_um=pixel_size_um)
        out = merge_sparse_labels(out, one, conflict=conflict)
    return out
