"""Unmixing of the mixed voxels: per-voxel phase fractions and per-particle soft voxel counts.

A voxel is *mixed* when its ``(2 radius + 1)^3`` neighbourhood holds more than one hard label. Its own
phase ``a`` is unmixed linearly against the neighbouring phase ``b`` that best explains its grey value
``g``: ``f_a = clip((g - L_b) / (L_a - L_b), 0, 1)``; the share ``1 - f_a`` goes to phase ``b`` of the
particle of the neighbours of phase ``b`` (the larger id on a tie; the background when ``b`` is void
outside the particles). :func:`unmix_block` is the numpy reference (it returns the per-voxel fractions);
:func:`soft_counts` folds the unmixing straight into per-particle corrections with the numba kernel
:func:`liberation.stats.partial_volume_kernels.soft_deltas` (the numpy reference without numba).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liberation.errors import InputError
from liberation.stats.partial_volume_blocks import (
    block_grid,
    check_image,
    check_phases,
    map_blocks,
    offsets,
    read_ext,
    read_halo,
)
from liberation.stats.partial_volume_kernels import HAVE_NUMBA, constant_box, soft_deltas
from liberation.stats.partial_volume_model import PartialVolumeModel
from liberation.stats.partial_volume_prior import HIST_BINS, HIST_DX, HIST_X0, class_count, count_class, n_count_classes

__all__ = ["PhaseFractions", "auto_radius", "phase_fractions", "soft_counts", "unmix_block", "unmix_prior"]

#: Mixed voxels processed at once by the numpy reference (their neighbours are gathered: ~27 * 5 bytes each).
BATCH = 1 << 18


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


def unmix_block(g_ext, ph_ext, pid_ext, levels, noise_sigma, min_contrast, radius=1, clip=True, engine="auto",
                prior=None, hist=None):
    """Unmix the mixed voxels of one block given with a one-voxel halo.

    ``radius`` is the halo and the neighbourhood radius; ``clip`` clips the fractions to [0, 1]. With ``prior``
    (:class:`liberation.stats.partial_volume_prior.UnmixPrior`) the partner is chosen with clipped fractions and
    the fraction is the posterior mean of the voxel's class at its unclipped linear fraction; with ``hist``
    (int64, shape (n_phases * n_phases * n_classes, HIST_BINS)) the linear fractions of the unmixed voxels are
    counted there by class instead (the returned arrays are then empty).
    Returns ``(idx, own, frac, partner, owner, pid)``: flat core indices of the voxels whose partner share
    ``1 - frac`` is positive, their own phase, own fraction (float64), partner phase, partner particle and
    own particle.
    """
    rad = int(radius)
    offs3 = offsets(rad)
    n_nb = len(offs3)
    centre = n_nb // 2
    cshape = tuple(n - 2 * rad for n in ph_ext.shape)
    idx = np.flatnonzero(constant_box(ph_ext, rad, engine=engine) == 0)
    P = len(levels)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64),
             np.zeros(0, np.int64), np.zeros(0, np.int64))
    if idx.size == 0:
        return empty
    Ny, Nx = ph_ext.shape[1], ph_ext.shape[2]
    offs = offs3[:, 0] * Ny * Nx + offs3[:, 1] * Nx + offs3[:, 2]
    ph_flat = ph_ext.reshape(-1)
    pid_flat = pid_ext.reshape(-1) if pid_ext is not None else None
    g_flat = g_ext.reshape(-1)
    known = np.isfinite(levels)
    lv = np.where(known, levels, 0.0)
    sig = noise_sigma if np.isfinite(noise_sigma) and noise_sigma > 0 else 0.0
    bayes = prior is not None or hist is not None
    n_cls = n_count_classes(rad)
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
        if bayes:
            res = _bracket_block(ci, ei, nb, a, g, lv, known, sig, min_contrast, n_nb, n_cls, prior, hist, pid_flat,
                                 offs, centre)
            if res is not None:
                out.append(res)
            continue
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
                x = (g - lp) / np.where(ok, diff, 1.0)
                f = np.clip(x, 0.0, 1.0) if clip else x
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


def _bit_length(c):
    """``int.bit_length`` of every count (counts < 2^16)."""
    c = np.asarray(c, dtype=np.int64)
    out = np.zeros(c.shape, np.int64)
    for b in range(16):
        out += c >= (1 << b)
    return out


def _bracket(nb, a, lv, known, sig, min_contrast, n_nb, n_cls):
    """Noise-independent bracket of every mixed voxel: ``lo`` (``hi``) = the most frequent neighbouring phase with
    a level below (above) the voxel's own phase that it can be unmixed with (ties: the lower id; ``a`` when there
    is none), and its count class ``k = bit_length(voxels of other phases in the box) - 1``."""
    P = lv.size
    thr = max(min_contrast * sig, 1e-9)
    la = lv[a]
    lo, hi = a.copy(), a.copy()
    clo = np.zeros(a.size, np.int64)
    chi = np.zeros(a.size, np.int64)
    for p in range(P):
        if not known[p]:
            continue
        cnt = (nb == p).sum(axis=1)
        ok = (cnt > 0) & (a != p) & known[a] & (np.abs(la - lv[p]) > thr)
        up = ok & (lv[p] > la) & (cnt > chi)
        dn = ok & (lv[p] < la) & (cnt > clo)
        hi[up], chi[up] = p, cnt[up]
        lo[dn], clo[dn] = p, cnt[dn]
    other = n_nb - (nb == a[:, None]).sum(axis=1)
    k = count_class(other, n_nb)
    cls = ((lo * P + hi) * P + a) * n_cls + k
    return lo, hi, cls


def _bracket_block(ci, ei, nb, a, g, lv, known, sig, min_contrast, n_nb, n_cls, prior, hist, pid_flat, offs, centre):
    """The posterior-mean unmixing of :func:`unmix_block` (``prior``), or the histogram of ``w`` (``hist``)."""
    lo, hi, cls = _bracket(nb, a, lv, known, sig, min_contrast, n_nb, n_cls)
    mixed = lo != hi
    if not mixed.any():
        return None
    ci, ei, nb, a, g, lo, hi, cls = (v[mixed] for v in (ci, ei, nb, a, g, lo, hi, cls))
    w = (g - lv[lo]) / (lv[hi] - lv[lo])
    if hist is not None:
        b = np.clip(np.floor((w - HIST_X0) / HIST_DX), 0, HIST_BINS - 1).astype(np.int64)
        np.add.at(hist, (cls, b), 1)
        return None
    s_lo, s_hi = prior.shares(cls, w, lv)
    rows = []
    for part, share in ((lo, s_lo), (hi, s_hi)):
        keep = (part != a) & (share != 0.0)
        if not keep.any():
            continue
        if pid_flat is not None:
            nbp = pid_flat[ei[keep][:, None] + offs[None, :]].astype(np.int64)
            owner = np.where(nb[keep] == part[keep][:, None], nbp, -1).max(axis=1)
            own_pid = nbp[:, centre]
        else:
            owner = np.zeros(int(keep.sum()), np.int64)
            own_pid = np.zeros(int(keep.sum()), np.int64)
        rows.append((ci[keep], a[keep], 1.0 - share[keep], part[keep], owner, own_pid))
    if not rows:
        return None
    return tuple(np.concatenate([r[k] for r in rows]) for k in range(6))


def _model_arrays(model: PartialVolumeModel):
    if not isinstance(model, PartialVolumeModel):
        raise InputError(f"model is a {type(model).__name__}; expected a PartialVolumeModel (estimate_model)")
    return np.asarray(model.levels, dtype=np.float64), float(model.noise_sigma), float(model.min_contrast)


#: Linear fractions of about this many voxels (z slabs, as the model's levels) give the priors of ``"posterior"``.
PRIOR_SAMPLE_VOXELS = 1 << 23


def auto_radius(model: PartialVolumeModel) -> int:
    """Neighbourhood radius from the model's edge blur: ``ceil(2.5 sigma - 0.5)`` in 1..2 (1 without a blur).

    A voxel ``R`` voxels (Chebyshev) from the other label lies about ``R - 0.5`` voxels from the boundary; its
    blurred fraction beyond ``2.5 sigma`` is below 1 %. Radius 3 (a blur above ~1.4 voxels) is left to the
    caller: it leaves the packed counts of the kernel (several times slower).
    """
    s = float(model.edge_sigma_vox)
    if not np.isfinite(s):
        return 1
    return int(min(2, max(1, np.ceil(2.5 * s - 0.5))))


def _check_options(radius, clip, estimator="linear", model=None):
    if radius is None and model is not None:
        radius = auto_radius(model)
    if not (isinstance(radius, (int, np.integer)) and not isinstance(radius, bool) and 1 <= int(radius) <= 3):
        raise InputError(f"radius={radius!r} must be 1, 2 or 3 voxels (neighbourhood (2 radius + 1)^3) or None "
                         "(from the model's blur)")
    if not isinstance(clip, (bool, np.bool_)):
        raise InputError(f"clip={clip!r} must be True or False")
    if estimator not in ("posterior", "linear"):
        raise InputError(f"estimator={estimator!r}; expected 'posterior' or 'linear'")
    return int(radius), bool(clip), estimator == "posterior"


def _hist_block(image, phases, core, shape, levels, sig, mc, radius, engine, n_rows):
    if engine == "numba":
        from liberation.stats.partial_volume_kernels import soft_histogram

        g, lo, hi = read_halo(image, core, shape, radius)
        ph, _lo, _hi = read_halo(phases, core, shape, radius)
        hist, bad = soft_histogram(g, ph, radius, levels, sig, mc, lo=lo, hi=hi)
        if bad is not None:
            raise InputError(f"phases holds id {bad} without a grey level (model has {len(levels)} phases)")
        return hist
    hist = np.zeros((n_rows, HIST_BINS), np.int64)
    g = read_ext(image, core, shape, radius)
    ph = read_ext(phases, core, shape, radius)
    unmix_block(g, ph, None, levels, sig, mc, radius, True, engine="numpy", hist=hist)
    return hist


def unmix_prior(image, phases, *, model: PartialVolumeModel, radius: int | None = None, n_phases: int | None = None,
                sample_voxels: int | None = PRIOR_SAMPLE_VOXELS, chunks=None, workers: int | None = None,
                engine: str = "auto"):
    """Fit the priors of the posterior-mean unmixing on a sample of the volume (:mod:`partial_volume_prior`).

    Parameters
    ----------
    image, phases : array, shape (z, y, x)
        CT grey values and hard phase ids.
    model : PartialVolumeModel
        Levels and noise.
    radius : int, optional
        Neighbourhood radius (default :func:`auto_radius`).
    n_phases : int, optional
        Phase ids (default the model's).
    sample_voxels : int or None
        About this many voxels in evenly spaced z slabs (None: the whole volume).
    chunks, workers, engine
        As in :func:`soft_counts`.

    Returns
    -------
    UnmixPrior
    """
    from liberation.stats.partial_volume_model import _sample_cores
    from liberation.stats.partial_volume_prior import fit_prior

    levels, sig, mc = _model_arrays(model)
    radius, _clip, _bayes = _check_options(radius, True, "posterior", model)
    engine = ("numba" if HAVE_NUMBA else "numpy") if engine == "auto" else engine
    n_phases = len(levels) if n_phases is None else int(n_phases)
    if len(levels) < n_phases:
        levels = np.concatenate([levels, np.full(n_phases - len(levels), np.nan)])
    levels = levels[:n_phases]
    shape = tuple(int(n) for n in phases.shape)
    grid = block_grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    cores = _sample_cores(grid, shape, sample_voxels)
    n_rows = class_count(n_phases, radius)
    hist = np.zeros((n_rows, HIST_BINS), np.int64)
    for h in map_blocks(lambda core: _hist_block(image, phases, core, shape, levels, sig, mc, radius, engine,
                                                 n_rows), cores, workers):
        hist += h
    return fit_prior(hist, levels, sig, radius=radius)


def _check_prior(prior, radius, n_phases):
    from liberation.stats.partial_volume_prior import UnmixPrior, n_count_classes

    if not isinstance(prior, UnmixPrior):
        raise InputError(f"prior is a {type(prior).__name__}; expected an UnmixPrior (unmix_prior)")
    if prior.n_classes != n_count_classes(radius) or prior.n_phases != n_phases:
        raise InputError(f"prior was fitted for {prior.n_phases} phases and {prior.n_classes} count classes; "
                         f"radius={radius} with {n_phases} phases needs {n_count_classes(radius)} classes")
    return prior


def phase_fractions(image, phases, particles=None, *, model: PartialVolumeModel, radius: int | None = None,
                    estimator: str = "posterior", clip: bool = True, prior=None, chunks=None,
                    workers: int | None = None) -> PhaseFractions:
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
    radius : int, optional
        Neighbourhood radius: a voxel is mixed when its ``(2 radius + 1)^3`` neighbourhood holds more
        than one hard label, and its partner is one of those labels (1: 3x3x3; 2: 5x5x5). Default
        :func:`auto_radius`: from the model's edge blur (``ceil(2.5 sigma - 0.5)`` in 1..2; 1 without one).
    estimator : {"posterior", "linear"}
        ``"posterior"`` (default): the posterior mean of the fraction given the grey value, under a prior fitted
        to the data per class of voxel (:func:`unmix_prior`, :mod:`liberation.stats.partial_volume_prior`);
        unbiased in aggregate, and the noise of near-pure voxels shrinks. ``"linear"``: the linear fraction.
    clip : bool
        ``"linear"`` only: clip the fractions to [0, 1] (default). Clipping biases sums over many noisy voxels
        (a pure voxel's noise is kept only on one side); ``clip=False`` keeps the unbiased linear estimate.
    prior : UnmixPrior, optional
        ``"posterior"`` only: priors already fitted (:func:`unmix_prior` with the same radius).
    chunks : int or tuple, optional
        Block shape of the block-wise pass (the result does not depend on it).
    workers : int, optional
        Threads.

    Returns
    -------
    PhaseFractions
        Volumes of the input shape.
    """
    check_phases(phases)
    check_image(image, phases)
    levels, sig, mc = _model_arrays(model)
    radius, clip, bayes = _check_options(radius, clip, estimator, model)
    if bayes and prior is None:
        prior = unmix_prior(image, phases, model=model, radius=radius, chunks=chunks, workers=workers)
    prior = _check_prior(prior, radius, len(levels)) if bayes else None
    shape = tuple(int(n) for n in phases.shape)
    fraction = np.ones(shape, np.float32)
    partner = np.array(phases, copy=True)
    owner = np.zeros(shape, np.int64) if particles is None else np.array(particles, dtype=np.int64, copy=True)
    grid = block_grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)

    def run(core):
        g = read_ext(image, core, shape, radius)
        ph = read_ext(phases, core, shape, radius)
        pid = read_ext(particles, core, shape, radius) if particles is not None else None
        return core, unmix_block(g, ph, pid, levels, sig, mc, radius, clip, prior=prior)

    for core, (ci, _a, f, bp, ow, _pid) in map_blocks(run, grid, workers):
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


def _global_lut(ids):
    """``lut[id]`` = row of ``id`` in ``ids`` (one past the last row for any other id), or None when the ids are
    too sparse for a dense lookup (then every block looks its ids up itself)."""
    from liberation.stats._kernels import LUT_ID_LIMIT

    ids = np.asarray(ids, dtype=np.int64)
    if ids.size == 0 or int(ids.min()) < 0:
        return None
    mx = int(ids.max())
    if mx >= min(LUT_ID_LIMIT, max(1 << 20, 8 * ids.size)):
        return None
    lut = np.full(mx + 1, ids.size, dtype=np.int32)
    lut[ids] = np.arange(ids.size, dtype=np.int32)
    return lut


def _soft_block(image, phases, particles, core, shape, levels, sig, mc, n_phases, radius, clip, engine, glut=None,
                n_global=0, prior=None):
    """Per-block corrections: ``(None, delta)`` with the ``n_global`` rows of the ids of the lookup ``glut`` plus a
    last row for the other ids when ``glut`` is given (numba), else ``(ids, delta)`` with the ids of the block."""
    from liberation.stats._kernels import _check_ids, local_ids

    if engine == "numba":
        g, lo, hi = read_halo(image, core, shape, radius)
        ph, _lo, _hi = read_halo(phases, core, shape, radius)
        pid, _lo, _hi = read_halo(particles, core, shape, radius)
        if glut is not None:
            _check_ids(pid)
            ids, lut, src = None, glut, pid
            n_rows = n_global + 1
        else:
            ids, lut, src = local_ids(pid)
            n_rows = len(ids)
        delta, _moved, bad = soft_deltas(g, ph, src, lut, n_rows, radius, levels, sig, mc, clip, lo=lo, hi=hi,
                                         prior=prior)
        if bad is not None:
            raise InputError(f"phases holds id {bad} without a grey level (model has {len(levels)} phases)")
        return ids, delta
    g = read_ext(image, core, shape, radius)
    ph = read_ext(phases, core, shape, radius)
    pid = read_ext(particles, core, shape, radius)
    ci, a, f, bp, owner, own_pid = unmix_block(g, ph, pid, levels, sig, mc, radius, clip, engine="numpy", prior=prior)
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


def soft_counts(particles, phases, image, *, model: PartialVolumeModel, ids, hard_counts, radius: int | None = None,
                estimator: str = "posterior", clip: bool = True, prior=None, chunks=None, workers: int | None = None,
                engine: str = "auto") -> np.ndarray:
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
    radius, estimator, clip, prior
        See :func:`phase_fractions`.
    chunks : int or tuple, optional
        Block shape (default the arrays' chunks or ~16 M-voxel slabs).
    workers : int, optional
        Threads.
    engine : {"auto", "numba", "numpy"}
        The fused numba kernel (default when numba is importable) or the numpy reference; they agree to
        rounding (test).

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

    check_phases(phases)
    check_image(image, phases)
    levels, sig, mc = _model_arrays(model)
    radius, clip, bayes = _check_options(radius, clip, estimator, model)
    if engine not in ("auto", "numba", "numpy"):
        raise InputError(f"engine={engine!r}; expected 'auto', 'numba' or 'numpy'")
    if engine == "numba" and not HAVE_NUMBA:
        raise InputError("engine='numba' but numba is not installed; use engine='auto' or 'numpy'")
    engine = ("numba" if HAVE_NUMBA else "numpy") if engine == "auto" else engine
    hard_counts = np.asarray(hard_counts)
    n_phases = hard_counts.shape[1]
    if len(levels) < n_phases:
        levels = np.concatenate([levels, np.full(n_phases - len(levels), np.nan)])
    if bayes and prior is None:
        prior = unmix_prior(image, phases, model=model, radius=radius, n_phases=n_phases, chunks=chunks,
                            workers=workers, engine=engine)
    prior = _check_prior(prior, radius, n_phases) if bayes else None
    shape = tuple(int(n) for n in phases.shape)
    grid = block_grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    out = hard_counts.astype(np.float64).copy()
    ids = np.asarray(ids, dtype=np.int64)
    glut = _global_lut(ids) if engine == "numba" else None
    blocks = map_blocks(
        lambda core: _soft_block(image, phases, particles, core, shape, levels[:n_phases], sig, mc, n_phases,
                                 radius, clip, engine, glut, ids.size, prior),
        grid, workers)
    if glut is not None:
        # one lookup of all the ids: the block corrections add up row by row (the last row: other ids, dropped)
        total = np.zeros((ids.size + 1, n_phases))
        for _none, delta in blocks:
            total += delta
        out += total[: ids.size]
        return out
    acc = _Accumulator(n_phases, with_faces=False)
    for bid, delta in blocks:
        if len(bid):
            acc.add(bid, counts=delta)
    all_ids, corr, _f, _b = acc.result()
    pos = np.searchsorted(ids, all_ids)
    pos_c = np.minimum(pos, max(len(ids) - 1, 0))
    hit = (len(ids) > 0) & (ids[pos_c] == all_ids) if len(ids) else np.zeros(len(all_ids), bool)
    np.add.at(out, pos_c[hit], corr[hit])
    return out
