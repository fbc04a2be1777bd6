"""Small two-phase volumes and sparse face labels for the pixel-classifier tests."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def blobs(shape, *, noise, seed):
    """Two phases (label 1 and 2) of smooth random blobs, grey 0.4 / 0.6 plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 4.0)
    phases = np.where(field > 0, 2, 1).astype(np.uint8)
    ct = (np.where(phases == 2, 0.6, 0.4) + noise * rng.normal(size=shape)) * 1000 + 1000
    return ct.astype(np.float32), phases


def faces(phases, planes):
    """Labels of ``planes`` (z indices) only; 255 elsewhere."""
    sparse = np.full(phases.shape, 255, np.uint8)
    sparse[planes] = phases[planes]
    return sparse
