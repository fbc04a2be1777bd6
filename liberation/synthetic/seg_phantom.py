"""A small textured particle phantom for segmentation tests and benchmarks.

Two of its minerals (quartz and albite) have CT grey values 1 % apart, well below the
noise, so no per-voxel grey-value classifier can tell them apart; albite carries a
lamellar (twinning-like) texture, quartz is smooth. A 3D network that sees the texture
separates them. Exact truth (particles, phases) is returned with the CT.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from liberation._validation import as_voxel_size, make_rng
from liberation.errors import InputError
from liberation.minerals import spodumene_ore
from liberation.synthetic._result import SyntheticSample, deprecated_alias

__all__ = ["make_texture_phantom"]

# Relative CT attenuation of each spodumene_ore() phase (0 = epoxy/void). Quartz and albite
# are 1 % apart (their densities are 2.65 and 2.62 g/cm3 and their mean Z nearly equal), the
# pair only texture separates. Spodumene (3.15 g/cm3, low Z: Li) is about density-scaled.
# Muscovite (2.83 g/cm3) attenuates more than its density ratio alone because of its K
# (Z = 19) photoelectric absorption at tube energies: 1.12.
_GREY = {0: 0.25, 1: 1.19, 2: 1.000, 3: 0.990, 4: 1.12}


def make_texture_phantom(
    shape: tuple[int, int, int] = (64, 64, 64),
    *,
    voxel_size_um: float | tuple = 10.0,
    particle_radius: tuple[float, float] = (9.0, 16.0),
    grain_spacing: float = 16.0,
    gap: float = 1.5,
    fill: float = 0.45,
    lamella_period: float = 4.0,
    lamella_amplitude: float = 0.08,
    noise: float = 0.015,
    blur_sigma: float = 0.42,
    seed: int | np.random.Generator | None = 0,
) -> SyntheticSample:
    """Make a particle phantom whose quartz and albite differ in texture only.

    Parameters
    ----------
    shape : tuple of 3 int
        Volume shape (z, y, x) in voxels.
    voxel_size_um : float or tuple
        Voxel size in µm (only recorded).
    particle_radius : (float, float)
        Range of particle radii in voxels.
    grain_spacing : float
        Mean distance between mineral grain seeds in voxels (grain size).
    gap : float
        Minimum void gap between neighbouring particles in voxels (0 = touching).
    fill : float
        Target fraction of the volume covered by particle spheres (before gaps).
    lamella_period : float
        Period of the albite lamellae in voxels.
    lamella_amplitude : float
        Relative grey-value amplitude of the lamellae.
    noise : float
        Gaussian noise sigma relative to the quartz grey value.
    blur_sigma : float
        Point-spread function sigma in voxels; the default 0.42 is a PSF of one voxel
        full width at half maximum (a scan whose resolution matches its voxel size).
        The lamellae and the grain boundaries wash out quickly with more blur: at 0.6 a
        per-voxel gradient-boosting classifier on multi-scale filters, trained on the two
        end faces, falls from 0.96 to 0.86 accuracy on interior planes of the 128^3
        sample (``docs/performance_segmentation.md``).
    seed : int or Generator
        Random seed.

    Returns
    -------
    SyntheticSample
        ``ct``, ``phases``, ``particles``, ``minerals`` (``spodumene_ore()``), ``voxel_size_um``, ``params``.
    """
    if len(shape) != 3 or min(shape) < 8:
        raise InputError(f"shape={shape!r} must be 3 sizes >= 8 (z, y, x)")
    vs = as_voxel_size(voxel_size_um)
    rng = make_rng(seed)
    shape = tuple(int(s) for s in shape)
    r_lo, r_hi = float(particle_radius[0]), float(particle_radius[1])
    # The volume is a window into a larger packing: particle centres (and grain seeds) are
    # drawn in a box extended by the largest radius (grain spacing) beyond every face, so the
    # end planes cut particles at random heights like any interior plane (stereologically
    # representative faces, as a physical cut face is). Centres only inside the window
    # would leave the end planes with about half the particle area of an interior plane.
    extent = np.array(shape, dtype=float) + 2.0 * r_hi
    centres, radii, covered = [], [], 0.0
    while covered < fill * float(np.prod(extent)) and len(centres) < 20000:
        centres.append(rng.uniform(0, 1, 3) * extent - r_hi)
        r = rng.uniform(r_lo, r_hi)
        radii.append(r)
        covered += 4.0 / 3.0 * np.pi * r**3 * 0.7
    centres = np.asarray(centres)
    radii = np.asarray(radii)
    grid = np.indices(shape, dtype=np.float32).reshape(3, -1).T
    # power-distance (Laguerre) partition limited to the spheres, with a void gap between cells
    tree = cKDTree(centres)
    k = min(8, len(centres))
    dist, idx = tree.query(grid, k=k)
    dist = dist.reshape(len(grid), k)
    idx = idx.reshape(len(grid), k)
    power = dist**2 - radii[idx] ** 2
    order = np.argsort(power, axis=1)
    first = np.take_along_axis(idx, order[:, :1], 1)[:, 0]
    d1 = np.take_along_axis(dist, order[:, :1], 1)[:, 0]
    p1 = np.take_along_axis(power, order[:, :1], 1)[:, 0]
    if k > 1:
        second = np.take_along_axis(idx, order[:, 1:2], 1)[:, 0]
        p2 = np.take_along_axis(power, order[:, 1:2], 1)[:, 0]
        # distance from the radical plane of the two nearest cells: (p2 - p1) / (2 |c1 - c2|)
        separation = np.maximum(np.linalg.norm(centres[first] - centres[second], axis=1), 1e-6)
        margin = (p2 - p1) / (2.0 * separation)
    else:
        margin = np.full_like(p1, np.inf)
    inside = (d1 < radii[first]) & (margin > gap / 2.0)
    particles = np.where(inside, first + 1, 0).reshape(shape)
    # relabel consecutively and drop tiny fragments
    ids, counts = np.unique(particles, return_counts=True)
    keep = ids[(ids > 0) & (counts >= 30)]
    lut = np.zeros(int(particles.max()) + 1, dtype=np.uint32)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.uint32)
    particles = lut[particles]
    # mineral grains: Voronoi cells of random seeds, each with a mineral and a lamella normal
    minerals = spodumene_ore()
    grain_extent = np.array(shape, dtype=float) + 2.0 * grain_spacing
    n_grains = max(4, int(float(np.prod(grain_extent)) / grain_spacing**3))
    gseeds = rng.uniform(0, 1, (n_grains, 3)) * grain_extent - grain_spacing
    gmineral = rng.choice(np.array([1, 2, 3, 4]), size=n_grains, p=[0.2, 0.35, 0.35, 0.1]).astype(np.uint8)
    normals = rng.normal(size=(n_grains, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    phase_of_grain = cKDTree(gseeds).query(grid, k=1)[1]
    phases = np.where(particles.reshape(-1) > 0, gmineral[phase_of_grain], 0).astype(np.uint8).reshape(shape)
    # grey values
    lut_grey = np.zeros(256, dtype=np.float32)
    for key, value in _GREY.items():
        lut_grey[key] = value
    grey = lut_grey[phases].reshape(-1)
    albite = phases.reshape(-1) == 3
    proj = np.einsum("ij,ij->i", grid[albite], normals[phase_of_grain[albite]])
    grey[albite] *= 1.0 + lamella_amplitude * np.sign(np.sin(2.0 * np.pi * proj / lamella_period))
    grey = grey.reshape(shape)
    if blur_sigma > 0:
        grey = ndimage.gaussian_filter(grey, blur_sigma)
    grey = grey + rng.normal(0.0, noise, shape).astype(np.float32)
    ct = np.clip(grey * 20000.0 + 2000.0, 0, 65535).astype(np.uint16)
    params = dict(shape=shape, particle_radius=(r_lo, r_hi), grain_spacing=grain_spacing, gap=gap, fill=fill,
                  lamella_period=lamella_period, lamella_amplitude=lamella_amplitude, noise=noise,
                  blur_sigma=blur_sigma)
    return SyntheticSample(ct=ct, phases=phases, particles=particles, minerals=minerals, voxel_size_um=vs,
                          params=params)


__getattr__ = deprecated_alias(__name__, "TexturePhantom")  # one release
