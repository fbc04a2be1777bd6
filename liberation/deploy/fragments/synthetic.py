"""Synthetic belt images of ore fragments with exact sizes, masks, boxes and a ruler (for sizing tests).

Fragments are irregular, smooth polygons (a perturbed, stretched, rotated circle) with sizes
drawn from a Rosin-Rammler distribution, placed without overlap. The truth (polygon areas by
the shoelace formula, equivalent diameters, Feret diameters, boxes) is exact; the label image
is the rasterised polygons, so a sizing method is judged against geometry, not against its own
masks. A ruler bar of known length lies along the bottom of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError

__all__ = ["FragmentImage", "make_fragment_image"]


@dataclass
class FragmentImage:
    """A synthetic fragment image with exact truth.

    Attributes
    ----------
    image : ndarray of float32, shape (y, x)
        Grey image (bright fragments, dark belt, brightest ruler), values in about [0, 1].
    labels : ndarray of int32, shape (y, x)
        Rasterised fragments, ids 1..n (the ruler is not labelled).
    pixel_size_um : float
        True pixel edge length in µm.
    ruler : tuple
        ``(x0, y0, x1, y1, length_cm)``: ruler end points (px) and its true length.
    area_cm2, ecd_cm, length_cm, width_cm : ndarray, shape (n,)
        Exact polygon area, equivalent circle diameter, max and min Feret diameters, for label i+1.
    boxes : ndarray, shape (n, 4)
        Exact axis-aligned boxes ``x0, y0, x1, y1`` of the polygons (px; pixel centres at integers,
        so the pixel edges of a box are at ``x0 - 0.5`` ... as a detector would draw them).
    polygons : list of ndarray
        Polygon vertices ``(x, y)`` in px, for label i+1.
    """

    image: np.ndarray
    labels: np.ndarray
    pixel_size_um: float
    ruler: tuple
    area_cm2: np.ndarray
    ecd_cm: np.ndarray
    length_cm: np.ndarray
    width_cm: np.ndarray
    boxes: np.ndarray
    polygons: list = field(repr=False)


def _shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _feret(xy: np.ndarray) -> tuple[float, float]:
    from liberation.deploy.fragments.sizing import feret_diameters

    return feret_diameters(xy[:, ::-1])


def _fragment_polygon(rng: np.random.Generator, radius_px: float, n_vertices: int = 72) -> np.ndarray:
    """Vertices (x, y) of an irregular fragment centred at 0 with mean radius ``radius_px``."""
    theta = np.linspace(0.0, 2 * np.pi, n_vertices, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 4, 5):
        r += rng.uniform(0.0, 0.12 / (k - 1)) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    stretch = rng.uniform(1.0, 1.6)
    x = radius_px * r * np.cos(theta) * np.sqrt(stretch)
    y = radius_px * r * np.sin(theta) / np.sqrt(stretch)
    a = rng.uniform(0, np.pi)
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * x - s * y, s * x + c * y], axis=1)


def make_fragment_image(
    shape: tuple[int, int] = (512, 512),
    *,
    n_fragments: int = 40,
    pixel_size_um: float = 2000.0,
    x63_cm: float = 6.0,
    uniformity: float = 2.0,
    min_size_cm: float = 3.0,
    ruler_length_cm: float = 30.0,
    noise: float = 0.03,
    seed=None,
) -> FragmentImage:
    """Make a belt image of non-overlapping fragments of known size plus a ruler.

    Parameters
    ----------
    shape : (int, int)
        Image shape (y, x) in pixels.
    n_fragments : int
        Number of fragments asked for (fewer if they do not fit; see ``labels.max()``).
    pixel_size_um : float
        Pixel edge length in µm (default 2 mm).
    x63_cm, uniformity : float
        Rosin-Rammler parameters of the fragment ECDs (cm); sizes below ``min_size_cm`` are redrawn.
    min_size_cm : float
        Smallest ECD drawn (cm).
    ruler_length_cm : float
        Length of the ruler bar drawn near the bottom edge (cm).
    noise : float
        Standard deviation of the additive Gaussian noise on the grey image.
    seed : int or numpy.random.Generator, optional
        Random seed.
    """
    from skimage.draw import line, polygon

    rng = make_rng(seed)
    h, w = (int(v) for v in shape)
    if h < 32 or w < 32:
        raise InputError(f"shape={shape!r}; expected at least 32 x 32 pixels")
    if pixel_size_um <= 0:
        raise InputError(f"pixel_size_um={pixel_size_um!r}; expected a positive pixel size in µm")
    px_cm = pixel_size_um * 1e-4
    ruler_px = ruler_length_cm / px_cm
    if ruler_px > w - 8:
        raise InputError(f"ruler_length_cm={ruler_length_cm} is {ruler_px:.0f} px, longer than the image width {w}")
    ruler_y = h - 6
    usable_h = h - 14  # keep fragments off the ruler band
    labels = np.zeros((h, w), dtype=np.int32)
    polys, areas, ecds, lens, wids, boxes = [], [], [], [], [], []
    placed: list[tuple[float, float, float]] = []
    tries = 0
    while len(polys) < n_fragments and tries < 200 * n_fragments:
        tries += 1
        ecd = x63_cm * (-np.log(rng.uniform(1e-12, 1.0))) ** (1.0 / uniformity)
        if ecd < min_size_cm:
            continue
        poly = _fragment_polygon(rng, 0.5 * ecd / px_cm)
        rmax = float(np.hypot(poly[:, 0], poly[:, 1]).max())
        if 2 * rmax + 4 > min(usable_h, w):
            continue
        cx = rng.uniform(rmax + 2, w - rmax - 2)
        cy = rng.uniform(rmax + 2, usable_h - rmax - 2)
        if any(np.hypot(cx - px, cy - py) < rmax + pr + 2 for px, py, pr in placed):
            continue
        placed.append((cx, cy, rmax))
        xy = poly + [cx, cy]
        rr, cc = polygon(xy[:, 1], xy[:, 0], shape=(h, w))
        labels[rr, cc] = len(polys) + 1
        polys.append(xy)
        area = _shoelace(xy) * px_cm**2
        areas.append(area)
        ecds.append(np.sqrt(4 * area / np.pi))
        lmax, lmin = _feret(xy)
        lens.append(lmax * px_cm)
        wids.append(lmin * px_cm)
        boxes.append((xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()))
    image = np.full((h, w), 0.15, dtype=np.float32)
    tone = rng.uniform(0.5, 0.75, size=len(polys) + 1).astype(np.float32)
    tone[0] = 0.15
    image = tone[labels]
    x0, x1 = 4.0, 4.0 + ruler_px
    for dy in (-1, 0, 1):
        rr, cc = line(ruler_y + dy, int(round(x0)), ruler_y + dy, int(round(x1)))
        image[rr, cc] = 0.95
    image = image + rng.normal(0.0, noise, size=image.shape).astype(np.float32)
    return FragmentImage(
        image=image.astype(np.float32),
        labels=labels,
        pixel_size_um=float(pixel_size_um),
        ruler=(x0, float(ruler_y), x1, float(ruler_y), float(ruler_length_cm)),
        area_cm2=np.asarray(areas),
        ecd_cm=np.asarray(ecds),
        length_cm=np.asarray(lens),
        width_cm=np.asarray(wids),
        boxes=np.asarray(boxes, dtype=float).reshape(-1, 4),
        polygons=polys,
    )
