"""The sample store: one OME-Zarr group per sample (OME-NGFF 0.5 on zarr v3; 0.4 on zarr v2 read too).

Layout::

    sample.zarr/            root group: CT image, ``multiscales`` (axes z, y, x in micrometer)
        0/, 1/, ...         pyramid levels (0 = full resolution; then 2x2x2 block means, see pyramid_shapes)
        labels/
            phases/0, 1/..  uint8 mineral phase ids, 0 = void; ``image-label.properties`` = minerals;
                            levels with the image's shapes and transforms (2x2x2 block modes)
            particles/0     uint32 particle ids, 0 = outside particles
            sparse/0        uint8 training labels, 255 = not labelled

Every zarr v3 array names its dimensions (``dimension_names`` z, y, x), as OME-NGFF 0.5 requires;
the tests validate every store with ome-zarr-models and read it with ome-zarr-py.
Library metadata (provenance, registration transforms) lives under the attribute key
``liberation`` of the root group (and of each label group for its own provenance).
Writes are safe: an existing array is never replaced without ``overwrite=True``, and
every array is written under a temporary name and moved into place, so an interrupted
write leaves the old result or none. Every array liberation writes records, once its last
chunk is written, that it is complete (``liberation.complete`` in the array attributes; all
chunks are written, even those equal to the fill value), and readers refuse an array with a
missing chunk (:meth:`SampleStore.check_complete`, :meth:`SampleStore.verify`). Metadata
updates are read-modify-write under a file lock (``.liberation.lock`` inside the store).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from liberation._atomic import (
    _prepare,
    _writing,
    check_new_output,
    overwrite_error,
    replace_path,
    temp_sibling,
)
from liberation._json import to_jsonable
from liberation._validation import as_voxel_size, check_label_array
from liberation.errors import InputError, StoreError
from liberation.metrics import IGNORE
from liberation.minerals import MineralList

NAMESPACE = "liberation"
LABEL_DTYPES = {"phases": np.uint8, "sparse": np.uint8, "particles": np.uint32}
#: Value of unlabelled voxels in ``labels/sparse`` (the package's one :data:`liberation.metrics.IGNORE`).
SPARSE_IGNORE = IGNORE
SUPPORTED_VERSIONS = ("0.4", "0.5")
LOCK_TIMEOUT_S = 120.0
LOCK_NAME = ".liberation.lock"
_META_FILES = ("zarr.json", ".zarray", ".zattrs", ".zgroup")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version() -> str:
    from liberation import __version__

    return __version__


def provenance_entry(step: str, parameters: Mapping | None = None, inputs: Mapping | None = None) -> dict:
    """A provenance record: step, parameters, library version and UTC time."""
    entry = {"step": step, "parameters": to_jsonable(dict(parameters or {})), "version": _version(), "time": _now()}
    if inputs:
        entry["inputs"] = to_jsonable(dict(inputs))
    return entry


def _axes() -> list[dict]:
    return [{"name": n, "type": "space", "unit": "micrometer"} for n in ("z", "y", "x")]


#: Pyramid levels: each level is the previous one reduced by this factor per axis.
PYRAMID_FACTOR = 2
#: Dimension names of every array (zarr v3 ``dimension_names``; OME-NGFF 0.5 requires them).
DIMENSION_NAMES = ("z", "y", "x")


def pyramid_shapes(shape, levels: int) -> list[tuple[int, ...]]:
    """Shapes of pyramid levels 0..``levels``: each level ``ceil(previous / 2)`` per axis.

    The image and its label images follow this one rule, so their levels have the same shapes
    (e.g. (17, 18, 19) -> (9, 9, 10) -> (5, 5, 5)). Levels stop early once an axis of the
    previous level is 1 voxel (it cannot be halved).

    Parameters
    ----------
    shape : tuple of int
        Shape (z, y, x) of level 0.
    levels : int
        Extra levels wanted (>= 0).

    Returns
    -------
    list of tuple of int
        Level 0 first; at most ``levels + 1`` shapes.
    """
    shapes = [tuple(int(s) for s in shape)]
    for _ in range(int(levels)):
        prev = shapes[-1]
        if min(prev) < 2:
            break
        shapes.append(tuple(-(-s // PYRAMID_FACTOR) for s in prev))
    return shapes


def _level_transforms(voxel_size_um, level: int) -> list[dict]:
    """Scale and translation of pyramid ``level``: its voxel centres at the centres of the level-0 blocks.

    Level ``k`` voxel ``i`` is the reduction of level-0 voxels ``[i f, (i + 1) f)`` with ``f = 2**k``,
    whose centre lies at ``(i f + (f - 1) / 2) * v`` µm: scale ``f v``, translation ``(f - 1) / 2 v``.
    """
    f = PYRAMID_FACTOR**level
    return [
        {"type": "scale", "scale": [float(v) * f for v in voxel_size_um]},
        {"type": "translation", "translation": [float(v) * (f - 1) / 2 for v in voxel_size_um]},
    ]


def _multiscales(name: str, voxel_size_um, n_levels: int, version: str, *, label: bool) -> dict:
    """The ``multiscales`` entry of an image (``label=False``) or a label image with ``n_levels`` levels.

    With pyramid levels, the downsampling is recorded as the spec suggests: ``type`` (``"mean"``
    for images, ``"mode"`` for labels) and ``metadata`` (method, factor, how odd edges are handled).
    """
    datasets = [{"path": str(level), "coordinateTransformations": _level_transforms(voxel_size_um, level)}
                for level in range(n_levels)]
    ms: dict[str, Any] = {"name": name, "axes": _axes(), "datasets": datasets}
    if n_levels > 1:
        reduction = "mode" if label else "mean"
        ms["type"] = reduction
        ms["metadata"] = {
            "description": (
                f"each level is the {reduction} of {PYRAMID_FACTOR}x{PYRAMID_FACTOR}x{PYRAMID_FACTOR} blocks of the "
                "level above (shape ceil(n / 2) per axis; a block cut by an odd edge is reduced over the voxels "
                "it has)"
                + ("; ties go to the first voxel of the block in z, y, x order" if label else
                   "; integer images are rounded to the nearest integer")
                + "; the translation puts each voxel at the centre of its level-0 block"
            ),
            "method": "liberation.io.store._reduce_blocks",
            "version": _version(),
            "kwargs": {"factor": [PYRAMID_FACTOR] * 3, "reduction": reduction},
        }
    if version == "0.4":
        ms["version"] = "0.4"
    return ms


def _default_chunks(shape) -> tuple[int, ...]:
    return tuple(int(min(s, 128)) for s in shape)


def _check_chunks(chunks, shape) -> tuple[int, ...]:
    if chunks is None:
        return _default_chunks(shape)
    if isinstance(chunks, int):
        chunks = (chunks,) * len(shape)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape) or any(c < 1 for c in chunks):
        raise InputError(f"chunks={chunks!r} must be {len(shape)} positive integers (z, y, x)")
    return tuple(min(c, s) for c, s in zip(chunks, shape))


def _create_array(group, name: str, *, shape, dtype, chunks, fill_value=0):
    """Create ``group[name]`` writing every chunk, even one equal to the fill value.

    Writing all chunks makes completeness well defined: a chunk missing on disk is damage,
    never an elided fill-value chunk.
    """
    extra = {"dimension_names": DIMENSION_NAMES} if group.metadata.zarr_format == 3 else {}
    return group.create_array(name, shape=tuple(shape), chunks=chunks, dtype=dtype, fill_value=fill_value,
                              config={"write_empty_chunks": True}, **extra)


def _mark_complete(arr) -> None:
    """Record in the array attributes that all its chunks have been written."""
    n = int(np.prod(arr.cdata_shape)) if arr.ndim else 1
    arr.attrs[NAMESPACE] = {"complete": {"chunks": n, "time": _now()}}


def _write_array(group, name: str, data, *, dtype, chunks, fill_value=0):
    """Create ``group[name]``, fill it slab by slab along z (bounded memory) and mark it complete."""
    arr = _create_array(group, name, shape=data.shape, chunks=chunks, dtype=dtype, fill_value=fill_value)
    step = chunks[0]
    for z0 in range(0, data.shape[0], step):
        z1 = min(z0 + step, data.shape[0])
        block = np.asarray(data[z0:z1])
        arr[z0:z1] = block.astype(dtype, copy=False)
    _mark_complete(arr)
    return arr


def _chunk_keys(arr) -> Iterator[tuple[tuple[int, ...], str]]:
    """``(chunk index, store key relative to the array)`` of every chunk of ``arr``, in C order."""
    for idx in np.ndindex(*arr.cdata_shape):
        yield idx, arr.metadata.encode_chunk_key(idx)


def _files_under(folder: Path) -> set[str]:
    """Relative paths (``/``-separated) of the files under ``folder``, without reading them."""
    found = set()
    for root, _dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        for f in files:
            if f in _META_FILES:
                continue
            found.add(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
    return found


def _colors_of(properties: list) -> list[dict]:
    """``image-label`` ``colors`` of the properties entries that carry an ``rgba`` or ``color``."""
    from liberation.minerals import _hex_to_rgba

    colors = []
    for entry in properties:
        if not isinstance(entry, Mapping) or "label-value" not in entry:
            continue
        rgba = entry.get("rgba")
        if rgba is None and isinstance(entry.get("color"), str):
            try:
                rgba = _hex_to_rgba(entry["color"])
            except InputError:
                continue
        if rgba is not None:
            colors.append({"label-value": entry["label-value"], "rgba": list(rgba)})
    return colors


def _mode_of_blocks(parts: list[np.ndarray]) -> np.ndarray:
    """Most frequent value over ``parts`` (the 8 voxels of each block), ties to the first part.

    Blocks whose voxels are all equal (most of a label image) are answered without counting.
    """
    first = parts[0]
    mixed = np.zeros(first.shape, dtype=bool)
    for p in parts[1:]:
        mixed |= p != first
    out = first.copy()
    if mixed.any():
        vals = np.stack([p[mixed] for p in parts])  # (8, m)
        counts = np.zeros(vals.shape, dtype=np.uint8)
        for a in range(len(parts)):
            for b in range(a + 1, len(parts)):
                eq = vals[a] == vals[b]
                counts[a] += eq
                counts[b] += eq
        best = counts.argmax(axis=0)  # first maximum: the earliest voxel of the block
        out[mixed] = vals[best, np.arange(vals.shape[1])]
    return out


def _reduce_blocks(block: np.ndarray, *, label: bool, dtype) -> np.ndarray:
    """Reduce a (z, y, x) block 2x2x2: mean (images) or mode (labels); output shape ``ceil(shape / 2)``.

    An odd edge is padded by repeating its last voxel, which for a factor of 2 is the same as
    reducing the cut block over the voxels it has. Integer means are rounded to nearest.
    """
    pad = [(0, n % PYRAMID_FACTOR) for n in block.shape]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    parts = [block[i::2, j::2, k::2] for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    dtype = np.dtype(dtype)
    if label:
        return _mode_of_blocks(parts).astype(dtype, copy=False)
    acc_dtype = np.float32 if block.dtype.itemsize <= 2 or block.dtype == np.float32 else np.float64
    acc = parts[0].astype(acc_dtype)
    for p in parts[1:]:
        acc += p
    acc *= 1.0 / len(parts)
    if dtype.kind in "ui":
        np.rint(acc, out=acc)
    return acc.astype(dtype, copy=False)


def _write_reduced(group, name: str, source, *, label: bool, dtype, chunks):
    """Create ``group[name]`` = ``source`` (the level above) reduced 2x2x2; mark it complete.

    ``source`` is a numpy array (the caller's input, read without decoding level 0 again) or a
    zarr array (the level just written). Memory is bounded: one output slab of the chunk depth,
    plus one source tile at a time (for zarr about one source chunk in z and y, the full x
    extent, aligned on the source chunks so each source chunk is decoded about once).
    """
    out_shape = pyramid_shapes(source.shape, 1)[1]
    chunks = _check_chunks(chunks, out_shape)
    arr = _create_array(group, name, shape=out_shape, chunks=chunks, dtype=dtype, fill_value=0)
    if isinstance(source, np.ndarray):  # in memory: tiles of half an output chunk in z, whole in y
        step_z, step_y = max(1, chunks[0] // PYRAMID_FACTOR), out_shape[1]
    else:
        step_z = max(1, int(source.chunks[0]) // PYRAMID_FACTOR)
        step_y = max(1, int(source.chunks[1]) // PYRAMID_FACTOR)
    for o0 in range(0, out_shape[0], chunks[0]):
        o1 = min(out_shape[0], o0 + chunks[0])
        slab = np.empty((o1 - o0, *out_shape[1:]), dtype=dtype)
        for a0 in range(o0, o1, step_z):
            a1 = min(o1, a0 + step_z)
            for b0 in range(0, out_shape[1], step_y):
                b1 = min(out_shape[1], b0 + step_y)
                tile = np.asarray(source[2 * a0 : 2 * a1, 2 * b0 : 2 * b1])
                if label:  # as level 0 stores them
                    tile = tile.astype(dtype, copy=False)
                slab[a0 - o0 : a1 - o0, b0:b1] = _reduce_blocks(tile, label=label, dtype=dtype)
        arr[o0:o1] = slab
    _mark_complete(arr)
    return arr


def _zarr_format(version: str) -> int:
    if version not in SUPPORTED_VERSIONS:
        raise InputError(f"ngff_version={version!r} is not supported; expected one of {SUPPORTED_VERSIONS}")
    return 3 if version == "0.5" else 2


def _set_ome(group, version: str, payload: dict) -> None:
    """Write OME metadata: under ``ome`` for 0.5, at the top level for 0.4."""
    if version == "0.5":
        group.attrs["ome"] = {"version": "0.5", **payload}
    else:
        for key, value in payload.items():
            group.attrs[key] = value


def _get_ome(attrs: Mapping) -> tuple[str, dict]:
    """Return ``(version, ome_dict)`` from group attributes of either NGFF version."""
    if "ome" in attrs:
        ome = dict(attrs["ome"])
        return str(ome.get("version", "0.5")), ome
    ms = attrs.get("multiscales")
    version = "0.4"
    if ms:
        version = str(ms[0].get("version", "0.4"))
    return version, dict(attrs)


class SampleStore:
    """A sample store opened from disk. Use :func:`open_store` or :func:`create_store`.

    Attributes
    ----------
    path : Path
        Folder of the store.
    ngff_version : str
        ``"0.5"`` (zarr v3) or ``"0.4"`` (zarr v2).
    """

    def __init__(self, path: str | os.PathLike, mode: str = "r"):
        import zarr

        self.path = Path(path)
        if mode not in ("r", "r+"):
            raise InputError(f"mode={mode!r} must be 'r' (read) or 'r+' (read and add labels)")
        self.mode = mode
        if not self.path.exists():
            raise StoreError(f"sample store {self.path} does not exist")
        try:
            self._root = zarr.open_group(str(self.path), mode=mode)
        except Exception as exc:  # zarr raises several types for a non-store folder
            raise StoreError(f"{self.path} is not a zarr group ({exc})") from None
        attrs = dict(self._root.attrs)
        self.ngff_version, ome = _get_ome(attrs)
        if self.ngff_version not in SUPPORTED_VERSIONS:
            raise StoreError(f"{self.path}: OME-NGFF version {self.ngff_version} is not supported; expected 0.4 or 0.5")
        ms = ome.get("multiscales")
        if not ms:
            raise StoreError(f"{self.path} has no 'multiscales' metadata; it is not an OME-Zarr image")
        if not isinstance(ms, list) or not isinstance(ms[0], Mapping) or not isinstance(ms[0].get("datasets"), list):
            raise StoreError(f"{self.path}: 'multiscales' metadata is malformed; expected a list of objects with 'datasets'")
        self._multiscale = ms[0]
        self._zarr_format = self._root.metadata.zarr_format
        self._checked: set[str] = set()
        self._lock = None

    # ------------------------------------------------------------------ image
    @property
    def level_paths(self) -> list[str]:
        """Dataset paths of the pyramid levels, full resolution first."""
        return [d["path"] for d in self._multiscale["datasets"]]

    @property
    def voxel_size_um(self) -> tuple[float, float, float]:
        """Voxel size (z, y, x) of level 0 in µm."""
        return _scale_of(self._multiscale, 0, self.path)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape (z, y, x) of the full-resolution image."""
        return tuple(self._image(0).shape)

    def _open_array(self, group, key: str, what: str):
        try:
            return group[key]
        except KeyError:
            raise StoreError(f"{self.path}: {what} ({key!r}) is missing") from None
        except Exception as exc:  # zarr raises several types for damaged metadata
            raise StoreError(f"{self.path}: {what} cannot be opened: {_short(exc)}") from None

    def _image(self, level: int):
        paths = self.level_paths
        if not 0 <= level < len(paths):
            raise InputError(f"level={level} does not exist; the store has levels 0..{len(paths) - 1}")
        return self._open_array(self._root, paths[level], f"image level {level}")

    def image(self, level: int = 0):
        """The CT image at pyramid ``level`` as a lazy zarr array (z, y, x).

        Raises :class:`StoreError` if the array misses a chunk (:meth:`check_complete`).
        """
        return self._checked_array(self._image(level))

    def image_dask(self, level: int = 0):
        """The CT image at ``level`` as a dask array with the zarr chunks."""
        import dask.array as da

        arr = self.image(level)
        return da.from_array(arr, chunks=arr.chunks)

    # ----------------------------------------------------------------- labels
    def _labels_group(self):
        try:
            if "labels" not in self._root:
                return None
            return self._root["labels"]
        except Exception as exc:  # damaged labels/zarr.json
            raise StoreError(f"{self.path}: the labels group cannot be opened: {_short(exc)}") from None

    def _has_member(self, group, name: str) -> bool:
        try:
            return name in group
        except Exception as exc:  # damaged zarr.json of the member
            raise StoreError(f"{self.path}: labels/{name} cannot be opened: {_short(exc)}") from None

    @property
    def label_names(self) -> list[str]:
        """Names of the label images listed in ``labels``."""
        group = self._labels_group()
        if group is None:
            return []
        _, ome = _get_ome(dict(group.attrs))
        names = ome.get("labels", [])
        if not isinstance(names, list):
            raise StoreError(f"{self.path}: the 'labels' list of the labels group is {type(names).__name__}; "
                             "expected a list of names")
        return [n for n in names if isinstance(n, str) and self._has_member(group, n)]

    def has_label(self, name: str) -> bool:
        """Whether label image ``name`` exists."""
        return name in self.label_names

    def _label_group(self, name: str):
        if not self.has_label(name):
            known = ", ".join(self.label_names) or "none"
            raise StoreError(f"{self.path} has no label image {name!r} (labels present: {known})")
        return self._open_array(self._labels_group(), name, f"label image labels/{name}")

    def _label_paths(self, name: str) -> list[str]:
        _, ome = _get_ome(dict(self._label_group(name).attrs))
        try:
            return [str(d["path"]) for d in ome["multiscales"][0]["datasets"]]
        except (KeyError, IndexError, TypeError):
            raise StoreError(f"{self.path}: labels/{name} has no valid 'multiscales' datasets metadata") from None

    def _check_label_scale(self, name: str) -> None:
        """Refuse a label whose level-0 voxel size disagrees with the image's (it is not on the image grid)."""
        _, ome = _get_ome(dict(self._label_group(name).attrs))
        ms = ome.get("multiscales")
        if not isinstance(ms, list) or not ms or not isinstance(ms[0], Mapping):
            return
        datasets = ms[0].get("datasets")
        if not isinstance(datasets, list) or not datasets or "coordinateTransformations" not in datasets[0]:
            return  # no scale recorded: the label takes the image's
        label = _scale_of(ms[0], 0, f"{self.path}/labels/{name}")
        image = self.voxel_size_um
        if not np.allclose(label, image, rtol=1e-6, atol=0.0):
            raise StoreError(f"{self.path}: labels/{name} has voxel size {' x '.join(f'{v:g}' for v in label)} µm "
                             f"but the image {' x '.join(f'{v:g}' for v in image)} µm; a label must lie on the "
                             "image grid (same scale)")

    def _label(self, name: str, level: int):
        paths = self._label_paths(name)
        if level == 0:
            self._check_label_scale(name)
        if not 0 <= level < len(paths):
            raise InputError(f"level={level} does not exist for label {name!r}; levels 0..{len(paths) - 1}")
        return self._open_array(self._label_group(name), paths[level], f"labels/{name} level {level}")

    def label(self, name: str, level: int = 0):
        """Label image ``name`` as a lazy zarr array (z, y, x).

        Raises :class:`StoreError` if the array misses a chunk (:meth:`check_complete`).
        """
        return self._checked_array(self._label(name, level))

    def label_dask(self, name: str, level: int = 0):
        """Label image ``name`` as a dask array with the zarr chunks."""
        import dask.array as da

        arr = self.label(name, level)
        return da.from_array(arr, chunks=arr.chunks)

    def label_properties(self, name: str) -> list[dict]:
        """The ``image-label`` ``properties`` list of label ``name`` (empty if none)."""
        _, ome = _get_ome(dict(self._label_group(name).attrs))
        meta = ome.get("image-label", {})
        props = meta.get("properties", []) if isinstance(meta, Mapping) else None
        if not isinstance(props, list) or not all(isinstance(p, Mapping) for p in props):
            raise StoreError(f"{self.path}: labels/{name} 'image-label' 'properties' is {type(props).__name__} "
                             f"{str(props)[:60]!r}; expected a list of objects")
        return [dict(p) for p in props]

    @property
    def minerals(self) -> MineralList | None:
        """Minerals of ``labels/phases`` from its properties, or None when absent."""
        if not self.has_label("phases"):
            return None
        props = self.label_properties("phases")
        return MineralList.from_properties(props) if props else None

    def write_label(
        self,
        name: str,
        data,
        *,
        minerals: MineralList | None = None,
        properties: list[dict] | None = None,
        overwrite: bool = False,
        step: str = "write_label",
        parameters: Mapping | None = None,
        chunks=None,
        pyramid_levels: int | None = None,
    ):
        """Write label image ``name`` (atomically) and return it as a zarr array.

        Parameters
        ----------
        name : str
            ``"phases"``, ``"particles"``, ``"sparse"`` or another name.
        data : array-like, shape (z, y, x)
            Integer labels; numpy, dask or zarr. Must have the CT shape.
        minerals : MineralList, optional
            Mineral of each phase id (stored as ``image-label`` properties and colours).
        properties : list of dict, optional
            Raw ``image-label`` properties, used when ``minerals`` is not given.
        overwrite : bool
            Replace an existing label image of that name.
        step, parameters : str, mapping
            Provenance record of the step that made the labels.
        chunks : int or tuple of int, optional
            Chunk shape; default the CT image's chunks.
        pyramid_levels : int, optional
            Extra levels, each the 2x2x2 block mode of the level above (the shapes and
            coordinate transformations of the image levels, see :func:`pyramid_shapes`);
            default as many as the image has.
        """
        if self.mode != "r+":
            raise StoreError(f"{self.path} is open read-only; open it with mode='r+' to write labels")
        check_label_array(data, name=f"labels/{name}", ndim=3)
        if tuple(data.shape) != self.shape:
            raise InputError(f"labels/{name} has shape {tuple(data.shape)}; expected the CT shape {self.shape}")
        if not name or "/" in name or name.startswith("."):
            raise InputError(f"label name={name!r} must be a plain name such as 'phases'")
        if self.has_label(name) and not overwrite:
            raise overwrite_error(self.path / "labels" / name, what="label image")
        dtype = np.dtype(LABEL_DTYPES.get(name, data.dtype))
        if name == "particles" and np.dtype(data.dtype).itemsize > 4:
            dtype = np.dtype(np.uint64)
        chunks = _check_chunks(chunks if chunks is not None else self.image().chunks, data.shape)
        if pyramid_levels is not None and int(pyramid_levels) < 0:
            raise InputError(f"pyramid_levels={pyramid_levels} must be >= 0")
        extra = len(self.level_paths) - 1 if pyramid_levels is None else int(pyramid_levels)
        n_levels = len(pyramid_shapes(data.shape, extra))
        labels_path = self.path / "labels"
        self._ensure_labels_group()
        final = check_new_output(labels_path / name, overwrite=overwrite, what="label image")
        _prepare(final, "label image", overwrite=overwrite)
        tmp = temp_sibling(final)
        import zarr

        with _writing(tmp, final, "label image"):
            tmp_group = zarr.open_group(str(tmp), mode="w", zarr_format=self._zarr_format)
            level = _write_array(tmp_group, "0", data, dtype=dtype, chunks=chunks)
            if isinstance(data, np.ndarray):
                level = data  # level 1 from the input in memory, not decoded back from level 0
            for k in range(1, n_levels):
                level = _write_reduced(tmp_group, str(k), level, label=True, dtype=dtype, chunks=chunks)
            label_meta: dict[str, Any] = {"source": {"image": "../../"}}
            if minerals is not None:
                label_meta["properties"] = minerals.to_properties()
                label_meta["colors"] = minerals.to_colors()
            elif properties is not None:
                label_meta["properties"] = to_jsonable(list(properties))
                colors = _colors_of(label_meta["properties"])
                if colors:
                    label_meta["colors"] = colors
            if self.ngff_version == "0.4":
                label_meta["version"] = "0.4"
            payload = {
                "multiscales": [_multiscales(name, self.voxel_size_um, n_levels, self.ngff_version, label=True)],
                "image-label": label_meta,
            }
            _set_ome(tmp_group, self.ngff_version, payload)
            tmp_group.attrs[NAMESPACE] = {"provenance": [provenance_entry(step, parameters)]}
            replace_path(tmp, final, overwrite=overwrite, what="label image")
        self._checked.clear()
        with self.lock():
            self._add_to_label_list(name)
            self.add_provenance(step, {"label": name, **dict(parameters or {})})
        self._root = zarr.open_group(str(self.path), mode=self.mode)
        return self.label(name)

    def _ensure_labels_group(self) -> None:
        import zarr

        if "labels" not in self._root:
            with self.lock():
                if not (self.path / "labels").is_dir():
                    group = zarr.open_group(str(self.path / "labels"), mode="a", zarr_format=self._zarr_format)
                    _set_ome(group, self.ngff_version, {"labels": []})
            self._root = zarr.open_group(str(self.path), mode=self.mode)

    def _add_to_label_list(self, name: str) -> None:
        """Add ``name`` to the ``labels`` list (read-modify-write under the lock, fresh from disk)."""
        import zarr

        with self.lock():
            group = zarr.open_group(str(self.path / "labels"), mode="r+")
            _, ome = _get_ome(dict(group.attrs))
            names = [n for n in ome.get("labels", []) if isinstance(n, str)]
            if name not in names:
                _set_ome(group, self.ngff_version, {"labels": [*names, name]})

    # ------------------------------------------------------------- completeness
    def _array_folder(self, arr) -> Path:
        return self.path / arr.path

    def _checked_array(self, arr):
        if arr.path not in self._checked:
            self._check_array(arr)
            self._checked.add(arr.path)
        return arr

    def _check_array(self, arr, *, deep: bool = False) -> bool:
        """Check one array; return whether its completeness was recorded by liberation."""
        record = arr.attrs.get(NAMESPACE, {})
        recorded = isinstance(record, Mapping) and isinstance(record.get("complete"), Mapping)
        if recorded:
            present = _files_under(self._array_folder(arr))
            keys = list(_chunk_keys(arr))
            missing = [key for _, key in keys if key not in present]
            if missing:
                raise StoreError(
                    f"{self.path}: array {arr.path}: chunk {missing[0]} is missing ({len(missing)} of {len(keys)} "
                    "chunks missing); the store is damaged or was not written completely"
                )
        if deep:
            for idx, key in _chunk_keys(arr):
                try:
                    arr.get_block_selection(idx)
                except Exception as exc:  # any decoding error means a damaged chunk
                    raise StoreError(f"{self.path}: array {arr.path}: chunk {key} is corrupt: {_short(exc)}") from None
        return recorded

    def _arrays(self) -> list:
        arrays = [self._image(level) for level in range(len(self.level_paths))]
        for name in self.label_names:
            arrays += [self._label(name, level) for level in range(len(self._label_paths(name)))]
        return arrays

    def check_complete(self, name: str | None = None) -> None:
        """Check that every chunk of an array is present on disk (file listing only, no data read).

        Parameters
        ----------
        name : str, optional
            ``None`` or ``"image"`` for all image levels, else a label name (all its levels).

        Raises
        ------
        StoreError
            Naming the array and the first missing chunk, e.g.
            ``labels/phases/0: chunk c/1/0/2 is missing``. Arrays written by liberation
            versions that did not record completeness are not checked.
        """
        if name is None or name == "image":
            arrays = [self._image(level) for level in range(len(self.level_paths))]
        else:
            self._label_group(name)
            arrays = [self._label(name, level) for level in range(len(self._label_paths(name)))]
        for arr in arrays:
            self._checked_array(arr)

    def verify(self, *, deep: bool = False) -> dict:
        """Verify the whole store: metadata, voxel size, label properties, every chunk of every array.

        Parameters
        ----------
        deep : bool
            Also read and decode every chunk (reads the whole store once).

        Returns
        -------
        dict
            ``{"arrays": {path: {"chunks": n, "complete_recorded": bool}}, "deep": deep}``;
            arrays whose completeness is not recorded (older versions) are checked for
            decodability only.

        Raises
        ------
        StoreError
            One line naming the first problem (array and chunk for a missing or corrupt chunk).
        """
        _ = self.voxel_size_um
        for name in self.label_names:
            self.label_properties(name)
        report: dict[str, Any] = {"arrays": {}, "deep": bool(deep)}
        for arr in self._arrays():
            recorded = self._check_array(arr, deep=deep)
            report["arrays"][arr.path] = {"chunks": int(np.prod(arr.cdata_shape)), "complete_recorded": recorded}
        return report

    # ------------------------------------------------------------------ locking
    @property
    def lock_path(self) -> Path:
        """The lock file of metadata updates: :data:`LOCK_NAME` inside the store (symlinks resolved).

        Inside rather than beside the store, so the folder holding the store stays clean; zarr
        ignores it (listing the members of the root group warns about it).
        """
        return Path(os.path.realpath(self.path)) / LOCK_NAME

    def lock(self, timeout: float = LOCK_TIMEOUT_S):
        """A :class:`filelock.FileLock` held while the store's metadata is read, changed and written.

        Re-entrant within this object; other processes (and other :class:`SampleStore` objects)
        wait for it.
        """
        import filelock

        if self._lock is None:
            self._lock = filelock.FileLock(str(self.lock_path), timeout=timeout)
        return _StoreLock(self._lock, self.path)

    # --------------------------------------------------------------- metadata
    @property
    def metadata(self) -> dict:
        """Library metadata stored under the ``liberation`` attribute key."""
        return dict(self._root.attrs.get(NAMESPACE, {}))

    def _update_metadata(self, update) -> None:
        """Apply ``update(meta_dict)`` to ``liberation`` of the root group: read fresh, change, write, all
        under :meth:`lock`."""
        import zarr

        if self.mode != "r+":
            raise StoreError(f"{self.path} is open read-only; open it with mode='r+' to write metadata")
        with self.lock():
            root = zarr.open_group(str(self.path), mode="r+")
            meta = dict(root.attrs.get(NAMESPACE, {}))
            update(meta)
            root.attrs[NAMESPACE] = meta
        self._root = root

    def set_metadata(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``liberation.<key>`` of the root group.

        The update is a read-modify-write under the store's lock, so concurrent updates of
        other keys by other processes are kept.
        """
        value = to_jsonable(value)
        self._update_metadata(lambda meta: meta.__setitem__(key, value))

    def append_metadata(self, key: str, record: Any) -> None:
        """Append ``record`` to the list ``liberation.<key>`` of the root group (created if absent).

        Read-modify-write under the store's lock: two processes appending at once keep both
        records (e.g. two ``register --labels`` runs appending to ``registrations``).

        Parameters
        ----------
        key : str
            Metadata key, e.g. ``"registrations"``.
        record : JSON-serialisable
            The entry to append.
        """
        record = to_jsonable(record)

        def update(meta):
            old = meta.get(key, [])
            if not isinstance(old, list):
                raise StoreError(f"{self.path}: metadata liberation.{key} is {type(old).__name__}; expected a list")
            meta[key] = [*old, record]

        self._update_metadata(update)

    @property
    def provenance(self) -> list[dict]:
        """Provenance records of the store, oldest first."""
        return list(self.metadata.get("provenance", []))

    def add_provenance(self, step: str, parameters: Mapping | None = None, inputs: Mapping | None = None) -> None:
        """Append a provenance record (step, parameters, version, time) under the store's lock."""
        self.append_metadata("provenance", provenance_entry(step, parameters, inputs))

    @property
    def sieve_fraction(self) -> tuple[float, float] | None:
        """The sample's sieve fraction ``(lower_um, upper_um)`` (mesh openings in µm), or None.

        Recorded under ``liberation.sieve_fraction`` as ``{"lower_um": 63, "upper_um": 100}``
        (:func:`liberation.workflows.store.set_sieve_fraction`, ``liberation set-fraction``).
        """
        value = self.metadata.get("sieve_fraction")
        if value is None:
            return None
        try:
            lo, hi = float(value["lower_um"]), float(value["upper_um"])
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"{self.path}: metadata liberation.sieve_fraction is {value!r}; expected "
                             "{'lower_um': number, 'upper_um': number}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise StoreError(f"{self.path}: metadata liberation.sieve_fraction is {value!r}; expected "
                             "0 <= lower_um < upper_um")
        return lo, hi

    def describe(self) -> dict:
        """A JSON-friendly summary: shape, dtype, voxel size, levels, labels, minerals, provenance."""
        image = self._image(0)
        labels = {}
        for name in self.label_names:
            arr = self._label(name, 0)
            labels[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "chunks": list(arr.chunks)}
        minerals = self.minerals
        return {
            "path": str(self.path),
            "ngff_version": self.ngff_version,
            "shape": list(image.shape),
            "dtype": str(image.dtype),
            "chunks": list(image.chunks),
            "voxel_size_um": list(self.voxel_size_um),
            "levels": len(self.level_paths),
            "labels": labels,
            "minerals": [] if minerals is None else [m.to_property() for m in minerals],
            "sieve_fraction": (None if self.sieve_fraction is None
                               else dict(zip(("lower_um", "upper_um"), self.sieve_fraction))),
            "provenance": self.provenance,
        }

    def __repr__(self) -> str:
        return f"SampleStore({str(self.path)!r}, shape={self.shape}, voxel_size_um={self.voxel_size_um}, labels={self.label_names})"


def _scale_of(multiscale: Mapping, level: int, path) -> tuple[float, float, float]:
    try:
        transforms = multiscale["datasets"][level]["coordinateTransformations"]
    except (KeyError, IndexError):
        raise StoreError(f"{path}: multiscales dataset {level} has no coordinateTransformations") from None
    for t in transforms:
        if isinstance(t, Mapping) and t.get("type") == "scale":
            try:
                scale = [float(v) for v in t["scale"]][-3:]
            except (KeyError, TypeError, ValueError):
                raise StoreError(f"{path}: voxel size scale {t.get('scale')!r} of multiscales dataset {level} "
                                 "is not a list of numbers") from None
            if len(scale) != 3 or not all(np.isfinite(scale)):
                raise StoreError(f"{path}: voxel size scale {t.get('scale')!r} of multiscales dataset {level} "
                                 "is not three finite numbers (z, y, x)")
            axes = multiscale.get("axes", [])
            unit = axes[-1].get("unit") if axes and isinstance(axes[-1], Mapping) else None
            factor = {"micrometer": 1.0, "millimeter": 1000.0, "nanometer": 1e-3, None: 1.0}.get(unit)
            if factor is None:
                raise StoreError(f"{path}: axis unit {unit!r} is not supported; expected micrometer")
            values = tuple(v * factor for v in scale)
            if not all(v > 0 for v in values):
                raise StoreError(f"{path}: voxel size {values} is not positive")
            return values  # type: ignore[return-value]
    raise StoreError(f"{path}: no 'scale' transform in multiscales dataset {level}; voxel size unknown")


def open_store(path: str | os.PathLike, mode: str = "r") -> SampleStore:
    """Open an existing sample store (OME-NGFF 0.5 or 0.4).

    Parameters
    ----------
    path : str or Path
        Folder of the store, e.g. ``"sample.zarr"``.
    mode : {"r", "r+"}
        ``"r"`` reads only; ``"r+"`` allows adding labels and metadata.
    """
    return SampleStore(path, mode=mode)


def create_store(
    path: str | os.PathLike,
    ct,
    *,
    voxel_size_um,
    chunks=None,
    overwrite: bool = False,
    pyramid_levels: int = 0,
    ngff_version: str = "0.5",
    name: str | None = None,
    step: str = "create",
    parameters: Mapping | None = None,
    blocks=None,
    inputs=None,
) -> SampleStore:
    """Create a sample store holding the CT image ``ct`` and return it opened with mode ``"r+"``.

    The store is written under a temporary name beside ``path`` and moved into place at the
    end, so an interrupted call leaves no store (or the old one, with ``overwrite=True``).

    Parameters
    ----------
    path : str or Path
        Folder to create, e.g. ``"sample.zarr"``.
    ct : array-like, shape (z, y, x)
        CT grey values (numpy, dask or zarr array). Ignored when ``blocks`` is given.
    voxel_size_um : float or (float, float, float)
        Voxel size in µm (isotropic or z, y, x).
    chunks : int or tuple of int, optional
        Chunk shape; default up to 128 per axis.
    overwrite : bool
        Replace an existing store at ``path``.
    pyramid_levels : int
        Number of extra levels, each the 2x2x2 block mean of the level above (rounded for
        integer images), of shape ``ceil(n / 2)`` per axis (:func:`pyramid_shapes`), placed by
        a scale and a translation at the centres of their level-0 blocks.
    ngff_version : {"0.5", "0.4"}
        0.5 writes zarr v3 (default), 0.4 writes zarr v2.
    name : str, optional
        Image name in the metadata; default the folder name.
    step, parameters : str, mapping
        Provenance of the image.
    blocks : tuple, optional
        ``(shape, dtype, iterator)`` to stream the image: the iterator yields
        ``(z0, slab)`` with ``slab`` of shape (nz, y, x); used by TIFF import.
    inputs : path or iterable of paths, optional
        Files the image is read from; a ``path`` that is, contains or lies inside one is refused.

    Raises
    ------
    OverwriteError
        ``path`` exists and ``overwrite`` is false, or it exists but liberation did not write it.
    OutputOverlapError
        ``path`` overlaps one of ``inputs``.
    """
    import zarr

    final = Path(path)
    voxel = as_voxel_size(voxel_size_um)
    zarr_format = _zarr_format(ngff_version)
    check_new_output(final, overwrite=overwrite, what="sample store", inputs=inputs)
    if blocks is None:
        if getattr(ct, "ndim", None) != 3:
            raise InputError(f"ct has shape {getattr(ct, 'shape', None)}; expected a 3D (z, y, x) array")
        shape, dtype = tuple(ct.shape), np.dtype(ct.dtype)
    else:
        shape, dtype, block_iter = blocks
        shape, dtype = tuple(shape), np.dtype(dtype)
    if dtype.kind not in "uif" or dtype.kind == "c":
        raise InputError(f"ct has dtype {dtype}; expected an integer or float grey-value array")
    if int(pyramid_levels) < 0:
        raise InputError(f"pyramid_levels={pyramid_levels} must be >= 0")
    chunks = _check_chunks(chunks, shape)
    _prepare(final, "sample store", overwrite=overwrite)
    tmp = temp_sibling(final)
    with _writing(tmp, final, "sample store"):
        root = zarr.open_group(str(tmp), mode="w", zarr_format=zarr_format)
        if blocks is None:
            level0 = _write_array(root, "0", ct, dtype=dtype, chunks=chunks)
        else:
            level0 = _create_array(root, "0", shape=shape, chunks=chunks, dtype=dtype, fill_value=0)
            for z0, slab in block_iter:
                level0[z0 : z0 + slab.shape[0]] = slab
            _mark_complete(level0)
        source = ct if blocks is None and isinstance(ct, np.ndarray) else level0
        n_levels = len(pyramid_shapes(shape, int(pyramid_levels)))
        for level in range(1, n_levels):
            source = _write_reduced(root, str(level), source, label=False, dtype=dtype, chunks=chunks)
        payload = {"multiscales": [_multiscales(name or final.stem, voxel, n_levels, ngff_version, label=False)]}
        _set_ome(root, ngff_version, payload)
        root.attrs[NAMESPACE] = {"provenance": [provenance_entry(step, parameters)]}
        replace_path(tmp, final, overwrite=overwrite, what="sample store")
    return SampleStore(final, mode="r+")


def _short(exc: BaseException) -> str:
    """One line describing ``exc`` (type and the first line of its message)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class _StoreLock:
    """Context manager around a :class:`filelock.FileLock`; a timeout or an unwritable lock file is a StoreError."""

    def __init__(self, lock, store_path: Path):
        self._lock = lock
        self._store_path = store_path

    def __enter__(self):
        import filelock

        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise StoreError(f"{self._store_path}: another process has held the lock {self._lock.lock_file} "
                             f"for more than {self._lock.timeout:g} s; try again when it has finished") from None
        except OSError as exc:
            raise StoreError(f"{self._store_path}: cannot take the lock {self._lock.lock_file}: "
                             f"{exc.strerror or exc}") from None
        return self

    def __exit__(self, *exc_info):
        self._lock.release()
        return False


def check_array_complete(store: SampleStore | str | os.PathLike, name: str | None = None, *, deep: bool = False) -> None:
    """Check that an array of a store has all its chunks (``deep``: and that each decodes).

    Parameters
    ----------
    store : SampleStore or path
        The store.
    name : str, optional
        ``None`` or ``"image"`` for the image levels, else a label name.
    deep : bool
        Also read and decode every chunk of the array.

    Raises
    ------
    StoreError
        Naming the array and its first missing or corrupt chunk.
    """
    if not isinstance(store, SampleStore):
        store = SampleStore(store)
    store.check_complete(name)
    if deep:
        if name is None or name == "image":
            arrays = [store._image(level) for level in range(len(store.level_paths))]
        else:
            arrays = [store._label(name, level) for level in range(len(store._label_paths(name)))]
        for arr in arrays:
            store._check_array(arr, deep=True)
