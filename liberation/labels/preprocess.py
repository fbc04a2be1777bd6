"""Preprocessing of micro-XRF element maps: edge-preserving denoising, scaling, sample mask.

All functions take a mapping ``element -> 2D map`` (all maps of one shape (y, x)) and
return new arrays; the inputs are never modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from liberation.errors import InputError

__all__ = ["check_maps", "denoise_bilateral_map", "estimate_noise", "denoise_maps", "sample_mask", "scale_maps"]

DEFAULT_DENOISE = ("Na", "Mg")
#: Channel scalings of :func:`scale_maps` (and the ``scaling`` option of the K-means labels).
SCALINGS = ("8bit", "zscore", "noise", "poisson", "none")


def check_maps(maps: Mapping[str, np.ndarray], *, name: str = "maps") -> tuple[int, int]:
    """Check that ``maps`` is a non-empty mapping of 2D numeric arrays of one shape; return the shape.

    Raises
    ------
    InputError
        Naming the first map whose shape differs from the first one.
    """
    if not isinstance(maps, Mapping) or not maps:
        raise InputError(f"{name} must be a non-empty mapping element -> 2D array; got {type(maps).__name__}")
    shape = None
    first = None
    for key, value in maps.items():
        arr = np.asarray(value)
        if arr.ndim != 2:
            raise InputError(f"{name}[{key!r}] has shape {arr.shape}; expected a 2D map (y, x)")
        if arr.dtype.kind not in "uif" and arr.dtype != bool:
            raise InputError(f"{name}[{key!r}] has dtype {arr.dtype}; expected numbers")
        if shape is None:
            shape, first = arr.shape, key
        elif arr.shape != shape:
            raise InputError(
                f"{name}[{key!r}] has shape {arr.shape} but {name}[{first!r}] has shape {shape}; all maps must match"
            )
    return shape


def _check_mask(mask, shape, *, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise InputError(f"{name} has shape {mask.shape}; expected the map shape {tuple(shape)}")
    return mask.astype(bool, copy=False)


def estimate_noise(image: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Standard deviation of the pixel noise of a 2D image (Immerkær 1996, fast noise variance estimation).

    The image is convolved with the 3 x 3 difference-of-Laplacians kernel, which cancels smooth
    structure; ``sigma = sqrt(pi / 2) / 6 * mean(|response|)`` over the interior pixels (of ``mask``).

    Parameters
    ----------
    image : numpy.ndarray
        (y, x) image.
    mask : numpy.ndarray of bool, optional
        Pixels to use (eroded by one pixel so that the mask edge does not count as noise).
    """
    from scipy import ndimage as ndi

    image = np.asarray(image, dtype=np.float64)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    response = np.abs(ndi.convolve(image, kernel, mode="reflect"))
    if mask is not None:
        inner = ndi.binary_erosion(np.asarray(mask, dtype=bool), iterations=1, border_value=0)
        values = response[inner] if inner.any() else response.ravel()
    else:
        values = response[1:-1, 1:-1].ravel() if min(image.shape) > 2 else response.ravel()
    return float(np.sqrt(np.pi / 2.0) / 6.0 * values.mean())


def denoise_bilateral_map(
    image: np.ndarray,
    *,
    sigma_spatial_px: float = 2.0,
    sigma_color: float | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Edge-preserving bilateral filter of one map (:func:`skimage.restoration.denoise_bilateral`).

    Parameters
    ----------
    image : numpy.ndarray
        (y, x) map in any units (counts).
    sigma_spatial_px : float
        Spatial standard deviation in map pixels; the window is cut at 2 standard deviations
        (a 9 x 9 window for 2 px; scikit-image's default 3 is 2x slower for a <2 % weight difference).
    sigma_color : float, optional
        Range standard deviation as a fraction of the map's robust range (99.5th percentile of the
        sample). Default: 2 x the noise level estimated by :func:`estimate_noise`,
        clipped to 0.05..0.5: strong enough to flatten Poisson noise in low-count maps, small
        enough to keep the edges between grains of different levels.
    mask : numpy.ndarray of bool, optional
        Sample pixels; the range is taken from them.

    Returns
    -------
    numpy.ndarray
        float32 map of the same shape, in the units of ``image``.
    """
    from skimage.restoration import denoise_bilateral

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise InputError(f"image has shape {image.shape}; expected a 2D map")
    if sigma_spatial_px <= 0:
        raise InputError(f"sigma_spatial_px={sigma_spatial_px!r} must be positive")
    values = image[mask] if mask is not None and np.any(mask) else image.ravel()
    low = float(min(values.min(), 0.0))
    high = float(np.percentile(values, 99.5))
    span = high - low if high > low else max(float(values.max()) - low, 1.0)
    norm = np.clip((image - low) / span, 0.0, None)
    if sigma_color is None:
        sigma_color = float(np.clip(2.0 * estimate_noise(norm, mask=mask), 0.05, 0.5))
    elif sigma_color <= 0:
        raise InputError(f"sigma_color={sigma_color!r} must be positive (fraction of the map range)")
    win_size = 2 * int(np.ceil(2.0 * sigma_spatial_px)) + 1  # spatial kernel cut at 2 sigma (skimage: 3 sigma)
    out = denoise_bilateral(norm, win_size=max(win_size, 3), sigma_color=float(sigma_color),
                            sigma_spatial=float(sigma_spatial_px), mode="reflect")
    return (out * span + low).astype(np.float32)


def denoise_maps(
    maps: Mapping[str, np.ndarray],
    *,
    elements: Iterable[str] | Mapping[str, Mapping] | None = DEFAULT_DENOISE,
    sigma_spatial_px: float = 2.0,
    sigma_color: float | None = None,
    mask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Bilateral denoising of chosen element maps (by default the weak light elements Na and Mg).

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray
        Element -> (y, x) map.
    elements : iterable of str or mapping of str to dict, optional
        Elements to filter (those absent from ``maps`` are skipped); a mapping gives per-element
        options, e.g. ``{"Na": {"sigma_spatial_px": 3}}``. ``None`` or empty: no filtering.
    sigma_spatial_px, sigma_color : float
        Defaults for :func:`denoise_bilateral_map`.
    mask : numpy.ndarray of bool, optional
        Sample pixels.

    Returns
    -------
    dict of str to numpy.ndarray
        A new mapping; filtered maps are float32, the others are the input arrays unchanged.
    """
    shape = check_maps(maps)
    if mask is not None:
        mask = _check_mask(mask, shape)
    options = {} if elements is None else (
        {str(k): dict(v or {}) for k, v in elements.items()} if isinstance(elements, Mapping)
        else {str(e): {} for e in elements}
    )
    out = dict(maps)
    for element, opts in options.items():
        if element not in maps:
            continue
        unknown = set(opts) - {"sigma_spatial_px", "sigma_color"}
        if unknown:
            raise InputError(f"denoise options for {element!r} has unknown keys {sorted(unknown)}; "
                             "expected sigma_spatial_px, sigma_color")
        out[element] = denoise_bilateral_map(
            maps[element], sigma_spatial_px=opts.get("sigma_spatial_px", sigma_spatial_px),
            sigma_color=opts.get("sigma_color", sigma_color), mask=mask,
        )
    return out


def scale_maps(
    maps: Mapping[str, np.ndarray],
    *,
    method: str = "8bit",
    mask: np.ndarray | None = None,
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Scale each map to a common range.

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray
        Element -> (y, x) map.
    method : {"8bit", "zscore", "noise", "poisson", "none"}
        ``"8bit"``: linear map of the ``percentiles`` of the sample pixels to 0..255, clipped
        (like the 8-bit maps of Deep-XFCT); ``"zscore"``: robust z-score (median, 1.4826 x MAD);
        ``"noise"``: noise whitening, the median subtracted and the map divided by its measured
        pixel noise (:func:`estimate_noise` over the sample pixels), so that one unit is one noise
        standard deviation in every element whatever its units (counts or wt%); ``"poisson"``:
        the median subtracted and the map divided by ``sqrt(mean)`` of the sample pixels (the
        Poisson standard deviation of a counts map); ``"none"``: unchanged (float32).
    mask : numpy.ndarray of bool, optional
        Sample pixels from which the statistics are taken (default: all pixels).
    percentiles : (float, float)
        Low and high percentiles for ``"8bit"``.

    Returns
    -------
    scaled : dict of str to numpy.ndarray
        float32 maps.
    table : pandas.DataFrame
        Per element (index): ``offset`` and ``scale`` with ``scaled = (value - offset) * scale``.
    """
    shape = check_maps(maps)
    if method not in SCALINGS:
        raise InputError(f"scaling method={method!r}; expected one of {', '.join(map(repr, SCALINGS))}")
    if mask is not None:
        mask = _check_mask(mask, shape)
        if not mask.any():
            raise InputError("mask is empty: no sample pixel to take the scaling from")
    lo_p, hi_p = percentiles
    if not 0 <= lo_p < hi_p <= 100:
        raise InputError(f"percentiles={percentiles!r}; expected 0 <= low < high <= 100")
    scaled, rows = {}, []
    for element, value in maps.items():
        arr = np.asarray(value, dtype=np.float32)
        sample = arr[mask] if mask is not None else arr.ravel()
        if method == "8bit":
            lo, hi = np.percentile(sample, [lo_p, hi_p])
            offset, scale = float(lo), (255.0 / float(hi - lo) if hi > lo else 0.0)
            out = np.clip((arr - offset) * scale, 0.0, 255.0)
        elif method == "zscore":
            med = float(np.median(sample))
            mad = 1.4826 * float(np.median(np.abs(sample - med)))
            if mad <= 0:
                mad = float(sample.std()) or 1.0
            offset, scale = med, 1.0 / mad
            out = (arr - offset) * scale
        elif method in ("noise", "poisson"):
            med = float(np.median(sample))
            if method == "noise":
                sigma = estimate_noise(arr, mask=mask)
            else:
                sigma = float(np.sqrt(max(float(sample.mean()), 0.0)))
            if not sigma > 0:
                sigma = float(sample.std()) or 1.0
            offset, scale = med, 1.0 / sigma
            out = (arr - offset) * scale
        else:
            offset, scale = 0.0, 1.0
            out = arr.copy()
        scaled[element] = out.astype(np.float32, copy=False)
        rows.append({"channel": element, "offset": offset, "scale": scale})
    return scaled, pd.DataFrame(rows).set_index("channel")


def sample_mask(
    maps: Mapping[str, np.ndarray] | None = None,
    *,
    ct: np.ndarray | None = None,
    method: str = "otsu",
    min_contrast: float = 0.3,
    min_size_px: int = 9,
) -> np.ndarray:
    """Mask of the sample (True) excluding void and the outside, from total counts or a CT slice.

    The total of all element maps (raw counts), or the CT slice when given, is thresholded
    with Otsu's method. Criterion for "no outside": if the mean of the dark class is more than
    ``min_contrast`` times the mean of the bright class, the whole map is sample (a map cut
    inside the sample has no void to find).

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray, optional
        Element maps (used when ``ct`` is None).
    ct : numpy.ndarray, optional
        CT slice on the map grid (dark = void).
    method : {"otsu", "none"}
        ``"none"``: every pixel is sample.
    min_contrast : float
        See above.
    min_size_px : int
        Sample specks smaller than this (pixels) are dropped.

    Returns
    -------
    numpy.ndarray
        bool (y, x).
    """
    from scipy import ndimage as ndi
    from skimage.filters import threshold_otsu

    if ct is not None:
        total = np.asarray(ct, dtype=np.float64)
        if total.ndim != 2:
            raise InputError(f"ct has shape {total.shape}; expected a 2D slice on the map grid")
        if maps is not None:
            shape = check_maps(maps)
            if total.shape != shape:
                raise InputError(f"ct has shape {total.shape}; expected the map shape {shape}")
    elif maps is not None:
        check_maps(maps)
        total = np.sum([np.asarray(v, dtype=np.float64) for v in maps.values()], axis=0)
    else:
        raise InputError("sample_mask needs maps or ct")
    if method == "none":
        return np.ones(total.shape, dtype=bool)
    if method != "otsu":
        raise InputError(f"mask method={method!r}; expected 'otsu' or 'none'")
    if np.ptp(total) == 0:
        return np.ones(total.shape, dtype=bool)
    threshold = threshold_otsu(total)
    mask = total > threshold
    dark, bright = total[~mask], total[mask]
    if dark.size == 0 or bright.size == 0 or dark.mean() > min_contrast * bright.mean():
        return np.ones(total.shape, dtype=bool)
    if min_size_px > 1:
        objects, n = ndi.label(mask)
        if n:
            sizes = np.bincount(objects.ravel())
            keep = sizes >= int(min_size_px)
            keep[0] = False
            mask = keep[objects]
    return mask
