"""A classical first look without a trained model: grey-value phases and particle separation.

:func:`classical_phases` splits a smoothed CT into void plus ``classes - 1`` phases by
multi-Otsu thresholds or a 1D Gaussian mixture, ordered by increasing grey value.

:func:`separate_particles` splits a foreground mask into particles. The default method,
``"relative_dynamic"``, was chosen by measurement against the library's previous
watershed variants and porespy's SNOW partitioning on packs of touching spheres, elongated
ellipsoids, irregular grains and mixed sizes (benchmarks/bench_particles_classical.py,
docs/particles_classical.md): the Euclidean distance map (µm) is lightly smoothed, every
regional maximum seeds a watershed (an over-segmentation), and neighbouring regions are
merged, highest saddle first, while the saddle between them (the distance value at the
neck) is at least ``ratio`` times the smaller region's peak. A neck narrower than
``ratio`` x the particle's inscribed radius separates two particles; the shallow saddles
along an elongated particle's ridge do not. numpy, scipy and scikit-image only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from liberation._validation import as_voxel_size
from liberation.errors import InputError

__all__ = ["classical_phases", "separate_particles", "SEPARATION_METHODS"]

#: Methods of :func:`separate_particles`.
SEPARATION_METHODS = ("relative_dynamic", "h_maxima", "snow")

_HIST_BINS = 1024


def _check_ct(ct) -> np.ndarray:
    ct = np.asarray(ct)
    if ct.ndim != 3:
        raise InputError(f"ct has shape {ct.shape}; expected a 3D volume (z, y, x)")
    if ct.dtype.kind not in "uif":
        raise InputError(f"ct has dtype {ct.dtype}; expected numeric grey values")
    return ct


def _histogram(values: np.ndarray, *, max_samples: int = 4_000_000, seed=0):
    """Histogram (counts, bin centres) of ``values``; a random subsample above ``max_samples``."""
    flat = values.ravel()
    if flat.size > max_samples:
        flat = flat[np.random.default_rng(seed).choice(flat.size, max_samples, replace=False)]
    lo, hi = float(flat.min()), float(flat.max())
    if hi <= lo:
        raise InputError(f"ct is constant (grey value {lo:g}); phases cannot be separated")
    counts, edges = np.histogram(flat, bins=_HIST_BINS, range=(lo, hi))
    return counts.astype(np.float64), 0.5 * (edges[:-1] + edges[1:])


def _gmm_thresholds(counts, centres, classes: int, seed) -> np.ndarray:
    """Decision thresholds of a 1D Gaussian mixture fitted by EM on the histogram (means sorted)."""
    from skimage.filters import threshold_multiotsu

    rng = np.random.default_rng(seed)
    w = counts / counts.sum()
    # start from multi-Otsu classes (a deterministic, good start), jittered by the seed
    t0 = threshold_multiotsu(hist=(counts, centres), classes=classes)
    idx = np.digitize(centres, t0)
    mu = np.array([np.average(centres[idx == k], weights=w[idx == k] + 1e-12) for k in range(classes)])
    span = centres[-1] - centres[0]
    mu = mu + rng.normal(0.0, 1e-3 * span, size=classes)
    var = np.full(classes, (span / (4.0 * classes)) ** 2)
    pi = np.full(classes, 1.0 / classes)
    floor = (span / _HIST_BINS) ** 2
    for _ in range(200):
        logp = (np.log(pi + 1e-300)[None, :] - 0.5 * np.log(2 * np.pi * var)[None, :]
                - 0.5 * (centres[:, None] - mu[None, :]) ** 2 / var[None, :])
        logp -= logp.max(axis=1, keepdims=True)
        resp = np.exp(logp)
        resp /= resp.sum(axis=1, keepdims=True)
        nk = (w[:, None] * resp).sum(axis=0) + 1e-12
        mu_new = (w[:, None] * resp * centres[:, None]).sum(axis=0) / nk
        var = np.maximum((w[:, None] * resp * (centres[:, None] - mu_new[None, :]) ** 2).sum(axis=0) / nk, floor)
        pi = nk / nk.sum()
        done = np.max(np.abs(mu_new - mu)) < 1e-4 * span
        mu = mu_new
        if done:
            break
    order = np.argsort(mu)
    mu, var, pi = mu[order], var[order], pi[order]
    logp = (np.log(pi + 1e-300)[None, :] - 0.5 * np.log(2 * np.pi * var)[None, :]
            - 0.5 * (centres[:, None] - mu[None, :]) ** 2 / var[None, :])
    best = np.argmax(logp, axis=1)
    # monotone labelling: threshold k = first bin centre at or above the mean of k where the class is >= k
    thresholds = []
    for k in range(1, classes):
        between = np.flatnonzero((centres >= mu[k - 1]) & (centres <= mu[k]) & (best >= k))
        thresholds.append(centres[between[0]] if between.size else 0.5 * (mu[k - 1] + mu[k]))
    return np.asarray(thresholds, dtype=np.float64)


def _thresholds(values: np.ndarray, classes: int, method: str, seed) -> np.ndarray:
    from skimage.filters import threshold_multiotsu

    counts, centres = _histogram(values, seed=seed)
    if method == "multiotsu":
        return np.asarray(threshold_multiotsu(hist=(counts, centres), classes=classes), dtype=np.float64)
    return _gmm_thresholds(counts, centres, classes, seed)


def classical_phases(ct, *, classes: int, method: str = "multiotsu", smooth_sigma: float = 1.0,
                     seed: int | None = 0, return_thresholds: bool = False):
    """Void plus ``classes - 1`` grey-value phases of a CT volume, without a trained model.

    Parameters
    ----------
    ct : ndarray, shape (z, y, x)
        CT grey values (any numeric dtype).
    classes : int
        Number of classes including void (2 = void / particles), 2..8.
    method : {"multiotsu", "gmm"}
        Multi-Otsu thresholds, or the decision thresholds of a 1D Gaussian mixture fitted
        by EM to the grey-value histogram (started from multi-Otsu). Void is split off
        first by Otsu on the whole histogram (whatever the method: the partial-volume rim
        makes the void/solid histogram far from Gaussian), then the ``classes - 1`` phases are
        split on the histogram of the solid's interior (eroded by 2 voxels), so neither a large
        void peak nor the partial-volume rim of the particles takes a class.
    smooth_sigma : float
        Gaussian smoothing (voxels) before thresholding; 0 = none.
    seed : int, optional
        Seed of the histogram subsample (volumes above 4 M voxels) and the mixture's start.
    return_thresholds : bool
        Also return the ``classes - 1`` thresholds (grey values of the smoothed CT).

    Returns
    -------
    phases : ndarray of uint8, shape (z, y, x)
        0 = void (lowest grey values), 1..classes-1 by increasing grey value.
    thresholds : ndarray of float64, shape (classes - 1,)
        Only with ``return_thresholds``.
    """
    ct = _check_ct(ct)
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or not 2 <= classes <= 8:
        raise InputError(f"classes={classes!r} must be an integer in 2..8 (void plus 1..7 phases)")
    if method not in ("multiotsu", "gmm"):
        raise InputError(f"method={method!r} is not known; expected 'multiotsu' or 'gmm'")
    if not (isinstance(smooth_sigma, (int, float)) and np.isfinite(smooth_sigma) and smooth_sigma >= 0):
        raise InputError(f"smooth_sigma={smooth_sigma!r} must be a non-negative number of voxels")

    values = ct.astype(np.float32)
    if smooth_sigma > 0:
        values = ndimage.gaussian_filter(values, float(smooth_sigma))
    # void first (it dominates the histogram of a particle sample), then the phases within
    # the solid: one multi-class split of the whole histogram puts thresholds in the void's tail
    thresholds = _thresholds(values, 2, "multiotsu", seed)
    if classes > 2:
        solid = values >= np.float32(thresholds[0])
        # the phases' histogram from the solid's interior: the partial-volume rim (grey values
        # between void and mineral) would otherwise take a class of its own
        interior = ndimage.binary_erosion(solid, iterations=2)
        solid = values[interior] if np.count_nonzero(interior) >= 1000 * classes else values[solid]
        thresholds = np.concatenate([thresholds, _thresholds(solid, int(classes) - 1, method, seed)])
    phases = np.digitize(values, thresholds.astype(np.float32)).astype(np.uint8)
    return (phases, thresholds) if return_thresholds else phases


def _check_foreground(foreground) -> np.ndarray:
    foreground = np.asarray(foreground)
    if foreground.ndim != 3:
        raise InputError(f"foreground has shape {foreground.shape}; expected a 3D mask (z, y, x)")
    if foreground.dtype.kind not in "biu":
        raise InputError(f"foreground has dtype {foreground.dtype}; expected a boolean or integer mask")
    return foreground > 0


def _relabel(labels: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Consecutive ids 1..n (uint32), 0 kept; ``counts`` = ``np.bincount(labels.ravel())`` when known."""
    if counts is None:
        counts = np.bincount(labels.ravel()) if labels.size else np.zeros(1, dtype=np.int64)
    ids = np.flatnonzero(counts)
    ids = ids[ids > 0]
    lut = np.zeros(len(counts), dtype=np.uint32)
    lut[ids] = np.arange(1, ids.size + 1, dtype=np.uint32)
    return lut[labels]


def _drop_small_relabel(labels: np.ndarray, min_size_voxels: int) -> np.ndarray:
    """Labels of fewer than ``min_size_voxels`` voxels set to 0, the rest numbered 1..n (uint32) in id order."""
    counts = np.bincount(labels.ravel()) if labels.size else np.zeros(1, dtype=np.int64)
    if min_size_voxels > 1:
        counts = np.where(counts < min_size_voxels, 0, counts)
    return _relabel(labels, counts)


def distance_map(mask: np.ndarray, voxel_size_um, *, workers: int | None = None) -> np.ndarray:
    """Euclidean distance (µm, float32) of every voxel of ``mask`` to the nearest voxel outside it.

    The ``edt`` package (multi-threaded, a porespy dependency) when importable, else
    ``scipy.ndimage.distance_transform_edt``; the two agree exactly on isotropic voxels and within
    one float32 rounding step on anisotropic ones (tests/test_segmentation_classical.py).
    """
    import os

    vs = tuple(float(v) for v in voxel_size_um)
    try:
        import edt
    except ImportError:  # pragma: no cover - depends on the environment
        edt = None
    if edt is not None:
        return np.asarray(edt.edt(np.ascontiguousarray(mask, dtype=bool), anisotropy=vs,
                                  parallel=int(workers or os.cpu_count() or 1)), dtype=np.float32)
    return ndimage.distance_transform_edt(mask, sampling=vs).astype(np.float32)


def _saddles(regions: np.ndarray, height: np.ndarray):
    """Highest saddle between face-adjacent regions: (a, b, s) arrays, a < b, s = max over the
    shared faces of min(height on both sides)."""
    keys, values = [], []
    n = np.int64(regions.max()) + 1
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        a, b = regions[tuple(lo)], regions[tuple(hi)]
        edge = (a != b) & (a > 0) & (b > 0)
        if not edge.any():
            continue
        ra, rb = a[edge].astype(np.int64), b[edge].astype(np.int64)
        s = np.minimum(height[tuple(lo)][edge], height[tuple(hi)][edge])
        keys.append(np.minimum(ra, rb) * n + np.maximum(ra, rb))
        values.append(s)
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    key = np.concatenate(keys)
    value = np.concatenate(values).astype(np.float64)
    order = np.lexsort((value, key))
    key, value = key[order], value[order]
    last = np.r_[key[1:] != key[:-1], True]  # last of each key = its maximum
    key, value = key[last], value[last]
    return key // n, key % n, value


def _merge_by_relative_dynamic(regions, height, *, ratio: float, h_um: float) -> np.ndarray:
    """Merge adjacent regions, highest saddle first, while saddle >= ratio * smaller peak
    (or the smaller peak is less than ``h_um`` above the saddle)."""
    n = int(regions.max())
    if n < 2:
        return regions
    peak = np.zeros(n + 1, dtype=np.float64)
    np.maximum.at(peak, regions.ravel(), height.ravel().astype(np.float64))
    a, b, s = _saddles(regions, height)
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    for k in np.argsort(-s, kind="stable"):
        ra, rb = find(int(a[k])), find(int(b[k]))
        if ra == rb:
            continue
        low = min(peak[ra], peak[rb])
        if s[k] >= ratio * low or low - s[k] < h_um:
            parent[rb] = ra
            peak[ra] = max(peak[ra], peak[rb])
    roots = np.array([find(i) for i in range(n + 1)])
    return roots[regions]


def h_maxima_markers(height: np.ndarray, mask: np.ndarray, h: float, *, connectivity: int = 3) -> np.ndarray:
    """Watershed markers: the maxima of ``height`` with a dynamic of at least ``h`` inside ``mask``.

    Parameters
    ----------
    height : ndarray of float, shape (z, y, x)
        The relief (a distance map, in the unit of ``h``).
    mask : ndarray of bool, shape (z, y, x)
        Where markers may lie.
    h : float
        Least dynamic of a kept maximum; 0 keeps every voxel of ``height > 0``.
    connectivity : {1, 3}
        Connectivity of the voxels of one marker (1: faces, 3: faces, edges and corners).

    Returns
    -------
    ndarray of int32, shape (z, y, x)
        Marker ids 1..n, 0 elsewhere.
    """
    from skimage.morphology import h_maxima

    peaks = h_maxima(height, height.dtype.type(h)) > 0 if h > 0 else height > 0
    structure = ndimage.generate_binary_structure(3, int(connectivity))
    markers, _ = ndimage.label(peaks & mask, structure=structure)
    return markers


def separate_particles(foreground, *, voxel_size_um, method: str = "relative_dynamic",
                       sigma_um: float | None = None, ratio: float = 0.9, h_um: float | None = None,
                       r_max_um: float | None = None, min_size_voxels: int = 8) -> np.ndarray:
    """Split a foreground mask into touching particles (uint32 instances).

    Parameters
    ----------
    foreground : ndarray of bool or int, shape (z, y, x)
        Particle voxels (nonzero).
    voxel_size_um : float or (float, float, float)
        Voxel size in µm; distances are Euclidean in µm (anisotropic voxels respected).
    method : {"relative_dynamic", "h_maxima", "snow"}
        ``"relative_dynamic"`` (default, see the module docstring): regional maxima of the
        smoothed distance map, then regions merged while the neck's distance value is at
        least ``ratio`` x the smaller peak or within ``h_um`` of it. ``"h_maxima"``:
        markers are the maxima of dynamic >= ``h_um``. ``"snow"``: porespy's SNOW
        partitioning (maxima in a sphere of ``r_max_um``, saddle and nearby-peak trimming).
    sigma_um : float, optional
        Gaussian smoothing of the distance map (µm); default 0.5 voxel (0.4 voxel for snow).
    ratio : float
        ``"relative_dynamic"``: neck-to-peak ratio above which two regions are one particle,
        in (0, 1).
    h_um : float, optional
        Absolute dynamic (µm): ``"h_maxima"`` seed dynamic (default 2 voxels);
        ``"relative_dynamic"`` also merges regions whose peak rises less than this above the
        saddle (default 0.5 voxel).
    r_max_um : float, optional
        ``"snow"``: radius of the peak search (default 4 voxels, porespy's default).
    min_size_voxels : int
        Particles smaller than this are dropped (set to 0).

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
        Particle ids 1..n, 0 outside the foreground.
    """
    from skimage.segmentation import watershed

    mask = _check_foreground(foreground)
    vs = as_voxel_size(voxel_size_um)
    vmin = float(min(vs))
    if method not in SEPARATION_METHODS:
        raise InputError(f"method={method!r} is not known; expected one of {', '.join(SEPARATION_METHODS)}")
    if not (isinstance(ratio, (int, float)) and 0 < ratio < 1):
        raise InputError(f"ratio={ratio!r} must be in (0, 1)")
    for name, value in (("sigma_um", sigma_um), ("h_um", h_um), ("r_max_um", r_max_um)):
        if value is not None and not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise InputError(f"{name}={value!r} must be a non-negative length in µm")
    if isinstance(min_size_voxels, bool) or not isinstance(min_size_voxels, (int, np.integer)) or min_size_voxels < 0:
        raise InputError(f"min_size_voxels={min_size_voxels!r} must be a non-negative integer")
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.uint32)
    dist = distance_map(mask, vs)
    if method == "snow":
        import porespy

        sigma = 0.4 * vmin if sigma_um is None else float(sigma_um)
        r_max = 4 * vmin if r_max_um is None else float(r_max_um)
        res = porespy.filters.snow_partitioning(mask, dt=dist / np.float32(vmin), r_max=max(1, round(r_max / vmin)),
                                                sigma=sigma / vmin)
        labels = np.asarray(res.regions).astype(np.int64)
    else:
        sigma = 0.5 * vmin if sigma_um is None else float(sigma_um)
        smooth = ndimage.gaussian_filter(dist, [sigma / v for v in vs]) * mask if sigma > 0 else dist
        if method == "h_maxima":
            h = 2.0 * vmin if h_um is None else float(h_um)
            markers = h_maxima_markers(smooth, mask, h)
            labels = watershed(-smooth, markers, mask=mask)
        else:
            h = 0.5 * vmin if h_um is None else float(h_um)
            peaks = (smooth == ndimage.maximum_filter(smooth, size=3)) & mask
            markers, _ = ndimage.label(peaks, structure=np.ones((3, 3, 3)))
            regions = watershed(-smooth, markers, mask=mask)
            labels = _merge_by_relative_dynamic(regions, smooth, ratio=float(ratio), h_um=h)
        # a component without a seed (cannot happen with regional maxima) becomes its own particle
        unseeded, _ = ndimage.label(mask & (labels == 0))
        labels = np.where(unseeded > 0, unseeded + labels.max(), labels)
    return _drop_small_relabel(labels, int(min_size_voxels))
