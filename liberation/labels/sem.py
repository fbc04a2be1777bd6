"""SEM/MLA classified images -> mineral label maps (colour lookup), with unknown colours reported."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList, _hex_to_rgba

__all__ = ["check_colors", "labels_from_ids", "labels_from_rgb"]


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _hex(code: int) -> str:
    return f"#{int(code):06x}"


def check_colors(minerals: MineralList, *, background: Iterable[str] = ()) -> None:
    """Raise :class:`InputError` if two minerals (or a mineral and a background colour) share a colour."""
    seen: dict[str, str] = {}
    for color in background:
        seen[_hex(_pack(np.array(_hex_to_rgba(color)[:3])))] = "background"
    for m in minerals:
        key = _hex(_pack(np.array(_hex_to_rgba(m.color)[:3])))
        if key in seen:
            raise InputError(f"colour clash: {m.name!r} and {seen[key]!r} both have colour {key}; "
                             "each mineral needs its own colour")
        seen[key] = m.name


def labels_from_rgb(
    rgb: np.ndarray,
    minerals: MineralList,
    *,
    background: Iterable[str] = ("#000000",),
    tolerance: int = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Mineral ids of a classified RGB image by colour lookup.

    Parameters
    ----------
    rgb : numpy.ndarray
        (y, x, 3) or (y, x, 4) uint8 image.
    minerals : MineralList
        Colours of the minerals (each unique).
    background : iterable of str
        Colours that mean outside/background (id 0).
    tolerance : int
        Largest per-channel difference (0..255) for a pixel to take a mineral's colour (nearest
        colour wins); 0 = exact colours (lossless classified images).

    Returns
    -------
    labels : numpy.ndarray
        (y, x) uint8 ids; 0 = background or unknown colour.
    unknown : pandas.DataFrame
        Colours matching no mineral and no background: columns ``color`` (hex), ``pixels``,
        ``percent`` (of the non-background pixels), most frequent first. Empty if none.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
        raise InputError(f"rgb has shape {rgb.shape}; expected (y, x, 3) or (y, x, 4)")
    if not 0 <= int(tolerance) <= 255:
        raise InputError(f"tolerance={tolerance!r}; expected 0..255")
    background = list(background)
    check_colors(minerals, background=background)
    codes, inverse = np.unique(_pack(rgb[..., :3]).ravel(), return_inverse=True)
    palette = np.array([_hex_to_rgba(m.color)[:3] for m in minerals] + [_hex_to_rgba(c)[:3] for c in background],
                       dtype=np.int32).reshape(-1, 3)
    ids = np.array([m.id for m in minerals] + [0] * len(background), dtype=np.uint8)
    colours = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1).astype(np.int32)
    diff = np.abs(colours[:, None, :] - palette[None, :, :]).max(axis=2)  # (n_colours, n_palette)
    nearest = np.argmin(diff, axis=1)
    matched = diff[np.arange(codes.size), nearest] <= int(tolerance)
    code_ids = np.where(matched, ids[nearest], 0).astype(np.uint8)
    labels = code_ids[inverse].reshape(rgb.shape[:2])
    counts = np.bincount(inverse, minlength=codes.size)
    is_background = matched & (ids[nearest] == 0)
    sample_pixels = max(int(counts[~is_background].sum()), 1)
    unknown_idx = np.flatnonzero(~matched)
    unknown_idx = unknown_idx[np.argsort(-counts[unknown_idx], kind="stable")]
    unknown = pd.DataFrame({"color": [_hex(codes[i]) for i in unknown_idx],
                            "pixels": counts[unknown_idx].astype(np.int64),
                            "percent": 100.0 * counts[unknown_idx] / sample_pixels})
    return labels, unknown


def labels_from_ids(image: np.ndarray, minerals: MineralList) -> tuple[np.ndarray, pd.DataFrame]:
    """Check an image of mineral ids (grey values = ids, 0 = background) against a mineral list.

    Returns
    -------
    labels : numpy.ndarray
        uint8 ids; values not in the list become 0.
    unknown : pandas.DataFrame
        Columns ``value``, ``pixels``, ``percent`` of the values not in the list.
    """
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype.kind not in "ui":
        raise InputError(f"image has shape {image.shape} and dtype {image.dtype}; expected a 2D integer id image")
    values, counts = np.unique(image, return_counts=True)
    known = np.isin(values, [0, *minerals.ids])
    lut_max = int(values.max()) + 1
    lut = np.zeros(lut_max, dtype=np.uint8)
    for v, k in zip(values, known):
        lut[int(v)] = int(v) if k else 0
    labels = lut[image]
    sample = max(int(counts[values != 0].sum()), 1)
    unknown = pd.DataFrame({"value": values[~known].astype(np.int64), "pixels": counts[~known].astype(np.int64),
                            "percent": 100.0 * counts[~known] / sample})
    return labels, unknown.sort_values("pixels", ascending=False, kind="stable").reset_index(drop=True)
