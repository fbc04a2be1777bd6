"""Synthetic micro-XRF element maps and SEM/MLA mineral maps of one flat face, with exact truth.

A face is a 2D phase map (uint8, 0 = void/outside, 1..M mineral ids) made of mineral grains.
:func:`make_xrf_maps` turns it into micro-XRF element maps: each mineral has an expected
count level per element (a signature, like Table 2 of Deep-XFCT), the maps are
block-averaged onto a coarser pixel grid (micro-XRF pixels are often 4x the CT voxel) and
drawn as Poisson counts; the light elements Na and Mg are made weak (few counts, noisy).
:func:`make_sem_map` renders the same face as a classified SEM/MLA image (RGB colours of a
mineral list). Every generator takes an explicit ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList, _hex_to_rgba

__all__ = [
    "SyntheticSEM",
    "SyntheticXRF",
    "deep_xfct_minerals",
    "deep_xfct_signatures",
    "make_face",
    "make_sem_map",
    "make_xrf_maps",
    "signatures_from_minerals",
]

# Table 2 of Deep-XFCT (bottom surface): K-means centroids, normalised 8-bit intensities, and abundance (%).
_TABLE2 = {
    "albite": ([149, 18, 91, 105, 89, 86, 134, 148], 156, 48.0),
    "ankerite": ([45, 134, 126, 31, 65, 92, 66, 53], 203, 1.98),
    "clinochlore": ([72, 13, 191, 20, 203, 220, 67, 73], 187, 4.06),
    "illite": ([163, 16, 74, 167, 81, 75, 136, 159], 150, 24.8),
    "laumontite": ([121, 16, 118, 44, 131, 139, 113, 132], 155, 7.06),
    "quartz": ([182, 12, 36, 27, 72, 52, 182, 179], 120, 14.0),
}
_TABLE2_ELEMENTS = ["Al", "Ca", "Fe", "K", "Mg", "Mn", "Na", "Si"]
_TABLE2_DENSITY = {"albite": 2.62, "ankerite": 3.05, "clinochlore": 2.65, "illite": 2.75, "laumontite": 2.29,
                   "quartz": 2.65}
_TABLE2_COLOR = {"albite": "#d62728", "ankerite": "#7f7f7f", "clinochlore": "#ffdd00", "illite": "#9edae5",
                 "laumontite": "#f7f7f7", "quartz": "#1f3a93"}


def deep_xfct_signatures(*, include_ct: bool = False) -> pd.DataFrame:
    """Per-mineral micro-XRF levels of Table 2 of Deep-XFCT (basaltic andesite, 8-bit intensities).

    Parameters
    ----------
    include_ct : bool
        Add the µCT grey value column ``"CT"``.

    Returns
    -------
    pandas.DataFrame
        Index: mineral name (albite, ankerite, clinochlore, illite, laumontite, quartz);
        columns: Al, Ca, Fe, K, Mg, Mn, Na, Si (and CT); values 0..255.
        ``attrs["abundance_percent"]`` holds the abundance column of the table.
    """
    rows = {name: list(v[0]) + ([v[1]] if include_ct else []) for name, v in _TABLE2.items()}
    columns = _TABLE2_ELEMENTS + (["CT"] if include_ct else [])
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns).astype(float)
    table.index.name = "mineral"
    table.attrs["abundance_percent"] = {name: v[2] for name, v in _TABLE2.items()}
    return table


def deep_xfct_minerals() -> MineralList:
    """Mineral list of the Deep-XFCT basaltic andesite (ids 1..6 in Table 2 order, densities in g/cm³)."""
    return MineralList.from_records(
        {"id": i, "name": name, "density": _TABLE2_DENSITY[name], "color": _TABLE2_COLOR[name]}
        for i, name in enumerate(_TABLE2, start=1)
    )


def signatures_from_minerals(
    minerals: MineralList,
    *,
    elements: Sequence[str] | None = None,
    counts_per_wt_percent: float | Mapping[str, float] = 5.0,
) -> pd.DataFrame:
    """Expected count levels per mineral and element from the element contents (wt%) of a mineral list.

    Parameters
    ----------
    minerals : MineralList
        Minerals with ``elements`` in wt%.
    elements : sequence of str, optional
        Elements to keep (default: all with a non-zero content in some mineral, except H, Li, O,
        which micro-XRF does not see).
    counts_per_wt_percent : float or mapping of str to float
        Counts per pixel per wt% (one value or one per element; light elements get fewer).

    Returns
    -------
    pandas.DataFrame
        Index: mineral name; columns: elements; values: expected counts per pixel.
    """
    invisible = {"H", "Li", "O", "Be", "B", "C", "N"}
    if elements is None:
        found: list[str] = []
        for m in minerals:
            for el, value in m.elements.items():
                if value > 0 and el not in invisible and el not in found:
                    found.append(el)
        elements = sorted(found)
    if not elements:
        raise InputError("elements is empty; the mineral list has no element contents visible to micro-XRF")
    rows = {}
    for m in minerals:
        rows[m.name] = []
        for el in elements:
            factor = counts_per_wt_percent.get(el, 5.0) if isinstance(counts_per_wt_percent, Mapping) \
                else counts_per_wt_percent
            rows[m.name].append(float(m.elements.get(el, 0.0)) * float(factor))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(elements))
    table.index.name = "mineral"
    return table


def make_face(
    shape: tuple[int, int] = (512, 512),
    *,
    abundances: Sequence[float] | Mapping[int, float] = (0.25, 0.25, 0.25, 0.25),
    grain_size_px: float = 40.0,
    sample: str = "disk",
    pore_fraction: float = 0.02,
    roughness: float = 0.25,
    seed=0,
) -> np.ndarray:
    """A 2D phase map of a polished face with mineral grains (warped Voronoi cells).

    Parameters
    ----------
    shape : (int, int)
        Map shape (y, x) in pixels.
    abundances : sequence of float or mapping of int to float
        Probability of each mineral id per grain (sequence: ids 1..M; mapping: id -> weight).
        The realised area fractions differ; read them from the returned map.
    grain_size_px : float
        Mean grain diameter in pixels.
    sample : {"disk", "full"}
        ``"disk"``: a round sample (core plug) with outside = 0; ``"full"``: the whole map.
    pore_fraction : float
        Fraction of grains that are voids (0).
    roughness : float
        Boundary warp amplitude as a fraction of the grain size (0 = straight Voronoi edges).
    seed : int or numpy.random.Generator
        Random seed.

    Returns
    -------
    numpy.ndarray
        uint8 array of ``shape``: 0 = void/outside, mineral ids elsewhere.
    """
    if len(shape) != 2 or min(shape) < 4:
        raise InputError(f"shape={shape!r}; expected two sizes (y, x) of at least 4 pixels")
    if grain_size_px <= 0:
        raise InputError(f"grain_size_px={grain_size_px!r} must be positive")
    if sample not in ("disk", "full"):
        raise InputError(f"sample={sample!r}; expected 'disk' or 'full'")
    if isinstance(abundances, Mapping):
        ids = np.array([int(k) for k in abundances], dtype=np.int64)
        weights = np.array([float(v) for v in abundances.values()])
    else:
        weights = np.asarray(abundances, dtype=float)
        ids = np.arange(1, len(weights) + 1)
    if weights.size == 0 or np.any(weights < 0) or weights.sum() <= 0 or ids.min() < 1 or ids.max() > 254:
        raise InputError(f"abundances={abundances!r}; expected non-negative weights for mineral ids 1..254")
    if not 0 <= pore_fraction < 1:
        raise InputError(f"pore_fraction={pore_fraction!r}; expected 0 <= value < 1")
    rng = make_rng(seed)
    h, w = int(shape[0]), int(shape[1])
    n_seeds = max(2, int(round(h * w / (np.pi / 4 * grain_size_px**2))))
    seeds_img = np.zeros((h, w), dtype=bool)
    seeds_img[rng.integers(0, h, n_seeds), rng.integers(0, w, n_seeds)] = True
    _, (iy, ix) = ndi.distance_transform_edt(~seeds_img, return_indices=True)
    cell = iy * w + ix  # id of the nearest seed (flat index)
    if roughness > 0:
        amp = roughness * grain_size_px
        sigma = grain_size_px / 3.0
        dy = ndi.gaussian_filter(rng.standard_normal((h, w)), sigma)
        dx = ndi.gaussian_filter(rng.standard_normal((h, w)), sigma)
        dy *= amp / max(dy.std(), 1e-12)
        dx *= amp / max(dx.std(), 1e-12)
        yy, xx = np.mgrid[0:h, 0:w].astype(float)
        coords = np.stack([np.clip(yy + dy, 0, h - 1), np.clip(xx + dx, 0, w - 1)])
        cell = ndi.map_coordinates(cell, coords, order=0, mode="nearest")
    flat_seeds = np.flatnonzero(seeds_img)
    mineral_of_seed = rng.choice(ids, size=flat_seeds.size, p=weights / weights.sum()).astype(np.uint8)
    if pore_fraction > 0:
        mineral_of_seed[rng.random(flat_seeds.size) < pore_fraction] = 0
    lut = np.zeros(h * w, dtype=np.uint8)
    lut[flat_seeds] = mineral_of_seed
    phases = lut[cell]
    if sample == "disk":
        yy, xx = np.ogrid[0:h, 0:w]
        r = 0.47 * min(h, w)
        phases[(yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 > r**2] = 0
    return phases


@dataclass
class SyntheticXRF:
    """Synthetic micro-XRF maps of a face and their truth.

    Attributes
    ----------
    maps : dict of str to numpy.ndarray
        Element -> float32 counts map of shape ``(H // block, W // block)``.
    truth : numpy.ndarray
        uint8 majority phase id of each map pixel (0 = void/outside).
    purity : numpy.ndarray
        float32 fraction of each map pixel covered by its majority phase.
    fractions : pandas.DataFrame
        Area fraction (%) of each mineral inside the sample on the fine grid (index: phase id; columns name, percent).
    phases : numpy.ndarray
        The fine phase map (uint8) the maps were made from.
    pixel_size_um : float
        Map pixel size in µm (``block`` x the fine pixel size).
    signatures : pandas.DataFrame
        Expected counts per mineral (index name) and element (columns) used.
    names : dict of int to str
        Phase id -> mineral name.
    """

    maps: dict
    truth: np.ndarray
    purity: np.ndarray
    fractions: pd.DataFrame
    phases: np.ndarray
    pixel_size_um: float
    signatures: pd.DataFrame
    names: dict = field(default_factory=dict)


def _names_of(signatures: pd.DataFrame, minerals) -> dict[int, str]:
    if minerals is None:
        return {i: str(n) for i, n in enumerate(signatures.index, start=1)}
    if isinstance(minerals, MineralList):
        names = {m.id: m.name for m in minerals}
    else:
        names = {int(k): str(v) for k, v in dict(minerals).items()}
    missing = [n for n in names.values() if n not in signatures.index]
    if missing:
        raise InputError(f"minerals {missing} have no row in signatures (rows: {list(signatures.index)})")
    return names


def _block_mean(image: np.ndarray, block: int) -> np.ndarray:
    h, w = image.shape[0] // block * block, image.shape[1] // block * block
    return image[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def make_xrf_maps(
    phases: np.ndarray,
    signatures: pd.DataFrame,
    *,
    minerals: MineralList | Mapping[int, str] | None = None,
    block: int = 4,
    pixel_size_um: float = 10.0,
    counts_scale: float = 1.0,
    weak: Mapping[str, float] | None = None,
    background: float = 0.5,
    seed=0,
) -> SyntheticXRF:
    """Micro-XRF element maps (Poisson counts) of a 2D phase map.

    Parameters
    ----------
    phases : numpy.ndarray
        (H, W) integer phase map on the fine grid; 0 = void/outside.
    signatures : pandas.DataFrame
        Expected counts per map pixel: index mineral name, one column per element.
    minerals : MineralList or mapping of int to str, optional
        Phase id -> mineral name; default: rows of ``signatures`` are ids 1, 2, ...
    block : int
        Map pixel = ``block`` x ``block`` fine pixels (block-averaged signal).
    pixel_size_um : float
        Fine pixel size in µm; the maps have ``block * pixel_size_um``.
    counts_scale : float
        Multiplies every level (longer dwell time = less relative noise).
    weak : mapping of str to float, optional
        Per-element extra factor for weak light-element lines; default ``{"Na": 0.05, "Mg": 0.05}``
        (a level of 134 becomes ~7 counts: a noisy map). Use ``{}`` for none.
    background : float
        Expected counts of every element over void/outside.
    seed : int or numpy.random.Generator
        Random seed of the Poisson noise.

    Returns
    -------
    SyntheticXRF
    """
    phases = np.asarray(phases)
    if phases.ndim != 2 or phases.dtype.kind not in "ui":
        raise InputError(f"phases has shape {phases.shape} and dtype {phases.dtype}; expected a 2D integer map")
    if int(block) < 1 or phases.shape[0] < block or phases.shape[1] < block:
        raise InputError(f"block={block!r} for phases of shape {phases.shape}; expected 1 <= block <= map size")
    block = int(block)
    names = _names_of(signatures, minerals)
    weak = {"Na": 0.05, "Mg": 0.05} if weak is None else dict(weak)
    rng = make_rng(seed)
    h, w = phases.shape[0] // block * block, phases.shape[1] // block * block
    fine = phases[:h, :w]
    max_id = max(int(fine.max()), max(names))
    # area fraction of each phase in each map pixel
    present = [i for i in sorted(names) if np.any(fine == i)]
    frac = {i: _block_mean((fine == i).astype(np.float32), block) for i in [0, *present]}
    maps = {}
    for element in signatures.columns:
        level = background * frac[0].astype(np.float64)
        for i in present:
            level += float(signatures.loc[names[i], element]) * frac[i]
        level *= counts_scale * weak.get(str(element), 1.0)
        maps[str(element)] = rng.poisson(np.maximum(level, 0)).astype(np.float32)
    stack = np.stack([frac[i] for i in [0, *present]])
    ids = np.array([0, *present], dtype=np.uint8)
    truth = ids[np.argmax(stack, axis=0)]
    purity = stack.max(axis=0).astype(np.float32)
    inside = fine > 0
    counts = np.bincount(fine[inside].ravel().astype(np.int64), minlength=max_id + 1)
    fractions = pd.DataFrame(
        {"name": [names[i] for i in sorted(names)],
         "percent": [100.0 * counts[i] / max(inside.sum(), 1) for i in sorted(names)]},
        index=pd.Index(sorted(names), name="id"),
    )
    return SyntheticXRF(
        maps=maps, truth=truth, purity=purity, fractions=fractions, phases=phases,
        pixel_size_um=float(pixel_size_um) * block, signatures=signatures.copy(), names=names,
    )


@dataclass
class SyntheticSEM:
    """A classified SEM/MLA image of a face and its truth.

    Attributes
    ----------
    rgb : numpy.ndarray
        (H, W, 3) uint8 image: mineral colours, background colour outside.
    labels : numpy.ndarray
        (H, W) uint8 truth: mineral ids, 0 = background; unknown-colour pixels keep their true id.
    unknown : numpy.ndarray
        (H, W) bool, pixels painted with the unknown colour.
    minerals : MineralList
    pixel_size_um : float
    """

    rgb: np.ndarray
    labels: np.ndarray
    unknown: np.ndarray
    minerals: MineralList
    pixel_size_um: float


def make_sem_map(
    phases: np.ndarray,
    minerals: MineralList,
    *,
    pixel_size_um: float = 1.0,
    background: str = "#000000",
    unknown_fraction: float = 0.0,
    unknown_color: str = "#ff00ff",
    seed=0,
) -> SyntheticSEM:
    """Render a phase map as a classified SEM/MLA image (one colour per mineral).

    Parameters
    ----------
    phases : numpy.ndarray
        (H, W) integer phase map; 0 = background.
    minerals : MineralList
        Colours of the ids.
    pixel_size_um : float
        Pixel size in µm (SEM maps are finer than micro-XRF).
    background : str
        Colour of 0.
    unknown_fraction : float
        Fraction of sample pixels painted with ``unknown_color`` (unclassified spectra).
    unknown_color : str
        Colour not in the mineral list.
    seed : int or numpy.random.Generator
        Random seed.
    """
    phases = np.asarray(phases)
    if phases.ndim != 2 or phases.dtype.kind not in "ui":
        raise InputError(f"phases has shape {phases.shape} and dtype {phases.dtype}; expected a 2D integer map")
    missing = sorted(set(np.unique(phases).tolist()) - {0} - set(minerals.ids))
    if missing:
        raise InputError(f"phases holds ids {missing} that are not in minerals (ids {minerals.ids})")
    lut = np.zeros((max(minerals.max_id, int(phases.max())) + 1, 3), dtype=np.uint8)
    lut[0] = _hex_to_rgba(background)[:3]
    for m in minerals:
        lut[m.id] = _hex_to_rgba(m.color)[:3]
    rgb = lut[phases]
    rng = make_rng(seed)
    unknown = (phases > 0) & (rng.random(phases.shape) < unknown_fraction)
    rgb[unknown] = _hex_to_rgba(unknown_color)[:3]
    return SyntheticSEM(rgb=rgb, labels=phases.astype(np.uint8), unknown=unknown, minerals=minerals,
                        pixel_size_um=float(pixel_size_um))
