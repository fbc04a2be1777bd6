"""The liberation report: plots, tables and one self-contained HTML page.

:func:`write_report` is the only function here that writes files; the plot functions
(:mod:`liberation.report.plots`) return matplotlib Figures and :func:`build_html` returns a
string, so they can be used in notebooks.

    from liberation.stats import analyse
    from liberation.report import write_report
    result = analyse(particles, phases, voxel_size_um=10.0, minerals=minerals, target="spodumene")
    write_report(result, "report_folder")
"""

from __future__ import annotations

from liberation.report.figures import make_figures
from liberation.report.html import build_html, png_data_uri
from liberation.report.plots import (
    plot_association,
    plot_bias_by_size,
    plot_cumulative_yield,
    plot_grade_recovery,
    plot_grain_sizes,
    plot_liberation_classes,
    plot_modal,
    plot_size_distribution,
    plot_slices,
)
from liberation.report.text import bias_sentence
from liberation.report.writer import write_report

__all__ = [
    "bias_sentence",
    "build_html",
    "make_figures",
    "plot_association",
    "plot_bias_by_size",
    "plot_cumulative_yield",
    "plot_grade_recovery",
    "plot_grain_sizes",
    "plot_liberation_classes",
    "plot_modal",
    "plot_size_distribution",
    "plot_slices",
    "png_data_uri",
    "write_report",
]
