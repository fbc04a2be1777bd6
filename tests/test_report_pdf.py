"""The report's own PDF writer (liberation.report._pdfwriter) and build_pdf's document, parsed back here.

The parser below is independent of the writer: it follows the cross-reference table to every object,
reads the page tree, decompresses the content streams and the images, and extracts the shown text.
"""

from __future__ import annotations

import io
import re
import zlib

import numpy as np
import pytest
from test_report_unit import hand_result

from liberation.report._pdfwriter import PdfDocument, text_width, to_winansi, wrap_text


# ------------------------------------------------------------------------------------------------ a parser
class Parsed:
    def __init__(self, data: bytes):
        assert data.startswith(b"%PDF-1.4\n") and data.endswith(b"%%EOF\n")
        self.data = data
        start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
        assert data[start:start + 5] == b"xref\n"
        m = re.match(rb"xref\n0 (\d+)\n", data[start:])
        size = int(m.group(1))
        table = data[start + m.end():start + m.end() + 20 * size]
        entries = [table[20 * k:20 * k + 20] for k in range(size)]
        assert entries[0] == b"0000000000 65535 f \n"
        self.objects: dict[int, bytes] = {}
        for number, entry in enumerate(entries[1:], start=1):
            assert entry.endswith(b" 00000 n \n"), entry
            offset = int(entry[:10])
            head = re.match(rb"(\d+) 0 obj\n", data[offset:])
            assert head and int(head.group(1)) == number, (number, data[offset:offset + 20])
            end = data.index(b"\nendobj\n", offset)
            self.objects[number] = data[offset + head.end():end]
        trailer = data[data.index(b"trailer", start):]
        assert int(re.search(rb"/Size (\d+)", trailer).group(1)) == size
        self.root = self.ref(trailer, b"Root")
        self.info = self.ref(trailer, b"Info")
        pages = self.ref(self.objects[self.root], b"Pages")
        kids = re.search(rb"/Kids \[([^\]]*)\]", self.objects[pages]).group(1)
        self.pages = [int(k) for k in re.findall(rb"(\d+) 0 R", kids)]
        assert int(re.search(rb"/Count (\d+)", self.objects[pages]).group(1)) == len(self.pages)

    @staticmethod
    def ref(body: bytes, key: bytes) -> int:
        return int(re.search(rb"/" + key + rb" (\d+) 0 R", body).group(1))

    def stream(self, number: int) -> tuple[bytes, bytes]:
        body = self.objects[number]
        head, rest = body.split(b"\nstream\n", 1)
        length = int(re.search(rb"/Length (\d+)", head).group(1))
        assert rest[length:] == b"\nendstream"
        return head, zlib.decompress(rest[:length])

    def content(self, page: int) -> bytes:
        return self.stream(self.ref(self.objects[self.pages[page]], b"Contents"))[1]

    def text(self, page: int) -> list[str]:
        """The strings shown on ``page`` (0-based), one per Tj, unescaped, decoded from WinAnsi."""
        out = []
        for m in re.finditer(rb"\(((?:\\.|[^\\)])*)\) Tj", self.content(page)):
            raw = re.sub(rb"\\(.)", lambda g: {b"r": b"\r"}.get(g.group(1), g.group(1)), m.group(1))
            out.append(raw.decode("cp1252"))
        return out

    def images(self, page: int) -> list[tuple[int, np.ndarray, np.ndarray | None]]:
        """(object number, RGB pixels, alpha or None) of the images drawn on ``page``."""
        body = self.objects[self.pages[page]]
        xobjects = re.search(rb"/XObject << ([^>]*) >>", body)
        names = dict(re.findall(rb"/(Im\d+) (\d+) 0 R", xobjects.group(1))) if xobjects else {}
        out = []
        for name in re.findall(rb"/(Im\d+) Do", self.content(page)):
            number = int(names[name])
            head, pixels = self.stream(number)
            w, h = (int(re.search(rb"/" + k + rb" (\d+)", head).group(1)) for k in (b"Width", b"Height"))
            assert b"/ColorSpace /DeviceRGB /BitsPerComponent 8" in head
            rgb = np.frombuffer(pixels, np.uint8).reshape(h, w, 3)
            alpha = None
            if b"/SMask" in head:
                mhead, mpix = self.stream(self.ref(head, b"SMask"))
                assert b"/DeviceGray" in mhead
                alpha = np.frombuffer(mpix, np.uint8).reshape(h, w)
            out.append((number, rgb, alpha))
        return out


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="png")
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ the writer
def test_helvetica_widths_and_wrapping():
    # Adobe's metrics: H 722, e 556, l 222, o 556; bold: H 722, e 556, l 278, o 611
    assert text_width("Hello", 10) == pytest.approx(22.78)
    assert text_width("Hello", 10, bold=True) == pytest.approx(24.45)
    assert text_width("µm × 3", 1000) == pytest.approx(556 + 833 + 278 + 584 + 278 + 556)
    text = "the quick brown fox jumps over the lazy dog " * 12 + "\n\nSupercalifragilisticexpialidocious" * 2
    for width in (40.0, 120.0, 300.0):
        lines = wrap_text(text, width, 9)
        assert all(text_width(line, 9) <= width + 1e-9 for line in lines)
        assert "".join(" ".join(lines).split()) == "".join(text.split())  # nothing lost, order kept
    lines = wrap_text(text, 300.0, 9)
    assert "" in lines  # the empty paragraph is kept
    assert all(text_width(a + " " + b.split()[0], 9) > 300.0 for a, b in zip(lines, lines[1:]) if a and b)  # greedy
    assert to_winansi("≥ 90 % − 3 µm · Σ") == b">= 90 % - 3 \xb5m \xb7 Sum"


def test_writer_images_text_and_determinism():
    rng = np.random.default_rng(0)
    opaque = rng.integers(0, 256, (7, 11, 4), dtype=np.uint8)
    opaque[..., 3] = 255
    clear = rng.integers(0, 256, (5, 3, 4), dtype=np.uint8)  # transparent pixels: a soft mask
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)

    def build():
        doc = PdfDocument((595.44, 841.68), info={"Title": "T (1)"}, creation_date="D:20231114221320Z")
        doc.new_page()
        doc.text(72, 700, "a (b) \\ c ≥ 2", size=9)
        doc.bookmark("First", 700)
        k0 = doc.add_image(_png(opaque))
        doc.image(k0[0], 72, 72, 110, 70)
        doc.new_page()
        k1 = doc.add_image(_png(clear))
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="png")
        k2 = doc.add_image(buffer.getvalue())
        doc.image(k1[0], 72, 72, 30, 50)
        doc.image(k2[0], 172, 72, 60, 40)
        doc.rect(0, 0, 10, 10, fill="#eef3f8")
        doc.line(0, 0, 10, 10, color="0.6")
        assert (k0[1:], k1[1:], k2[1:]) == ((11, 7), (3, 5), (6, 4))
        return doc.tobytes()

    data = build()
    assert build() == data
    pdf = Parsed(data)
    assert len(pdf.pages) == 2
    assert pdf.text(0) == ["a (b) \\ c >= 2"]
    assert b"/CreationDate (D:20231114221320Z)" in pdf.objects[pdf.info]
    assert b"/Title (T \\(1\\))" in pdf.objects[pdf.info]
    (_, got, alpha), = pdf.images(0)
    np.testing.assert_array_equal(got, opaque[..., :3])
    assert alpha is None
    (_, got1, alpha1), (_, got2, alpha2) = pdf.images(1)
    np.testing.assert_array_equal(got1, clear[..., :3])
    np.testing.assert_array_equal(alpha1, clear[..., 3])
    np.testing.assert_array_equal(got2, rgb)
    assert alpha2 is None
    assert b"/Outlines" in pdf.objects[pdf.root] and b"/Title (First)" in data
    # document information and bookmarks are text strings: UTF-16BE with a byte order mark when not ASCII
    doc = PdfDocument((100, 100), info={"Title": "Grade ≥ 90 % – µm"})
    doc.new_page()
    doc.bookmark("Σ section", 50)
    data = doc.tobytes()
    assert b"\xfe\xff" + "Grade ≥ 90 % – µm".encode("utf-16-be") in data
    assert b"\xfe\xff" + "Σ section".encode("utf-16-be") in data


# ------------------------------------------------------------------------------------------------ the report
def test_report_pdf_parsed_back(monkeypatch):
    """Every section, table value and figure of the hand result's PDF, in order; same bytes twice."""
    from liberation.report import tables as T
    from liberation.report.html import PLOT_CAPTIONS, _fmt_number
    from liberation.report.pdf import build_pdf

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    r = hand_result()
    rng = np.random.default_rng(1)
    images = {}  # a distinct small image per plot (random pixels, opaque), one wider than the page's text
    for k, name in enumerate(PLOT_CAPTIONS):
        rgba = rng.integers(0, 256, (20 + 3 * k, 900 if k == 2 else 30 + 5 * k, 4), dtype=np.uint8)
        rgba[..., 3] = 255
        images[name] = _png(rgba)
    outline: dict = {}
    data = build_pdf(r, images, title="Hand report", outline=outline)
    assert build_pdf(r, images, title="Hand report") == data
    pdf = Parsed(data)
    assert b"/CreationDate (D:20231114221320Z)" in pdf.objects[pdf.info]
    n = len(pdf.pages)
    assert max(outline.values()) <= n
    texts = [pdf.text(k) for k in range(n)]
    for k, page in enumerate(texts, start=1):
        assert page[0] == f"Hand report · page {k}"  # the footer
    # the headings on their outline pages, in the HTML's order
    for heading, page in outline.items():
        assert heading in texts[page - 1]
    assert list(outline) == ["Sample", "Modal mineralogy", "Liberation: 3D particles vs 2D sections",
                             "Mineral association", "Theoretical grade-recovery", "Particle and grain sizes",
                             "CT slices", "Parameters", "Glossary"]
    words = " ".join(" ".join(page) for page in texts).split()
    joined = " ".join(words)
    assert "2D sections overestimate the liberated fraction of spodumene by 12.3 percentage points" in joined
    # known table values: the modal table and the parameter rows
    modal = T.modal_display(r)
    for row in modal.itertuples(index=False):
        assert " ".join(_fmt_number(v, 1) for v in row) in joined, row
    from liberation import __version__

    for what, setting in T.parameter_rows(r, __version__):
        assert " ".join(str(what).split()) in joined
        assert " ".join(to_winansi(setting).decode("cp1252").split()) in joined
    # every figure once, in the order of the captions, each the PNG's pixels
    shown = [(k, number, rgb) for k in range(n) for number, rgb, _ in pdf.images(k)]
    order = [name for name in PLOT_CAPTIONS if name in images]
    assert len(shown) == len(order) == len(images)
    from PIL import Image

    for (page, _, rgb), name in zip(shown, order):
        with Image.open(io.BytesIO(images[name])) as im:
            np.testing.assert_array_equal(rgb, np.asarray(im.convert("RGB")))
        caption = " ".join(PLOT_CAPTIONS[name][1].split())
        assert " ".join(caption.split()[:6]) in " ".join(" ".join(texts[page]).split()), name


def test_a_row_taller_than_a_page_ends():
    """A table cell with more lines than a page holds is drawn on a page of its own (no endless page loop)."""
    from liberation.report.pdf import A4_INCHES, _Pages

    doc = PdfDocument((A4_INCHES[0] * 72, A4_INCHES[1] * 72))
    pages = _Pages(doc, "t")
    pages.text("before")
    pages.table(["a", "b"], [["x", "y"], ["long", "\n".join(f"line {k}" for k in range(120))], ["z", "w"]],
                widths=[0.5, 0.5])
    pages.flush()
    pdf = Parsed(doc.tobytes())
    assert len(pdf.pages) == 3
    assert "line 119" in pdf.text(1) and "w" in pdf.text(2)
