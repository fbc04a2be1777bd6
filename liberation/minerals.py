"""Mineral lists: phase id, name, density, colour and chemistry of each mineral.

Also the base tables every room may import (element symbols, atomic numbers and weights,
common mineral densities) and the colour lookup of classified images by a mineral list.

A :class:`MineralList` is what turns the integer phase ids of ``labels/phases``
into minerals. It is stored in the ``image-label`` ``properties`` of the label
image (one entry per id with ``label-value``, ``name``, ``density`` in g/cm³,
``color`` and optional ``elements`` / ``oxides`` in wt%).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from liberation.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ELEMENTS",
    "ELEMENT_SYMBOLS",
    "KNOWN_DENSITIES",
    "Mineral",
    "MineralList",
    "check_colors",
    "labels_from_ids",
    "labels_from_rgb",
    "lithium_slag",
    "spodumene_ore",
]

# ---------------------------------------------------------------- chemistry tables
#: Chemical element symbols (H to Pu): what names an element channel or column.
ELEMENT_SYMBOLS = frozenset(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr "
    "Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir "
    "Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu".split()
)

#: Atomic number and standard atomic weight (g/mol) of the elements the CT attenuation model
#: (:mod:`liberation.synthetic.ct`) knows.
ELEMENTS: dict[str, tuple[int, float]] = {
    "H": (1, 1.008), "Li": (3, 6.94), "Be": (4, 9.012), "B": (5, 10.81), "C": (6, 12.011),
    "N": (7, 14.007), "O": (8, 15.999), "F": (9, 18.998), "Na": (11, 22.990), "Mg": (12, 24.305),
    "Al": (13, 26.982), "Si": (14, 28.085), "P": (15, 30.974), "S": (16, 32.06), "Cl": (17, 35.45),
    "K": (19, 39.098), "Ca": (20, 40.078), "Ti": (22, 47.867), "V": (23, 50.942), "Cr": (24, 51.996),
    "Mn": (25, 54.938), "Fe": (26, 55.845), "Co": (27, 58.933), "Ni": (28, 58.693), "Cu": (29, 63.546),
    "Zn": (30, 65.38), "As": (33, 74.922), "Rb": (37, 85.468), "Sr": (38, 87.62), "Zr": (40, 91.224),
    "Nb": (41, 92.906), "Mo": (42, 95.95), "Ag": (47, 107.868), "Sn": (50, 118.71), "Cs": (55, 132.905),
    "Ba": (56, 137.327), "La": (57, 138.905), "Ce": (58, 140.116), "Ta": (73, 180.948), "W": (74, 183.84),
    "Au": (79, 196.967), "Pb": (82, 207.2), "U": (92, 238.029),
}

#: Densities (g/cm³) of common minerals (lower-case names), used when a mineral list gives none.
KNOWN_DENSITIES = {
    "albite": 2.62, "amblygonite": 3.04, "ankerite": 3.05, "apatite": 3.19, "beryl": 2.76, "biotite": 3.09,
    "calcite": 2.71, "cassiterite": 6.99, "chalcopyrite": 4.19, "chlorite": 2.65, "clinochlore": 2.65,
    "columbite": 5.3, "dolomite": 2.85, "fluorite": 3.18, "galena": 7.6, "gehlenite": 3.04, "gypsum": 2.31,
    "hematite": 5.26, "illite": 2.75, "ilmenite": 4.72, "k-feldspar": 2.56, "kaolinite": 2.6, "laumontite": 2.29,
    "lepidolite": 2.84, "lialo2": 2.55, "magnetite": 5.15, "microcline": 2.56, "muscovite": 2.83,
    "orthoclase": 2.56, "petalite": 2.41, "plagioclase": 2.68, "pyrite": 5.01, "quartz": 2.65, "rutile": 4.25,
    "sphalerite": 4.05, "spinel": 3.58, "spodumene": 3.15, "tantalite": 7.9, "tourmaline": 3.1, "zircon": 4.65,
}


def _hex_to_rgba(color: str) -> list[int]:
    text = color.lstrip("#")
    if len(text) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise InputError(f"color={color!r} is not a hex colour; expected '#RRGGBB' or '#RRGGBBAA'")
    rgba = [int(text[i : i + 2], 16) for i in range(0, len(text), 2)]
    return rgba + [255] * (4 - len(rgba))


def _rgba_to_hex(rgba: Iterable[int]) -> str:
    values = list(rgba)[:3]
    return "#" + "".join(f"{int(v):02x}" for v in values)


@dataclass(frozen=True)
class Mineral:
    """One mineral phase.

    Parameters
    ----------
    id : int
        Phase id in ``labels/phases`` (1..254; 0 is void).
    name : str
        Mineral name, e.g. ``"spodumene"``.
    density : float
        Density in g/cm³.
    color : str
        Display colour ``"#RRGGBB"``.
    formula : str, optional
        Chemical formula, for information.
    elements : mapping of str to float
        Element contents in wt% (used for micro-XRF signatures and assays).
    oxides : mapping of str to float
        Oxide contents in wt% (e.g. ``{"Li2O": 8.03}``) for calculated assays.
    """

    id: int
    name: str
    density: float
    color: str = "#808080"
    formula: str | None = None
    elements: Mapping[str, float] = field(default_factory=dict)
    oxides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, (int, np.integer)) or not 1 <= int(self.id) <= 254:
            raise InputError(f"mineral id={self.id!r} for {self.name!r} must be an integer in 1..254 (0 is void)")
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(f"mineral name={self.name!r} must be a non-empty string")
        if not (isinstance(self.density, (int, float)) and np.isfinite(self.density) and self.density > 0):
            raise InputError(f"density={self.density!r} of mineral {self.name!r} must be a positive number (g/cm³)")
        _hex_to_rgba(self.color)

    def to_property(self) -> dict:
        """Return the OME-NGFF ``image-label`` properties entry of this mineral."""
        entry = {
            "label-value": int(self.id),
            "name": self.name,
            "density": float(self.density),
            "color": self.color,
            "rgba": _hex_to_rgba(self.color),
        }
        if self.formula:
            entry["formula"] = self.formula
        if self.elements:
            entry["elements"] = {k: float(v) for k, v in self.elements.items()}
        if self.oxides:
            entry["oxides"] = {k: float(v) for k, v in self.oxides.items()}
        return entry

    @classmethod
    def from_property(cls, entry: Mapping) -> Mineral:
        """Build a mineral from an ``image-label`` properties entry."""
        try:
            label = int(entry["label-value"])
            name = str(entry["name"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"label property {dict(entry)!r} needs 'label-value' and 'name'") from None
        density = entry.get("density")
        if density is None:
            raise InputError(f"label property for id {label} ({name!r}) has no 'density' (g/cm³)")
        color = entry.get("color")
        if color is None and "rgba" in entry:
            color = _rgba_to_hex(entry["rgba"])
        return cls(
            id=label,
            name=name,
            density=float(density),
            color=color or "#808080",
            formula=entry.get("formula"),
            elements=dict(entry.get("elements", {})),
            oxides=dict(entry.get("oxides", {})),
        )


@dataclass(frozen=True)
class MineralList:
    """An ordered set of minerals with unique ids and names.

    Parameters
    ----------
    minerals : sequence of Mineral
        The minerals; ids and names must be unique.
    """

    minerals: tuple[Mineral, ...]

    def __init__(self, minerals: Iterable[Mineral]):
        items = tuple(minerals)
        if not items:
            raise InputError("minerals is empty; expected at least one mineral")
        ids = [m.id for m in items]
        names = [m.name for m in items]
        if len(set(ids)) != len(ids):
            raise InputError(f"mineral ids {ids} are not unique")
        if len(set(names)) != len(names):
            raise InputError(f"mineral names {names} are not unique")
        object.__setattr__(self, "minerals", tuple(sorted(items, key=lambda m: m.id)))

    def __iter__(self):
        return iter(self.minerals)

    def __len__(self) -> int:
        return len(self.minerals)

    def __getitem__(self, key: int | str) -> Mineral:
        """Mineral by phase id (int) or by name (str)."""
        for m in self.minerals:
            if (isinstance(key, str) and m.name == key) or (not isinstance(key, str) and m.id == key):
                return m
        kind = "name" if isinstance(key, str) else "id"
        raise InputError(f"no mineral with {kind} {key!r}; known: {', '.join(self.names)}")

    def __contains__(self, key: int | str) -> bool:
        return any(m.name == key if isinstance(key, str) else m.id == key for m in self.minerals)

    @property
    def names(self) -> list[str]:
        """Mineral names in id order."""
        return [m.name for m in self.minerals]

    @property
    def ids(self) -> list[int]:
        """Phase ids in increasing order."""
        return [m.id for m in self.minerals]

    @property
    def max_id(self) -> int:
        return max(self.ids)

    def density_lut(self) -> np.ndarray:
        """Densities indexed by phase id (g/cm³), shape ``(max_id + 1,)``; 0 for void and unused ids."""
        lut = np.zeros(self.max_id + 1, dtype=np.float64)
        for m in self.minerals:
            lut[m.id] = m.density
        return lut

    def to_properties(self) -> list[dict]:
        """``image-label`` ``properties`` list for OME-NGFF."""
        return [m.to_property() for m in self.minerals]

    def to_colors(self) -> list[dict]:
        """``image-label`` ``colors`` list for OME-NGFF viewers."""
        return [{"label-value": m.id, "rgba": _hex_to_rgba(m.color)} for m in self.minerals]

    @classmethod
    def from_properties(cls, properties: Iterable[Mapping]) -> MineralList:
        """Build from an ``image-label`` ``properties`` list."""
        return cls(Mineral.from_property(p) for p in properties)

    @classmethod
    def from_records(cls, records: Iterable[Mapping]) -> MineralList:
        """Build from dicts with ``name``, ``density`` and optional ``id``, ``color``, ``elements``, ``oxides``.

        Missing ids are numbered 1, 2, ... in the given order.
        """
        minerals = []
        for index, rec in enumerate(records, start=1):
            if "name" not in rec or "density" not in rec:
                raise InputError(f"mineral record {dict(rec)!r} needs 'name' and 'density'")
            minerals.append(
                Mineral(
                    id=int(rec.get("id", index)),
                    name=str(rec["name"]),
                    density=float(rec["density"]),
                    color=str(rec.get("color", _DEFAULT_COLORS[(index - 1) % len(_DEFAULT_COLORS)])),
                    formula=rec.get("formula"),
                    elements=dict(rec.get("elements") or {}),
                    oxides=dict(rec.get("oxides") or {}),
                )
            )
        return cls(minerals)


_DEFAULT_COLORS = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6"]


def spodumene_ore() -> MineralList:
    """Default mineral list: a spodumene pegmatite ore (spodumene, quartz, albite, muscovite).

    Quartz (2.65 g/cm³) and albite (2.62 g/cm³) are nearly indistinguishable in CT grey
    values, as in real samples. Element contents are stoichiometric wt%.
    """
    return MineralList(
        [
            Mineral(1, "spodumene", 3.15, "#2ca02c", "LiAlSi2O6",
                    elements={"Li": 3.73, "Al": 14.50, "Si": 30.18, "O": 51.59},
                    oxides={"Li2O": 8.03, "Al2O3": 27.40, "SiO2": 64.57}),
            Mineral(2, "quartz", 2.65, "#d9d9d9", "SiO2",
                    elements={"Si": 46.74, "O": 53.26}, oxides={"SiO2": 100.0}),
            Mineral(3, "albite", 2.62, "#1f77b4", "NaAlSi3O8",
                    elements={"Na": 8.77, "Al": 10.29, "Si": 32.13, "O": 48.81},
                    oxides={"Na2O": 11.82, "Al2O3": 19.44, "SiO2": 68.74}),
            Mineral(4, "muscovite", 2.83, "#ff7f0e", "KAl3Si3O10(OH)2",
                    elements={"K": 9.81, "Al": 20.32, "Si": 21.15, "O": 48.21, "H": 0.51},
                    oxides={"K2O": 11.81, "Al2O3": 38.40, "SiO2": 45.26}),
        ]
    )


def lithium_slag() -> MineralList:
    """Mineral list of a Li slag (as in the Kirstein dataset): LiAlO2 in a gehlenite-like matrix."""
    return MineralList(
        [
            Mineral(1, "LiAlO2", 2.55, "#2ca02c", "LiAlO2",
                    elements={"Li": 10.53, "Al": 40.94, "O": 48.54}, oxides={"Li2O": 22.67, "Al2O3": 77.33}),
            Mineral(2, "gehlenite", 3.04, "#1f77b4", "Ca2Al2SiO7",
                    elements={"Ca": 29.23, "Al": 19.68, "Si": 10.24, "O": 40.85}),
            Mineral(3, "spinel", 3.58, "#d62728", "MgAl2O4",
                    elements={"Mg": 17.08, "Al": 37.93, "O": 44.98}),
        ]
    )


# ---------------------------------------------------------------- colour lookup
def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _hex(code: int) -> str:
    return f"#{int(code):06x}"


def check_colors(minerals: MineralList, *, background: Iterable[str] = ()) -> None:
    """Raise :class:`InputError` if two minerals (or a mineral and a background colour) share a colour."""
    seen: dict[str, str] = {}
    for color in background:
        seen[_hex(_pack(np.array(_hex_to_rgba(color)[:3])))] = "background"
    for m in minerals:
        key = _hex(_pack(np.array(_hex_to_rgba(m.color)[:3])))
        if key in seen:
            raise InputError(f"colour clash: {m.name!r} and {seen[key]!r} both have colour {key}; "
                             "each mineral needs its own colour")
        seen[key] = m.name


def labels_from_rgb(
    rgb: np.ndarray,
    minerals: MineralList,
    *,
    background: Iterable[str] = ("#000000",),
    tolerance: int = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Mineral ids of a classified RGB image by colour lookup.

    Parameters
    ----------
    rgb : numpy.ndarray
        (y, x, 3) or (y, x, 4) uint8 image.
    minerals : MineralList
        Colours of the minerals (each unique).
    background : iterable of str
        Colours that mean outside/background (id 0).
    tolerance : int
        Largest per-channel difference (0..255) for a pixel to take a mineral's colour (nearest
        colour wins); 0 = exact colours (lossless classified images).

    Returns
    -------
    labels : numpy.ndarray
        (y, x) uint8 ids; 0 = background or unknown colour.
    unknown : pandas.DataFrame
        Colours matching no mineral and no background: columns ``color`` (hex), ``pixels``,
        ``percent`` (of the non-background pixels), most frequent first. Empty if none.
    """
    import pandas as pd

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
        raise InputError(f"rgb has shape {rgb.shape}; expected (y, x, 3) or (y, x, 4)")
    if not 0 <= int(tolerance) <= 255:
        raise InputError(f"tolerance={tolerance!r}; expected 0..255")
    background = list(background)
    check_colors(minerals, background=background)
    codes, inverse = np.unique(_pack(rgb[..., :3]).ravel(), return_inverse=True)
    palette = np.array([_hex_to_rgba(m.color)[:3] for m in minerals] + [_hex_to_rgba(c)[:3] for c in background],
                       dtype=np.int32).reshape(-1, 3)
    ids = np.array([m.id for m in minerals] + [0] * len(background), dtype=np.uint8)
    colours = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1).astype(np.int32)
    diff = np.abs(colours[:, None, :] - palette[None, :, :]).max(axis=2)  # (n_colours, n_palette)
    nearest = np.argmin(diff, axis=1)
    matched = diff[np.arange(codes.size), nearest] <= int(tolerance)
    code_ids = np.where(matched, ids[nearest], 0).astype(np.uint8)
    labels = code_ids[inverse].reshape(rgb.shape[:2])
    counts = np.bincount(inverse, minlength=codes.size)
    is_background = matched & (ids[nearest] == 0)
    sample_pixels = max(int(counts[~is_background].sum()), 1)
    unknown_idx = np.flatnonzero(~matched)
    unknown_idx = unknown_idx[np.argsort(-counts[unknown_idx], kind="stable")]
    unknown = pd.DataFrame({"color": [_hex(codes[i]) for i in unknown_idx],
                            "pixels": counts[unknown_idx].astype(np.int64),
                            "percent": 100.0 * counts[unknown_idx] / sample_pixels})
    return labels, unknown


def labels_from_ids(image: np.ndarray, minerals: MineralList) -> tuple[np.ndarray, pd.DataFrame]:
    """Check an image of mineral ids (grey values = ids, 0 = background) against a mineral list.

    Returns
    -------
    labels : numpy.ndarray
        uint8 ids; values not in the list become 0.
    unknown : pandas.DataFrame
        Columns ``value``, ``pixels``, ``percent`` of the values not in the list.
    """
    import pandas as pd

    image = np.asarray(image)
    if image.ndim != 2 or image.dtype.kind not in "ui":
        raise InputError(f"image has shape {image.shape} and dtype {image.dtype}; expected a 2D integer id image")
    values, counts = np.unique(image, return_counts=True)
    known = np.isin(values, [0, *minerals.ids])
    lut_max = int(values.max()) + 1
    lut = np.zeros(lut_max, dtype=np.uint8)
    for v, k in zip(values, known):
        lut[int(v)] = int(v) if k else 0
    labels = lut[image]
    sample = max(int(counts[values != 0].sum()), 1)
    unknown = pd.DataFrame({"value": values[~known].astype(np.int64), "pixels": counts[~known].astype(np.int64),
                            "percent": 100.0 * counts[~known] / sample})
    return labels, unknown.sort_values("pixels", ascending=False, kind="stable").reset_index(drop=True)
