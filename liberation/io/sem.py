"""Read SEM/MLA mineral maps: a classified image plus a mineral list (CSV or YAML).

Mineral list columns (CSV, case-insensitive) or keys (YAML: a list of mappings, or a mapping
with a ``minerals`` list): ``name`` (or ``mineral``), ``color``/``colour`` (``#RRGGBB``,
``"r,g,b"``, or three columns ``r``, ``g``, ``b``), ``density`` (g/cm³; common minerals are
filled in when missing), optional ``id``, ``formula``; element symbol columns (``Li``, ``Al``
...) are element contents in wt%, oxide columns (``Li2O``, ``SiO2`` ...) oxide contents in wt%;
in YAML also ``elements:``/``oxides:`` mappings. Two minerals with one colour are an error.

The classified image is an RGB(A) image (PNG, TIFF, BMP), an indexed-colour image (palette
PNG/TIFF; the palette gives the colours), or a grey image whose values are the mineral ids
(``mode="ids"``). Colours that match no mineral are reported in :attr:`SEMMap.unknown`
(and logged), never silently dropped.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from liberation.errors import FileFormatError, InputError
from liberation.minerals import (
    ELEMENT_SYMBOLS,
    KNOWN_DENSITIES,
    Mineral,
    MineralList,
    check_colors,
    labels_from_ids,
    labels_from_rgb,
)

__all__ = ["SEMMap", "read_classified_image", "read_mineral_list", "read_sem_map", "write_mineral_list"]

log = logging.getLogger(__name__)

_OXIDE = re.compile(r"^(?:[A-Z][a-z]?\d*)+O\d*$")


def _colour(value, where: str) -> str:
    if isinstance(value, (list, tuple)) and len(value) in (3, 4):
        rgb = [int(v) for v in value[:3]]
    else:
        text = str(value).strip()
        if text.startswith("#") or re.fullmatch(r"[0-9a-fA-F]{6}", text):
            text = text if text.startswith("#") else "#" + text
            if not re.fullmatch(r"#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", text):
                raise FileFormatError(f"{where}: colour {value!r} is not '#RRGGBB'")
            return text[:7].lower()
        parts = [p for p in re.split(r"[,;\s]+", text.strip("()[]")) if p]
        try:
            rgb = [int(float(p)) for p in parts]
        except ValueError:
            raise FileFormatError(f"{where}: colour {value!r} is not '#RRGGBB' or 'r,g,b'") from None
        if len(rgb) not in (3, 4):
            raise FileFormatError(f"{where}: colour {value!r} is not '#RRGGBB' or 'r,g,b'")
        rgb = rgb[:3]
    if any(not 0 <= v <= 255 for v in rgb):
        raise FileFormatError(f"{where}: colour {value!r} has values outside 0..255")
    return "#" + "".join(f"{v:02x}" for v in rgb)


def _records_from_csv(path: Path) -> list[dict]:
    try:
        table = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:
        raise FileFormatError(f"cannot read mineral list {path}: {exc}") from None
    lower = {c: str(c).strip().lower() for c in table.columns}
    records = []
    for row_number, (_, row) in enumerate(table.iterrows(), start=2):
        rec: dict = {"elements": {}, "oxides": {}, "_where": f"{path}, line {row_number}"}
        rgb = {}
        for col, key in lower.items():
            value = row[col]
            if pd.isna(value) or (isinstance(value, str) and not value.strip()):
                continue
            name = str(col).strip()
            if key in ("name", "mineral"):
                rec["name"] = str(value).strip()
            elif key in ("color", "colour", "rgb", "hex"):
                rec["color"] = value
            elif key in ("r", "g", "b", "red", "green", "blue"):
                rgb[key[0]] = value
            elif key in ("density", "density_g_cm3", "sg"):
                rec["density"] = value
            elif key in ("id", "label", "label-value", "label_value"):
                rec["id"] = value
            elif key == "formula":
                rec["formula"] = str(value)
            elif name in ELEMENT_SYMBOLS:
                rec["elements"][name] = float(value)
            elif _OXIDE.match(name):
                rec["oxides"][name] = float(value)
        if rgb:
            if set(rgb) != {"r", "g", "b"}:
                raise FileFormatError(f"{rec['_where']}: colour columns need all of r, g, b")
            rec["color"] = [rgb["r"], rgb["g"], rgb["b"]]
        records.append(rec)
    return records


def _records_from_yaml(path: Path) -> list[dict]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except Exception as exc:
        raise FileFormatError(f"cannot parse mineral list {path}: {exc}") from None
    if isinstance(data, dict) and "minerals" in data:
        data = data["minerals"]
    if isinstance(data, dict):  # name -> properties
        data = [{"name": k, **(v or {})} for k, v in data.items()]
    if not isinstance(data, list):
        raise FileFormatError(f"{path}: expected a list of minerals (or a 'minerals:' list)")
    records = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise FileFormatError(f"{path}: mineral entry {i} is not a mapping")
        rec = {str(k).lower(): v for k, v in item.items()}
        out = {"_where": f"{path}, entry {i}", "elements": dict(rec.get("elements") or {}),
               "oxides": dict(rec.get("oxides") or {})}
        for key in ("name", "mineral"):
            if key in rec:
                out["name"] = str(rec[key])
        for key in ("color", "colour"):
            if key in rec:
                out["color"] = rec[key]
        for key in ("density", "id", "formula"):
            if key in rec:
                out[key] = rec[key]
        for key, value in item.items():
            if str(key) in ELEMENT_SYMBOLS:
                out["elements"][str(key)] = float(value)
        records.append(out)
    return records


def read_mineral_list(path: str | os.PathLike) -> MineralList:
    """Read a mineral list (CSV or YAML) into a :class:`~liberation.minerals.MineralList`.

    Raises
    ------
    FileFormatError
        Missing file, no name/colour, unknown density, bad colour, or two minerals with one colour
        (the message names both and the colour).
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"mineral list {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        records = _records_from_yaml(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        records = _records_from_csv(path)
    else:
        raise FileFormatError(f"mineral list {path} has suffix {suffix!r}; expected .csv or .yaml")
    if not records:
        raise FileFormatError(f"mineral list {path} lists no mineral")
    minerals = []
    for index, rec in enumerate(records, start=1):
        where = rec.pop("_where")
        if not rec.get("name"):
            raise FileFormatError(f"{where}: no mineral name (column 'name')")
        name = rec["name"]
        if "color" not in rec:
            raise FileFormatError(f"{where}: mineral {name!r} has no colour (column 'color', '#RRGGBB')")
        density = rec.get("density", KNOWN_DENSITIES.get(name.lower()))
        if density is None:
            raise FileFormatError(f"{where}: mineral {name!r} has no density (g/cm³) and it is not a known mineral")
        try:
            minerals.append(Mineral(
                id=int(rec.get("id", index)), name=name, density=float(density), color=_colour(rec["color"], where),
                formula=rec.get("formula"), elements=rec["elements"], oxides=rec["oxides"],
            ))
        except InputError as exc:
            raise FileFormatError(f"{where}: {exc}") from None
    try:
        result = MineralList(minerals)
        check_colors(result)
    except InputError as exc:
        raise FileFormatError(f"mineral list {path}: {exc}") from None
    return result


def write_mineral_list(path: str | os.PathLike, minerals: MineralList | pd.DataFrame) -> Path:
    """Write a mineral list as CSV with columns ``id``, ``name``, ``color``, ``density`` (+ formula, elements)."""
    path = Path(path)
    if isinstance(minerals, pd.DataFrame):
        table = minerals.reset_index() if "id" not in minerals.columns else minerals.copy()
    else:
        rows = []
        for m in minerals:
            row = {"id": m.id, "name": m.name, "color": m.color, "density": m.density, "formula": m.formula or ""}
            row.update({k: v for k, v in m.elements.items()})
            rows.append(row)
        table = pd.DataFrame(rows)
    table.to_csv(path, index=False)
    return path


@dataclass
class SEMMap:
    """A classified SEM/MLA map as mineral ids.

    Attributes
    ----------
    labels : numpy.ndarray
        (y, x) uint8 mineral ids; 0 = background or unknown colour.
    minerals : MineralList
    pixel_size_um : float or None
    unknown : pandas.DataFrame
        Colours (or id values) matching no mineral, with pixel counts and % of the sample pixels.
    unknown_mask : numpy.ndarray
        (y, x) bool: pixels of unknown colour.
    source : Path or None
    """

    labels: np.ndarray
    minerals: MineralList
    pixel_size_um: float | None
    unknown: pd.DataFrame
    unknown_mask: np.ndarray
    source: Path | None = None


def read_classified_image(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """Read a classified image; return ``(array, is_rgb)``: (y, x, 3) uint8 colours, or (y, x) grey values.

    Indexed-colour images are expanded through their palette into RGB.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"classified image {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                data = page.asarray()
                colormap = page.colormap
            if colormap is not None and data.ndim == 2:
                cmap = np.asarray(colormap)
                cmap = (cmap // 257 if cmap.max() > 255 else cmap).astype(np.uint8).T  # (n, 3)
                return cmap[data], True
        else:
            from PIL import Image

            with Image.open(path) as img:
                if img.mode in ("P", "PA"):
                    img = img.convert("RGB")
                elif img.mode in ("RGBA", "LA", "CMYK", "YCbCr"):
                    img = img.convert("RGB")
                data = np.asarray(img)
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(f"cannot read classified image {path}: {exc}") from None
    data = np.squeeze(data)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        if data.dtype != np.uint8:
            raise FileFormatError(f"{path} is an RGB image of dtype {data.dtype}; expected 8-bit colours")
        return data[..., :3], True
    if data.ndim == 2:
        return data, False
    raise FileFormatError(f"{path} has shape {data.shape}; expected a 2D classified image (RGB or ids)")


def read_sem_map(
    path: str | os.PathLike,
    minerals: MineralList | str | os.PathLike,
    *,
    pixel_size_um: float | None = None,
    background: tuple[str, ...] = ("#000000",),
    tolerance: int = 0,
    mode: str = "auto",
    unknown: str = "report",
) -> SEMMap:
    """Read a classified SEM/MLA image into mineral ids.

    Parameters
    ----------
    path : str or Path
        The classified image.
    minerals : MineralList or path
        The mineral list (or its CSV/YAML file).
    pixel_size_um : float, optional
        Pixel size in µm.
    background : tuple of str
        Colours meaning background (id 0).
    tolerance : int
        Colour tolerance per channel (0 = exact).
    mode : {"auto", "rgb", "ids"}
        ``"auto"``: colours for RGB/indexed images, ids for grey images.
    unknown : {"report", "error"}
        Unknown colours are reported (logged, in :attr:`SEMMap.unknown`, pixels set to 0), or raise.

    Returns
    -------
    SEMMap
    """
    if not isinstance(minerals, MineralList):
        minerals = read_mineral_list(minerals)
    if mode not in ("auto", "rgb", "ids"):
        raise InputError(f"mode={mode!r}; expected 'auto', 'rgb' or 'ids'")
    if unknown not in ("report", "error"):
        raise InputError(f"unknown={unknown!r}; expected 'report' or 'error'")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"pixel_size_um={pixel_size_um!r}; expected a positive pixel size in µm")
    data, is_rgb = read_classified_image(path)
    if mode == "ids" and is_rgb:
        raise FileFormatError(f"{path} is a colour image but mode='ids' expects grey values = mineral ids")
    if mode == "rgb" and not is_rgb:
        data, is_rgb = np.repeat(data[..., None], 3, axis=2).astype(np.uint8), True
    if is_rgb:
        labels, table = labels_from_rgb(data, minerals, background=background, tolerance=tolerance)
        bad = set(table["color"])
        if bad:
            packed = (data[..., 0].astype(np.uint32) << 16) | (data[..., 1].astype(np.uint32) << 8) | data[..., 2]
            codes = np.array([int(c[1:], 16) for c in bad], dtype=np.uint32)
            unknown_mask = np.isin(packed, codes)
        else:
            unknown_mask = np.zeros(labels.shape, dtype=bool)
        what = "colours"
    else:
        labels, table = labels_from_ids(data, minerals)
        unknown_mask = np.isin(data, table["value"].to_numpy()) if len(table) else np.zeros(data.shape, bool)
        what = "values"
    if len(table):
        summary = ", ".join(f"{r.iloc[0]} ({int(r['pixels'])} px, {r['percent']:.2f} %)" for _, r in table.head(8).iterrows())
        if unknown == "error":
            raise FileFormatError(f"{path} has {len(table)} {what} that match no mineral: {summary}")
        log.warning("%s: %d %s match no mineral (set to 0): %s", path, len(table), what, summary)
    return SEMMap(labels=labels, minerals=minerals, pixel_size_um=pixel_size_um, unknown=table,
                  unknown_mask=unknown_mask, source=Path(path))
