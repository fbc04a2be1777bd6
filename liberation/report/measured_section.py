"""The three-way comparison of a measured section in the report: measured vs virtual section vs 3D.

Pure functions over a :class:`liberation.stats.measured_section.MeasuredSectionComparison`:
the figure (measured labels, virtual labels, liberation class distributions of the three), the
display table and the HTML block.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["FIGURE_NAME", "CAPTION", "TABLE_CAPTION", "BY_SIZE_CAPTION", "by_size_table", "display_table",
           "plot_measured_section", "html_block"]

#: Image name of the figure in the report folder (``measured_section.png``).
FIGURE_NAME = "measured_section"

CAPTION = ("Left: the measured section (mineral labels of the registered map); middle: the virtual CT section at "
           "the same pose (the segmented phases of the store at the map pixel centres), white outlines = section "
           "particles; right: the share of the mineral in each grade class, measured, virtual and in 3D (the whole "
           "particles the plane cuts). Measured vs virtual differ by the segmentation and registration error; "
           "virtual vs 3D by the stereological bias (a section sees only part of each particle).")

TABLE_CAPTION = ("Measured section, virtual CT section at the same pose and the same particles in 3D. "
                 "Measured minus virtual = segmentation + registration error; virtual minus 3D = stereological "
                 "bias. Liberated fraction: share of the mineral in particles whose grade is at least the "
                 "threshold; mean grade: of the particles that hold the mineral; exposed fraction: share of "
                 "those particles' boundary held by the mineral (perimeter in 2D, surface in 3D).")


BY_SIZE_CAPTION = ("The same comparison per size class of the 3D parent particle (the report's size classes): "
                   "liberated fraction (%) of each mineral, measured section, virtual section, 3D, and the number of "
                   "section particles / 3D particles in the class (measured_section_by_size.csv has every column).")


def by_size_table(comparison) -> pd.DataFrame:
    """Liberated % per size class and mineral: measured, virtual, 3D side by side, with the counts.

    Empty when the comparison has no size classes.
    """
    b = getattr(comparison, "by_size", None)
    if b is None or len(b) == 0:
        return pd.DataFrame(columns=["size class", "mineral"])
    order = list(dict.fromkeys(b["size_class"]))
    minerals = list(dict.fromkeys(b["mineral"]))
    rows = []
    for sc in order:
        for m in minerals:
            sel = b[(b["size_class"] == sc) & (b["mineral"] == m)].set_index("source")
            row = {"size class": sc, "mineral": m}
            for src in ("measured", "virtual", "3D"):
                row[f"{src} particles"] = int(sel.loc[src, "n_particles"]) if src in sel.index else 0
            for src in ("measured", "virtual", "3D"):
                row[f"{src} liberated %"] = (100 * float(sel.loc[src, "liberated_fraction"]) if src in sel.index
                                             else float("nan"))
            row["measured - virtual"] = row["measured liberated %"] - row["virtual liberated %"]
            row["virtual - 3D"] = row["virtual liberated %"] - row["3D liberated %"]
            rows.append(row)
    return pd.DataFrame(rows)


def display_table(comparison) -> pd.DataFrame:
    """The summary in percent, one row per source and mineral, with the two differences as extra rows."""
    s = comparison.summary
    out = pd.DataFrame({
        "source": s["source"], "mineral": s["mineral"], "particles": s["n_particles"],
        "with mineral": s["n_with_mineral"], "modal %": s["modal_percent"],
        "liberated %": 100 * s["liberated_fraction"], "mean grade %": 100 * s["mean_grade"],
        "exposed %": 100 * s["exposed_fraction"],
    })
    rows = [out]
    value_cols = ["modal %", "liberated %", "mean grade %", "exposed %"]
    for label, a, b in (("measured - virtual", "measured", "virtual"), ("virtual - 3D", "virtual", "3D")):
        left = out[out["source"] == a].set_index("mineral")[value_cols]
        right = out[out["source"] == b].set_index("mineral")[value_cols]
        diff = (left - right).reset_index()
        diff.insert(0, "source", label)
        rows.append(diff)
    return pd.concat(rows, ignore_index=True)


def _rgba(phases: np.ndarray, colors: Mapping[int, str], valid: np.ndarray) -> np.ndarray:
    from matplotlib.colors import to_rgba

    img = np.zeros(phases.shape + (4,))
    img[..., 3] = 1.0
    img[~valid] = (0.85, 0.85, 0.85, 1.0)
    for pid, color in colors.items():
        img[phases == pid] = to_rgba(color)
    return img


def plot_measured_section(comparison, *, colors: Mapping[int, str], names: Mapping[int, str], mineral: str | None):
    """Measured labels | virtual labels | liberation classes of ``mineral`` (measured, virtual, 3D).

    Parameters
    ----------
    comparison : MeasuredSectionComparison
    colors, names : mapping of int to str
        Phase id -> colour and mineral name.
    mineral : str, optional
        Mineral of the class panel (default the first of the comparison's classes).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    from liberation.report.plots import _figure, add_scale_bar

    fig = _figure(13.0, 4.4)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    valid = comparison.valid
    for ax, title, phases, pieces in ((axes[0], "measured section", comparison.measured_phases,
                                       comparison.measured_pieces),
                                      (axes[1], "virtual CT section", comparison.virtual_phases,
                                       comparison.virtual_pieces)):
        ax.imshow(_rgba(phases, colors, valid), interpolation="nearest")
        if pieces is not None and pieces.max() > 0:
            ax.contour(pieces > 0, levels=[0.5], colors="white", linewidths=0.6)
        add_scale_bar(ax, comparison.pixel_size_um, int(phases.shape[1]))
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = axes[2]
    classes = comparison.classes
    if mineral is None and len(classes):
        mineral = str(classes["mineral"].iloc[0])
    sel = classes[classes["mineral"] == mineral]
    labels = list(dict.fromkeys(sel["class"]))
    x = np.arange(len(labels))
    width = 0.27
    for k, (source, color) in enumerate(zip(("measured", "virtual", "3D"), ("#e07b39", "#1f77b4", "#444444"))):
        rows = sel[sel["source"] == source].set_index("class").reindex(labels)
        ax.bar(x + (k - 1) * width, 100 * np.nan_to_num(rows["mineral_share"].to_numpy(dtype=float)), width,
               label=source, color=color)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel(f"grade class of {mineral} (%)")
    ax.set_ylabel(f"share of {mineral} (%)")
    ax.set_title(f"liberation classes of {mineral}", fontsize=10)
    ax.legend(fontsize=8)
    handles = [Patch(facecolor=colors[i], edgecolor="black", label=names.get(i, str(i))) for i in sorted(colors)]
    handles.append(Patch(facecolor=(0.85, 0.85, 0.85), edgecolor="black", label="outside the CT"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    fig.suptitle("Measured section vs virtual CT section vs 3D particles")
    return fig


def html_block(comparison, images: Mapping[str, bytes], *, digits: int = 1) -> str:
    """The report section of the three-way comparison (heading, sentence, table, figure, association)."""
    from liberation.report.html import _figure, df_to_html

    a = comparison.agreement
    e = html.escape
    parts = ['<h2 id="measured-section">Measured section vs virtual section vs 3D</h2>']
    parts.append(
        f"<p>{e(TABLE_CAPTION)} Pixels of the map inside the CT volume: {a.get('n_pixels_inside', 0)} of "
        f"{a.get('n_pixels', 0)}; measured and virtual phases differ on "
        f"{100 * float(a.get('pixel_disagreement', float('nan'))):.1f} % of the particle pixels. Section particles "
        "touching the map edge or the outside of the CT, and particles excluded from the 3D statistics, are "
        "left out of all three rows.</p>")
    parts.append(df_to_html(display_table(comparison), digits=digits))
    per_size = by_size_table(comparison)
    if len(per_size):
        parts.append(f"<h3>Per size class</h3><p>{e(BY_SIZE_CAPTION)}</p>")
        parts.append(df_to_html(per_size, digits=digits))
    parts.append(_figure(FIGURE_NAME, images, caption=CAPTION,
                         alt="Measured and virtual section label maps with scale bars, and the liberation class "
                             "distributions of the measured section, the virtual section and the 3D particles."))
    parts.append("<h3>Boundary association on the sections (2D)</h3>"
                 '<p class="note">Share of each mineral\'s boundary (pixel edges) shared with each neighbour; void = '
                 "the particle's outline. The 3D column is the same share over voxel faces of only the particles the "
                 "plane cuts (so 2D and 3D describe the same particles); the whole sample is in the Mineral "
                 "association section.</p>")
    assoc = comparison.association.pivot_table(index=["mineral", "neighbour"], columns="source", values="share",
                                               sort=False).reset_index()
    for col in ("measured", "virtual", "3D"):
        if col in assoc.columns:
            assoc[col] = 100 * assoc[col]
    assoc.columns = [c if c in ("mineral", "neighbour") else f"{c} share %" for c in assoc.columns]
    parts.append(df_to_html(assoc, digits=digits))
    return "\n".join(parts)
