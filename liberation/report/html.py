"""The report page: one self-contained HTML document (plots as base64 data URIs, inline CSS, no JS).

:func:`build_html` is pure: it takes the result and the PNG bytes of the plots and returns the
page as a string.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from liberation.report.text import bias_sentence, generated_time, headline_mineral, headline_sentence

__all__ = ["build_html", "png_data_uri", "PLOT_CAPTIONS"]

#: Plot name -> (section, caption). The order is the order on the page.
PLOT_CAPTIONS: dict[str, tuple[str, str]] = {
    "modal": ("modal", "Modal mineralogy by volume (vol%) and by mass (wt%)."),
    "modal_by_size": ("modal", "Modal mineralogy of each particle size class (report basis), with the share of the "
                               "sample in each class."),
    "liberation_classes": (
        "liberation",
        "Share of the target mineral in each grade class of the particles that hold it: 3D (particle volumes) "
        "next to 2D (section areas). Liberated particles sit in the right-most classes.",
    ),
    "cumulative_yield": (
        "liberation",
        "Cumulative liberation yield: the share of the mineral found in particles whose grade is at least the "
        "value on the x axis. The 2D curve lying above the 3D curve means the sections look more liberated "
        "than the particles are.",
    ),
    "bias_by_size": (
        "liberation",
        "Liberated fraction per particle size class (ESD), 3D and 2D, and the bias 2D minus 3D in percentage points.",
    ),
    "association": (
        "association",
        "Mineral association: each row gives how the boundary of one mineral is shared among its neighbours "
        "(other minerals and void = free surface), from face-adjacent voxel pairs. Rows add up to 100 %.",
    ),
    "grade_recovery": (
        "grade_recovery",
        "Theoretical grade-recovery of the target: particles taken from the richest to the poorest, a perfect "
        "particle-by-particle separation.",
    ),
    "size_distribution": (
        "sizes",
        "Particle size distribution: cumulative passing by volume against the equivalent sphere diameter "
        "(ESD, 3D, on the report basis), and the equivalent circle diameter of the section particles (ECD, 2D, by "
        "area). Circles mark P50 and P80, the sizes below which 50 % and 80 % pass.",
    ),
    "grain_sizes": ("sizes", "Grain size distribution of each mineral (connected grains inside particles), by volume; "
                             "circles mark P50 and P80."),
    "slices": ("slices", "CT slices with the segmented phases overlaid in the colours of the mineral list."),
}

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #1f4e79;padding-bottom:.3em}h2{color:#1f4e79;margin-top:1.8em;
border-bottom:1px solid #ccc}
.headline{background:#fff4e5;border-left:6px solid #e07b39;padding:.8em 1em;font-size:1.15em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#eef3f8}
td:first-child,th:first-child{text-align:left}
table.facts td{text-align:left}table.text td{text-align:left;vertical-align:top}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444;max-width:900px}
.note{color:#555;font-size:.9em}
code{background:#f3f3f3;padding:0 .2em}
.swatch{display:inline-block;width:.9em;height:.9em;border:1px solid #333;vertical-align:middle;margin-right:.3em}
"""


def png_data_uri(data: bytes) -> str:
    """``data:image/png;base64,...`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt_number(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        if abs(v) >= 1e5:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return str(value)


def _pct(value) -> str:
    if value is None:
        return "–"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(v) else f"{100 * v:.1f} %"


def df_to_html(df: pd.DataFrame | None, *, max_rows: int = 60, digits: int = 3, percent_columns=()) -> str:
    """Render a DataFrame as an escaped HTML table (numbers rounded; long tables cut with a note)."""
    if df is None or len(df.columns) == 0:
        return '<p class="note">no data</p>'
    if len(df) == 0:
        return '<p class="note">no rows</p>'
    shown = df.head(max_rows)
    head = "".join(f"<th>{_e(c)}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(shown.columns, record):
            text = _pct(value) if col in percent_columns else _fmt_number(value, digits)
            cells.append(f"<td>{_e(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = ""
    if len(df) > max_rows:
        note = f'<p class="note">First {max_rows} of {len(df)} rows; the CSV file has all of them.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


def _facts_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def _text_table(headers, rows) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="text"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(name: str, images: Mapping[str, bytes], caption: str | None = None, alt: str | None = None,
            scale_bars: Mapping[str, Sequence[float]] | None = None) -> str:
    if name not in images:
        return ""
    caption = caption if caption is not None else PLOT_CAPTIONS.get(name, ("", name))[1]
    alt = alt or f"{name.replace('_', ' ').capitalize()} plot. {caption}"
    bars = ""
    if scale_bars is not None and name in scale_bars:
        lengths = [float(v) for v in scale_bars[name]]
        bars = (f' data-scale-bars="{len(lengths)}"'
                f' data-scale-bar-um="{_e(" ".join(f"{v:g}" for v in lengths))}"')
    return (f'<figure id="fig-{_e(name)}"><img src="{png_data_uri(images[name])}" alt="{_e(alt)}"{bars}>'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _section_figures(section: str, images: Mapping[str, bytes],
                     scale_bars: Mapping[str, Sequence[float]] | None = None) -> str:
    return "".join(_figure(name, images, scale_bars=scale_bars)
                   for name, (sec, _) in PLOT_CAPTIONS.items() if sec == section)


def build_html(result, images: Mapping[str, bytes], *, sample_info: Mapping | None = None,
               title: str = "Mineral liberation report", gallery=None,
               scale_bars: Mapping[str, Sequence[float]] | None = None, measured_section=None,
               stereology=None) -> str:
    """Return the report page as a self-contained HTML string.

    Parameters
    ----------
    result : liberation.stats.result.LiberationResult
        The statistics.
    images : mapping of str to bytes
        Plot name -> PNG bytes (names of :data:`PLOT_CAPTIONS`; others are appended at the end).
    sample_info : mapping, optional
        Facts about the sample (store path, shape, ...) shown at the top.
    title : str
        Page title.
    gallery : (DataFrame, list of (str, str, str)), optional
        The gallery table (``gallery.csv``) and ``(image name, title, alt text)`` per class panel
        (:func:`liberation.report.figures.make_gallery`); the images are in ``images``.
    scale_bars : mapping of str to sequence of float, optional
        Image name -> lengths in µm of the scale bars drawn on it
        (:func:`liberation.report.plots.scale_bar_lengths`); written on its ``<img>`` as
        ``data-scale-bars`` (the count) and ``data-scale-bar-um`` (the lengths, space separated),
        so that a test or a reader's tool can check that every image that needs one has a scale bar.
    measured_section : MeasuredSectionComparison, optional
        Adds the section "Measured section vs virtual section vs 3D"
        (:func:`liberation.report.measured_section.html_block`; its figure is ``images["measured_section"]``).
    stereology : StereologyCheck, optional
        Adds the table 2D vs corrected 2D vs 3D (:func:`liberation.report.stereology.html_block`).
    """
    from liberation import __version__
    from liberation.report import tables as T
    from liberation.report.figures import mineral_colors
    from liberation.report.glossary import glossary_rows

    summary = dict(result.summary or {})
    info = dict(sample_info or {})
    names = list(result.minerals.names)
    lib3 = dict(summary.get("liberated_fraction_3d") or {})
    lib2 = dict(summary.get("liberated_fraction_2d") or {})
    head_mineral = headline_mineral(result.target, lib2, lib3, names)
    parts: list[str] = []
    generated = generated_time()
    parts.append(f"<h1>{_e(title)}</h1>")
    parts.append(f'<p class="note">Generated {generated} by liberation {_e(__version__)}.</p>')
    no_sections = result.sections is None or len(result.sections) == 0
    if head_mineral is not None:
        sentence = headline_sentence(head_mineral, lib2, lib3, summary, no_sections=no_sections,
                                     percent=_pct)
        parts.append(f'<p class="headline" id="bias-sentence">{_e(sentence)}</p>')
        parts.append(
            '<p class="note">The liberated fraction is the share of a mineral held by particles whose grade of it is '
            f"at least {_pct(result.threshold)} (basis: {_e(summary.get('basis', 'volume'))}; 3D over whole "
            "particles, 2D over the section particles of the same particles). Polished sections cut particles at "
            "random heights, so a section often misses the other minerals of a particle and looks more liberated "
            "than the particle is. Intervals: 95 % particle bootstrap "
            f"({int(summary.get('n_boot') or 0)} replicates, stratified by size class).</p>"
        )

    # ------------------------------------------------------------ sample facts
    parts.append("<h2>Sample</h2>")
    parts.append(_facts_table(T.sample_facts(result, info)))
    shown = mineral_colors(result)
    parts.append("<p>Minerals: " + ", ".join(
        f'<span class="swatch" style="background:{_e(shown[m.name])}"></span>{_e(m.name)} '
        f"(id {m.id}, {m.density:g} g/cm³)" for m in result.minerals) + ".</p>")
    changed = [m for m in result.minerals if shown[m.name].lower() != str(m.color).lower()]
    if changed:
        parts.append('<p class="note">Shown in other colours than the mineral list\'s, so that every mineral stands '
                     "apart from the CT greys and from the others also for colour-blind readers: "
                     + ", ".join(f"{_e(m.name)} ({_e(m.color)} → {_e(shown[m.name])})" for m in changed) + ".</p>")
    parts.append(_section_figures("slices", images, scale_bars))

    # ------------------------------------------------------------------ modal
    parts.append("<h2>Modal mineralogy</h2>")
    parts.append(df_to_html(T.modal_display(result), digits=2))
    assay = T.assay_display(result)
    if assay:
        parts.append("<p>Calculated assay, from the modal wt% and the mineral compositions:</p>"
                     + "".join(df_to_html(a, digits=2) for a in assay))
    parts.append(_section_figures("modal", images, scale_bars))
    by_size = T.modal_by_size(result)
    if by_size is not None and len(by_size) > 1:
        parts.append(f"<h3>Modal mineralogy by size class ({_e(T.basis_of(result))} basis)</h3>"
                     + df_to_html(by_size, digits=1))
    quantification = T.quantification_display(result)
    if quantification is not None:
        parts.append(f"<h3 id=\"quantification\">{_e(T.QUANTIFICATION_HEADING)}</h3>"
                     f"<p>{_e(T.QUANTIFICATION_CAPTION)}</p>" + df_to_html(quantification, digits=3))

    # ------------------------------------------------------------- liberation
    parts.append("<h2>Liberation: 3D particles vs 2D sections</h2>")
    if not no_sections:
        cis = summary.get("bias_2d_minus_3d_ci95") or {}
        sentences = [bias_sentence(n, lib2.get(n), lib3.get(n), ci95=cis.get(n), basis=summary.get("basis"))
                     for n in names if n in lib3 or n in lib2]
        parts.append("<ul>" + "".join(f"<li>{_e(s)}</li>" for s in sentences) + "</ul>")
    parts.append(df_to_html(T.liberated_display(result), digits=1))
    parts.append(_section_figures("liberation", images, scale_bars))
    classes = T.classes_display(result, head_mineral)
    if classes is not None:
        parts.append(f"<h3>Liberation classes of {_e(head_mineral)} (all sizes)</h3>" + df_to_html(classes, digits=1))
    comparison = T.comparison_display(result)
    if comparison is not None:
        parts.append("<h3>2D vs 3D per size class</h3>" + df_to_html(comparison, digits=1))
    if stereology is not None and len(stereology.table):
        from liberation.report.stereology import html_block as stereology_block

        parts.append(stereology_block(stereology))
    surface = T.surface_display(result, head_mineral)
    if surface is not None:
        parts.append(f"<h3>Liberation by free surface of {_e(head_mineral)} (3D)</h3>" + df_to_html(surface, digits=1))
    locking = T.locking_display(result)
    if locking is not None:
        parts.append("<h3>Locking (3D, all sizes)</h3>" + df_to_html(locking, digits=1))

    if measured_section is not None:
        from liberation.report.measured_section import html_block

        parts.append(html_block(measured_section, images))

    # ---------------------------------------------------------------- gallery
    if gallery is not None and len(gallery[1]):
        table, panels = gallery
        parts.append('<h2 id="gallery">Particle gallery</h2>')
        parts.append(f'<p class="note">Per non-empty grade class and locking class of {_e(head_mineral)}: the '
                     "largest particle and, of the others, the one whose ESD is closest to the class median (ties "
                     "broken by a seeded random choice). Each row shows the central z section in the mineral colours and "
                     "shaded 3D views of the particle seen along z, y and x; gallery.csv lists them.</p>")
        for name, caption, alt in panels:
            parts.append(_figure(name, images, caption=caption, alt=alt, scale_bars=scale_bars))
        rows = [(f"{r.group_kind}: {r.group}", int(r.particle_id), r.reason, f"{r.esd_um:.0f}",
                 f"{r.grade_percent:.1f}") for r in table.itertuples()]
        parts.append(_text_table(["class", "particle", "why chosen", "ESD (µm)", f"grade of {head_mineral} (%)"],
                                 rows))

    # ------------------------------------------------------------ association
    parts.append("<h2>Mineral association</h2>")
    parts.append(df_to_html(T.association_display(result), digits=1))
    parts.append(_section_figures("association", images, scale_bars))

    # --------------------------------------------------------- grade recovery
    parts.append("<h2>Theoretical grade-recovery</h2>")
    parts.append(_section_figures("grade_recovery", images, scale_bars))

    # ------------------------------------------------------------------ sizes
    parts.append("<h2>Particle and grain sizes</h2>")
    parts.append(df_to_html(T.size_percentiles(result), digits=1))
    parts.append(_section_figures("sizes", images, scale_bars))

    gallery_names = {p[0] for p in gallery[1]} if gallery is not None else set()
    if measured_section is not None:
        gallery_names.add("measured_section")
    extra = [n for n in images if n not in PLOT_CAPTIONS and n not in gallery_names]
    if extra:
        parts.append("<h2>More plots</h2>" + "".join(_figure(n, images, scale_bars=scale_bars) for n in extra))

    # ------------------------------------------------------------- parameters
    parts.append("<h2>Parameters</h2>")
    parts.append(_text_table(["what", "setting"], T.parameter_rows(result, __version__)))

    # --------------------------------------------------------------- glossary
    parts.append('<h2 id="glossary">Glossary</h2>')
    parts.append('<p class="note">What the tables, classes and files of this report mean. The CSV files next to '
                 "this page hold every number; summary.json the key ones.</p>")
    parts.append(_text_table(["term", "meaning"], glossary_rows(result)))
    body = "\n".join(p for p in parts if p)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
        f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
