"""Type stub of liberation.report: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# Submodules, reachable as attributes (not in __all__).
from . import colors as colors
from . import figures as figures
from . import gallery as gallery
from . import glossary as glossary
from . import html as html
from . import pdf as pdf
from . import plots as plots
from . import tables as tables
from . import text as text
from . import writer as writer
from .figures import make_figures, make_gallery
from .html import build_html, png_data_uri
from .pdf import build_pdf
from .plots import (
    add_scale_bar,
    plot_association,
    plot_bias_by_size,
    plot_cumulative_yield,
    plot_grade_recovery,
    plot_grain_sizes,
    plot_liberation_classes,
    plot_modal,
    plot_modal_by_size,
    plot_size_distribution,
    plot_slices,
    scale_bar_lengths,
)
from .text import bias_sentence
from .writer import write_report

__all__ = [
    "add_scale_bar",
    "bias_sentence",
    "build_html",
    "build_pdf",
    "make_figures",
    "make_gallery",
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
    "png_data_uri",
    "scale_bar_lengths",
    "write_report",
]
