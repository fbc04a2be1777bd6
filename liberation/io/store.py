"""The sample store: one OME-Zarr group per sample (OME-NGFF 0.5 on zarr v3; 0.4 on zarr v2 read too).

Layout::

    sample.zarr/            root group: CT image, ``multiscales`` (axes z, y, x in micrometer)
        0/, 1/, ...         pyramid levels (0 = full resolution)
        labels/
            phases/0        uint8 mineral phase ids, 0 = void; ``image-label.properties`` = minerals
            particles/0     uint32 particle ids, 0 = outside particles
            sparse/0        uint8 training labels, 255 = not labelled

Library metadata (provenance, registration transforms) lives under the attribute key
``liberation`` of the root group (and of each label group for its own provenance).
Writes are safe: an existing array is never replaced without ``overwrite=True``, and
every array is written under a temporary name and moved into place, so an interrupted
write leaves the old result or none.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from liberation._atomic import replace_path
from liberation._json import to_jsonable
from liberation._validation import as_voxel_size, check_label_array
from liberation.errors import InputError, OverwriteError, StoreError
from liberation.metrics import IGNORE
from liberation.minerals import MineralList

NAMESPACE = "liberation"
LABEL_DTYPES = {"phases": np.uint8, "sparse": np.uint8, "particles": np.uint32}
#: Value of unlabelled voxels in ``labels/sparse`` (the package's one :data:`liberation.metrics.IGNORE`).
SPARSE_IGNORE = IGNORE
SUPPORTED_VERSIONS = ("0.4", "0.5")


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


def _multiscales(name: str, voxel_size_um, n_levels: int, version: str, factors: list[tuple[int, int, int]]) -> dict:
    datasets = []
    for level in range(n_levels):
        scale = [float(v) * f for v, f in zip(voxel_size_um, factors[level])]
        datasets.append({"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    ms = {"name": name, "axes": _axes(), "datasets": datasets}
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


def _write_array(group, name: str, data, *, dtype, chunks, fill_value=0):
    """Create ``group[name]`` and fill it slab by slab along z (bounded memory)."""
    arr = group.create_array(name, shape=tuple(data.shape), chunks=chunks, dtype=dtype, fill_value=fill_value)
    step = chunks[0]
    for z0 in range(0, data.shape[0], step):
        z1 = min(z0 + step, data.shape[0])
        block = np.asarray(data[z0:z1])
        arr[z0:z1] = block.astype(dtype, copy=False)
    return arr


def _downsample(data, factor: int, *, label: bool):
    """Downsample a (z, y, x) array by ``factor`` per axis: mean for images, nearest for labels."""
    import dask.array as da

    d = data if isinstance(data, da.Array) else da.from_array(data, chunks=_default_chunks(data.shape))
    if label:
        return d[::factor, ::factor, ::factor]
    shape = tuple((s // factor) * factor for s in d.shape)
    if min(shape) == 0:
        return d[::factor, ::factor, ::factor]
    d = d[: shape[0], : shape[1], : shape[2]]
    return da.coarsen(np.mean, d.astype(np.float32), {0: factor, 1: factor, 2: factor}, trim_excess=True)


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
        self._multiscale = ms[0]
        self._zarr_format = self._root.metadata.zarr_format

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
        return tuple(self.image().shape)

    def image(self, level: int = 0):
        """The CT image at pyramid ``level`` as a lazy zarr array (z, y, x)."""
        paths = self.level_paths
        if not 0 <= level < len(paths):
            raise InputError(f"level={level} does not exist; the store has levels 0..{len(paths) - 1}")
        return self._root[paths[level]]

    def image_dask(self, level: int = 0):
        """The CT image at ``level`` as a dask array with the zarr chunks."""
        import dask.array as da

        arr = self.image(level)
        return da.from_array(arr, chunks=arr.chunks)

    # ----------------------------------------------------------------- labels
    def _labels_group(self):
        if "labels" not in self._root:
            return None
        return self._root["labels"]

    @property
    def label_names(self) -> list[str]:
        """Names of the label images listed in ``labels``."""
        group = self._labels_group()
        if group is None:
            return []
        _, ome = _get_ome(dict(group.attrs))
        return [n for n in ome.get("labels", []) if n in group]

    def has_label(self, name: str) -> bool:
        """Whether label image ``name`` exists."""
        return name in self.label_names

    def _label_group(self, name: str):
        if not self.has_label(name):
            known = ", ".join(self.label_names) or "none"
            raise StoreError(f"{self.path} has no label image {name!r} (labels present: {known})")
        return self._labels_group()[name]

    def label(self, name: str, level: int = 0):
        """Label image ``name`` as a lazy zarr array (z, y, x)."""
        group = self._label_group(name)
        _, ome = _get_ome(dict(group.attrs))
        paths = [d["path"] for d in ome["multiscales"][0]["datasets"]]
        if not 0 <= level < len(paths):
            raise InputError(f"level={level} does not exist for label {name!r}; levels 0..{len(paths) - 1}")
        return group[paths[level]]

    def label_dask(self, name: str, level: int = 0):
        """Label image ``name`` as a dask array with the zarr chunks."""
        import dask.array as da

        arr = self.label(name, level)
        return da.from_array(arr, chunks=arr.chunks)

    def label_properties(self, name: str) -> list[dict]:
        """The ``image-label`` ``properties`` list of label ``name`` (empty if none)."""
        _, ome = _get_ome(dict(self._label_group(name).attrs))
        return list(ome.get("image-label", {}).get("properties", []))

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
            Extra downsampled levels (nearest); default as many as the image has.
        """
        if self.mode != "r+":
            raise StoreError(f"{self.path} is open read-only; open it with mode='r+' to write labels")
        check_label_array(data, name=f"labels/{name}", ndim=3)
        if tuple(data.shape) != self.shape:
            raise InputError(f"labels/{name} has shape {tuple(data.shape)}; expected the CT shape {self.shape}")
        if not name or "/" in name or name.startswith("."):
            raise InputError(f"label name={name!r} must be a plain name such as 'phases'")
        if self.has_label(name) and not overwrite:
            raise OverwriteError(
                f"{self.path}/labels/{name} already exists; pass overwrite=True (--overwrite) to replace it"
            )
        dtype = np.dtype(LABEL_DTYPES.get(name, data.dtype))
        if name == "particles" and np.dtype(data.dtype).itemsize > 4:
            dtype = np.dtype(np.uint64)
        chunks = _check_chunks(chunks if chunks is not None else self.image().chunks, data.shape)
        n_levels = len(self.level_paths) if pyramid_levels is None else 1 + int(pyramid_levels)
        labels_path = self.path / "labels"
        self._ensure_labels_group()
        tmp_name = f".{name}.tmp-{uuid.uuid4().hex[:8]}"
        import zarr

        try:
            tmp_group = zarr.open_group(str(labels_path / tmp_name), mode="w", zarr_format=self._zarr_format)
            level_data = data
            factors = []
            for level in range(n_levels):
                if level > 0:
                    level_data = _downsample(level_data, 2, label=True)
                factor = 2**level
                factors.append((factor, factor, factor))
                _write_array(tmp_group, str(level), level_data, dtype=dtype, chunks=_check_chunks(chunks, level_data.shape))
            label_meta: dict[str, Any] = {"source": {"image": "../../"}}
            if minerals is not None:
                label_meta["properties"] = minerals.to_properties()
                label_meta["colors"] = minerals.to_colors()
            elif properties is not None:
                label_meta["properties"] = to_jsonable(list(properties))
            if self.ngff_version == "0.4":
                label_meta["version"] = "0.4"
            payload = {
                "multiscales": [_multiscales(name, self.voxel_size_um, n_levels, self.ngff_version, factors)],
                "image-label": label_meta,
            }
            _set_ome(tmp_group, self.ngff_version, payload)
            tmp_group.attrs[NAMESPACE] = {"provenance": [provenance_entry(step, parameters)]}
            replace_path(labels_path / tmp_name, labels_path / name, overwrite=overwrite)
        except BaseException:
            shutil.rmtree(labels_path / tmp_name, ignore_errors=True)
            raise
        names = self.label_names
        if name not in names:
            self._set_label_list([*names, name])
        self.add_provenance(step, {"label": name, **dict(parameters or {})})
        self._root = zarr.open_group(str(self.path), mode=self.mode)
        return self.label(name)

    def _ensure_labels_group(self) -> None:
        import zarr

        if "labels" not in self._root:
            group = zarr.open_group(str(self.path / "labels"), mode="a", zarr_format=self._zarr_format)
            _set_ome(group, self.ngff_version, {"labels": []})
            self._root = zarr.open_group(str(self.path), mode=self.mode)

    def _set_label_list(self, names: list[str]) -> None:
        group = self._labels_group()
        _set_ome(group, self.ngff_version, {"labels": list(names)})

    # --------------------------------------------------------------- metadata
    @property
    def metadata(self) -> dict:
        """Library metadata stored under the ``liberation`` attribute key."""
        return dict(self._root.attrs.get(NAMESPACE, {}))

    def set_metadata(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``liberation.<key>`` of the root group."""
        if self.mode != "r+":
            raise StoreError(f"{self.path} is open read-only; open it with mode='r+' to write metadata")
        meta = self.metadata
        meta[key] = to_jsonable(value)
        self._root.attrs[NAMESPACE] = meta

    @property
    def provenance(self) -> list[dict]:
        """Provenance records of the store, oldest first."""
        return list(self.metadata.get("provenance", []))

    def add_provenance(self, step: str, parameters: Mapping | None = None, inputs: Mapping | None = None) -> None:
        """Append a provenance record (step, parameters, version, time)."""
        self.set_metadata("provenance", [*self.provenance, provenance_entry(step, parameters, inputs)])

    def describe(self) -> dict:
        """A JSON-friendly summary: shape, dtype, voxel size, levels, labels, minerals, provenance."""
        image = self.image()
        labels = {}
        for name in self.label_names:
            arr = self.label(name)
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
        if t.get("type") == "scale":
            scale = [float(v) for v in t["scale"]][-3:]
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
        Number of extra levels, each downsampled 2x (mean).
    ngff_version : {"0.5", "0.4"}
        0.5 writes zarr v3 (default), 0.4 writes zarr v2.
    name : str, optional
        Image name in the metadata; default the folder name.
    step, parameters : str, mapping
        Provenance of the image.
    blocks : tuple, optional
        ``(shape, dtype, iterator)`` to stream the image: the iterator yields
        ``(z0, slab)`` with ``slab`` of shape (nz, y, x); used by TIFF import.
    """
    import zarr

    final = Path(path)
    voxel = as_voxel_size(voxel_size_um)
    zarr_format = _zarr_format(ngff_version)
    if final.exists() and not overwrite:
        raise OverwriteError(f"{final} already exists; pass overwrite=True (--overwrite) to replace it")
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
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=zarr_format)
        if blocks is None:
            level0 = _write_array(root, "0", ct, dtype=dtype, chunks=chunks)
        else:
            level0 = root.create_array("0", shape=shape, chunks=chunks, dtype=dtype, fill_value=0)
            for z0, slab in block_iter:
                level0[z0 : z0 + slab.shape[0]] = slab
        factors = [(1, 1, 1)]
        source = level0
        for level in range(1, int(pyramid_levels) + 1):
            down = _downsample(source, 2, label=False)
            if min(down.shape) < 1:
                break
            source = _write_array(root, str(level), down, dtype=dtype, chunks=_check_chunks(chunks, down.shape))
            factors.append((2**level,) * 3)
        payload = {"multiscales": [_multiscales(name or final.stem, voxel, len(factors), ngff_version, factors)]}
        _set_ome(root, ngff_version, payload)
        root.attrs[NAMESPACE] = {"provenance": [provenance_entry(step, parameters)]}
        replace_path(tmp, final, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SampleStore(final, mode="r+")
