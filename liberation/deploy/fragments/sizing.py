"""Ore fragment sizing from belt or muck-pile images (the OIR method and mask-based sizes).

Per fragment: projected area, equivalent circle diameter (ECD), length (maximum Feret
diameter) and width (minimum Feret / caliper width), from a label image or binary mask,
or from detection boxes with the OIR box-area estimate ``S = T * W * H * k``.

The scale comes either from a known pixel size (``pixel_size_um``) or from a ruler of known
length seen in the image (:func:`pixel_size_from_ruler`; OIR Formula 5). In the OIR paper ``T``
is the pixel area that corresponds to 1 cm²; here ``T`` is written as the area of one pixel in
cm² (:func:`ruler_area_per_pixel`) so that Formula 6, ``S = T * W * H * k``, reads as written
with ``W`` and ``H`` in pixels and ``S`` in cm².

Pure numpy / scipy / scikit-image (no torch). No file I/O. Size distributions (passing curve,
P50/P80, Rosin-Rammler, oversize alarm) are in :mod:`liberation.deploy.fragments.distribution`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError

from liberation.errors import InputError

__all__ = [
    "DEFAULT_BOX_FACTOR",
    "pixel_size_from_ruler",
    "ruler_area_per_pixel",
    "fragment_sizes",
    "box_sizes",
    "boxes_from_labels",
    "calibrate_box_factor",
    "feret_diameters",
    "segment_fragments",
    "drop_ruler",
]

#: OIR correction factor between the detection box area and the fragment area (Formula 6).
DEFAULT_BOX_FACTOR = 0.86

_UM_PER_CM = 1.0e4


def _check_positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}={value!r} is not a number; expected a positive number") from None
    if not np.isfinite(v) or v <= 0:
        raise InputError(f"{name}={value!r} must be finite and positive")
    return v


def pixel_size_from_ruler(x0: float, y0: float, x1: float, y1: float, length_cm: float) -> float:
    """Pixel size (µm) from the two end points of a ruler of known length in the image.

    Parameters
    ----------
    x0, y0, x1, y1 : float
        Pixel coordinates (column, row) of the two ends of the ruler, in the same image
        as the masks or boxes that will be measured.
    length_cm : float
        True length of the ruler in cm.

    Returns
    -------
    float
        Edge length of one (square) pixel in µm.
    """
    length_cm = _check_positive(length_cm, "length_cm")
    d_px = float(np.hypot(float(x1) - float(x0), float(y1) - float(y0)))
    if not np.isfinite(d_px) or d_px < 1.0:
        raise InputError(
            f"ruler end points ({x0}, {y0}) and ({x1}, {y1}) are {d_px:.3g} px apart; expected at least 1 px"
        )
    return length_cm * _UM_PER_CM / d_px


def ruler_area_per_pixel(x0: float, y0: float, x1: float, y1: float, length_cm: float) -> float:
    """OIR scale ``T``: area of one pixel in cm², from the ruler end points (Formula 5).

    ``T = (length_cm / d)²`` with ``d = sqrt((x1-x0)² + (y1-y0)²)`` the ruler length in pixels.
    Its inverse is the number of pixels per cm².
    """
    px_cm = pixel_size_from_ruler(x0, y0, x1, y1, length_cm) / _UM_PER_CM
    return px_cm * px_cm


def _as_labels(labels_or_mask) -> np.ndarray:
    arr = np.asarray(labels_or_mask)
    if arr.ndim != 2:
        raise InputError(f"labels_or_mask has shape {arr.shape}; expected a 2D (y, x) mask or label image")
    if arr.dtype == bool:
        lab, _ = ndi.label(arr)
        return lab
    if arr.dtype.kind not in "ui":
        raise InputError(f"labels_or_mask has dtype {arr.dtype}; expected a boolean mask or integer labels")
    if arr.size and arr.min() < 0:
        raise InputError("labels_or_mask has negative values; expected 0 = background, >0 = fragment ids")
    if arr.size and int(arr.max()) > 4 * arr.size:  # sparse huge ids: make them sequential for find_objects
        from skimage.segmentation import relabel_sequential

        arr = relabel_sequential(arr)[0]
    return arr


def feret_diameters(points_yx: np.ndarray) -> tuple[float, float]:
    """Maximum and minimum Feret diameter of a point set (exact, from its convex hull).

    Parameters
    ----------
    points_yx : ndarray, shape (n, 2)
        Points (row, column), e.g. the corners of a fragment's pixels.

    Returns
    -------
    (float, float)
        ``(max_feret, min_feret)`` in the units of the points. The minimum is the smallest
        caliper width, attained with one hull edge on a caliper.
    """
    pts = np.asarray(points_yx, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise InputError(f"points_yx has shape {pts.shape}; expected (n, 2) with n >= 1")
    try:
        hull = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):  # collinear or too few points
        span = pts.max(0) - pts.min(0)
        return float(np.hypot(*span)), 0.0
    diff = hull[:, None, :] - hull[None, :, :]
    max_feret = float(np.sqrt((diff**2).sum(-1)).max())
    edges = np.roll(hull, -1, axis=0) - hull
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    proj = normals @ hull.T  # (edges, vertices)
    min_feret = float((proj.max(1) - proj.min(1)).min())
    return max_feret, min_feret


def _boundary_corners(region: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """Corners of the boundary pixels of one region (pixel squares of side 1)."""
    inner = ndi.binary_erosion(region, border_value=0)
    yy, xx = np.nonzero(region & ~inner)
    yy = yy + offset[0]
    xx = xx + offset[1]
    c = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    pts = np.stack([yy, xx], axis=1)[:, None, :] + c[None]
    return pts.reshape(-1, 2)


def fragment_sizes(labels_or_mask, *, pixel_size_um: float, min_area_px: int = 1) -> pd.DataFrame:
    """Per-fragment sizes from a label image or a binary mask.

    Parameters
    ----------
    labels_or_mask : ndarray, shape (y, x)
        Integer labels (0 = background, one id per fragment) or a boolean mask whose
        4-connected components are taken as fragments.
    pixel_size_um : float
        Edge length of one square pixel in µm (e.g. from :func:`pixel_size_from_ruler`).
    min_area_px : int
        Fragments smaller than this many pixels are dropped.

    Returns
    -------
    pandas.DataFrame
        One row per fragment: ``label``, ``area_px``, ``area_cm2``, ``ecd_cm`` (diameter of
        the circle of equal area), ``length_cm`` (max Feret), ``width_cm`` (min Feret),
        ``centroid_y``, ``centroid_x`` (px), ``bbox_y0, bbox_x0, bbox_y1, bbox_x1`` (px,
        end exclusive), ``touches_border`` (bool; a cut fragment's size is a lower bound).
    """
    px_cm = _check_positive(pixel_size_um, "pixel_size_um") / _UM_PER_CM
    labels = _as_labels(labels_or_mask)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    columns = ["label", "area_px", "area_cm2", "ecd_cm", "length_cm", "width_cm", "centroid_y", "centroid_x",
               "bbox_y0", "bbox_x0", "bbox_y1", "bbox_x1", "touches_border"]
    if ids.size == 0:
        return pd.DataFrame({c: np.array([], dtype=float) for c in columns})
    flat = labels.ravel()
    index = np.searchsorted(ids, flat)
    valid = flat > 0
    area = np.bincount(index[valid], minlength=ids.size).astype(float)
    yy, xx = np.indices(labels.shape)
    cy = np.bincount(index[valid], weights=yy.ravel()[valid], minlength=ids.size) / area
    cx = np.bincount(index[valid], weights=xx.ravel()[valid], minlength=ids.size) / area
    slices = ndi.find_objects(labels)
    length = np.zeros(ids.size)
    width = np.zeros(ids.size)
    bbox = np.zeros((ids.size, 4), dtype=np.int64)
    for i, lab in enumerate(ids):
        sl = slices[lab - 1]
        region = labels[sl] == lab
        pts = _boundary_corners(region, (sl[0].start, sl[1].start))
        length[i], width[i] = feret_diameters(pts)
        bbox[i] = (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
    h, w = labels.shape
    touches = (bbox[:, 0] == 0) | (bbox[:, 1] == 0) | (bbox[:, 2] == h) | (bbox[:, 3] == w)
    area_cm2 = area * px_cm * px_cm
    df = pd.DataFrame(
        {
            "label": ids.astype(np.int64),
            "area_px": area.astype(np.int64),
            "area_cm2": area_cm2,
            "ecd_cm": np.sqrt(4.0 * area_cm2 / np.pi),
            "length_cm": length * px_cm,
            "width_cm": width * px_cm,
            "centroid_y": cy,
            "centroid_x": cx,
            "bbox_y0": bbox[:, 0],
            "bbox_x0": bbox[:, 1],
            "bbox_y1": bbox[:, 2],
            "bbox_x1": bbox[:, 3],
            "touches_border": touches,
        }
    )
    return df[df["area_px"] >= int(min_area_px)].reset_index(drop=True)


def _as_boxes(boxes) -> np.ndarray:
    b = np.asarray(boxes, dtype=float)
    if b.ndim != 2 or b.shape[1] != 4:
        raise InputError(f"boxes has shape {b.shape}; expected (n, 4) rows of x0, y0, x1, y1 in pixels")
    if not np.all(np.isfinite(b)) or np.any(b[:, 2] <= b[:, 0]) or np.any(b[:, 3] <= b[:, 1]):
        raise InputError("boxes must be finite with x1 > x0 and y1 > y0 (rows of x0, y0, x1, y1 in pixels)")
    return b


def boxes_from_labels(labels_or_mask) -> np.ndarray:
    """Axis-aligned boxes ``(x0, y0, x1, y1)`` (px, end exclusive) of each fragment, ordered by label."""
    labels = _as_labels(labels_or_mask)
    out = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndi.find_objects(labels) if s is not None]
    return np.asarray(out, dtype=float).reshape(-1, 4)


def box_sizes(boxes, *, pixel_size_um: float, k: float = DEFAULT_BOX_FACTOR) -> pd.DataFrame:
    """Fragment sizes from detection boxes (OIR Formula 6: ``S = T * W * H * k``).

    Parameters
    ----------
    boxes : array_like, shape (n, 4)
        Boxes ``x0, y0, x1, y1`` in pixels (as a detector gives them).
    pixel_size_um : float
        Pixel edge length in µm; ``T = (pixel_size_um * 1e-4)²`` cm² per pixel.
    k : float
        Ratio of fragment area to box area (0.86 in OIR; see :func:`calibrate_box_factor`).

    Returns
    -------
    pandas.DataFrame
        Columns ``area_cm2`` (= S), ``ecd_cm``, ``length_cm`` (longer box side), ``width_cm``
        (shorter box side), ``box_w_px``, ``box_h_px``.
    """
    b = _as_boxes(boxes)
    k = _check_positive(k, "k")
    px_cm = _check_positive(pixel_size_um, "pixel_size_um") / _UM_PER_CM
    t = px_cm * px_cm
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    s = t * w * h * k
    return pd.DataFrame(
        {
            "area_cm2": s,
            "ecd_cm": np.sqrt(4.0 * s / np.pi),
            "length_cm": np.maximum(w, h) * px_cm,
            "width_cm": np.minimum(w, h) * px_cm,
            "box_w_px": w,
            "box_h_px": h,
        }
    )


def calibrate_box_factor(boxes, mask_areas_px) -> float:
    """Fit ``k`` of ``S = T * W * H * k`` against fragment areas measured on masks.

    Least squares through the origin, ``k = sum(a * b) / sum(b²)``, with ``b = W * H`` the box
    areas and ``a`` the mask areas, both in pixels (so the scale cancels).

    Parameters
    ----------
    boxes : array_like, shape (n, 4)
        Boxes ``x0, y0, x1, y1`` in pixels.
    mask_areas_px : array_like, shape (n,)
        Areas of the same fragments from their masks, in pixels.
    """
    b = _as_boxes(boxes)
    a = np.asarray(mask_areas_px, dtype=float).ravel()
    if a.shape[0] != b.shape[0]:
        raise InputError(f"mask_areas_px has {a.shape[0]} values but boxes has {b.shape[0]} rows; they must match")
    if a.size == 0:
        raise InputError("boxes is empty; need at least one box with its mask area to calibrate k")
    box_area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return float((a * box_area).sum() / (box_area * box_area).sum())


def segment_fragments(image, *, bright: bool = True, min_distance_px: int = 5, min_area_px: int = 20) -> np.ndarray:
    """Classical fragment segmentation of a grey image: Otsu threshold + distance-transform watershed.

    For images where fragments contrast with the belt; touching fragments are split at the
    necks between distance-transform maxima. A trained segmenter gives better masks on real
    muck-pile photographs; pass its masks to :func:`fragment_sizes` instead.

    Parameters
    ----------
    image : ndarray, shape (y, x)
        Grey image.
    bright : bool
        Fragments are brighter than the background (else darker).
    min_distance_px : int
        Minimum distance between two fragment centres (watershed seeds).
    min_area_px : int
        Objects smaller than this are removed.

    Returns
    -------
    ndarray of int32, shape (y, x)
        Fragment labels, 0 = background.
    """
    from skimage.feature import peak_local_max
    from skimage.filters import threshold_otsu
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import watershed

    img = np.asarray(image, dtype=float)
    if img.ndim != 2:
        raise InputError(f"image has shape {img.shape}; expected a 2D grey image (y, x)")
    if img.max() == img.min():
        return np.zeros(img.shape, dtype=np.int32)
    mask = img > threshold_otsu(img) if bright else img < threshold_otsu(img)
    mask = ndi.binary_fill_holes(mask)
    mask = remove_small_objects(mask, max_size=max(int(min_area_px) - 1, 0))
    dist = ndi.distance_transform_edt(mask)
    comp, _ = ndi.label(mask)
    peaks = peak_local_max(dist, min_distance=int(min_distance_px), labels=comp, exclude_border=False)
    markers = np.zeros(img.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=mask).astype(np.int32)


def drop_ruler(labels, *, ruler) -> np.ndarray:
    """Remove the objects that the ruler segment passes through (so the ruler is not sized).

    Parameters
    ----------
    labels : ndarray of int, shape (y, x)
        Fragment labels.
    ruler : tuple
        ``(x0, y0, x1, y1)`` ruler end points in pixels (a 5th value, the length, is ignored).
    """
    lab = _as_labels(labels).copy()
    x0, y0, x1, y1 = (float(v) for v in tuple(ruler)[:4])
    n = int(np.ceil(np.hypot(x1 - x0, y1 - y0))) + 1
    xs = np.clip(np.round(np.linspace(x0, x1, n)).astype(int), 0, lab.shape[1] - 1)
    ys = np.clip(np.round(np.linspace(y0, y1, n)).astype(int), 0, lab.shape[0] - 1)
    hit = np.unique(lab[ys, xs])
    hit = hit[hit > 0]
    if hit.size:
        lab[np.isin(lab, hit)] = 0
    return lab
