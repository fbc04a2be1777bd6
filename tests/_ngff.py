"""Independent checks of the OME-NGFF stores the library writes (used by several test files).

ome-zarr-models (the pydantic schema of the spec, 0.4 and 0.5) validates the image, the labels
group and every label image; ome-zarr-py (another reader) must read every level of each.
ngff-zarr is not installed in the project's environment, so it is not used here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def assert_valid_ngff(path) -> dict:
    """Validate the store at ``path`` with ome-zarr-models and read it with ome-zarr-py.

    Returns ``{"version": "0.5" | "0.4", "image": [level shapes], "labels": {name: [level shapes]}}``.
    """
    import zarr

    group = zarr.open_group(str(path), mode="r")
    version = "0.5" if group.metadata.zarr_format == 3 else "0.4"
    if version == "0.5":
        from ome_zarr_models.v05 import Image, ImageLabel, Labels
    else:
        from ome_zarr_models.v04 import Image, ImageLabel, Labels
    Image.from_zarr(group)  # validates the labels group and its label images too
    image_shapes = [tuple(group[p].shape) for p in _paths(group, version)]
    label_shapes = {}
    if "labels" in group:
        Labels.from_zarr(group["labels"])
        for name in _label_names(group["labels"], version):
            ImageLabel.from_zarr(group["labels"][name])
            label_shapes[name] = [tuple(group["labels"][name][p].shape) for p in _paths(group["labels"][name], version)]
    if version == "0.5":  # every array names its dimensions (NGFF 0.5 requires dimension_names)
        for arr_path in [*_paths(group, version)] + [f"labels/{n}/{p}" for n in label_shapes
                                                     for p in _paths(group["labels"][n], version)]:
            assert group[arr_path].metadata.dimension_names == ("z", "y", "x"), arr_path
    _assert_ome_zarr_py_reads(Path(path), image_shapes, label_shapes)
    return {"version": version, "image": image_shapes, "labels": label_shapes}


def _ome(group, version: str) -> dict:
    attrs = dict(group.attrs)
    return dict(attrs["ome"]) if version == "0.5" else attrs


def _paths(group, version: str) -> list[str]:
    return [d["path"] for d in _ome(group, version)["multiscales"][0]["datasets"]]


def _label_names(group, version: str) -> list[str]:
    return list(_ome(group, version)["labels"])


def _assert_ome_zarr_py_reads(path: Path, image_shapes, label_shapes) -> None:
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    nodes = list(Reader(parse_url(str(path)))())
    assert [tuple(level.shape) for level in nodes[0].data] == image_shapes
    found = {n.metadata.get("name"): n for n in nodes[1:]}
    for name, shapes in label_shapes.items():
        assert name in found, f"ome-zarr-py did not find labels/{name}"
        assert [tuple(level.shape) for level in found[name].data] == shapes
        np.asarray(found[name].data[-1])  # the coarsest level decodes
