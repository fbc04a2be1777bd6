"""The step behind ``liberation deploy fragments``: sizes and size distribution into a folder (no click, no torch)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation._json import to_jsonable
from liberation.errors import InputError

__all__ = ["guess_kind", "measure_fragments", "parse_ruler"]


def parse_ruler(text: str) -> tuple[float, ...]:
    """``"X0,Y0,X1,Y1,LENGTH_CM"`` -> five floats (ruler end points in pixels, its length in cm)."""
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 5:
        raise InputError(f"--ruler {text!r}; expected X0,Y0,X1,Y1,LENGTH_CM (pixel end points and length in cm)")
    return vals


def guess_kind(arr: np.ndarray) -> str:
    """``mask``, ``labels`` or ``image``.

    An integer image with two values is a mask; one whose non-zero pixels nearly all share
    their value with their right and lower neighbours (piecewise-constant regions) is a
    label image; anything else is a grey image.
    """
    if arr.dtype == bool:
        return "mask"
    if arr.dtype.kind not in "ui":
        return "image"
    if np.unique(arr).size <= 2:
        return "mask"
    nz_x = (arr[:, 1:] > 0) | (arr[:, :-1] > 0)
    nz_y = (arr[1:, :] > 0) | (arr[:-1, :] > 0)
    same = (arr[:, 1:] == arr[:, :-1])[nz_x].sum() + (arr[1:, :] == arr[:-1, :])[nz_y].sum()
    total = nz_x.sum() + nz_y.sum()
    return "labels" if total and same / total > 0.9 else "image"


def measure_fragments(
    image_or_mask: str | os.PathLike,
    out: str | os.PathLike,
    *,
    ruler: tuple[float, ...] | None = None,
    pixel_size_mm: float | None = None,
    boxes: str | os.PathLike | None = None,
    k: float = 0.86,
    input_kind: str = "auto",
    dark: bool = False,
    min_area: int = 20,
    weights: str = "volume",
    oversize: float | None = None,
    max_oversize: float = 0.0,
    overwrite: bool = False,
) -> dict:
    """Fragment sizes and the size distribution of one image, mask, label image or box table.

    Writes ``out/fragments.csv`` (area_cm2, ecd_cm, length_cm, width_cm per fragment),
    ``out/distribution.csv`` (passing curve), ``out/summary.json`` and ``out/distribution.png``.

    Parameters
    ----------
    image_or_mask : path-like
        A label image (integer ids), a binary mask or a grey image (Otsu + watershed).
    out : path-like
        Output folder (refused if it exists unless ``overwrite``).
    ruler : tuple of 5 float, optional
        Ruler end points (pixels) and length (cm); give this or ``pixel_size_mm``.
    pixel_size_mm : float, optional
        Pixel size in mm.
    boxes : path-like, optional
        CSV of detection boxes (``x0,y0,x1,y1`` in pixels): sizes from boxes with factor ``k``.
    input_kind : {"auto", "labels", "mask", "image"}
        How to read ``image_or_mask`` (auto: :func:`guess_kind`).
    dark : bool
        Grey image: fragments darker than the belt.
    min_area : int
        Smallest fragment kept (pixels).
    weights : {"volume", "area", "number"}
        Weighting of the passing curve.
    oversize, max_oversize : float
        Oversize limit (cm, ECD) and the tolerated weight fraction above it.

    Returns
    -------
    dict
        ``fragments`` (DataFrame), ``distribution`` (SizeDistribution), ``source``,
        ``summary`` (as written), ``out``.
    """
    import pandas as pd

    from liberation.deploy.fragments.distribution import plot_size_distribution, size_distribution
    from liberation.deploy.fragments.sizing import (
        box_sizes,
        drop_ruler,
        fragment_sizes,
        pixel_size_from_ruler,
        segment_fragments,
    )
    from liberation.io.images import read_image

    if (ruler is None) == (pixel_size_mm is None):
        raise InputError("give exactly one of --ruler X0,Y0,X1,Y1,LENGTH_CM or --pixel-size MM")
    check_new_output(out, overwrite=overwrite, what="output folder",
                     inputs=[p for p in (image_or_mask, boxes) if p is not None])
    if ruler is not None:
        pixel_size_um = pixel_size_from_ruler(*ruler)
    else:
        if not pixel_size_mm > 0:
            raise InputError(f"--pixel-size {pixel_size_mm}; expected a positive pixel size in mm")
        pixel_size_um = pixel_size_mm * 1000.0
    if boxes is not None:
        table = pd.read_csv(boxes)
        missing = {"x0", "y0", "x1", "y1"} - set(table.columns)
        if missing:
            raise InputError(f"--boxes {boxes} lacks columns {sorted(missing)}; expected x0,y0,x1,y1 (pixels)")
        df = box_sizes(table[["x0", "y0", "x1", "y1"]].to_numpy(), pixel_size_um=pixel_size_um, k=k)
        source = "boxes"
    else:
        arr = read_image(image_or_mask)
        kind = guess_kind(arr) if input_kind == "auto" else input_kind
        if kind in ("labels", "mask") and arr.dtype.kind not in "uib":
            raise InputError(f"{image_or_mask} has dtype {arr.dtype}; --input {kind} needs integer values")
        if kind == "mask":
            labels = arr > 0
            source = "mask"
        elif kind == "labels":
            labels = arr.astype(np.int64)
            source = "labels"
        else:
            labels = segment_fragments(arr, bright=not dark, min_area_px=min_area)
            source = "grey image (Otsu + watershed)"
        if ruler is not None and source.startswith("grey"):
            labels = drop_ruler(labels, ruler=ruler)
        df = fragment_sizes(labels, pixel_size_um=pixel_size_um, min_area_px=min_area)
    if len(df) == 0:
        raise InputError(f"no fragments found in {image_or_mask} (source: {source}, min area {min_area} px)")
    dist = size_distribution(df["ecd_cm"].to_numpy(), weights=weights, oversize_limit=oversize,
                             max_oversize_fraction=max_oversize)
    summary = {"source": source, "pixel_size_um": pixel_size_um, "size_measure": "ecd_cm", **dist.summary()}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        df.to_csv(tmp / "fragments.csv", index=False)
        dist.curve.rename(columns={"size": "ecd_cm"}).to_csv(tmp / "distribution.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(to_jsonable(summary), indent=2))
        fig = plot_size_distribution(dist, title=Path(image_or_mask).name)
        fig.savefig(tmp / "distribution.png", dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
    return {"fragments": df, "distribution": dist, "source": source, "summary": summary, "out": Path(out)}
