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

__all__ = ["DETECTOR_RANGES", "GEOMETRIC_OPS", "PIXEL_OPS", "RAIL_COMBINATIONS", "detector_augment", "rail_augment"]

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


#: Ranges of :func:`detector_augment` (each drawn uniformly per frame).
DETECTOR_RANGES: dict[str, tuple] = {
    "bit_depth": (8, 12, 16),
    "level": (0.55, 0.97),        # belt level as a fraction of the full scale
    "offset": (0.0, 0.03),        # dark offset, fraction of the belt level
    "gamma": (0.85, 1.15),        # detector response T -> T**gamma
    "photons": (150.0, 8000.0),   # effective photons at the belt level (shot noise)
    "read_noise": (0.0, 0.01),    # Gaussian noise, fraction of the belt level
    "blur": (0.0, 1.2),           # Gaussian PSF sigma, pixels
    "column_gain": (0.0, 0.05),   # sigma of the per-detector-element gain
    "row_drift": (0.0, 0.06),     # amplitude of the source drift along the belt
    "belt_texture": (0.0, 0.05),  # attenuation amplitude of the belt's ribs and weave
    "dust": (0.0, 0.12),          # peak attenuation of the dust haze
}


def detector_augment(transmission, *, seed=None, ranges: dict | None = None) -> np.ndarray:
    """Render a transmission frame as a random detector would record it (domain randomisation).

    Starting from the transmission ``T = I / I0`` (1 = bare belt), applies a belt texture
    (ribs along the belt and a fine weave) and a dust haze (both background, so the mask is
    unchanged), the detector response ``T**gamma``, a Gaussian PSF, per-element gain and a
    source drift along the belt, shot noise for a random photon count and read noise, a
    dark offset, and quantisation to 8, 12 or 16 bits with the belt at a random fraction of
    the full scale. Geometry is untouched, so the mask stays valid.

    Parameters
    ----------
    transmission : array_like, (y, x) float
        Transmission ``I / I0`` in (0, 1] (e.g. counts divided by their open-beam level).
    seed : int or Generator, optional
        Random seed.
    ranges : dict, optional
        Replacements for :data:`DETECTOR_RANGES` entries.

    Returns
    -------
    ndarray, (y, x) float32
        Detector counts (integers stored as float32) within ``[0, 2**bits - 1]``.
    """
    t = np.asarray(transmission, dtype=np.float64)
    if t.ndim != 2:
        raise InputError(f"transmission has shape {t.shape}; expected a 2D (y, x) frame")
    r = {**DETECTOR_RANGES, **(ranges or {})}
    unknown = set(r) - set(DETECTOR_RANGES)
    if unknown:
        raise InputError(f"ranges has unknown keys {sorted(unknown)}; expected some of {sorted(DETECTOR_RANGES)}")
    rng = make_rng(seed)
    ny, nx = t.shape

    def u(key):
        lo, hi = r[key]
        return rng.uniform(lo, hi)

    att = -np.log(np.clip(t, 1e-6, None))
    # belt: ribs across the belt (vary along columns) and a fine weave, plus a dust haze
    amp = u("belt_texture")
    if amp > 0:
        period = rng.uniform(4, 24)
        ribs = 0.5 * (1 + np.sin(2 * np.pi * np.arange(nx) / period + rng.uniform(0, 6.3)))
        weave = ndi.gaussian_filter(rng.standard_normal((ny, nx)), rng.uniform(0.7, 2.0))
        weave /= max(float(weave.std()), 1e-9)
        att = att + amp * (0.6 * ribs[None, :] + 0.4 * np.clip(0.5 + 0.25 * weave, 0, 1))
    d = u("dust")
    if d > 0:
        haze = ndi.gaussian_filter(rng.standard_normal((ny, nx)), sigma=min(ny, nx) / rng.uniform(3, 10))
        haze = (haze - haze.min()) / max(float(np.ptp(haze)), 1e-9)
        att = att + d * haze
    out = np.exp(-rng.uniform(*r["gamma"]) * att)
    s = u("blur")
    if s > 0.05:
        out = ndi.gaussian_filter(out, s)
    gain = 1.0 + u("column_gain") * rng.standard_normal(nx)
    drift = 1.0 + u("row_drift") * np.sin(np.linspace(0, rng.uniform(0.5, 4) * np.pi, ny) + rng.uniform(0, 6.3))
    out = out * gain[None, :] * drift[:, None]
    photons = np.exp(rng.uniform(np.log(r["photons"][0]), np.log(r["photons"][1])))
    out = rng.poisson(np.clip(out, 0, None) * photons) / photons
    out = out + u("read_noise") * rng.standard_normal((ny, nx))
    bits = int(rng.choice(np.asarray(r["bit_depth"])))
    full = 2.0**bits - 1
    level = u("level") * full
    counts = level * (u("offset") + out)
    return np.clip(np.rint(counts), 0, full).astype(np.float32)
