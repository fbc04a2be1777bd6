"""Preprocessing of belt frames for the segmenter (numpy only; used by training and the runtime).

Detector counts become log attenuation ``-ln(I / I0)``. The open-beam level ``I0`` is
either fixed (a number, e.g. the detector's calibrated open beam) or ``"auto"``: estimated
per frame from the belt background by :func:`estimate_open_beam`, so a frame of any gain,
bit depth or scale (8-bit at 235, 16-bit at 60000, ...) gives the same attenuation.
Frames are padded to multiples of 32 pixels for the network.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from liberation.errors import InputError

__all__ = ["belt_attenuation", "estimate_open_beam", "pad_to_multiple", "parse_i0", "prepare_belt_inputs"]

#: Smallest share of the frame the belt mode must hold, relative to the tallest histogram peak.
_MODE_RELATIVE_HEIGHT = 0.15


def parse_i0(value) -> float | str | None:
    """``"auto"``, a positive number, or None (frames are attenuation already).

    Raises
    ------
    InputError
        For anything else (names the value and what is expected).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"i0={value!r} is not 'auto' or a number; expected 'auto' or an open-beam count > 1") from None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"i0={value!r} is not 'auto' or a number; expected 'auto' or an open-beam count > 1") from None
    if not (np.isfinite(value) and value > 1):
        raise InputError(f"i0={value!r} must be a finite open-beam count above 1 (or 'auto')")
    return value


def estimate_open_beam(frames, *, per_frame: bool = True, bins: int = 512) -> np.ndarray | float:
    """Open-beam (bare belt) level of detector frames, from the belt background mode.

    The bare belt is the brightest *populous* grey level of a transmission frame:
    fragments, fines and dust only darken it, hot pixels are too few to form a mode. In
    log counts a histogram (``bins`` bins between the 0.1 and 99.99th percentiles,
    smoothed) is searched for its peaks; the belt mode is the brightest peak at least
    15 % as tall as the tallest one, so a frame 70 % covered by fragments (whose grey
    levels spread over a wide range) still has its belt found. The level is the median of
    the pixels within the mode's width (measured on its bright, fragment-free side), so
    it is unbiased by noise and by the quantisation of 8-bit frames.

    Parameters
    ----------
    frames : array_like, (y, x) or (n, y, x)
        Detector counts (any scale or dtype; no dark offset subtracted).
    per_frame : bool
        One level per frame (default) or one pooled level for the run of frames.
    bins : int
        Histogram bins in log counts.

    Returns
    -------
    float or ndarray, (n,)
        Estimated belt level in counts: a float for one frame (or ``per_frame=False``),
        else one value per frame.

    Raises
    ------
    InputError
        When a frame has no positive counts or no usable range.
    """
    arr = np.asarray(frames)
    if arr.ndim not in (2, 3):
        raise InputError(f"frames have shape {arr.shape}; expected (y, x) or (n, y, x)")
    if arr.ndim == 2 or not per_frame:
        return _belt_level(arr.ravel(), bins=bins)
    return np.array([_belt_level(f.ravel(), bins=bins) for f in arr], np.float64)


def _belt_level(values: np.ndarray, *, bins: int) -> float:
    v = values.astype(np.float64, copy=False)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 16:
        raise InputError("a frame has fewer than 16 positive counts; cannot estimate its open beam (pass i0=VALUE)")
    lv = np.log(v)
    lo, hi = np.percentile(lv, [0.1, 99.99])
    if not hi > lo:
        return float(np.exp(hi))
    # integer frames: bins no finer than one count at the top, so 8-bit levels do not comb the histogram
    hist, edges = np.histogram(lv, bins=int(bins), range=(lo, hi))
    if np.issubdtype(values.dtype, np.integer):
        step = max(1.0 / max(np.exp(hi), 1.0), (hi - lo) / bins)
        nb = int(max(16, min(bins, np.ceil((hi - lo) / step))))
        hist, edges = np.histogram(lv, bins=nb, range=(lo, hi))
    centres = 0.5 * (edges[1:] + edges[:-1])
    smooth = ndi.gaussian_filter1d(hist.astype(np.float64), sigma=max(1.0, len(hist) / 128), mode="constant")
    peaks = np.flatnonzero((smooth >= np.roll(smooth, 1)) & (smooth >= np.roll(smooth, -1)) & (smooth > 0))
    tall = peaks[smooth[peaks] >= _MODE_RELATIVE_HEIGHT * smooth.max()]
    p = int(tall.max())
    # half width at half maximum on the bright side (no fragment is brighter than the belt)
    right = np.flatnonzero(smooth[p:] < 0.5 * smooth[p])
    width = (centres[p + right[0]] - centres[p]) if right.size else (centres[-1] - centres[p])
    width = max(width, (hi - lo) / len(hist))
    near = lv[np.abs(lv - centres[p]) <= 1.5 * width]
    return float(np.exp(np.median(near))) if near.size else float(np.exp(centres[p]))


def belt_attenuation(image, *, i0) -> np.ndarray:
    """Log attenuation ``-ln(I / I0)`` of a transmission image, the segmenter's input.

    Parameters
    ----------
    image : array_like, (..., y, x)
        Detector counts.
    i0 : float, "auto" or array_like
        Open-beam counts: a number, ``"auto"`` (estimated per frame by
        :func:`estimate_open_beam`), or one value per frame ``(n,)``.

    Returns
    -------
    ndarray, float32, same shape
        Attenuation (dimensionless, 0 = open beam / bare belt), clipped to [0, ln(i0)].
    """
    arr = np.asarray(image, dtype=np.float32)
    i0 = parse_i0(i0) if not isinstance(i0, np.ndarray) else i0
    if i0 is None:
        raise InputError("i0=None: give an open-beam count or 'auto'")
    if isinstance(i0, str):
        i0 = estimate_open_beam(image) if arr.ndim in (2, 3) else None
        if i0 is None:
            raise InputError(f"image has shape {arr.shape}; i0='auto' needs (y, x) or (n, y, x)")
    level = np.asarray(i0, dtype=np.float32)
    if level.ndim == 1:
        if arr.ndim != 3 or len(level) != len(arr):
            raise InputError(f"i0 has {len(level)} values for frames of shape {arr.shape}; expected one per frame")
        level = level[:, None, None]
    if not (np.all(np.isfinite(level)) and np.all(level > 1)):
        raise InputError(f"i0={i0!r} must be finite open-beam counts above 1")
    ratio = np.clip(arr / level, 1.0 / level, 1.0)
    return (-np.log(ratio)).astype(np.float32)


def prepare_belt_inputs(images, *, i0) -> np.ndarray:
    """Turn frames into float32 network inputs: log attenuation if ``i0`` is given, else as they are.

    Parameters
    ----------
    images : array_like, (n, y, x) or (y, x)
        Detector counts (with ``i0``) or attenuation images (``i0=None``).
    i0 : float, "auto", array_like (n,) or None
        Open-beam counts (see :func:`belt_attenuation`).
    """
    arr = np.asarray(images)
    return belt_attenuation(arr, i0=i0) if i0 is not None else arr.astype(np.float32)


def pad_to_multiple(x: np.ndarray, multiple: int = 32) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes of ``x`` (edge values) up to multiples of ``multiple``; return the padded array and (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], mode="edge")
    return x, (h, w)
