"""Independent checks of the OME-NGFF stores the library writes (used by several test files).

Three independent tools, each maintained apart from this library:

- ome-zarr-models (the pydantic schema of the spec, 0.4 and 0.5) validates the image, the labels
  group and every label image;
- ngff-zarr validates the image and every label image against the spec's JSON schemas (``image``,
  ``label``) and its structural rules (``from_ngff_zarr(..., validate=True)``), and must read every
  level with the shapes, scales and translations the store declares;
- ome-zarr-py (another reader) must read every level of each.

ngff-zarr is optional (dev extra): without it, only the other two run.
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
    _assert_ngff_zarr_validates(Path(path), group, version, image_shapes, label_shapes)
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


def _assert_ngff_zarr_validates(path: Path, group, version: str, image_shapes, label_shapes) -> None:
    try:
        import ngff_zarr
    except ImportError:  # optional: the dev extra installs it
        return
    import jsonschema  # ngff-zarr's [validate] extra; its validate() raises ImportError without it  # noqa: F401

    root = _ome(group, version)["multiscales"][0]["datasets"]
    items = [("", "image", image_shapes)] + [(f"labels/{n}", "label", s) for n, s in label_shapes.items()]
    for sub, model, shapes in items:
        node = group[sub] if sub else group
        ngff_zarr.validate(dict(node.attrs), version=version, model=model)  # the spec's JSON schema
        if model == "label":
            ngff_zarr.validate(dict(node.attrs), version=version, model="image")  # a label image is an image too
        ms = ngff_zarr.from_ngff_zarr(path / sub if sub else path, validate=True)  # schema + structural rules
        assert [tuple(im.data.shape) for im in ms.images] == shapes, sub
        declared = _ome(node, version)["multiscales"][0]["datasets"]
        for k, (im, ds) in enumerate(zip(ms.images, declared, strict=True)):
            scale, translation = (t[t["type"]] for t in ds["coordinateTransformations"])
            assert [im.scale[a] for a in ("z", "y", "x")] == scale, (sub, k)
            assert [im.translation[a] for a in ("z", "y", "x")] == translation, (sub, k)
            assert im.dims == ("z", "y", "x") and im.axes_units == {a: "micrometer" for a in "zyx"}, (sub, k)
        # every label level sits exactly where the image level does
        assert [d["coordinateTransformations"] for d in declared] == [d["coordinateTransformations"] for d in root], sub
        np.testing.assert_array_equal(np.asarray(ms.images[-1].data), node[declared[-1]["path"]][...])
