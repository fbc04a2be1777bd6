"""Two more XRT belt frame generators, unlike the project's one, to measure domain transfer.

The project's generator (:mod:`liberation.deploy.belt.synthetic`) makes rounded star-shaped
fragments whose thickness falls like an ellipsoid, intergrown ore grains, a 16-bit
detector with the open beam at 4000 counts. These generators change every part a real
machine could change, while keeping the physics that defines the classes (ore = fragments
whose ore-mineral area fraction is at least 0.45, waste at most 0.2; the ore mineral
attenuates about twice as much as the gangue):

``angular`` (:func:`make_angular_frame`)
    Angular crushed rock: convex polygons of 5-9 vertices; a flat slab thickness with
    bevelled edges (``t = T min(1, d / bevel)``, ``d`` the distance to the outline);
    disseminated ore as round specks; a harder beam (μ gangue 0.085 /mm, ore 0.19 /mm);
    an 8-bit (belt near 235) or 16-bit (belt near 52000) detector with a slight gamma,
    PSF blur, 4 % element gains, 5 % source drift along the belt, a dark offset,
    dust specks and haze.
``pebble`` (:func:`make_pebble_frame`)
    Rounded pebbles: ellipses; a paraboloid thickness ``t = T (1 - r²)``; banded ore
    (veins); a softer beam (μ gangue 0.12 /mm, ore 0.25 /mm); a ribbed belt; a detector
    with a long-tailed scintillator PSF, Gaussian noise and 8-bit (belt near 200) or
    16-bit (belt near 30000) output.

Both return :class:`~liberation.deploy.belt.synthetic.BeltImage` (mask 0 belt, 1 ore, 2 waste).
Numpy, scipy and scikit-image only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from liberation._validation import make_rng
from liberation.deploy.belt.synthetic import BeltImage
from liberation.errors import InputError

__all__ = ["FRAME_GENERATORS", "make_angular_frame", "make_generator_dataset", "make_pebble_frame"]


def _check(shape, bits):
    if len(tuple(shape)) != 2 or min(shape) < 32:
        raise InputError(f"shape={shape!r} must be two sizes of at least 32 pixels")
    if bits not in (8, 16):
        raise InputError(f"bits={bits!r} must be 8 or 16")


def _place(rng, ny, nx, coverage, d_range_px, body):
    """Paint fragments: ``body(rng, r)`` returns (inside, thickness factor 0..1, texture 0..1) on a local grid."""
    thick = np.zeros((ny, nx), np.float32)
    mu_map = np.zeros((ny, nx), np.float32)
    label = np.zeros((ny, nx), np.uint8)
    inst = np.zeros((ny, nx), np.int32)
    grades = []
    target = coverage * ny * nx
    covered, fid, tries = 0.0, 0, 0
    while covered < target and tries < 400:
        tries += 1
        d = rng.uniform(*d_range_px)
        inside, tfac, tex = body(rng, d / 2.0)
        h = inside.shape[0] // 2
        yc, xc = int(rng.integers(-h // 3, ny + h // 3)), int(rng.integers(-h // 3, nx + h // 3))
        ys, xs = yc - h, xc - h
        y0, x0, y1, x1 = max(ys, 0), max(xs, 0), min(ys + inside.shape[0], ny), min(xs + inside.shape[1], nx)
        if y1 - y0 < 3 or x1 - x0 < 3:
            continue
        sl = (slice(y0 - ys, y1 - ys), slice(x0 - xs, x1 - xs))
        ins = inside[sl]
        if ins.sum() < 9 or (inst[y0:y1, x0:x1][ins] > 0).mean() > 0.3:
            continue
        is_ore = rng.random() < 0.45
        grade = rng.uniform(0.45, 0.9) if is_ore else rng.uniform(0.0, 0.2)
        t_tex = tex[sl][ins]
        thr = np.quantile(t_tex, 1.0 - grade) if grade > 0 else np.inf
        grains = (tex[sl] >= thr) & ins
        t_mm = rng.uniform(0.45, 0.75) * d  # in pixels of 0.5 mm: converted by the caller
        fid += 1
        region = (slice(y0, y1), slice(x0, x1))
        thick[region][ins] = (t_mm * tfac[sl])[ins]
        mu_map[region][ins] = np.where(grains[ins], 1.0, 0.0)
        label[region][ins] = 1 if is_ore else 2
        inst[region][ins] = fid
        grades.append(grade)
        covered = float((inst > 0).sum())
    return thick, mu_map, label, inst, grades


def _finish(label, inst, grades, image, i0, params, px_um):
    ids = np.arange(1, len(grades) + 1, dtype=np.int32)
    owned = np.bincount(inst.ravel(), minlength=len(grades) + 1)[1:] > 0
    fr = {"id": ids[owned], "label": np.array([1 if g >= 0.45 else 2 for g in grades], np.uint8)[owned],
          "grade": np.asarray(grades, float)[owned]}
    return BeltImage(image, label, inst, fr, float(px_um), float(i0), params)


def _detector(att, rng, *, bits, belt_level, gamma, blur, tail, gain_sigma, drift, offset, photons, read_noise):
    ny, nx = att.shape
    t = np.exp(-gamma * att)
    if blur > 0:
        t = ndi.gaussian_filter(t, blur)
    if tail > 0:
        t = (1 - tail) * t + tail * ndi.gaussian_filter(t, 6.0)
    gain = 1 + gain_sigma * rng.standard_normal(nx)
    dr = 1 + drift * np.sin(np.linspace(0, rng.uniform(1, 3) * np.pi, ny) + rng.uniform(0, 6.3))
    t = t * gain[None, :] * dr[:, None]
    t = rng.poisson(np.clip(t, 0, None) * photons) / photons + read_noise * rng.standard_normal((ny, nx))
    full = 2**bits - 1
    counts = belt_level * (offset + t)
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.clip(np.rint(counts), 0, full).astype(dtype)


def make_angular_frame(shape=(128, 128), *, bits: int = 8, coverage: float = 0.3, size_mm=(8.0, 22.0),
                       pixel_size_um: float = 500.0, seed=None) -> BeltImage:
    """Angular crushed-rock frame (polygons, bevelled slabs, disseminated ore, hard beam); see module notes.

    Parameters
    ----------
    shape : (int, int)
        Frame size, pixels.
    bits : int
        8 (belt near 235 counts) or 16 (belt near 52000).
    coverage : float
        Target belt share covered by fragments.
    size_mm : (float, float)
        Fragment size range, mm.
    pixel_size_um : float
        Pixel size, µm.
    seed : int or Generator, optional

    Returns
    -------
    BeltImage
    """
    from skimage.draw import polygon

    _check(shape, bits)
    rng = make_rng(seed)
    ny, nx = (int(s) for s in shape)
    px_mm = pixel_size_um / 1000.0

    def body(rng, r):
        h = int(np.ceil(r * 1.3)) + 2
        k = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = r * rng.uniform(0.75, 1.25, k)
        aspect = rng.uniform(1.0, 1.5)
        yy = h + rad * np.sin(ang) / np.sqrt(aspect)
        xx = h + rad * np.cos(ang) * np.sqrt(aspect)
        inside = np.zeros((2 * h + 1, 2 * h + 1), bool)
        rr, cc = polygon(yy, xx, inside.shape)
        inside[rr, cc] = True
        dist = ndi.distance_transform_edt(inside)
        bevel = rng.uniform(0.2, 0.45) * r
        tfac = np.minimum(1.0, dist / max(bevel, 1.0))
        specks = ndi.gaussian_filter(rng.standard_normal(inside.shape), rng.uniform(0.8, 1.6))
        return inside, tfac, specks

    d_px = (size_mm[0] / px_mm, size_mm[1] / px_mm)
    thick, grains, label, inst, grades = _place(rng, ny, nx, coverage, d_px, body)
    t_mm = thick * px_mm
    att = (0.085 + (0.19 - 0.085) * ndi.gaussian_filter(grains, 0.6)) * t_mm * (label > 0)
    # dust: specks (background) and haze
    specks = np.zeros((ny, nx))
    n = rng.poisson(0.004 * ny * nx)
    specks[rng.integers(0, ny, n), rng.integers(0, nx, n)] = rng.uniform(0.1, 0.4, n)
    haze = ndi.gaussian_filter(rng.standard_normal((ny, nx)), min(ny, nx) / 6)
    haze = (haze - haze.min()) / max(float(np.ptp(haze)), 1e-9)
    att = att + ndi.gaussian_filter(specks, 0.8) + 0.06 * haze + 0.03
    level = rng.uniform(230, 242) if bits == 8 else rng.uniform(50000, 54000)
    image = _detector(att, rng, bits=bits, belt_level=level, gamma=rng.uniform(0.9, 1.0), blur=0.8, tail=0.0,
                      gain_sigma=0.04, drift=0.05, offset=0.01, photons=rng.uniform(400, 1500), read_noise=0.004)
    params = {"generator": "angular", "bits": bits, "coverage": coverage, "belt_level": level}
    return _finish(label, inst, grades, image, level, params, pixel_size_um)


def make_pebble_frame(shape=(128, 128), *, bits: int = 16, coverage: float = 0.3, size_mm=(8.0, 22.0),
                      pixel_size_um: float = 500.0, seed=None) -> BeltImage:
    """Rounded-pebble frame (ellipses, paraboloid thickness, banded ore, soft beam, ribbed belt); see module notes.

    Parameters are those of :func:`make_angular_frame`; ``bits`` 8 puts the belt near 200
    counts, 16 near 30000.
    """
    _check(shape, bits)
    rng = make_rng(seed)
    ny, nx = (int(s) for s in shape)
    px_mm = pixel_size_um / 1000.0

    def body(rng, r):
        h = int(np.ceil(r * 1.3)) + 2
        yy, xx = np.mgrid[-h : h + 1, -h : h + 1].astype(float)
        a = rng.uniform(0, np.pi)
        asp = rng.uniform(1.1, 1.8)
        u = (np.cos(a) * xx + np.sin(a) * yy) / np.sqrt(asp)
        v = (-np.sin(a) * xx + np.cos(a) * yy) * np.sqrt(asp)
        rr = np.hypot(u, v) / r
        inside = rr < 1
        tfac = np.clip(1 - rr**2, 0, 1)
        b = rng.uniform(0, np.pi)
        bands = np.sin((np.cos(b) * xx + np.sin(b) * yy) * 2 * np.pi / rng.uniform(3, 7))
        bands = bands + 0.4 * ndi.gaussian_filter(rng.standard_normal(inside.shape), 1.5)
        return inside, tfac, bands

    d_px = (size_mm[0] / px_mm, size_mm[1] / px_mm)
    thick, grains, label, inst, grades = _place(rng, ny, nx, coverage, d_px, body)
    t_mm = thick * px_mm
    att = (0.12 + (0.25 - 0.12) * ndi.gaussian_filter(grains, 0.5)) * t_mm * (label > 0)
    ribs = 0.5 * (1 + np.sin(2 * np.pi * np.arange(nx) / rng.uniform(6, 14)))
    att = att + 0.04 + 0.03 * ribs[None, :]
    level = rng.uniform(190, 210) if bits == 8 else rng.uniform(28000, 32000)
    image = _detector(att, rng, bits=bits, belt_level=level, gamma=1.0, blur=0.6, tail=0.08, gain_sigma=0.02,
                      drift=0.03, offset=0.0, photons=rng.uniform(2000, 6000), read_noise=0.006)
    params = {"generator": "pebble", "bits": bits, "coverage": coverage, "belt_level": level}
    return _finish(label, inst, grades, image, level, params, pixel_size_um)


#: Generator name -> function ``(shape, *, bits, coverage, seed) -> BeltImage``.
FRAME_GENERATORS = {"angular": make_angular_frame, "pebble": make_pebble_frame}


def make_generator_dataset(name: str, n: int, shape=(128, 128), *, bits: int = 8, coverage=(0.15, 0.45),
                           seed=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames of generator ``name`` (``"angular"`` or ``"pebble"``) with random coverage.

    Returns
    -------
    images : ndarray, (n, y, x) uint8 or uint16
    masks : ndarray, (n, y, x) uint8
    """
    if name not in FRAME_GENERATORS:
        raise InputError(f"generator {name!r} is not known; expected one of {sorted(FRAME_GENERATORS)}")
    rng = make_rng(seed)
    frames = [FRAME_GENERATORS[name](shape, bits=bits, coverage=rng.uniform(*coverage), seed=rng) for _ in range(int(n))]
    return np.stack([f.image for f in frames]), np.stack([f.mask for f in frames])
