"""All report plots of one :class:`~liberation.stats.result.LiberationResult` (pure: returns Figures)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from liberation.report import plots
from liberation.report.tables import (
    association_matrix,
    basis_of,
    class_distribution,
    liberated_fractions,
    ordered_size_classes,
    pick,
)
from liberation.report.text import headline_mineral

__all__ = ["make_figures"]


def _curve(df, mineral: str, dimension: str, x: str, y: str, basis: str = "volume", band: bool = False):
    rows = pick(df, basis=basis, dimension=dimension, mineral=mineral)
    if rows is not None and "size_class" in rows.columns:
        rows = rows[rows["size_class"].astype(str) == "all"]
    if rows is None or len(rows) == 0 or x not in rows.columns or y not in rows.columns:
        return (np.array([]), np.array([])) + ((None,) if band else ())
    rows = rows.sort_values(x)
    out = (rows[x].to_numpy(dtype=float), rows[y].to_numpy(dtype=float))
    if band:
        lo, hi = f"{y}_ci95_low", f"{y}_ci95_high"
        out += ((rows[lo].to_numpy(dtype=float), rows[hi].to_numpy(dtype=float)) if lo in rows.columns else None,)
    return out


def _included(df):
    if df is None:
        return None
    if "excluded" in df.columns:
        return df[~df["excluded"].to_numpy(dtype=bool)]
    return df


def _size_classes_3d_2d(result, mineral: str):
    """Size class labels, the liberated fraction 3D and 2D in each (report basis) and their 95 % intervals.

    Returns ``labels, f3, f2, ci3, ci2, cib``; the intervals are arrays of shape (2, S) or None.
    """
    df = pick(result.comparison, basis=basis_of(result), mineral=mineral)
    if df is not None and len(df) and "size_class" in df.columns:
        c3 = next((c for c in ("liberated_3d", "liberated_fraction_3d") if c in df.columns), None)
        c2 = next((c for c in ("liberated_2d", "liberated_fraction_2d") if c in df.columns), None)
        if c3 and c2:
            df = df.assign(size_class=df["size_class"].astype(str)).set_index("size_class")
            labels = ordered_size_classes(result, df.index)

            def ci(col):
                lo, hi = f"{col}_ci95_low", f"{col}_ci95_high"
                if lo not in df.columns:
                    return None
                return np.vstack([df.loc[labels, lo].to_numpy(dtype=float), df.loc[labels, hi].to_numpy(dtype=float)])

            return (labels, df.loc[labels, c3].to_numpy(dtype=float), df.loc[labels, c2].to_numpy(dtype=float),
                    ci("liberated_fraction_3d"), ci("liberated_fraction_2d"), ci("liberated_fraction_bias"))
    return [], np.array([]), np.array([]), None, None, None


def make_figures(result, *, slices: Mapping | None = None) -> dict:
    """Build every report plot.

    Parameters
    ----------
    result : LiberationResult
        The statistics.
    slices : mapping, optional
        Panel title -> ``(ct_2d, phases_2d)`` for the slice panel.

    Returns
    -------
    dict
        Plot name -> matplotlib Figure; names as in :data:`liberation.report.html.PLOT_CAPTIONS`.
    """
    minerals = result.minerals
    names = list(minerals.names)
    colors = {m.name: m.color for m in minerals}
    lib2, lib3 = liberated_fractions(result)
    mineral = headline_mineral(result.target, lib2, lib3, names)
    figs = {}

    modal = result.modal
    if modal is not None and "mineral" in modal.columns and "volume_percent" in modal.columns:
        figs["modal"] = plots.plot_modal(
            [str(n) for n in modal["mineral"]], modal["volume_percent"].to_numpy(dtype=float),
            modal["mass_percent"].to_numpy(dtype=float) if "mass_percent" in modal.columns else None,
            colors=[colors.get(str(n), "#808080") for n in modal["mineral"]],
        )

    labels3, share3 = class_distribution(result, mineral, "3D")
    labels2, share2 = class_distribution(result, mineral, "2D")
    if labels3:
        figs["liberation_classes"] = plots.plot_liberation_classes(
            labels3, share3, share2 if labels2 == labels3 else None, mineral=mineral)

    basis = basis_of(result)
    g3, y3 = _curve(result.cumulative_yield, mineral, "3D", "grade_percent", "cumulative_share", basis)
    g2, y2 = _curve(result.cumulative_yield, mineral, "2D", "grade_percent", "cumulative_share", basis)
    if g3.size or g2.size:
        figs["cumulative_yield"] = plots.plot_cumulative_yield(
            g3 / 100.0, y3, g2 / 100.0 if g2.size else None, y2 if g2.size else None, mineral=mineral,
            threshold=result.threshold)

    sizes, f3, f2, ci3, ci2, cib = _size_classes_3d_2d(result, mineral)
    if sizes:
        figs["bias_by_size"] = plots.plot_bias_by_size(sizes, f3, f2, mineral=mineral, ci_3d=ci3, ci_2d=ci2,
                                                       ci_bias=cib)

    matrix, rows, cols = association_matrix(result)
    if matrix.size:
        figs["association"] = plots.plot_association(matrix, rows, cols)

    r3, gr3, band3 = _curve(result.grade_recovery, mineral, "3D", "recovery", "grade", basis, band=True)
    r2, gr2 = _curve(result.grade_recovery, mineral, "2D", "recovery", "grade", basis)
    if r3.size:
        feed = None
        col = "mass_percent" if basis == "mass" else "volume_percent"
        if result.modal is not None and col in result.modal.columns:
            row = pick(result.modal, mineral=mineral)
            if row is not None and len(row):
                feed = float(row[col].iloc[0]) / 100.0
        figs["grade_recovery"] = plots.plot_grade_recovery(
            r3, gr3, mineral=mineral, feed_grade=feed, recovery_2d=r2 if r2.size else None,
            grade_2d=gr2 if gr2.size else None, grade_ci95=band3, basis=basis)

    particles = _included(result.particles)
    if particles is not None and "esd_um" in particles.columns:
        sections = _included(result.sections)
        ecd = sections["ecd_um"].to_numpy(dtype=float) if sections is not None and "ecd_um" in sections else None
        figs["size_distribution"] = plots.plot_size_distribution(
            particles["esd_um"].to_numpy(dtype=float),
            weights=particles["volume_um3"].to_numpy(dtype=float) if "volume_um3" in particles else None,
            ecd_um=ecd, size_classes_um=list(result.size_classes_um or ()))

    grains = result.grain_sizes
    if grains is not None and "mineral" in grains.columns and "esd_um" in grains.columns:
        grains = _included(grains)
        per = {n: grains.loc[grains["mineral"].astype(str) == n, "esd_um"].to_numpy(dtype=float) for n in names}
        figs["grain_sizes"] = plots.plot_grain_sizes(per, colors=colors)

    if slices:
        figs["slices"] = plots.plot_slices(
            slices, colors={m.id: m.color for m in minerals}, names={m.id: m.name for m in minerals},
            pixel_size_um=float(result.voxel_size_um[-1]))
    return figs
