"""Multi-modal similarity: quantile binning, mutual information, and MI for all translations by FFT."""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

__all__ = ["quantile_bins", "level_bins", "mutual_information", "fft_nmi_translation", "map_structure_pixels"]


def map_structure_pixels(map_image: np.ndarray, *, mask: np.ndarray | None = None, n_sd: float = 4.0,
                         smooth_px: float = 1.0, min_blob_px: int = 9) -> int:
    """Map pixels that stand out from the map's dominant level: what a pose can be found from.

    The map is smoothed (Gaussian, ``smooth_px`` pixels); its dominant level is the middle of the
    shortest interval holding half the smoothed values (the mode of a map that is mostly void or
    mostly one phase, whichever side the minority lies on); its pixel noise is estimated from the
    differences of neighbouring pixels (MAD / sqrt 2, robust to the few edges). A pixel stands out
    when its smoothed value lies more than ``n_sd`` noise standard deviations (of the smoothed map)
    from the dominant level, in a connected blob of at least ``min_blob_px`` such pixels (isolated
    noise tails do not count). The smoothing adds a halo of about 2 pixels around a strong edge
    (a 10 x 10 particle of 40 counts on a void of 2 counts: 184 pixels).

    Parameters
    ----------
    map_image : numpy.ndarray, shape (rows, columns)
        The map (any units).
    mask : numpy.ndarray of bool, shape (rows, columns), optional
        Valid map pixels; only these are counted and used for the level and the noise.
    n_sd : float
        Threshold in noise standard deviations.
    smooth_px : float
        Gaussian sigma of the smoothing, map pixels.
    min_blob_px : int
        Smallest blob (4-connected) that counts.

    Returns
    -------
    int
        The number of map pixels that stand out. On the zoo's maps: an empty sparse section
        11 (0 % particle pixels; Poisson counts of mean 2), a 48 x 48 sparse section with 12 %
        particle pixels about 400, dense-core and particle maps at least 10 % of their pixels
        (docs/registration.md, session 9).
    """
    from scipy import ndimage as ndi

    m = np.asarray(map_image, dtype=np.float64)
    valid = np.isfinite(m) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(m))
    if np.count_nonzero(valid) < 4:
        return 0
    fill = float(np.median(m[valid]))
    m = np.where(valid, m, fill)
    diffs = [(m[:, 1:] - m[:, :-1])[valid[:, 1:] & valid[:, :-1]], (m[1:] - m[:-1])[valid[1:] & valid[:-1]]]
    d = np.concatenate(diffs)
    if d.size == 0:
        return 0
    sd = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2.0)
    sm = ndi.gaussian_filter(m, smooth_px, mode="nearest")
    radius = int(np.ceil(4 * smooth_px))
    impulse = np.zeros((2 * radius + 1,) * 2)
    impulse[radius, radius] = 1.0
    sd_smooth = sd * float(np.sqrt(np.sum(ndi.gaussian_filter(impulse, smooth_px) ** 2)))
    v = np.sort(sm[valid])
    half = v.size // 2
    i = int(np.argmin(v[half:] - v[: v.size - half]))
    level = 0.5 * (v[i] + v[i + half])
    # a noise-free map (sd 0) counts every pixel off its dominant level
    out = valid & (np.abs(sm - level) > max(n_sd * sd_smooth, 1e-12 * max(abs(level), 1.0)))
    lab, _ = ndi.label(out)
    sizes = np.bincount(lab.ravel())
    keep = sizes >= int(min_blob_px)
    keep[0] = False
    return int(np.count_nonzero(keep[lab]))


def quantile_bins(values: np.ndarray, n_bins: int, *, reference: np.ndarray | None = None) -> np.ndarray:
    """Bin indices ``0..n_bins-1`` of ``values`` by the quantiles of ``reference`` (default ``values``).

    Quantile bins make the score insensitive to any monotone change of intensity; ties
    (e.g. a large void region) merge bins, so fewer than ``n_bins`` may be used.
    """
    ref = values if reference is None else reference
    ref = np.asarray(ref)[np.isfinite(ref)]
    if ref.size == 0:
        return np.zeros(np.shape(values), dtype=np.int16)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right").astype(np.int16)


def level_bins(
    values: np.ndarray, n_bins: int, *, reference: np.ndarray | None = None, iterations: int = 30
) -> np.ndarray:
    """Bin indices ``0..n_bins-1`` of ``values`` at the natural grey levels of ``reference`` (1D k-means).

    The bin edges are the midpoints between the sorted k-means centres of the ``reference``
    intensities (computed on a 512-bin histogram between its 0.1 and 99.9 percentiles, started
    from its quantiles). Unlike quantile bins, a phase covering most of the image (e.g. the
    background of an element map, or Poisson noise around a low count) stays one bin instead
    of being split into bins of noise, so the joint histogram keeps the levels that carry the
    structure. Empty clusters are dropped, so fewer than ``n_bins`` may be used.
    """
    ref = values if reference is None else reference
    ref = np.asarray(ref, dtype=np.float64)
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return np.zeros(np.shape(values), dtype=np.int16)
    lo, hi = np.quantile(ref, [0.001, 0.999])
    if hi <= lo:
        return quantile_bins(values, n_bins, reference=ref)
    hist, edges = np.histogram(np.clip(ref, lo, hi), bins=512, range=(lo, hi))
    x = 0.5 * (edges[:-1] + edges[1:])
    centres = np.unique(np.quantile(ref, (np.arange(n_bins) + 0.5) / n_bins))
    for _ in range(int(iterations)):
        cut = 0.5 * (centres[1:] + centres[:-1])
        lab = np.searchsorted(cut, x)
        w = np.bincount(lab, weights=hist, minlength=centres.size)
        s = np.bincount(lab, weights=hist * x, minlength=centres.size)
        keep = w > 0
        new = s[keep] / w[keep]
        if new.size == centres.size and np.allclose(new, centres):
            break
        centres = np.unique(new)
    cut = 0.5 * (centres[1:] + centres[:-1])
    return np.searchsorted(cut, values, side="right").astype(np.int16)


def _xlogx(c: np.ndarray) -> np.ndarray:
    out = np.zeros_like(c)
    pos = c > 0
    out[pos] = c[pos] * np.log(c[pos])
    return out


def _xlogx_counts(c: np.ndarray) -> np.ndarray:
    """``c log c`` for non-negative integer-valued counts (0 log 0 = 1 log 1 = 0)."""
    return c * np.log(np.maximum(c, 1))


def mutual_information(a: np.ndarray, b: np.ndarray, *, bins: int = 32, mask: np.ndarray | None = None) -> dict:
    """Mutual information and normalised MI of two images over a mask (joint histogram, quantile bins).

    Parameters
    ----------
    a, b : numpy.ndarray
        Same shape; non-finite values are left out.
    bins : int
        Number of quantile bins per image.
    mask : numpy.ndarray of bool, optional
        Pixels to use.

    Returns
    -------
    dict
        ``mi`` (nats), ``nmi`` = (H(a) + H(b)) / H(a, b) (1 = independent, 2 = identical),
        ``n`` (pixels used).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool).ravel()
    n = int(ok.sum())
    if n < 2:
        return {"mi": 0.0, "nmi": 1.0, "n": n}
    ia = quantile_bins(a[ok], bins).astype(np.int64)
    ib = quantile_bins(b[ok], bins).astype(np.int64)
    joint = np.bincount(ia * (bins + 1) + ib, minlength=(bins + 1) ** 2).astype(np.float64) / n
    joint = joint.reshape(bins + 1, bins + 1)
    pa, pb = joint.sum(1), joint.sum(0)
    ha = -_xlogx(pa).sum()
    hb = -_xlogx(pb).sum()
    hab = -_xlogx(joint).sum()
    mi = ha + hb - hab
    nmi = (ha + hb) / hab if hab > 0 else 1.0
    return {"mi": float(mi), "nmi": float(nmi), "n": n}


def fft_nmi_translation(
    a_hat: np.ndarray,
    b_hat: np.ndarray,
    *,
    shape: tuple[int, int],
    rows: np.ndarray,
    cols: np.ndarray,
    min_count: float,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised MI of a binned moving image against binned fixed images, for all translations.

    The joint histogram for every translation ``d`` is the cross-correlation of the bin
    indicator images: ``C_ab(d) = sum_u A_a(u) B_b(u + d)``, computed with FFTs.

    Parameters
    ----------
    a_hat : complex array, shape (Ka, P1, P2//2+1)
        ``conj(rfft2(A_a))`` of the moving image's bin indicators (zero outside its mask), padded to (P1, P2).
    b_hat : complex array, shape (S, Kb, P1, P2//2+1)
        ``rfft2(B_b)`` of S fixed images' bin indicators.
    shape : (int, int)
        Padded size (P1, P2).
    rows, cols : int arrays
        Translations to evaluate, as indices modulo (P1, P2).
    min_count : float
        Translations with fewer overlapping pixels get NMI 0.
    workers : int
        Threads for the inverse FFTs.

    Returns
    -------
    nmi : numpy.ndarray, shape (S, len(rows), len(cols))
    count : numpy.ndarray, shape (S, len(rows), len(cols))
        Overlapping pixels.
    """
    prod = a_hat[None, :, None] * b_hat[:, None, :]  # (S, Ka, Kb, P1, P2r)
    part = sfft.ifft(prod, axis=-2, workers=workers)[..., rows, :]
    del prod
    corr = sfft.irfft(part, n=shape[1], axis=-1, workers=workers)[..., cols]
    del part
    np.rint(corr, out=corr)
    np.maximum(corr, 0, out=corr)
    n = corr.sum(axis=(1, 2), dtype=np.float64)
    ca = corr.sum(axis=2, dtype=np.float64)
    cb = corr.sum(axis=1, dtype=np.float64)
    slogs = _xlogx_counts(corr).sum(axis=(1, 2), dtype=np.float64)
    sa = _xlogx_counts(ca).sum(axis=1)
    sb = _xlogx_counts(cb).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logn = np.log(np.maximum(n, 1))
        ha = logn - sa / np.maximum(n, 1)
        hb = logn - sb / np.maximum(n, 1)
        hab = logn - slogs / np.maximum(n, 1)
        nmi = np.where((n >= min_count) & (hab > 1e-9), (ha + hb) / hab, 0.0)
    return nmi, n
