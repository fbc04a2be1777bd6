"""Fragment size distributions: passing curve, P50 / P80, Rosin-Rammler fit, oversize alarm, plot.

Sizes are one number per fragment (e.g. ``ecd_cm`` from :func:`liberation.deploy.fragments.fragment_sizes`).
The passing curve is cumulative and weighted: by default by volume (``size**3``, the usual
image-based proxy for mass passing a sieve), or by projected area (``size**2``), by number, or
by any weights given. No file I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liberation.errors import InputError

__all__ = [
    "SizeDistribution",
    "passing_curve",
    "percentile_size",
    "rosin_rammler",
    "fit_rosin_rammler",
    "oversize_alarm",
    "size_distribution",
    "plot_size_distribution",
]

_POWERS = {"number": 0, "length": 1, "area": 2, "volume": 3}


def _as_sizes(sizes) -> np.ndarray:
    s = np.asarray(sizes, dtype=float).ravel()
    if s.size == 0:
        raise InputError("sizes is empty; expected at least one fragment size")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError("sizes must be finite and positive (one size per fragment, e.g. ecd_cm)")
    return s


def _weights(sizes: np.ndarray, weights) -> np.ndarray:
    if isinstance(weights, str):
        if weights not in _POWERS:
            raise InputError(f"weights={weights!r}; expected one of {sorted(_POWERS)} or an array of weights")
        return sizes ** _POWERS[weights]
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != sizes.shape:
        raise InputError(f"weights has {w.size} values but sizes has {sizes.size}; they must match")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("weights must be finite, non-negative and not all zero")
    return w


def passing_curve(sizes, *, weights="volume") -> pd.DataFrame:
    """Cumulative passing curve.

    Parameters
    ----------
    sizes : array_like, shape (n,)
        Fragment sizes (any length unit; the curve keeps it).
    weights : {"volume", "area", "length", "number"} or array_like, shape (n,)
        Weight of each fragment: ``size**3``, ``size**2``, ``size``, 1, or given weights.

    Returns
    -------
    pandas.DataFrame
        ``size`` (ascending) and ``passing_pct``: percent of the total weight in fragments of
        that size or smaller.
    """
    s = _as_sizes(sizes)
    w = _weights(s, weights)
    order = np.argsort(s, kind="stable")
    s, w = s[order], w[order]
    passing = np.cumsum(w) / w.sum() * 100.0
    return pd.DataFrame({"size": s, "passing_pct": passing})


def percentile_size(sizes, q, *, weights="volume") -> float | np.ndarray:
    """Size at which ``q`` percent passes (``q=80`` gives P80), by linear interpolation of the passing curve.

    Below the first point of the curve the smallest size is returned.
    """
    curve = passing_curve(sizes, weights=weights)
    qa = np.asarray(q, dtype=float)
    if np.any((qa < 0) | (qa > 100)) or not np.all(np.isfinite(qa)):
        raise InputError(f"q={q!r}; expected percentages between 0 and 100")
    # collapse equal passing values (zero weights) so np.interp sees an increasing abscissa
    p, idx = np.unique(curve["passing_pct"].to_numpy(), return_index=True)
    out = np.interp(qa, p, curve["size"].to_numpy()[idx])
    return float(out) if out.ndim == 0 else out


def rosin_rammler(size, x63: float, n: float):
    """Rosin-Rammler passing fraction ``1 - exp(-(size / x63) ** n)`` (0..1)."""
    return 1.0 - np.exp(-((np.asarray(size, dtype=float) / x63) ** n))


def fit_rosin_rammler(sizes, passing_pct) -> tuple[float, float, float]:
    """Fit a Rosin-Rammler curve to a passing curve.

    Linear least squares of ``ln(-ln(1 - P))`` against ``ln(size)`` on the points with
    0 < P < 100 %.

    Returns
    -------
    (x63, n, r2)
        Characteristic size (63.2 % passing, same unit as ``sizes``), uniformity index and the
        coefficient of determination of the linearised fit. NaNs if fewer than 2 usable points.
    """
    s = _as_sizes(sizes)
    p = np.asarray(passing_pct, dtype=float).ravel() / 100.0
    if p.shape != s.shape:
        raise InputError(f"passing_pct has {p.size} values but sizes has {s.size}; they must match")
    ok = (p > 0) & (p < 1)
    if ok.sum() < 2 or np.ptp(np.log(s[ok])) == 0:
        return float("nan"), float("nan"), float("nan")
    x = np.log(s[ok])
    y = np.log(-np.log1p(-p[ok]))
    n, c = np.polyfit(x, y, 1)
    pred = n * x + c
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return float(np.exp(-c / n)), float(n), r2


def oversize_alarm(sizes, *, limit: float, weights="volume", max_fraction: float = 0.0) -> dict:
    """Oversize check: weight fraction of fragments larger than ``limit``.

    Parameters
    ----------
    sizes : array_like, shape (n,)
        Fragment sizes.
    limit : float
        Oversize limit, same unit as ``sizes`` (e.g. the crusher gape in cm).
    weights : str or array_like
        As in :func:`passing_curve`.
    max_fraction : float
        Tolerated oversize weight fraction (0..1); the alarm is raised above it.

    Returns
    -------
    dict
        ``limit``, ``count`` (fragments above the limit), ``fraction`` (weight fraction above it),
        ``max_fraction`` and ``alarm`` (bool).
    """
    s = _as_sizes(sizes)
    if not np.isfinite(limit) or limit <= 0:
        raise InputError(f"limit={limit!r}; expected a positive size")
    if not 0.0 <= max_fraction < 1.0:
        raise InputError(f"max_fraction={max_fraction!r}; expected a fraction in [0, 1)")
    w = _weights(s, weights)
    big = s > limit
    frac = float(w[big].sum() / w.sum())
    return {"limit": float(limit), "count": int(big.sum()), "fraction": frac, "max_fraction": float(max_fraction),
            "alarm": bool(frac > max_fraction)}


@dataclass
class SizeDistribution:
    """A fragment size distribution (see :func:`size_distribution`)."""

    curve: pd.DataFrame
    p50: float
    p80: float
    x63: float
    n: float
    r2: float
    unit: str = "cm"
    weights: str = "volume"
    oversize: dict | None = field(default=None)

    def summary(self) -> dict:
        """Plain dict of the scalar results (JSON-serialisable)."""
        return {"unit": self.unit, "weights": self.weights, "n_fragments": int(len(self.curve)),
                "p50": self.p50, "p80": self.p80,
                "rosin_rammler": {"x63": self.x63, "n": self.n, "r2": self.r2}, "oversize": self.oversize}


def size_distribution(sizes, *, weights="volume", oversize_limit: float | None = None,
                      max_oversize_fraction: float = 0.0, unit: str = "cm") -> SizeDistribution:
    """Passing curve, P50, P80, Rosin-Rammler fit and (optionally) the oversize alarm.

    Parameters
    ----------
    sizes : array_like, shape (n,)
        Fragment sizes in ``unit``.
    weights : str or array_like
        As in :func:`passing_curve` (default volume, ``size**3``).
    oversize_limit : float, optional
        Size above which a fragment is oversize; adds the alarm dict.
    max_oversize_fraction : float
        Tolerated oversize weight fraction before the alarm.
    unit : str
        Unit label of the sizes (for plots and summaries).
    """
    curve = passing_curve(sizes, weights=weights)
    p50, p80 = percentile_size(sizes, [50.0, 80.0], weights=weights)
    x63, n, r2 = fit_rosin_rammler(curve["size"], curve["passing_pct"])
    over = None
    if oversize_limit is not None:
        over = oversize_alarm(sizes, limit=oversize_limit, weights=weights, max_fraction=max_oversize_fraction)
    wname = weights if isinstance(weights, str) else "custom"
    return SizeDistribution(curve=curve, p50=float(p50), p80=float(p80), x63=x63, n=n, r2=r2, unit=unit,
                            weights=wname, oversize=over)


def plot_size_distribution(dist: SizeDistribution, *, ax=None, title: str | None = None):
    """Plot the passing curve (log size axis), the Rosin-Rammler fit, P50/P80 and the oversize limit.

    Returns the matplotlib Figure (the caller saves it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    s = dist.curve["size"].to_numpy()
    ax.step(s, dist.curve["passing_pct"], where="post", label=f"measured ({dist.weights})")
    if np.isfinite(dist.x63):
        grid = np.geomspace(s.min(), s.max(), 200)
        ax.plot(grid, 100 * rosin_rammler(grid, dist.x63, dist.n), "--",
                label=f"Rosin-Rammler x63={dist.x63:.3g} n={dist.n:.2f}")
    for q, v in ((50, dist.p50), (80, dist.p80)):
        ax.axvline(v, color="grey", lw=0.8, ls=":")
        ax.annotate(f"P{q}={v:.3g} {dist.unit}", (v, q), fontsize=8)
    if dist.oversize is not None:
        color = "red" if dist.oversize["alarm"] else "orange"
        ax.axvline(dist.oversize["limit"], color=color, lw=1.2, label=f"oversize limit ({dist.oversize['fraction']:.1%})")
    ax.set_xscale("log")
    ax.set_xlabel(f"size ({dist.unit})")
    ax.set_ylabel("cumulative passing (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
