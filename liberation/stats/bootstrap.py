"""Particle bootstrap: 95 % intervals of the liberation statistics.

The particles (the sampling unit) are resampled with replacement, stratified by size class
(each class keeps its particle count), ``n_boot`` times. A replicate is a row of integer weights
``W[b, i]`` (how often particle ``i`` is drawn; multinomial, :func:`bootstrap_weights`); the 2D
section particles follow their parent particle (a section gets its parent's weight). Every
statistic used here is a ratio of weighted sums, ``(W @ N) / (W @ D)``, so a replicate costs
two matrix products and no loop over particles. Memory is bounded: the replicates are drawn in
chunks of rows (about :data:`CHUNK_CELLS` weights, drawn straight as float64), and the
``N``/``D`` columns are written by each statistic's recipe, from compact per-particle arrays
(amounts, class indices, grades), straight into the matrices of one batch of about
:data:`COLUMN_CELLS` cells, used and dropped; only the per-replicate values (``n_boot`` x columns)
are kept. The batches and the operand layouts fix the products' rounding (BLAS rounds a column
differently in a matrix of another width), so they are kept as they are: the same seed gives the
same intervals to the last bit. The interval is the percentile interval (2.5 and 97.5 percentiles of the replicates).
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
CHUNK_CELLS = 1 << 23
#: Numerator cells (particles × statistic columns) built at once, and as many denominator cells.
COLUMN_CELLS = 1 << 23


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
    yield from _weights(strata, n_boot, seed=seed, chunk=chunk, dtype=np.int64)


def _weights(strata: np.ndarray, n_boot: int, *, seed, chunk: int | None, dtype) -> Iterator[np.ndarray]:
    """:func:`bootstrap_weights` drawn straight into ``dtype`` (float64: no int64 copy of the chunk).

    A stratum's multinomial rows are drawn in blocks of about ``CHUNK_CELLS // 8`` cells (the
    generator draws row after row, so the blocks give the same numbers as one call).
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
        w = np.zeros((b, n), dtype=dtype)
        for idx, rng in zip(groups, rngs):
            k = len(idx)
            p = np.full(k, 1.0 / k)
            rows = max(1, (CHUNK_CELLS // 8) // k)
            for r0 in range(0, b, rows):
                r1 = min(b, r0 + rows)
                w[r0:r1, idx] = rng.multinomial(k, p, size=r1 - r0)
        yield w
        done += b


def _ratio(w: np.ndarray, num: np.ndarray, den: np.ndarray, wt: np.ndarray | None = None) -> np.ndarray:
    """``(w @ num) / (w @ den)``, NaN where the denominator is 0. Shapes (b, n) @ (n, k) -> (b, k).

    ``wt``: ``w.T`` C-contiguous; the products are then taken as ``(num.T @ wt).T``, which a threaded
    OpenBLAS runs ~4x faster than ``w @ num`` for a narrow ``num`` (k of a few hundred).
    """
    if wt is not None:
        top = (num.T @ wt).T
        bottom = (den.T @ wt).T
    else:
        top = w @ num
        bottom = w @ den
    return _divide(top, bottom)


def _wprod(w: np.ndarray, wt: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``w @ x`` (b, n) @ (n, k), taken the way a threaded OpenBLAS runs fast for this ``k``.

    Measured (b 253, n 10,000, 2 threads): ``w @ x`` is ~4x slower than ``(x.T @ w.T).T`` for k of a
    few hundred, and ``x.T @ w.T`` ~30x slower than ``w @ x`` for k of about 10.
    """
    return w @ x if x.shape[1] < 64 else (x.T @ wt).T


def _divide(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` (broadcast), NaN where the denominator is 0."""
    top, bottom = np.broadcast_arrays(top, bottom)
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


class _Recipe:
    """How to build one statistic's columns: ``fill(num, den)`` writes them into (n, k) and (n, kd) views.

    ``binned``: optional ``(num, den)`` :class:`_Binned` forms of the same columns (every particle in
    one bin of a one-hot or cumulative layout), which :meth:`_Stats.replicates` takes as sparse
    sums instead of dense matrix products; ``fill`` stays the reference (:meth:`_Stats.columns`).
    """

    __slots__ = ("k", "kd", "fill", "binned")

    def __init__(self, k: int, kd: int, fill, binned=None):
        self.k, self.kd, self.fill, self.binned = int(k), int(kd), fill, binned


class _Binned:
    """Columns ``(n, k)`` with one bin per particle: ``values[i]`` in the columns its bin ``bins[i]`` selects.

    ``kind``: ``"onehot"`` (column ``c`` holds the particles of bin ``c``; ``bins`` in ``[0, k)``),
    ``"up"`` (column ``c`` holds the particles with ``bins > c``: thresholds increasing along the
    columns, ``bins`` = how many a particle passes, in ``[0, k]``) or ``"down"`` (the same with the
    thresholds decreasing: column ``c`` holds the particles with ``bins > k - 1 - c``).
    So ``w @ columns`` is a sum of ``w[:, i] * values[i]`` per bin (cost ``n`` per replicate instead
    of ``n * k``), then a cumulative sum over the bins.
    """

    __slots__ = ("values", "bins", "k", "kind")

    def __init__(self, values: np.ndarray, bins: np.ndarray, k: int, kind: str):
        self.values, self.bins, self.k, self.kind = values, np.asarray(bins, dtype=np.intp), int(k), kind

    @property
    def rows(self) -> int:
        """Bins of the sparse product: ``k`` one-hot, ``k + 1`` cumulative."""
        return self.k if self.kind == "onehot" else self.k + 1

    def columns(self, sums: np.ndarray) -> np.ndarray:
        """The (b, k) replicate columns from the per-bin sums (rows, b)."""
        if self.kind == "onehot":
            return sums.T
        tail = np.cumsum(sums[::-1], axis=0)[::-1][1:]  # tail[c] = sum of the bins > c
        return (tail if self.kind == "up" else tail[::-1]).T


def _threshold_bins(values: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, str]:
    """How many of ``thresholds`` (monotone) each value reaches (``value >= threshold``; NaN: none).

    Returns the counts and ``"up"`` or ``"down"`` (the thresholds' direction), so that
    ``_Binned(..., bins, len(thresholds), kind)`` holds the columns ``value >= thresholds``.
    """
    up = len(thresholds) < 2 or thresholds[-1] >= thresholds[0]
    asc = thresholds if up else thresholds[::-1]
    bins = np.searchsorted(asc, values, side="right")
    bins[np.isnan(values)] = 0
    return bins, "up" if up else "down"


class _Stats:
    """The statistics of one table: for each, a recipe of its (n, k) numerator and denominator columns.

    A recipe holds compact per-particle arrays and writes the float columns on demand
    (:meth:`replicates`) into the batch matrices, so the (n, k) matrices of all statistics never
    exist at once and a batch is never held twice (no list of pieces concatenated).
    """

    def __init__(self, n: int):
        self.n = n
        self.recipes: list[tuple[tuple, _Recipe]] = []
        self._binned = None  # the binned operands, made on first use (_binned_operands)

    def add(self, key: tuple, k: int, kd: int, fill, binned=None) -> None:
        """Register ``key``: ``k`` numerator and ``kd`` (1 = shared by every column, or ``k``) denominator columns.

        ``binned``: ``(num, den)`` :class:`_Binned` forms of the columns ``fill`` writes (both given).
        """
        if kd not in (1, k):
            raise ValueError(f"denominator columns {kd}; expected 1 or {k}")
        self.recipes.append((key, _Recipe(k, kd, fill, binned)))

    def columns(self, recipe: _Recipe) -> tuple[np.ndarray, np.ndarray]:
        """``(num, den)`` of a recipe: (n, k) and (n, kd) (``kd`` 1: one denominator for every column)."""
        num = np.empty((self.n, recipe.k))
        den = np.empty((self.n, recipe.kd))
        recipe.fill(num, den)
        return num, den

    def batches(self) -> list[list[int]]:
        """Recipe indices grouped into batches of about :data:`COLUMN_CELLS` numerator cells.

        A batch is closed once it reaches ``COLUMN_CELLS`` (so it may hold up to that plus one
        statistic); the grouping fixes the shapes of the matrix products, hence their rounding.
        """
        out: list[list[int]] = []
        cur: list[int] = []
        cells = 0
        for i, (_, rec) in enumerate(self.recipes):
            if rec.binned is not None:
                continue
            cur.append(i)
            cells += self.n * rec.k
            if cells >= COLUMN_CELLS:
                out.append(cur)
                cur, cells = [], 0
        if cur:
            out.append(cur)
        return out

    def replicates(self, w: np.ndarray, out: dict) -> None:
        """Append ``(w @ num) / (w @ den)`` of every statistic to ``out[key]`` (list of (b, k) arrays).

        Statistics are taken in batches (:meth:`batches`), one matrix product per batch (one product
        per statistic would read ``w`` hundreds of times); each recipe writes its columns straight
        into the batch's two matrices.
        """
        wt = np.ascontiguousarray(w.T)
        for key, _ in self.recipes:  # keys in registration order, whichever way they are computed
            out.setdefault(key, [])
        self._binned_replicates(w, wt, out)
        for batch in self.batches():
            recs = [self.recipes[i] for i in batch]
            num = np.empty((self.n, sum(r.k for _, r in recs)))
            den = np.empty((self.n, sum(r.kd for _, r in recs)))
            k = j = 0
            for _, rec in recs:
                rec.fill(num[:, k:k + rec.k], den[:, j:j + rec.kd])
                k += rec.k
                j += rec.kd
            top = _wprod(w, wt, num)
            bottom = _wprod(w, wt, den)  # a shared denominator is one column, broadcast below
            del num, den
            k = j = 0
            for key, rec in recs:
                out.setdefault(key, []).append(_divide(top[:, k:k + rec.k], bottom[:, j:j + rec.kd]))
                k += rec.k
                j += rec.kd

    def _binned_replicates(self, w: np.ndarray, wt: np.ndarray, out: dict) -> None:
        """The statistics with :class:`_Binned` columns: per-bin sums of the weighted values for all of them.

        ``S[bin, r]`` (:func:`liberation.stats._kernels.binned_sums`, a sparse product ``B @ w.T``
        with a row per bin of every binned operand, each operand once however many statistics share
        it) costs ``n`` multiply-adds per operand and replicate (the dense form: ``n * k``); the
        cumulative columns are then sums over the bins. Single-column operands (shared denominators)
        go into one dense product. Same numbers as the dense products up to the order of the additions
        (relative differences of order 1e-15).
        """
        if self._binned is None:
            self._binned = self._binned_operands()
        recs, wide, offsets, rows, data, narrow = self._binned
        if not recs:
            return
        import os

        from liberation.stats._kernels import binned_sums

        where: dict[int, np.ndarray] = {}
        if wide:
            sums = binned_sums(wt, rows, data, int(offsets[-1]), threads=min(2, os.cpu_count() or 1))  # (bins, b)
            for i, op in enumerate(wide):
                where[id(op)] = op.columns(sums[offsets[i]:offsets[i + 1]])
        if narrow:  # made per chunk (not held: n x columns floats), one column per distinct value array
            prod = _wprod(w, wt, np.stack([np.asarray(v, dtype=float) for v in narrow.values()], axis=1))
            col = {key: i for i, key in enumerate(narrow)}
            for _, rec in recs:
                for op in rec.binned:
                    if id(op) not in where:
                        where[id(op)] = prod[:, col[id(op.values)]:col[id(op.values)] + 1]
        for key, rec in recs:
            num, den = rec.binned
            out[key].append(_divide(where[id(num)], where[id(den)]))

    def _binned_operands(self) -> tuple:
        """The binned operands, made once for every chunk of replicates: each operand once, the
        wide ones as ``(n, m)`` row (int32) and value arrays; the single columns by value array
        (``id(values) -> values``: statistics sharing a denominator share its column)."""
        recs = [(key, rec) for key, rec in self.recipes if rec.binned is not None]
        wide_d: dict[int, _Binned] = {}
        narrow: dict[int, np.ndarray] = {}
        for _, rec in recs:
            for op in rec.binned:
                if op.kind == "onehot" and op.k == 1:
                    narrow[id(op.values)] = op.values
                else:
                    wide_d[id(op)] = op
        wide = list(wide_d.values())
        offsets = np.cumsum([0] + [op.rows for op in wide])
        rows = data = None
        if wide:
            rows = np.empty((self.n, len(wide)), dtype=np.int32)  # (n, operands)
            data = np.empty((self.n, len(wide)))
            for j, (off, op) in enumerate(zip(offsets, wide)):
                rows[:, j] = off + op.bins
                data[:, j] = op.values
        return recs, wide, offsets, rows, data, narrow


def _set(out: np.ndarray, x: np.ndarray) -> None:
    """``out[...] = x`` with a 1-D ``x`` as one column."""
    out[...] = x.reshape(out.shape[0], -1)


def _mul(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """``out[...] = a * b`` (float ``a`` (n,) or (n, 1), ``b`` (n,) or (n, k), float or bool) without a temporary."""
    np.multiply(a.reshape(len(a), -1), b.reshape(len(b), -1), out=out)


def _size_masks(t: pd.DataFrame, classes: list[str]) -> dict[str, np.ndarray]:
    c = t["size_class"].astype(str).to_numpy() if "size_class" in t.columns else np.full(len(t), "all")
    return {sc: (np.ones(len(t), bool) if sc == "all" else c == sc) for sc in classes}


def _add_table_stats(st: _Stats, t: pd.DataFrame, dim: str, *, minerals, names, thr, bounds, levels, classes,
                     gr_cuts, gr_basis, curves) -> None:
    """Register the statistics of one table (3D particles or 2D sections)."""
    masks = _size_masks(t, classes)
    n_cls = len(class_labels(bounds))
    n_lev, n_cut = len(levels), len(gr_cuts)
    zero = np.zeros(len(t), dtype=np.intp)

    def one(values):  # a single column (a shared denominator) as a binned operand
        return _Binned(values, zero, 1, "onehot")
    for basis in ("volume", "mass"):
        a, tot = amounts(t, minerals, basis)
        a, tot = np.asarray(a, dtype=float), np.asarray(tot, dtype=float)
        g = grades(t, minerals, basis)
        if dim == "3D":
            def modal(num, den, a=a, tot=tot):
                _set(num, a)
                _set(den, tot)

            st.add(("modal", basis), a.shape[1], 1, modal)
        for name in names:
            j = minerals.names.index(name)
            aj, gj = a[:, j], g[:, j]
            cls = assign_class(gj, bounds)  # (n,) class index; the columns are am * onehot(cls)
            lib = (gj >= thr - 1e-12).astype(float)
            for sc, msk in masks.items():
                am = aj * msk

                def libf(num, den, am=am, lib=lib):
                    _mul(num, am, lib)
                    _set(den, am)

                st.add(("lib", dim, basis, sc, name), 1, 1, libf)
                if not curves:
                    continue

                def classf(num, den, am=am, cls=cls):
                    _mul(num, am, np.eye(n_cls)[cls])
                    _set(den, am)

                st.add(("classes", dim, basis, sc, name), n_cls, 1, classf,
                       (_Binned(am, cls, n_cls, "onehot"), one(am)))
                if sc == "all":  # curves: whole sample only
                    def yieldf(num, den, am=am, gj=gj):
                        _mul(num, am, gj[:, None] * 100.0 >= levels[None, :] - 1e-9)  # (n, L) bool, made here
                        _set(den, am)

                    lev_bins, lev_kind = _threshold_bins(gj * 100.0, levels - 1e-9)
                    st.add(("yield", dim, basis, sc, name), n_lev, 1, yieldf,
                           (_Binned(am, lev_bins, n_lev, lev_kind), one(am)))
            if basis == gr_basis and curves:
                def accepted(gj=gj):  # (n, C) bool, made when used (not held for every mineral)
                    return gj[:, None] * 100.0 >= gr_cuts[None, :] - 1e-9

                def gr_grade(num, den, aj=aj, tot=tot, acc=accepted):
                    a = acc()
                    _mul(num, aj, a)
                    _mul(den, tot, a)

                def gr_recovery(num, den, aj=aj, acc=accepted):
                    _mul(num, aj, acc())
                    _set(den, aj)

                def gr_yield(num, den, tot=tot, acc=accepted):
                    _mul(num, tot, acc())
                    _set(den, tot)

                cut_bins, cut_kind = _threshold_bins(gj * 100.0, gr_cuts - 1e-9)
                a_cut = _Binned(aj, cut_bins, n_cut, cut_kind)
                tot_cut = _Binned(tot, cut_bins, n_cut, cut_kind)
                st.add(("gr_grade", dim, name), n_cut, n_cut, gr_grade, (a_cut, tot_cut))
                st.add(("gr_recovery", dim, name), n_cut, 1, gr_recovery, (a_cut, one(aj)))
                st.add(("gr_yield", dim, name), n_cut, 1, gr_yield, (tot_cut, one(tot)))


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
    have_2d = sections is not None and len(_included(sections)) > 0
    if have_2d:
        t2 = _included(sections).reset_index(drop=True)
        pos = pd.Index(t3["particle_id"].to_numpy()).get_indexer(t2["particle_id"].to_numpy())
        t2 = t2[pos >= 0].reset_index(drop=True)
        pos = pos[pos >= 0]
        st2 = _Stats(len(t2))
        _add_table_stats(st2, t2, "2D", **kw)
    parts3: dict = {}
    parts2: dict = {}
    chunk = max(1, CHUNK_CELLS // max(n + (len(pos) if have_2d else 0), 1))
    for wf in _weights(c3, b_total, seed=seed, chunk=chunk, dtype=float):
        st3.replicates(wf, parts3)
        if have_2d:
            st2.replicates(wf[:, pos], parts2)
    r3 = {key: np.concatenate(parts3.pop(key), axis=0) for key in list(parts3)}
    r2 = {key: np.concatenate(parts2.pop(key), axis=0) for key in list(parts2)}
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
