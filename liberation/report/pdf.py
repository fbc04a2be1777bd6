"""The report as a PDF (A4 pages, matplotlib's PdfPages only: no browser, no extra dependency).

The same content as the HTML page: the headline, the sample facts, the tables (drawn as matplotlib
tables), every plot with its caption, the gallery, the parameters and the glossary.
:func:`build_pdf` is pure: it returns the PDF bytes.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["A4_INCHES", "build_pdf"]

A4_INCHES = (8.27, 11.69)
_MARGIN = 0.6  # inches
_LINE = 0.2  # inches per text line at 9 pt


class _Pages:
    """A4 pages filled top to bottom with text blocks, tables and images."""

    def __init__(self, pdf, title: str, png_pages: list | None = None):
        self.pdf, self.title, self.fig, self.y, self.n = pdf, title, None, 0.0, 0
        self.png_pages = png_pages
        self.outline: dict[str, int] = {}

    def _new(self):
        from matplotlib.figure import Figure

        self.flush()
        self.fig = Figure(figsize=A4_INCHES)
        self.n += 1
        self.fig.text(0.5, 0.3 / A4_INCHES[1], f"{self.title} · page {self.n}", ha="center", fontsize=7,
                      color="0.4")
        self.y = A4_INCHES[1] - _MARGIN

    def flush(self):
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            if self.png_pages is not None:
                buffer = io.BytesIO()
                self.fig.savefig(buffer, format="png", dpi=100)
                self.png_pages.append(buffer.getvalue())
            self.fig = None

    def room(self, inches: float):
        if self.fig is None or self.y - inches < _MARGIN:
            self._new()

    def text(self, text: str, *, size: float = 9, weight: str = "normal", width: int = 105, color: str = "black"):
        lines = []
        for para in str(text).split("\n"):
            lines.extend(textwrap.wrap(para, width=int(width * 9 / size)) or [""])
        step = _LINE * size / 9
        for line in lines:
            self.room(step)
            self.fig.text(_MARGIN / A4_INCHES[0], self.y / A4_INCHES[1], line, fontsize=size, weight=weight,
                          va="top", color=color)
            self.y -= step
        self.y -= step * 0.4

    def heading(self, text: str):
        self.room(0.9)
        self.y -= 0.1
        self.outline.setdefault(text, self.n)
        self.text(text, size=13, weight="bold", color="#1f4e79")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, widths=None, size: float = 7.5):
        """A table; column widths follow the content (or ``widths``), cells wrap to their column."""
        headers = [str(h) for h in headers]
        rows = [[str(v) for v in r] for r in rows]
        n = max(len(headers), 1)
        if widths is None:
            longest = [max([min(len(h), 12) * 1.1, *(len(r[k]) for r in rows if k < len(r))])
                       for k, h in enumerate(headers)]
            widths = np.clip(np.asarray(longest, dtype=float), 4.0, 70.0)
        widths = np.asarray(widths, dtype=float)
        widths = widths / widths.sum()
        page_w = A4_INCHES[0] - 2 * _MARGIN
        chars = [max(4, int(w * page_w * 72 / (0.56 * size)) - 1) for w in widths[:n]]
        headers = [textwrap.fill(h, c) for h, c in zip(headers, chars)]
        rows = [[textwrap.fill(v, c) if len(v) > c else v for v, c in zip(r, chars)] for r in rows]
        head_lines = max(h.count("\n") + 1 for h in headers) if headers else 1
        heights = [max(v.count("\n") + 1 for v in r) for r in rows] if rows else []
        line = 0.17 * size / 7.5
        start = 0
        while True:
            avail = self.y - _MARGIN - line * (0.3 + head_lines)
            end, used = start, 0.0
            while end < len(rows) and used + heights[end] * line <= avail:
                used += heights[end] * line
                end += 1
            if end == start and start < len(rows):
                self._new()
                continue
            self._draw_table(headers, rows[start:end], heights[start:end], widths, size, line, head_lines)
            start = end
            if start >= len(rows):
                break
            self._new()

    def _draw_table(self, headers, rows, heights, widths, size, line, head_lines=1):
        """Cells as figure texts on a light grid (much faster to draw than matplotlib.table)."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Rectangle

        W, H = A4_INCHES
        width = W - 2 * _MARGIN
        n = max(len(headers), 1)
        widths = np.asarray(widths if widths is not None else [1.0 / n] * n, dtype=float)
        widths = widths / widths.sum() * width
        x_edges = _MARGIN + np.concatenate([[0.0], np.cumsum(widths)])
        top = self.y
        head_h = line * (0.3 + head_lines)
        self.fig.add_artist(Rectangle((_MARGIN / W, (top - head_h) / H), width / W, head_h / H,
                                      transform=self.fig.transFigure, facecolor="#eef3f8", edgecolor="none"))
        y_lines = [top, top - head_h]
        for k, h in enumerate(headers):
            self.fig.text((x_edges[k] + 0.04) / W, (top - 0.15 * line) / H, str(h), fontsize=size, weight="bold",
                          va="top")
        y = top - head_h
        for row, h in zip(rows, heights):
            for k, v in enumerate(row):
                self.fig.text((x_edges[k] + 0.04) / W, (y - 0.15 * line) / H, v, fontsize=size, va="top",
                              linespacing=1.15)
            y -= h * line
            y_lines.append(y)
        for yy in y_lines:
            self.fig.add_artist(Line2D([_MARGIN / W, (W - _MARGIN) / W], [yy / H, yy / H], lw=0.4, color="0.6",
                                       transform=self.fig.transFigure))
        self.y = y - 0.2

    def image(self, png: bytes, caption: str, *, dpi: float = 100.0):
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:  # 8-bit RGB: no float copy, no alpha mask in the PDF
            img = np.asarray(im.convert("RGB"))
        W, H = A4_INCHES
        width = min(W - 2 * _MARGIN, img.shape[1] / dpi)
        height = width * img.shape[0] / img.shape[1]
        cap_lines = len(textwrap.wrap(caption, 110)) + 1
        if height + cap_lines * _LINE > H - 2 * _MARGIN:
            height = H - 2 * _MARGIN - cap_lines * _LINE
            width = height * img.shape[1] / img.shape[0]
        self.room(height + cap_lines * _LINE)
        ax = self.fig.add_axes((_MARGIN / W, (self.y - height) / H, width / W, height / H))
        ax.imshow(img, interpolation="none")  # embedded as is in the PDF (no resampling)
        ax.set_axis_off()
        self.y -= height + 0.1
        self.text(caption, size=8, color="0.25")


def _df_rows(df: pd.DataFrame | None, digits: int = 1, max_rows: int = 80):
    from liberation.report.html import _fmt_number

    if df is None or len(df) == 0:
        return [], []
    rows = [[_fmt_number(v, digits) for v in r] for r in df.head(max_rows).itertuples(index=False, name=None)]
    return [str(c) for c in df.columns], rows


def build_pdf(result, figures_png: Mapping[str, bytes], *, sample_info: Mapping | None = None,
              title: str = "Mineral liberation report", gallery=None, png_pages: list | None = None,
              outline: dict | None = None, measured_section=None, stereology=None) -> bytes:
    """The report as PDF bytes (A4).

    Parameters
    ----------
    result : LiberationResult
        The statistics.
    figures_png : mapping of str to bytes
        Plot name -> PNG bytes (as for :func:`liberation.report.html.build_html`; placed at 100 dpi,
        scaled down to the page width where wider).
    sample_info : mapping, optional
        Facts about the sample.
    title : str
        Title on the first page and in every page footer.
    gallery : (DataFrame, list of (str, str, str)), optional
        The gallery table and its panels (as for :func:`~liberation.report.html.build_html`).
    png_pages : list, optional
        When given, each page is also rendered as PNG bytes (100 dpi) and appended to it (for
        previews and the documentation's screenshots).
    outline : dict, optional
        When given, filled with section heading -> page number (1-based).
    measured_section : MeasuredSectionComparison, optional
        Adds the three-way comparison measured vs virtual section vs 3D
        (:mod:`liberation.report.measured_section`; its figure is ``figures_png["measured_section"]``).
    stereology : StereologyCheck, optional
        The table 2D vs corrected 2D vs 3D (:mod:`liberation.report.stereology`).

    Returns
    -------
    bytes
        A PDF document; its first page holds the title and the headline sentence as text.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    from liberation import __version__
    from liberation.report import tables as T
    from liberation.report.glossary import glossary_rows
    from liberation.report.html import PLOT_CAPTIONS
    from liberation.report.text import bias_sentence, generated_time, headline_mineral

    summary = dict(result.summary or {})
    names = list(result.minerals.names)
    lib2, lib3 = T.liberated_fractions(result)
    head = headline_mineral(result.target, lib2, lib3, names)
    buffer = io.BytesIO()
    meta = {"Title": title, "Creator": f"liberation {__version__}", "Subject": "Mineral liberation report"}
    with PdfPages(buffer, metadata=meta) as pdf:
        pages = _Pages(pdf, title, png_pages)
        pages.room(1.0)
        pages.text(title, size=16, weight="bold", color="#1f4e79", width=70)
        generated = generated_time()
        pages.text(f"Generated {generated} by liberation {__version__}.", size=8, color="0.35")
        if head is not None:
            no_sections = result.sections is None or len(result.sections) == 0
            sentence = bias_sentence(head, lib2.get(head), lib3.get(head),
                                     ci95=(summary.get("bias_2d_minus_3d_ci95") or {}).get(head),
                                     basis=summary.get("basis"))
            if no_sections:
                sentence = ("No virtual 2D sections were computed, so there is no 2D-vs-3D comparison; "
                            f"3D liberated fraction of {head}: {100 * lib3.get(head, np.nan):.1f} %.")
            pages.text(sentence, size=11, weight="bold", width=90)
        pages.heading("Sample")
        pages.table(["fact", "value"], T.sample_facts(result, dict(sample_info or {})), widths=[0.3, 0.7])

        def section(heading: str, tables: Sequence[pd.DataFrame | None], plot_section: str | None):
            pages.heading(heading)
            for df in tables:
                cols, rows = _df_rows(df)
                if cols:
                    pages.table(cols, rows, size=7 if len(cols) > 8 else 7.5)
            if plot_section:
                for name, (sec, caption) in PLOT_CAPTIONS.items():
                    if sec == plot_section and name in figures_png:
                        pages.image(figures_png[name], caption)

        section("Modal mineralogy", [T.modal_display(result), *T.assay_display(result), T.modal_by_size(result)],
                "modal")
        quantification = T.quantification_display(result)
        if quantification is not None:
            pages.heading(T.QUANTIFICATION_HEADING)
            pages.text(T.QUANTIFICATION_CAPTION, size=8)
            cols, rows = _df_rows(quantification, digits=3)
            pages.table(cols, rows, size=6.5)
        section("Liberation: 3D particles vs 2D sections",
                [T.liberated_display(result), T.classes_display(result, head), T.locking_display(result)],
                "liberation")
        if stereology is not None and len(stereology.table):
            from liberation.report.stereology import TABLE_CAPTION as ST_CAPTION
            from liberation.report.stereology import display_table as st_table

            pages.heading("2D vs corrected 2D vs 3D (stereological correction)")
            pages.text(ST_CAPTION, size=8)
            cols, rows = _df_rows(st_table(stereology))
            if cols:
                pages.table(cols, rows, size=7)
        if measured_section is not None:
            from liberation.report.measured_section import (
                BY_SIZE_CAPTION,
                CAPTION,
                FIGURE_NAME,
                TABLE_CAPTION,
                by_size_table,
                display_table,
            )

            pages.heading("Measured section vs virtual section vs 3D")
            pages.text(TABLE_CAPTION, size=8)
            cols, rows = _df_rows(display_table(measured_section))
            if cols:
                pages.table(cols, rows, size=7)
            cols, rows = _df_rows(by_size_table(measured_section))
            if cols and rows:
                pages.text(BY_SIZE_CAPTION, size=8)
                pages.table(cols, rows, size=6)
            if FIGURE_NAME in figures_png:
                pages.image(figures_png[FIGURE_NAME], CAPTION)
        if gallery is not None and len(gallery[1]):
            table, panels = gallery
            pages.heading("Particle gallery")
            pages.text(f"Per non-empty grade class and locking class of {head}: the largest particle and, of "
                       "the others, the one whose ESD is closest to the class median. Each row: central z section in mineral colours "
                       "and shaded 3D views along z, y and x.", size=8)
            for name, caption, _alt in panels:
                if name in figures_png:
                    pages.image(figures_png[name], caption)
        section("Mineral association", [T.association_display(result)], "association")
        section("Theoretical grade-recovery", [], "grade_recovery")
        section("Particle and grain sizes", [T.size_percentiles(result)], "sizes")
        slices = {n: c for n, (sec, c) in PLOT_CAPTIONS.items() if sec == "slices" and n in figures_png}
        if slices:
            pages.heading("CT slices")
            for name, caption in slices.items():
                pages.image(figures_png[name], caption)
        pages.heading("Parameters")
        pages.table(["what", "setting"], T.parameter_rows(result, __version__), widths=[0.35, 0.65])
        pages.heading("Glossary")
        pages.table(["term", "meaning"], glossary_rows(result), widths=[0.3, 0.7], size=7)
        pages.flush()
        if outline is not None:
            outline.update(pages.outline)
    return buffer.getvalue()
