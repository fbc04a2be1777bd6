"""Mineral names along the command chain: label folder -> ``labels/sparse`` -> model card -> ``labels/phases``.

The minerals travel as OME-NGFF ``image-label`` ``properties`` entries (``label-value``,
``name``, ``color``, ``rgba``, and when known ``density`` in g/cm³, ``formula``,
``elements`` / ``oxides`` in wt%). Unlike a :class:`~liberation.minerals.MineralList`, an
entry may lack its density: the report then says which minerals have none and uses a
stand-in (:func:`minerals_for_report`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from liberation.errors import FileFormatError, InputError
from liberation.metrics import IGNORE

#: Names that ``labels xrf`` gives to clusters no reference names (``"cluster 7"``): not minerals.
UNNAMED_CLUSTER = re.compile(r"^cluster \d+$")
#: Relative difference above which two densities of one mineral name are a conflict.
DENSITY_TOLERANCE = 1e-3


def _finite(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _json_cell(value, *, column: str, path: Path) -> dict | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        raise FileFormatError(f"{path}: column {column!r} holds {str(value)[:40]!r}; expected a JSON object "
                              "such as {\"Si\": 46.7}") from None
    if not isinstance(parsed, Mapping):
        raise FileFormatError(f"{path}: column {column!r} holds {str(value)[:40]!r}; expected a JSON object")
    return {str(k): float(v) for k, v in parsed.items()}


def read_label_minerals(labels_path: str | Path) -> tuple[list[dict], list[int]] | None:
    """The minerals of a label folder: ``minerals.csv`` beside the label map, as ``image-label`` properties.

    Parameters
    ----------
    labels_path : str or Path
        The label map (``labels.tif`` of a ``liberation labels`` folder).

    Returns
    -------
    (properties, unnamed) or None
        ``properties``: one entry per mineral (``label-value``, ``name``, ``color``, ``rgba``,
        ``density`` when known, ``formula`` / ``elements`` / ``oxides`` when the CSV has them);
        ``unnamed``: ids of clusters no reference named (``"cluster <c>"``), which are not
        minerals. None when the folder has no ``minerals.csv``.

    Raises
    ------
    FileFormatError
        ``minerals.csv`` is unreadable or lacks the ``id`` and ``name`` columns.
    """
    import pandas as pd

    from liberation.minerals import _hex_to_rgba

    path = Path(labels_path).with_name("minerals.csv")
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # pandas raises many kinds
        raise FileFormatError(f"cannot read {path}: {exc}") from None
    missing = [c for c in ("id", "name") if c not in table.columns]
    if missing:
        raise FileFormatError(f"{path} lacks the column(s) {missing}; expected id, name, color, density "
                              "(as written by liberation labels)")
    properties, unnamed = [], []
    for row in table.to_dict("records"):
        try:
            label = int(row["id"])
        except (TypeError, ValueError):
            raise FileFormatError(f"{path}: id {row['id']!r} is not an integer") from None
        if not 1 <= label <= 254:
            raise FileFormatError(f"{path}: id {label} of {row['name']!r} is outside 1..254")
        name = str(row["name"]).strip()
        if UNNAMED_CLUSTER.match(name):
            unnamed.append(label)
            continue
        entry: dict = {"label-value": label, "name": name}
        color = row.get("color")
        if isinstance(color, str):
            try:
                entry["rgba"] = _hex_to_rgba(color)
                entry["color"] = color
            except InputError:
                pass
        density = _finite(row.get("density"))
        if density is not None:
            entry["density"] = density
        if isinstance(row.get("formula"), str) and row["formula"]:
            entry["formula"] = row["formula"]
        for column in ("elements", "oxides"):
            parsed = _json_cell(row.get(column), column=column, path=path)
            if parsed:
                entry[column] = parsed
        properties.append(entry)
    return properties, unnamed


def merge_properties(existing: Sequence[Mapping], new: Sequence[Mapping]) -> tuple[list[dict], dict[int, int]]:
    """Merge the minerals of a new label map into those already in the store, by name.

    A name already in the store keeps its store id (the new map's ids are renumbered, since
    two K-means runs number the same mineral differently); a new name keeps its id when that
    is free, else takes the next free one. Fields the store entry lacks (e.g. its density)
    are filled from the new entry.

    Parameters
    ----------
    existing : sequence of mapping
        ``image-label`` properties of the store's ``labels/sparse`` (may be empty).
    new : sequence of mapping
        Properties of the new label map (:func:`read_label_minerals`).

    Returns
    -------
    merged : list of dict
        Properties of the merged labels, ordered by id.
    remap : dict of int to int
        New map id -> store id.

    Raises
    ------
    InputError
        One name with two different densities, or more than 254 minerals.
    """
    merged = {int(p["label-value"]): dict(p) for p in existing}
    by_name = {str(p["name"]): i for i, p in merged.items() if "name" in p}
    remap: dict[int, int] = {}
    pending = []
    for entry in new:
        label, name = int(entry["label-value"]), str(entry["name"])
        if name in by_name:
            target = by_name[name]
            old = merged[target]
            d_old, d_new = _finite(old.get("density")), _finite(entry.get("density"))
            if d_old is not None and d_new is not None and abs(d_old - d_new) > DENSITY_TOLERANCE * d_old:
                raise InputError(f"mineral {name!r} has density {d_new:g} g/cm³ in the new labels but {d_old:g} g/cm³ "
                                 "in labels/sparse of the store; give both label folders the same mineral list")
            for key, value in entry.items():
                old.setdefault(key, value)
            remap[label] = target
        else:
            pending.append((label, name, entry))
    for label, name, entry in pending:  # new names: own id if free, else the next free one
        target = label if label not in merged else next((i for i in range(1, 255) if i not in merged), None)
        if target is None:
            raise InputError("more than 254 minerals in labels/sparse; a uint8 label image cannot hold them")
        merged[target] = {**dict(entry), "label-value": target}
        by_name[name] = target
        remap[label] = target
    return [merged[i] for i in sorted(merged)], remap


def relabel(label_map: np.ndarray, remap: Mapping[int, int], *, unnamed: Sequence[int] = ()) -> tuple[np.ndarray, list[int]]:
    """Renumber a 2D label map to store ids; unnamed clusters and ids not in ``remap`` become 255.

    Parameters
    ----------
    label_map : numpy.ndarray of uint8, shape (rows, cols)
        0 = outside/void, mineral ids.
    remap : mapping of int to int
        Map id -> store id (:func:`merge_properties`).
    unnamed : sequence of int
        Ids of clusters no reference named.

    Returns
    -------
    relabelled : numpy.ndarray of uint8
    unknown : list of int
        Ids of the map that are neither void, nor a listed mineral, nor an unnamed cluster
        (also set to 255).
    """
    lut = np.full(256, IGNORE, dtype=np.uint8)
    lut[0] = 0
    for old, new_id in remap.items():
        lut[int(old)] = int(new_id)
    present = {int(v) for v in np.unique(label_map)}
    unknown = sorted(present - {0, IGNORE} - {int(k) for k in remap} - {int(u) for u in unnamed})
    return lut[label_map], unknown


def phase_properties(card_minerals: Sequence[Mapping] | None, class_ids: Sequence[int]) -> list[dict] | None:
    """The properties to write with ``labels/phases``: the card's minerals that are classes of the model."""
    if not card_minerals:
        return None
    ids = {int(i) for i in class_ids if int(i) > 0}
    props = [dict(p) for p in card_minerals if int(p.get("label-value", -1)) in ids]
    return props or None


def minerals_for_report(properties: Sequence[Mapping]):
    """A :class:`~liberation.minerals.MineralList` for the statistics, with a stand-in for missing densities.

    A mineral without a density gets the mean density of the minerals that have one (1 g/cm³
    when none has one, so that the mass basis is the volume basis): its volume-basis numbers
    are exact, its mass-basis numbers (wt%, mass grades) weigh its volume at that stand-in.

    Parameters
    ----------
    properties : sequence of mapping
        ``image-label`` properties of ``labels/phases``.

    Returns
    -------
    minerals : MineralList
    missing : list of str
        Names of the minerals without a density.
    stand_in : float or None
        The density used for them (g/cm³), None when every mineral has one.
    """
    from liberation.minerals import MineralList

    known = [d for d in (_finite(p.get("density")) for p in properties) if d is not None]
    missing = [str(p.get("name")) for p in properties if _finite(p.get("density")) is None]
    stand_in = (float(np.mean(known)) if known else 1.0) if missing else None
    filled = [dict(p) if _finite(p.get("density")) is not None else {**dict(p), "density": stand_in}
              for p in properties]
    return MineralList.from_properties(filled), missing, stand_in
