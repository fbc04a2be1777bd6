"""napari layers of a sample store, as plain layer-data tuples (no napari import).

A napari ``LayerDataTuple`` is ``(data, kwargs, layer_type)``: napari builds the layer with
``napari.layers.Layer.create(data, kwargs, layer_type)``. :func:`store_layers` returns them for
the CT, ``labels/phases`` (mineral colours and names), ``labels/particles`` and the other
label images of a store, so that the ``liberation view`` command and the napari reader plugin
show the same thing and a test can check them without napari.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from liberation.errors import InputError, StoreError

#: Axis names and unit of every store (OME-NGFF axes z, y, x in micrometer).
AXES = ("z", "y", "x")
UNIT = "micrometer"

#: The ``labels/sparse`` value of a voxel that is not labelled (shown transparent).
SPARSE_IGNORE = 255

#: Colour of a label value that the store's properties do not list (RGBA, 0..1).
UNLISTED_COLOUR = (0.5, 0.5, 0.5, 1.0)

#: Voxels read to set the CT contrast limits (from the coarsest pyramid level, strided).
CONTRAST_SAMPLE = 2_000_000


def _ome(attrs: Mapping) -> dict:
    """The OME-NGFF metadata of a group's attributes (0.5: under ``ome``; 0.4: the attributes)."""
    attrs = dict(attrs)
    return dict(attrs["ome"]) if isinstance(attrs.get("ome"), Mapping) else attrs


def _multiscale(folder: Path) -> tuple[list[str], tuple[float, ...], tuple[float, ...]]:
    """Level paths, and scale and translation (µm, z y x) of level 0, of the OME-Zarr image at ``folder``."""
    import zarr

    try:
        ome = _ome(zarr.open_group(str(folder), mode="r").attrs)
        datasets = ome["multiscales"][0]["datasets"]
        paths = [str(d["path"]) for d in datasets]
        transforms = datasets[0].get("coordinateTransformations", [])
    except (KeyError, IndexError, TypeError, AttributeError):
        raise StoreError(f"{folder}: no valid 'multiscales' datasets metadata") from None
    scale: tuple[float, ...] = (1.0, 1.0, 1.0)
    translation: tuple[float, ...] = (0.0, 0.0, 0.0)
    for t in transforms:
        if isinstance(t, Mapping) and t.get("type") == "scale":
            scale = tuple(float(v) for v in t["scale"])
        elif isinstance(t, Mapping) and t.get("type") == "translation":
            translation = tuple(float(v) for v in t["translation"])
    return paths, scale, translation


def _rgba(entry: Mapping) -> tuple[float, float, float, float] | None:
    """RGBA (0..1) of a properties entry from its ``rgba`` (0..255) or ``color`` (hex), if any."""
    from liberation.minerals import _hex_to_rgba

    rgba = entry.get("rgba")
    if rgba is None and isinstance(entry.get("color"), str):
        try:
            rgba = _hex_to_rgba(entry["color"])
        except InputError:
            return None
    if rgba is None or len(rgba) not in (3, 4):
        return None
    values = [float(v) / 255.0 for v in rgba] + [1.0] * (4 - len(rgba))
    return (values[0], values[1], values[2], values[3])


def label_colormap(properties: Sequence[Mapping], *, transparent: Sequence[int] = (0,)) -> dict:
    """napari ``DirectLabelColormap`` dictionary of a label image's ``image-label`` properties.

    Parameters
    ----------
    properties : sequence of dict
        ``image-label`` ``properties`` entries (``label-value`` plus ``rgba`` 0..255 or ``color`` hex).
    transparent : sequence of int
        Label values shown transparent (background 0; 255 = not labelled in ``labels/sparse``).

    Returns
    -------
    dict
        ``{label value: (r, g, b, a)}`` with components in 0..1, plus the key ``None`` (the colour
        of any value not listed: grey).
    """
    colours: dict[Any, tuple[float, float, float, float]] = {int(v): (0.0, 0.0, 0.0, 0.0) for v in transparent}
    for entry in properties:
        if isinstance(entry, Mapping) and "label-value" in entry:
            rgba = _rgba(entry)
            if rgba is not None:
                colours[int(entry["label-value"])] = rgba
    colours[None] = UNLISTED_COLOUR
    return colours


def label_features(properties: Sequence[Mapping], *, background: Mapping[int, str] | None = None) -> dict | None:
    """napari ``features`` table of a label image: one row per label value, its name and density.

    Parameters
    ----------
    properties : sequence of dict
        ``image-label`` ``properties`` entries.
    background : dict, optional
        Extra rows ``{label value: name}`` (e.g. ``{0: "void"}``).

    Returns
    -------
    dict or None
        Columns ``index`` (label value), ``name`` and ``density_g_cm3`` (NaN where unknown);
        None when the properties name no label value.
    """
    rows = {int(v): (str(n), float("nan")) for v, n in (background or {}).items()}
    for entry in properties:
        if isinstance(entry, Mapping) and "label-value" in entry:
            density = entry.get("density")
            rows[int(entry["label-value"])] = (str(entry.get("name", f"label {entry['label-value']}")),
                                               float(density) if isinstance(density, (int, float)) else float("nan"))
    if not any(v not in (background or {}) for v in rows):
        return None
    values = sorted(rows)
    return {"index": values, "name": [rows[v][0] for v in values], "density_g_cm3": [rows[v][1] for v in values]}


def _levels(arrays: list) -> tuple[Any, bool]:
    """napari data of a pyramid: the list of levels (multiscale) or the single array."""
    return (arrays, True) if len(arrays) > 1 else (arrays[0], False)


def _contrast_limits(store) -> list[float]:
    """Contrast limits of the CT: 0.5 and 99.5 percentiles of a strided sample of the coarsest level."""
    level = store.image(len(store.level_paths) - 1)
    step = max(1, int(np.ceil((int(np.prod(level.shape)) / CONTRAST_SAMPLE) ** (1 / 3))))
    sample = np.asarray(level[::step, ::step, ::step], dtype=np.float64)
    if sample.size == 0:
        return [0.0, 1.0]
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if not hi > lo:
        hi = lo + 1.0
    return [lo, hi]


def _geometry(scale, translation) -> dict:
    return {"scale": tuple(scale), "translate": tuple(translation), "units": (UNIT,) * 3, "axis_labels": AXES}


def store_layers(store, *, labels: Sequence[str] | None = None, ct: bool = True) -> list[tuple[Any, dict, str]]:
    """napari layer-data tuples of a sample store: CT, phases, particles and the other label images.

    Nothing is read but metadata and a strided sample of the coarsest CT level (for the contrast
    limits): the data are lazy dask arrays, one per pyramid level (a multiscale layer when the
    store has pyramid levels).

    Parameters
    ----------
    store : SampleStore or str or Path
        The sample store (a path is opened read-only).
    labels : sequence of str, optional
        Label images to include, in this order; default all of the store's, ``phases`` and
        ``particles`` first.
    ct : bool
        Include the CT image.

    Returns
    -------
    list of (data, kwargs, layer_type)
        napari ``LayerDataTuple``s, bottom layer first. ``data`` is a dask array (z, y, x) or a
        list of them, full resolution first. ``kwargs`` hold ``name``, ``scale`` (level-0 voxel
        size, µm, z y x), ``translate`` (µm), ``units`` (micrometer), ``axis_labels`` (z, y, x),
        ``multiscale`` and per type: the CT is an ``"image"`` (grey, contrast limits);
        ``phases`` and ``sparse`` are ``"labels"`` with a direct colormap from the store's
        mineral colours (0, and 255 in ``sparse``, transparent) and ``features`` naming each
        value; ``particles`` and other integer labels are ``"labels"`` with napari's colours;
        probability maps (``*_prob_*``, 0..255) are grey-value ``"image"`` layers, hidden.

    Raises
    ------
    InputError
        A name in ``labels`` that the store does not hold.
    StoreError
        The store cannot be opened or its metadata is malformed.
    """
    from liberation.io import SampleStore, open_store

    if not isinstance(store, SampleStore):
        store = open_store(store)
    where = str(store.path)
    layers: list[tuple[Any, dict, str]] = []
    if ct:
        paths, scale, translation = _multiscale(store.path)
        data, multiscale = _levels([store.image_dask(k) for k in range(len(paths))])
        layers.append((data, {"name": "CT", **_geometry(scale, translation), "multiscale": multiscale,
                              "colormap": "gray", "contrast_limits": _contrast_limits(store),
                              "metadata": {"store": where, "array": "image"}}, "image"))
    present = store.label_names
    if labels is None:
        names = [n for n in ("phases", "particles") if n in present] + [n for n in present
                                                                      if n not in ("phases", "particles")]
    else:
        missing = [n for n in labels if n not in present]
        if missing:
            raise InputError(f"labels={list(labels)!r}: {where} has no label image {missing[0]!r} "
                             f"(labels present: {', '.join(present) or 'none'})")
        names = list(labels)
    for name in names:
        paths, scale, translation = _multiscale(store.path / "labels" / name)
        data, multiscale = _levels([store.label_dask(name, k) for k in range(len(paths))])
        kwargs = {"name": name, **_geometry(scale, translation), "multiscale": multiscale,
                  "metadata": {"store": where, "array": f"labels/{name}"}}
        if "_prob_" in name:  # class probabilities 0..255 of `segment --probabilities`
            layers.append((data, {**kwargs, "colormap": "magma", "contrast_limits": [0.0, 255.0],
                                  "blending": "additive", "visible": False}, "image"))
            continue
        properties = store.label_properties(name)
        if name == "sparse":
            kwargs["colormap"] = label_colormap(properties, transparent=(SPARSE_IGNORE,))
            kwargs["opacity"] = 0.8
        elif properties and any(_rgba(p) is not None for p in properties):
            kwargs["colormap"] = label_colormap(properties)
            kwargs["opacity"] = 0.6
        features = label_features(properties, background={0: "void"} if name != "sparse" else None)
        if features is not None:
            kwargs["features"] = features
        if name not in ("phases", "particles", "sparse"):
            kwargs["visible"] = False
        elif name == "particles" and "phases" in names:
            kwargs["visible"] = False  # one on top of the other hides the phases; toggle in the layer list
        layers.append((data, kwargs, "labels"))
    return layers


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding an OME-Zarr image that :func:`store_layers` can open."""
    from liberation.errors import LiberationError
    from liberation.io import open_store

    folder = Path(path)
    if not folder.is_dir() or not ((folder / "zarr.json").is_file() or (folder / ".zattrs").is_file()):
        return False
    try:
        open_store(folder)
    except (LiberationError, OSError, ValueError):
        return False
    return True
