"""Noise-aware unmixing: the posterior mean of a mixed voxel's fraction given its grey value (empirical Bayes).

The linear fraction ``x = (g - L_b) / (L_a - L_b)`` of a voxel of hard phase ``a`` unmixed against phase ``b``
is its true (blurred) fraction ``u`` plus Gaussian noise of ``s = sigma_noise / |L_a - L_b|``. Clipping ``x``
to [0, 1] keeps only one side of the noise of the many near-pure voxels (a bias), and the unclipped ``x``
keeps all of their noise. The posterior mean ``E[u | x]`` under the distribution of ``u`` among the voxels
actually unmixed is unbiased in aggregate (``E[E[u | x]] = E[u]``) and shrinks the noise of near-pure voxels.

That distribution (the *prior*) is fitted from the data, per *class* of voxel: the ordered pair (own hard
phase ``a``, partner ``b``) and the number ``c_b`` of voxels of the partner in the voxel's box, binned by
powers of two (``k = bit_length(c_b) - 1``: 1, 2-3, 4-7, ... voxels), a proxy of the distance to the
boundary. Per class, the histogram of ``x`` over the unmixed voxels of a sample of the volume is
deconvolved by EM into weights on a grid of ``u`` in [0, 1] (a discrete nonparametric maximum-likelihood
prior: point masses at 0 and 1 and everything between, no shape assumed). ``E[u | x]`` is then a function
of ``x`` alone per class, tabulated on a fine grid and interpolated linearly by the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HIST_BINS", "HIST_DX", "HIST_X0", "UnmixPrior", "class_count", "fit_prior", "linear_shares", "n_count_classes"]

#: Histogram of the linear fractions: bins of ``HIST_DX`` from ``HIST_X0`` (values beyond go to the end bins).
HIST_X0 = -1.0
HIST_DX = 0.005
HIST_BINS = 600
#: Table of the posterior means: ``TABLE_N`` points from ``HIST_X0`` in steps of ``TABLE_DX``.
TABLE_DX = 0.0025
TABLE_N = 1201


def n_count_classes(radius: int) -> int:
    """Count classes of a ``(2 radius + 1)^3`` box (:func:`count_class`)."""
    return COUNT_CLASSES


#: Count classes: the voxels of other phases in the box, in equal bins of ``n_nb / COUNT_CLASSES``.
COUNT_CLASSES = 16


def count_class(other, n_nb: int):
    """Class of ``other`` voxels of other phases in a box of ``n_nb``: ``other * COUNT_CLASSES // n_nb``."""
    return np.minimum(np.asarray(other, dtype=np.int64) * COUNT_CLASSES // n_nb, COUNT_CLASSES - 1)


def class_count(n_phases: int, radius: int) -> int:
    """Classes ``((lo * P + hi) * P + a) * K + k`` of ``P`` phases and ``K`` count classes."""
    return int(n_phases) ** 3 * n_count_classes(radius)


@dataclass(frozen=True)
class UnmixPrior:
    """Tables of the posterior mean shares of the two bracketing phases, per class of mixed voxel.

    A mixed voxel of hard phase ``a`` is bracketed by ``lo`` and ``hi`` (the most frequent neighbouring phases
    with a level below and above ``L_a``; ``a`` itself on a side without one); ``w = (g - L_lo) / (L_hi - L_lo)``
    is its normalised grey value. Its class is ``((lo * P + hi) * P + a) * K + k`` with ``k = bit_length(voxels
    of other phases in the box) - 1`` (capped at ``K - 1``).

    Attributes
    ----------
    n_phases : int
        Phase ids 0..n_phases-1 (``P``).
    n_classes : int
        Count classes ``K`` (:func:`n_count_classes`).
    row : ndarray of int64, shape (P * P * P * K,)
        Row of each class in ``tables``; -1: the linear shares (no prior fitted: too few voxels, or a contrast so
        high that the noise does not matter).
    tables : ndarray of float64, shape (n_rows, 2, TABLE_N)
        ``tables[row, 0, j]`` (``[row, 1, j]``) = ``E[share of lo (hi) | w = HIST_X0 + j TABLE_DX]``.
    samples : ndarray of int64, shape (P * P * P * K,)
        Voxels of the sample in each class.
    pooled : ndarray of bool, shape (P * P * P * K,)
        The class uses the prior of its bracket with all its count classes pooled (too few voxels of its own).
    """

    n_phases: int
    n_classes: int
    row: np.ndarray
    tables: np.ndarray
    samples: np.ndarray
    pooled: np.ndarray

    def shares(self, cls: np.ndarray, w: np.ndarray, levels: np.ndarray):
        """Shares ``(s_lo, s_hi)`` of classes ``cls`` at normalised grey values ``w`` (the kernels' rule)."""
        cls = np.asarray(cls, dtype=np.int64)
        w = np.asarray(w, dtype=np.float64)
        P, K = self.n_phases, self.n_classes
        a = (cls // K) % P
        hi = (cls // (K * P)) % P
        lo = cls // (K * P * P)
        s_lo, s_hi = linear_shares(w, lo, hi, a, levels)
        r = self.row[cls]
        fit = r >= 0
        if fit.any():
            t = np.clip((w[fit] - HIST_X0) / TABLE_DX, 0.0, TABLE_N - 1.0)
            i = np.minimum(t.astype(np.int64), TABLE_N - 2)
            u = t - i
            tab = self.tables[r[fit]]
            n = np.arange(i.size)
            s_lo[fit] = tab[n, 0, i] * (1.0 - u) + tab[n, 0, i + 1] * u
            s_hi[fit] = tab[n, 1, i] * (1.0 - u) + tab[n, 1, i + 1] * u
        return s_lo, s_hi


def linear_shares(w, lo, hi, a, levels):
    """Linear shares of a bracketed voxel: one partner: the unclipped linear fraction; two: the side of ``L_a``
    that ``g`` lies on (``(w - w_a) / (1 - w_a)`` of ``hi`` above ``w_a``, ``(w_a - w) / w_a`` of ``lo`` below)."""
    w = np.asarray(w, dtype=np.float64)
    s_lo = np.zeros(w.shape)
    s_hi = np.zeros(w.shape)
    one_hi = lo == a
    one_lo = hi == a
    s_hi[one_hi] = w[one_hi]
    s_lo[one_lo] = 1.0 - w[one_lo]
    two = ~one_hi & ~one_lo
    if two.any():
        wa = (levels[a[two]] - levels[lo[two]]) / (levels[hi[two]] - levels[lo[two]])
        ww = w[two]
        s_hi[two] = np.where(ww > wa, (ww - wa) / (1.0 - wa), 0.0)
        s_lo[two] = np.where(ww < wa, (wa - ww) / wa, 0.0)
    return s_lo, s_hi


def _posterior_tables(weights, grid, wa, s, xs):
    """``E[share_lo | w]``, ``E[share_hi | w]`` on ``xs`` for a prior ``weights`` on ``grid``, Gaussian noise ``s``."""
    z = -0.5 * ((xs[:, None] - grid[None, :]) / s) ** 2 + np.log(np.maximum(weights, 1e-300))[None, :]
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    lo = np.where(grid < wa, (wa - grid) / max(wa, 1e-12), 0.0)
    hi = np.where(grid > wa, (grid - wa) / max(1.0 - wa, 1e-12), 0.0)
    return p @ lo, p @ hi


def _em(hist, lik, iters):
    """Weights on the grid maximising the likelihood of the binned ``hist`` (rows: classes), by EM."""
    n = hist.sum(axis=1, keepdims=True)
    w = np.full((hist.shape[0], lik.shape[1]), 1.0 / lik.shape[1])
    for _ in range(iters):
        mix = w @ lik.T  # (C, B)
        ratio = np.where(hist > 0, hist / np.maximum(mix, 1e-300), 0.0)
        w = w * (ratio @ lik) / n
    return w


def fit_prior(hist: np.ndarray, levels, sig: float, *, radius: int, min_samples: int = 200,
              min_noise: float = 0.02, grid_points: int = 41, iters: int = 300) -> UnmixPrior:
    """Fit the per-class priors to the histograms of the normalised grey values and tabulate the posterior shares.

    Parameters
    ----------
    hist : ndarray of int64, shape (P * P * P * K, HIST_BINS)
        Counts of ``w`` of the mixed voxels of a sample, per class (see :class:`UnmixPrior`).
    levels : ndarray of float64, shape (P,)
        Grey levels (NaN: unknown).
    sig : float
        Noise standard deviation (grey).
    radius : int
        Box radius of the unmixing (fixes ``K``).
    min_samples : int
        A class with fewer voxels uses the prior of its bracket (all its count classes pooled); a bracket with
        fewer, the linear shares.
    min_noise : float
        Brackets whose relative noise ``s = sig / (L_hi - L_lo)`` is below this stay linear.
    grid_points, iters
        Grid of the prior's ``w`` in [0, 1] (plus ``w_a``, the own phase's pure grey) and EM iterations.

    Returns
    -------
    UnmixPrior
    """
    levels = np.asarray(levels, dtype=np.float64)
    P = levels.size
    K = n_count_classes(radius)
    hist = np.asarray(hist, dtype=np.float64).reshape(P, P, P, K, HIST_BINS)
    samples = hist.sum(axis=4).astype(np.int64)
    row = np.full((P, P, P, K), -1, np.int64)
    pooled = np.zeros((P, P, P, K), bool)
    tables = []
    xs = HIST_X0 + TABLE_DX * np.arange(TABLE_N)
    centres = HIST_X0 + HIST_DX * (np.arange(HIST_BINS) + 0.5)
    if np.isfinite(sig) and sig > 0:
        for lo, hi, a in zip(*np.nonzero(samples.sum(axis=3) >= min_samples)):
            if lo == hi or not (lo == a or hi == a or levels[lo] < levels[a] < levels[hi]):
                continue
            s = sig / (levels[hi] - levels[lo])
            if not np.isfinite(s) or s <= 0 or s < min_noise:
                continue
            wa = (levels[a] - levels[lo]) / (levels[hi] - levels[lo])
            grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, grid_points), [wa]]))
            own = samples[lo, hi, a] >= min_samples
            rows = np.concatenate([hist[lo, hi, a][own], hist[lo, hi, a].sum(axis=0, keepdims=True)])
            s_bin = np.sqrt(s**2 + HIST_DX**2 / 12)  # the bins' width adds to the noise of the binned w
            lik = np.exp(-0.5 * ((centres[:, None] - grid[None, :]) / s_bin) ** 2)
            w = _em(rows, lik, iters)
            base = len(tables)
            tables.append(np.stack(_posterior_tables(w[-1], grid, wa, s, xs)))
            row[lo, hi, a] = base
            pooled[lo, hi, a] = True
            for j, k in enumerate(np.flatnonzero(own)):
                tables.append(np.stack(_posterior_tables(w[j], grid, wa, s, xs)))
                row[lo, hi, a, k] = len(tables) - 1
                pooled[lo, hi, a, k] = False
    tab = np.stack(tables) if tables else np.zeros((0, 2, TABLE_N))
    return UnmixPrior(n_phases=P, n_classes=K, row=row.reshape(-1), tables=tab, samples=samples.reshape(-1),
                      pooled=pooled.reshape(-1))
