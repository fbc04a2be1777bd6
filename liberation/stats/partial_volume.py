"""Sub-voxel (soft) mineral quantification: a partial-volume model of the CT and per-voxel phase fractions.

At micro-CT resolution many voxels of a particle are *mixed*: they straddle a particle surface or a
boundary between two minerals, and their grey value lies between the grey levels of the phases that
meet there. Hard labels (one phase per voxel) put the whole voxel into one phase, which biases the
volume of small inclusions and thin rims, the grade of the particles that hold them and their
liberation class. This module

1. estimates a partial-volume model of the CT from the data itself (:func:`estimate_model`): the grey
   level and noise of each phase from the interiors of the segmented phases (voxels whose whole
   ``(2 r + 1)^3`` neighbourhood has the same hard label), and the blur from an edge-spread fit across
   the most common phase boundary;
2. unmixes every mixed voxel (a voxel whose 3x3x3 neighbourhood holds more than one hard label)
   linearly between its own phase ``a`` and the neighbouring phase ``b`` that best explains its grey
   value ``g``: ``f_a = clip((g - L_b) / (L_a - L_b), 0, 1)``, ``f_b = 1 - f_a``
   (:func:`phase_fractions`, :func:`soft_counts`); the share ``f_b`` goes to the particle of the
   neighbours of phase ``b`` (to the background when ``b`` is void outside the particles);
3. turns the soft per-particle phase volumes into the usual particle table (:func:`soft_table`), so that
   liberation classes, modal mineralogy and grade-recovery come from the same functions as the hard ones
   (:func:`soft_statistics`).

The voxel passes are block-wise numpy with a one-voxel halo (edge-replicated at the volume border), so
the per-voxel fractions of a chunked run equal those of a whole-volume run exactly; only mixed voxels
are gathered (batches of their 27 neighbours), and there is no per-particle Python loop.
The model and its assumptions are documented in ``docs/partial_volume.md``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from liberation.errors import InputError
from liberation.minerals import MineralList

__all__ = [
    "PartialVolumeModel",
    "PhaseFractions",
    "estimate_model",
    "phase_fractions",
    "quantification_difference",
    "soft_counts",
    "soft_statistics",
    "soft_table",
]

#: Mixed voxels processed at once (their 27 neighbours are gathered: ~27 * 5 bytes each).
BATCH = 1 << 18


def _offsets(radius: int) -> np.ndarray:
    """Neighbour offsets (dz, dy, dx) of the ``(2 radius + 1)^3`` neighbourhood, the voxel itself included."""
    r = range(-radius, radius + 1)
    return np.array([(dz, dy, dx) for dz in r for dy in r for dx in r], dtype=np.int64)


@dataclass(frozen=True)
class PartialVolumeModel:
    """Grey levels, noise and blur of the CT, per phase id.

    Attributes
    ----------
    levels : ndarray of float64, shape (n_phases,)
        Grey level of each phase id (index 0 = void / mount medium); NaN for a phase without voxels.
    noise : ndarray of float64, shape (n_phases,)
        Standard deviation of the grey value in the interior of each phase (NaN when unknown).
    interior_voxels : ndarray of int64, shape (n_phases,)
        Voxels the level and noise of each phase were measured on.
    level_source : tuple of str
        Per phase: ``"interior"`` (eroded by ``erosion``), ``"interior-1"`` (eroded by one voxel, too
        few deeper voxels), ``"all-voxels"`` (no interior: mean of every voxel of the phase, biased
        towards its neighbours), ``"given"`` or ``"absent"``.
    edge_sigma_vox : float
        Effective edge blur in voxels, from the edge-spread fit (Gaussian PSF and voxel sampling
        together); NaN when not fitted.
    edge_pair : tuple of int or None
        Phase ids of the boundary the blur was fitted on.
    min_contrast : float
        Two phases closer than ``min_contrast`` noise standard deviations are not unmixed (their
        mixture cannot be told from noise).
    notes : tuple of str
        Doubts about the model (e.g. a blur wider than the 3x3x3 neighbourhood).
    """

    levels: np.ndarray
    noise: np.ndarray
    interior_voxels: np.ndarray
    level_source: tuple[str, ...] = ()
    edge_sigma_vox: float = float("nan")
    edge_pair: tuple[int, int] | None = None
    min_contrast: float = 2.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_phases(self) -> int:
        return int(len(self.levels))

    @property
    def noise_sigma(self) -> float:
        """Pooled interior noise (grey units), weighted by the interior voxels; NaN when unknown."""
        ok = np.isfinite(self.noise) & (self.interior_voxels > 1)
        if not ok.any():
            return float("nan")
        w = self.interior_voxels[ok].astype(float)
        return float(np.sqrt(np.sum(w * self.noise[ok] ** 2) / w.sum()))

    @classmethod
    def from_levels(cls, levels, *, noise: float = 0.0, min_contrast: float = 2.0) -> PartialVolumeModel:
        """A model from known grey levels (index = phase id) and one noise standard deviation."""
        lv = np.asarray(levels, dtype=np.float64).reshape(-1)
        if lv.size < 2:
            raise InputError(f"levels={levels!r} must give a grey level for phase 0 and at least one mineral")
        if not (np.isfinite(noise) and noise >= 0):
            raise InputError(f"noise={noise!r} must be a non-negative grey-value standard deviation")
        return cls(levels=lv, noise=np.full(lv.size, float(noise)), interior_voxels=np.zeros(lv.size, np.int64),
                   level_source=("given",) * lv.size, min_contrast=float(min_contrast))

    def to_dict(self, minerals: MineralList | None = None) -> dict:
        """JSON-ready description (levels and noise by phase name when ``minerals`` is given)."""
        def name(i):
            if i == 0:
                return "void"
            if minerals is not None and i in minerals:
                return minerals[i].name
            return str(i)

        def num(v):
            return None if not np.isfinite(v) else float(v)

        return {
            "levels": {name(i): num(v) for i, v in enumerate(self.levels)},
            "noise": {name(i): num(v) for i, v in enumerate(self.noise)},
            "interior_voxels": {name(i): int(v) for i, v in enumerate(self.interior_voxels)},
            "level_source": {name(i): s for i, s in enumerate(self.level_source)},
            "noise_sigma": num(self.noise_sigma),
            "edge_sigma_vox": num(self.edge_sigma_vox),
            "edge_pair": None if self.edge_pair is None else [name(i) for i in self.edge_pair],
            "min_contrast": self.min_contrast,
            "notes": list(self.notes),
        }


@dataclass
class PhaseFractions:
    """Per-voxel sub-voxel fractions (in-memory volumes; see :func:`phase_fractions`).

    Attributes
    ----------
    fraction : ndarray of float32, shape (z, y, x)
        Fraction of the voxel's own (hard) phase, in [0, 1]; 1 in unmixed voxels.
    partner : ndarray of uint8 (or wider), shape (z, y, x)
        The other phase of a mixed voxel (``= phases`` where the voxel is not unmixed).
    owner : ndarray, shape (z, y, x)
        Particle id that receives the partner share ``1 - fraction`` (0: the background).
    """

    fraction: np.ndarray
    partner: np.ndarray
    owner: np.ndarray

    def volume_of(self, phases: np.ndarray, phase: int) -> np.ndarray:
        """Per-voxel fraction of ``phase`` (float32, shape (z, y, x))."""
        own = np.where(phases == phase, self.fraction, 0).astype(np.float32)
        other = np.where((self.partner == phase) & (phases != phase), 1 - self.fraction, 0)
        return own + other.astype(np.float32)


# ------------------------------------------------------------------------------------------ inputs


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask.")


def _read(a, sl) -> np.ndarray:
    if _is_dask(a):
        return np.asarray(a[sl].compute(scheduler="synchronous"))
    return np.asarray(a[sl])


def _check_image(image, phases) -> None:
    if image is None:
        raise InputError("image is missing; soft quantification needs the CT grey values (z, y, x)")
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise InputError(f"image is a {type(image).__name__}; expected an array (numpy, dask or zarr)")
    if len(image.shape) != 3:
        raise InputError(f"image has shape {tuple(image.shape)}; expected a 3D array (z, y, x)")
    if np.dtype(image.dtype).kind not in "uif":
        raise InputError(f"image has dtype {image.dtype}; expected numeric grey values")
    if tuple(image.shape) != tuple(phases.shape):
        raise InputError(f"image has shape {tuple(image.shape)} but phases has shape {tuple(phases.shape)}; "
                         "they must match")


def _grid(shape, chunks, array):
    from liberation.stats.measure import _block_grid, normalise_chunks

    return list(_block_grid(shape, normalise_chunks(shape, chunks, array)))


def _read_ext(a, core, shape, halo: int) -> np.ndarray:
    """Block ``core`` of ``a`` with ``halo`` voxels around it (edge-replicated outside the volume)."""
    sl = tuple(slice(max(lo - halo, 0), min(hi + halo, n)) for (lo, hi), n in zip(core, shape))
    block = _read(a, sl)
    pad = [(halo - (lo - s.start), halo - (s.stop - hi)) for (lo, hi), s in zip(core, sl)]
    if any(p != (0, 0) for p in pad):
        block = np.pad(block, pad, mode="edge")
    return block


def _map_blocks(fn, cores, workers):
    workers = workers or min(len(cores), os.cpu_count() or 1)
    if workers <= 1 or len(cores) <= 1:
        for core in cores:
            yield fn(core)
        return
    from collections import deque

    with ThreadPoolExecutor(workers) as pool:
        futures = deque()
        for core in cores:
            futures.append(pool.submit(fn, core))
            if len(futures) >= 2 * workers:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()


# ------------------------------------------------------------------------------------- the model


def _check_phases(phases) -> None:
    if not hasattr(phases, "shape") or len(phases.shape) != 3 or np.dtype(phases.dtype).kind not in "ui":
        raise InputError(f"phases must be a 3D integer label array (z, y, x), got "
                         f"{getattr(phases, 'dtype', type(phases).__name__)} of shape {getattr(phases, 'shape', None)}")


def _interior_sums(image, phases, core, shape, erosion, n_phases, shift):
    ph = _read_ext(phases, core, shape, erosion)
    g = _read_ext(image, core, shape, erosion)
    size = 2 * erosion + 1
    inner = tuple(slice(erosion, n - erosion) for n in ph.shape)
    lo = ndimage.minimum_filter(ph, size=size, mode="nearest")[inner]
    hi = ndimage.maximum_filter(ph, size=size, mode="nearest")[inner]
    core_ph = ph[inner]
    sel = lo == hi
    if erosion == 0:
        sel = np.ones(core_ph.shape, dtype=bool)
    p = core_ph[sel].astype(np.int64)
    if p.size and int(p.max()) >= n_phases:
        raise InputError(f"phases holds id {int(p.max())}, above the largest phase id {n_phases - 1} of the minerals")
    v = g[inner][sel].astype(np.float64) - shift
    return (np.bincount(p, minlength=n_phases), np.bincount(p, weights=v, minlength=n_phases),
            np.bincount(p, weights=v * v, minlength=n_phases))


def _level_pass(image, phases, grid, shape, erosion, n_phases, shift, workers):
    n = np.zeros(n_phases, np.int64)
    s1 = np.zeros(n_phases)
    s2 = np.zeros(n_phases)
    for c, a, b in _map_blocks(lambda core: _interior_sums(image, phases, core, shape, erosion, n_phases, shift),
                               grid, workers):
        n += c
        s1 += a
        s2 += b
    return n, s1, s2


def _edge_fit(image, phases, levels, shape, sample: int):
    """Fit the effective edge blur (voxels) on the most common boundary pair of a central sub-volume."""
    from scipy.optimize import minimize_scalar
    from scipy.special import ndtr

    core = tuple((max(0, (n - sample) // 2), min(n, (n - sample) // 2 + sample)) for n in shape)
    ph = _read_ext(phases, core, shape, 0).astype(np.int64)
    g = _read_ext(image, core, shape, 0).astype(np.float64)
    P = len(levels)
    if ph.size == 0 or int(ph.max()) >= P:
        return float("nan"), None
    pairs = np.zeros((P, P), np.int64)
    for axis in range(3):
        a = np.moveaxis(ph, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        d = lo != hi
        np.add.at(pairs, (np.minimum(lo[d], hi[d]), np.maximum(lo[d], hi[d])), 1)
    ok = np.isfinite(levels)
    contrast = np.abs(levels[:, None] - levels[None, :])
    score = np.where(ok[:, None] & ok[None, :], pairs, 0) * np.nan_to_num(contrast)
    if score.max() <= 0:
        return float("nan"), None
    p, q = np.unravel_index(int(np.argmax(score)), score.shape)
    pair_mask = (ph == p) | (ph == q)
    clean = ndimage.minimum_filter(pair_mask.astype(np.uint8), size=7, mode="nearest").astype(bool)
    inside = ph == p
    d = np.where(inside, ndimage.distance_transform_edt(inside) - 0.5,
                 -(ndimage.distance_transform_edt(~inside) - 0.5))
    sel = clean & (np.abs(d) <= 3.0)
    if sel.sum() < 100:
        return float("nan"), None
    u = (g[sel] - levels[q]) / (levels[p] - levels[q])
    dd = d[sel]
    if u.size > 200_000:
        idx = np.random.default_rng(0).choice(u.size, 200_000, replace=False)
        u, dd = u[idx], dd[idx]

    def loss(s):
        return float(np.mean((u - ndtr(dd / s)) ** 2))

    res = minimize_scalar(loss, bounds=(0.05, 4.0), method="bounded", options={"xatol": 1e-3})
    return float(res.x), (int(p), int(q))


def estimate_model(
    image,
    phases,
    *,
    n_phases: int | None = None,
    erosion: int = 2,
    min_interior: int = 27,
    edge: bool = True,
    edge_sample: int = 96,
    min_contrast: float = 2.0,
    chunks=None,
    workers: int | None = None,
) -> PartialVolumeModel:
    """Estimate the partial-volume model (levels, noise, blur) of a CT from its segmentation.

    Parameters
    ----------
    image : array, shape (z, y, x)
        CT grey values (numpy, dask or zarr).
    phases : array, shape (z, y, x), integer
        Hard phase labels (0 = void) of the same shape.
    n_phases : int, optional
        Number of phase ids (largest id + 1); default from the labels.
    erosion : int
        A voxel is interior when its whole ``(2 erosion + 1)^3`` neighbourhood has its phase; levels
        and noise are measured on interior voxels (>= 1 voxel from a boundary for ``erosion=1``;
        the default 2 keeps the blur of a sigma <= 1 voxel PSF below 1 % of the contrast).
    min_interior : int
        A phase with fewer interior voxels is measured with ``erosion=1``, then on all its voxels.
    edge : bool
        Fit the edge blur (:attr:`PartialVolumeModel.edge_sigma_vox`).
    edge_sample : int
        Edge of the central cube (voxels) the blur is fitted on.
    min_contrast : float
        Phases closer than this many noise standard deviations are not unmixed.
    chunks : int or tuple, optional
        Block shape (default the array's chunks or slabs of ~16 M voxels).
    workers : int, optional
        Threads.

    Returns
    -------
    PartialVolumeModel
    """
    _check_phases(phases)
    _check_image(image, phases)
    if not (isinstance(erosion, (int, np.integer)) and 1 <= int(erosion) <= 5):
        raise InputError(f"erosion={erosion!r} must be an integer number of voxels in 1..5")
    if not (isinstance(min_contrast, (int, float)) and min_contrast >= 0):
        raise InputError(f"min_contrast={min_contrast!r} must be a non-negative number of noise deviations")
    shape = tuple(int(n) for n in phases.shape)
    grid = _grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    if n_phases is None:
        n_phases = 1 + max(int(np.asarray(_read(phases, tuple(slice(lo, hi) for lo, hi in c))).max())
                           for c in grid)
    shift = 32768.0 if np.dtype(image.dtype).kind == "u" else 0.0
    levels = np.full(n_phases, np.nan)
    noise = np.full(n_phases, np.nan)
    count = np.zeros(n_phases, np.int64)
    source = ["absent"] * n_phases
    todo = np.ones(n_phases, bool)
    for r, tag in ((int(erosion), "interior"), (1, "interior-1"), (0, "all-voxels")):
        if not todo.any():
            break
        if r == 1 and int(erosion) == 1:
            continue
        n, s1, s2 = _level_pass(image, phases, grid, shape, r, n_phases, shift, workers)
        take = todo & (n >= (min_interior if r > 0 else 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n
            var = np.maximum(s2 / n - mean**2, 0.0) * n / np.maximum(n - 1, 1)
        levels[take] = mean[take] + shift
        noise[take] = np.sqrt(var[take])
        count[take] = n[take]
        for i in np.flatnonzero(take):
            source[i] = tag
        todo &= ~take
    notes = [f"phase {i}: no interior voxels, level from all its voxels (biased towards its neighbours)"
             for i in range(n_phases) if source[i] == "all-voxels"]
    sigma, pair = (float("nan"), None)
    if edge:
        sigma, pair = _edge_fit(image, phases, levels, shape, int(edge_sample))
        if np.isfinite(sigma) and sigma > 1.0:
            notes.append(f"edge blur {sigma:.2f} voxels is wider than the 3x3x3 neighbourhood the unmixing uses: "
                         "voxels two or more voxels from a boundary stay unmixed")
    return PartialVolumeModel(levels=levels, noise=noise, interior_voxels=count, level_source=tuple(source),
                              edge_sigma_vox=sigma, edge_pair=pair, min_contrast=float(min_contrast),
                              notes=tuple(notes))


# ----------------------------------------------------------------------------------- the unmixing


def _unmix_block(g_ext, ph_ext, pid_ext, levels, noise_sigma, min_contrast, radius=1, clip=True):
    """Unmix the mixed voxels of one block given with a one-voxel halo.

    ``radius`` is the halo and the neighbourhood radius; ``clip`` clips the fractions to [0, 1].
    Returns ``(idx, own, frac, partner, owner, pid)``: flat core indices of the voxels whose partner share
    ``1 - frac`` is positive, their own phase, own fraction (float64), partner phase, partner particle and
    own particle.
    """
    rad = int(radius)
    offsets = _offsets(rad)
    n_nb = len(offsets)
    centre = n_nb // 2
    core = (slice(rad, -rad),) * 3
    cshape = tuple(n - 2 * rad for n in ph_ext.shape)
    lo = ndimage.minimum_filter(ph_ext, size=2 * rad + 1, mode="nearest")[core]
    hi = ndimage.maximum_filter(ph_ext, size=2 * rad + 1, mode="nearest")[core]
    idx = np.flatnonzero(lo != hi)
    P = len(levels)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64),
             np.zeros(0, np.int64), np.zeros(0, np.int64))
    if idx.size == 0:
        return empty
    Ny, Nx = ph_ext.shape[1], ph_ext.shape[2]
    offs = offsets[:, 0] * Ny * Nx + offsets[:, 1] * Nx + offsets[:, 2]
    ph_flat = ph_ext.reshape(-1)
    pid_flat = pid_ext.reshape(-1) if pid_ext is not None else None
    g_flat = g_ext.reshape(-1)
    known = np.isfinite(levels)
    lv = np.where(known, levels, 0.0)
    sig = noise_sigma if np.isfinite(noise_sigma) and noise_sigma > 0 else 0.0
    out = []
    for start in range(0, idx.size, BATCH):
        ci = idx[start:start + BATCH]
        z, rem = np.divmod(ci, cshape[1] * cshape[2])
        y, x = np.divmod(rem, cshape[2])
        ei = ((z + rad) * Ny + (y + rad)) * Nx + (x + rad)
        nb = ph_flat[ei[:, None] + offs[None, :]].astype(np.int64)
        a = nb[:, centre]
        if int(nb.max()) >= P:
            raise InputError(f"phases holds id {int(nb.max())} without a grey level (model has {P} phases)")
        g = g_flat[ei].astype(np.float64)
        la = lv[a]
        best_cost = np.full(ci.size, np.inf)
        best_p = a.copy()
        best_f = np.ones(ci.size)
        for p in range(P):
            if not known[p]:
                continue
            cnt = (nb == p).sum(axis=1)
            lp = lv[p]
            diff = la - lp
            ok = (cnt > 0) & (a != p) & known[a] & (np.abs(diff) > max(min_contrast * sig, 1e-9))
            if not ok.any():
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                f = (g - lp) / np.where(ok, diff, 1.0)
                if clip:
                    f = np.clip(f, 0.0, 1.0)
            resid = np.abs(g - (f * la + (1.0 - f) * lp))
            cost = resid / (sig if sig > 0 else 1.0) + (n_nb - cnt) / n_nb
            better = ok & (cost < best_cost)
            best_cost[better] = cost[better]
            best_p[better] = p
            best_f[better] = f[better]
        keep = (best_p != a) & (best_f != 1.0)
        if not keep.any():
            continue
        ci, a, bp, bf, ei, nbk = ci[keep], a[keep], best_p[keep], best_f[keep], ei[keep], nb[keep]
        if pid_flat is not None:
            nbp = pid_flat[ei[:, None] + offs[None, :]].astype(np.int64)
            owner = np.where(nbk == bp[:, None], nbp, -1).max(axis=1)
            own_pid = nbp[:, centre]
        else:
            owner = np.zeros(ci.size, np.int64)
            own_pid = np.zeros(ci.size, np.int64)
        out.append((ci, a, bf, bp, owner, own_pid))
    if not out:
        return empty
    return tuple(np.concatenate([o[k] for o in out]) for k in range(6))


def _model_arrays(model: PartialVolumeModel):
    if not isinstance(model, PartialVolumeModel):
        raise InputError(f"model is a {type(model).__name__}; expected a PartialVolumeModel (estimate_model)")
    return np.asarray(model.levels, dtype=np.float64), float(model.noise_sigma), float(model.min_contrast)


def _check_options(radius, clip):
    if not (isinstance(radius, (int, np.integer)) and not isinstance(radius, bool) and 1 <= int(radius) <= 3):
        raise InputError(f"radius={radius!r} must be 1, 2 or 3 voxels (neighbourhood (2 radius + 1)^3)")
    if not isinstance(clip, (bool, np.bool_)):
        raise InputError(f"clip={clip!r} must be True or False")
    return int(radius), bool(clip)


def phase_fractions(image, phases, particles=None, *, model: PartialVolumeModel, radius: int = 1,
                    clip: bool = True, chunks=None, workers: int | None = None) -> PhaseFractions:
    """Per-voxel fractions of the two phases of every mixed voxel (whole volume in memory).

    Parameters
    ----------
    image : array, shape (z, y, x)
        CT grey values.
    phases : array, shape (z, y, x), integer
        Hard phase labels (0 = void).
    particles : array, shape (z, y, x), integer, optional
        Particle ids (0 = outside): fills :attr:`PhaseFractions.owner`.
    model : PartialVolumeModel
        Grey levels and noise (:func:`estimate_model`).
    radius : int
        Neighbourhood radius: a voxel is mixed when its ``(2 radius + 1)^3`` neighbourhood holds more
        than one hard label, and its partner is one of those labels (1: 3x3x3, the default; 2 also
        reaches the blur tail of a PSF wider than ~0.7 voxel).
    clip : bool
        Clip the fractions to [0, 1] (default). Clipping biases sums over many noisy voxels (a pure voxel's
        noise is kept only on one side); ``clip=False`` keeps the unbiased linear estimate.
    chunks : int or tuple, optional
        Block shape of the block-wise pass (the result does not depend on it).
    workers : int, optional
        Threads.

    Returns
    -------
    PhaseFractions
        Volumes of the input shape.
    """
    _check_phases(phases)
    _check_image(image, phases)
    levels, sig, mc = _model_arrays(model)
    radius, clip = _check_options(radius, clip)
    shape = tuple(int(n) for n in phases.shape)
    fraction = np.ones(shape, np.float32)
    partner = np.array(phases, copy=True)
    owner = np.zeros(shape, np.int64) if particles is None else np.array(particles, dtype=np.int64, copy=True)
    grid = _grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)

    def run(core):
        g = _read_ext(image, core, shape, radius)
        ph = _read_ext(phases, core, shape, radius)
        pid = _read_ext(particles, core, shape, radius) if particles is not None else None
        return core, _unmix_block(g, ph, pid, levels, sig, mc, radius, clip)

    for core, (ci, _a, f, bp, ow, _pid) in _map_blocks(run, grid, workers):
        sl = tuple(slice(lo, hi) for lo, hi in core)
        bshape = tuple(hi - lo for lo, hi in core)
        for arr, val in ((fraction, f), (partner, bp), (owner, ow)):
            view = arr[sl]
            flat = view.reshape(-1) if view.flags.c_contiguous else None
            if flat is None:
                tmp = view.copy().reshape(-1)
                tmp[ci] = val
                arr[sl] = tmp.reshape(bshape)
            else:
                flat[ci] = val
    return PhaseFractions(fraction=fraction, partner=partner, owner=owner)


def _soft_block(image, phases, particles, core, shape, levels, sig, mc, n_phases, radius, clip):
    from liberation.stats._kernels import local_ids

    g = _read_ext(image, core, shape, radius)
    ph = _read_ext(phases, core, shape, radius)
    pid = _read_ext(particles, core, shape, radius)
    ci, a, f, bp, owner, own_pid = _unmix_block(g, ph, pid, levels, sig, mc, radius, clip)
    if ci.size == 0:
        return np.zeros(0, np.int64), np.zeros((0, n_phases))
    keys = np.concatenate([own_pid, owner])
    ids, lut, src = local_ids(keys)
    rows = lut[src].astype(np.int64)
    share = 1.0 - f
    phase = np.concatenate([a, bp])
    w = np.concatenate([-share, share])
    delta = np.bincount(rows * n_phases + phase, weights=w, minlength=len(ids) * n_phases)
    return ids, delta.reshape(len(ids), n_phases)


def soft_counts(particles, phases, image, *, model: PartialVolumeModel, ids, hard_counts, radius: int = 1,
                clip: bool = True, chunks=None, workers: int | None = None) -> np.ndarray:
    """Soft (fractional) voxel counts of every phase in every particle, block by block.

    Parameters
    ----------
    particles, phases, image : array, shape (z, y, x)
        Particle ids (0 = outside), hard phase ids (0 = void) and CT grey values; numpy, dask or zarr.
    model : PartialVolumeModel
        Grey levels and noise.
    ids : ndarray of int, shape (n,)
        Particle ids of the rows (``ParticleMeasurements.ids``).
    hard_counts : ndarray of int, shape (n, n_phases)
        Hard voxel counts of the same rows (``ParticleMeasurements.counts``).
    radius, clip
        See :func:`phase_fractions`.
    chunks : int or tuple, optional
        Block shape (default the arrays' chunks or ~16 M-voxel slabs).
    workers : int, optional
        Threads.

    Returns
    -------
    ndarray of float64, shape (n, n_phases)
        ``hard_counts`` plus the sub-voxel corrections: each mixed voxel moves ``1 - f`` of itself from its
        own phase (and particle) to the partner phase of the partner's particle; column 0 holds the
        void counted inside a particle (unassigned).

    Notes
    -----
    Memory: a few blocks and their mixed voxels; per-block sparse tables merged as in
    :func:`liberation.stats.measure.measure`.
    """
    from liberation.stats.measure import _Accumulator

    _check_phases(phases)
    _check_image(image, phases)
    levels, sig, mc = _model_arrays(model)
    radius, clip = _check_options(radius, clip)
    hard_counts = np.asarray(hard_counts)
    n_phases = hard_counts.shape[1]
    if len(levels) < n_phases:
        levels = np.concatenate([levels, np.full(n_phases - len(levels), np.nan)])
    shape = tuple(int(n) for n in phases.shape)
    grid = _grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    acc = _Accumulator(n_phases, with_faces=False)
    for bid, delta in _map_blocks(
            lambda core: _soft_block(image, phases, particles, core, shape, levels[:n_phases], sig, mc, n_phases,
                                      radius, clip),
            grid, workers):
        if len(bid):
            acc.add(bid, counts=delta)
    all_ids, corr, _f, _b = acc.result()
    out = hard_counts.astype(np.float64).copy()
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.searchsorted(ids, all_ids)
    pos_c = np.minimum(pos, max(len(ids) - 1, 0))
    hit = (len(ids) > 0) & (ids[pos_c] == all_ids) if len(ids) else np.zeros(len(all_ids), bool)
    np.add.at(out, pos_c[hit], corr[hit])
    return out


# ---------------------------------------------------------------------------------- soft tables


def soft_table(table: pd.DataFrame, counts: np.ndarray, *, minerals: MineralList, voxel_size_um) -> pd.DataFrame:
    """The particle table with volumes, masses and grades from soft counts.

    Parameters
    ----------
    table : DataFrame
        Hard particle table (:func:`liberation.stats.particle_table`), rows in the order of ``counts``.
    counts : ndarray of float, shape (n, n_phases)
        Soft voxel counts (:func:`soft_counts`).
    minerals : MineralList
        The minerals.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.

    Returns
    -------
    DataFrame
        Same columns; ``voxels``, ``volume_um3``, ``esd_um``, ``mass_ug``, ``unassigned_voxels`` and the
        ``voxels_*``, ``grade_*``, ``mass_grade_*`` columns from the soft counts (float). Size class,
        exclusion, surface and shape columns stay those of the hard labels, so hard and soft rows compare
        particle by particle.
    """
    from liberation._validation import as_voxel_size
    from liberation.stats.particles import UM3_G_CM3_TO_UG

    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[0] != len(table):
        raise InputError(f"counts has {counts.shape[0]} rows but the table has {len(table)} particles")
    vox = float(np.prod(as_voxel_size(voxel_size_um)))
    ids = np.array(minerals.ids)
    mineral_counts = np.clip(counts[:, ids], 0.0, None)
    unassigned = np.clip(counts[:, 0], 0.0, None)
    mineral_total = mineral_counts.sum(axis=1)
    voxels = mineral_total + unassigned
    dens = np.array([m.density for m in minerals], dtype=float)
    mass_parts = mineral_counts * dens[None, :] * vox * UM3_G_CM3_TO_UG
    mass = mass_parts.sum(axis=1)
    out = table.copy()
    out["voxels"] = voxels
    out["volume_um3"] = voxels * vox
    out["esd_um"] = np.cbrt(6.0 * voxels * vox / np.pi)
    out["mass_ug"] = mass
    out["unassigned_voxels"] = unassigned
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, m in enumerate(minerals):
            out[f"voxels_{m.name}"] = mineral_counts[:, j]
            out[f"grade_{m.name}"] = np.where(mineral_total > 0, mineral_counts[:, j] / np.maximum(mineral_total,
                                                                                                   1e-300), 0.0)
            out[f"mass_grade_{m.name}"] = np.where(mass > 0, mass_parts[:, j] / np.where(mass > 0, mass, 1), 0.0)
    return out


def quantification_difference(hard: pd.DataFrame, soft: pd.DataFrame, *, minerals: MineralList,
                              target: str | None = None, threshold: float = 0.9, by: str = "volume") -> pd.DataFrame:
    """Hard vs soft, per mineral: volume, modal %, mean particle grade and liberated fraction, with differences.

    Parameters
    ----------
    hard, soft : DataFrame
        Hard and soft particle tables (same rows).
    minerals : MineralList
        The minerals.
    target : str, optional
        Only this mineral (default all).
    threshold : float
        Liberation threshold (grade fraction).
    by : {"volume", "mass"}
        Basis of the liberated fraction and modal share.

    Returns
    -------
    DataFrame
        Columns ``mineral, basis, quantity, hard, soft, soft_minus_hard, relative_difference``; quantities
        ``volume_um3``, ``modal_percent``, ``mean_grade`` (over particles holding the mineral in either table),
        ``liberated_fraction``, ``n_liberated`` (included particles only).
    """
    from liberation.stats.composition import _included, amounts, check_target, grades, liberated_fraction

    names = check_target(target, minerals)
    h, s = _included(hard), _included(soft)
    ah, th = amounts(h, minerals, by)
    as_, ts = amounts(s, minerals, by)
    gh, gs = grades(h, minerals, by), grades(s, minerals, by)
    libh = liberated_fraction(hard, minerals=minerals, target=target, threshold=threshold, by=by)
    libs = liberated_fraction(soft, minerals=minerals, target=target, threshold=threshold, by=by)
    rows = []
    for name in names:
        j = minerals.names.index(name)
        vh = h[f"voxels_{name}"].to_numpy(float).sum() * (h["volume_um3"].sum() / max(h["voxels"].sum(), 1e-300))
        vs_ = s[f"voxels_{name}"].to_numpy(float).sum() * (s["volume_um3"].sum() / max(s["voxels"].sum(), 1e-300))
        holds = (ah[:, j] > 0) | (as_[:, j] > 0)
        vals = {
            "volume_um3": (vh, vs_),
            "modal_percent": (100 * ah[:, j].sum() / th.sum() if th.sum() else np.nan,
                              100 * as_[:, j].sum() / ts.sum() if ts.sum() else np.nan),
            "mean_grade": (float(gh[holds, j].mean()) if holds.any() else np.nan,
                           float(gs[holds, j].mean()) if holds.any() else np.nan),
            "liberated_fraction": (libh[name], libs[name]),
            "n_liberated": (float((gh[:, j] >= threshold).sum()), float((gs[:, j] >= threshold).sum())),
        }
        for q, (a, b) in vals.items():
            rows.append({"mineral": name, "basis": by, "quantity": q, "hard": float(a), "soft": float(b),
                         "soft_minus_hard": float(b - a),
                         "relative_difference": float((b - a) / a) if a not in (0, 0.0) and a == a else np.nan})
    return pd.DataFrame(rows)


@dataclass
class SoftStatistics:
    """Soft tables of one sample (:func:`soft_statistics`)."""

    model: PartialVolumeModel
    particles: pd.DataFrame
    modal: pd.DataFrame
    liberation: pd.DataFrame
    grade_recovery: pd.DataFrame
    difference: pd.DataFrame


def soft_statistics(particles, phases, image, *, table: pd.DataFrame, measurements, minerals: MineralList,
                    voxel_size_um, target: str | None = None, threshold: float = 0.9, classes=None,
                    by: str = "volume", model: PartialVolumeModel | None = None, radius: int = 1,
                    clip: bool = True, chunks=None, workers: int | None = None) -> SoftStatistics:
    """Soft particle table, modal mineralogy, liberation classes, grade-recovery and the hard-soft difference.

    Parameters
    ----------
    particles, phases, image : array, shape (z, y, x)
        Particle ids, hard phase ids and CT grey values.
    table : DataFrame
        Hard particle table (rows = ``measurements.ids``).
    measurements : ParticleMeasurements
        The hard pass (ids and counts).
    minerals : MineralList
        The minerals.
    voxel_size_um : float or tuple
        Voxel size in µm.
    target, threshold, classes, by
        As in :func:`liberation.stats.analyse` (``by`` resolved: "volume" or "mass").
    model : PartialVolumeModel, optional
        Default :func:`estimate_model` of ``image`` and ``phases``.
    radius, clip
        See :func:`phase_fractions`.
    chunks, workers
        Block shape and threads of the voxel passes.

    Returns
    -------
    SoftStatistics
    """
    from liberation.stats.composition import grade_recovery, liberation_classes, modal_mineralogy

    n_phases = measurements.counts.shape[1]
    if model is None:
        model = estimate_model(image, phases, n_phases=n_phases, chunks=chunks, workers=workers)
    counts = soft_counts(particles, phases, image, model=model, ids=measurements.ids,
                         hard_counts=measurements.counts, radius=radius, clip=clip, chunks=chunks,
                         workers=workers)
    soft = soft_table(table, counts, minerals=minerals, voxel_size_um=voxel_size_um)
    lib = pd.concat([liberation_classes(soft, minerals=minerals, target=target, classes=classes, by=b)
                     for b in ("volume", "mass")], ignore_index=True)
    lib.insert(0, "quantification", "soft")
    gr = grade_recovery(soft, minerals=minerals, target=target, by=by)
    gr.insert(0, "quantification", "soft")
    modal = modal_mineralogy(soft, minerals=minerals, voxel_size_um=voxel_size_um)
    modal["voxels"] = modal["volume_um3"] / float(np.prod(np.broadcast_to(voxel_size_um, 3)))
    diff = pd.concat([quantification_difference(table, soft, minerals=minerals, target=target, threshold=threshold,
                                                by=b) for b in ("volume", "mass")], ignore_index=True)
    return SoftStatistics(model=model, particles=soft, modal=modal, liberation=lib, grade_recovery=gr,
                          difference=diff)
