"""Resampling between a registered map and the CT volume.

- :func:`ct_on_map_grid`: the CT sampled at the registered map pixel centres (shape of the map),
  e.g. as the CT channel of a K-means on the map.
- :func:`section_points`: the registered plane seen as a CT section: for each voxel column
  along the axis closest to the plane normal, the point of the plane above it.
- :func:`map_to_ct_section` / :func:`ct_section`: the map and the CT on that section
  (for an untilted plane through voxel centres, ``ct_section`` is exactly the orthoslice).
- :func:`labels_on_map_grid`: a label volume (phases, particle ids) at the registered map pixel
  centres, nearest voxel, exact integers (the virtual twin of a measured label map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from liberation.registration.geometry import apply_affine, map_pixel_centres

__all__ = ["SectionPoints", "sample_volume", "ct_on_map_grid", "labels_on_map_grid", "section_points", "map_to_ct_section", "ct_section"]


def sample_volume(volume: np.ndarray, idx: np.ndarray, *, order: int = 1) -> np.ndarray:
    """Interpolate ``volume`` at fractional voxel indices ``idx`` (..., 3), reading only their bounding box."""
    flat = idx.reshape(-1, 3)
    shape = np.asarray(volume.shape)
    lo = np.clip(np.floor(flat.min(axis=0)).astype(int) - 2, 0, shape - 1)
    hi = np.clip(np.ceil(flat.max(axis=0)).astype(int) + 3, lo + 1, shape)
    box = np.asarray(volume[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], dtype=np.float32)
    vals = ndi.map_coordinates(box, (flat - lo).T, order=order, mode="nearest")
    return vals.reshape(idx.shape[:-1])


def ct_on_map_grid(
    ct: np.ndarray,
    matrix: np.ndarray,
    *,
    voxel_size_um,
    map_shape: tuple[int, int],
    pixel_size_um: float,
    order: int = 1,
) -> np.ndarray:
    """CT values at the registered map pixel centres.

    Returns
    -------
    numpy.ndarray, float32, shape ``map_shape``
        NaN where the pixel centre falls outside the CT volume.
    """
    vs = np.asarray(voxel_size_um, dtype=float)
    idx = apply_affine(matrix, map_pixel_centres(map_shape, pixel_size_um)) / vs
    inside = np.all((idx >= -0.5) & (idx <= np.asarray(ct.shape) - 0.5), axis=-1)
    out = sample_volume(ct, idx, order=order).astype(np.float32)
    out[~inside] = np.nan
    return out


def labels_on_map_grid(
    labels,
    matrix: np.ndarray,
    *,
    voxel_size_um,
    map_shape: tuple[int, int],
    pixel_size_um: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A label volume sampled at the registered map pixel centres (nearest voxel, no interpolation).

    The voxel of a pixel centre at CT index ``idx`` (fractional) is ``rint(idx)``; a centre outside
    ``[-0.5, n - 0.5]`` on any axis is outside the volume. Only the bounding box of the footprint is
    read (numpy, zarr or dask), and the ids are copied exactly (no float round trip).

    Parameters
    ----------
    labels : array-like, integer, shape (z, y, x)
        Phase or particle ids.
    matrix : numpy.ndarray, shape (4, 4)
        Map-frame (z, y, x) µm -> CT (z, y, x) µm.
    voxel_size_um : float or (float, float, float)
        CT voxel size in µm.
    map_shape : (int, int)
        Map (rows, columns).
    pixel_size_um : float
        Map pixel size in µm.

    Returns
    -------
    values : numpy.ndarray, shape ``map_shape``, dtype of ``labels``
        The label at each pixel centre (0 outside the volume).
    inside : numpy.ndarray, bool, shape ``map_shape``
        The pixel centre lies inside the volume.
    """
    vs = np.broadcast_to(np.asarray(voxel_size_um, dtype=float), (3,))
    shape = np.asarray(labels.shape, dtype=int)
    idx = apply_affine(matrix, map_pixel_centres(tuple(map_shape), float(pixel_size_um))) / vs
    inside = np.all((idx >= -0.5) & (idx <= shape - 0.5), axis=-1)
    out = np.zeros(tuple(map_shape), dtype=np.dtype(labels.dtype))
    if not inside.any():
        return out, inside
    vox = np.clip(np.rint(idx[inside]).astype(np.int64), 0, shape - 1)
    lo, hi = vox.min(axis=0), vox.max(axis=0) + 1
    box = labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    box = np.asarray(box.compute() if hasattr(box, "compute") else box)
    rel = vox - lo
    out[inside] = box[rel[:, 0], rel[:, 1], rel[:, 2]]
    return out, inside


@dataclass
class SectionPoints:
    """The registered plane as a CT section.

    Attributes
    ----------
    axis : int
        CT axis closest to the plane normal; the section spans the other two axes (ascending order).
    depth_index : numpy.ndarray, float, shape (n1, n2)
        Fractional voxel index along ``axis`` where the plane crosses each voxel column.
    map_rc : numpy.ndarray, float, shape (n1, n2, 2)
        Fractional map (row, column) of those points.
    points_um : numpy.ndarray, shape (n1, n2, 3)
        CT (z, y, x) µm of those points.
    """

    axis: int
    depth_index: np.ndarray
    map_rc: np.ndarray
    points_um: np.ndarray


def section_points(matrix: np.ndarray, *, ct_shape, voxel_size_um, pixel_size_um: float) -> SectionPoints:
    """Points of the registered plane above every voxel column of the closest CT axis."""
    m = np.asarray(matrix, dtype=float)
    vs = np.asarray(voxel_size_um, dtype=float)
    normal = m[:3, 0] / np.linalg.norm(m[:3, 0])
    axis = int(np.argmax(np.abs(normal)))
    others = [a for a in range(3) if a != axis]
    g1, g2 = np.meshgrid(np.arange(ct_shape[others[0]]) * vs[others[0]], np.arange(ct_shape[others[1]]) * vs[others[1]], indexing="ij")
    o = m[:3, 3]
    depth = o[axis] - (normal[others[0]] * (g1 - o[others[0]]) + normal[others[1]] * (g2 - o[others[1]])) / normal[axis]
    pts = np.empty(g1.shape + (3,))
    pts[..., axis] = depth
    pts[..., others[0]] = g1
    pts[..., others[1]] = g2
    inv = np.linalg.inv(m)
    local = apply_affine(inv, pts)
    return SectionPoints(axis=axis, depth_index=depth / vs[axis], map_rc=local[..., 1:] / pixel_size_um, points_um=pts)


def map_to_ct_section(
    map_image: np.ndarray,
    matrix: np.ndarray,
    *,
    ct_shape,
    voxel_size_um,
    pixel_size_um: float,
    order: int = 1,
    fill: float = np.nan,
) -> tuple[np.ndarray, SectionPoints]:
    """Resample the map into the CT section geometry of the registered plane.

    Parameters
    ----------
    map_image : numpy.ndarray, shape (rows, columns)
    order : int
        0 (nearest, for label maps) or 1 (linear).
    fill : float
        Value outside the map.

    Returns
    -------
    section : numpy.ndarray, shape (n1, n2)
        float32 for ``order=1``; the map's dtype for ``order=0`` (then ``fill`` must fit it).
    points : SectionPoints
    """
    sp = section_points(matrix, ct_shape=ct_shape, voxel_size_um=voxel_size_um, pixel_size_um=pixel_size_um)
    h, w = map_image.shape
    r, c = sp.map_rc[..., 0], sp.map_rc[..., 1]
    inside = (r >= -0.5) & (r <= h - 0.5) & (c >= -0.5) & (c <= w - 0.5)
    if order == 0:
        ri = np.clip(np.rint(r).astype(np.int64), 0, h - 1)
        ci = np.clip(np.rint(c).astype(np.int64), 0, w - 1)
        out = np.where(inside, map_image[ri, ci], np.asarray(fill).astype(map_image.dtype))
        return out, sp
    vals = ndi.map_coordinates(map_image.astype(np.float32), [r, c], order=1, mode="nearest")
    vals[~inside] = fill
    return vals.astype(np.float32), sp


def ct_section(ct: np.ndarray, matrix: np.ndarray, *, voxel_size_um, pixel_size_um: float, order: int = 1) -> tuple[np.ndarray, SectionPoints]:
    """The CT sampled on the registered plane above every voxel column (NaN outside the volume)."""
    vs = np.asarray(voxel_size_um, dtype=float)
    sp = section_points(matrix, ct_shape=ct.shape, voxel_size_um=vs, pixel_size_um=pixel_size_um)
    idx = sp.points_um / vs
    inside = (sp.depth_index >= -0.5) & (sp.depth_index <= ct.shape[sp.axis] - 0.5)
    out = sample_volume(ct, idx, order=order).astype(np.float32)
    out[~inside] = np.nan
    return out, sp
