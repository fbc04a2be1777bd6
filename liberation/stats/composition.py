"""Liberation by composition and by free surface, locking, modal mineralogy, grade-recovery.

These functions work on a particle table (:func:`liberation.stats.particle_table`, 3D) or a
section table (:func:`liberation.stats.section_table`, 2D): the same statistics by volume
(3D) or area (2D), and by mass when the minerals have densities. Rows with ``excluded``
true are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList

DEFAULT_CLASS_BOUNDS = tuple(range(0, 101, 10))
BASES = ("volume", "mass")


def check_target(target, minerals: MineralList) -> list[str]:
    """Names of the minerals to report: ``[target]`` or all. Raises :class:`InputError` if unknown."""
    if target is None:
        return list(minerals.names)
    if not isinstance(target, str) or target not in minerals:
        raise InputError(f"target={target!r} is not a mineral; known: {', '.join(minerals.names)}")
    return [target]


def check_threshold(threshold) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold={threshold!r} is not a number; expected a grade in (0, 1]") from None
    if not 0.0 < t <= 1.0:
        raise InputError(f"threshold={threshold!r} must be in (0, 1] (a grade fraction, e.g. 0.9)")
    return t


def check_by(by: str) -> str:
    if by not in BASES:
        raise InputError(f"by={by!r}; expected 'volume' or 'mass'")
    return by


def check_classes(classes) -> tuple[float, ...]:
    """Class bounds in percent: increasing, starting at 0 and ending at 100."""
    if classes is None:
        return DEFAULT_CLASS_BOUNDS
    try:
        bounds = tuple(float(c) for c in classes)
    except (TypeError, ValueError):
        raise InputError(f"classes={classes!r} must be grade bounds in percent, e.g. (0, 10, ..., 100)") from None
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != 100 or any(a >= b for a, b in zip(bounds, bounds[1:])):
        raise InputError(f"classes={classes!r} must increase strictly from 0 to 100 (percent)")
    return bounds


def class_labels(bounds: Sequence[float]) -> list[tuple[str, float, float]]:
    """``(label, lower, upper)`` of each class: ``0``, ``(0,10]``, ..., ``(90,100)``, ``100``."""
    out = [("0", 0.0, 0.0)]
    n = len(bounds) - 1
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        close = ")" if i == n - 1 else "]"
        out.append((f"({a:g},{b:g}{close}", float(a), float(b)))
    out.append(("100", 100.0, 100.0))
    return out


def assign_class(grade: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    """Class index of each grade (fraction): 0 for exactly 0, last for exactly 1."""
    g = np.asarray(grade, dtype=float) * 100.0
    idx = np.searchsorted(np.asarray(bounds[1:-1], dtype=float), g, side="left") + 1
    idx = np.where(g <= 0, 0, idx)
    idx = np.where(g >= 100.0 - 1e-9, len(bounds), idx)
    return idx


def dimension_of(table: pd.DataFrame) -> str:
    if "pixels" in table.columns:
        return "2D"
    if "voxels" in table.columns:
        return "3D"
    raise InputError("table has neither 'voxels' nor 'pixels' columns; expected a particle or section table")


def amounts(table: pd.DataFrame, minerals: MineralList, by: str = "volume") -> tuple[np.ndarray, np.ndarray]:
    """Mineral amounts per row, shape (n, n_minerals), and row totals (mineral voxels/pixels only).

    The unit is voxels (pixels) for ``by="volume"`` and voxels × g/cm³ for ``by="mass"``:
    the statistics only use ratios, so the constant voxel volume cancels.
    """
    check_by(by)
    prefix = "pixels_" if dimension_of(table) == "2D" else "voxels_"
    cols = [f"{prefix}{m.name}" for m in minerals]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise InputError(f"table lacks columns {missing}; does it match the minerals {minerals.names}?")
    a = table[cols].to_numpy(dtype=float)
    if by == "mass":
        a = a * np.array([m.density for m in minerals])[None, :]
    return a, a.sum(axis=1)


def _included(table: pd.DataFrame) -> pd.DataFrame:
    if "excluded" in table.columns:
        return table[~table["excluded"].to_numpy(dtype=bool)]
    return table


def _size_groups(table: pd.DataFrame):
    yield "all", np.ones(len(table), dtype=bool)
    if "size_class" in table.columns:
        labels = table["size_class"].astype(str).to_numpy()
        for label in pd.unique(labels):
            if label != "all":
                yield str(label), labels == label


def grades(table: pd.DataFrame, minerals: MineralList, by: str = "volume") -> np.ndarray:
    """Grade (fraction) of every mineral in every row, shape (n, n_minerals)."""
    a, t = amounts(table, minerals, by)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(t[:, None] > 0, a / np.where(t > 0, t, 1)[:, None], 0.0)


def liberation_classes(
    table: pd.DataFrame,
    *,
    minerals: MineralList,
    target: str | None = None,
    classes=None,
    by: str = "volume",
    value: str = "grade",
) -> pd.DataFrame:
    """Class distribution of the grade (or exposed surface) of each mineral, overall and per size class.

    Parameters
    ----------
    table : DataFrame
        Particle table (3D) or section table (2D).
    minerals : MineralList
        The minerals.
    target : str, optional
        Only this mineral (default all).
    classes : sequence of float, optional
        Class bounds in percent (default 0, 10, ..., 100): classes ``0``, ``(0,10]``, ...,
        ``(90,100)``, ``100``.
    by : {"volume", "mass"}
        Basis of grades and amounts (2D: area or area × density).
    value : {"grade", "surface"}
        Classify by composition (grade) or by exposed surface fraction (``surface_NAME``; 3D).

    Returns
    -------
    DataFrame
        Columns ``dimension, basis, size_class, mineral, class, lower_percent, upper_percent,
        n_particles, particle_fraction, mineral_amount, mineral_share``.
    """
    names = check_target(target, minerals)
    bounds = check_classes(classes)
    check_by(by)
    if value not in ("grade", "surface"):
        raise InputError(f"value={value!r}; expected 'grade' or 'surface'")
    t = _included(table)
    dim = dimension_of(t)
    a, _ = amounts(t, minerals, by)
    if value == "grade":
        g = grades(t, minerals, by)
    else:
        cols = [f"surface_{m.name}" for m in minerals]
        if any(c not in t.columns for c in cols):
            raise InputError("table has no surface_NAME columns; surface liberation needs a 3D particle table")
        g = np.nan_to_num(t[cols].to_numpy(dtype=float))
    labels = class_labels(bounds)
    rows = []
    for size_class, sel in _size_groups(t):
        n_sel = int(sel.sum())
        for name in names:
            j = minerals.names.index(name)
            idx = assign_class(g[sel, j], bounds)
            amt = np.bincount(idx, weights=a[sel, j], minlength=len(labels))
            cnt = np.bincount(idx, minlength=len(labels))
            total = amt.sum()
            for k, (label, lo, hi) in enumerate(labels):
                rows.append({
                    "dimension": dim, "basis": by, "size_class": size_class, "mineral": name,
                    "class": label, "lower_percent": lo, "upper_percent": hi,
                    "n_particles": int(cnt[k]),
                    "particle_fraction": cnt[k] / n_sel if n_sel else np.nan,
                    "mineral_amount": float(amt[k]),
                    "mineral_share": amt[k] / total if total > 0 else np.nan,
                })
    return pd.DataFrame(rows)


def surface_liberation(table: pd.DataFrame, *, minerals: MineralList, target: str | None = None,
                       classes=None, by: str = "volume") -> pd.DataFrame:
    """Liberation by free surface: classes of the exposed surface fraction (3D particle table).

    Same columns as :func:`liberation_classes`; ``mineral_share`` is the share of the mineral
    (by volume or mass) held in particles whose exposed-surface fraction of it falls in the class.
    """
    return liberation_classes(table, minerals=minerals, target=target, classes=classes, by=by, value="surface")


def liberated_fraction(table: pd.DataFrame, *, minerals: MineralList, target: str | None = None,
                       threshold: float = 0.9, by: str = "volume") -> dict[str, float]:
    """Share of each mineral held in particles whose grade is at least ``threshold``.

    Returns
    -------
    dict
        Mineral name -> fraction in [0, 1] (NaN when the mineral is absent).
    """
    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    t = _included(table)
    a, _ = amounts(t, minerals, by)
    g = grades(t, minerals, by)
    out = {}
    for name in names:
        j = minerals.names.index(name)
        total = a[:, j].sum()
        out[name] = float(a[g[:, j] >= thr - 1e-12, j].sum() / total) if total > 0 else float("nan")
    return out


def cumulative_liberation_yield(table: pd.DataFrame, *, minerals: MineralList, target: str | None = None,
                                by: str = "volume", step_percent: float = 1.0) -> pd.DataFrame:
    """Cumulative liberation yield: share of the mineral in particles with grade >= g, for g = 0..100 %.

    Returns
    -------
    DataFrame
        Columns ``dimension, basis, size_class, mineral, grade_percent, cumulative_share``.
    """
    names = check_target(target, minerals)
    t = _included(table)
    dim = dimension_of(t)
    a, _ = amounts(t, minerals, by)
    g = grades(t, minerals, by) * 100.0
    levels = np.arange(0.0, 100.0 + 1e-9, step_percent)
    rows = []
    for size_class, sel in _size_groups(t):
        for name in names:
            j = minerals.names.index(name)
            aj, gj = a[sel, j], g[sel, j]
            total = aj.sum()
            order = np.argsort(gj)
            gs, cs = gj[order], np.cumsum(aj[order][::-1])[::-1]
            pos = np.searchsorted(gs, levels - 1e-9, side="left")
            share = np.where(pos < len(gs), cs[np.minimum(pos, len(gs) - 1)] if len(gs) else 0.0, 0.0)
            share = share / total if total > 0 else np.full(len(levels), np.nan)
            for lv, s in zip(levels, share):
                rows.append({"dimension": dim, "basis": by, "size_class": size_class, "mineral": name,
                             "grade_percent": float(lv), "cumulative_share": float(s)})
    return pd.DataFrame(rows)


def locking(table: pd.DataFrame, *, minerals: MineralList, target: str | None = None,
            threshold: float = 0.9, by: str = "volume") -> pd.DataFrame:
    """Locking of each mineral: liberated (grade >= threshold), binary with one other mineral, ternary+.

    A mineral counts as present in a particle with one voxel (pixel) or more.

    Returns
    -------
    DataFrame
        Columns ``dimension, basis, size_class, mineral, locking, partner, n_particles, mineral_amount,
        mineral_share``; ``locking`` is ``liberated``, ``binary`` (``partner`` = the other mineral) or
        ``ternary+``.
    """
    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    t = _included(table)
    dim = dimension_of(t)
    a, _ = amounts(t, minerals, by)
    g = grades(t, minerals, by)
    present = a > 0
    n_present = present.sum(axis=1)
    rows = []
    for size_class, sel in _size_groups(t):
        for name in names:
            j = minerals.names.index(name)
            has = sel & present[:, j]
            total = a[has, j].sum()
            lib = has & (g[:, j] >= thr - 1e-12)
            cats = [("liberated", "", lib)]
            rest = has & ~lib
            for k, other in enumerate(minerals.names):
                if k != j:
                    cats.append(("binary", other, rest & (n_present == 2) & present[:, k]))
            cats.append(("ternary+", "", rest & (n_present >= 3)))
            for lock, partner, m in cats:
                amt = float(a[m, j].sum())
                rows.append({"dimension": dim, "basis": by, "size_class": size_class, "mineral": name,
                             "locking": lock, "partner": partner, "n_particles": int(m.sum()),
                             "mineral_amount": amt, "mineral_share": amt / total if total > 0 else np.nan})
    return pd.DataFrame(rows)


def modal_mineralogy(table: pd.DataFrame, *, minerals: MineralList, sections: pd.DataFrame | None = None,
                     voxel_size_um=None) -> pd.DataFrame:
    """Modal mineralogy: volume % and weight % of every mineral in the (included) particles.

    Parameters
    ----------
    table : DataFrame
        Particle table (3D).
    minerals : MineralList
        The minerals.
    sections : DataFrame, optional
        Section table: adds the 2D ``area_percent_2d`` and ``mass_percent_2d`` columns.
    voxel_size_um : float or tuple, optional
        Adds ``volume_um3`` and ``mass_ug`` columns.

    Returns
    -------
    DataFrame
        Columns ``mineral, phase_id, density_g_cm3, voxels, volume_percent, mass_percent`` (+ optional ones).
    """
    t = _included(table)
    vol, _ = amounts(t, minerals, "volume")
    mass, _ = amounts(t, minerals, "mass")
    v = vol.sum(axis=0)
    w = mass.sum(axis=0)
    out = pd.DataFrame({
        "mineral": minerals.names,
        "phase_id": minerals.ids,
        "density_g_cm3": [m.density for m in minerals],
        "voxels": v.astype(np.int64),
        "volume_percent": 100 * v / v.sum() if v.sum() > 0 else np.nan,
        "mass_percent": 100 * w / w.sum() if w.sum() > 0 else np.nan,
    })
    if voxel_size_um is not None:
        from liberation._validation import as_voxel_size

        vox = float(np.prod(as_voxel_size(voxel_size_um)))
        out["volume_um3"] = v * vox
        out["mass_ug"] = w * vox * 1e-6
    if sections is not None:
        s = _included(sections)
        ar, _ = amounts(s, minerals, "volume")
        am, _ = amounts(s, minerals, "mass")
        out["pixels_2d"] = ar.sum(axis=0).astype(np.int64)
        out["area_percent_2d"] = 100 * ar.sum(axis=0) / ar.sum() if ar.sum() > 0 else np.nan
        out["mass_percent_2d"] = 100 * am.sum(axis=0) / am.sum() if am.sum() > 0 else np.nan
    return out


def calculated_assay(modal: pd.DataFrame, *, minerals: MineralList) -> dict[str, float]:
    """Calculated assay (wt%) of the sample from the modal wt% and the minerals' oxide/element contents.

    Oxides (e.g. ``Li2O``) and elements (e.g. ``Li``) are both reported; a component absent from a
    mineral counts as 0 for it. Empty when no mineral gives contents.
    """
    wt = dict(zip(modal["mineral"], modal["mass_percent"]))
    out: dict[str, float] = {}
    for mineral in minerals:
        share = float(wt.get(mineral.name, 0.0) or 0.0) / 100.0
        for comp, value in list(mineral.oxides.items()) + list(mineral.elements.items()):
            out[comp] = out.get(comp, 0.0) + share * float(value)
    return out


def element_deportment(modal: pd.DataFrame, *, minerals: MineralList) -> pd.DataFrame:
    """Deportment: the share of each element (or oxide) of the sample carried by each mineral.

    The mass of component ``c`` in mineral ``m`` is ``wt%_m x content_{m,c}`` (modal weight %
    times the mineral's content of ``c`` in wt%); the deportment of ``c`` to ``m`` is that mass
    over the sum over all minerals, in %. Each component's column sums to 100 % (or is NaN
    where no mineral of the sample carries it).

    Parameters
    ----------
    modal : DataFrame
        :func:`modal_mineralogy` output (``mineral``, ``mass_percent``).
    minerals : MineralList
        The minerals with their ``elements`` / ``oxides`` contents in wt%.

    Returns
    -------
    DataFrame
        Column ``mineral``, then one column per component (elements first, then oxides), in %
        of the component's mass in the sample. Only ``mineral`` when no mineral gives contents.
    """
    wt = dict(zip(modal["mineral"], modal["mass_percent"]))
    components: list[str] = []
    for mineral in minerals:
        components += [c for c in mineral.elements if c not in components]
    for mineral in minerals:
        components += [c for c in mineral.oxides if c not in components]
    carried = np.zeros((len(minerals), len(components)))
    for i, mineral in enumerate(minerals):
        contents = {**mineral.oxides, **mineral.elements}
        share = float(wt.get(mineral.name, 0.0) or 0.0)
        carried[i] = [share * float(contents.get(c, 0.0)) for c in components]
    total = carried.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.where(total > 0, 100.0 * carried / np.where(total > 0, total, 1.0), np.nan)
    out = pd.DataFrame(percent, columns=components)
    out.insert(0, "mineral", minerals.names)
    return out


def grade_recovery(table: pd.DataFrame, *, minerals: MineralList, target: str | None = None,
                   by: str = "volume", step_percent: float = 1.0) -> pd.DataFrame:
    """Theoretical grade-recovery: accept particles from the richest down, at grade cut-offs 100 .. 0 %.

    Returns
    -------
    DataFrame
        Columns ``dimension, basis, mineral, min_grade_percent, n_particles, yield_fraction, grade,
        recovery``: for the cut-off, the particles accepted, their share of the total particle
        amount, the concentrate grade (fraction) and the recovery of the mineral.
    """
    names = check_target(target, minerals)
    t = _included(table)
    dim = dimension_of(t)
    a, tot = amounts(t, minerals, by)
    g = grades(t, minerals, by) * 100.0
    cuts = np.arange(100.0, -1e-9, -step_percent)
    rows = []
    all_total = tot.sum()
    for name in names:
        j = minerals.names.index(name)
        order = np.argsort(-g[:, j], kind="stable")
        gs = g[order, j]
        ca = np.cumsum(a[order, j])
        ct = np.cumsum(tot[order])
        total = a[:, j].sum()
        for c in cuts:
            n = int(np.searchsorted(-gs, -(c - 1e-9), side="right"))
            acc_a = ca[n - 1] if n else 0.0
            acc_t = ct[n - 1] if n else 0.0
            rows.append({"dimension": dim, "basis": by, "mineral": name, "min_grade_percent": float(c),
                         "n_particles": n,
                         "yield_fraction": acc_t / all_total if all_total > 0 else np.nan,
                         "grade": acc_a / acc_t if acc_t > 0 else np.nan,
                         "recovery": acc_a / total if total > 0 else np.nan})
    return pd.DataFrame(rows)
