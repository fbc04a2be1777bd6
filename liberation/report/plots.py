"""Report plots: pure functions that return matplotlib Figures (Agg backend, no file I/O).

Every function takes plain numbers (sequences, mappings, small 2D arrays) so that it can be
used on its own in a notebook; :mod:`liberation.report.figures` maps a
:class:`~liberation.stats.result.LiberationResult` onto these functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "add_scale_bar",
    "nice_length",
    "percentile_size",
    "plot_association",
    "plot_bias_by_size",
    "plot_cumulative_yield",
    "plot_grade_recovery",
    "plot_grain_sizes",
    "plot_liberation_classes",
    "plot_modal",
    "plot_modal_by_size",
    "plot_size_distribution",
    "plot_slices",
]

COLOR_3D = "#1f4e79"
COLOR_2D = "#e07b39"


#: Fixed margins (left, right, bottom, top) in inches of the plots with one axes row whose labels do not depend
#: on the data's names (tick labels are numbers or short class labels): no layout engine, which is about a
#: third of their drawing time (session 9). Close to what the constrained layout chose for them, plus room for
#: 3-digit tick labels.
MARGINS = {
    "bars": (0.62, 0.1, 0.36, 0.3),  # modal: horizontal mineral names under the bars
    "classes": (0.62, 0.1, 0.92, 0.3),  # liberation classes: labels rotated by 45 degrees, and an axis label
    "curve": (0.66, 0.22, 0.5, 0.3),  # cumulative yield, grade-recovery, size distributions: 0..100 % axes
    "bias": (0.76, 0.1, 0.5, 0.3),  # bias by size: two rows
}


def _label_inches(labels, size: float = 10.0) -> float:
    """Width in inches of the widest line of ``labels`` at ``size`` points, estimated from Helvetica's glyph widths
    (matplotlib's DejaVu Sans is ~12 % wider): the margins of fixed layouts around names from the data."""
    from liberation.report._pdfwriter import text_width

    lines = [line for label in labels for line in str(label).split("\n")] or [""]
    return 1.12 * max(text_width(line, size) for line in lines) / 72.0


def _legend_inches(names, size: float) -> float:
    """Width in inches of a figure legend of ``names`` at ``size`` points (matplotlib's default paddings:
    border 0.4 em each side, handle 2 em, handle-text gap 0.8 em), plus its 0.5 em gap to the figure edge."""
    return _label_inches(names, size) + (0.4 * 2 + 2.0 + 0.8 + 1.0) * size / 72.0


def _figure(width: float = 7.0, height: float = 4.2, *, layout: str | None = "constrained",
            margins: tuple[float, float, float, float] | None = None, hspace: float | None = None,
            wspace: float | None = None, ncols: int = 1):
    """A bare Figure of ``width`` x ``height`` inches at 100 dpi; ``layout=None`` for a fixed layout (no engine).

    A figure whose layout engine was switched off later (``set_layout_engine("none")``) keeps a
    placeholder engine, and matplotlib then draws it twice on every ``savefig`` (once without
    rendering, for the layout); a figure made with ``layout=None`` is drawn once. ``margins`` (left,
    right, bottom, top in inches; :data:`MARGINS`) places the subplots at fixed positions, without a layout
    engine; ``hspace`` (``wspace``) is then the gap between two rows (between ``ncols`` columns) in inches.
    """
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        # Headless by default; a session that already uses pyplot (a notebook) keeps its backend.
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # A bare Figure (not pyplot) so that nothing accumulates in pyplot's global state.
    if margins is not None:
        left, right, bottom, top = margins
        fig = Figure(figsize=(width, height), dpi=100, layout=None)
        fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)
        if hspace is not None:  # matplotlib's hspace is a fraction of the mean axes height (two rows here)
            fig.subplots_adjust(hspace=hspace / ((height - bottom - top - hspace) / 2))
        if wspace is not None:  # a fraction of the mean axes width (ncols columns)
            fig.subplots_adjust(wspace=wspace / ((width - left - right - (ncols - 1) * wspace) / ncols))
        return fig
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    return fig


def _log_x(ax) -> None:
    """Log x axis with plain tick labels at 1, 2, 5 x 10^k."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _visible(color: str | None):
    """The colour, darkened when it is too light to see as a line on white."""
    if color is None:
        return None
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.75:
        return (0.55 * r, 0.55 * g, 0.55 * b)
    return color


def nice_length(max_um: float) -> float:
    """The largest round length (1, 2 or 5 × 10^k µm) not above ``max_um`` (> 0)."""
    if not (max_um > 0 and np.isfinite(max_um)):
        raise ValueError(f"max_um={max_um!r}; expected a positive length")
    k = np.floor(np.log10(max_um))
    for m in (5.0, 2.0, 1.0):
        value = m * 10.0**k
        if value <= max_um * (1 + 1e-9):
            return float(f"{value:.12g}")
    return float(f"{10.0 ** (k - 1) * 5:.12g}")


def add_scale_bar(ax, pixel_size_um: float, width_px: int, *, fraction: float = 0.3):
    """Draw a scale bar of a round length in the lower left of an image axes.

    The bar is at most ``fraction`` of the image width, white on a dark translucent box; the font
    size follows the axes size (7 to 11 pt) so that the label stays inside the axes at any figure
    size.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes showing an image of ``width_px`` columns (``imshow`` pixel coordinates).
    pixel_size_um : float
        Width of one image column in µm.
    width_px : int
        Image width in columns.
    fraction : float
        Longest bar as a fraction of the image width.

    Returns
    -------
    AnchoredSizeBar
        The artist (its ``size_bar_um`` attribute holds the bar length in µm).
    """
    from matplotlib.font_manager import FontProperties
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length_um = nice_length(fraction * width_px * float(pixel_size_um))
    fig = ax.figure
    box = ax.get_position()
    w_pt = box.width * fig.get_figwidth() * 72.0
    h_pt = box.height * fig.get_figheight() * 72.0
    size = float(np.clip(min(w_pt * 0.045, h_pt * 0.07), 7.0, 11.0))
    label = f"{length_um:g} µm" if length_um < 1000 else f"{length_um / 1000:g} mm"
    bar = AnchoredSizeBar(ax.transData, length_um / float(pixel_size_um), label, loc="lower left", pad=0.3,
                          borderpad=0.4, sep=2, color="white", frameon=True, size_vertical=0,
                          fontproperties=FontProperties(size=size), label_top=True)
    bar.patch.set_facecolor("black")
    bar.patch.set_alpha(0.6)
    bar.patch.set_edgecolor("none")
    bar.size_bar.get_children()[0].set_linewidth(2.5)
    bar.size_bar_um = length_um
    ax.add_artist(bar)
    return bar


def scale_bar_lengths(fig) -> list[float]:
    """Lengths of the scale bars drawn on a figure by :func:`add_scale_bar`, axes by axes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure, e.g. a gallery panel (:func:`liberation.report.gallery.plot_gallery_group`).

    Returns
    -------
    list of float
        One bar length in µm per scale bar on the figure (empty when it has none), in axes order.
    """
    return [float(a.size_bar_um) for ax in fig.axes for a in ax.artists if hasattr(a, "size_bar_um")]


def percentile_size(sizes, weights=None, q: float = 80.0) -> float:
    """The size below which ``q`` % of the weight passes (P50, P80), on the cumulative step curve.

    The smallest size whose cumulative weight share reaches ``q`` % (the inverted CDF: equal to
    ``numpy.percentile(sizes, q, weights=weights, method="inverted_cdf")``). Non-finite and
    non-positive sizes are ignored; NaN when nothing is left.
    """
    sizes, cum = _cumulative_passing(sizes, weights)
    if sizes.size == 0 or cum[-1] <= 0:
        return float("nan")
    i = int(np.searchsorted(cum, q / 100.0 - 1e-12, side="left"))
    return float(sizes[min(i, sizes.size - 1)])


def _mark_percentiles(ax, sizes, weights, color, qs=(50.0, 80.0)) -> list[float]:
    values = [percentile_size(sizes, weights, q) for q in qs]
    for q, v in zip(qs, values):
        if np.isfinite(v):
            ax.plot([v], [q], marker="o", ms=6, mfc="white", mec=color, mew=2, zorder=5)
            ax.annotate(f"P{q:g} {v:.3g} µm", (v, q), xytext=(6, -12), textcoords="offset points", fontsize=8,
                        color=color)
    return values


def _keep_labels_inside(ax) -> None:
    """Percentile labels (:func:`_mark_percentiles`) that would run past the figure's right edge are put on the
    left of their point (a fixed layout does not grow the margin for them as the constrained layout did)."""
    from liberation.report._pdfwriter import text_width

    fig = ax.figure
    width = fig.get_size_inches()[0]
    box = ax.get_position()
    lo, hi = np.log10(ax.get_xlim())
    for text in ax.texts:
        if not text.get_text().startswith("P") or text.get_anncoords() != "offset points":
            continue
        frac = (np.log10(text.xy[0]) - lo) / (hi - lo) if hi > lo else 0.0
        x_in = (box.x0 + frac * box.width) * width
        # DejaVu Sans (matplotlib's default) is ~12 % wider than Helvetica's tabulated widths
        end = x_in + (6 + 1.12 * text_width(text.get_text(), text.get_fontsize())) / 72.0
        if end > width - 0.05:
            text.set_position((-6, -12))
            text.set_horizontalalignment("right")


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_modal(
    names: Sequence[str],
    volume_percent: Sequence[float],
    mass_percent: Sequence[float] | None = None,
    *,
    colors: Sequence[str] | None = None,
    title: str = "Modal mineralogy",
):
    """Bar chart of the modal mineralogy.

    Parameters
    ----------
    names : sequence of str
        Mineral names, length M.
    volume_percent : sequence of float
        Volume percent of each mineral (vol%), length M.
    mass_percent : sequence of float, optional
        Mass percent (wt%), length M; drawn as a second (hatched) bar.
    colors : sequence of str, optional
        One colour per mineral (``"#RRGGBB"``).
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(margins=MARGINS["bars"])
    ax = fig.add_subplot()
    names = list(names)
    if not names:
        _no_data(ax)
        return fig
    x = np.arange(len(names))
    colors = list(colors) if colors is not None else None
    width = 0.4 if mass_percent is not None else 0.6
    offset = width / 2 if mass_percent is not None else 0.0
    bars = ax.bar(x - offset, np.asarray(volume_percent, float), width, color=colors, edgecolor="black", label="vol%")
    ax.bar_label(bars, fmt="%.1f", fontsize=8)
    if mass_percent is not None:
        bars = ax.bar(x + offset, np.asarray(mass_percent, float), width, color=colors, edgecolor="black",
                      hatch="//", alpha=0.7, label="wt%")
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.legend()
    ax.set_xticks(x, names)
    ax.set_ylabel("percent of all mineral matter")
    ax.set_title(title)
    ax.margins(y=0.12)
    return fig


def plot_liberation_classes(
    classes: Sequence[str],
    fraction_3d: Sequence[float],
    fraction_2d: Sequence[float] | None = None,
    *,
    mineral: str = "",
    title: str | None = None,
):
    """Grouped bars: share of the mineral in each liberation (grade) class, 3D next to 2D.

    Parameters
    ----------
    classes : sequence of str
        Class labels (e.g. ``"0"``, ``"(0,10]"``, ..., ``"100"``), length C.
    fraction_3d, fraction_2d : sequence of float
        Share of the mineral (by volume / area) in each class, in [0, 1], length C.
    mineral : str
        Mineral name for the labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(8.0, 4.2, margins=MARGINS["classes"])
    ax = fig.add_subplot()
    classes = [str(c) for c in classes]
    if not classes:
        _no_data(ax)
        return fig
    x = np.arange(len(classes))
    width = 0.4 if fraction_2d is not None else 0.7
    ax.bar(x - (width / 2 if fraction_2d is not None else 0), 100 * np.asarray(fraction_3d, float), width,
           color=COLOR_3D, label="3D (volume)")
    if fraction_2d is not None:
        ax.bar(x + width / 2, 100 * np.asarray(fraction_2d, float), width, color=COLOR_2D, label="2D sections (area)")
    ax.set_xticks(x, classes, rotation=45, ha="right")
    ax.set_xlabel(f"{mineral} grade of the particle (%)" if mineral else "grade class (%)")
    ax.set_ylabel(f"share of {mineral} (%)" if mineral else "share (%)")
    ax.set_title(title or f"Liberation classes of {mineral}, 3D vs 2D")
    ax.legend()
    return fig


def plot_cumulative_yield(
    grade_3d: Sequence[float],
    yield_3d: Sequence[float],
    grade_2d: Sequence[float] | None = None,
    yield_2d: Sequence[float] | None = None,
    *,
    mineral: str = "",
    threshold: float | None = None,
    title: str | None = None,
):
    """Cumulative liberation yield: share of the mineral in particles with grade >= g, as a function of g.

    Parameters
    ----------
    grade_3d, yield_3d : sequence of float
        Grade g in [0, 1] and the cumulative share in [0, 1] (3D).
    grade_2d, yield_2d : sequence of float, optional
        The same from the 2D sections.
    threshold : float, optional
        Liberation threshold drawn as a vertical line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(margins=MARGINS["curve"])
    ax = fig.add_subplot()
    if len(grade_3d) == 0 and (grade_2d is None or len(grade_2d) == 0):
        _no_data(ax)
        return fig
    ax.step(100 * np.asarray(grade_3d, float), 100 * np.asarray(yield_3d, float), where="post", color=COLOR_3D,
            lw=2, label="3D (volume)")
    if grade_2d is not None and yield_2d is not None and len(grade_2d):
        ax.step(100 * np.asarray(grade_2d, float), 100 * np.asarray(yield_2d, float), where="post", color=COLOR_2D,
                lw=2, ls="--", label="2D sections (area)")
    if threshold is not None:
        ax.axvline(100 * threshold, color="0.5", ls=":", label=f"liberated at {100 * threshold:g} %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel(f"{mineral} grade of the particle, at least (%)" if mineral else "particle grade, at least (%)")
    ax.set_ylabel(f"cumulative share of {mineral} (%)" if mineral else "cumulative share (%)")
    ax.set_title(title or f"Cumulative liberation yield of {mineral}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return fig


def plot_association(matrix, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str = "Mineral association"):
    """Heat map of the association matrix.

    Parameters
    ----------
    matrix : array_like, shape (R, K)
        Row ``i``: share of mineral ``i``'s boundary in contact with column ``k`` (fractions in [0, 1]).
    row_labels, col_labels : sequence of str
        Row minerals (length R) and neighbours (length K, may include ``"void"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    matrix = np.asarray(matrix, float)
    # fixed margins: the row names and ylabel on the left, the names rotated by 30 degrees and the xlabel below,
    # the colorbar (matplotlib's default: 15 % of the width after a 5 % gap, the bar at its left, its labels in the
    # rest of that slot) on the right
    rows_in = _label_inches(row_labels)
    cols_in = _label_inches(col_labels)
    fig = _figure(1.6 + 1.1 * max(len(col_labels), 2), 1.4 + 0.7 * max(len(row_labels), 2),
                  margins=(rows_in + 0.45, 0.12, 0.5 * cols_in + 0.55, 0.3))
    ax = fig.add_subplot()
    if matrix.size == 0:
        _no_data(ax)
        return fig
    image = ax.imshow(100 * matrix, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(np.arange(len(col_labels)), list(col_labels), rotation=30, ha="right")
    ax.set_yticks(np.arange(len(row_labels)), list(row_labels))
    for i in range(matrix.shape[0]):
        for k in range(matrix.shape[1]):
            value = 100 * matrix[i, k]
            if np.isfinite(value):
                ax.text(k, i, f"{value:.1f}", ha="center", va="center", fontsize=8,
                        color="white" if value < 55 else "black")
    ax.set_xlabel("in contact with")
    ax.set_ylabel("boundary of")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of boundary (%)")
    return fig


def plot_grade_recovery(
    recovery: Sequence[float],
    grade: Sequence[float],
    *,
    mineral: str = "",
    feed_grade: float | None = None,
    recovery_2d: Sequence[float] | None = None,
    grade_2d: Sequence[float] | None = None,
    title: str | None = None,
    grade_ci95=None,
    basis: str | None = None,
):
    """Theoretical grade-recovery curve (particles taken in order of decreasing grade).

    Parameters
    ----------
    recovery, grade : sequence of float
        Cumulative recovery of the mineral and cumulative concentrate grade, both in [0, 1].
    feed_grade : float, optional
        Grade of the feed in [0, 1], drawn as a horizontal line.
    recovery_2d, grade_2d : sequence of float, optional
        The same curve from 2D sections.
    grade_ci95 : (sequence of float, sequence of float), optional
        95 % interval of the 3D grade at each point, drawn as a band.
    basis : {"mass", "volume"}, optional
        Named in the axis labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(margins=MARGINS["curve"])
    ax = fig.add_subplot()
    if len(recovery) == 0:
        _no_data(ax)
        return fig
    ax.plot(100 * np.asarray(recovery, float), 100 * np.asarray(grade, float), color=COLOR_3D, lw=2, label="3D")
    if grade_ci95 is not None:
        lo, hi = (100 * np.asarray(v, float) for v in grade_ci95)
        ax.fill_between(100 * np.asarray(recovery, float), lo, hi, color=COLOR_3D, alpha=0.2, lw=0,
                        label="3D 95 % interval")
    if recovery_2d is not None and grade_2d is not None and len(recovery_2d):
        ax.plot(100 * np.asarray(recovery_2d, float), 100 * np.asarray(grade_2d, float), color=COLOR_2D, lw=2,
                ls="--", label="2D sections")
    if feed_grade is not None and np.isfinite(feed_grade):
        ax.axhline(100 * feed_grade, color="0.5", ls=":", label=f"feed grade {100 * feed_grade:.1f} %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel(f"recovery of {mineral} (%)" if mineral else "recovery (%)")
    unit = {"mass": "wt %", "volume": "vol %"}.get(basis or "", "%")
    ax.set_ylabel(f"concentrate grade, {mineral} ({unit})" if mineral else f"concentrate grade ({unit})")
    ax.set_title(title or f"Theoretical grade-recovery of {mineral}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    return fig


def _cumulative_passing(sizes, weights=None) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.asarray(sizes, float)
    keep = np.isfinite(sizes) & (sizes > 0)
    sizes = sizes[keep]
    w = np.ones_like(sizes) if weights is None else np.asarray(weights, float)[keep]
    order = np.argsort(sizes)
    sizes, w = sizes[order], w[order]
    total = w.sum()
    cum = np.cumsum(w) / total if total > 0 else np.zeros_like(w)
    return sizes, cum


def plot_size_distribution(
    esd_um: Sequence[float],
    *,
    weights: Sequence[float] | None = None,
    ecd_um: Sequence[float] | None = None,
    ecd_weights: Sequence[float] | None = None,
    size_classes_um: Sequence[float] | None = None,
    title: str = "Particle size distribution",
    weight_label: str = "by volume",
):
    """Cumulative passing versus equivalent sphere diameter (log x).

    Parameters
    ----------
    esd_um : sequence of float
        Equivalent sphere diameter of each particle (µm).
    weights : sequence of float, optional
        Weight of each particle (e.g. volume or mass); default: by volume (ESD³).
    ecd_um, ecd_weights : sequence of float, optional
        Equivalent circle diameter (µm) and weights (area) of the 2D section particles.
    size_classes_um : sequence of float, optional
        Size class bounds drawn as vertical lines.
    weight_label : str
        What ``weights`` are, for the legend (``"by mass"``).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    P50 and P80 (:func:`percentile_size`) are marked on each curve and given in the legend.
    """
    fig = _figure(margins=MARGINS["curve"])
    ax = fig.add_subplot()
    esd = np.asarray(esd_um, float)
    if esd.size == 0:
        _no_data(ax)
        return fig
    w = esd**3 if weights is None else weights
    sizes, cum = _cumulative_passing(esd, w)
    (line,) = ax.step(sizes, 100 * cum, where="post", color=COLOR_3D, lw=2)
    p50, p80 = _mark_percentiles(ax, esd, w, COLOR_3D)
    line.set_label(f"3D particles, ESD ({weight_label}; P50 {p50:.3g}, P80 {p80:.3g} µm)")
    if ecd_um is not None and len(ecd_um):
        ecd = np.asarray(ecd_um, float)
        w2 = ecd**2 if ecd_weights is None else ecd_weights
        sizes2, cum2 = _cumulative_passing(ecd, w2)
        (line2,) = ax.step(sizes2, 100 * cum2, where="post", color=COLOR_2D, lw=2, ls="--")
        q50, q80 = _mark_percentiles(ax, ecd, w2, COLOR_2D)
        line2.set_label(f"2D section particles, ECD (by area; P50 {q50:.3g}, P80 {q80:.3g} µm)")
    for q in (50, 80):
        ax.axhline(q, color="0.75", lw=0.8, ls="--", zorder=0)
    for bound in size_classes_um or ():
        ax.axvline(bound, color="0.6", ls=":", lw=1)
    _log_x(ax)
    _keep_labels_inside(ax)
    ax.set_ylim(0, 102)
    ax.set_xlabel("equivalent diameter (µm)")
    ax.set_ylabel("cumulative passing (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left")
    return fig


def plot_grain_sizes(
    grain_esd_um: Mapping[str, Sequence[float]],
    *,
    colors: Mapping[str, str] | None = None,
    title: str = "Grain size distribution",
):
    """Cumulative grain size distribution per mineral (by volume, log x).

    Parameters
    ----------
    grain_esd_um : mapping of str to sequence of float
        Mineral name -> equivalent sphere diameter of each grain (µm).
    colors : mapping of str to str, optional
        Mineral name -> colour.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    P50 and P80 (:func:`percentile_size`, by volume = by mass within one mineral) are marked on
    each curve and given in the legend.
    """
    fig = _figure(margins=MARGINS["curve"])
    ax = fig.add_subplot()
    drawn = 0
    for name, values in grain_esd_um.items():
        esd = np.asarray(values, float)
        if esd.size == 0 or not np.any(esd > 0):
            continue
        sizes, cum = _cumulative_passing(esd, esd**3)
        # Light colours (e.g. quartz grey) are darkened so that the line stays visible.
        color = _visible((colors or {}).get(name)) or f"C{drawn}"
        (line,) = ax.step(sizes, 100 * cum, where="post", lw=2, color=color)
        p50, p80 = _mark_percentiles(ax, esd, esd**3, color)
        line.set_label(f"{name} ({esd.size} grains; P50 {p50:.3g}, P80 {p80:.3g} µm)")
        drawn += 1
    if not drawn:
        _no_data(ax, "no grains")
        return fig
    _log_x(ax)
    _keep_labels_inside(ax)
    ax.set_ylim(0, 102)
    ax.set_xlabel("grain equivalent sphere diameter (µm)")
    ax.set_ylabel("cumulative passing by volume (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _phase_rgba(phases: np.ndarray, colors: Mapping[int, str], alpha: float) -> np.ndarray:
    from matplotlib.colors import to_rgba

    rgba = np.zeros(phases.shape + (4,), dtype=float)
    for phase_id, color in colors.items():
        mask = phases == phase_id
        if mask.any():
            rgba[mask] = to_rgba(color, alpha)
    return rgba


def plot_slices(
    slices: Mapping[str, tuple[np.ndarray | None, np.ndarray | None]],
    *,
    colors: Mapping[int, str],
    names: Mapping[int, str],
    pixel_size_um: float | None = None,
    alpha: float = 0.6,
    title: str = "CT slices with the phase overlay",
):
    """CT slices (grey) with the mineral phases overlaid in the colours of the mineral list.

    Parameters
    ----------
    slices : mapping of str to (ct, phases)
        Panel title -> a 2D CT slice (any numeric dtype, or None) and the 2D phase ids of the
        same plane (uint8, 0 = void, or None).
    colors : mapping of int to str
        Phase id -> colour.
    names : mapping of int to str
        Phase id -> mineral name (legend).
    pixel_size_um : float, optional
        Pixel size for a scale bar (µm).
    alpha : float
        Opacity of the overlay.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    items = list(slices.items())
    n = max(len(items), 1)
    # fixed margins: the title and panel titles on top, the legend (mineral names, title) on the right
    legend_in = max(_legend_inches([names.get(i, str(i)) for i in colors], 9), _label_inches(["phases"], 9) + 0.3)
    fig = _figure(3.6 * n + 1.6, 4.0, margins=(0.12, legend_in + 0.1, 0.04, 0.5), wspace=0.23, ncols=n)
    if not items:
        _no_data(fig.add_subplot(), "no slices")
        return fig
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (label, (ct, phases)) in zip(axes, items):
        if ct is not None:
            ct = np.asarray(ct, float)
            lo, hi = np.percentile(ct, [1, 99]) if ct.size else (0.0, 1.0)
            ax.imshow(ct, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        if phases is not None:
            phases = np.asarray(phases)
            if ct is None:
                ax.imshow(np.zeros(phases.shape), cmap="gray", vmin=0, vmax=1)
            ax.imshow(_phase_rgba(phases, colors, 1.0 if ct is None else alpha), interpolation="nearest")
        shape = (ct if ct is not None else phases).shape
        if pixel_size_um:
            add_scale_bar(ax, float(pixel_size_um), int(shape[1]))
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(facecolor=colors[i], edgecolor="black", label=names.get(i, str(i))) for i in sorted(colors)]
    fig.legend(handles=handles, loc="outside right center", fontsize=9, title="phases")
    fig.suptitle(title)
    return fig


def plot_bias_by_size(
    size_classes: Sequence[str],
    fraction_3d: Sequence[float],
    fraction_2d: Sequence[float],
    *,
    mineral: str = "",
    title: str | None = None,
    ci_3d=None,
    ci_2d=None,
    ci_bias=None,
):
    """Liberated fraction per size class, 3D and 2D, with the bias (2D minus 3D) on a second panel.

    Parameters
    ----------
    size_classes : sequence of str
        Size class labels (e.g. ``"<63"``, ``"63-100"``, ``"all"``), length S.
    fraction_3d, fraction_2d : sequence of float
        Liberated fraction of the mineral in each size class, in [0, 1] (NaN where empty).
    ci_3d, ci_2d, ci_bias : array, shape (2, S), optional
        95 % intervals (fractions), drawn as error bars.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(8.0, 5.2, margins=MARGINS["bias"], hspace=0.17)
    labels = [str(s) for s in size_classes]
    if not labels:
        _no_data(fig.add_subplot())
        return fig
    ax, ax_bias = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    x = np.arange(len(labels))
    f3 = 100 * np.asarray(fraction_3d, float)
    f2 = 100 * np.asarray(fraction_2d, float)
    def yerr(values, ci):
        if ci is None:
            return None
        ci = 100 * np.asarray(ci, float)
        return np.nan_to_num(np.vstack([values - ci[0], ci[1] - values]).clip(min=0))

    ax.bar(x - 0.2, f3, 0.4, color=COLOR_3D, label="3D", yerr=yerr(f3, ci_3d), capsize=3)
    ax.bar(x + 0.2, f2, 0.4, color=COLOR_2D, label="2D sections", yerr=yerr(f2, ci_2d), capsize=3)
    ax.set_ylabel("liberated (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    ax.set_title(title or f"Liberated fraction of {mineral} by size class: 2D vs 3D")
    bias = f2 - f3
    ax_bias.bar(x, np.nan_to_num(bias), 0.5, color=np.where(np.nan_to_num(bias) >= 0, COLOR_2D, COLOR_3D),
                yerr=yerr(np.nan_to_num(bias), ci_bias), capsize=3)
    ax_bias.axhline(0, color="black", lw=0.8)
    ax_bias.set_ylabel("bias 2D − 3D\n(pct. points)")
    ax_bias.set_xticks(x, labels)
    ax_bias.set_xlabel("size class, ESD (µm)")
    for xi, b in zip(x, bias):
        if np.isfinite(b):
            ax_bias.text(xi, b, f"{b:+.1f}", ha="center", va="bottom" if b >= 0 else "top", fontsize=8)
    ax_bias.margins(y=0.3)
    return fig


def plot_modal_by_size(size_classes: Sequence[str], percent, names: Sequence[str], *,
                       colors: Sequence[str] | None = None, class_share=None, basis: str = "volume",
                       title: str = "Modal mineralogy by size class"):
    """Stacked bars: the mineral make-up of each particle size class.

    Parameters
    ----------
    size_classes : sequence of str
        Size class labels, length S (``"all"`` included if wanted).
    percent : array_like, shape (S, M)
        Percent of each mineral in each size class (rows add up to 100).
    names : sequence of str
        Mineral names, length M.
    colors : sequence of str, optional
        One colour per mineral.
    class_share : sequence of float, optional
        Share (%) of the sample in each size class, written under each class label.
    basis : {"volume", "mass"}
        Named on the axis (vol% or wt%).

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = [str(s) for s in size_classes]
    if class_share is not None:
        labels = [f"{lab}\n({share:.1f} % of sample)" if np.isfinite(share) else lab
                  for lab, share in zip(labels, np.asarray(class_share, float))]
    # fixed margins: the class labels and ylabel on the left, the legend (mineral names) on the right
    fig = _figure(7.5, 1.6 + 0.5 * max(len(labels), 2),
                  margins=(_label_inches(labels) + 0.45, _legend_inches(names, 8) + 0.08, 0.5, 0.3))
    ax = fig.add_subplot()
    if not labels:
        _no_data(ax)
        return fig
    pct = np.nan_to_num(np.asarray(percent, float).reshape(len(labels), len(names)))
    y = np.arange(len(labels))
    left = np.zeros(len(labels))
    for k, name in enumerate(names):
        color = list(colors)[k] if colors is not None else None
        ax.barh(y, pct[:, k], left=left, color=color, edgecolor="black", lw=0.5, label=name)
        for yi, (x0, w) in enumerate(zip(left, pct[:, k])):
            if w >= 6:
                ax.text(x0 + w / 2, yi, f"{w:.0f}", ha="center", va="center", fontsize=7, color="black",
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.6))
        left = left + pct[:, k]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    unit = "wt%" if basis == "mass" else "vol%"
    ax.set_xlabel(f"mineral share ({unit})")
    ax.set_ylabel("size class, ESD (µm)")
    ax.set_title(title)
    fig.legend(loc="outside right center", fontsize=8)
    return fig
