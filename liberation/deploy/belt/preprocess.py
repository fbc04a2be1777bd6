"""Preprocessing of belt frames for the segmenter (numpy only; used by training and the runtime).

Detector counts become log attenuation ``-ln(I / I0)`` with the open-beam counts ``I0``
of the model card, and frames are padded to multiples of 32 pixels for the network.
"""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError

__all__ = ["belt_attenuation", "pad_to_multiple", "prepare_belt_inputs"]


def belt_attenuation(image, *, i0: float) -> np.ndarray:
    """Log attenuation ``-ln(I / I0)`` of a transmission image, the segmenter's input.

    Parameters
    ----------
    image : array_like, (..., y, x)
        Detector counts.
    i0 : float
        Open-beam counts.

    Returns
    -------
    ndarray, float32, same shape
        Attenuation (dimensionless, 0 = open beam), clipped to [0, ln(i0)].
    """
    if not (np.isfinite(i0) and i0 > 1):
        raise InputError(f"i0={i0!r} must be a finite open-beam count above 1")
    arr = np.asarray(image, dtype=np.float32)
    ratio = np.clip(arr / np.float32(i0), 1.0 / np.float32(i0), 1.0)
    return (-np.log(ratio)).astype(np.float32)


def prepare_belt_inputs(images, *, i0: float | None) -> np.ndarray:
    """Turn frames into float32 network inputs: log attenuation if ``i0`` is given, else as they are.

    Parameters
    ----------
    images : array_like, (n, y, x) or (y, x)
        Detector counts (with ``i0``) or attenuation images (``i0=None``).
    i0 : float or None
        Open-beam counts.
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
