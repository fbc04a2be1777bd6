"""Synthetic X-ray transmission (XRT) images of ore fragments on a sorting belt, with exact masks.

The forward model is Beer-Lambert along vertical rays through the belt::

    I(y, x) = I0 * g(x) * exp(-(mu_belt * t_belt + sum_f mu_f(y, x) * t_f(y, x) + dust(y, x)))

``t_f`` is the path length through fragment ``f`` (a rounded star-shaped body whose
thickness falls to zero at its outline), ``mu_f`` the linear attenuation of its material:
a gangue matrix (quartz/feldspar) with intergrown ore-mineral (spodumene) grains whose
area fraction is the fragment's grade. ``g(x)`` is the gain of detector element ``x``
(a line-scan detector across the belt, rows are time along the belt). Poisson photon
noise and Gaussian read noise follow.

Truth: ``mask`` (0 background, 1 ore, 2 waste; ore when the grade is at least
``grade_cutoff``), ``instances`` (fragment ids, where fragments touch the thicker one
owns the pixel). Fines (smaller than ``fines_max_mm``) and dust are background: too small
to sort. Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from liberation._validation import make_rng
from liberation.deploy.belt.preprocess import belt_attenuation
from liberation.errors import InputError

__all__ = [
    "BELT_CLASSES",
    "PHYSICS_RANGES",
    "SIZE_CLASSES_MM",
    "BeltImage",
    "belt_attenuation",
    "make_belt_dataset",
    "make_belt_image",
]

#: Size classes of the paper's trials, in mm (sieve intervals).
SIZE_CLASSES_MM: tuple[tuple[float, float], ...] = ((0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0))
#: Per-frame physics ranges of ``make_belt_dataset(physics=...)`` (plausible XRT beams and rock shapes).
PHYSICS_RANGES: dict[str, tuple[float, float]] = {
    "mu_gangue_per_mm": (0.07, 0.14),    # silicate gangue, hard to soft beams, 1/mm
    "ore_gangue_ratio": (1.8, 2.6),      # ore-mineral / gangue attenuation
    "profile": (0.2, 1.0),               # thickness profile exponent: slab .. paraboloid
    "thickness_ratio_low": (0.35, 0.5),  # thickness / diameter, low end
    "thickness_ratio_high": (0.6, 0.8),  # thickness / diameter, high end
}
#: Default class names of the belt masks (index = label value).
BELT_CLASSES: tuple[str, ...] = ("background", "ore", "waste")


@dataclass(frozen=True)
class BeltImage:
    """One synthetic XRT belt frame and its truth.

    Attributes
    ----------
    image : ndarray, (y, x) uint16
        Detector counts; rows are along the belt (time), columns across it.
    mask : ndarray, (y, x) uint8
        0 background (belt, fines, dust), 1 ore, 2 waste.
    instances : ndarray, (y, x) int32
        Fragment id (1..n) owning each pixel, 0 elsewhere.
    fragments : dict of ndarray
        Per fragment (index ``id - 1``): ``id``, ``label`` (1 ore / 2 waste), ``grade``
        (ore-mineral fraction 0..1), ``size_mm`` (equivalent diameter), ``thickness_mm``,
        ``mass_g``, ``centroid_y``, ``centroid_x`` (pixels).
    pixel_size_um : float
        Belt pixel size in µm (square pixels).
    i0 : float
        Open-beam counts (no belt, gain 1).
    params : dict
        Generator parameters.
    """

    image: np.ndarray
    mask: np.ndarray
    instances: np.ndarray
    fragments: dict
    pixel_size_um: float
    i0: float
    params: dict = field(default_factory=dict)


def _fragment_shape(rng, radius_px: float, aspect: float, angle: float, half: int):
    """Normalised radius r/R(theta) on a (2*half+1)^2 grid for a star-shaped body."""
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    u = (c * xx + s * yy) / np.sqrt(aspect)
    v = (-s * xx + c * yy) * np.sqrt(aspect)
    theta = np.arctan2(v, u)
    rad = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        rad += rng.uniform(0.0, 0.12 / (k - 1) ** 0.5) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(u, v) / (radius_px * rad)


def make_belt_image(
    shape: tuple[int, int] = (256, 256),
    *,
    pixel_size_um: float = 500.0,
    size_class_mm: tuple[float, float] = (10.0, 15.0),
    coverage: float = 0.3,
    ore_fraction: float = 0.4,
    adhesion: float = 0.25,
    grade_cutoff: float = 0.35,
    mu_gangue_per_mm: float = 0.10,
    mu_ore_per_mm: float = 0.22,
    thickness_ratio: tuple[float, float] = (0.45, 0.7),
    profile: float = 0.5,
    fines: float = 0.002,
    fines_max_mm: float = 1.5,
    dust: float = 0.04,
    i0: float = 4000.0,
    gain_sigma: float = 0.03,
    read_noise: float = 4.0,
    belt_attenuation_total: float = 0.05,
    noise: bool = True,
    seed=None,
) -> BeltImage:
    """Make one synthetic XRT belt frame of ore and waste fragments with exact masks.

    Parameters
    ----------
    shape : (int, int)
        Image size (rows along the belt, columns across it), pixels.
    pixel_size_um : float
        Belt pixel size in µm.
    size_class_mm : (float, float)
        Sieve interval of the fragments (equivalent diameter), mm; e.g. (10, 15).
    coverage : float
        Target fraction of the belt covered by fragments (0..0.8).
    ore_fraction : float
        Probability that a fragment is ore (grade at or above ``grade_cutoff``).
    adhesion : float
        Probability that a fragment is placed touching/overlapping a previous one.
    grade_cutoff : float
        Ore-mineral fraction separating ore (>=) from waste; grades are drawn
        from [cutoff + 0.1, 0.9] for ore and [0, cutoff - 0.15] for waste.
    mu_gangue_per_mm, mu_ore_per_mm : float
        Linear attenuation of the gangue matrix and of the ore mineral, 1/mm.
    thickness_ratio : (float, float)
        Fragment thickness as a fraction of its equivalent diameter (range).
    profile : float
        Thickness profile exponent ``q``: ``t = T (1 - r²)^q`` with ``r`` the normalised
        radius; 0.5 an ellipsoid (default), 1 a paraboloid, small values a flat slab with
        steep edges.
    fines : float
        Number of fines per belt pixel (fragments below ``fines_max_mm``, background).
    fines_max_mm : float
        Largest fine; fragments of the size class start above it.
    dust : float
        Peak attenuation of the smooth dust haze (background).
    i0 : float
        Open-beam counts.
    gain_sigma : float
        Relative standard deviation of the detector element gains.
    read_noise : float
        Gaussian read noise, counts.
    belt_attenuation_total : float
        Attenuation of the empty belt.
    noise : bool
        Add Poisson photon noise and read noise (False: rounded expected counts).
    seed : int or numpy.random.Generator, optional
        Random seed.

    Returns
    -------
    BeltImage
    """
    if len(tuple(shape)) != 2 or min(shape) < 16:
        raise InputError(f"shape={shape!r} must be two sizes of at least 16 pixels (rows, columns)")
    if not (pixel_size_um > 0):
        raise InputError(f"pixel_size_um={pixel_size_um!r} must be positive (µm)")
    lo, hi = (float(v) for v in size_class_mm)
    if not (0 <= lo < hi):
        raise InputError(f"size_class_mm={size_class_mm!r} must be an interval (low, high) in mm with low < high")
    if not (0 < coverage <= 0.8):
        raise InputError(f"coverage={coverage!r} must be in (0, 0.8]")
    for name, value in (("ore_fraction", ore_fraction), ("adhesion", adhesion)):
        if not (0 <= value <= 1):
            raise InputError(f"{name}={value!r} must be in [0, 1]")
    if not (0.05 <= profile <= 2.0):
        raise InputError(f"profile={profile!r} must be in [0.05, 2] (thickness profile exponent)")
    if not (0.2 <= grade_cutoff <= 0.75):
        raise InputError(f"grade_cutoff={grade_cutoff!r} must be in [0.2, 0.75]")
    rng = make_rng(seed)
    ny, nx = (int(s) for s in shape)
    px_mm = pixel_size_um / 1000.0
    lo = max(lo, fines_max_mm)
    hi = max(hi, lo + 0.5)

    att = np.zeros((ny, nx), np.float32)
    best_t = np.zeros((ny, nx), np.float32)
    instances = np.zeros((ny, nx), np.int32)
    # Intergrowth texture: an anisotropic smooth field; grains are its upper quantile per fragment.
    sig = rng.uniform(0.4, 1.2, size=2) / px_mm
    texture = ndi.gaussian_filter(rng.standard_normal((ny, nx)).astype(np.float32), sigma=tuple(sig))

    mean_area_px = np.pi * (((lo + hi) / 4.0) / px_mm) ** 2
    n_frag = max(1, int(round(coverage * ny * nx / mean_area_px)))
    centers: list[tuple[float, float, float]] = []
    records = {k: [] for k in ("label", "grade", "size_mm", "thickness_mm", "mass_g")}
    fid = 0
    for _ in range(n_frag):
        d_mm = rng.uniform(lo, hi)
        r_px = d_mm / 2.0 / px_mm
        aspect = rng.uniform(1.0, 1.6)
        half = int(np.ceil(r_px * 1.45 * np.sqrt(aspect))) + 1
        placed = None
        if centers and rng.random() < adhesion:
            cy, cx, cr = centers[rng.integers(len(centers))]
            ang = rng.uniform(0, 2 * np.pi)
            dist = (cr + r_px) * rng.uniform(0.75, 0.95)
            placed = (cy + dist * np.sin(ang), cx + dist * np.cos(ang))
        else:
            for _try in range(30):
                y0, x0 = rng.uniform(-0.3 * r_px, ny + 0.3 * r_px), rng.uniform(-0.3 * r_px, nx + 0.3 * r_px)
                if all(np.hypot(y0 - cy, x0 - cx) > 1.1 * (cr + r_px) for cy, cx, cr in centers):
                    placed = (y0, x0)
                    break
        if placed is None:
            continue
        yc, xc = placed
        rr = _fragment_shape(rng, r_px, aspect, rng.uniform(0, np.pi), half)
        inside = rr < 1.0
        if not inside.any():
            continue
        t_mm = rng.uniform(*thickness_ratio) * d_mm
        base = np.clip(1.0 - rr**2, 0.0, 1.0)
        shape_t = np.sqrt(base) if profile == 0.5 else base**profile
        thick = np.where(inside, t_mm * shape_t, 0.0).astype(np.float32)
        y_start, x_start = int(round(yc)) - half, int(round(xc)) - half
        ys0, xs0 = max(y_start, 0), max(x_start, 0)
        ys1, xs1 = min(y_start + 2 * half + 1, ny), min(x_start + 2 * half + 1, nx)
        if ys1 - ys0 < 2 or xs1 - xs0 < 2:
            continue
        sub = thick[ys0 - y_start : ys1 - y_start, xs0 - x_start : xs1 - x_start]
        sub_in = sub > 0
        if sub_in.sum() < 4:
            continue
        is_ore = rng.random() < ore_fraction
        if is_ore:
            grade = rng.uniform(min(grade_cutoff + 0.1, 0.85), 0.9)
        else:
            grade = rng.uniform(0.0, max(grade_cutoff - 0.15, 0.02))
        tex = texture[ys0:ys1, xs0:xs1]
        thr = np.quantile(tex[sub_in], 1.0 - grade) if grade > 0 else np.inf
        grains = ndi.gaussian_filter((tex >= thr).astype(np.float32), 0.7)
        mu = mu_gangue_per_mm + (mu_ore_per_mm - mu_gangue_per_mm) * grains
        att[ys0:ys1, xs0:xs1] += mu * sub
        fid += 1
        win = sub > best_t[ys0:ys1, xs0:xs1]
        best_t[ys0:ys1, xs0:xs1][win] = sub[win]
        instances[ys0:ys1, xs0:xs1][win] = fid
        centers.append((yc, xc, r_px))
        density = 2.65 + (3.15 - 2.65) * grade
        records["label"].append(1 if is_ore else 2)
        records["grade"].append(grade)
        records["size_mm"].append(d_mm)
        records["thickness_mm"].append(t_mm)
        records["mass_g"].append(float(sub.sum() * px_mm**2 / 1000.0 * density))

    # Fines: tiny bodies, background in the mask.
    n_fines = rng.poisson(fines * ny * nx)
    if n_fines:
        fy, fx = rng.integers(0, ny, n_fines), rng.integers(0, nx, n_fines)
        fine_map = np.zeros((ny, nx), np.float32)
        np.add.at(fine_map, (fy, fx), rng.uniform(0.3, 1.0, n_fines).astype(np.float32))
        fine_map = ndi.gaussian_filter(fine_map, sigma=max(fines_max_mm / px_mm / 4.0, 0.5))
        fine_map *= (fines_max_mm * mu_gangue_per_mm * 0.5) / max(float(fine_map.max()), 1e-6)
        att += fine_map
    if dust > 0:
        haze = ndi.gaussian_filter(rng.standard_normal((ny, nx)).astype(np.float32), sigma=min(ny, nx) / 8.0)
        haze = (haze - haze.min()) / max(float(np.ptp(haze)), 1e-6)
        att += dust * haze
    att += belt_attenuation_total
    gain = (1.0 + gain_sigma * rng.standard_normal(nx)).astype(np.float32)
    drift = (1.0 + (0.01 if noise else 0.0) * np.sin(np.linspace(0, rng.uniform(1, 4) * np.pi, ny) + rng.uniform(0, 6.28))).astype(np.float32)
    expected = i0 * drift[:, None] * gain[None, :] * np.exp(-att)
    if noise:
        counts = rng.poisson(expected).astype(np.float32) + read_noise * rng.standard_normal((ny, nx)).astype(np.float32)
    else:
        counts = expected
    image = np.clip(np.rint(counts), 0, 65535).astype(np.uint16)

    # Drop fragments hidden under thicker ones (no pixel of their own) and renumber.
    owned = np.bincount(instances.ravel(), minlength=fid + 1)[1:] > 0
    records = {k: [v for v, keep in zip(vals, owned) if keep] for k, vals in records.items()}
    renum = np.zeros(fid + 1, np.int32)
    renum[1:][owned] = np.arange(1, int(owned.sum()) + 1, dtype=np.int32)
    instances = renum[instances]
    fid = int(owned.sum())
    labels = np.asarray(records["label"], np.uint8)
    lut = np.concatenate([[0], labels]).astype(np.uint8)
    mask = lut[instances]
    ids = np.arange(1, fid + 1, dtype=np.int32)
    if fid:
        com = ndi.center_of_mass(np.ones_like(instances), instances, ids)
        cy_arr = np.array([c[0] for c in com], np.float64)
        cx_arr = np.array([c[1] for c in com], np.float64)
    else:
        cy_arr = cx_arr = np.zeros(0)
    fragments = {
        "id": ids,
        "label": labels,
        "grade": np.asarray(records["grade"], np.float64),
        "size_mm": np.asarray(records["size_mm"], np.float64),
        "thickness_mm": np.asarray(records["thickness_mm"], np.float64),
        "mass_g": np.asarray(records["mass_g"], np.float64),
        "centroid_y": cy_arr,
        "centroid_x": cx_arr,
    }
    params = {
        "shape": (ny, nx), "pixel_size_um": float(pixel_size_um), "size_class_mm": (lo, hi), "coverage": coverage,
        "ore_fraction": ore_fraction, "adhesion": adhesion, "grade_cutoff": grade_cutoff,
        "mu_gangue_per_mm": mu_gangue_per_mm, "mu_ore_per_mm": mu_ore_per_mm, "profile": profile, "fines": fines, "dust": dust,
        "i0": i0, "gain_sigma": gain_sigma, "read_noise": read_noise,
    }
    return BeltImage(image, mask, instances, fragments, float(pixel_size_um), float(i0), params)


def make_belt_dataset(
    n: int,
    shape: tuple[int, int] = (128, 128),
    *,
    size_classes_mm=SIZE_CLASSES_MM,
    pixel_size_um: float = 500.0,
    coverage: tuple[float, float] = (0.15, 0.45),
    physics: dict | None = None,
    seed=None,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Make ``n`` belt frames cycling through size classes and coverages.

    Parameters
    ----------
    n : int
        Number of frames.
    shape : (int, int)
        Frame size in pixels.
    size_classes_mm : sequence of (float, float)
        Size classes, used in turn.
    pixel_size_um : float
        Belt pixel size in µm.
    coverage : (float, float)
        Range of belt coverage, drawn per frame.
    physics : dict, optional
        Ranges ``(low, high)`` drawn uniformly per frame for the physics of
        :func:`make_belt_image` (physics randomisation, so that a model does not learn one
        beam and one fragment shape): ``mu_gangue_per_mm``, ``ore_gangue_ratio`` (sets
        ``mu_ore_per_mm = ratio * mu_gangue_per_mm``), ``profile``, ``thickness_ratio_low``
        and ``thickness_ratio_high`` (the two ends of ``thickness_ratio``). ``"default"``
        values: :data:`PHYSICS_RANGES`.
    seed : int or Generator, optional
        Random seed.
    **kwargs
        Passed to :func:`make_belt_image`.

    Returns
    -------
    images : ndarray, (n, y, x) uint16
    masks : ndarray, (n, y, x) uint8
    """
    if int(n) < 1:
        raise InputError(f"n={n!r} must be a positive number of frames")
    rng = make_rng(seed)
    classes = [tuple(c) for c in size_classes_mm]
    ranges = None
    if physics is not None:
        unknown = set(physics) - set(PHYSICS_RANGES)
        if unknown:
            raise InputError(f"physics has unknown keys {sorted(unknown)}; expected some of {sorted(PHYSICS_RANGES)}")
        clash = {"mu_gangue_per_mm", "mu_ore_per_mm", "profile", "thickness_ratio"} & set(kwargs)
        if clash:
            raise InputError(f"physics ranges and fixed {sorted(clash)} were both given; give one")
        ranges = {**PHYSICS_RANGES, **physics}
    images = np.empty((int(n), *shape), np.uint16)
    masks = np.empty((int(n), *shape), np.uint8)
    for i in range(int(n)):
        extra = {}
        if ranges is not None:
            mu_g = rng.uniform(*ranges["mu_gangue_per_mm"])
            t_lo, t_hi = rng.uniform(*ranges["thickness_ratio_low"]), rng.uniform(*ranges["thickness_ratio_high"])
            extra = {"mu_gangue_per_mm": mu_g, "mu_ore_per_mm": mu_g * rng.uniform(*ranges["ore_gangue_ratio"]),
                     "profile": rng.uniform(*ranges["profile"]), "thickness_ratio": (t_lo, max(t_hi, t_lo))}
        frame = make_belt_image(
            shape, pixel_size_um=pixel_size_um, size_class_mm=classes[i % len(classes)],
            coverage=rng.uniform(*coverage), seed=rng, **extra, **kwargs,
        )
        images[i], masks[i] = frame.image, frame.mask
    return images, masks
