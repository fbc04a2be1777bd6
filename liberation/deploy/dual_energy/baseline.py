"""Classical dual-energy baseline: the R-value with a fitted threshold.

For a transmission ``T = I / I0`` at energy E the log attenuation is ``A = -ln T``; for one
homogeneous material of thickness ``t`` and a monochromatic beam ``A = mu(E) * t``, so the
R-value ``R = A_low / A_high = mu(E_low) / mu(E_high)`` does not depend on thickness and rises
with the effective atomic number (copper sulfides above silicate gangue). Per fragment the
R-value here is the ratio of the summed log attenuations over the fragment pixels (the
thickness-weighted mean). Beam hardening and noise make it drift with thickness in practice,
which is what a learned classifier can correct.

numpy only. No file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liberation.deploy.dual_energy.metrics import classification_metrics, roc_auc
from liberation.errors import InputError

__all__ = ["log_attenuation", "fragment_mask", "r_value", "fit_threshold", "RValueClassifier"]


def _as_pair(high, low) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(high, dtype=float)
    lo = np.asarray(low, dtype=float)
    if h.shape != lo.shape:
        raise InputError(f"high has shape {h.shape} but low has shape {lo.shape}; they must match")
    if h.ndim == 2:
        h, lo = h[None], lo[None]
    if h.ndim != 3:
        raise InputError(f"high has shape {h.shape}; expected (y, x) or (n, y, x) transmission images")
    return h, lo


def log_attenuation(transmission, *, eps: float = 1e-4) -> np.ndarray:
    """``-ln(clip(T, eps, 1))`` of transmission images ``T = I / I0``."""
    t = np.asarray(transmission, dtype=float)
    return -np.log(np.clip(t, eps, 1.0))


def _border_level(a: np.ndarray) -> np.ndarray:
    """Median of the one-pixel image border (the belt), per image; shape (n, 1, 1)."""
    border = np.concatenate([a[:, 0, :], a[:, -1, :], a[:, 1:-1, 0], a[:, 1:-1, -1]], axis=1)
    return np.median(border, axis=1)[:, None, None]


def fragment_mask(high, *, threshold: float = 0.05) -> np.ndarray:
    """Fragment pixels: high-energy log attenuation above the belt level (image border median) + ``threshold``.

    Parameters
    ----------
    high : ndarray, shape (n, y, x) or (y, x)
        High-energy transmission images.
    threshold : float
        Margin in log-attenuation units above the belt.
    """
    a = log_attenuation(high)
    if a.ndim == 2:
        a = a[None]
    return a > _border_level(a) + threshold


def r_value(high, low, *, mask=None, threshold: float = 0.05, belt_correction: bool = True) -> np.ndarray:
    """Fragment R-values ``sum(A_low) / sum(A_high)`` over the fragment pixels.

    Parameters
    ----------
    high, low : ndarray, shape (n, y, x) or (y, x)
        High- and low-energy transmission images ``I / I0`` (values in (0, 1]).
    mask : ndarray of bool, optional
        Fragment pixels, same shape; default :func:`fragment_mask` of ``high``.
    threshold : float
        Mask threshold when ``mask`` is not given.
    belt_correction : bool
        Subtract the belt's log attenuation (the image border median) at each energy first.

    Returns
    -------
    ndarray, shape (n,)
        R-values (NaN for an image without fragment pixels).
    """
    h, lo = _as_pair(high, low)
    ah, al = log_attenuation(h), log_attenuation(lo)
    if belt_correction:
        ah = ah - _border_level(ah)
        al = al - _border_level(al)
    if mask is None:
        m = fragment_mask(h, threshold=threshold)
    else:
        m = np.asarray(mask, dtype=bool)
        if m.ndim == 2:
            m = m[None]
        if m.shape != ah.shape:
            raise InputError(f"mask has shape {m.shape}; expected {ah.shape} like the images")
    sh = (ah * m).sum(axis=(1, 2))
    sl = (al * m).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(sh > 0, sl / sh, np.nan)
    return r


def fit_threshold(scores, labels) -> tuple[float, int]:
    """Threshold on a score that maximises training accuracy.

    Candidates are the midpoints between sorted distinct scores (and both ends). The direction
    is +1 if higher scores mean ore (AUC >= 0.5), else -1 (then ``-score`` is thresholded).

    Returns
    -------
    (threshold, direction)
        ``threshold`` is in the units of ``scores``; call ore when
        ``direction * score >= direction * threshold``.
    """
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels).ravel().astype(np.int64)
    ok = np.isfinite(s)
    s, y = s[ok], y[ok]
    if s.size == 0:
        raise InputError("scores has no finite values; cannot fit a threshold")
    direction = 1 if (np.unique(y).size < 2 or roc_auc(y, s) >= 0.5) else -1
    z = direction * s
    order = np.argsort(z, kind="stable")
    zs, ys = z[order], y[order]
    uniq = np.unique(zs)
    cands = np.concatenate([[uniq[0] - 1.0], (uniq[:-1] + uniq[1:]) / 2, [uniq[-1] + 1.0]])
    # accuracy for "ore if z >= c": positives above, negatives below (vectorised by searchsorted)
    idx = np.searchsorted(zs, cands, side="left")
    neg_below = np.concatenate([[0], np.cumsum(ys == 0)])[idx]
    pos_above = int((ys == 1).sum()) - np.concatenate([[0], np.cumsum(ys == 1)])[idx]
    acc = (neg_below + pos_above) / ys.size
    best = cands[int(np.argmax(acc))]
    return float(direction * best), direction


@dataclass
class RValueClassifier:
    """R-value ore/waste classifier with a threshold fitted on training fragments.

    Attributes
    ----------
    threshold : float
        R-value threshold (ore when ``direction * R >= direction * threshold``).
    direction : int
        +1 when higher R means ore (the physical case), -1 otherwise.
    mask_threshold : float
        Log-attenuation margin above the belt for the fragment mask.
    """

    threshold: float = float("nan")
    direction: int = 1
    mask_threshold: float = 0.05

    def score(self, high, low) -> np.ndarray:
        """Oriented R-values (higher = more likely ore); NaN replaced by the lowest score."""
        r = self.direction * r_value(high, low, threshold=self.mask_threshold)
        if np.isnan(r).any():
            r = np.where(np.isnan(r), np.nanmin(r) if np.isfinite(r).any() else 0.0, r)
        return r

    def fit(self, high, low, labels) -> RValueClassifier:
        """Fit the threshold that maximises accuracy on the given fragments."""
        r = r_value(high, low, threshold=self.mask_threshold)
        self.threshold, self.direction = fit_threshold(r, labels)
        return self

    def predict(self, high, low) -> np.ndarray:
        """1 = ore, 0 = waste."""
        if not np.isfinite(self.threshold):
            raise InputError("RValueClassifier is not fitted; call fit(high, low, labels) first")
        return (self.score(high, low) >= self.direction * self.threshold).astype(np.int64)

    def evaluate(self, high, low, labels) -> dict:
        """Metrics (:func:`classification_metrics`) with the R-value as the score."""
        return classification_metrics(labels, self.score(high, low), threshold=self.direction * self.threshold)
