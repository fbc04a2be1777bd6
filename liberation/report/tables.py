"""Small display tables for the report page, cut from the result's tables (pure, no I/O).

The full tables go to the CSV files unchanged; these are the views a reader needs on the page
(overall size class, volume basis, percentages).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "association_matrix",
    "liberated_fractions",
    "modal_by_size",
    "parameter_rows",
    "pick",
    "quantification_display",
    "sample_facts",
    "size_percentiles",
]

#: Heading and caption of the hard-vs-soft table (HTML and PDF).
QUANTIFICATION_HEADING = "Hard labels vs sub-voxel (soft) quantification"
QUANTIFICATION_CAPTION = (
    "The same statistics from whole-voxel phase labels (hard) and from sub-voxel phase fractions of the mixed "
    "voxels (soft: CT grey values unmixed between the phases that meet there; docs/partial_volume.md), with their "
    "difference (soft - hard). The tables above are the hard ones; the soft ones are in the *_soft.csv files.")


def quantification_display(result) -> pd.DataFrame | None:
    """The hard-vs-soft table (``result.quantification``: per mineral and basis, volume, modal %, mean grade,
    liberated fraction and number of liberated particles, hard, soft and their difference), or None without
    soft statistics."""
    q = getattr(result, "quantification", None)
    return q if q is not None and len(q) else None


def pick(df: pd.DataFrame | None, **conditions) -> pd.DataFrame | None:
    """Rows of ``df`` where each given column equals the value; columns that ``df`` lacks are ignored."""
    if df is None:
        return None
    mask = np.ones(len(df), dtype=bool)
    for column, value in conditions.items():
        if column in df.columns and value is not None:
            mask &= (df[column].astype(str) == str(value)).to_numpy()
    return df[mask]


def volume_basis(df: pd.DataFrame | None, dimension: str | None = None, size_class: str | None = "all",
                 mineral: str | None = None) -> pd.DataFrame | None:
    """Rows on the volume (area) basis, for one dimension, size class and mineral (where the columns exist)."""
    return pick(df, basis="volume", dimension=dimension, size_class=size_class, mineral=mineral)


def basis_of(result) -> str:
    """Basis of the report's numbers: the summary's ``basis`` (``"mass"`` or ``"volume"``)."""
    b = (result.summary or {}).get("basis")
    return b if b in ("mass", "volume") else "volume"


def _num(value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return v


def liberated_fractions(result) -> tuple[dict[str, float], dict[str, float]]:
    """``(fraction_2d, fraction_3d)`` by mineral name, from the summary (NaN where absent)."""
    summary = result.summary or {}
    lib3 = {k: _num(v) for k, v in dict(summary.get("liberated_fraction_3d") or {}).items()}
    lib2 = {k: _num(v) for k, v in dict(summary.get("liberated_fraction_2d") or {}).items()}
    return lib2, lib3


def _fmt_um(values) -> str:
    return " × ".join(f"{float(v):g}" for v in values) + " µm"


def sample_facts(result, info: Mapping) -> list[tuple[str, str]]:
    """Rows ``(label, text)`` of the sample facts table."""
    summary = dict(result.summary or {})
    rows: list[tuple[str, str]] = []
    if info.get("store"):
        rows.append(("Sample store", str(info["store"])))
    if info.get("sieve_fraction"):
        rows.append(("Sieve fraction", str(info["sieve_fraction"])))
    shape = info.get("shape") or summary.get("shape")
    if shape:
        rows.append(("Volume (z × y × x)", " × ".join(str(int(s)) for s in shape) + " voxels"))
    rows.append(("Voxel size (z × y × x)", _fmt_um(result.voxel_size_um)))
    if shape:
        extent = [int(s) * float(v) / 1000.0 for s, v in zip(shape, result.voxel_size_um)]
        rows.append(("Extent", " × ".join(f"{e:.3g}" for e in extent) + " mm"))
    if info.get("particles_source"):
        rows.append(("Particle labels", str(info["particles_source"])))
    unassigned = info.get("unassigned_particle_volume")
    if isinstance(unassigned, Mapping) and unassigned.get("particle_voxels"):
        rows.append(("Particle volume without a phase",
                     f"{100 * float(unassigned['fraction']):.2f} % ({int(unassigned['voxels']):,} voxels with phase 0 "
                     "inside particles; left out of the statistics)"))
    if info.get("minerals_without_density"):
        rows.append(("Minerals without a density",
                     f"{', '.join(map(str, info['minerals_without_density']))}: mass-basis numbers use a stand-in "
                     f"{float(info['stand_in_density_g_cm3']):.3g} g/cm³; volume-basis numbers are exact"))
    particles = result.particles
    n_all = len(particles) if particles is not None else 0
    excluded = list(result.excluded_particle_ids or [])
    rows.append(("Particles found", f"{n_all:,}"))
    rows.append(("Particles analysed", f"{n_all - len(excluded):,}"))
    touching = int(particles["touches_border"].sum()) if particles is not None and "touches_border" in particles else None
    if excluded:
        rows.append(("Particles excluded", f"{len(excluded):,}: they touch the volume border, so they are cut and "
                                           "their size and composition are not known (excluded on request)."))
    elif touching == 0:
        rows.append(("Particles excluded", "none; no particle touches the volume border."))
    elif touching is not None:
        verb = "particle touches" if touching == 1 else "particles touch"
        rows.append(("Particles excluded", f"none; {touching:,} {verb} the volume border and are cut "
                                           "(use --exclude-border to leave them out)."))
    else:
        rows.append(("Particles excluded", "none"))
    sections = result.sections
    if sections is not None:
        n_sec = len(sections)
        text = f"{n_sec:,}"
        if n_sec and "axis" in sections.columns and "position" in sections.columns:
            axes = ", ".join(sorted(set(map(str, sections["axis"]))))
            n_planes = sections[["axis", "position"]].drop_duplicates().shape[0]
            text += f" on {n_planes} planes normal to {axes}"
        params = dict(summary.get("parameters") or {})
        spacing = params.get("section_spacing")
        if spacing not in (None, "", "None"):
            text += f" (every {spacing} voxels)"
        rows.append(("Section particles (2D)", text))
    if result.target:
        rows.append(("Target mineral", str(result.target)))
    rows.append(("Liberated at", f"grade ≥ {100 * float(result.threshold):g} %"))
    bounds = tuple(result.size_classes_um or ())
    size_by = dict(summary.get("parameters") or {}).get("size_by", "esd")
    by_label = "sieve size: intermediate axis" if size_by == "sieve" else "ESD"
    rows.append((f"Size classes ({by_label})", ", ".join(f"{b:g}" for b in bounds) + " µm" if bounds
                 else "one class (all)"))
    for key, label in (("note", "Note"),):
        if info.get(key):
            rows.append((label, str(info[key])))
    return rows


def modal_display(result) -> pd.DataFrame | None:
    """Modal mineralogy for the page: mineral, vol%, wt% (and area% of the sections)."""
    modal = result.modal
    if modal is None or "mineral" not in modal.columns:
        return modal
    out = pd.DataFrame({"mineral": modal["mineral"]})
    for col, label in (("density_g_cm3", "density (g/cm³)"), ("volume_percent", "vol% (3D)"),
                       ("mass_percent", "wt% (3D)"), ("area_percent_2d", "area% (2D)"),
                       ("mass_percent_2d", "wt% (2D)")):
        if col in modal.columns:
            out[label] = modal[col].to_numpy()
    return out


def assay_display(result) -> list[pd.DataFrame]:
    """Calculated assay (wt%) as one-row tables: oxides, then elements (empty list when unknown)."""
    summary = result.summary or {}
    assay = summary.get("calculated_assay_wt_percent") or summary.get("calculated_assay")
    if not assay:
        try:
            from liberation.stats.composition import calculated_assay

            assay = calculated_assay(result.modal, minerals=result.minerals)
        except Exception:  # noqa: BLE001 - the assay is optional on the page
            assay = None
    if not assay:
        return []
    oxides = {o for m in result.minerals for o in m.oxides}
    tables = []
    for label, keep in (("oxides (wt%)", lambda k: k in oxides), ("elements (wt%)", lambda k: k not in oxides)):
        items = sorted((k, v) for k, v in assay.items() if keep(k) and v is not None)
        if items:
            row = {"calculated assay": label, **{k: float(v) for k, v in items}}
            tables.append(pd.DataFrame([row]))
    return tables


def _ci_text(ci) -> str:
    if not ci or len(ci) != 2 or not all(math.isfinite(_num(v)) for v in ci):
        return "n/a"
    return f"{100 * _num(ci[0]):.1f} to {100 * _num(ci[1]):.1f}"


def liberated_display(result) -> pd.DataFrame:
    """Liberated fraction per mineral, 3D and 2D, the bias in percentage points and their 95 % intervals."""
    lib2, lib3 = liberated_fractions(result)
    summary = result.summary or {}
    c3, c2, cb = (dict(summary.get(k) or {}) for k in ("liberated_fraction_3d_ci95", "liberated_fraction_2d_ci95",
                                                         "bias_2d_minus_3d_ci95"))
    basis = basis_of(result)
    names = [n for n in result.minerals.names if n in lib3 or n in lib2]
    cols = ["mineral", f"liberated 3D (%, by {basis})", "3D 95 % interval", "liberated 2D (%)", "2D 95 % interval",
            "bias 2D − 3D (pct. points)", "bias 95 % interval"]
    rows = []
    for n in names:
        f3, f2 = lib3.get(n, float("nan")), lib2.get(n, float("nan"))
        rows.append(dict(zip(cols, [
            n, 100 * f3, _ci_text(c3.get(n)), 100 * f2, _ci_text(c2.get(n)),
            100 * (f2 - f3) if math.isfinite(f2) and math.isfinite(f3) else float("nan"), _ci_text(cb.get(n))])))
    return pd.DataFrame(rows, columns=cols)


def class_distribution(result, mineral: str, dimension: str, size_class: str = "all"):
    """``(class labels, mineral_share)`` of one mineral, dimension and size class (volume basis)."""
    rows = pick(result.liberation, basis=basis_of(result), dimension=dimension, size_class=size_class,
                mineral=mineral)
    if rows is None or len(rows) == 0 or "class" not in rows.columns:
        return [], np.array([])
    return [str(c) for c in rows["class"]], rows["mineral_share"].to_numpy(dtype=float)


def classes_display(result, mineral: str | None) -> pd.DataFrame | None:
    """Liberation classes of one mineral: share (%) in 3D and 2D, all sizes."""
    if mineral is None:
        return None
    labels3, share3 = class_distribution(result, mineral, "3D")
    labels2, share2 = class_distribution(result, mineral, "2D")
    if not labels3:
        return None
    out = pd.DataFrame({"grade class (%)": labels3, "share 3D (%)": 100 * share3})
    if labels2 == labels3:
        out["share 2D (%)"] = 100 * share2
    rows = pick(result.liberation, basis=basis_of(result), dimension="3D", size_class="all", mineral=mineral)
    if rows is not None and "n_particles" in rows.columns and len(rows) == len(out):
        out["particles 3D"] = rows["n_particles"].to_numpy()
    return out


def ordered_size_classes(result, labels) -> list[str]:
    """Size class labels in increasing size, ``all`` last (unknown labels keep their order, before ``all``)."""
    from liberation.stats.particles import size_class_labels

    labels = [str(x) for x in labels]
    known = size_class_labels(tuple(result.size_classes_um or ())) if result.size_classes_um else []
    first = [k for k in known if k in labels]
    rest = [x for x in dict.fromkeys(labels) if x not in first and x != "all"]
    return first + rest + (["all"] if "all" in labels else [])


def comparison_display(result) -> pd.DataFrame | None:
    """The 2D-vs-3D comparison per size class (report basis) in percent, with 95 % intervals.

    Size classes in increasing order; a class with fewer than 30 particles is marked ``*``.
    """
    df = pick(result.comparison, basis=basis_of(result))
    if df is None or len(df) == 0 or "size_class" not in df.columns:
        return None
    order = {s: i for i, s in enumerate(ordered_size_classes(result, df["size_class"]))}
    df = df.assign(_o=df["size_class"].astype(str).map(order)).sort_values(["mineral", "_o"] if "mineral" in df
                                                                         else ["_o"], kind="stable")
    columns = {
        "size_class": "size class (µm)", "mineral": "mineral", "n_particles_3d": "particles 3D",
        "n_sections_2d": "section particles 2D", "liberated_fraction_3d": "liberated 3D (%)",
        "liberated_fraction_2d": "liberated 2D (%)", "liberated_fraction_bias": "bias (pct. points)",
        "mean_grade_3d": "mean grade 3D (%)", "mean_grade_2d": "mean grade 2D (%)",
        "mean_grade_bias": "grade bias (pct. points)",
    }
    for col in ("liberated_fraction_3d", "liberated_fraction_2d", "liberated_fraction_bias"):
        if f"{col}_ci95_low" in df.columns:
            columns[f"{col}_ci95_low"] = columns[col].replace(" (%)", "").replace(" (pct. points)", "") + " 95 % low"
            columns[f"{col}_ci95_high"] = columns[col].replace(" (%)", "").replace(" (pct. points)", "") + " 95 % high"
    out = pd.DataFrame()
    for col, label in columns.items():
        if col in df.columns:
            values = df[col].to_numpy()
            if col == "size_class" and "few_particles" in df.columns:
                values = np.array([f"{v} *" if few else str(v)
                                   for v, few in zip(values, df["few_particles"].to_numpy(dtype=bool))], dtype=object)
            elif col not in ("size_class", "mineral", "n_particles_3d", "n_sections_2d"):
                values = 100 * values.astype(float)
            out[label] = values
    return out


def surface_display(result, mineral: str | None) -> pd.DataFrame | None:
    """Liberation by free surface of one mineral (3D, all sizes)."""
    if mineral is None:
        return None
    rows = pick(result.surface_liberation, basis=basis_of(result), dimension="3D", size_class="all",
                mineral=mineral)
    if rows is None or len(rows) == 0 or "class" not in rows.columns:
        return None
    out = pd.DataFrame({"exposed surface class (%)": rows["class"].astype(str).to_numpy(),
                        f"share of {mineral} (%)": 100 * rows["mineral_share"].to_numpy(dtype=float)})
    if "n_particles" in rows.columns:
        out["particles"] = rows["n_particles"].to_numpy()
    return out


def locking_display(result) -> pd.DataFrame | None:
    """Locking (3D, all sizes): for each mineral the share (%) liberated, binary with each partner, ternary+."""
    rows = pick(result.locking, basis=basis_of(result), dimension="3D", size_class="all")
    if rows is None or len(rows) == 0 or "locking" not in rows.columns:
        return None
    label = np.where(rows["locking"].astype(str) == "binary",
                     "binary with " + rows.get("partner", pd.Series([""] * len(rows))).astype(str),
                     rows["locking"].astype(str))
    table = pd.DataFrame({"mineral": rows["mineral"].to_numpy(), "locking": label,
                          "share": 100 * rows["mineral_share"].to_numpy(dtype=float)})
    wide = table.pivot_table(index="mineral", columns="locking", values="share", aggfunc="sum", sort=False)
    order = ["liberated"] + sorted(c for c in wide.columns if c.startswith("binary")) + ["ternary+"]
    wide = wide[[c for c in order if c in wide.columns]]
    wide.columns = [f"{c} (%)" for c in wide.columns]
    return wide.reset_index()


def association_matrix(result) -> tuple[np.ndarray, list[str], list[str]]:
    """``(matrix, rows, columns)``: share of each mineral's boundary in contact with each neighbour (3D)."""
    df = pick(result.association, dimension="3D", size_class="all")
    if df is None or len(df) == 0:
        return np.zeros((0, 0)), [], []
    neighbour = next((c for c in ("neighbour", "neighbor", "partner", "contact") if c in df.columns), None)
    value = next((c for c in ("boundary_share", "share", "fraction", "contact_fraction") if c in df.columns), None)
    if neighbour is not None and value is not None and "mineral" in df.columns:
        wide = df.pivot_table(index="mineral", columns=neighbour, values=value, aggfunc="sum", sort=False)
    elif "mineral" in df.columns:
        wide = df.set_index("mineral").select_dtypes("number")
    else:
        return np.zeros((0, 0)), [], []
    names = list(result.minerals.names)
    row_order = [n for n in names if n in wide.index] + [n for n in wide.index if n not in names]
    col_order = [n for n in names if n in wide.columns] + [c for c in wide.columns if c not in names]
    wide = wide.reindex(index=row_order, columns=col_order)
    return wide.to_numpy(dtype=float), [str(r) for r in row_order], [str(c) for c in col_order]


def association_display(result) -> pd.DataFrame | None:
    """Association matrix in percent for the page."""
    matrix, rows, cols = association_matrix(result)
    if matrix.size == 0:
        return None
    out = pd.DataFrame(100 * matrix, columns=[f"{c} (%)" for c in cols])
    out.insert(0, "boundary of", rows)
    return out


def _included(df: pd.DataFrame | None) -> pd.DataFrame | None:
    if df is not None and "excluded" in df.columns:
        return df[~df["excluded"].to_numpy(dtype=bool)]
    return df


def particle_weights(result) -> tuple[np.ndarray, str]:
    """Weights of the included particles on the report basis (mass or volume) and its name (``"by mass"``)."""
    t = _included(result.particles)
    if basis_of(result) == "mass" and "mass_ug" in t.columns:
        return t["mass_ug"].to_numpy(dtype=float), "by mass"
    if "volume_um3" in t.columns:
        return t["volume_um3"].to_numpy(dtype=float), "by volume"
    return t["esd_um"].to_numpy(dtype=float) ** 3, "by volume"


def size_percentiles(result) -> pd.DataFrame:
    """P50 and P80 of the particle (3D ESD, report basis), section (2D ECD, by area) and grain sizes.

    Px is the size below which x % of the weight passes on the cumulative curve
    (:func:`liberation.report.plots.percentile_size`). Grains are weighed by volume (for one
    mineral the same as by mass).

    Returns
    -------
    DataFrame
        Columns ``distribution, weighed, count, P50 (µm), P80 (µm)``.
    """
    from liberation.report.plots import percentile_size

    rows = []
    t = _included(result.particles)
    if t is not None and len(t) and "esd_um" in t.columns:
        w, label = particle_weights(result)
        esd = t["esd_um"].to_numpy(dtype=float)
        rows.append(("particles, 3D (ESD)", label, len(esd), percentile_size(esd, w, 50), percentile_size(esd, w, 80)))
    s = _included(result.sections)
    if s is not None and len(s) and "ecd_um" in s.columns:
        ecd = s["ecd_um"].to_numpy(dtype=float)
        w = s["area_um2"].to_numpy(dtype=float) if "area_um2" in s.columns else ecd**2
        rows.append(("section particles, 2D (ECD)", "by area", len(ecd), percentile_size(ecd, w, 50),
                     percentile_size(ecd, w, 80)))
    g = _included(result.grain_sizes)
    if g is not None and len(g) and "esd_um" in g.columns and "mineral" in g.columns:
        for name in result.minerals.names:
            esd = g.loc[g["mineral"].astype(str) == name, "esd_um"].to_numpy(dtype=float)
            if esd.size:
                rows.append((f"{name} grains, 3D (ESD)", "by volume", len(esd), percentile_size(esd, esd**3, 50),
                             percentile_size(esd, esd**3, 80)))
    return pd.DataFrame(rows, columns=["distribution", "weighed", "count", "P50 (µm)", "P80 (µm)"])


def modal_by_size(result) -> pd.DataFrame | None:
    """Modal mineralogy of each particle size class (report basis) and the sample share of each class.

    Returns
    -------
    DataFrame or None
        Columns ``size class (µm), particles, share of sample (%)``, then ``NAME (%)`` per mineral
        (rows add up to 100); size classes in increasing order, then ``all``. None without a
        particle table.
    """
    t = _included(result.particles)
    names = list(result.minerals.names)
    cols = [f"voxels_{n}" for n in names]
    if t is None or len(t) == 0 or any(c not in t.columns for c in cols):
        return None
    amounts = t[cols].to_numpy(dtype=float)
    if basis_of(result) == "mass":
        amounts = amounts * np.array([m.density for m in result.minerals], dtype=float)[None, :]
    classes = t["size_class"].astype(str).to_numpy() if "size_class" in t.columns else np.full(len(t), "all")
    labels = [c for c in ordered_size_classes(result, classes) if c != "all"] + ["all"]
    total = amounts.sum()
    rows = []
    for label in labels:
        sel = np.ones(len(t), dtype=bool) if label == "all" else classes == label
        a = amounts[sel].sum(axis=0)
        rows.append([label, int(sel.sum()), 100 * a.sum() / total if total > 0 else np.nan,
                     *(100 * a / a.sum() if a.sum() > 0 else np.full(len(names), np.nan))])
    return pd.DataFrame(rows, columns=["size class (µm)", "particles", "share of sample (%)",
                                       *[f"{n} (%)" for n in names]])


def _list_text(values, unit: str = "") -> str:
    values = list(values)
    if len(values) > 6:
        step = values[1] - values[0] if len(values) > 1 else 0
        if all(abs((b - a) - step) < 1e-9 for a, b in zip(values, values[1:])):
            return f"{values[0]:g} to {values[-1]:g}{unit} in steps of {step:g}"
    return ", ".join(f"{float(v):g}" for v in values) + unit


def parameter_rows(result, version: str) -> list[tuple[str, str]]:
    """Rows ``(what, setting)`` of the parameters table, in words with units (not the raw option names).

    Parameters
    ----------
    result : LiberationResult
        Its ``summary["parameters"]`` (from :func:`liberation.stats.analyse`) is read.
    version : str
        Version of the liberation library that wrote the report.
    """
    summary = dict(result.summary or {})
    params = dict(summary.get("parameters") or {})
    vs = [float(v) for v in result.voxel_size_um]
    rows: list[tuple[str, str]] = []
    target = params.get("target", result.target)
    rows.append(("Target mineral", str(target) if target else "every mineral (no target chosen)"))
    thr = float(params.get("threshold", result.threshold))
    rows.append(("Liberated when", f"the particle's grade of the mineral is at least {100 * thr:g} %"))
    if "classes_percent" in params:
        rows.append(("Grade classes", _list_text(params["classes_percent"], " %")
                     + " (plus the classes exactly 0 % and exactly 100 %)"))
    sizes = params.get("size_classes_um", list(result.size_classes_um or ()))
    rows.append(("Size classes (ESD bounds)", _list_text(sizes, " µm") if sizes else "one class (all sizes)"))
    basis = params.get("by") or summary.get("basis")
    if basis:
        rows.append(("Basis of the headline numbers", {"mass": "mass (wt%: volume × mineral density)",
                                                       "volume": "volume (vol%)"}.get(str(basis), str(basis))))
    if "section_axes" in params:
        axes = list(params.get("section_axes") or [])
        spacing = params.get("section_spacing")
        if not axes:
            text = "none (no 2D comparison)"
        else:
            text = "planes normal to " + ", ".join(axes)
            if spacing in (None, "", "None"):
                text += ", about 16 planes per axis"
            else:
                k = {"z": 0, "y": 1, "x": 2}.get(axes[0], 0)
                text += f", every {int(spacing)} voxels ({int(spacing) * vs[k]:g} µm)"
        rows.append(("Virtual 2D sections", text))
    if params.get("random_sections"):
        rows.append(("Randomly oriented sections", f"{int(params['random_sections'])} planes"))
    if "exclude_border" in params:
        rows.append(("Particles touching the volume border", "left out (cut by the field of view)"
                     if params["exclude_border"] else "kept (their size and grade are truncated)"))
    if "bootstrap" in params:
        n = int(params["bootstrap"] or 0)
        rows.append(("Confidence intervals", f"95 %, from {n:,} particle bootstrap resamples (stratified by size "
                                             "class)" if n else "none (no bootstrap)"))
    if "surface_method" in params:
        rows.append(("Particle surface area", {"mesh": "marching-cubes mesh (internal pores not counted as free "
                                                       "surface)",
                                               "corrected_voxel_faces": "voxel faces × 2/3 correction"}.get(
                         str(params["surface_method"]), str(params["surface_method"]))))
    if "shapes" in params:
        rows.append(("Particle shape", {"full": "mesh sphericity, Feret diameters, pores, principal axes",
                                        "fast": "principal axes only (elongation, flatness, intermediate axis); "
                                                "no mesh, Feret diameters or pores",
                                        "off": "not measured"}.get(str(params["shapes"]), str(params["shapes"]))))
    if "seed" in params:
        rows.append(("Random seed", f"{params['seed']} (bootstrap, random planes, gallery tie breaks)"))
    rows.append(("Voxel size (z × y × x)", _fmt_um(vs)))
    known = {"target", "threshold", "classes_percent", "size_classes_um", "by", "section_axes", "section_spacing",
             "random_sections", "exclude_border", "bootstrap", "surface_method", "seed", "pores", "random_planes",
             "shapes"}
    for key, value in params.items():
        if key not in known:
            rows.append((key.replace("_", " ").capitalize(), str(value)))
    rows.append(("Software", f"liberation {summary.get('version', version)} (statistics), {version} (report)"))
    return rows
