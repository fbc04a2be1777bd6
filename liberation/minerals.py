"""Mineral lists: phase id, name, density, colour and chemistry of each mineral.

A :class:`MineralList` is what turns the integer phase ids of ``labels/phases``
into minerals. It is stored in the ``image-label`` ``properties`` of the label
image (one entry per id with ``label-value``, ``name``, ``density`` in g/cm³,
``color`` and optional ``elements`` / ``oxides`` in wt%).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from liberation.errors import InputError


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
