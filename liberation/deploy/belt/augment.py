"""RailAugment-style augmentation for XRT belt frames (numpy + scipy, no torch).

Two spaces, as in the paper: a pixel space SP (Gaussian blur, Gaussian noise,
sharpness, brightness, contrast, posterize) and a geometric space SB (translate x/y,
shear x/y, scale, rotate, horizontal flip, vertical flip). For every sample ``m_pixel``
operations are drawn from SP and ``m_geometric`` from SB (the paper's combinations
1+2, 0+3, 1+1, 0+2). Geometric operations move the mask with nearest-neighbour
sampling, so class values stay exact; pixel operations leave the mask alone.
Inputs are attenuation images (float, 0 = open beam).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from liberation._validation import check_same_shape, make_rng
from liberation.errors import InputError

__all__ = ["PIXEL_OPS", "GEOMETRIC_OPS", "RAIL_COMBINATIONS", "rail_augment"]

PIXEL_OPS = ("blur", "noise", "sharpness", "brightness", "contrast", "posterize")
GEOMETRIC_OPS = ("translate_x", "translate_y", "shear_x", "shear_y", "scale", "rotate", "flip_h", "flip_v")
#: (pixel ops, geometric ops) combinations of the paper.
RAIL_COMBINATIONS = ((1, 2), (0, 3), (1, 1), (0, 2))


def _pixel(op: str, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scale = float(np.percentile(img, 99)) or 1.0
    if op == "blur":
        return ndi.gaussian_filter(img, rng.uniform(0.3, 1.0))
    if op == "noise":
        return img + rng.normal(0, rng.uniform(0.005, 0.03) * scale, img.shape).astype(img.dtype)
    if op == "sharpness":
        return img + rng.uniform(0.2, 1.0) * (img - ndi.gaussian_filter(img, 1.0))
    if op == "brightness":
        return img + rng.uniform(-0.05, 0.05) * scale
    if op == "contrast":
        return img * rng.uniform(0.8, 1.2)
    if op == "posterize":
        levels = float(2 ** rng.integers(5, 8))
        return np.round(img / scale * levels) / levels * scale
    raise InputError(f"pixel op {op!r} is not known; expected one of {PIXEL_OPS}")


def _geometric_matrix(op: str, shape, rng: np.random.Generator) -> np.ndarray:
    """3x3 homogeneous map from output (y, x) to input (y, x) coordinates about the centre."""
    ny, nx = shape
    m = np.eye(3)
    if op == "translate_x":
        m[1, 2] = rng.uniform(-0.15, 0.15) * nx
    elif op == "translate_y":
        m[0, 2] = rng.uniform(-0.15, 0.15) * ny
    elif op == "shear_x":
        m[1, 0] = rng.uniform(-0.2, 0.2)
    elif op == "shear_y":
        m[0, 1] = rng.uniform(-0.2, 0.2)
    elif op == "scale":
        m[:2, :2] *= 1.0 / rng.uniform(0.8, 1.25)
    elif op == "rotate":
        a = rng.uniform(-np.pi, np.pi)
        m[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    elif op == "flip_h":
        m[1, 1] = -1.0
    elif op == "flip_v":
        m[0, 0] = -1.0
    else:
        raise InputError(f"geometric op {op!r} is not known; expected one of {GEOMETRIC_OPS}")
    return m


def rail_augment(image, mask, *, m_pixel: int | None = None, m_geometric: int | None = None, seed=None):
    """Apply RailAugment to one frame and its mask.

    Parameters
    ----------
    image : array_like, (y, x) float
        Attenuation image.
    mask : array_like, (y, x) int
        Class mask (moved with nearest-neighbour sampling).
    m_pixel, m_geometric : int, optional
        Number of operations drawn from each space; default one of the paper's
        combinations (1+2, 0+3, 1+1, 0+2) at random.
    seed : int or Generator, optional
        Random seed.

    Returns
    -------
    image : ndarray, (y, x) float32
    mask : ndarray, (y, x), same dtype as ``mask``
        New arrays; the inputs are not modified.
    """
    img = np.asarray(image, dtype=np.float32)
    msk = np.asarray(mask)
    if img.ndim != 2:
        raise InputError(f"image has shape {img.shape}; expected a 2D (y, x) frame")
    check_same_shape(img, msk, name_a="image", name_b="mask")
    rng = make_rng(seed)
    if m_pixel is None or m_geometric is None:
        mp, mg = RAIL_COMBINATIONS[rng.integers(len(RAIL_COMBINATIONS))]
        m_pixel = mp if m_pixel is None else m_pixel
        m_geometric = mg if m_geometric is None else m_geometric
    if not (0 <= m_pixel <= len(PIXEL_OPS)) or not (0 <= m_geometric <= len(GEOMETRIC_OPS)):
        raise InputError(f"m_pixel={m_pixel!r}, m_geometric={m_geometric!r} must be within "
                         f"0..{len(PIXEL_OPS)} and 0..{len(GEOMETRIC_OPS)}")
    out = img.copy()
    for op in rng.choice(PIXEL_OPS, size=m_pixel, replace=False):
        out = _pixel(str(op), out, rng)
    out_mask = msk.copy()
    if m_geometric:
        m = np.eye(3)
        for op in rng.choice(GEOMETRIC_OPS, size=m_geometric, replace=False):
            m = m @ _geometric_matrix(str(op), img.shape, rng)
        centre = (np.array(img.shape, float) - 1) / 2.0
        offset = centre - m[:2, :2] @ centre + m[:2, 2]
        fill = float(np.percentile(out, 10))  # belt level
        out = ndi.affine_transform(out, m[:2, :2], offset=offset, order=1, mode="constant", cval=fill)
        out_mask = ndi.affine_transform(msk, m[:2, :2], offset=offset, order=0, mode="constant", cval=0)
        out_mask = out_mask.astype(msk.dtype, copy=False)
    return np.clip(out, 0, None).astype(np.float32), out_mask
