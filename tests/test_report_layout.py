"""The report's plots use fixed margins (no layout engine): nothing is cut at the figure's edges, nothing of the
axes' labels runs into a neighbour, also with long mineral names and labels."""

from __future__ import annotations

import numpy as np
import pytest
from test_report_unit import hand_result


def _extents(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the extents below are the drawn ones
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip()]
    boxes += [(f"legend {k}", legend.get_window_extent(renderer)) for k, legend in enumerate(fig.legends)]
    return renderer, boxes


def _inside(fig, what: str):
    """Everything drawn (ticks outside the view limits are not) lies within the figure (to 1 pixel at 100 dpi)."""
    renderer, _ = _extents(fig)
    box = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    assert box.x0 >= -0.01 and box.y0 >= -0.01 and box.x1 <= width + 0.01 and box.y1 <= height + 0.01, (what, box)


def test_the_ten_plots_have_no_layout_engine_and_nothing_cut():
    from liberation.report.figures import make_figures

    rng = np.random.default_rng(0)
    slices = {f"z = {k}": (rng.normal(size=(40, 50)), rng.integers(0, 5, (40, 50)).astype(np.uint8))
              for k in range(3)}
    figs = make_figures(hand_result(), slices=slices)
    assert len(figs) == 10
    for name, fig in figs.items():
        assert fig.get_layout_engine() is None, name
        _inside(fig, name)


@pytest.mark.parametrize("names", [["a", "b"], ["spodumene", "K-feldspar (perthitic)", "quartz", "muscovite",
                                                  "chalcopyrite-bornite intergrowth"]])
def test_label_dependent_margins(names):
    """Association, modal by size and CT slices size their margins from the names: long names stay inside and do
    not overlap the axes (tick labels left of / below the axes, legends right of them)."""
    from liberation.report.plots import plot_association, plot_modal_by_size, plot_slices

    m = len(names)
    rng = np.random.default_rng(1)
    matrix = rng.random((m, m + 1))
    fig = plot_association(matrix, names, [*names, "void"])
    _inside(fig, "association")
    renderer, _ = _extents(fig)
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    for label in ax.get_yticklabels():
        assert label.get_window_extent(renderer).x1 <= box.x0 + 1
    assert ax.yaxis.label.get_window_extent(renderer).x1 <= min(
        t.get_window_extent(renderer).x0 for t in ax.get_yticklabels()) + 1
    percent = rng.random((4, m))
    percent = 100 * percent / percent.sum(axis=1, keepdims=True)
    fig = plot_modal_by_size(["<63", "63-100", ">=100", "all"], percent, names, class_share=[1.5, 20.0, 78.5, 100.0])
    _inside(fig, "modal_by_size")
    renderer, _ = _extents(fig)
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    assert fig.legends[0].get_window_extent(renderer).x0 >= box.x1 - 1
    for label in ax.get_yticklabels():
        assert label.get_window_extent(renderer).x1 <= box.x0 + 1
    colors = {k + 1: f"C{k}" for k in range(m)}
    fig = plot_slices({"z = 1": (rng.normal(size=(30, 30)), rng.integers(0, m + 1, (30, 30)).astype(np.uint8))},
                      colors=colors, names={k + 1: n for k, n in enumerate(names)}, pixel_size_um=10.0)
    _inside(fig, "slices")
    renderer, _ = _extents(fig)
    assert fig.legends[0].get_window_extent(renderer).x0 >= fig.axes[0].get_window_extent(renderer).x1 - 1
