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

__all__ = ["INTERVAL_PLOTS", "PLOT_ORDER", "gallery_specs", "make_figures", "make_gallery", "mineral_colors"]

#: The plots of :func:`make_figures`, in the order it makes them.
PLOT_ORDER = ("modal", "liberation_classes", "cumulative_yield", "bias_by_size", "association", "grade_recovery",
              "size_distribution", "modal_by_size", "grain_sizes", "slices")
#: The plots that show the bootstrap's 95 % intervals; the others look the same before the intervals are added.
INTERVAL_PLOTS = frozenset({"bias_by_size", "grade_recovery"})


def mineral_colors(result) -> dict[str, str]:
    """Mineral name -> colour of the report figures (:func:`liberation.report.colors.report_colors`)."""
    from liberation.report.colors import report_colors

    return report_colors({m.name: m.color for m in result.minerals})


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


def make_figures(result, *, slices: Mapping | None = None, names=None) -> dict:
    """Build every report plot (or those of ``names``).

    Parameters
    ----------
    result : LiberationResult
        The statistics.
    slices : mapping, optional
        Panel title -> ``(ct_2d, phases_2d)`` for the slice panel.
    names : collection of str, optional
        Build only these plots (names of :data:`PLOT_ORDER`; the others are not built); default all.

    Returns
    -------
    dict
        Plot name -> matplotlib Figure; names as in :data:`liberation.report.html.PLOT_CAPTIONS`.
    """
    only = None if names is None else frozenset(names)
    minerals = result.minerals
    names = list(minerals.names)
    colors = mineral_colors(result)
    lib2, lib3 = liberated_fractions(result)
    mineral = headline_mineral(result.target, lib2, lib3, names)
    figs = {}

    def want(name: str) -> bool:
        return only is None or name in only

    modal = result.modal
    if want("modal") and modal is not None and "mineral" in modal.columns and "volume_percent" in modal.columns:
        figs["modal"] = plots.plot_modal(
            [str(n) for n in modal["mineral"]], modal["volume_percent"].to_numpy(dtype=float),
            modal["mass_percent"].to_numpy(dtype=float) if "mass_percent" in modal.columns else None,
            colors=[colors.get(str(n), "#808080") for n in modal["mineral"]],
        )

    labels3, share3 = class_distribution(result, mineral, "3D") if want("liberation_classes") else ([], None)
    labels2, share2 = class_distribution(result, mineral, "2D") if want("liberation_classes") else ([], None)
    if labels3:
        figs["liberation_classes"] = plots.plot_liberation_classes(
            labels3, share3, share2 if labels2 == labels3 else None, mineral=mineral)

    basis = basis_of(result)
    g3 = g2 = np.array([])
    if want("cumulative_yield"):
        g3, y3 = _curve(result.cumulative_yield, mineral, "3D", "grade_percent", "cumulative_share", basis)
        g2, y2 = _curve(result.cumulative_yield, mineral, "2D", "grade_percent", "cumulative_share", basis)
    if g3.size or g2.size:
        figs["cumulative_yield"] = plots.plot_cumulative_yield(
            g3 / 100.0, y3, g2 / 100.0 if g2.size else None, y2 if g2.size else None, mineral=mineral,
            threshold=result.threshold)

    sizes, f3, f2, ci3, ci2, cib = _size_classes_3d_2d(result, mineral) if want("bias_by_size") else ([],) * 6
    if sizes:
        figs["bias_by_size"] = plots.plot_bias_by_size(sizes, f3, f2, mineral=mineral, ci_3d=ci3, ci_2d=ci2,
                                                       ci_bias=cib)

    matrix, rows, cols = association_matrix(result) if want("association") else (np.array([]), None, None)
    if matrix.size:
        figs["association"] = plots.plot_association(matrix, rows, cols)

    r3 = np.array([])
    if want("grade_recovery"):
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
    if particles is not None and "esd_um" in particles.columns and want("size_distribution"):
        from liberation.report.tables import particle_weights

        sections = _included(result.sections)
        ecd = sections["ecd_um"].to_numpy(dtype=float) if sections is not None and "ecd_um" in sections else None
        ecd_w = (sections["area_um2"].to_numpy(dtype=float)
                 if ecd is not None and "area_um2" in sections.columns else None)
        weights, label = particle_weights(result)
        figs["size_distribution"] = plots.plot_size_distribution(
            particles["esd_um"].to_numpy(dtype=float), weights=weights, weight_label=label,
            ecd_um=ecd, ecd_weights=ecd_w, size_classes_um=list(result.size_classes_um or ()))
    if particles is not None and "esd_um" in particles.columns and want("modal_by_size"):
        from liberation.report.tables import modal_by_size

        by_size = modal_by_size(result)
        if by_size is not None and len(by_size) > 1:
            figs["modal_by_size"] = plots.plot_modal_by_size(
                by_size["size class (µm)"].tolist(), by_size[[f"{n} (%)" for n in names]].to_numpy(dtype=float),
                names, colors=[colors[n] for n in names], class_share=by_size["share of sample (%)"].to_numpy(),
                basis=basis)

    grains = result.grain_sizes
    if want("grain_sizes") and grains is not None and "mineral" in grains.columns and "esd_um" in grains.columns:
        grains = _included(grains)
        per = {n: grains.loc[grains["mineral"].astype(str) == n, "esd_um"].to_numpy(dtype=float) for n in names}
        figs["grain_sizes"] = plots.plot_grain_sizes(per, colors=colors)

    if slices and want("slices"):
        figs["slices"] = plots.plot_slices(
            slices, colors={m.id: colors[m.name] for m in minerals}, names={m.id: m.name for m in minerals},
            pixel_size_um=float(result.voxel_size_um[-1]))
    return figs


def make_gallery(result, particles, phases, *, seed: int = 0) -> tuple:
    """The particle gallery: which particles, and one figure per non-empty class.

    Parameters
    ----------
    result : LiberationResult
        The statistics (its particle table gives the classes and bounding boxes).
    particles, phases : array-like, shape (z, y, x)
        The label volumes the statistics were computed from (numpy or zarr; only the chosen
        particles' boxes are read).
    seed : int
        Seed of the tie breaks (:func:`liberation.report.gallery.choose_gallery`).

    Returns
    -------
    table : DataFrame
        ``gallery.csv`` (:data:`liberation.report.gallery.GALLERY_COLUMNS`); empty without a mineral.
    panels : list of (str, str, str, Figure)
        ``(name, title, alt text, figure)`` per class, in table order; names ``gallery_01``, ...
    """
    table, specs = gallery_specs(result, particles, phases, seed=seed)
    from liberation.report.gallery import plot_gallery_group

    panels = [(name, title, alt, plot_gallery_group(title, items, **style)) for name, title, alt, items, style in specs]
    return table, panels


def gallery_specs(result, particles, phases, *, seed: int = 0) -> tuple:
    """What :func:`make_gallery` draws, without drawing it: the table and each panel's data.

    The crops are read here (from ``particles`` and ``phases``); the panels can then be drawn
    anywhere, e.g. in another process (:mod:`liberation.report._render`).

    Returns
    -------
    table : DataFrame
        ``gallery.csv`` (:data:`liberation.report.gallery.GALLERY_COLUMNS`).
    specs : list of (str, str, str, list, dict)
        ``(name, title, alt text, items, style)`` per class; ``plot_gallery_group(title, items, **style)``
        draws the panel.
    """
    import pandas as pd

    from liberation.report.gallery import GALLERY_COLUMNS, choose_gallery, particle_crops
    from liberation.report.tables import basis_of

    lib2, lib3 = liberated_fractions(result)
    mineral = headline_mineral(result.target, lib2, lib3, list(result.minerals.names))
    if mineral is None or result.particles is None or len(result.particles) == 0:
        return pd.DataFrame(columns=GALLERY_COLUMNS), []
    classes = (result.summary or {}).get("parameters", {}).get("classes_percent")
    table = choose_gallery(result.particles, minerals=result.minerals, mineral=mineral, threshold=result.threshold,
                           classes=classes, basis=basis_of(result), seed=seed)
    crops = particle_crops(particles, phases, result.particles, table["particle_id"].tolist())
    colors = mineral_colors(result)
    style = {"colors": {m.id: colors[m.name] for m in result.minerals},
             "names": {m.id: m.name for m in result.minerals},
             "voxel_size_um": tuple(float(v) for v in result.voxel_size_um)}
    specs = []
    for k, ((kind, group), rows) in enumerate(table.groupby(["group_kind", "group"], sort=False), start=1):
        n = int(rows["n_in_group"].iloc[0])
        if kind == "liberation class":
            title = f"{mineral} grade class {group} %: {n} particle{'s' if n != 1 else ''}"
        else:
            title = f"{mineral} {group}: {n} particle{'s' if n != 1 else ''}"
        items = [(f"particle {int(r.particle_id)}\n{r.reason}\nESD {r.esd_um:.0f} µm, {r.grade_percent:.0f} %",
                  crops[int(r.particle_id)]) for r in rows.itertuples()]
        shown = "; ".join(f"particle {int(r.particle_id)} ({r.reason}, ESD {r.esd_um:.0f} µm, {mineral} "
                          f"{r.grade_percent:.0f} %)" for r in rows.itertuples())
        alt = (f"Gallery, {title}. {shown}. Each row: the central z section in mineral colours and shaded 3D "
               "views along z, y and x, each with a scale bar in µm.")
        specs.append((f"gallery_{k:02d}", title, alt, items, style))
    return table, specs
