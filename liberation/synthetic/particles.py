"""Synthetic particle systems: polydisperse, irregular particles in void, some touching.

Each particle is an ellipsoid with random semi-axes and orientation, made irregular by a
low-order angular perturbation of its radius (Legendre polynomials about random axes)
and cut by a few random planes (the facets of a crushed grain). Particles are placed one
by one, largest first, by random sequential addition: every candidate position is
checked against the already placed particles inside the candidate's bounding box only,
so the cost is per particle, not per volume. Separated particles keep at least one void
voxel between them (no face-adjacency); touching particles are placed so that they share
a contact face with one partner (the newcomer is carved where it would overlap it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from liberation._validation import as_voxel_size, make_rng
from liberation.errors import InputError

__all__ = ["make_particles", "default_esd_range_um"]

_FACE = ndimage.generate_binary_structure(3, 1)


def check_shape(shape, *, name: str = "shape") -> tuple[int, int, int]:
    """Return ``shape`` as a tuple of three positive ints (z, y, x) or raise :class:`InputError`."""
    try:
        values = tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        raise InputError(f"{name}={shape!r} is not a sequence of integers; expected (z, y, x)") from None
    if len(values) != 3:
        raise InputError(f"{name}={shape!r} has {len(values)} axes; expected 3 (z, y, x)")
    if any(v < 8 for v in values) or any(float(v) != float(s) for v, s in zip(values, shape)):
        raise InputError(f"{name}={shape!r} must be three integers >= 8 (z, y, x)")
    return values  # type: ignore[return-value]


def default_esd_range_um(shape: Sequence[int], voxel_size_um) -> tuple[float, float]:
    """Default ESD range: 6 to 40 voxels, the upper end limited to 45 % of the smallest extent.

    At 10 µm voxels and a 96³ volume this is 60-400 µm, which spans the size classes
    63-100, 100-250 and > 250 µm.
    """
    vs = as_voxel_size(voxel_size_um)
    vmin = min(vs)
    extent = min(int(n) * v for n, v in zip(shape, vs))
    hi = min(40.0 * vmin, 0.45 * extent)
    lo = max(min(6.0 * vmin, 0.5 * hi), 2.0 * vmin)
    return (float(lo), float(max(hi, lo)))


def _check_range(esd_range_um, vs) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in esd_range_um)
    except (TypeError, ValueError):
        raise InputError(f"esd_range_um={esd_range_um!r} must be two numbers (min, max) in µm") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise InputError(f"esd_range_um={esd_range_um!r} must satisfy 0 < min <= max (µm)")
    if lo < 2.0 * min(vs):
        raise InputError(f"esd_range_um={esd_range_um!r}: min ESD must be at least 2 voxels ({2 * min(vs):g} µm)")
    return lo, hi


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _inside(q0, q1, q2, dirs, coefs, normals, cut_at) -> np.ndarray:
    """Inside test in the normalised particle frame (unit sphere before perturbation and cuts)."""
    rho = np.sqrt(q0 * q0 + q1 * q1 + q2 * q2)
    inv = 1.0 / np.maximum(rho, np.float32(1e-6))
    f = np.ones_like(rho)
    for d, c, order in zip(dirs, coefs, (2, 3, 4)):
        t = (q0 * np.float32(d[0]) + q1 * np.float32(d[1]) + q2 * np.float32(d[2])) * inv
        if order == 2:
            p = 1.5 * t * t - 0.5
        elif order == 3:
            p = 2.5 * t * t * t - 1.5 * t
        else:
            t2 = t * t
            p = (35.0 * t2 * t2 - 30.0 * t2 + 3.0) / 8.0
        f += np.float32(c) * p
    mask = rho <= np.maximum(f, np.float32(0.45))
    for n, c in zip(normals, cut_at):
        mask &= (q0 * np.float32(n[0]) + q1 * np.float32(n[1]) + q2 * np.float32(n[2])) <= np.float32(c)
    return mask


def _particle_mask(radius_um: float, vs: tuple[float, float, float], irregularity: float, rng) -> np.ndarray:
    """Boolean mask of one particle, padded by one void voxel on every side.

    The particle volume matches that of a sphere of radius ``radius_um`` (the ESD / 2): the
    volume lost to the perturbation and the cuts is estimated by Monte Carlo in the
    normalised frame (4096 points, ~2 % volume error) and compensated by scaling.
    """
    irr = float(irregularity)
    # semi-axes: random aspect ratios, volume preserving
    ratios = np.exp(rng.uniform(-0.6, 0.6, size=3) * irr)
    ratios /= np.prod(ratios) ** (1.0 / 3.0)
    rot = _random_rotation(rng)
    # low-order angular perturbation of the radius
    dirs = _unit_vectors(rng, 3)
    coefs = rng.normal(0.0, 0.35, size=3) * irr
    # facets: random planes in normalised coordinates
    n_cuts = int(rng.integers(2, 9)) if irr > 0 else 0
    normals = _unit_vectors(rng, n_cuts)
    cut_at = rng.uniform(1.0 - irr, 1.0 - 0.1 * irr, size=n_cuts)
    bound = 1.0 + float(np.sum(np.abs(coefs)))
    scale = 1.0
    if irr > 0:
        pts = rng.uniform(-bound, bound, size=(3, 4096)).astype(np.float32)
        frac = float(np.mean(_inside(pts[0], pts[1], pts[2], dirs, coefs, normals, cut_at)))
        volume = max(frac, 1e-3) * (2.0 * bound) ** 3
        scale = (4.0 / 3.0 * np.pi / volume) ** (1.0 / 3.0)
    axes = radius_um * ratios * scale
    # axis-aligned half extents of the rotated ellipsoid, enlarged by the largest perturbation
    extent = np.sqrt(((rot * axes[None, :]) ** 2).sum(axis=1)) * bound
    half = [int(np.ceil(e / v)) + 1 for e, v in zip(extent, vs)]
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    pz, py, px = (g.astype(np.float32) * np.float32(v) for g, v in zip(grids, vs))
    # rotate into the particle frame: q = R^T p, then normalise by the semi-axes
    rot32 = rot.astype(np.float32)
    q = [(pz * rot32[0, i] + py * rot32[1, i] + px * rot32[2, i]) / np.float32(axes[i]) for i in range(3)]
    mask = _inside(q[0], q[1], q[2], dirs, coefs, normals, cut_at)
    if not mask.any():
        mask[tuple(h for h in half)] = True
    return _pad_to_one(mask)


def _pad_to_one(mask: np.ndarray) -> np.ndarray:
    """Return ``mask`` cropped so that exactly one void voxel surrounds the particle."""
    nz = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    core = mask[tuple(slice(idx[0], idx[-1] + 1) for idx in nz)]
    return np.pad(core, 1)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=_FACE)
    if n <= 1:
        return mask
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == int(np.argmax(counts))


class _Placer:
    """Random sequential addition of particle masks into a label volume."""

    def __init__(self, shape, border: str, rng: np.random.Generator):
        self.shape = shape
        self.labels = np.zeros(shape, dtype=np.uint32)
        self.border = border
        self.rng = rng
        self.centres: list[np.ndarray] = []
        self.radii: list[float] = []  # in voxels (mean)

    def _windows(self, corner, size):
        """Slices into the volume and into the local mask for a local array at ``corner``."""
        vol, loc = [], []
        for c, s, n in zip(corner, size, self.shape):
            a, b = max(c, 0), min(c + s, n)
            if b <= a:
                return None
            vol.append(slice(a, b))
            loc.append(slice(a - c, b - c))
        return tuple(vol), tuple(loc)

    def _corner_range(self, size):
        if self.border == "inside":
            return [(0, n - s) for s, n in zip(size, self.shape)]
        return [(-(s // 2), n - (s + 1) // 2) for s, n in zip(size, self.shape)]

    def _commit(self, mask, corner, vol, loc, label):
        region = self.labels[vol]
        region[mask[loc]] = label
        centre = np.array(corner, dtype=float) + np.array(ndimage.center_of_mass(mask))
        self.centres.append(centre)
        self.radii.append(float((3.0 * mask.sum() / (4.0 * np.pi)) ** (1.0 / 3.0)))

    def place_free(self, mask, label, *, tries: int) -> bool:
        size = mask.shape
        ranges = self._corner_range(size)
        if any(hi < lo for lo, hi in ranges):
            return False
        halo = ndimage.binary_dilation(mask, structure=_FACE)
        total = int(mask.sum())
        for _ in range(tries):
            corner = [int(self.rng.integers(lo, hi + 1)) for lo, hi in ranges]
            win = self._windows(corner, size)
            if win is None:
                continue
            vol, loc = win
            if self.border == "cut" and mask[loc].sum() < 0.3 * total:
                continue
            if np.any(self.labels[vol][halo[loc]]):
                continue
            if self.border == "cut":
                kept = mask[loc]
                if ndimage.label(kept, structure=_FACE)[1] != 1:
                    continue
            self._commit(mask, corner, vol, loc, label)
            return True
        return False

    def place_touching(self, mask, label, *, tries: int) -> bool:
        if not self.centres:
            return False
        size = np.array(mask.shape)
        total = int(mask.sum())
        own_centre = np.array(ndimage.center_of_mass(mask))
        own_radius = (3.0 * total / (4.0 * np.pi)) ** (1.0 / 3.0)
        ranges = self._corner_range(tuple(size))
        for _ in range(tries):
            j = int(self.rng.integers(len(self.centres)))
            direction = _unit_vectors(self.rng, 1)[0]
            dist = (self.radii[j] + own_radius) * self.rng.uniform(0.75, 0.95)
            corner = np.rint(self.centres[j] + direction * dist - own_centre).astype(int)
            if any(c < lo or c > hi for c, (lo, hi) in zip(corner, ranges)):
                continue
            win = self._windows(corner, tuple(size))
            if win is None:
                continue
            vol, loc = win
            region = self.labels[vol]
            sub = mask[loc] & (region == 0)
            sub = _largest_component(sub)
            kept = int(sub.sum())
            if kept < 0.7 * total:
                continue
            halo = ndimage.binary_dilation(sub, structure=_FACE)
            neighbours = np.unique(region[halo & ~sub])
            neighbours = neighbours[neighbours != 0]
            if neighbours.size != 1 or int(neighbours[0]) != j + 1:
                continue
            carved = np.zeros_like(mask)
            carved[loc] = sub
            self._commit(carved, tuple(corner), vol, loc, label)
            return True
        return False


def make_particles(
    shape: Sequence[int],
    *,
    voxel_size_um,
    esd_range_um: Sequence[float] | None = None,
    n_particles: int | None = None,
    packing_fraction: float = 0.3,
    irregularity: float = 0.3,
    touching_fraction: float = 0.2,
    border: str = "inside",
    max_tries: int = 200,
    seed=None,
) -> np.ndarray:
    """Label volume of polydisperse, irregular particles in void.

    Parameters
    ----------
    shape : sequence of 3 int
        Volume shape (z, y, x) in voxels.
    voxel_size_um : float or sequence of 3 float
        Voxel size in µm (isotropic or per axis z, y, x).
    esd_range_um : (float, float), optional
        Range of equivalent sphere diameters in µm. ESDs are drawn log-uniformly (number
        weighted) in this range. Default :func:`default_esd_range_um` (6-40 voxels).
    n_particles : int, optional
        Number of particles to draw. If given, ``packing_fraction`` is ignored.
    packing_fraction : float
        Otherwise particles are drawn until their total volume reaches this fraction of
        the volume (0 < value <= 0.6).
    irregularity : float
        0 gives spheres; larger values give elongated, lumpy, faceted particles (0..1).
    touching_fraction : float
        Fraction of particles (after the first) placed in contact with an earlier one:
        they share a face (face-adjacent voxels with different ids). All other particles
        are separated by at least one void voxel. 0 gives no touching particles.
    border : {"inside", "cut"}
        ``"inside"``: every particle lies fully inside the volume with at least one void
        voxel to the border. ``"cut"``: particles may be cut by the volume border.
    max_tries : int
        Random positions tried per particle before it is dropped.
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    numpy.ndarray of uint32, shape ``shape``
        0 = void, particle ids 1..N consecutive in placement order (largest first).
        Particles that could not be placed (volume full) are dropped, so N may be smaller
        than ``n_particles``.

    Raises
    ------
    InputError
        If a parameter is out of range.
    """
    shape = check_shape(shape)
    vs = as_voxel_size(voxel_size_um)
    lo, hi = _check_range(esd_range_um if esd_range_um is not None else default_esd_range_um(shape, vs), vs)
    if border not in ("inside", "cut"):
        raise InputError(f"border={border!r} is not known; expected 'inside' or 'cut'")
    if not (0.0 <= float(irregularity) <= 1.0):
        raise InputError(f"irregularity={irregularity!r} must be in [0, 1]")
    if not (0.0 <= float(touching_fraction) <= 1.0):
        raise InputError(f"touching_fraction={touching_fraction!r} must be in [0, 1]")
    if n_particles is not None and (int(n_particles) != n_particles or n_particles < 0):
        raise InputError(f"n_particles={n_particles!r} must be a non-negative integer")
    if n_particles is None and not (0.0 < float(packing_fraction) <= 0.6):
        raise InputError(f"packing_fraction={packing_fraction!r} must be in (0, 0.6]")
    if int(max_tries) < 1:
        raise InputError(f"max_tries={max_tries!r} must be >= 1")
    rng = make_rng(seed)

    if n_particles is not None:
        esds = np.exp(rng.uniform(np.log(lo), np.log(hi), size=int(n_particles)))
    else:
        target = float(packing_fraction) * float(np.prod(shape)) * float(np.prod(vs))
        batch = []
        total = 0.0
        while total < target:
            d = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            batch.append(d)
            total += np.pi / 6.0 * d**3
        esds = np.array(batch)
    esds = np.sort(esds)[::-1]
    touching = rng.random(esds.size) < float(touching_fraction)

    placer = _Placer(shape, border, rng)
    label = 1
    for esd, touch in zip(esds, touching):
        mask = _particle_mask(esd / 2.0, vs, float(irregularity), rng)
        placed = False
        if touch and label > 1:
            placed = placer.place_touching(mask, label, tries=max(20, int(max_tries) // 4))
        if not placed:
            placed = placer.place_free(mask, label, tries=int(max_tries))
        if placed:
            label += 1
    return placer.labels
