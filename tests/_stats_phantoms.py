"""Small phantoms with exact truth for the stats tests (not collected: no test_ prefix)."""

from __future__ import annotations

import numpy as np

from liberation.minerals import Mineral, MineralList


def two_minerals() -> MineralList:
    return MineralList([Mineral(1, "ore", 4.0), Mineral(2, "gangue", 2.0)])


def boxes():
    """Three box particles in a (20, 24, 30) volume with known contents.

    1: (4, 5, 6) box of pure ore (120 voxels) inside the volume.
    2: (4, 4, 4) box, x < 2 ore and x >= 2 gangue (32 + 32), inside.
    3: (3, 6, 10) box of pure gangue touching the z = 0 face (180 voxels).
    """
    pid = np.zeros((20, 24, 30), dtype=np.uint32)
    ph = np.zeros_like(pid, dtype=np.uint8)
    pid[2:6, 2:7, 2:8] = 1
    ph[2:6, 2:7, 2:8] = 1
    pid[10:14, 10:14, 10:14] = 2
    ph[10:14, 10:14, 10:12] = 1
    ph[10:14, 10:14, 12:14] = 2
    pid[0:3, 15:21, 15:25] = 3
    ph[0:3, 15:21, 15:25] = 2
    return pid, ph


def sphere(radius: float, *, shape=None, centre=None) -> np.ndarray:
    n = int(2 * radius + 5)
    shape = shape or (n, n, n)
    centre = centre if centre is not None else tuple((s - 1) / 2 + 0.3 for s in shape)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius**2


def random_particles(shape=(40, 48, 44), n=25, seed=0):
    """Touching, irregular particles with random phases (for equality checks)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, dtype=np.uint32)
    pts = tuple(rng.integers(0, s, n) for s in shape)
    seeds[pts] = np.arange(1, n + 1)
    dist, (iz, iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    pid = seeds[iz, iy, ix]
    pid[dist > 7] = 0
    grains = ndimage.gaussian_filter(rng.normal(size=shape), 2)
    ph = np.digitize(grains, np.quantile(grains, [0.3, 0.6])).astype(np.uint8) + 1
    ph[pid == 0] = 0
    ph[(pid > 0) & (rng.random(shape) < 0.01)] = 0
    return pid, ph
