"""Multi-modal similarity: quantile binning, mutual information, and MI for all translations by FFT."""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

__all__ = ["quantile_bins", "level_bins", "mutual_information", "fft_nmi_translation"]


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
