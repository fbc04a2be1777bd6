"""Particle samples of one ore texture each, for the stereology validation (fast, exact truth).

One compact particle per cubic cell of a regular grid (no touching, no border contact), each a
randomly rotated ellipsoid (or, for ``"columns"``, an upright prism) with its own grade of the
ore mineral. The textures:

- ``"disseminated"``: fine ore inclusions (a thresholded random field of about one-voxel
  correlation length) in gangue, at a grade drawn per particle;
- ``"halves"``: coarse grains: the particle cut by a random plane into an ore part and a gangue
  part, the plane placed so the ore takes the particle's grade;
- ``"rims"``: an ore rim (a layer along the surface) around a gangue core, the rim thickness set
  by the particle's grade;
- ``"columns"``: upright prisms (elliptic cylinders along z) split by a vertical plane, so every
  z section has exactly the composition of its particle (2D equals 3D by construction).

A share of the particles (``pure_fraction``) is pure ore or pure gangue (half each), so the
liberated fraction is not trivially 0; the other grades are spread evenly over 2-98 %. Grades and sizes are
stratified draws, so two seeds give sister samples with nearly the same distributions. Mineral 1 is ``ore`` (4.0 g/cm³), mineral 2 ``gangue``
(2.7 g/cm³).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.minerals import Mineral, MineralList

TEXTURES = ("disseminated", "halves", "rims", "columns")
#: Correlation length (voxels, Gaussian sigma) of the "disseminated" inclusions.
INCLUSION_SIGMA = 1.5


@dataclass(frozen=True)
class TextureSample:
    """A texture sample: labels and truth.

    Attributes
    ----------
    particles : ndarray of uint32, shape (z, y, x)
        Particle ids (0 = outside).
    phases : ndarray of uint8, shape (z, y, x)
        Phase ids: 0 void, 1 ore, 2 gangue.
    minerals : MineralList
        ``ore`` and ``gangue``.
    voxel_size_um : tuple of 3 float
        Voxel size in µm.
    texture : str
        The texture.
    """

    particles: np.ndarray
    phases: np.ndarray
    minerals: MineralList
    voxel_size_um: tuple[float, float, float]
    texture: str


def texture_minerals() -> MineralList:
    """``ore`` (id 1, 4.0 g/cm³) and ``gangue`` (id 2, 2.7 g/cm³)."""
    return MineralList([Mineral(1, "ore", 4.0), Mineral(2, "gangue", 2.7)])


def _rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))[None, :]


def _split_at_grade(score: np.ndarray, grade: float) -> np.ndarray:
    """Boolean ore mask: the ``grade`` share of voxels with the highest ``score``."""
    n = score.size
    k = int(round(grade * n))
    if k <= 0:
        return np.zeros(n, dtype=bool)
    if k >= n:
        return np.ones(n, dtype=bool)
    order = np.argsort(score, kind="stable")
    ore = np.zeros(n, dtype=bool)
    ore[order[n - k:]] = True
    return ore


def score_of_top(q: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Signed distance of points (rows z, y, x) along ``normal``, with a tiny tie-break."""
    return q @ normal + 1e-9 * np.arange(len(q))


def texture_sample(
    texture: str,
    *,
    grid: tuple[int, int, int] = (4, 6, 6),
    cell: int = 24,
    radius_range: tuple[float, float] = (0.22, 0.45),
    pure_fraction: float = 0.2,
    voxel_size_um: float = 1.0,
    seed=0,
) -> TextureSample:
    """One sample of ``texture`` (see the module text): one particle per cell of a ``grid`` of cells.

    Parameters
    ----------
    texture : {"disseminated", "halves", "rims", "columns"}
        The ore texture.
    grid : tuple of 3 int
        Cells along z, y, x (one particle each).
    cell : int
        Cell edge in voxels (volume shape = ``grid * cell``).
    radius_range : (float, float)
        Range of the particles' largest semi-axis as a fraction of ``cell`` (< 0.5: particles do not
        touch); the other semi-axes are 0.6-1 times it.
    pure_fraction : float
        Share of particles that are pure ore or pure gangue (half each).
    voxel_size_um : float
        Isotropic voxel size in µm.
    seed : int or Generator
        Random seed.

    Returns
    -------
    TextureSample
    """
    if texture not in TEXTURES:
        raise InputError(f"texture={texture!r}; expected one of {', '.join(TEXTURES)}")
    lo_r, hi_r = (float(v) for v in radius_range)
    if not 0 < lo_r <= hi_r < 0.5:
        raise InputError(f"radius_range={radius_range!r} must satisfy 0 < low <= high < 0.5 (fractions of cell)")
    if not 0 <= pure_fraction <= 1:
        raise InputError(f"pure_fraction={pure_fraction!r} must be in [0, 1]")
    rng = make_rng(seed)
    shape = tuple(int(g) * int(cell) for g in grid)
    pid = np.zeros(shape, dtype=np.uint32)
    ph = np.zeros(shape, dtype=np.uint8)
    c = (np.arange(cell) - (cell - 1) / 2.0)
    gz, gy, gx = np.meshgrid(c, c, c, indexing="ij")
    pts = np.stack([gz.ravel(), gy.ravel(), gx.ravel()], axis=1)
    n_cells = int(np.prod(grid))
    # stratified draws: sister samples (other seeds) hold nearly the same grade and size distribution
    u_grade = (rng.permutation(n_cells) + rng.uniform(size=n_cells)) / n_cells
    u_size = (rng.permutation(n_cells) + rng.uniform(size=n_cells)) / n_cells
    n = 0
    for iz in range(grid[0]):
        for iy in range(grid[1]):
            for ix in range(grid[2]):
                n += 1
                r_max = cell * (lo_r + (hi_r - lo_r) * u_size[n - 1])
                semi = r_max * np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)])
                shift = rng.uniform(-0.5, 0.5, size=3)
                q = pts - shift
                if texture == "columns":
                    ang = rng.uniform(0, np.pi)
                    rot2 = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
                    local = q[:, 1:] @ rot2
                    inside = ((local / semi[1:][None, :]) ** 2).sum(axis=1) <= 1.0
                    inside &= np.abs(q[:, 0]) <= semi[0]
                else:
                    rot = _rotation(rng)
                    local = q @ rot
                    rho = np.sqrt(((local / semi[None, :]) ** 2).sum(axis=1))
                    inside = rho <= 1.0
                u = u_grade[n - 1]
                if u < pure_fraction / 2:
                    grade = 1.0
                elif u < pure_fraction:
                    grade = 0.0
                else:
                    grade = 0.02 + 0.96 * (u - pure_fraction) / (1 - pure_fraction)
                m = np.count_nonzero(inside)
                if texture == "disseminated":
                    field = rng.normal(size=(cell, cell, cell))
                    from scipy.ndimage import gaussian_filter

                    score = gaussian_filter(field, INCLUSION_SIGMA).ravel()[inside]
                elif texture in ("halves", "columns"):
                    normal = rng.normal(size=3)
                    if texture == "columns":
                        normal[0] = 0.0
                    normal /= np.linalg.norm(normal)
                    score = q[inside] @ normal
                else:  # rims: ore where the ellipsoidal radius is largest (outer layer)
                    score = rho[inside] + 1e-6 * rng.uniform(size=m)
                if texture == "columns":
                    # split the cross-section (one row of z per pixel), so every z section has the same pixels
                    top = np.flatnonzero(inside & (q[:, 0] == q[inside, 0].min()))
                    ore2d = _split_at_grade(score_of_top(q[top], normal), grade)
                    key = {tuple(p): o for p, o in zip(np.round(q[top, 1:], 6).tolist(), ore2d)}
                    ore = np.array([key[tuple(p)] for p in np.round(q[inside, 1:], 6).tolist()], dtype=bool)
                else:
                    ore = _split_at_grade(score, grade)
                sl = tuple(slice(k * cell, (k + 1) * cell) for k in (iz, iy, ix))
                block_id = np.zeros(cell ** 3, dtype=np.uint32)
                block_ph = np.zeros(cell ** 3, dtype=np.uint8)
                block_id[inside] = n
                block_ph[inside] = np.where(ore, 1, 2)
                pid[sl] = block_id.reshape(cell, cell, cell)
                ph[sl] = block_ph.reshape(cell, cell, cell)
    vs = float(voxel_size_um)
    return TextureSample(particles=pid, phases=ph, minerals=texture_minerals(), voxel_size_um=(vs, vs, vs),
                         texture=texture)
