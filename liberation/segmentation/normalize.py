"""Robust intensity normalisation by percentiles (recorded in the model card)."""

from __future__ import annotations

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError

__all__ = ["robust_percentiles", "apply_normalization"]


def robust_percentiles(image, *, low: float = 0.5, high: float = 99.5, max_samples: int = 2_000_000,
                       seed: int | np.random.Generator | None = 0) -> dict:
    """Grey values at two percentiles of ``image`` (on a random subsample of large volumes).

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values (numpy or zarr; read slab by slab when large).
    low, high : float
        Percentiles in 0..100.
    max_samples : int
        Largest number of voxels used.
    seed : int or Generator
        Seed for the subsample.

    Returns
    -------
    dict
        ``{"method": "percentile", "low": p_low, "high": p_high, "value_low": v, "value_high": v}``.
    """
    if not 0.0 <= low < high <= 100.0:
        raise InputError(f"percentiles low={low!r}, high={high!r}; expected 0 <= low < high <= 100")
    shape = tuple(image.shape)
    n = int(np.prod(shape))
    if n <= max_samples:
        values = np.asarray(image[...], dtype=np.float32).ravel()
    else:
        rng = make_rng(seed)
        per_slab = max(1, max_samples // shape[0])
        chunks = []
        step = max(1, shape[0] // 64)
        for z in range(0, shape[0], step):
            slab = np.asarray(image[z], dtype=np.float32).ravel()
            chunks.append(rng.choice(slab, size=min(slab.size, per_slab * step), replace=False))
        values = np.concatenate(chunks)
    v_low, v_high = np.percentile(values, [low, high])
    if not v_high > v_low:
        v_high = v_low + 1.0
    return {"method": "percentile", "low": float(low), "high": float(high), "value_low": float(v_low),
            "value_high": float(v_high)}


def apply_normalization(block, params: dict) -> np.ndarray:
    """Map grey values to about 0..1 by the recorded percentiles (float32, not clipped)."""
    lo, hi = float(params["value_low"]), float(params["value_high"])
    out = np.asarray(block, dtype=np.float32)
    return (out - lo) / (hi - lo)
