"""A zoo of synthetic sample kinds with exact truth, swept by the labels and registration benchmarks and tests.

The kinds are not one phantom tuned to the library: each is a family drawn from a seed.

Labels (:data:`LABEL_ZOO`, :func:`label_case`): element maps of a polished face with mineral
grains of a mean diameter of 3 to 15 map pixels (block-mixed at the grain boundaries), either

- ``"counts"``: micro-XRF Poisson counts with the six Deep-XFCT Table-2 signatures, the light
  elements Na and Mg weak (5 % of their table level: a few counts, under 10 % of the counts of
  the other elements), or
- ``"wt%"``: quantified SEM-EDS maps in wt% of a gabbro (12 elements, 70 % plagioclase carrying
  0.2 wt% K in a 0.3 wt% noise floor; :func:`liberation.synthetic.eds.make_eds_maps`).

Registration (:data:`REGISTRATION_ZOO`): dense cores of Voronoi grains (no void), particle mounts
and sparse sections with few particles (each section cuts at least two), at CT/map pixel ratios 1, 2 and 4, small (36 x 36) and
larger maps; see :func:`registration_case`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liberation.errors import InputError

__all__ = ["LABEL_ZOO", "REGISTRATION_ZOO", "LabelCase", "LabelKind", "RegistrationCase", "RegistrationKind",
           "label_case", "particles_cut", "registration_case", "registration_sample"]


@dataclass(frozen=True)
class LabelKind:
    """One kind of element-map sample for the labels sweep.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"counts-g8"``.
    maps : {"counts", "wt%"}
        Micro-XRF counts (Deep-XFCT signatures, weak Na/Mg) or SEM-EDS wt% (gabbro).
    grain_px : float
        Mean grain diameter in map pixels.
    map_shape : (int, int)
        Map shape (y, x) in map pixels.
    block : int
        Phase-map pixels per map pixel along each axis (boundary pixels are area-weighted mixtures).
    """

    name: str
    maps: str
    grain_px: float
    map_shape: tuple[int, int] = (96, 96)
    block: int = 4


#: The label kinds: counts and wt% maps, grains of 3, 8 and 15 map pixels.
LABEL_ZOO: tuple[LabelKind, ...] = tuple(
    LabelKind(f"{maps}-g{grain}", maps, float(grain)) for maps in ("counts", "wt%") for grain in (3, 8, 15)
)

#: Grain weights of the Deep-XFCT minerals (albite, ankerite, clinochlore, illite, laumontite, quartz).
COUNTS_ABUNDANCE = (48.0, 4.0, 6.0, 22.0, 6.0, 14.0)


@dataclass
class LabelCase:
    """A labels sample drawn from a :class:`LabelKind`.

    Attributes
    ----------
    kind : LabelKind
    data : SyntheticXRF
        ``maps`` (element -> float32 (y, x)), ``truth`` (majority phase id per map pixel, 0 outside),
        ``fractions`` (true area percent per mineral, index id; ``name``, ``percent``).
    reference : pandas.DataFrame
        Reference signatures (index mineral, one column per element) in the map units.
    minerals : dict of int to str
        Phase id -> mineral name (the ids of ``truth``).
    """

    kind: LabelKind
    data: object
    reference: pd.DataFrame
    minerals: dict

    @property
    def n_minerals(self) -> int:
        """Number of minerals of the reference."""
        return len(self.reference)


def label_case(kind: LabelKind | str, *, seed: int = 0) -> LabelCase:
    """Draw a labels sample of one kind.

    Parameters
    ----------
    kind : LabelKind or str
        A kind or its name in :data:`LABEL_ZOO`.
    seed : int
        Seed of the grains and of the noise.

    Returns
    -------
    LabelCase
    """
    from liberation.synthetic.eds import GABBRO_ABUNDANCE, gabbro_compositions, make_eds_maps
    from liberation.synthetic.xrf import deep_xfct_signatures, make_face, make_xrf_maps

    kind = _kind(kind, LABEL_ZOO, "kind")
    if kind.maps not in ("counts", "wt%"):
        raise InputError(f"kind.maps={kind.maps!r}; expected 'counts' or 'wt%'")
    shape = (kind.map_shape[0] * kind.block, kind.map_shape[1] * kind.block)
    rng = np.random.default_rng(seed)
    face_seed, noise_seed = (int(s) for s in rng.integers(0, 2**31, 2))
    if kind.maps == "counts":
        reference = deep_xfct_signatures()
        abundance = COUNTS_ABUNDANCE
    else:
        reference = gabbro_compositions()
        abundance = GABBRO_ABUNDANCE
    minerals = {i + 1: str(name) for i, name in enumerate(reference.index)}
    phases = make_face(shape, abundances=abundance, grain_size_px=kind.grain_px * kind.block, seed=face_seed)
    if kind.maps == "counts":
        data = make_xrf_maps(phases, reference, minerals=minerals, block=kind.block, seed=noise_seed)
    else:
        data = make_eds_maps(phases, reference, minerals=minerals, block=kind.block, pixel_size_um=6.35 / kind.block,
                             seed=noise_seed)
    return LabelCase(kind=kind, data=data, reference=reference, minerals=minerals)


@dataclass(frozen=True)
class RegistrationKind:
    """One kind of CT + face-map sample for the registration sweep.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"core-r4-m36"``.
    sample : {"core", "particles", "sparse"}
        Dense core of Voronoi grains (no void; Fe map), particle mount (packing 0.3) or sparse
        section with few particles (packing 0.06); the mounts' maps show the phases.
    ratio : int
        Map pixel size / CT voxel size (1, 2 or 4).
    map_px : int
        Map edge in pixels.
    ct_px : int
        CT edge in voxels (cubic volume, 10 µm voxels).
    grain_vox : float
        Core kinds: mean grain size in voxels.
    min_particles, min_particle_px : int
        Sections of particle samples: the map must cut at least ``min_particles`` particles with at
        least ``min_particle_px`` map pixels each (pixel centres on the particle at the true pose);
        the height of the section is redrawn until it does (0: any section). A cut face that shows
        no particle, or one particle section alone (which matches a similar section of any other
        particle), has no pose to find; a user images a face that shows particles.
    """

    name: str
    sample: str
    ratio: int
    map_px: int
    ct_px: int = 144
    grain_vox: float = 12.0
    min_particles: int = 0
    min_particle_px: int = 0


#: Height draws of a section before :func:`registration_case` gives up on ``min_particles``.
MAX_HEIGHT_DRAWS = 1000

#: Registration kinds: dense cores at CT/map pixel ratios 4 (36 x 36 map, as wide as the core),
#: 2 and 1 (a large 128 x 128 map), particle mounts at ratios 4, 2, 1 and a sparse section (since session 9
#: a section that cuts at least two particles with at least 20 map pixels, 5 map pixels across, each).
REGISTRATION_ZOO: tuple[RegistrationKind, ...] = (
    RegistrationKind("core-r4-m36", "core", 4, 36),
    RegistrationKind("core-r4-m36-g20", "core", 4, 36, grain_vox=20.0),
    RegistrationKind("core-r2-m64", "core", 2, 64),
    RegistrationKind("core-r1-m128", "core", 1, 128),
    RegistrationKind("particles-r4-m24", "particles", 4, 24, ct_px=128),
    RegistrationKind("particles-r2-m48", "particles", 2, 48, ct_px=128),
    RegistrationKind("particles-r1-m96", "particles", 1, 96, ct_px=128),
    RegistrationKind("sparse-r2-m48", "sparse", 2, 48, ct_px=128, min_particles=2, min_particle_px=20),
)

VOXEL_UM = 10.0


@dataclass
class RegistrationCase:
    """A CT volume and a face map at a known pose.

    Attributes
    ----------
    kind : RegistrationKind
    ct : numpy.ndarray
        (z, y, x) CT grey values, ``voxel_size_um`` per voxel.
    map : numpy.ndarray
        (rows, columns) float32 face map.
    matrix : numpy.ndarray
        (4, 4) true pose: map-frame µm -> CT µm (see :mod:`liberation.registration`).
    voxel_size_um, pixel_size_um : float
    pose : dict
        The pose parameters (:func:`liberation.synthetic.face.random_face_pose`).
    """

    kind: RegistrationKind
    ct: np.ndarray
    map: np.ndarray
    matrix: np.ndarray
    voxel_size_um: float
    pixel_size_um: float
    pose: dict


def _kind(kind, zoo, what):
    if isinstance(kind, str):
        found = {k.name: k for k in zoo}
        if kind not in found:
            raise InputError(f"{what}={kind!r}; expected one of {sorted(found)}")
        return found[kind]
    return kind


def registration_sample(kind: RegistrationKind | str, *, seed: int = 0):
    """The CT sample of a registration kind (:class:`~liberation.synthetic._result.SyntheticSample`).

    Parameters
    ----------
    kind : RegistrationKind or str
    seed : int
        Seed of the sample (grains, particles, CT noise).
    """
    from liberation.synthetic.cores import dense_core
    from liberation.synthetic.sample import make_sample

    kind = _kind(kind, REGISTRATION_ZOO, "kind")
    shape = (kind.ct_px,) * 3
    if kind.sample == "core":
        return dense_core(shape, voxel_size_um=VOXEL_UM, grain_size_vox=kind.grain_vox, seed=seed)
    if kind.sample in ("particles", "sparse"):
        packing = 0.3 if kind.sample == "particles" else 0.06
        return make_sample(shape=shape, voxel_size_um=VOXEL_UM, packing_fraction=packing, seed=seed)
    raise InputError(f"kind.sample={kind.sample!r}; expected 'core', 'particles' or 'sparse'")


def registration_case(kind: RegistrationKind | str, *, pose_seed: int, sample=None, seed: int = 0) -> RegistrationCase:
    """A face map of a registration kind at a random pose (any height, rotation, mirror, tilt <= 5°).

    For a kind with ``min_particles`` (the sparse section), a pose whose section cuts fewer than
    ``min_particles`` particles with ``min_particle_px`` map pixels each keeps its rotation, mirror,
    tilt and in-plane offset and redraws its height (uniform over the same range, from a generator
    seeded by ``(pose_seed, 1)``, so deterministic) until it does; a first draw that qualifies is
    kept as it is.

    Parameters
    ----------
    kind : RegistrationKind or str
    pose_seed : int
        Seed of the pose and of the map noise.
    sample : SyntheticSample, optional
        The sample of :func:`registration_sample` (drawn from ``seed`` when not given).
    seed : int
        Seed of the sample when ``sample`` is not given.

    Returns
    -------
    RegistrationCase
    """
    from liberation.synthetic.cores import element_counts
    from liberation.synthetic.face import make_face_map, random_face_pose

    kind = _kind(kind, REGISTRATION_ZOO, "kind")
    if sample is None:
        sample = registration_sample(kind, seed=seed)
    pixel = float(kind.ratio) * VOXEL_UM
    shape = (kind.map_px, kind.map_px)
    pose = random_face_pose(sample.ct.shape, VOXEL_UM, map_shape=shape, pixel_size_um=pixel, axis=0, seed=pose_seed)
    if kind.min_particles > 0:
        pose = _section_with_particles(kind, sample, pose, pixel_size_um=pixel, map_shape=shape, pose_seed=pose_seed)
    counts = element_counts(sample.minerals, "Fe") if kind.sample == "core" else None
    fm = make_face_map(sample.phases, VOXEL_UM, map_shape=shape, pixel_size_um=pixel, phase_counts=counts,
                       seed=pose_seed, **pose)
    return RegistrationCase(kind=kind, ct=sample.ct, map=fm.map, matrix=fm.matrix, voxel_size_um=VOXEL_UM,
                            pixel_size_um=pixel, pose=fm.pose)


def particles_cut(sample, pose: dict, *, map_shape: tuple[int, int], pixel_size_um: float) -> np.ndarray:
    """Map pixels on each particle a section cuts, largest first.

    Parameters
    ----------
    sample : SyntheticSample
        A sample with particle ids (``sample.particles``).
    pose : dict
        Keyword arguments of :func:`liberation.registration.geometry.pose_matrix` (``axis``, ``centre_um``,
        ``rotation_deg``, ``mirror``, ``tilt_deg``, ``tilt_direction_deg``), as drawn by
        :func:`liberation.synthetic.face.random_face_pose`.
    map_shape : (int, int)
        Map shape in pixels.
    pixel_size_um : float
        Map pixel size in µm.

    Returns
    -------
    numpy.ndarray of int, shape (n_cut,)
        Per particle cut, the number of map pixel centres whose nearest voxel belongs to it.
    """
    from liberation.registration.geometry import apply_affine, map_pixel_centres, pose_matrix

    if sample.particles is None:
        raise InputError("sample.particles is None; expected a sample with particle ids (make_sample)")
    ids = np.asarray(sample.particles)
    m = pose_matrix(map_shape=tuple(map_shape), pixel_size_um=float(pixel_size_um), **pose)
    vs = np.asarray(sample.voxel_size_um, dtype=float)
    idx = np.rint(apply_affine(m, map_pixel_centres(map_shape, pixel_size_um).reshape(-1, 3)) / vs).astype(int)
    inside = np.all((idx >= 0) & (idx < np.asarray(ids.shape)), axis=1)
    hit = ids[tuple(idx[inside].T)]
    _, counts = np.unique(hit[hit > 0], return_counts=True)
    return np.sort(counts)[::-1]


def _section_with_particles(kind, sample, pose: dict, *, pixel_size_um: float, map_shape, pose_seed: int) -> dict:
    """``pose`` with its height redrawn until the section cuts ``kind.min_particles`` particles (see
    :func:`registration_case`)."""

    def enough(p):
        cut = particles_cut(sample, p, map_shape=map_shape, pixel_size_um=pixel_size_um)
        return int(np.sum(cut >= kind.min_particle_px)) >= kind.min_particles

    if enough(pose):
        return pose
    axis = pose["axis"]
    vs = np.asarray(sample.voxel_size_um, dtype=float)
    extent = np.asarray(sample.ct.shape) * vs
    # the height range of random_face_pose for this tilt: the tilted map stays inside the volume
    half_diag = 0.5 * np.hypot(*map_shape) * pixel_size_um
    depth = half_diag * np.sin(np.deg2rad(pose["tilt_deg"])) + 2 * vs[axis]
    lo, hi = depth, extent[axis] - vs[axis] - depth
    rng = np.random.default_rng([int(pose_seed), 1])
    for _ in range(MAX_HEIGHT_DRAWS):
        centre = list(pose["centre_um"])
        centre[axis] = float(rng.uniform(lo, hi))
        trial = {**pose, "centre_um": centre}
        if enough(trial):
            return trial
    raise InputError(f"kind {kind.name!r}, pose_seed={pose_seed}: no section height in {MAX_HEIGHT_DRAWS} draws cuts "
                     f"{kind.min_particles} particles with {kind.min_particle_px} map pixels each; expected a sample "
                     "with more particles")
