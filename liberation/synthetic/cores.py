"""Dense rock cores: Voronoi grains filling a cylinder (no void between grains), for registration tests.

:func:`dense_core` fills a cylinder along z with Voronoi grains (nearest random seed point),
each grain one mineral drawn by volume fraction, and makes the CT with the library's CT
forward model (:func:`liberation.synthetic.ct.ct_forward`: attenuation from density and
composition, partial-volume blur, noise). Outside the cylinder is air. Adjacent grains of
the same mineral merge, as in a real rock, so the only texture is the mineral boundaries.

:func:`element_counts` turns one element's wt% per mineral into the ``phase_counts`` of
:func:`liberation.synthetic.face.make_face_map`, so a micro-XRF map of that element (e.g. Fe)
of a section at any pose is::

    core = dense_core((144, 144, 144), voxel_size_um=10.0, seed=0)
    pose = random_face_pose(core.ct.shape, 10.0, map_shape=(36, 36), pixel_size_um=40.0, seed=1)
    fe = make_face_map(core.phases, 10.0, map_shape=(36, 36), pixel_size_um=40.0,
                       phase_counts=element_counts(core.minerals, "Fe"), seed=1, **pose)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.spatial import cKDTree

from liberation._validation import as_voxel_size, make_rng
from liberation.errors import InputError
from liberation.minerals import Mineral, MineralList
from liberation.synthetic._result import SyntheticSample
from liberation.synthetic.ct import ct_forward

__all__ = ["CORE_FRACTIONS", "core_minerals", "dense_core", "element_counts"]

#: Default volume fractions of :func:`core_minerals` (one Fe-bearing phase, ankerite).
CORE_FRACTIONS: dict[str, float] = {"quartz": 0.30, "albite": 0.30, "calcite": 0.15, "ankerite": 0.15,
                                    "muscovite": 0.10}


def core_minerals() -> MineralList:
    """Minerals of the dense-core phantom: quartz, albite, calcite, ankerite (the Fe phase), muscovite.

    Stoichiometric wt%; ankerite is Ca(Fe0.6Mg0.4)(CO3)2 (about 15 wt% Fe). Quartz and albite have
    nearly equal CT grey values; only ankerite carries Fe.
    """
    return MineralList(
        [
            Mineral(1, "quartz", 2.65, "#d9d9d9", "SiO2", elements={"Si": 46.74, "O": 53.26}),
            Mineral(2, "albite", 2.62, "#1f77b4", "NaAlSi3O8",
                    elements={"Na": 8.77, "Al": 10.29, "Si": 32.13, "O": 48.81}),
            Mineral(3, "calcite", 2.71, "#f7f7f7", "CaCO3", elements={"Ca": 40.04, "C": 12.00, "O": 47.96}),
            Mineral(4, "ankerite", 3.05, "#7f7f7f", "Ca(Fe0.6Mg0.4)(CO3)2",
                    elements={"Ca": 19.02, "Fe": 15.91, "Mg": 4.61, "C": 11.40, "O": 45.56}),
            Mineral(5, "muscovite", 2.83, "#ff7f0e", "KAl3Si3O10(OH)2",
                    elements={"K": 9.81, "Al": 20.32, "Si": 21.15, "O": 48.21, "H": 0.51}),
        ]
    )


def element_counts(
    minerals: MineralList, element: str, *, max_counts: float = 100.0, background: float = 2.0
) -> dict[int, float]:
    """Mean map counts per phase id for a micro-XRF map of one element (``phase_counts`` of ``make_face_map``).

    Parameters
    ----------
    minerals : MineralList
    element : str
        Element symbol, e.g. ``"Fe"``.
    max_counts : float
        Counts of the mineral richest in ``element``; the others scale with their wt%.
    background : float
        Counts of the void (id 0) and floor added to every mineral (detector background).

    Returns
    -------
    dict of int to float
    """
    wt = {m.id: float((m.elements or {}).get(element, 0.0)) for m in minerals}
    top = max(wt.values(), default=0.0)
    if top <= 0:
        raise InputError(f"element={element!r} is in none of the minerals {minerals.names}; expected one they contain")
    out = {0: float(background)}
    out.update({i: float(background) + max_counts * w / top for i, w in wt.items()})
    return out


def dense_core(
    shape: tuple[int, int, int] = (144, 144, 144),
    *,
    voxel_size_um: float = 10.0,
    grain_size_vox: float = 12.0,
    core_fraction: float = 0.98,
    minerals: MineralList | None = None,
    volume_fractions: Mapping[str, float] | None = None,
    noise: float = 0.02,
    blur_sigma_um: float | None = None,
    seed=None,
) -> SyntheticSample:
    """A drill core along z: Voronoi grains filling a cylinder, CT by the library's forward model.

    Parameters
    ----------
    shape : (int, int, int)
        Volume shape (z, y, x).
    voxel_size_um : float
        Isotropic voxel size in µm.
    grain_size_vox : float
        Mean grain size: the cube root of the mean Voronoi cell volume, in voxels.
    core_fraction : float
        Core diameter as a fraction of the smaller of the y, x sizes (0 < f <= 1).
    minerals : MineralList, optional
        Default :func:`core_minerals`.
    volume_fractions : mapping of str to float, optional
        Fraction of the grains per mineral name (normalised); default :data:`CORE_FRACTIONS` for the
        default minerals, else equal.
    noise : float
        CT noise relative to the highest attenuation (``ct_forward``).
    blur_sigma_um : float, optional
        CT blur (``ct_forward``; default 0.7 voxel).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    SyntheticSample
        ``ct`` (uint16), ``phases`` (uint8, 0 = air outside the core), ``voxel_size_um``, ``minerals``,
        ``params``; no particle ids (``particles`` is None: the core is one piece).
    """
    if len(shape) != 3 or min(shape) < 8:
        raise InputError(f"shape={shape!r} must be three sizes >= 8 (z, y, x)")
    if not (isinstance(grain_size_vox, (int, float)) and 1.0 <= grain_size_vox <= min(shape)):
        raise InputError(f"grain_size_vox={grain_size_vox!r} must be a number in [1, {min(shape)}] voxels")
    if not (isinstance(core_fraction, (int, float)) and 0 < core_fraction <= 1):
        raise InputError(f"core_fraction={core_fraction!r} must be in (0, 1]")
    vs = as_voxel_size(voxel_size_um)
    minerals = core_minerals() if minerals is None else minerals
    if volume_fractions is None:
        volume_fractions = CORE_FRACTIONS if minerals.names == core_minerals().names else dict.fromkeys(minerals.names, 1.0)
    unknown = [n for n in volume_fractions if n not in minerals]
    if unknown:
        raise InputError(f"volume_fractions names unknown minerals {unknown}; known: {', '.join(minerals.names)}")
    names = list(volume_fractions)
    frac = np.array([float(volume_fractions[n]) for n in names])
    if not (np.all(np.isfinite(frac)) and np.all(frac >= 0) and frac.sum() > 0):
        raise InputError(f"volume_fractions={dict(volume_fractions)!r} must be non-negative with a positive sum")
    frac /= frac.sum()
    rng = make_rng(seed)
    rng_ct = np.random.default_rng(rng.integers(2**63))
    nz, ny, nx = shape
    radius = 0.5 * core_fraction * min(ny, nx)
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    # seeds uniform in the cylinder, one per grain volume (plus a margin beyond the ends and the wall)
    pad = grain_size_vox
    vol = np.pi * (radius + pad) ** 2 * (nz + 2 * pad)
    n_seeds = max(2, int(round(vol / grain_size_vox**3)))
    r = (radius + pad) * np.sqrt(rng.random(n_seeds))
    t = rng.uniform(0, 2 * np.pi, n_seeds)
    seeds = np.stack([rng.uniform(-pad, nz - 1 + pad, n_seeds), cy + r * np.sin(t), cx + r * np.cos(t)], 1)
    tree = cKDTree(seeds)
    yy, xx = np.mgrid[:ny, :nx]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    py, px = yy[disc].astype(np.float32), xx[disc].astype(np.float32)
    grains = np.zeros(shape, dtype=np.int32)
    for k in range(nz):
        pts = np.stack([np.full(py.size, k, np.float32), py, px], 1)
        _, idx = tree.query(pts)
        grains[k][disc] = idx + 1
    mineral_of_seed = np.array([minerals[n].id for n in names])[rng.choice(len(names), size=n_seeds, p=frac)]
    lut = np.zeros(n_seeds + 1, dtype=np.uint8)
    lut[1:] = mineral_of_seed
    phases = lut[grains]
    ct = ct_forward(phases, minerals=minerals, voxel_size_um=vs, noise=noise, blur_sigma_um=blur_sigma_um,
                    background=0.0, seed=rng_ct)
    params = dict(shape=tuple(shape), voxel_size_um=voxel_size_um, grain_size_vox=grain_size_vox,
                  core_fraction=core_fraction, volume_fractions={n: float(f) for n, f in zip(names, frac)},
                  noise=noise, blur_sigma_um=blur_sigma_um, n_grains=int(n_seeds))
    return SyntheticSample(ct=ct, phases=phases, voxel_size_um=vs, minerals=minerals, params=params)
