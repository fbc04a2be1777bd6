"""Synthetic SEM-EDS element maps in wt% (quantified maps) of a face, with exact truth.

Real EDS maps exported after quantification hold wt% per element and pixel: major elements are
precise to about a wt%, minor ones (K in a plagioclase at 0.2 wt%) sit in a noise floor of a few
tenths of a wt%, and values below zero are clipped. :func:`make_eds_maps` draws such maps from a
phase map and a composition table; :func:`gabbro_compositions` is a gabbro (12 elements, a
dominant plagioclase) to test clustering on wt% maps. Every generator takes an explicit ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.synthetic.xrf import SyntheticXRF, _block_mean, _names_of

__all__ = ["GABBRO_ABUNDANCE", "gabbro_compositions", "make_eds_maps"]

_GABBRO_ELEMENTS = ["O", "Na", "Mg", "Al", "Si", "P", "K", "Ca", "Ti", "Cr", "Mn", "Fe"]
_GABBRO = {  # wt%, typical compositions (labradorite An60, augite, enstatite-ferrosilite, olivine Fo70, ...)
    "plagioclase": [46.6, 3.2, 0.0, 15.9, 25.2, 0.0, 0.2, 8.6, 0.0, 0.0, 0.0, 0.3],
    "clinopyroxene": [43.5, 0.4, 8.9, 1.6, 23.6, 0.0, 0.0, 15.7, 0.4, 0.2, 0.2, 5.6],
    "orthopyroxene": [42.0, 0.0, 15.0, 0.8, 25.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.3, 15.5],
    "olivine": [40.0, 0.0, 23.4, 0.0, 18.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 18.0],
    "ilmenite": [31.6, 0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 31.0, 0.0, 0.5, 36.5],
    "apatite": [38.0, 0.0, 0.0, 0.0, 0.0, 18.4, 0.0, 39.5, 0.0, 0.0, 0.0, 0.0],
}
#: Weights of the gabbro minerals per grain (ids 1..6 in the order of :func:`gabbro_compositions`).
GABBRO_ABUNDANCE = (70.0, 12.0, 8.0, 6.0, 3.0, 1.0)


def gabbro_compositions() -> pd.DataFrame:
    """Compositions (wt%) of six gabbro minerals over 12 elements.

    Returns
    -------
    pandas.DataFrame
        Index mineral (plagioclase, clinopyroxene, orthopyroxene, olivine, ilmenite, apatite);
        columns O, Na, Mg, Al, Si, P, K, Ca, Ti, Cr, Mn, Fe in wt%. Plagioclase carries 0.2 wt% K:
        a minor element that only noise separates within the mineral.
    """
    table = pd.DataFrame.from_dict(_GABBRO, orient="index", columns=_GABBRO_ELEMENTS).astype(float)
    table.index.name = "mineral"
    return table


def make_eds_maps(
    phases: np.ndarray,
    compositions: pd.DataFrame,
    *,
    minerals: MineralList | Mapping[int, str] | None = None,
    block: int = 1,
    pixel_size_um: float = 6.35,
    relative_noise: float = 0.05,
    floor_wt: float | Mapping[str, float] = 0.3,
    seed=0,
) -> SyntheticXRF:
    """Quantified SEM-EDS maps (wt%) of a phase map: block-mixed compositions plus per-pixel noise.

    Noise per pixel and element: normal with standard deviation ``sqrt(relative_noise * c + floor_wt**2)``
    for a level ``c`` in wt% (counting statistics of a major element, plus the floor of the
    quantification that dominates minor elements); negative values are clipped to 0, as in
    exported quantified maps.

    Parameters
    ----------
    phases : numpy.ndarray
        (H, W) integer phase map; 0 = void/outside (0 wt% everywhere, plus noise).
    compositions : pandas.DataFrame
        wt% per mineral (index name) and element (columns).
    minerals : MineralList or mapping of int to str, optional
        Phase id -> mineral name; default: rows of ``compositions`` are ids 1, 2, ...
    block : int
        Map pixel = ``block`` x ``block`` phase pixels (area-weighted mixing).
    pixel_size_um : float
        Phase-map pixel size in µm; the maps have ``block * pixel_size_um``.
    relative_noise : float
        Counting-noise coefficient (wt%); 0.05 gives 1.1 wt% at 25 wt%.
    floor_wt : float or mapping of str to float
        Noise floor in wt% (one value, or per element; elements not in the mapping get 0.3).
    seed : int or numpy.random.Generator
        Random seed.

    Returns
    -------
    SyntheticXRF
        Maps in wt% (float32), majority truth, purity, area fractions, ``signatures`` = the compositions.
    """
    phases = np.asarray(phases)
    if phases.ndim != 2 or phases.dtype.kind not in "ui":
        raise InputError(f"phases has shape {phases.shape} and dtype {phases.dtype}; expected a 2D integer map")
    if int(block) < 1 or phases.shape[0] < block or phases.shape[1] < block:
        raise InputError(f"block={block!r} for phases of shape {phases.shape}; expected 1 <= block <= map size")
    floors = {str(e): float(floor_wt.get(str(e), 0.3)) if isinstance(floor_wt, Mapping) else float(floor_wt)
              for e in compositions.columns}
    if relative_noise < 0 or min(floors.values()) < 0:
        raise InputError(f"relative_noise={relative_noise!r}, floor_wt={floor_wt!r}; expected values >= 0")
    block = int(block)
    names = _names_of(compositions, minerals)
    rng = make_rng(seed)
    h, w = phases.shape[0] // block * block, phases.shape[1] // block * block
    fine = phases[:h, :w]
    present = [i for i in sorted(names) if np.any(fine == i)]
    frac = {i: _block_mean((fine == i).astype(np.float32), block) for i in [0, *present]}
    maps = {}
    for element in compositions.columns:
        level = np.zeros(frac[0].shape, dtype=np.float64)
        for i in present:
            level += float(compositions.loc[names[i], element]) * frac[i]
        sd = np.sqrt(relative_noise * level + floors[str(element)] ** 2)
        maps[str(element)] = np.clip(level + sd * rng.standard_normal(level.shape), 0, None).astype(np.float32)
    stack = np.stack([frac[i] for i in [0, *present]])
    ids = np.array([0, *present], dtype=np.uint8)
    truth = ids[np.argmax(stack, axis=0)]
    inside = fine > 0
    counts = np.bincount(fine[inside].ravel().astype(np.int64), minlength=max(names) + 1)
    fractions = pd.DataFrame(
        {"name": [names[i] for i in sorted(names)],
         "percent": [100.0 * counts[i] / max(inside.sum(), 1) for i in sorted(names)]},
        index=pd.Index(sorted(names), name="id"),
    )
    return SyntheticXRF(maps=maps, truth=truth, purity=stack.max(axis=0).astype(np.float32), fractions=fractions,
                        phases=phases, pixel_size_um=float(pixel_size_um) * block,
                        signatures=compositions.copy(), names=names)
