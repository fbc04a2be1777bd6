"""A 2D map registered into the CT volume of a sample store (``liberation register``).

Writes one output folder (atomically; an existing one is replaced only with ``overwrite=True``)::

    transform.json   matrix (4x4, map-frame (z, y, x) µm -> CT (z, y, x) µm), pose, quality figures
    qa.png           CT section | map edges over it | checkerboard
    qa_edges.png     map edges (yellow) over the matched CT section
    qa_checkerboard.png

With ``labels=LABELS.tif`` (integer ids on the map's pixel grid) the labelled plane is added
to ``labels/sparse`` of the store (merged with the planes already there; 255 = not labelled)
and the transform is appended to the store's metadata (``registrations``, under the store's
lock, so two runs at once keep both records). A registration flagged as poor does not write
labels unless ``accept_poor=True``.

Mineral names travel with the labels: the ``minerals.csv`` beside the label map (a
``liberation labels`` folder) gives the name, colour, density and composition of each id;
they become the ``image-label`` properties of ``labels/sparse``. A second face merges by
name: a mineral already in ``labels/sparse`` keeps its id there (the new map is renumbered),
a new mineral is added. A cluster that no reference named (``"cluster <c>"``) is not a
mineral and stays unlabelled (255). Where a new plane overlaps labelled voxels of an earlier
one, the later registration wins (the voxels take the new labels). One mineral name with two
different densities is refused.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation.errors import FileFormatError, InputError


@dataclass(frozen=True)
class RegisterRun:
    """What :func:`register_map_file` did.

    Attributes
    ----------
    out_dir : Path
        The folder with ``transform.json`` and the QA images.
    result : RegistrationResult
        The registration (:func:`liberation.registration.register_map`).
    warnings : tuple of str
        The registration warnings (``RegistrationWarning`` messages).
    labels_written : bool
        The labelled plane was added to ``labels/sparse``.
    labels_refused : bool
        Labels were given but not written: the registration is flagged as poor and
        ``accept_poor`` is false.
    n_labelled : int or None
        Labelled voxels in ``labels/sparse`` after the merge (None when nothing was written).
    """

    out_dir: Path
    result: Any
    warnings: tuple[str, ...] = ()
    labels_written: bool = False
    labels_refused: bool = False
    n_labelled: int | None = None


def _read_labels(path: Path, shape: tuple[int, int]) -> np.ndarray:
    if not path.is_file():
        raise FileFormatError(f"--labels {path} does not exist")
    if path.suffix.lower() == ".npy":
        data = np.load(path, allow_pickle=False)
    else:
        import tifffile

        try:
            data = tifffile.imread(path)
        except Exception as exc:  # tifffile raises many kinds
            raise FileFormatError(f"cannot read label TIFF {path}: {exc}") from None
    data = np.squeeze(np.asarray(data))
    if data.ndim != 2 or np.dtype(data.dtype).kind not in "ui":
        raise FileFormatError(f"--labels {path} has shape {data.shape} and dtype {data.dtype}; expected a 2D integer label map")
    if data.shape != tuple(shape):
        raise InputError(f"--labels {path} has shape {data.shape}; expected the map's shape {tuple(shape)}")
    if data.min() < 0 or data.max() > 255:
        raise InputError(f"--labels {path} has ids {data.min()}..{data.max()}; expected 0..254 (255 = unlabelled)")
    return data.astype(np.uint8)


def _read_map(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise FileFormatError(f"map file {path} does not exist")
        return np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
    from liberation.io.xrf import read_map_file

    return read_map_file(path)


def _pyramid(store) -> list:
    """The store's downsampled CT levels with their integer block factors (level shapes / full shape)."""
    full = np.asarray(store.image(0).shape)
    levels = []
    for level in range(1, len(store.level_paths)):
        arr = store.image(level)
        factors = tuple(int(v) for v in np.maximum(1, np.rint(full / np.maximum(np.asarray(arr.shape), 1))))
        levels.append((arr, factors))
    return levels


def _save_png(array: np.ndarray, path: Path, *, cmap: str | None = "gray") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(path, np.nan_to_num(array), cmap=cmap if array.ndim == 2 else None)


def default_out_dir(map_file: str | os.PathLike) -> Path:
    """The default output folder: ``maps/face.tif`` -> ``maps/face.registration``."""
    map_file = Path(map_file)
    return map_file.with_name(map_file.stem + ".registration")


def register_map_file(
    store_path: str | os.PathLike,
    map_file: str | os.PathLike,
    *,
    pixel_size_um: float | None,
    axis: str | None = None,
    face: str = "any",
    labels: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    accept_poor: bool = False,
    workers: int | None = None,
) -> RegisterRun:
    """Register a map file into the CT of a store; write the transform and QA images, optionally labels.

    Automatic coarse search (slice, rotation, mirror, translation) then Mattes mutual
    information refinement. The CT stays on disk: the coarse search reads a block-averaged
    copy slab by slab (from a pyramid level when the store has one), the fine stage only
    slabs around the candidate planes.

    Parameters
    ----------
    store_path : str or Path
        The sample store (opened read-write only when ``labels`` is given).
    map_file : str or Path
        Element map, SEM image or label map (TIFF, image or ``.npy``), shape (rows, cols).
    pixel_size_um : float
        Map pixel size in µm (required).
    axis : {"z", "y", "x"}, optional
        CT axis the map plane is perpendicular to (None searches all three).
    face : {"any", "top", "bottom"}
        Plane in the low-index (top) or high-index (bottom) half along the axis.
    labels : str or Path, optional
        Label map on the map's pixel grid (uint8 ids, 255 = unlabelled): add the plane to
        ``labels/sparse``.
    out_dir : str or Path, optional
        Output folder (default :func:`default_out_dir` of the map file).
    overwrite : bool
        Replace an existing output folder.
    accept_poor : bool
        Write labels even when the registration is flagged as poor.
    workers : int, optional
        Threads (default all CPUs).

    Returns
    -------
    RegisterRun
    """
    from liberation.io import open_store
    from liberation.registration import (
        RegistrationWarning,
        labels_to_sparse,
        merge_sparse_labels,
        plot_registration_qa,
        qa_images,
        register_map,
    )

    if pixel_size_um is None:
        raise InputError("--pixel-size is missing: give the map pixel size in µm")
    map_file = Path(map_file)
    labels_path = Path(labels) if labels is not None else None
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(map_file)
    inputs = [p for p in (store_path, map_file, labels_path) if p is not None]
    check_new_output(out_dir, overwrite=overwrite, what="--out", inputs=inputs)
    store = open_store(store_path, mode="r+" if labels_path is not None else "r")
    map_image = _read_map(map_file)
    label_map = _read_labels(labels_path, map_image.shape) if labels_path is not None else None
    ct = store.image(0)
    vs = store.voxel_size_um
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistrationWarning)
        result = register_map(ct, map_image, voxel_size_um=vs, pixel_size_um=pixel_size_um, axis=axis, face=face,
                              workers=workers, ct_pyramid=_pyramid(store))
    messages = tuple(str(w.message) for w in caught)

    payload = result.to_dict()
    payload["inputs"] = {"store": str(store_path), "map_file": str(map_file),
                         "labels": str(labels_path) if labels_path else None}
    qa = qa_images(ct, map_image, result)
    with atomic_dir(out_dir, overwrite=overwrite, what="--out", inputs=inputs) as tmp:
        (tmp / "transform.json").write_text(json.dumps(payload, indent=2))
        _save_png(qa["edges_overlay"], tmp / "qa_edges.png")
        _save_png(qa["checkerboard"], tmp / "qa_checkerboard.png")
        fig = plot_registration_qa(qa, title=f"{map_file.name} in {Path(store_path).name}",
                                   quality={"NMI": result.nmi, "contrast": result.contrast,
                                            "overlap": result.overlap_fraction, "poor": result.poor_quality})
        fig.savefig(tmp / "qa.png", dpi=110)
    run = RegisterRun(out_dir=out_dir, result=result, warnings=messages)
    if label_map is None:
        return run
    if result.poor_quality and not accept_poor:
        return RegisterRun(out_dir=out_dir, result=result, warnings=messages, labels_refused=True)
    with store.lock():  # read-merge-write of labels/sparse: two runs at once must not lose a plane
        existing = store.label_properties("sparse") if store.has_label("sparse") else []
        properties, label_map, label_notes = _named_labels(labels_path, label_map, existing)
        messages = (*messages, *label_notes)
        plane = labels_to_sparse(label_map, result.matrix, ct_shape=ct.shape, voxel_size_um=vs,
                                 pixel_size_um=result.pixel_size_um)
        if store.has_label("sparse"):
            plane = merge_sparse_labels(np.asarray(store.label("sparse")), plane, conflict="new")
        entry = {"map_file": str(map_file), "labels": str(labels_path), "matrix": payload["matrix"],
                 "pixel_size_um": result.pixel_size_um, "map_shape": list(result.map_shape),
                 "minerals": [p["name"] for p in properties],
                 "quality": {k: payload[k] for k in ("mi", "nmi", "nmi_null", "contrast", "overlap_fraction",
                                                     "overlap_area_um2", "mattes_mi", "pose_se_vox",
                                                     "structure_px", "poor_quality")}}
        store.write_label("sparse", plane, properties=properties or None, overwrite=True, step="register",
                          parameters={"map_file": str(map_file), "labels": str(labels_path),
                                      "matrix": payload["matrix"]})
    store.append_metadata("registrations", entry)
    return RegisterRun(out_dir=out_dir, result=result, warnings=messages, labels_written=True,
                       n_labelled=int(np.count_nonzero(plane != 255)))


def _named_labels(labels_path: Path, label_map: np.ndarray, existing: list[dict]) -> tuple[list[dict], np.ndarray, list[str]]:
    """The minerals of the label folder merged with those of ``labels/sparse``; the map renumbered to them."""
    from liberation.workflows._minerals import merge_properties, read_label_minerals, relabel

    found = read_label_minerals(labels_path)
    if found is None:  # a bare label map: ids as they are, the store's names kept
        return existing, label_map, [f"{labels_path.parent / 'minerals.csv'} not found: the ids of {labels_path.name} "
                                     "go into labels/sparse without mineral names"]
    new, unnamed = found
    properties, remap = merge_properties(existing, new)
    relabelled, unknown = relabel(label_map, remap, unnamed=unnamed)
    notes = []
    if unnamed:
        n = int(np.isin(label_map, unnamed).sum())
        notes.append(f"{n} pixels of {len(unnamed)} cluster(s) no reference names (ids {unnamed}) stay unlabelled "
                     "(255) in labels/sparse")
    if unknown:
        notes.append(f"ids {unknown} of {labels_path.name} are not in minerals.csv: unlabelled (255) in labels/sparse")
    return properties, relabelled, notes
