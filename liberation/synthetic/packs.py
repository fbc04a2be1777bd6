"""Packs of touching particles with exact instance truth, to measure particle separation.

Four packs: touching spheres, touching elongated ellipsoids (aspect 1.5-3, random
orientation), irregular grains (lobed and faceted) and a log-normal mix of sphere sizes.
Every particle touches at least one other: particles are added one at a time, each slid
along a random ray from an already placed particle until it overlaps the pack by a small
volume fraction (``overlap``), so neighbours meet in a neck and no void separates them.

Each particle is a gauge function ``f`` of position (``f <= 1`` inside, ``f`` grows
outwards from its centre); a voxel inside several particles belongs to the one with the
smallest ``f``, which cuts a neck by a smooth surface (a plane between equal spheres).
Particles lie wholly inside the volume (no particle is cut by the border), so the truth
count is exact. The grey CT comes from :func:`liberation.synthetic.ct.ct_forward`
(attenuation, partial-volume blur, noise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from liberation._validation import as_voxel_size, make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList, spodumene_ore
from liberation.synthetic._result import SyntheticSample
from liberation.synthetic.particles import _random_rotation, _unit_vectors, check_shape

__all__ = ["touching_spheres", "touching_ellipsoids", "irregular_grains", "mixed_sizes"]


# a shape: (semi_axes_um (3,), rotation (3, 3), extra) -> gauge evaluated on offsets (N, 3) in µm
_Gauge = Callable[[np.ndarray], np.ndarray]


def _ellipsoid_gauge(semi_axes, rot) -> _Gauge:
    inv = (rot / np.asarray(semi_axes)[None, :]).astype(np.float32)  # columns scaled: q = d @ rot / a

    def gauge(d: np.ndarray) -> np.ndarray:
        q = d @ inv
        return np.sqrt(np.einsum("ij,ij->i", q, q))

    return gauge


def _irregular_gauge(semi_axes, rot, rng: np.random.Generator, irregularity: float) -> _Gauge:
    """Ellipsoid with a low-order angular perturbation of its radius (lobes) and facet cuts."""
    base = _ellipsoid_gauge(semi_axes, rot)
    inv = (rot / np.asarray(semi_axes)[None, :]).astype(np.float32)
    dirs = _unit_vectors(rng, 3).astype(np.float32)
    coefs = (rng.normal(0.0, 0.3, size=3) * irregularity).astype(np.float32)
    n_cuts = int(rng.integers(2, 6))
    normals = _unit_vectors(rng, n_cuts).astype(np.float32)
    cut_at = rng.uniform(0.65, 0.9, size=n_cuts).astype(np.float32)

    def gauge(d: np.ndarray) -> np.ndarray:
        rho = base(d)
        q = d @ inv
        unit = q / np.maximum(rho, np.float32(1e-6))[:, None]
        radius = np.ones_like(rho)
        for v, c, order in zip(dirs, coefs, (2, 3, 4)):
            t = unit @ v
            if order == 2:
                p = 1.5 * t * t - 0.5
            elif order == 3:
                p = 2.5 * t**3 - 1.5 * t
            else:
                p = (35.0 * t**4 - 30.0 * t * t + 3.0) / 8.0
            radius += c * p
        f = rho / np.maximum(radius, np.float32(0.5))
        for n, c in zip(normals, cut_at):
            f = np.maximum(f, (q @ n) / c)
        return f

    return gauge


class _Shape:
    """One particle's gauge on its own voxel grid (centre on a voxel centre), cropped to the particle."""

    def __init__(self, gauge, extent_um: float, vs: np.ndarray):
        half = np.ceil(extent_um / vs).astype(int) + 1
        axes = [np.arange(-h, h + 1) * v for h, v in zip(half, vs)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).astype(np.float32)
        f = gauge(grid.reshape(-1, 3)).reshape(grid.shape[:3])
        inside = f <= 1.0
        if not inside.any():
            raise InputError("a particle is smaller than one voxel; give a larger radius_um")
        lo, hi = [], []
        for axis in range(3):
            idx = np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))
            lo.append(idx[0])
            hi.append(idx[-1] + 1)
        crop = tuple(slice(a, b) for a, b in zip(lo, hi))
        self.f = f[crop]
        self.inside = inside[crop]
        self.n = int(self.inside.sum())
        self.offset = np.asarray(lo) - half  # voxel offset of the crop's first voxel from the centre


class _Packer:
    """Adds particles one at a time, each touching the pack (overlap fraction of its volume).

    Centres lie on voxel centres, so each particle's gauge is computed once.
    """

    def __init__(self, shape, vs, rng: np.random.Generator, overlap: float):
        self.shape = np.asarray(shape)
        self.vs = np.asarray(vs, dtype=np.float64)
        self.rng = rng
        self.overlap = float(overlap)
        self.labels = np.zeros(shape, dtype=np.uint32)
        self.best = np.full(shape, np.inf, dtype=np.float32)
        self.occupied = np.zeros(shape, dtype=bool)
        self.centres: list[np.ndarray] = []  # voxel indices
        self.extents: list[float] = []  # µm

    def _window(self, shp: _Shape, centre):
        """Slices of the particle placed at voxel ``centre``; None unless one void voxel from every face."""
        lo = centre + shp.offset
        hi = lo + np.asarray(shp.f.shape)
        if np.any(lo < 1) or np.any(hi > self.shape - 1):
            return None
        return tuple(slice(a, b) for a, b in zip(lo, hi))

    def _overlap(self, shp: _Shape, win) -> float:
        return float(np.count_nonzero(shp.inside & self.occupied[win])) / shp.n

    def _commit(self, shp: _Shape, centre, win) -> None:
        self.centres.append(np.asarray(centre))
        label = len(self.centres)
        best = self.best[win]
        take = shp.inside & (shp.f < best)
        best[take] = shp.f[take]
        self.labels[win][take] = label
        self.occupied[win] |= shp.inside

    def add(self, gauge, extent_um: float, *, tries: int = 300) -> np.ndarray | None:
        """Place one particle touching the pack (the first one in the middle); its centre (µm) or None."""
        shp = _Shape(gauge, extent_um, self.vs)
        middle = self.shape // 2
        if not self.centres:
            win = self._window(shp, middle)
            if win is None:
                return None
            self._commit(shp, middle, win)
            self.extents.append(extent_um)
            return (middle + 0.5) * self.vs
        best_choice = None
        found = 0
        step = max(1.0, 0.25 * extent_um / float(self.vs.min()))  # voxels
        for _ in range(tries):
            j = int(self.rng.integers(len(self.centres)))
            u = _unit_vectors(self.rng, 1)[0] / self.vs * float(self.vs.min())  # voxel units, isotropic in µm
            anchor = self.centres[j]
            # march out along the ray until the overlap drops to the target, then bisect
            reach = (self.extents[j] + extent_um) / float(self.vs.min())
            t_lo, t_hi, choice = 0.0, None, None
            for k in range(1, int(np.ceil(reach / step)) + 2):
                c = np.rint(anchor + k * step * u).astype(int)
                win = self._window(shp, c)
                if win is None:
                    break
                frac = self._overlap(shp, win)
                if frac <= self.overlap:
                    t_hi = k * step
                    if frac > 0:
                        choice = (c, win, frac)
                    break
                t_lo = k * step
            if t_hi is None:
                continue
            while t_hi - t_lo > 0.5:
                t = 0.5 * (t_lo + t_hi)
                c = np.rint(anchor + t * u).astype(int)
                win = self._window(shp, c)
                if win is None:
                    break
                frac = self._overlap(shp, win)
                if frac > self.overlap:
                    t_lo = t
                else:
                    t_hi = t
                    if frac > 0:
                        choice = (c, win, frac)
            if choice is None or choice[2] < 0.25 * self.overlap:
                continue
            # keep the candidate nearest the middle: a compact pack with several contacts
            d = float(np.linalg.norm((choice[0] - middle) * self.vs))
            if best_choice is None or d < best_choice[0]:
                best_choice = (d, choice)
            found += 1
            if found >= 6:
                break
        if best_choice is None:
            return None
        centre, win, _ = best_choice[1]
        self._commit(shp, centre, win)
        self.extents.append(extent_um)
        return (centre + 0.5) * self.vs


def _check_common(shape, voxel_size_um, n_particles, overlap, noise):
    shape = check_shape(shape)
    vs = as_voxel_size(voxel_size_um)
    if isinstance(n_particles, bool) or not isinstance(n_particles, (int, np.integer)) or n_particles < 1:
        raise InputError(f"n_particles={n_particles!r} must be a positive integer")
    if not (isinstance(overlap, (int, float)) and 0 < overlap < 0.2):
        raise InputError(f"overlap={overlap!r} must be a volume fraction in (0, 0.2)")
    if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
        raise InputError(f"noise={noise!r} must be a non-negative relative noise level")
    return shape, vs


def _default_radius(shape, vs, n_particles: int, solid_fraction: float = 0.2) -> float:
    """Sphere radius (µm) so that ``n_particles`` fill ``solid_fraction`` of the volume."""
    volume = float(np.prod(np.asarray(shape) * np.asarray(vs)))
    return float((solid_fraction * volume / n_particles * 3.0 / (4.0 * np.pi)) ** (1.0 / 3.0))


def _check_radius(radius_um, vs, name: str = "radius_um") -> float:
    if not (isinstance(radius_um, (int, float)) and np.isfinite(radius_um) and radius_um >= 2.0 * min(vs)):
        raise InputError(f"{name}={radius_um!r} must be a radius in µm of at least 2 voxels ({2 * min(vs):g} µm)")
    return float(radius_um)


def _build(kind, shape, vs, n_particles, shapes, *, overlap, minerals, phase_ids, noise, seed_ct, rng, params):
    """Pack the shapes (list of (gauge, extent_um, semi_axes_um)), then phases and CT."""
    from liberation.synthetic.ct import ct_forward

    minerals = spodumene_ore() if minerals is None else minerals
    if not isinstance(minerals, MineralList):
        raise InputError(f"minerals must be a MineralList, got {type(minerals).__name__}")
    ids = list(minerals.ids) if phase_ids is None else [int(p) for p in phase_ids]
    if phase_ids is None:
        ids = ids[:1]
    unknown = [p for p in ids if p not in minerals]
    if not ids or unknown:
        raise InputError(f"phase_ids={phase_ids!r} must be mineral ids of minerals (ids {minerals.ids})")
    packer = _Packer(shape, vs, rng, overlap)
    particles = []
    for gauge, extent, semi in shapes:
        centre = packer.add(gauge, extent)
        if centre is None:
            raise InputError(
                f"{kind}: could only place {len(particles)} of n_particles={n_particles} touching particles "
                f"in shape={tuple(shape)}; give a larger shape or smaller particles"
            )
        semi = sorted((float(a) for a in semi), reverse=True)
        particles.append({"centre_um": [float(c) for c in centre], "semi_axes_um": semi,
                          "aspect": semi[0] / semi[-1], "phase": int(rng.choice(ids))})
    labels = packer.labels
    lut = np.zeros(len(particles) + 1, dtype=np.uint8)
    lut[1:] = [p["phase"] for p in particles]
    phases = lut[labels]
    ct = ct_forward(phases, minerals=minerals, voxel_size_um=vs, noise=noise, seed=seed_ct)
    return SyntheticSample(ct=ct, phases=phases, voxel_size_um=tuple(vs), particles=labels, minerals=minerals,
                           params=params, particle_info=tuple(particles))


def _seeds(seed):
    rng = make_rng(seed)
    return rng, np.random.default_rng(rng.integers(2**63))


def touching_spheres(
    *,
    shape: Sequence[int] = (80, 80, 80),
    voxel_size_um=10.0,
    n_particles: int = 30,
    radius_um: float | None = None,
    radius_spread: float = 0.1,
    overlap: float = 0.02,
    minerals: MineralList | None = None,
    phase_ids: Sequence[int] | None = None,
    noise: float = 0.03,
    seed=None,
) -> SyntheticSample:
    """A pack of touching spheres: every sphere meets a neighbour in a neck, no gap.

    Parameters
    ----------
    shape : (int, int, int)
        Volume shape in voxels (z, y, x).
    voxel_size_um : float or (float, float, float)
        Voxel size in µm.
    n_particles : int
        Number of spheres (exactly this many, or :class:`InputError`).
    radius_um : float, optional
        Mean radius in µm; default such that the spheres fill 30 % of the volume.
    radius_spread : float
        Radii are uniform in ``radius_um * (1 ± radius_spread)``.
    overlap : float
        Volume fraction of each new sphere that overlaps the pack (sets the neck size).
    minerals : MineralList, optional
        Minerals for the CT; default :func:`liberation.minerals.spodumene_ore`.
    phase_ids : sequence of int, optional
        Mineral ids drawn at random per particle; default the first mineral only.
    noise : float
        CT noise relative to the highest attenuation (see ``ct_forward``).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    SyntheticSample
    """
    shape, vs = _check_common(shape, voxel_size_um, n_particles, overlap, noise)
    radius = _default_radius(shape, vs, n_particles) if radius_um is None else _check_radius(radius_um, vs)
    if not (isinstance(radius_spread, (int, float)) and 0 <= radius_spread < 0.5):
        raise InputError(f"radius_spread={radius_spread!r} must be in [0, 0.5)")
    rng, rng_ct = _seeds(seed)
    radii = np.sort(rng.uniform(1 - radius_spread, 1 + radius_spread, size=n_particles) * radius)[::-1]
    eye = np.eye(3)
    shapes = [(_ellipsoid_gauge((r, r, r), eye), r, (r, r, r)) for r in radii]
    params = {"generator": "touching_spheres", "shape": shape, "n_particles": n_particles, "radius_um": radius,
              "radius_spread": radius_spread, "overlap": overlap, "noise": noise}
    return _build("touching_spheres", shape, vs, n_particles, shapes, overlap=overlap, minerals=minerals,
                  phase_ids=phase_ids, noise=noise, seed_ct=rng_ct, rng=rng, params=params)


def _elongated_axes(r: float, aspect: float) -> tuple[float, float, float]:
    """Prolate semi-axes of the volume of a sphere of radius ``r`` with the given aspect."""
    b = r * aspect ** (-1.0 / 3.0)
    return (b * aspect, b, b)


def touching_ellipsoids(
    *,
    shape: Sequence[int] = (80, 80, 80),
    voxel_size_um=10.0,
    n_particles: int = 30,
    radius_um: float | None = None,
    aspect_range: tuple[float, float] = (1.5, 3.0),
    overlap: float = 0.02,
    minerals: MineralList | None = None,
    phase_ids: Sequence[int] | None = None,
    noise: float = 0.03,
    seed=None,
) -> SyntheticSample:
    """A pack of touching prolate ellipsoids of random orientation.

    Parameters
    ----------
    shape, voxel_size_um, n_particles, overlap, minerals, phase_ids, noise, seed
        As in :func:`touching_spheres`.
    radius_um : float, optional
        Equivalent-sphere radius in µm (each ellipsoid has the volume of this sphere, ±10 %);
        default such that the particles fill 30 % of the volume.
    aspect_range : (float, float)
        Aspect ratio (long / short semi-axis) drawn uniformly in this range.

    Returns
    -------
    SyntheticSample
        ``particles[i]["aspect"]`` is the drawn aspect.
    """
    shape, vs = _check_common(shape, voxel_size_um, n_particles, overlap, noise)
    radius = _default_radius(shape, vs, n_particles) if radius_um is None else _check_radius(radius_um, vs)
    try:
        lo, hi = (float(a) for a in aspect_range)
    except (TypeError, ValueError):
        raise InputError(f"aspect_range={aspect_range!r} must be two numbers (min, max) >= 1") from None
    if not (1.0 <= lo <= hi <= 10.0):
        raise InputError(f"aspect_range={aspect_range!r} must satisfy 1 <= min <= max <= 10")
    rng, rng_ct = _seeds(seed)
    radii = np.sort(rng.uniform(0.9, 1.1, size=n_particles) * radius)[::-1]
    shapes = []
    for r in radii:
        semi = _elongated_axes(r, float(rng.uniform(lo, hi)))
        shapes.append((_ellipsoid_gauge(semi, _random_rotation(rng)), semi[0], semi))
    params = {"generator": "touching_ellipsoids", "shape": shape, "n_particles": n_particles, "radius_um": radius,
              "aspect_range": (lo, hi), "overlap": overlap, "noise": noise}
    return _build("touching_ellipsoids", shape, vs, n_particles, shapes, overlap=overlap, minerals=minerals,
                  phase_ids=phase_ids, noise=noise, seed_ct=rng_ct, rng=rng, params=params)


def irregular_grains(
    *,
    shape: Sequence[int] = (80, 80, 80),
    voxel_size_um=10.0,
    n_particles: int = 30,
    radius_um: float | None = None,
    irregularity: float = 1.0,
    overlap: float = 0.02,
    minerals: MineralList | None = None,
    phase_ids: Sequence[int] | None = None,
    noise: float = 0.03,
    seed=None,
) -> SyntheticSample:
    """A pack of touching irregular grains: lobed ellipsoids (aspect up to ~2) cut by 2-5 facets.

    Parameters
    ----------
    shape, voxel_size_um, n_particles, overlap, minerals, phase_ids, noise, seed
        As in :func:`touching_spheres`.
    radius_um : float, optional
        Radius in µm of the generating ellipsoid's equivalent sphere (the grain is smaller
        by its cuts); default such that the ellipsoids would fill 30 % of the volume.
    irregularity : float
        Strength of the lobes (0 = smooth faceted ellipsoids; 1 = default).

    Returns
    -------
    SyntheticSample
    """
    shape, vs = _check_common(shape, voxel_size_um, n_particles, overlap, noise)
    radius = _default_radius(shape, vs, n_particles) if radius_um is None else _check_radius(radius_um, vs)
    if not (isinstance(irregularity, (int, float)) and 0 <= irregularity <= 2):
        raise InputError(f"irregularity={irregularity!r} must be in [0, 2]")
    rng, rng_ct = _seeds(seed)
    radii = np.sort(rng.uniform(0.85, 1.15, size=n_particles) * radius)[::-1]
    shapes = []
    for r in radii:
        semi = _elongated_axes(r, float(rng.uniform(1.0, 2.0)))
        gauge = _irregular_gauge(semi, _random_rotation(rng), rng, float(irregularity))
        shapes.append((gauge, semi[0] * 1.6, semi))
    params = {"generator": "irregular_grains", "shape": shape, "n_particles": n_particles, "radius_um": radius,
              "irregularity": irregularity, "overlap": overlap, "noise": noise}
    return _build("irregular_grains", shape, vs, n_particles, shapes, overlap=overlap, minerals=minerals,
                  phase_ids=phase_ids, noise=noise, seed_ct=rng_ct, rng=rng, params=params)


def mixed_sizes(
    *,
    shape: Sequence[int] = (96, 96, 96),
    voxel_size_um=10.0,
    n_particles: int = 40,
    median_radius_um: float | None = None,
    log_sigma: float = 0.4,
    min_radius_um: float | None = None,
    overlap: float = 0.02,
    minerals: MineralList | None = None,
    phase_ids: Sequence[int] | None = None,
    noise: float = 0.03,
    seed=None,
) -> SyntheticSample:
    """A pack of touching spheres with log-normal radii (largest placed first).

    Parameters
    ----------
    shape, voxel_size_um, n_particles, overlap, minerals, phase_ids, noise, seed
        As in :func:`touching_spheres`.
    median_radius_um : float, optional
        Median radius in µm; default 0.8 x the radius that fills 30 % of the volume.
    log_sigma : float
        Standard deviation of ln(radius).
    min_radius_um : float, optional
        Radii are clipped to at least this (default 2.5 voxels) and at most 3 x the median.

    Returns
    -------
    SyntheticSample
    """
    shape, vs = _check_common(shape, voxel_size_um, n_particles, overlap, noise)
    median = (0.8 * _default_radius(shape, vs, n_particles) if median_radius_um is None
              else _check_radius(median_radius_um, vs, "median_radius_um"))
    if not (isinstance(log_sigma, (int, float)) and 0 <= log_sigma <= 1.5):
        raise InputError(f"log_sigma={log_sigma!r} must be in [0, 1.5]")
    r_min = 2.5 * min(vs) if min_radius_um is None else _check_radius(min_radius_um, vs, "min_radius_um")
    rng, rng_ct = _seeds(seed)
    radii = np.clip(median * np.exp(rng.normal(0.0, log_sigma, size=n_particles)), r_min, 3.0 * median)
    radii = np.sort(radii)[::-1]
    eye = np.eye(3)
    shapes = [(_ellipsoid_gauge((r, r, r), eye), r, (r, r, r)) for r in radii]
    params = {"generator": "mixed_sizes", "shape": shape, "n_particles": n_particles, "median_radius_um": median,
              "log_sigma": log_sigma, "min_radius_um": r_min, "overlap": overlap, "noise": noise}
    return _build("mixed_sizes", shape, vs, n_particles, shapes, overlap=overlap, minerals=minerals,
                  phase_ids=phase_ids, noise=noise, seed_ct=rng_ct, rng=rng, params=params)
