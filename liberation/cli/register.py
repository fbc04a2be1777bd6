"""``liberation register``: register a 2D map into the CT volume of a sample store.

Writes one output folder (atomically; an existing one is replaced only with ``--overwrite``)::

    transform.json   matrix (4x4, map-frame (z, y, x) µm -> CT (z, y, x) µm), pose, quality figures
    qa.png           CT section | map edges over it | checkerboard
    qa_edges.png     map edges (yellow) over the matched CT section
    qa_checkerboard.png

With ``--labels LABELS.tif`` (integer ids on the map's pixel grid) the labelled plane is
added to ``labels/sparse`` of the store (merged with the planes already there; 255 = not
labelled) and the transform is stored in the store's metadata (``registrations``) and
provenance. A registration flagged as poor does not write labels unless ``--accept-poor``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation.errors import FileFormatError, InputError


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


@click.command("register")
@click.argument("store_path", metavar="SAMPLE.zarr", type=click.Path(path_type=Path))
@click.argument("map_file", metavar="MAP_FILE", type=click.Path(path_type=Path))
@click.option("--pixel-size", "pixel_size", type=float, default=None, help="Map pixel size in µm (required).")
@click.option("--axis", type=click.Choice(["z", "y", "x", "any"]), default="any", show_default=True,
              help="CT axis the map plane is perpendicular to ('any' searches all three).")
@click.option("--face", type=click.Choice(["any", "top", "bottom"]), default="any", show_default=True,
              help="Plane in the low-index (top) or high-index (bottom) half along the axis.")
@click.option("--labels", "labels_path", type=click.Path(path_type=Path), default=None,
              help="Label map on the map's pixel grid (TIFF/.npy): add the plane to labels/sparse.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder [default: MAP_FILE stem + '.registration' beside the map].")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--accept-poor", is_flag=True, help="Write labels even when the registration is flagged as poor.")
@click.option("--workers", type=int, default=None, help="Threads [default: all CPUs].")
def register(store_path, map_file, pixel_size, axis, face, labels_path, out_dir, overwrite, accept_poor, workers):
    """Register MAP_FILE (element map, SEM image or label map) into the CT of SAMPLE.zarr.

    Automatic coarse search (slice, rotation, mirror, translation) then Mattes mutual
    information refinement; writes transform.json and QA images to the output folder.
    """
    import warnings

    from liberation.io import open_store
    from liberation.registration import (
        RegistrationWarning,
        labels_to_sparse,
        merge_sparse_labels,
        plot_registration_qa,
        qa_images,
        register_map,
    )

    if pixel_size is None:
        raise InputError("--pixel-size is missing: give the map pixel size in µm")
    out_dir = out_dir if out_dir is not None else map_file.with_name(map_file.stem + ".registration")
    check_new_output(out_dir, overwrite=overwrite, what="--out")
    store = open_store(store_path, mode="r+" if labels_path is not None else "r")
    map_image = _read_map(map_file)
    labels = _read_labels(labels_path, map_image.shape) if labels_path is not None else None
    # the CT stays on disk: the coarse search reads a block-averaged copy slab by slab (from a pyramid
    # level when the store has one), the fine stage only slabs around the candidate planes
    ct = store.image(0)
    vs = store.voxel_size_um
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistrationWarning)
        result = register_map(ct, map_image, voxel_size_um=vs, pixel_size_um=pixel_size,
                              axis=None if axis == "any" else axis, face=face, workers=workers,
                              ct_pyramid=_pyramid(store))
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)

    payload = result.to_dict()
    payload["inputs"] = {"store": str(store_path), "map_file": str(map_file),
                         "labels": str(labels_path) if labels_path else None}
    qa = qa_images(ct, map_image, result)
    with atomic_dir(out_dir, overwrite=overwrite, what="--out") as tmp:
        (tmp / "transform.json").write_text(json.dumps(payload, indent=2))
        _save_png(qa["edges_overlay"], tmp / "qa_edges.png")
        _save_png(qa["checkerboard"], tmp / "qa_checkerboard.png")
        fig = plot_registration_qa(qa, title=f"{map_file.name} in {Path(store_path).name}",
                                   quality={"NMI": result.nmi, "contrast": result.contrast,
                                            "overlap": result.overlap_fraction, "poor": result.poor_quality})
        fig.savefig(tmp / "qa.png", dpi=110)
    click.echo(f"registered {map_file.name}: axis {'zyx'[result.axis]}, rotation {result.rotation_deg:.1f}°, "
               f"mirror {result.mirror}, tilt {result.tilt_deg:.2f}°, NMI {result.nmi:.4f} "
               f"(contrast {result.contrast:.2f}), overlap {100 * result.overlap_fraction:.0f}% -> {out_dir}")

    if labels is None:
        return
    if result.poor_quality and not accept_poor:
        click.echo("error: labels not written to labels/sparse: the registration is flagged as poor "
                   "(check the QA images; --accept-poor writes them anyway)", err=True)
        raise click.exceptions.Exit(1)
    plane = labels_to_sparse(labels, result.matrix, ct_shape=ct.shape, voxel_size_um=vs, pixel_size_um=result.pixel_size_um)
    if store.has_label("sparse"):
        plane = merge_sparse_labels(np.asarray(store.label("sparse")), plane, conflict="new")
    entry = {"map_file": str(map_file), "labels": str(labels_path), "matrix": payload["matrix"],
             "pixel_size_um": result.pixel_size_um, "map_shape": list(result.map_shape),
             "quality": {k: payload[k] for k in ("mi", "nmi", "nmi_null", "contrast", "overlap_fraction",
                                                 "overlap_area_um2", "mattes_mi", "poor_quality")}}
    store.write_label("sparse", plane, overwrite=True, step="register",
                      parameters={"map_file": str(map_file), "labels": str(labels_path), "matrix": payload["matrix"]})
    registrations = list(store.metadata.get("registrations", []))
    store.set_metadata("registrations", [*registrations, entry])
    store.add_provenance("register", entry)
    n = int(np.count_nonzero(plane != 255))
    click.echo(f"labels/sparse now has {n} labelled voxels")
