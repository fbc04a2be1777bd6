"""Read and write micro-XRF element maps.

A map source is either

- a folder with one image per element: TIFF, PNG, BMP, JPEG, or a text/CSV matrix as exported
  by a Bruker M4 Tornado (``;``, ``,``, tab or space separated, optional header lines, decimal
  commas with ``;``). The element comes from the file name: ``Fe.tif``, ``Fe Ka.tif``,
  ``sample_Na.bmp``, ``Na-K.txt``, ``FeKa.csv``. Files whose name names no element are skipped
  (and listed); or
- one multi-channel TIFF (channels, y, x) or multi-page TIFF (one page per element, pages
  written one by one as EDS software exports them) with channel names in its metadata
  (tifffile JSON ``channels``, ImageJ ``Labels``, OME ``Channel Name``, the ``PageName`` tag or
  each page's ``ImageDescription``: ``Fe``, ``Fe Ka``, ``element: Fe``); without names, the
  ``elements`` option names the pages in order.

Text/CSV grids (EDS exports: one grid per element, comma or semicolon separated, header-less or
with header lines, a delimiter at each line end) are read by :func:`read_text_matrix`: the empty
last column is dropped; rows of different lengths are an error naming the file and the line.

The pixel size in µm comes from the ``pixel_size_um`` option, else from a sidecar in the folder
(``pixel_size.txt`` with one number, or a ``.json`` / ``.yaml`` file with ``pixel_size_um``),
else from the TIFF resolution tags. All maps must have one shape; otherwise the error names
the odd file(s).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liberation.errors import FileFormatError, InputError, OverwriteError
from liberation.io.images import read_image
from liberation.minerals import ELEMENT_SYMBOLS

__all__ = [
    "XRFMaps",
    "element_from_filename",
    "read_map_file",
    "read_text_matrix",
    "read_xrf_maps",
    "write_xrf_maps",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg")
TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".asc", ".dat")
SIDECAR_NAMES = ("pixel_size.txt", "pixel_size_um.txt")
_LINE = re.compile(r"^[KLM](?:[aAbBgG\u03b1\u03b2]\d?)?\d?$")
_GLUED = re.compile(r"^([A-Z][a-z]?)([KLM](?:[aAbB\u03b1\u03b2]\d?)?)$")
_UNIT_TO_UM = {"um": 1.0, "µm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
               "mm": 1000.0, "cm": 10000.0, "nm": 1e-3}


def element_from_filename(name: str | os.PathLike) -> str | None:
    """The element a map file is of, from its name, or None.

    The stem is split at spaces, ``_``, ``-``, ``.``, brackets and commas. A token that is an
    element symbol counts, except a line designation (``K``, ``Ka``, ``L``, ``M`` ...) right
    after an element (``Na-K`` is Na; ``K Ka`` is K). ``FeKa`` counts as Fe. With several
    candidates, the one followed by a line designation wins, else the last. Lower-case
    symbols (``fe.tif``) are accepted when nothing else matches.

    Examples
    --------
    >>> element_from_filename("Fe Ka.tif"), element_from_filename("sample_Na.bmp"), element_from_filename("Na-K.txt")
    ('Fe', 'Na', 'Na')
    """
    stem = Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES + TEXT_SUFFIXES else Path(name).name
    tokens = [t for t in re.split(r"[\s_\-.,()\[\]]+", stem) if t]
    candidates: list[tuple[str, bool]] = []  # (symbol, followed by a line designation)
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ELEMENT_SYMBOLS:
            if i > 0 and tokens[i - 1] in ELEMENT_SYMBOLS and _LINE.match(tok):
                continue
            candidates.append((tok, bool(_LINE.match(nxt))))
            continue
        glued = _GLUED.match(tok)
        if glued and glued.group(1) in ELEMENT_SYMBOLS:
            candidates.append((glued.group(1), True))
    if not candidates:
        for i, tok in enumerate(tokens):
            cap = tok.capitalize()
            if len(tok) <= 2 and tok.isalpha() and cap in ELEMENT_SYMBOLS:
                candidates.append((cap, bool(_LINE.match(tokens[i + 1].capitalize())) if i + 1 < len(tokens)
                                   else False))
    if not candidates:
        return None
    with_line = [c for c, line in candidates if line]
    return with_line[0] if with_line else candidates[-1][0]


def read_text_matrix(path: str | os.PathLike) -> np.ndarray:
    """Read a 2D numeric matrix from a text/CSV file (Bruker M4 export style).

    The delimiter is detected (``;``, tab, ``,`` or spaces); with ``;`` a decimal comma is
    accepted. Leading lines that are not all numbers (headers) are skipped; empty trailing
    fields (a delimiter at the line end) are ignored.

    Returns
    -------
    numpy.ndarray
        float32 (rows, columns).

    Raises
    ------
    FileFormatError
        If the file is missing, holds no numbers, or its rows differ in length.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise FileFormatError(f"cannot read {path}: {exc}") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise FileFormatError(f"{path} is empty; expected a matrix of numbers")
    sample = lines[min(len(lines) - 1, 5)]
    if ";" in sample:
        delim = ";"
    elif "\t" in sample:
        delim = "\t"
    elif "," in sample:
        delim = ","
    else:
        delim = None
    rows: list[list[float]] = []
    started = False
    for number, line in enumerate(lines, start=1):
        fields = line.split(delim) if delim else line.split()
        while fields and not fields[-1].strip():
            fields.pop()
        try:
            values = [float(f.strip().replace(",", ".") if delim == ";" else f.strip()) for f in fields]
        except ValueError:
            if started:
                raise FileFormatError(f"{path}, line {number}: {line[:60]!r} is not a row of numbers") from None
            continue  # header
        started = True
        if rows and len(values) != len(rows[0]):
            raise FileFormatError(f"{path}, line {number}: {len(values)} values but the first row has "
                                  f"{len(rows[0])}; expected a rectangular matrix")
        rows.append(values)
    if not rows:
        raise FileFormatError(f"{path} holds no row of numbers; expected a matrix")
    return np.asarray(rows, dtype=np.float32)


def read_map_file(path: str | os.PathLike) -> np.ndarray:
    """Read one element map (image or text matrix) as a float32 (y, x) array."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"map file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return read_text_matrix(path)
    if suffix in IMAGE_SUFFIXES:
        # false-colour element maps: the tint scales with the signal, so the brightest channel
        return read_image(path, colour_rule="max").astype(np.float32)
    raise FileFormatError(f"{path} has suffix {suffix!r}; expected one of {IMAGE_SUFFIXES + TEXT_SUFFIXES}")


@dataclass
class XRFMaps:
    """Element maps read from disk.

    Attributes
    ----------
    maps : dict of str to numpy.ndarray
        Element -> float32 (y, x) map (counts or 8-bit levels as stored).
    pixel_size_um : float or None
        Map pixel size in µm (option, sidecar or TIFF tags), None if unknown.
    files : dict of str to Path
        Element -> source file.
    skipped : list of Path
        Files of map type whose name names no element.
    source : Path
    """

    maps: dict
    pixel_size_um: float | None
    files: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    source: Path | None = None

    @property
    def elements(self) -> list[str]:
        return list(self.maps)

    @property
    def shape(self) -> tuple[int, int]:
        return next(iter(self.maps.values())).shape


def _sidecar_pixel_size(folder: Path) -> float | None:
    for name in SIDECAR_NAMES:
        p = folder / name
        if p.is_file():
            try:
                return float(p.read_text().split()[0])
            except (ValueError, IndexError):
                raise FileFormatError(f"{p} should hold one number, the pixel size in µm") from None
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in (".json", ".yaml", ".yml") or not p.is_file():
            continue
        try:
            if p.suffix.lower() == ".json":
                meta = json.loads(p.read_text())
            else:
                import yaml

                meta = yaml.safe_load(p.read_text())
        except Exception as exc:
            raise FileFormatError(f"cannot parse sidecar {p}: {exc}") from None
        if isinstance(meta, dict):
            for key in ("pixel_size_um", "pixel_size"):
                if key in meta:
                    try:
                        return float(meta[key])
                    except (TypeError, ValueError):
                        raise FileFormatError(f"{p}: {key}={meta[key]!r} is not a number (µm)") from None
    return None


def _tiff_pixel_size(tif) -> float | None:
    page = tif.pages[0]
    ij = tif.imagej_metadata or {}
    shaped = tif.shaped_metadata[0] if tif.shaped_metadata else {}
    if isinstance(shaped, dict) and "pixel_size_um" in shaped:
        return float(shaped["pixel_size_um"])
    unit = str(ij.get("unit", "")).strip().lower()
    xres = page.tags.get("XResolution")
    if unit in _UNIT_TO_UM and xres is not None:
        num, den = xres.value if isinstance(xres.value, tuple) else (xres.value, 1)
        if num:
            return _UNIT_TO_UM[unit] * den / num
    return None


def _page_description_name(page) -> str | None:
    """An element name written in a page's ImageDescription (``Fe``, ``Fe Ka``, ``element: Fe``), or None.

    JSON (tifffile), ImageJ and OME-XML descriptions are metadata, not names.
    """
    text = str(page.description or "").strip()
    if not text or len(text) > 64 or text.startswith(("{", "<", "ImageJ=")) or "\n" in text:
        return None
    text = re.sub(r"^(element|channel|name|map)\s*[:=]\s*", "", text, flags=re.IGNORECASE)
    return text or None


def _tiff_channel_names(tif, n: int) -> list[str] | None:
    shaped = tif.shaped_metadata[0] if tif.shaped_metadata else None
    if isinstance(shaped, dict):
        for key in ("channels", "elements", "Channel", "channel_names"):
            if key in shaped and len(shaped[key]) == n:
                return [str(c) for c in shaped[key]]
    ij = tif.imagej_metadata or {}
    labels = ij.get("Labels")
    if labels and len(labels) >= n:
        return [str(c) for c in labels[:n]]
    if tif.is_ome and tif.ome_metadata:
        names = re.findall(r"<Channel[^>]*\sName=\"([^\"]*)\"", tif.ome_metadata)
        if len(names) == n:
            return names
    pages = list(tif.pages)[:n]
    for read in (lambda pg: pg.tags.get("PageName"), _page_description_name):
        names = []
        for page in pages:
            value = read(page)
            value = getattr(value, "value", value)
            names.append(str(value) if value else None)
        if len(names) == n and all(names):
            return names
    return None


def _tiff_planes(tif, path: Path) -> np.ndarray:
    """The (channels, y, x) planes of a multi-channel or multi-page TIFF.

    One series (a stack written at once, ImageJ or OME) is read as it is; several series of one
    2D shape (pages written one by one) are stacked in page order.
    """
    series = tif.series
    if len(series) <= 1:
        data = np.squeeze(tif.asarray())
        return data[None] if data.ndim == 2 else data
    planes = [np.squeeze(s.asarray()) for s in series]
    shapes = Counter(p.shape for p in planes)
    if len(shapes) > 1 or planes[0].ndim != 2:
        listing = ", ".join(f"page {i + 1} {p.shape}" for i, p in enumerate(planes))
        raise FileFormatError(f"{path} holds pages of different shapes ({listing}); expected one 2D element map "
                              "per page, all of one shape")
    return np.stack(planes)


def _read_multichannel(path: Path, pixel_size_um, elements) -> XRFMaps:
    """Read a multi-channel or multi-page TIFF. Channel names come from the metadata; without
    any, ``elements`` names the pages in order (and must have one name per page)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            data = _tiff_planes(tif, path)
            if data.ndim != 3:
                raise FileFormatError(f"{path} has shape {data.shape}; expected (channels, y, x)")
            names = _tiff_channel_names(tif, data.shape[0])
            size = _tiff_pixel_size(tif)
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"cannot read TIFF {path}: {exc}") from None
    if names is None:
        if elements is None:
            raise FileFormatError(
                f"{path} has {data.shape[0]} pages but no channel names in its metadata (tifffile 'channels', "
                "ImageJ 'Labels', OME Channel Name, PageName or ImageDescription); name them in page order "
                "with --elements / elements=['Fe', 'Ca', ...], or save one file per element")
        names = [str(e) for e in elements]
        if len(names) != data.shape[0]:
            raise FileFormatError(f"{path} has {data.shape[0]} pages without names but elements names "
                                  f"{len(names)} ({','.join(names)}); give one element per page, in page order")
    maps: dict[str, np.ndarray] = {}
    for name, plane in zip(names, data):
        element = name if name in ELEMENT_SYMBOLS or name == "CT" else element_from_filename(name)
        if element is None:
            raise FileFormatError(f"{path}: channel name {name!r} names no element")
        if element in maps:
            raise FileFormatError(f"{path}: element {element} appears in two channels")
        maps[element] = plane.astype(np.float32)
    maps = _select(maps, elements, path)
    _check_counts(maps, {e: path for e in maps})
    if pixel_size_um is None:
        pixel_size_um = size
    return XRFMaps(maps=maps, pixel_size_um=pixel_size_um, files={e: path for e in maps}, source=path)


def _check_counts(maps: dict, files: dict) -> None:
    """Refuse maps holding NaN, infinite or negative values (counts are finite and >= 0).

    liberation refuses rather than ignores such pixels: clustering on made-up values would
    silently move the cluster centres. Mask or fill them in the export (e.g. set them to 0)
    and run again.

    Raises
    ------
    FileFormatError
        Naming the first bad map file, the number of bad pixels and the first one (row, column).
    """
    for element, data in maps.items():
        data = np.asarray(data)
        bad_nonfinite = ~np.isfinite(data)
        bad_negative = np.zeros(data.shape, bool)
        np.less(data, 0, out=bad_negative, where=~bad_nonfinite)
        for mask, what in ((bad_nonfinite, "NaN or infinite"), (bad_negative, "negative")):
            n = int(mask.sum())
            if n:
                first = tuple(int(i) for i in np.argwhere(mask)[0])
                raise FileFormatError(
                    f"map {files.get(element, element)} ({element}) has {n} {what} pixels (first at row, column "
                    f"{first}); counts must be finite and >= 0: mask or fill them in the export and run again")


def _select(maps: dict, elements, source) -> dict:
    if elements is None:
        return maps
    elements = [str(e) for e in elements]
    missing = [e for e in elements if e not in maps]
    if missing:
        raise FileFormatError(f"{source} has no map for {missing}; it has {sorted(maps)}")
    return {e: maps[e] for e in elements}


def read_xrf_maps(
    path: str | os.PathLike,
    *,
    pixel_size_um: float | None = None,
    elements: list[str] | None = None,
) -> XRFMaps:
    """Read micro-XRF element maps from a folder (one file per element) or a multi-channel TIFF.

    Parameters
    ----------
    path : str or Path
        Folder of maps, or one multi-channel TIFF.
    pixel_size_um : float, optional
        Map pixel size in µm; overrides a sidecar or TIFF tags.
    elements : list of str, optional
        Keep only these elements (error if one is missing). For a multi-page TIFF whose pages
        carry no names, the element of each page, in page order (one per page, else an error).

    Returns
    -------
    XRFMaps

    Raises
    ------
    FileFormatError
        Missing path, unreadable file, two files for one element, no map found, or maps of
        different shapes (the message names the odd files and their shapes).
    """
    path = Path(path)
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"pixel_size_um={pixel_size_um!r}; expected a positive pixel size in µm")
    if path.is_file():
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise FileFormatError(f"{path} is a file but not a TIFF; give a folder of maps or a multi-channel TIFF")
        return _read_multichannel(path, pixel_size_um, elements)
    if not path.is_dir():
        raise FileFormatError(f"micro-XRF maps {path} do not exist; expected a folder of element maps or a TIFF")
    files: dict[str, Path] = {}
    skipped: list[Path] = []
    for p in sorted(path.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.name.lower() in SIDECAR_NAMES:
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES + TEXT_SUFFIXES:
            continue
        element = element_from_filename(p.name)
        if element is None:
            skipped.append(p)
            continue
        if element in files:
            raise FileFormatError(f"two maps for {element}: {files[element].name} and {p.name}; keep one")
        files[element] = p
    if skipped:
        log.warning("skipped files whose name names no element: %s", ", ".join(s.name for s in skipped))
    if not files:
        raise FileFormatError(f"no element map found in {path}; name files like 'Fe.tif', 'Fe Ka.txt', 'sample_Na.bmp'")
    files = _select(files, elements, path)
    maps = {element: read_map_file(p) for element, p in files.items()}
    shapes = Counter(m.shape for m in maps.values())
    if len(shapes) > 1:
        common = shapes.most_common(1)[0][0]
        odd = [f"{files[e].name} {m.shape}" for e, m in maps.items() if m.shape != common]
        raise FileFormatError(f"maps in {path} differ in shape: {', '.join(odd)} but the others are {common}; "
                              "all element maps must have one shape")
    _check_counts(maps, files)
    if pixel_size_um is None:
        pixel_size_um = _sidecar_pixel_size(path)
    if pixel_size_um is None:
        first = next(iter(files.values()))
        if first.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(first) as tif:
                pixel_size_um = _tiff_pixel_size(tif)
    return XRFMaps(maps=maps, pixel_size_um=pixel_size_um, files={e: files[e] for e in maps}, skipped=skipped,
                   source=path)


def write_xrf_maps(
    path: str | os.PathLike,
    maps: dict,
    *,
    pixel_size_um: float | None = None,
    format: str = "tif",
    overwrite: bool = False,
) -> Path:
    """Write element maps: a folder of ``<element>.<format>`` files, or one multi-channel TIFF.

    Parameters
    ----------
    path : str or Path
        Folder (formats ``tif``, ``png``, ``csv``, ``txt``) or file (format ``multitiff``).
    maps : dict of str to numpy.ndarray
        Element -> (y, x) map. PNG stores uint8/uint16 (values are rounded and must fit).
    pixel_size_um : float, optional
        Written to ``pixel_size.txt`` (folders) or the TIFF metadata.
    format : {"tif", "png", "csv", "txt", "multitiff"}
    overwrite : bool
        Replace existing files.

    Returns
    -------
    Path
    """
    import tifffile

    path = Path(path)
    if format not in ("tif", "png", "csv", "txt", "multitiff"):
        raise InputError(f"format={format!r}; expected 'tif', 'png', 'csv', 'txt' or 'multitiff'")
    if not maps:
        raise InputError("maps is empty")
    if format == "multitiff":
        if path.exists() and not overwrite:
            raise OverwriteError(f"{path} exists; pass overwrite=True to replace it")
        names = list(maps)
        stack = np.stack([np.asarray(maps[n]) for n in names])
        meta = {"axes": "CYX", "channels": names}
        if pixel_size_um is not None:
            meta["pixel_size_um"] = float(pixel_size_um)
        tifffile.imwrite(path, stack, metadata=meta, photometric="minisblack")
        return path
    path.mkdir(parents=True, exist_ok=True)
    for element, value in maps.items():
        arr = np.asarray(value)
        target = path / f"{element}.{format}"
        if target.exists() and not overwrite:
            raise OverwriteError(f"{target} exists; pass overwrite=True to replace it")
        if format == "tif":
            tifffile.imwrite(target, arr)
        elif format == "png":
            from PIL import Image

            rounded = np.rint(arr)
            if rounded.min() < 0 or rounded.max() > 65535:
                raise InputError(f"map {element} has values outside 0..65535; PNG cannot hold them")
            dtype = np.uint8 if rounded.max() <= 255 else np.uint16
            Image.fromarray(rounded.astype(dtype)).save(target)
        else:
            delim = ";" if format == "csv" else "\t"
            np.savetxt(target, arr, delimiter=delim, fmt="%.6g")
    if pixel_size_um is not None:
        (path / "pixel_size.txt").write_text(f"{float(pixel_size_um)}\n")
    return path
