"""The liberation report: plots, tables and one self-contained HTML page.

:func:`write_report` is the only function here that writes files; the plot functions
(:mod:`liberation.report.plots`) return matplotlib Figures and :func:`build_html` returns a
string, so they can be used in notebooks.

    from liberation.stats import analyse
    from liberation.report import write_report
    result = analyse(particles, phases, voxel_size_um=10.0, minerals=minerals, target="spodumene")
    write_report(result, "report_folder")
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
