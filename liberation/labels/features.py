"""Feature stack for clustering: element maps, an optional CT slice on the map grid, extra channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.labels.preprocess import check_maps, scale_maps

__all__ = ["FeatureStack", "feature_stack", "resample_to_grid"]


def resample_to_grid(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a 2D image (e.g. a co-registered CT slice) onto a map grid of ``shape``.

    Whole-number reductions are exact block means (a 10 µm CT slice onto a 40 µm map grid is
    a 4 x 4 block mean, as in Deep-XFCT); other ratios use anti-aliased linear interpolation
    (:func:`skimage.transform.resize`). The image must cover the same field of view as the map.

    Parameters
    ----------
    image : numpy.ndarray
        (y, x) image.
    shape : (int, int)
        Target map shape.

    Returns
    -------
    numpy.ndarray
        float32 image of ``shape``.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise InputError(f"image has shape {image.shape}; expected a 2D slice")
    shape = tuple(int(s) for s in shape)
    if image.shape == shape:
        return image.astype(np.float32)
    fy, fx = image.shape[0] / shape[0], image.shape[1] / shape[1]
    if fy == fx and fy == int(fy) and fy >= 1:
        f = int(fy)
        return image.astype(np.float32).reshape(shape[0], f, shape[1], f).mean(axis=(1, 3))
    from skimage.transform import resize

    return resize(image.astype(np.float32), shape, order=1, anti_aliasing=fy > 1 or fx > 1,
                  preserve_range=True).astype(np.float32)


@dataclass
class FeatureStack:
    """Pixels of the sample as rows of features.

    Attributes
    ----------
    features : numpy.ndarray
        (n_pixels, n_channels) float32, scaled, for the pixels where ``mask`` is True (row-major order).
    channels : list of str
        Channel names (elements, then ``"CT"``, then extra channels).
    mask : numpy.ndarray
        (y, x) bool sample mask.
    raw : numpy.ndarray
        (n_pixels, n_channels) float32 in the input units (before denoising and scaling).
    scaling : pandas.DataFrame
        Per channel ``offset`` and ``scale`` (see :func:`~liberation.labels.preprocess.scale_maps`).
    """

    features: np.ndarray
    channels: list
    mask: np.ndarray
    raw: np.ndarray
    scaling: pd.DataFrame

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.mask.shape)


def feature_stack(
    maps: Mapping[str, np.ndarray],
    *,
    elements: Sequence[str] | None = None,
    ct: np.ndarray | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    scaling: str = "noise",
    raw_maps: Mapping[str, np.ndarray] | None = None,
    weights: Mapping[str, float] | None = None,
) -> FeatureStack:
    """Stack element maps (and a CT slice, and extra channels) into a feature matrix of the sample pixels.

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray
        Element -> (y, x) map (already denoised if wanted).
    elements : sequence of str, optional
        Elements to use, in this order (default: all of ``maps``).
    ct : numpy.ndarray, optional
        CT slice; resampled onto the map grid with :func:`resample_to_grid` and added as channel ``"CT"``.
    extra : mapping of str to numpy.ndarray, optional
        Other channels (an optical photo's bands), resampled onto the map grid.
    mask : numpy.ndarray of bool, optional
        Sample pixels (default: all).
    scaling : {"noise", "8bit", "zscore", "poisson", "none"}
        Per-channel scaling (:func:`~liberation.labels.preprocess.scale_maps`).
    raw_maps : mapping of str to numpy.ndarray, optional
        Maps in the input units for :attr:`FeatureStack.raw` (default: ``maps``); pass the maps
        before denoising so that centroid tables are in the units of the input.
    weights : mapping of str to float, optional
        Multiply a scaled channel (e.g. ``{"CT": 2.0}`` for more weight on the CT grey value).

    Returns
    -------
    FeatureStack
    """
    shape = check_maps(maps)
    if elements is None:
        elements = list(maps)
    unknown = [e for e in elements if e not in maps]
    if unknown:
        raise InputError(f"elements {unknown} are not among the maps {list(maps)}")
    channels = {str(e): np.asarray(maps[e]) for e in elements}
    raw_source = dict(raw_maps) if raw_maps is not None else dict(maps)
    raw_channels = {str(e): np.asarray(raw_source.get(e, maps[e])) for e in elements}
    if ct is not None:
        if "CT" in channels:
            raise InputError("a map is already named 'CT'; rename it or do not pass ct")
        ct_grid = resample_to_grid(ct, shape)
        channels["CT"] = ct_grid
        raw_channels["CT"] = ct_grid
    for key, value in (extra or {}).items():
        if key in channels:
            raise InputError(f"extra channel {key!r} clashes with an existing channel name")
        value = np.asarray(value)
        if value.ndim != 2:
            raise InputError(f"extra[{key!r}] has shape {value.shape}; expected a 2D image")
        channels[key] = raw_channels[key] = resample_to_grid(value, shape)
    if mask is None:
        mask = np.ones(shape, dtype=bool)
    else:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != shape:
            raise InputError(f"mask has shape {mask.shape}; expected the map shape {shape}")
    n = int(mask.sum())
    if n == 0:
        raise InputError("mask is empty: no sample pixel to cluster")
    scaled, table = scale_maps(channels, method=scaling, mask=mask)
    names = list(channels)
    features = np.empty((n, len(names)), dtype=np.float32)
    raw = np.empty((n, len(names)), dtype=np.float32)
    for j, key in enumerate(names):
        features[:, j] = scaled[key][mask]
        raw[:, j] = raw_channels[key][mask]
    for key, w in (weights or {}).items():
        if key not in names:
            raise InputError(f"weights names channel {key!r}, which is not among {names}")
        features[:, names.index(key)] *= float(w)
    return FeatureStack(features=features, channels=names, mask=mask, raw=raw, scaling=table)
