"""Particle instances from a phase map: connected components plus a watershed split."""

from __future__ import annotations

import numpy as np

from liberation._validation import as_voxel_size, check_label_array
from liberation.errors import InputError


def derive_particles(
    phases,
    *,
    voxel_size_um,
    min_distance_um: float | None = None,
    split: bool = True,
) -> tuple[np.ndarray, dict]:
    """Particle ids from ``phases > 0``: 6-connected components, touching particles split by watershed.

    The report's fallback and ``liberation segment --classical`` use
    :func:`liberation.segmentation.separate_particles` instead (measured better on touching and
    elongated particles, docs/particles_classical.md); this older split is kept as a library
    function for one release.

    The watershed runs on the negated Euclidean distance to the background (µm, anisotropic voxels
    respected), with one marker per local maximum of the distance at least ``min_distance_um``
    apart inside each component. Components without a marker keep one id of their own.

    Parameters
    ----------
    phases : array, shape (z, y, x), integer
        Phase ids (0 = void); loaded into memory.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.
    min_distance_um : float, optional
        Minimum distance between markers (µm); default 4 voxels of the smallest size.
    split : bool
        Apply the watershed split (False: connected components only).

    Returns
    -------
    particles : ndarray of uint32, shape (z, y, x)
        Particle ids 1..n, 0 outside.
    params : dict
        The method and parameters used (for the provenance).
    """
    from scipy import ndimage

    vs = as_voxel_size(voxel_size_um)
    check_label_array(phases, name="phases", ndim=3)
    mask = np.asarray(phases) > 0
    if min_distance_um is None:
        min_distance_um = 4 * min(vs)
    if not np.isfinite(min_distance_um) or min_distance_um <= 0:
        raise InputError(f"min_distance_um={min_distance_um!r} must be positive (µm)")
    structure = ndimage.generate_binary_structure(3, 1)
    cc, n_cc = ndimage.label(mask, structure=structure)
    params = {"method": "connected_components", "connectivity": 6, "n_components": int(n_cc)}
    if not split or n_cc == 0:
        return cc.astype(np.uint32), params
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    dist = ndimage.distance_transform_edt(mask, sampling=vs)
    md = max(1, int(round(min_distance_um / min(vs))))
    peaks = peak_local_max(dist, min_distance=md, labels=cc, exclude_border=False)
    markers = np.zeros(mask.shape, dtype=np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    ws = watershed(-dist, markers, mask=mask)
    missing = mask & (ws == 0)
    if np.any(missing):
        ws[missing] = cc[missing] + len(peaks)
    _, inverse = np.unique(ws, return_inverse=True)
    out = inverse.reshape(mask.shape).astype(np.uint32)
    params.update({"method": "connected_components+watershed", "distance": "euclidean_um",
                   "min_distance_um": float(min_distance_um), "min_distance_voxels": md,
                   "n_markers": int(len(peaks)), "n_particles": int(out.max())})
    return out, params
