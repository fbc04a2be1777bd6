"""Particle bootstrap: 95 % intervals of the liberation statistics.

The particles (the sampling unit) are resampled with replacement, stratified by size class
(each class keeps its particle count), ``n_boot`` times. A replicate is a row of integer weights
``W[b, i]`` (how often particle ``i`` is drawn; multinomial, :func:`bootstrap_weights`); the 2D
section particles follow their parent particle (a section gets its parent's weight). Every
statistic used here is a ratio of weighted sums, ``(W @ N) / (W @ D)``, so a replicate costs
two matrix products and no loop over particles; the replicates are processed in chunks of rows
to bound memory. The interval is the percentile interval (2.5 and 97.5 percentiles of the
replicates).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.composition import (
    _included,
    amounts,
    assign_class,
    check_by,
    check_classes,
    check_target,
    check_threshold,
    class_labels,
    grades,
)

#: Default number of bootstrap replicates.
DEFAULT_N_BOOT = 1000
#: Size classes with fewer particles are marked (``few_particles``) in the tables.
MIN_PARTICLES = 30
#: Weights held in memory at once (replicates × particles).
CHUNK_CELLS = 1 << 22


def check_n_boot(n_boot) -> int:
    """Validate the number of replicates (0 = no bootstrap, else >= 100)."""
    try:
        b = int(n_boot)
    except (TypeError, ValueError):
        raise InputError(f"bootstrap={n_boot!r} is not an integer; expected 0 (off) or >= 100 replicates") from None
    if b != n_boot or (b != 0 and b < 100):
        raise InputError(f"bootstrap={n_boot!r}; expected 0 (off) or an integer >= 100 replicates (1000 advised)")
    return b


def bootstrap_weights(strata: np.ndarray, n_boot: int, *, seed=0, chunk: int | None = None) -> Iterator[np.ndarray]:
    """Yield the bootstrap weights in chunks of replicates, stratified by ``strata``.

    Parameters
    ----------
    strata : ndarray, shape (n,)
        Stratum label of every particle (e.g. its size class).
    n_boot : int
        Number of replicates in all.
    seed : int or numpy.random.Generator
        Seed; the same seed gives the same weights.
    chunk : int, optional
        Replicates per chunk (default: about :data:`CHUNK_CELLS` weights per chunk).

    Yields
    ------
    ndarray of int64, shape (b, n)
        ``W[r, i]``: times particle ``i`` is drawn in replicate ``r``; every row sums to ``n`` and
        to each stratum's size over that stratum.
    """
    strata = np.asarray(strata)
    n = len(strata)
    if chunk is None:
        chunk = max(1, CHUNK_CELLS // max(n, 1))
    groups = [np.flatnonzero(strata == s) for s in pd.unique(strata)]
    # one independent stream per stratum: the draws do not depend on the chunk size
    parent = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    rngs = parent.spawn(len(groups))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        w = np.zeros((b, n), dtype=np.int64)
        for idx, rng in zip(groups, rngs):
            k = len(idx)
            w[:, idx] = rng.multinomial(k, np.full(k, 1.0 / k), size=b)
        yield w
        done += b


def _ratio(w: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``(w @ num) / (w @ den)``, NaN where the denominator is 0. Shapes (b, n) @ (n, k) -> (b, k)."""
    top = w @ num
    bottom = w @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def _ci(reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles over axis 0, NaN where every replicate is NaN."""
    out = np.full((2,) + reps.shape[1:], np.nan)
    nan = np.isnan(reps)
    full = ~np.any(nan, axis=0)
    some = ~full & ~np.all(nan, axis=0)
    if np.any(full):
        out[:, full] = np.percentile(reps[:, full], [2.5, 97.5], axis=0)
    if np.any(some):  # replicates without the mineral (or class) give NaN: left out
        out[:, some] = np.nanpercentile(reps[:, some], [2.5, 97.5], axis=0)
    return out[0], out[1]


class _Stats:
    """Numerators/denominators of every statistic as columns of two (n, k) matrices per table."""

    def __init__(self, n: int):
        self.n = n
        self.num: list[np.ndarray] = []
        self.den: list[np.ndarray] = []
        self.keys: list[tuple] = []

    def add(self, key: tuple, num: np.ndarray, den: np.ndarray) -> None:
        num = np.asarray(num, dtype=float).reshape(self.n, -1)
        den = np.broadcast_to(np.asarray(den, dtype=float).reshape(self.n, -1), num.shape)
        self.num.append(num)
        self.den.append(np.array(den))
        self.keys.append((key, num.shape[1]))

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.num:
            return np.zeros((self.n, 0)), np.zeros((self.n, 0))
        return np.concatenate(self.num, axis=1), np.concatenate(self.den, axis=1)

    def split(self, values: np.ndarray) -> dict:
        out, k = {}, 0
        for key, width in self.keys:
            out[key] = values[..., k:k + width]
            k += width
        return out


def _size_masks(t: pd.DataFrame, classes: list[str]) -> dict[str, np.ndarray]:
    c = t["size_class"].astype(str).to_numpy() if "size_class" in t.columns else np.full(len(t), "all")
    return {sc: (np.ones(len(t), bool) if sc == "all" else c == sc) for sc in classes}


def _add_table_stats(st: _Stats, t: pd.DataFrame, dim: str, *, minerals, names, thr, bounds, levels, classes,
                     gr_cuts, gr_basis, curves) -> None:
    """Register the statistics of one table (3D particles or 2D sections)."""
    masks = _size_masks(t, classes)
    n_cls = len(class_labels(bounds))
    for basis in ("volume", "mass"):
        a, tot = amounts(t, minerals, basis)
        g = grades(t, minerals, basis)
        if dim == "3D":
            st.add(("modal", basis), a, tot)
        for name in names:
            j = minerals.names.index(name)
            aj, gj = a[:, j], g[:, j]
            onehot = np.eye(n_cls)[assign_class(gj, bounds)]  # (n, K)
            above = gj[:, None] * 100.0 >= levels[None, :] - 1e-9  # (n, L)
            lib = (gj >= thr - 1e-12).astype(float)
            for sc, msk in masks.items():
                am = aj * msk
                st.add(("lib", dim, basis, sc, name), am * lib, am)
                if not curves:
                    continue
                st.add(("classes", dim, basis, sc, name), am[:, None] * onehot, am)
                if sc == "all":  # curves: whole sample only (memory: n particles x levels)
                    st.add(("yield", dim, basis, sc, name), am[:, None] * above, am)
            if basis == gr_basis and curves:
                acc = (gj[:, None] * 100.0 >= gr_cuts[None, :] - 1e-9).astype(float)
                st.add(("gr_grade", dim, name), aj[:, None] * acc, tot[:, None] * acc)
                st.add(("gr_recovery", dim, name), aj[:, None] * acc, aj)
                st.add(("gr_yield", dim, name), tot[:, None] * acc, tot)


def bootstrap_intervals(
    particles: pd.DataFrame,
    sections: pd.DataFrame | None,
    *,
    minerals: MineralList,
    target: str | None = None,
    threshold: float = 0.9,
    classes=None,
    by: str = "volume",
    n_boot: int = DEFAULT_N_BOOT,
    seed=0,
    step_percent: float = 1.0,
    curves: bool = True,
) -> dict:
    """95 % particle-bootstrap intervals of the liberation statistics (see the module docstring).

    Parameters
    ----------
    particles : DataFrame
        Particle table (3D); rows with ``excluded`` are left out. Strata: ``size_class``.
    sections : DataFrame, optional
        Section table (2D) with ``particle_id``; its rows follow their parent particle.
    minerals, target, threshold, classes
        As :func:`liberation.stats.liberation_classes`.
    by : {"volume", "mass"}
        Basis of the grade-recovery curve (the other statistics are done on both bases).
    n_boot : int
        Replicates (>= 100; 1000 or more advised).
    seed : int
        Seed of the resampling.
    step_percent : float
        Grade step of the cumulative-yield and grade-recovery curves (as in those functions).
    curves : bool
        Also the class distributions, cumulative yield and grade-recovery (False: liberated
        fractions, their 2D - 3D difference and the modal mineralogy only).

    Returns
    -------
    dict
        ``{key: (low, high)}``, arrays: ``("lib", dim, basis, size_class, mineral)`` shape (1,);
        ``("bias", basis, size_class, mineral)``; ``("classes", dim, basis, size_class, mineral)``
        shape (n_classes,); ``("yield", ...)`` shape (n_levels,); ``("modal", basis)`` shape
        (n_minerals,) (fractions); ``("gr_grade" | "gr_recovery" | "gr_yield", dim, mineral)``
        shape (n_cuts,). Plus ``"n_boot"`` and ``"seed"``.
    """
    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    bounds = check_classes(classes)
    check_by(by)
    b_total = check_n_boot(n_boot)
    t3 = _included(particles).reset_index(drop=True)
    n = len(t3)
    if b_total == 0 or n == 0:
        return {"n_boot": 0, "seed": seed}
    c3 = t3["size_class"].astype(str).to_numpy() if "size_class" in t3.columns else np.full(n, "all")
    size_classes = ["all"] + [c for c in pd.unique(c3) if c != "all"]
    levels = np.arange(0.0, 100.0 + 1e-9, step_percent)
    gr_cuts = np.arange(100.0, -1e-9, -step_percent)
    kw = dict(minerals=minerals, names=names, thr=thr, bounds=bounds, levels=levels, classes=size_classes,
              gr_cuts=gr_cuts, gr_basis=by, curves=curves)
    st3 = _Stats(n)
    _add_table_stats(st3, t3, "3D", **kw)
    n3, d3 = st3.matrices()
    have_2d = sections is not None and len(_included(sections)) > 0
    if have_2d:
        t2 = _included(sections).reset_index(drop=True)
        pos = pd.Index(t3["particle_id"].to_numpy()).get_indexer(t2["particle_id"].to_numpy())
        t2 = t2[pos >= 0].reset_index(drop=True)
        pos = pos[pos >= 0]
        st2 = _Stats(len(t2))
        _add_table_stats(st2, t2, "2D", **kw)
        n2, d2 = st2.matrices()
    reps3, reps2 = [], []
    chunk = max(1, CHUNK_CELLS // max(n + (len(pos) if have_2d else 0), 1))
    for w in bootstrap_weights(c3, b_total, seed=seed, chunk=chunk):
        wf = w.astype(float)
        reps3.append(_ratio(wf, n3, d3))
        if have_2d:
            reps2.append(_ratio(wf[:, pos], n2, d2))
    r3 = st3.split(np.concatenate(reps3, axis=0))
    r2 = st2.split(np.concatenate(reps2, axis=0)) if have_2d else {}
    out: dict = {"n_boot": b_total, "seed": seed}
    for reps in (r3, r2):
        for key, val in reps.items():
            out[key] = _ci(val)
    if have_2d:
        for key, val in r3.items():
            if key[0] == "lib":
                k2 = ("lib", "2D") + key[2:]
                if k2 in r2:
                    out[("bias",) + key[2:]] = _ci(r2[k2] - val)
    return out


def _fill(df: pd.DataFrame, col: str, mask: np.ndarray, values) -> None:
    if col not in df.columns:
        df[col] = np.nan
    values = np.asarray(values, dtype=float).ravel()
    if int(mask.sum()) == len(values):
        df.loc[mask, col] = values


def attach_intervals(ci: dict, *, liberation: pd.DataFrame | None = None, cumulative_yield: pd.DataFrame | None = None,
                     grade_recovery: pd.DataFrame | None = None, modal: pd.DataFrame | None = None,
                     comparison: pd.DataFrame | None = None, minerals: MineralList | None = None) -> None:
    """Add the ``*_ci95_low`` / ``*_ci95_high`` columns of :func:`bootstrap_intervals` to the tables (in place).

    Columns: ``mineral_share`` (liberation classes), ``cumulative_share`` (cumulative yield, whole
    sample), ``grade``, ``recovery``, ``yield_fraction`` (grade-recovery), ``volume_percent`` and
    ``mass_percent`` (modal), ``liberated_fraction_3d``, ``liberated_fraction_2d`` and
    ``liberated_fraction_bias`` (comparison). NaN where no interval was computed.
    """
    def put(df, col, mask, key, scale=1.0):
        if key in ci:
            lo, hi = ci[key]
            _fill(df, f"{col}_ci95_low", mask, np.asarray(lo) * scale)
            _fill(df, f"{col}_ci95_high", mask, np.asarray(hi) * scale)
        else:
            for end in ("low", "high"):
                if f"{col}_ci95_{end}" not in df.columns:
                    df[f"{col}_ci95_{end}"] = np.nan

    def groups(df, cols):
        if df is None or len(df) == 0:
            return
        keys = df[cols].astype(str)
        for vals, idx in keys.groupby(cols, sort=False).groups.items():
            mask = df.index.isin(idx)
            yield (vals if isinstance(vals, tuple) else (vals,)), mask

    for (dim, basis, sc, mineral), mask in groups(liberation, ["dimension", "basis", "size_class", "mineral"]):
        put(liberation, "mineral_share", mask, ("classes", dim, basis, sc, mineral))
    for (dim, basis, sc, mineral), mask in groups(cumulative_yield, ["dimension", "basis", "size_class",
                                                                      "mineral"]):
        put(cumulative_yield, "cumulative_share", mask, ("yield", dim, basis, sc, mineral))
    for (dim, mineral), mask in groups(grade_recovery, ["dimension", "mineral"]):
        put(grade_recovery, "grade", mask, ("gr_grade", dim, mineral))
        put(grade_recovery, "recovery", mask, ("gr_recovery", dim, mineral))
        put(grade_recovery, "yield_fraction", mask, ("gr_yield", dim, mineral))
    if modal is not None and len(modal):
        allm = np.ones(len(modal), bool)
        put(modal, "volume_percent", allm, ("modal", "volume"), 100.0)
        put(modal, "mass_percent", allm, ("modal", "mass"), 100.0)
    for (basis, sc, mineral), mask in groups(comparison, ["basis", "size_class", "mineral"]):
        put(comparison, "liberated_fraction_3d", mask, ("lib", "3D", basis, sc, mineral))
        put(comparison, "liberated_fraction_2d", mask, ("lib", "2D", basis, sc, mineral))
        put(comparison, "liberated_fraction_bias", mask, ("bias", basis, sc, mineral))
