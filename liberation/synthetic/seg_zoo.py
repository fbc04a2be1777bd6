"""Texture kinds of the sample zoo for the phase-segmentation sweep (issue 18), with exact truth.

Every kind holds a *texture-only mineral pair*: quartz and albite with the same mean CT grey
value, albite carrying twin lamellae (a square wave of period ``lamella_period`` voxels,
``±lamella_amplitude`` of the grey value, a random direction and phase per grain, so its mean
equals quartz's); no per-voxel grey-value classifier can tell them apart. The other minerals
differ in grey value. CT: the relative attenuation per voxel, a Gaussian point-spread function
of ``blur`` voxels (sigma), Gaussian noise of ``noise`` times quartz's grey value, mapped to
uint16 (``grey * 20000 + 2000``).

Kinds (:data:`SEG_ZOO`, drawn by :func:`seg_case`):

- ``"core-twins"``: a dense drill core along z, Voronoi grains filling a cylinder (air
  outside), quartz / albite / calcite / ankerite / muscovite; blur 0.6, noise 3.5 %; labels on
  the planes z=1 and z=N-2 (the held-out sample of issue 18);
- ``"core-twins-tilted"``: the same core with smaller grains, blur 0.8, noise 5 %; labels on two
  *tilted* planes (4-10° from z, random direction) near the ends, as placed by a registration pose;
- ``"mount-twins"``: a particle mount (touching and separate crushed particles in epoxy, cut by
  the volume border) with Voronoi grains of spodumene / quartz / albite / muscovite; blur 0.4,
  noise 2 %; labels on two *interior* planes (z=N/3, 2N/3: micro-XRF of cut faces);
- ``"mount-coarse"``: the mount with coarse grains (24 voxels), blur 0.7, noise 4.5 %; labels on
  planes a few voxels *inside* the ends (z=4, z=N-5).

Test planes (:attr:`SegCase.test_planes`) are z = N/4, N/2, 3N/4; evaluate only their voxels
not labelled in :attr:`SegCase.sparse` (a tilted sheet may reach one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList, spodumene_ore
from liberation.synthetic._result import SyntheticSample

__all__ = ["SEG_ZOO", "SEG_LAYOUTS", "SegCase", "SegKind", "seg_case", "seg_label_planes"]

#: Label layouts: planes at the ends, a few voxels inside, in the interior, tilted sheets.
SEG_LAYOUTS = ("ends", "inside", "interior", "tilted")

#: Relative attenuation (grey value) per mineral name; quartz and albite are equal.
GREY = {"quartz": 1.00, "albite": 1.00, "calcite": 1.30, "ankerite": 1.70, "muscovite": 1.12, "spodumene": 1.19}
#: Grey value of the void: air around a core, epoxy between mount particles.
VOID_GREY = {"core": 0.0, "mount": 0.25}


@dataclass(frozen=True)
class SegKind:
    """One texture kind of the segmentation sweep.

    Attributes
    ----------
    name : str
    sample : {"core", "mount"}
        Dense Voronoi core (a cylinder along z, air outside) or particle mount (epoxy between).
    grain_vox : float
        Mean grain size in voxels (cube root of the mean Voronoi cell volume).
    layout : {"ends", "inside", "interior", "tilted"}
        Where the labelled planes lie (:func:`seg_label_planes`).
    blur : float
        Point-spread function sigma in voxels.
    noise : float
        Gaussian noise sigma relative to quartz's grey value.
    lamella_period : float
        Period of the albite twin lamellae in voxels.
    lamella_amplitude : float
        Relative grey-value amplitude of the lamellae.
    """

    name: str
    sample: str
    grain_vox: float
    layout: str
    blur: float
    noise: float
    lamella_period: float = 4.0
    lamella_amplitude: float = 0.08


#: The texture kinds (every one with the quartz / albite pair of equal mean grey value).
SEG_ZOO: tuple[SegKind, ...] = (
    SegKind("core-twins", "core", 12.0, "ends", blur=0.6, noise=0.035),
    SegKind("core-twins-tilted", "core", 9.0, "tilted", blur=0.8, noise=0.05),
    SegKind("mount-twins", "mount", 10.0, "interior", blur=0.4, noise=0.02),
    SegKind("mount-coarse", "mount", 24.0, "inside", blur=0.7, noise=0.045),
)


@dataclass
class SegCase:
    """A sample of a :class:`SegKind` with its labelled planes.

    Attributes
    ----------
    kind : SegKind
    sample : SyntheticSample
        ``ct`` (uint16), ``phases`` (uint8 truth, 0 = void), ``particles`` (mounts; None for
        cores), ``minerals``, ``params``; ``truth``: ``grains`` (int32 (z, y, x) Voronoi grain
        index), ``lamella_normals`` (n_grains, 3) and ``lamella_offsets`` (n_grains,) in voxels.
    sparse : ndarray of uint8, shape (z, y, x)
        The truth on the labelled planes of the layout, 255 elsewhere.
    test_planes : list of int
        Held-out z planes for evaluation (mask out any voxel labelled in ``sparse``).
    albite : ndarray of bool, shape (z, y, x)
        Where the albite is (its id differs between cores and mounts).
    """

    kind: SegKind
    sample: SyntheticSample
    sparse: np.ndarray
    test_planes: list
    albite: np.ndarray


def _kind(kind) -> SegKind:
    if isinstance(kind, SegKind):
        return kind
    found = {k.name: k for k in SEG_ZOO}
    if kind not in found:
        raise InputError(f"kind={kind!r}; expected one of {sorted(found)}")
    return found[kind]


def _core_minerals() -> MineralList:
    from liberation.synthetic.cores import core_minerals

    return core_minerals()


def seg_label_planes(shape, layout: str, *, seed=0) -> tuple[np.ndarray, dict]:
    """Mask of the labelled voxels of a layout: whole z planes or one-voxel-thick tilted sheets.

    Parameters
    ----------
    shape : (int, int, int)
        Volume shape (z, y, x).
    layout : {"ends", "inside", "interior", "tilted"}
        ``ends``: z=1 and z=N-2; ``inside``: z=4 and z=N-5; ``interior``: z=round(N/3) and
        round(2N/3); ``tilted``: two sheets centred at z=N/8 and 7N/8, each tilted by 4-10°
        from the z axis in a random direction (one voxel per (y, x) column, columns leaving the
        volume dropped).
    seed : int or Generator
        Seed of the tilts.

    Returns
    -------
    mask : ndarray of bool, shape (z, y, x)
    info : dict
        ``planes`` (flat layouts) or ``sheets`` (centre z, tilt and direction in degrees, normal).
    """
    if layout not in SEG_LAYOUTS:
        raise InputError(f"layout={layout!r}; expected one of {', '.join(SEG_LAYOUTS)}")
    nz, ny, nx = (int(s) for s in shape)
    if nz < 12:
        raise InputError(f"shape={tuple(shape)!r}: at least 12 planes along z are needed for a label layout")
    mask = np.zeros((nz, ny, nx), dtype=bool)
    if layout != "tilted":
        planes = {"ends": [1, nz - 2], "inside": [4, nz - 5],
                  "interior": [int(round(nz / 3)), int(round(2 * nz / 3))]}[layout]
        mask[planes] = True
        return mask, {"layout": layout, "planes": planes}
    rng = make_rng(seed)
    yy, xx = np.mgrid[:ny, :nx].astype(np.float64)
    yy -= (ny - 1) / 2.0
    xx -= (nx - 1) / 2.0
    sheets = []
    for centre in (nz / 8.0, 7.0 * nz / 8.0):
        tilt = np.deg2rad(rng.uniform(4.0, 10.0))
        direction = rng.uniform(0.0, 2.0 * np.pi)
        normal = np.array([np.cos(tilt), np.sin(tilt) * np.sin(direction), np.sin(tilt) * np.cos(direction)])
        z = np.rint(centre - (normal[1] * yy + normal[2] * xx) / normal[0]).astype(int)
        inside = (z >= 0) & (z < nz)
        iy, ix = np.nonzero(inside)
        mask[z[inside], iy, ix] = True
        sheets.append({"centre_z": float(centre), "tilt_deg": float(np.rad2deg(tilt)),
                       "direction_deg": float(np.rad2deg(direction)), "normal": normal.tolist()})
    return mask, {"layout": layout, "sheets": sheets}


def _grains(shape, grain_vox: float, rng) -> tuple[np.ndarray, int]:
    """Voronoi grain index per voxel (seeds in a box extended by one grain beyond every face)."""
    extent = np.array(shape, dtype=float) + 2.0 * grain_vox
    n = max(4, int(round(float(np.prod(extent)) / grain_vox**3)))
    seeds = rng.uniform(0.0, 1.0, (n, 3)) * extent - grain_vox
    grid = np.indices(shape, dtype=np.float32).reshape(3, -1).T
    return cKDTree(seeds).query(grid, k=1)[1].reshape(shape).astype(np.int64), n


def seg_case(kind: SegKind | str, *, size: int = 96, seed: int = 0) -> SegCase:
    """Draw a sample of a texture kind, its labelled planes and its test planes.

    Parameters
    ----------
    kind : SegKind or str
        A kind or its name in :data:`SEG_ZOO`.
    size : int
        Edge of the cubic volume in voxels (at least 24).
    seed : int
        Seed of the geometry (grains, particles, lamella directions and phases), the tilts and the noise.

    Returns
    -------
    SegCase
    """
    kind = _kind(kind)
    if kind.sample not in ("core", "mount"):
        raise InputError(f"kind.sample={kind.sample!r}; expected 'core' or 'mount'")
    if not isinstance(size, (int, np.integer)) or size < 24:
        raise InputError(f"size={size!r}; expected an integer >= 24 voxels")
    shape = (int(size),) * 3
    rng = np.random.default_rng(seed)
    geo_rng, layout_rng, noise_rng = (np.random.default_rng(s) for s in rng.integers(0, 2**63, 3))
    particles = None
    if kind.sample == "core":
        minerals = _core_minerals()
        weights = {"quartz": 0.30, "albite": 0.30, "calcite": 0.15, "ankerite": 0.10, "muscovite": 0.15}
        yy, xx = np.mgrid[:size, :size]
        c = (size - 1) / 2.0
        solid = np.broadcast_to(((yy - c) ** 2 + (xx - c) ** 2) <= (0.49 * size) ** 2, shape)
    else:
        from liberation.synthetic.particles import make_particles

        minerals = spodumene_ore()
        weights = {"spodumene": 0.20, "quartz": 0.35, "albite": 0.35, "muscovite": 0.10}
        esd = (12.0 * 10.0, min(0.45 * size, 36.0) * 10.0)
        particles = make_particles(shape, voxel_size_um=10.0, esd_range_um=esd, packing_fraction=0.45,
                                   touching_fraction=0.3, border="cut", seed=geo_rng)
        solid = particles > 0
    grain, n_grains = _grains(shape, kind.grain_vox, geo_rng)
    names = list(weights)
    p = np.array([weights[n] for n in names])
    # stratified: each mineral gets its share of the grains (rounded), in a random order
    share = np.floor(p / p.sum() * n_grains + geo_rng.uniform(size=len(p))).astype(int)
    order = np.repeat(np.arange(len(names)), share)
    order = np.concatenate([order, geo_rng.choice(len(names), size=max(0, n_grains - len(order)), p=p / p.sum())])
    mineral_of_grain = np.array([minerals[n].id for n in names], dtype=np.uint8)[geo_rng.permutation(order[:n_grains])]
    phases = np.where(solid, mineral_of_grain[grain], 0).astype(np.uint8)
    # grey values: one per mineral, quartz == albite; albite carries lamellae of a random
    # direction and phase per grain (a square wave of zero mean)
    lut = np.full(256, VOID_GREY[kind.sample], dtype=np.float32)
    for m in minerals:
        lut[m.id] = GREY.get(m.name, 1.0)
    grey = lut[phases]
    normals = geo_rng.normal(size=(n_grains, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = geo_rng.uniform(0.0, kind.lamella_period, n_grains)
    albite = phases == minerals["albite"].id
    coords = np.argwhere(albite).astype(np.float64)
    g = grain[albite]
    proj = np.einsum("ij,ij->i", coords, normals[g]) + offsets[g]
    wave = np.where(np.sin(2.0 * np.pi * proj / kind.lamella_period) >= 0, 1.0, -1.0)
    grey[albite] *= (1.0 + kind.lamella_amplitude * wave).astype(np.float32)
    if kind.blur > 0:
        grey = ndimage.gaussian_filter(grey, kind.blur)
    grey = grey + noise_rng.normal(0.0, kind.noise, shape).astype(np.float32)
    ct = np.clip(grey * 20000.0 + 2000.0, 0, 65535).astype(np.uint16)
    mask, layout = seg_label_planes(shape, kind.layout, seed=layout_rng)
    sparse = np.where(mask, phases, 255).astype(np.uint8)
    test_planes = [size // 4, size // 2, (3 * size) // 4]
    params = dict(kind=kind.name, sample=kind.sample, size=int(size), seed=int(seed), grain_vox=kind.grain_vox,
                  blur_sigma=kind.blur, noise=kind.noise, lamella_period=kind.lamella_period,
                  lamella_amplitude=kind.lamella_amplitude, n_grains=int(n_grains), labels=layout,
                  test_planes=test_planes)
    truth = {"grains": grain.astype(np.int32), "lamella_normals": normals, "lamella_offsets": offsets}
    sample = SyntheticSample(ct=ct, phases=phases, particles=particles, minerals=minerals,
                             voxel_size_um=(10.0, 10.0, 10.0), params=params, truth=truth)
    return SegCase(kind=kind, sample=sample, sparse=sparse, test_planes=test_planes, albite=albite)
