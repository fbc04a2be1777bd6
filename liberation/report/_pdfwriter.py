"""A small PDF 1.4 writer for the report: A4 pages of text, filled rectangles, lines and PNG images.

No layout engine and no font files: the text is set in two of the PDF's standard fonts (Helvetica and
Helvetica-Bold, which every viewer has; WinAnsiEncoding), whose glyph widths are tabulated here (from the Adobe
font metrics ``phvr8a.afm`` / ``phvb8a.afm`` that ship with matplotlib) for line wrapping. Images are the PNG
bytes of the report's figures, decoded once and stored as 8-bit RGB (deflate), with a soft mask where the PNG
has transparent pixels. The bytes depend only on the content (``/CreationDate`` from ``SOURCE_DATE_EPOCH`` when
set, as matplotlib's PDF backend does).

Coordinates are PDF points (1/72 inch), origin at the page's bottom-left corner.
"""

from __future__ import annotations

import io
import zlib

__all__ = ["PdfDocument", "parse_color", "pdf_date", "text_width", "to_winansi", "wrap_text"]

# Glyph widths (1/1000 em) of the WinAnsiEncoding codes 32..255 (0: no glyph at that code).
_HELVETICA = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667,
    556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556,
    556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722,
    500, 500, 500, 334, 260, 334, 584, 0, 556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611,
    0, 0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667, 278, 333, 556, 556, 556, 556,
    260, 556, 333, 737, 370, 556, 584, 333, 737, 333, 400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556,
    834, 834, 834, 611, 667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, 722, 722,
    778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, 556, 556, 556, 556, 556, 556, 889, 500,
    556, 556, 556, 556, 278, 278, 278, 278, 556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500,
    556, 500,
)
_HELVETICA_BOLD = (
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722,
    611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556,
    611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778,
    556, 556, 500, 389, 280, 389, 584, 0, 556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611,
    0, 0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667, 278, 333, 556, 556, 556, 556,
    280, 556, 333, 737, 370, 556, 584, 333, 737, 333, 400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556,
    834, 834, 834, 611, 722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278, 722, 722,
    778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611, 556, 556, 556, 556, 556, 556, 889, 556,
    556, 556, 556, 556, 278, 278, 278, 278, 611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556,
    611, 556,
)

#: Characters outside WinAnsiEncoding that the report's texts use, written as their nearest ASCII/Latin-1 form.
_SUBSTITUTES = {
    "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2009": " ", "\u202f": " ", "\u200b": "",
    "\u03bc": "\u00b5", "\u2265": ">=", "\u2264": "<=", "\u2192": "->", "\u2190": "<-", "\u2194": "<->",
    "\u2248": "~", "\u2260": "!=", "\u221e": "inf", "\u221a": "sqrt", "\u2211": "sum", "\u0394": "Delta",
    "\u03a3": "Sum", "\u03c3": "sigma", "\u03c0": "pi", "\u03bb": "lambda", "\u03b1": "alpha", "\u03b2": "beta",
    "\u03b3": "gamma", "\u03b4": "delta", "\u03b5": "epsilon", "\u03b8": "theta", "\u03c1": "rho", "\u03c6": "phi",
    "\u03c7": "chi", "\u03c9": "omega", "\u2032": "'", "\u2033": '"', "\u2070": "0", "\u2074": "4",
}
_TRANSLATE = str.maketrans(_SUBSTITUTES)


def to_winansi(text: str) -> bytes:
    """``text`` in WinAnsiEncoding (cp1252): the characters of :data:`_SUBSTITUTES` replaced, others outside
    the encoding shown as ``?``."""
    return str(text).translate(_TRANSLATE).encode("cp1252", errors="replace")


_WIDTHS = {False: (0,) * 32 + _HELVETICA, True: (0,) * 32 + _HELVETICA_BOLD}


def text_width(text: str | bytes, size: float, bold: bool = False) -> float:
    """Width in points of ``text`` set in Helvetica (``bold``: Helvetica-Bold) at ``size`` points."""
    data = text if isinstance(text, bytes) else to_winansi(text)
    widths = _WIDTHS[bool(bold)]
    return sum(widths[b] for b in data) * size / 1000.0


def _break_word(word: str, width: float, size: float, bold: bool) -> list[str]:
    """``word`` cut into pieces no wider than ``width`` (at least one character each)."""
    pieces = []
    while word and text_width(word, size, bold) > width:
        k = 1
        while k < len(word) and text_width(word[:k + 1], size, bold) <= width:
            k += 1
        pieces.append(word[:k])
        word = word[k:]
    if word:
        pieces.append(word)
    return pieces


def wrap_text(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """``text`` wrapped into lines no wider than ``width`` points (greedy, at spaces; a word longer than a
    line is cut); each newline starts a new line (an empty paragraph gives an empty line)."""
    space = text_width(" ", size, bold)
    lines: list[str] = []
    for para in str(text).split("\n"):
        words = para.split()
        if not words:
            lines.append("")
            continue
        current, used = "", 0.0
        for word in words:
            w = text_width(word, size, bold)
            if current and used + space + w <= width:
                current, used = f"{current} {word}", used + space + w
                continue
            if current:
                lines.append(current)
            if w > width:
                *full, word = _break_word(word, width, size, bold)
                lines.extend(full)
                w = text_width(word, size, bold)
            current, used = word, w
        lines.append(current)
    return lines


def _pdf_string(data: bytes) -> bytes:
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(
        b"\r", b"\\r") + b")"


def _text_string(text: str) -> bytes:
    """A PDF text string (document information, bookmarks): ASCII as is, else UTF-16BE with its byte order mark
    (these strings are PDFDocEncoding, not the fonts' WinAnsiEncoding)."""
    text = str(text)
    return _pdf_string(text.encode("ascii") if text.isascii() else b"\xfe\xff" + text.encode("utf-16-be"))


def _num(value: float) -> bytes:
    """A number as PDF writes it: at most 3 decimals, no trailing zeros (deterministic)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return (text if text not in ("-0", "") else "0").encode()


def parse_color(color) -> tuple[float, float, float]:
    """``"#rrggbb"``, a grey level as a string (``"0.4"``, matplotlib's convention), ``"black"``/``"white"`` or
    an (r, g, b) tuple in 0..1, as three floats in 0..1."""
    if isinstance(color, str):
        if color.startswith("#") and len(color) == 7:
            return tuple(int(color[k:k + 2], 16) / 255.0 for k in (1, 3, 5))  # type: ignore[return-value]
        if color in ("black", "k"):
            return (0.0, 0.0, 0.0)
        if color in ("white", "w"):
            return (1.0, 1.0, 1.0)
        grey = float(color)
        return (grey, grey, grey)
    r, g, b = color[:3]
    return (float(r), float(g), float(b))


def _rgb(color, op: bytes) -> bytes:
    return b" ".join(_num(c) for c in parse_color(color)) + b" " + op


class _Image:
    """A PNG as the PDF's image XObject (and its soft mask): 8-bit RGB, deflated."""

    def __init__(self, png: bytes, level: int):
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            im.load()
            self.width, self.height = im.size
            mask = None
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                rgba = im.convert("RGBA")
                alpha = rgba.getchannel("A")
                if alpha.getextrema()[0] < 255:
                    mask = zlib.compress(alpha.tobytes(), level)
                rgb = rgba.convert("RGB")
            else:
                rgb = im.convert("RGB")
            self.data = zlib.compress(rgb.tobytes(), level)
            self.mask = mask


class PdfDocument:
    """Pages drawn with :meth:`text`, :meth:`rect`, :meth:`line` and :meth:`image`, written by :meth:`tobytes`.

    Parameters
    ----------
    page_size : (float, float)
        Page width and height in points (A4: 595.44 x 841.68 for 8.27 x 11.69 inches).
    info : mapping of str to str, optional
        The document information (``Title``, ``Creator``, ``Subject``, ...).
    creation_date : str, optional
        ``/CreationDate`` as a PDF date (``D:YYYYMMDDHHmmSSZ``); None leaves it out.
    level : int
        zlib level of the page contents and images (3: about today's size at a quarter of level 6's time).
    """

    def __init__(self, page_size: tuple[float, float], *, info=None, creation_date: str | None = None,
                 level: int = 3):
        self.page_size = page_size
        self.info = dict(info or {})
        self.creation_date = creation_date
        self.level = level
        self._pages: list[list[bytes]] = []
        self._page_images: list[list[int]] = []
        self._images: list[_Image] = []
        self._outline: list[tuple[str, int, float]] = []

    @property
    def n_pages(self) -> int:
        """Pages so far."""
        return len(self._pages)

    def new_page(self) -> None:
        """Start a page: the drawing operations that follow go on it."""
        self._pages.append([])
        self._page_images.append([])

    def text(self, x: float, y: float, text: str, *, size: float, bold: bool = False, color="black") -> None:
        """One line of ``text`` with its baseline's left end at (``x``, ``y``) points."""
        data = to_winansi(text)
        if not data:
            return
        font = b"/F2 " if bold else b"/F1 "
        self._pages[-1].append(b"BT " + font + _num(size) + b" Tf " + _rgb(color, b"rg ") + _num(x) + b" "
                               + _num(y) + b" Td " + _pdf_string(data) + b" Tj ET")

    def rect(self, x: float, y: float, width: float, height: float, *, fill) -> None:
        """A filled rectangle, lower-left corner (``x``, ``y``)."""
        self._pages[-1].append(_rgb(fill, b"rg ") + b" ".join(_num(v) for v in (x, y, width, height)) + b" re f")

    def line(self, x0: float, y0: float, x1: float, y1: float, *, width: float = 0.4, color="black") -> None:
        """A straight line."""
        self._pages[-1].append(_num(width) + b" w " + _rgb(color, b"RG ") + b" ".join(_num(v) for v in (x0, y0))
                               + b" m " + b" ".join(_num(v) for v in (x1, y1)) + b" l S")

    def add_image(self, png: bytes) -> tuple[int, int, int]:
        """Decode ``png`` once for :meth:`image`: returns ``(image index, width px, height px)``."""
        image = _Image(png, self.level)
        self._images.append(image)
        return len(self._images) - 1, image.width, image.height

    def image(self, index: int, x: float, y: float, width: float, height: float) -> None:
        """Image ``index`` (:meth:`add_image`) scaled to ``width`` x ``height`` points, lower-left at (x, y)."""
        self._page_images[-1].append(index)
        self._pages[-1].append(b"q " + b" ".join(_num(v) for v in (width, 0, 0, height, x, y))
                               + b" cm /Im" + str(index).encode() + b" Do Q")

    def bookmark(self, title: str, y: float) -> None:
        """An entry of the document outline (bookmarks) pointing at height ``y`` of the current page."""
        self._outline.append((title, len(self._pages) - 1, y))

    def tobytes(self) -> bytes:
        """The document."""
        objects: list[bytes | None] = [None]  # 1-based object numbers

        def reserve() -> int:
            objects.append(None)
            return len(objects) - 1

        def put(number: int, body: bytes) -> int:
            objects[number] = body
            return number

        def stream(dictionary: bytes, data: bytes) -> bytes:
            return (b"<< " + dictionary + b" /Length " + str(len(data)).encode() + b" >>\nstream\n" + data
                    + b"\nendstream")

        catalog, pages_obj = reserve(), reserve()
        fonts = {name: put(reserve(), b"<< /Type /Font /Subtype /Type1 /BaseFont /" + base
                           + b" /Encoding /WinAnsiEncoding >>")
                 for name, base in ((b"F1", b"Helvetica"), (b"F2", b"Helvetica-Bold"))}
        image_objs: dict[int, int] = {}
        for k, image in enumerate(self._images):
            smask = b""
            if image.mask is not None:
                m = put(reserve(), stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace "
                                          b"/DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"
                                          % (image.width, image.height), image.mask))
                smask = b" /SMask %d 0 R" % m
            image_objs[k] = put(reserve(), stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace "
                                                  b"/DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode%s"
                                                  % (image.width, image.height, smask), image.data))
        font_res = b"/Font << " + b" ".join(b"/%s %d 0 R" % (n, o) for n, o in fonts.items()) + b" >>"
        width, height = self.page_size
        page_objs = []
        for ops, used in zip(self._pages, self._page_images):
            content = put(reserve(), stream(b"/Filter /FlateDecode", zlib.compress(b"\n".join(ops), self.level)))
            xobjects = b""
            if used:
                xobjects = b" /XObject << " + b" ".join(b"/Im%d %d 0 R" % (k, image_objs[k])
                                                          for k in sorted(set(used))) + b" >>"
            page_objs.append(put(reserve(), b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources << %s%s"
                                 b" >> /Contents %d 0 R >>" % (pages_obj, _num(width), _num(height), font_res,
                                                               xobjects, content)))
        put(pages_obj, b"<< /Type /Pages /Count %d /Kids [%s] >>"
            % (len(page_objs), b" ".join(b"%d 0 R" % p for p in page_objs)))
        outlines = b""
        if self._outline:
            root = reserve()
            items = [reserve() for _ in self._outline]
            for k, ((title, page, y), number) in enumerate(zip(self._outline, items)):
                links = b""
                if k > 0:
                    links += b" /Prev %d 0 R" % items[k - 1]
                if k + 1 < len(items):
                    links += b" /Next %d 0 R" % items[k + 1]
                put(number, b"<< /Title " + _text_string(title) + b" /Parent %d 0 R%s /Dest [%d 0 R /XYZ 0 "
                    % (root, links, page_objs[page]) + _num(y) + b" 0] >>")
            put(root, b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>"
                % (items[0], items[-1], len(items)))
            outlines = b" /Outlines %d 0 R /PageMode /UseOutlines" % root
        put(catalog, b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_obj, outlines))
        info = {**self.info}
        if self.creation_date:
            info["CreationDate"] = self.creation_date
        info_obj = put(reserve(), b"<< " + b" ".join(b"/" + k.encode("ascii") + b" " + _text_string(v)
                                                      for k, v in info.items()) + b" >>")
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects[1:], start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % len(objects))
        out.write(b"".join(b"%010d 00000 n \n" % off for off in offsets))
        out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(objects), catalog, info_obj, xref))
        return out.getvalue()


def pdf_date(epoch: float) -> str:
    """``D:YYYYMMDDHHmmSSZ`` of a POSIX time (UTC)."""
    import datetime as _dt

    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("D:%Y%m%d%H%M%SZ")

