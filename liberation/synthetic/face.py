"""Synthetic 2D maps of a cut face at a known pose in a CT volume (truth for registration).

:func:`make_face_map` samples a plane of a phase (or CT) volume at a given pose: position
along an axis, in-plane rotation, mirror flip, tilt and translation, at a pixel size
coarser than the CT voxel (4x by default). The map intensity is an element-count-like
value per phase (not attenuation, so it is related to the CT grey values non-linearly,
and phases with nearly equal CT grey values can have very different counts), averaged over
the pixel footprint, with Poisson noise. It returns the map, the true 4x4 affine (map
frame µm -> CT µm, convention in ``docs/registration.md``) and the true label map.

:func:`textured_phantom` is a small textured CT volume with mineral grains, used when
``liberation.synthetic.make_sample`` is not wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from liberation._validation import as_voxel_size, make_rng
from liberation.errors import InputError
from liberation.minerals import spodumene_ore
from liberation.registration.geometry import apply_affine, map_pixel_centres, pose_matrix
from liberation.synthetic._result import SyntheticSample, deprecated_alias

__all__ = ["FaceMap", "make_face_map", "random_face_pose", "textured_phantom", "DEFAULT_PHASE_COUNTS"]

#: Mean counts per phase id of a synthetic "element map" (0 void, 1 spodumene, 2 quartz, 3 albite,
#: 4 muscovite): not monotone in CT attenuation, and quartz/albite (equal CT grey) differ.
DEFAULT_PHASE_COUNTS: dict[int, float] = {0: 2.0, 1: 30.0, 2: 8.0, 3: 60.0, 4: 100.0}

# Relative attenuation per phase for the phantom CT (quartz and albite nearly equal).
_PHANTOM_ATTENUATION = np.array([0.05, 1.0, 0.72, 0.70, 0.86])


@dataclass
class FaceMap:
    """A synthetic map of a face with its truth.

    Attributes
    ----------
    map : numpy.ndarray, float32, shape (rows, columns)
        Element-count-like intensities with Poisson noise.
    matrix : numpy.ndarray, shape (4, 4)
        True affine from map-frame (z, y, x) µm to CT (z, y, x) µm.
    labels : numpy.ndarray or None, uint8, shape (rows, columns)
        True phase at each pixel centre (0 outside the volume); None when built from CT only.
    pixel_size_um : float
    pose : dict
        The pose parameters used.
    """

    map: np.ndarray
    matrix: np.ndarray
    labels: np.ndarray | None
    pixel_size_um: float
    pose: dict = field(default_factory=dict)


def textured_phantom(
    shape: tuple[int, int, int] = (96, 96, 96),
    *,
    voxel_size_um: float = 10.0,
    particle_scale_vox: float = 6.0,
    grain_scale_vox: float = 3.0,
    solid_fraction: float = 0.55,
    noise: float = 0.03,
    seed=None,
) -> SyntheticSample:
    """Textured CT volume of a cylindrical plug of particles with mineral grains.

    Parameters
    ----------
    shape : (int, int, int)
        Volume shape (z, y, x).
    voxel_size_um : float
        Isotropic voxel size in µm.
    particle_scale_vox, grain_scale_vox : float
        Gaussian correlation lengths (voxels) of the particle and grain random fields.
    solid_fraction : float
        Fraction of the cylinder occupied by particles.
    noise : float
        Gaussian CT noise relative to the spodumene attenuation.
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    SyntheticSample
        ``ct``, ``phases`` (0 void, 1..4 spodumene, quartz, albite, muscovite), ``voxel_size_um``,
        ``minerals`` (``spodumene_ore()``) and ``params``; no particle ids (``particles`` is None).
    """
    if len(shape) != 3 or min(shape) < 8:
        raise InputError(f"shape={shape!r} must be three sizes >= 8 (z, y, x)")
    rng = make_rng(seed)
    vs = as_voxel_size(voxel_size_um)
    field_p = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), particle_scale_vox, mode="wrap")
    _, ny, nx = shape
    yy, xx = np.ogrid[:ny, :nx]
    cyl = ((yy - (ny - 1) / 2) ** 2 + (xx - (nx - 1) / 2) ** 2) <= (0.47 * min(ny, nx)) ** 2
    thr = np.quantile(field_p[:, cyl], 1 - solid_fraction)
    solid = (field_p > thr) & cyl[None]
    del field_p
    weights = np.array([1.0, 1.25, 1.1, 0.9], dtype=np.float32)
    best = np.full(shape, -np.inf, dtype=np.float32)
    phases = np.zeros(shape, dtype=np.uint8)
    for k, w in enumerate(weights):
        f = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), grain_scale_vox, mode="wrap")
        f *= w / f.std()
        upd = f > best
        best[upd] = f[upd]
        phases[upd] = k + 1
    del best
    phases[~solid] = 0
    att = _PHANTOM_ATTENUATION.astype(np.float32)[phases]
    att = ndi.gaussian_filter(att, 0.7)
    att += noise * rng.standard_normal(shape, dtype=np.float32)
    ct = np.clip(att * 40000.0 + 2000.0, 0, 65535).astype(np.uint16)
    params = dict(shape=tuple(shape), voxel_size_um=voxel_size_um, particle_scale_vox=particle_scale_vox,
                  grain_scale_vox=grain_scale_vox, solid_fraction=solid_fraction, noise=noise)
    return SyntheticSample(ct=ct, phases=phases, voxel_size_um=vs, minerals=spodumene_ore(), params=params)


def random_face_pose(
    volume_shape: tuple[int, int, int],
    voxel_size_um,
    *,
    map_shape: tuple[int, int],
    pixel_size_um: float,
    axis: int = 0,
    max_tilt_deg: float = 5.0,
    allow_mirror: bool = True,
    max_offset_fraction: float = 0.1,
    seed=None,
) -> dict:
    """A random pose (keyword arguments of :func:`make_face_map`) that keeps the map near the volume centre.

    The position along ``axis`` is uniform over the part of the volume where the tilted map
    stays inside; rotation is uniform over the full circle; tilt uniform in ``[0, max_tilt_deg]``
    in a random direction; the in-plane centre is offset by up to ``max_offset_fraction`` of
    the section size.
    """
    rng = make_rng(seed)
    vs = np.asarray(as_voxel_size(voxel_size_um))
    extent = np.asarray(volume_shape) * vs
    half_diag = 0.5 * np.hypot(*map_shape) * pixel_size_um
    tilt = float(rng.uniform(0, max_tilt_deg))
    depth = half_diag * np.sin(np.deg2rad(tilt)) + 2 * vs[axis]
    lo, hi = depth, extent[axis] - vs[axis] - depth
    if hi <= lo:
        lo = hi = 0.5 * (extent[axis] - vs[axis])
    centre = 0.5 * (extent - vs)
    centre[axis] = rng.uniform(lo, hi)
    for ax in range(3):
        if ax != axis:
            centre[ax] += rng.uniform(-1, 1) * max_offset_fraction * extent[ax]
    return {
        "axis": int(axis),
        "centre_um": [float(v) for v in centre],
        "rotation_deg": float(rng.uniform(0, 360)),
        "mirror": bool(rng.integers(2)) if allow_mirror else False,
        "tilt_deg": tilt,
        "tilt_direction_deg": float(rng.uniform(0, 360)),
    }


def _nonlinear_counts(ct: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Element-count-like, non-monotone function of normalised CT grey values."""
    lo, hi = np.percentile(ct, [1, 99.5])
    g = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)
    return 100.0 * np.exp(-(((g - 0.6) / 0.12) ** 2)) + 25.0 * g**3 + 2.0


def make_face_map(
    phases: np.ndarray | None = None,
    voxel_size_um=None,
    *,
    ct: np.ndarray | None = None,
    pixel_size_um: float | None = None,
    map_shape: tuple[int, int] = (48, 48),
    axis: int = 0,
    centre_um=None,
    rotation_deg: float = 0.0,
    mirror: bool = False,
    tilt_deg: float = 0.0,
    tilt_direction_deg: float = 0.0,
    phase_counts: dict[int, float] | None = None,
    counts_scale: float = 1.0,
    supersample: int | None = None,
    seed=None,
) -> FaceMap:
    """Sample a synthetic element map of a face at a known pose.

    Parameters
    ----------
    phases : numpy.ndarray, integer, shape (z, y, x), optional
        Phase ids; the map intensity is ``phase_counts[id]`` averaged over each pixel footprint.
    voxel_size_um : float or (float, float, float)
        CT voxel size in µm.
    ct : numpy.ndarray, shape (z, y, x), optional
        CT grey values; used (through a non-monotone function) when ``phases`` is not given.
    pixel_size_um : float, optional
        Map pixel size in µm; default 4x the smallest voxel size.
    map_shape : (int, int)
        Map (rows, columns).
    axis, centre_um, rotation_deg, mirror, tilt_deg, tilt_direction_deg
        Pose, see :func:`liberation.registration.geometry.pose_matrix`. ``centre_um`` defaults
        to the volume centre.
    phase_counts : dict, optional
        Mean counts per phase id; default :data:`DEFAULT_PHASE_COUNTS`.
    counts_scale : float
        Multiplies the counts before Poisson noise (higher = less noise).
    supersample : int, optional
        Sub-samples per pixel side (default ``ceil(pixel / voxel)``).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    FaceMap
    """
    if phases is None and ct is None:
        raise InputError("give phases= (phase ids) or ct= (grey values) to sample the face map from")
    vol = phases if phases is not None else ct
    if vol.ndim != 3:
        raise InputError(f"volume has shape {vol.shape}; expected 3 axes (z, y, x)")
    vs = np.asarray(as_voxel_size(voxel_size_um))
    p = float(pixel_size_um) if pixel_size_um is not None else 4.0 * float(vs.min())
    if not p > 0:
        raise InputError(f"pixel_size_um={pixel_size_um!r} must be positive (µm)")
    if centre_um is None:
        centre_um = 0.5 * (np.asarray(vol.shape) - 1) * vs
    matrix = pose_matrix(
        axis=axis,
        centre_um=centre_um,
        rotation_deg=rotation_deg,
        mirror=mirror,
        map_shape=tuple(map_shape),
        pixel_size_um=p,
        tilt_deg=tilt_deg,
        tilt_direction_deg=tilt_direction_deg,
    )
    rng = make_rng(seed)
    ss = int(supersample) if supersample else max(1, int(np.ceil(p / vs.min())))
    offs = ((np.arange(ss) + 0.5) / ss - 0.5) * p
    base = map_pixel_centres(tuple(map_shape), p)  # (H, W, 3)
    sub = np.zeros((ss, ss, 3))
    sub[..., 1], sub[..., 2] = np.meshgrid(offs, offs, indexing="ij")
    pts = base[:, :, None, None, :] + sub[None, None]  # (H, W, ss, ss, 3)
    idx = apply_affine(matrix, pts) / vs  # voxel coordinates
    shape = np.asarray(vol.shape)
    inside = np.all((idx > -0.5) & (idx < shape - 0.5), axis=-1)
    if phases is not None:
        counts = DEFAULT_PHASE_COUNTS if phase_counts is None else phase_counts
        lut = np.zeros(int(phases.max()) + 1, dtype=np.float64)
        for pid, val in counts.items():
            if 0 <= pid < lut.size:
                lut[pid] = val
        vox = np.clip(np.rint(idx).astype(np.int64), 0, shape - 1)
        ph = phases[vox[..., 0], vox[..., 1], vox[..., 2]]
        lam = np.where(inside, lut[ph], counts.get(0, 0.0))
    else:
        vals = ndi.map_coordinates(ct.astype(np.float32), idx.reshape(-1, 3).T, order=1, mode="nearest")
        lam = np.where(inside, _nonlinear_counts(ct, vals.reshape(inside.shape)), 2.0)
    lam = lam.mean(axis=(2, 3)) * counts_scale
    image = rng.poisson(lam).astype(np.float32)
    labels = None
    if phases is not None:
        cidx = apply_affine(matrix, base) / vs
        cin = np.all((cidx > -0.5) & (cidx < shape - 0.5), axis=-1)
        cv = np.clip(np.rint(cidx).astype(np.int64), 0, shape - 1)
        labels = np.where(cin, phases[cv[..., 0], cv[..., 1], cv[..., 2]], 0).astype(np.uint8)
    pose = {
        "axis": int(axis),
        "centre_um": [float(v) for v in np.asarray(centre_um, dtype=float)],
        "rotation_deg": float(rotation_deg),
        "mirror": bool(mirror),
        "tilt_deg": float(tilt_deg),
        "tilt_direction_deg": float(tilt_direction_deg),
    }
    return FaceMap(map=image, matrix=matrix, labels=labels, pixel_size_um=p, pose=pose)


__getattr__ = deprecated_alias(__name__, "PhantomVolume")  # one release
