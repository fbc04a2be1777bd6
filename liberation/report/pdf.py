"""The report as a PDF (A4 pages written by the small PDF writer :mod:`liberation.report._pdfwriter`).

The same content as the HTML page: the headline, the sample facts, the tables (text columns on a light
grid), every plot with its caption, the gallery, the parameters and the glossary. The text is set in the
PDF's standard Helvetica fonts (no font files, no layout engine: a few milliseconds per page), the figures
are the report's PNGs embedded as images. :func:`build_pdf` is pure: it returns the PDF bytes.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from liberation.report._pdfwriter import PdfDocument, parse_color, pdf_date, text_width, wrap_text

__all__ = ["A4_INCHES", "build_pdf"]

A4_INCHES = (8.27, 11.69)
_MARGIN = 0.6  # inches
_LINE = 0.2  # inches per text line at 9 pt
_ASCENT = 0.76  # baseline below the top of a line, in font sizes (Helvetica's ascender is 0.718 em)
_PAD = 0.04  # inches between a table column's edge and its text


class _Pages:
    """A4 pages filled top to bottom with text blocks, tables and images.

    The drawing operations (inches from the page's bottom-left corner) go to a :class:`PdfDocument`
    and, for the page previews (``png_pages``), are kept per page and drawn with matplotlib.
    """

    def __init__(self, doc: PdfDocument, title: str, png_pages: list | None = None):
        self.doc, self.title, self.y, self.n = doc, title, 0.0, 0
        self.png_pages = png_pages
        self.outline: dict[str, int] = {}
        self.ops: list[tuple] | None = None  # this page's operations, kept for a preview
        self.open = False
        self.text_width = A4_INCHES[0] - 2 * _MARGIN

    # --- drawing operations (inches) ---
    def _text(self, x: float, top: float, line: str, size: float, bold: bool, color) -> None:
        baseline = top - _ASCENT * size / 72.0
        self.doc.text(x * 72.0, baseline * 72.0, line, size=size, bold=bold, color=color)
        if self.ops is not None:
            self.ops.append(("text", x, baseline, line, size, bold, color))

    def _rect(self, x: float, y: float, w: float, h: float, fill) -> None:
        self.doc.rect(x * 72.0, y * 72.0, w * 72.0, h * 72.0, fill=fill)
        if self.ops is not None:
            self.ops.append(("rect", x, y, w, h, fill))

    def _line(self, x0: float, y0: float, x1: float, y1: float, width: float, color) -> None:
        self.doc.line(x0 * 72.0, y0 * 72.0, x1 * 72.0, y1 * 72.0, width=width, color=color)
        if self.ops is not None:
            self.ops.append(("line", x0, y0, x1, y1, width, color))

    def _new(self):
        self.flush()
        self.doc.new_page()
        self.open = True
        self.ops = [] if self.png_pages is not None else None
        self.n += 1
        footer = f"{self.title} · page {self.n}"
        size = 7.0
        x = (A4_INCHES[0] - text_width(footer, size) / 72.0) / 2
        self._text(x, 0.3 + _ASCENT * size / 72.0, footer, size, False, "0.4")
        self.y = A4_INCHES[1] - _MARGIN

    def flush(self):
        if self.open and self.png_pages is not None:
            self.png_pages.append(_preview_png(self.ops))
        self.open = False

    def room(self, inches: float):
        if not self.open or self.y - inches < _MARGIN:
            self._new()

    def text(self, text: str, *, size: float = 9, weight: str = "normal", color: str = "black"):
        bold = weight == "bold"
        lines = wrap_text(text, self.text_width * 72.0, size, bold)
        step = _LINE * size / 9
        for line in lines:
            self.room(step)
            self._text(_MARGIN, self.y, line, size, bold, color)
            self.y -= step
        self.y -= step * 0.4

    def heading(self, text: str):
        self.room(0.9)
        self.y -= 0.1
        if text not in self.outline:
            self.outline[text] = self.n
            self.doc.bookmark(text, self.y * 72.0)
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
        widths = np.asarray(widths, dtype=float)[:n]
        widths = widths / widths.sum() * self.text_width
        cell_pt = [max(1.0, (w - 2 * _PAD) * 72.0) for w in widths]
        head_cells = [wrap_text(h, c, size, True) for h, c in zip(headers, cell_pt)]
        row_cells = [[wrap_text(v, c, size) for v, c in zip(r, cell_pt)] for r in rows]
        head_lines = max(len(h) for h in head_cells) if head_cells else 1
        heights = [max([len(v) for v in r] or [1]) for r in row_cells]
        line = 0.17 * size / 7.5
        start = 0
        while True:
            avail = self.y - _MARGIN - line * (0.3 + head_lines)
            end, used = start, 0.0
            while end < len(rows) and used + heights[end] * line <= avail:
                used += heights[end] * line
                end += 1
            if end == start and start < len(rows):
                if self.y < A4_INCHES[1] - _MARGIN:
                    self._new()
                    continue
                end = start + 1  # a row taller than a page: drawn on a page of its own, past the bottom margin
            self._draw_table(head_cells, row_cells[start:end], heights[start:end], widths, size, line, head_lines)
            start = end
            if start >= len(rows):
                break
            self._new()

    def _draw_table(self, headers, rows, heights, widths, size, line, head_lines=1):
        """Cells as lines of text on a light grid."""
        W = A4_INCHES[0]
        x_edges = _MARGIN + np.concatenate([[0.0], np.cumsum(widths)])
        top = self.y
        head_h = line * (0.3 + head_lines)
        self._rect(_MARGIN, top - head_h, self.text_width, head_h, "#eef3f8")
        y_lines = [top, top - head_h]
        for k, cell in enumerate(headers):
            for j, text in enumerate(cell):
                self._text(x_edges[k] + _PAD, top - 0.15 * line - j * line, text, size, True, "black")
        y = top - head_h
        for row, h in zip(rows, heights):
            for k, cell in enumerate(row):
                for j, text in enumerate(cell):
                    self._text(x_edges[k] + _PAD, y - 0.15 * line - j * line, text, size, False, "black")
            y -= h * line
            y_lines.append(y)
        for yy in y_lines:
            self._line(_MARGIN, yy, W - _MARGIN, yy, 0.4, "0.6")
        self.y = y - 0.2

    def image(self, png: bytes, caption: str, *, dpi: float = 100.0):
        index, px_w, px_h = self.doc.add_image(png)
        W, H = A4_INCHES
        width = min(self.text_width, px_w / dpi)
        height = width * px_h / px_w
        cap_lines = len(wrap_text(caption, self.text_width * 72.0, 8)) + 1
        if height + cap_lines * _LINE > H - 2 * _MARGIN:
            height = H - 2 * _MARGIN - cap_lines * _LINE
            width = height * px_w / px_h
        self.room(height + cap_lines * _LINE)
        self.doc.image(index, _MARGIN * 72.0, (self.y - height) * 72.0, width * 72.0, height * 72.0)
        if self.ops is not None:
            self.ops.append(("image", png, _MARGIN, self.y - height, width, height))
        self.y -= height + 0.1
        self.text(caption, size=8, color="0.25")


#: Liberation Sans has Helvetica's glyph widths: previews then wrap as the PDF does (else matplotlib's default font)
_PREVIEW_FONT_FILES = {False: "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
                       True: "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"}


def _preview_fonts() -> dict:
    from matplotlib.font_manager import FontProperties

    return {bold: FontProperties(fname=path) for bold, path in _PREVIEW_FONT_FILES.items() if os.path.exists(path)}


def _preview_png(ops: list[tuple], dpi: float = 100.0) -> bytes:
    """One page's operations drawn with matplotlib as PNG bytes (a preview: DejaVu Sans, not Helvetica)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from PIL import Image

    W, H = A4_INCHES
    fig = Figure(figsize=A4_INCHES)
    fonts = _preview_fonts()
    for op in ops:
        kind = op[0]
        if kind == "text":
            _, x, y, line, size, bold, color = op
            font = fonts.get(bold)
            style = {"fontproperties": font} if font is not None else {"weight": "bold" if bold else "normal"}
            fig.text(x / W, y / H, line, fontsize=size, va="baseline", color=parse_color(color), **style)
        elif kind == "rect":
            _, x, y, w, h, fill = op
            fig.add_artist(Rectangle((x / W, y / H), w / W, h / H, transform=fig.transFigure,
                                     facecolor=parse_color(fill), edgecolor="none"))
        elif kind == "line":
            _, x0, y0, x1, y1, width, color = op
            fig.add_artist(Line2D([x0 / W, x1 / W], [y0 / H, y1 / H], lw=width, color=parse_color(color),
                                  transform=fig.transFigure))
        else:
            _, png, x, y, w, h = op
            with Image.open(io.BytesIO(png)) as im:
                img = np.asarray(im.convert("RGB"))
            ax = fig.add_axes((x / W, y / H, w / W, h / H))
            ax.imshow(img, interpolation="none")
            ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


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
    from liberation import __version__
    from liberation.report import tables as T
    from liberation.report.glossary import glossary_rows
    from liberation.report.html import PLOT_CAPTIONS
    from liberation.report.text import generated_time, headline_mineral, headline_sentence

    summary = dict(result.summary or {})
    names = list(result.minerals.names)
    lib2, lib3 = T.liberated_fractions(result)
    head = headline_mineral(result.target, lib2, lib3, names)
    meta = {"Title": title, "Creator": f"liberation {__version__}", "Subject": "Mineral liberation report",
            "Producer": f"liberation {__version__}"}
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # as matplotlib's PDF backend did: reproducible bytes
    doc = PdfDocument((A4_INCHES[0] * 72.0, A4_INCHES[1] * 72.0), info=meta,
                      creation_date=pdf_date(int(epoch) if epoch else time.time()))
    pages = _Pages(doc, title, png_pages)
    pages.room(1.0)
    pages.text(title, size=16, weight="bold", color="#1f4e79")
    generated = generated_time()
    pages.text(f"Generated {generated} by liberation {__version__}.", size=8, color="0.35")
    if head is not None:
        no_sections = result.sections is None or len(result.sections) == 0
        sentence = headline_sentence(head, lib2, lib3, summary, no_sections=no_sections)
        pages.text(sentence, size=11, weight="bold")
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
    return doc.tobytes()
