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
    shell_cached,
)
from liberation.stats.partial_volume_kernels import HAVE_NUMBA, constant_box, soft_deltas
from liberation.stats.partial_volume_model import PartialVolumeModel

__all__ = ["PhaseFractions", "phase_fractions", "soft_counts", "unmix_block"]

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
    extra : dict of int to ndarray of float32, shape (z, y, x)
        Shares of the other partners where three phases meet (unclipped rule), per phase.
    """

    fraction: np.ndarray
    partner: np.ndarray
    owner: np.ndarray
    extra: dict = None

    def volume_of(self, phases: np.ndarray, phase: int) -> np.ndarray:
        """Per-voxel fraction of ``phase`` (float32, shape (z, y, x)).

        ``extra`` (``{phase: float32 volume}``, the unclipped rule only) holds the shares of the other partners
        of the voxels where three phases meet; the main partner has ``1 - fraction`` minus them.
        """
        extra = self.extra or {}
        rest = sum(extra.values()) if extra else 0
        own = np.where(phases == phase, self.fraction, 0).astype(np.float32)
        other = np.where((self.partner == phase) & (phases != phase), 1 - self.fraction - rest, 0)
        if phase in extra:
            other = other + np.where(phases != phase, extra[phase], 0)
        return own + other.astype(np.float32)


def box_weights(sigma_eff: float, radius: int) -> np.ndarray:
    """The model's blur over the ``(2 radius + 1)^3`` box, in the order of ``offsets(radius)``, summing to 1.

    ``sigma_eff``: :attr:`PartialVolumeModel.edge_sigma_vox` (0.8 voxel where it is not known).
    """
    w = axis_weights(sigma_eff, radius)
    return np.einsum("i,j,k->ijk", w, w, w).reshape(-1)


def axis_weights(sigma_eff: float, radius: int) -> np.ndarray:
    """The model's blur along one axis over offsets ``-radius..radius`` (shape ``(2 radius + 1,)``, summing to 1):
    :func:`box_weights` is their outer product (the blur is separable)."""
    from liberation.stats.partial_volume_model import psf_weights

    s = float(sigma_eff) if np.isfinite(sigma_eff) and sigma_eff > 0 else 0.8
    w = psf_weights(s, int(radius))
    return w / np.sum(w)


def _unmix_linear(nb, g, levels, known, thr, W, inner):
    """The unclipped rule for a batch of voxels whose box holds another label: ``(rows_voxel, partner, share)``.

    ``nb`` holds the hard labels of the box of radius ``radius + 1`` (offsets ``offsets(radius + 1)``),
    ``inner`` the columns of the measured neighbourhood (:func:`measured_mask`: taxicab radius ``radius``),
    ``W`` the model's blur over the whole box. Candidates: the phases of the box that can be unmixed against the
    own phase ``a``; the main partner ``b`` is one of the measured neighbourhood. One candidate ``b``:
    ``share = (g - L_a) / (L_b - L_a)`` (unclipped). Several (three phases meet, or a phase only beyond the
    measured neighbourhood: the blur tail): the expected share ``h_p`` of each phase in the model's blur over
    the box (hard labels; no noise) picks ``b`` among those of the measured neighbourhood (largest
    ``h_p |L_p - L_a|``), the others get ``h_p``, and ``b`` the rest of the grey deviation:
    ``(g - L_a - sum_{p != b} h_p (L_p - L_a)) / (L_b - L_a)``. A voxel with no candidate in the measured
    neighbourhood but some in the box gets the predicted ``h_p`` of each (no grey value is used: its noise would
    outweigh the sub-voxel volume it holds). Every partner and every selection depends on the hard labels and the
    model only, so the soft counts are linear in the grey values (no selection by the noise).
    """
    N, n_nb = nb.shape
    P = len(levels)
    a = nb[:, n_nb // 2]
    la = levels[a]
    cand = np.zeros((N, P), bool)
    cin = np.zeros((N, P), bool)
    for p in range(P):
        if known[p]:
            ok = (a != p) & known[a] & (np.abs(la - levels[p]) > thr)
            cand[:, p] = (nb == p).any(axis=1) & ok
            cin[:, p] = (nb[:, inner] == p).any(axis=1) & ok
    has = cin.any(axis=1)
    ncand = cand.sum(axis=1)
    hh = np.zeros((N, P))
    # no candidate in the measured box: every candidate of the ring gets its predicted share (no main partner)
    pred = ~has & (ncand >= 1)
    multi = (ncand >= 2) | pred
    if multi.any():
        for p in range(P):
            if cand[multi, p].any():
                hh[multi, p] = ((nb[multi] == p) * W[None, :]).sum(axis=1)
    score = np.where(cin, np.where(multi[:, None], hh, 1.0) * np.abs(levels[None, :] - la[:, None]), -1.0)
    b = np.where(has, np.argmax(score, axis=1), a)  # predicted-only voxels: no main partner (b = own phase)
    d = g - la
    for p in range(P):
        other = multi & cand[:, p] & (b != p)
        d = np.where(other, d - (levels[p] - la) * hh[:, p], d)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_b = d / np.where(has, levels[b] - la, 1.0)
    rows_v = [np.flatnonzero(has & (share_b != 0))]
    rows_p = [b[rows_v[0]]]
    rows_s = [share_b[rows_v[0]]]
    for p in range(P):
        other = np.flatnonzero(multi & cand[:, p] & (b != p) & (hh[:, p] != 0))
        rows_v.append(other)
        rows_p.append(np.full(other.size, p, np.int64))
        rows_s.append(hh[other, p])
    return np.concatenate(rows_v), np.concatenate(rows_p), np.concatenate(rows_s)


def measured_mask(offs3: np.ndarray, radius: int, clip: bool) -> np.ndarray:
    """Which of the offsets ``offs3`` (shape (n, 3)) form the *measured* neighbourhood of a voxel.

    Clipped rule: the ``(2 radius + 1)^3`` cube. Unclipped rule: the voxels within taxicab distance ``radius``
    (|dz| + |dy| + |dx| <= radius: the 6 face neighbours for radius 1, 24 voxels for radius 2). A voxel is
    unmixed from its grey value only where a phase it can be unmixed against lies there; the other voxels of the
    box (out to the ring, :func:`halo`) get the model's predicted blur of the hard labels: at noise 0.02 the
    grey values of the voxels that only touch another phase along an edge or a corner add more noise than the
    sub-voxel volume they hold (docs/partial_volume.md, session 6).
    """
    a = np.abs(np.asarray(offs3))
    return (a.max(axis=1) <= radius) if clip else (a.sum(axis=1) <= radius)


def halo(radius: int, clip: bool) -> int:
    """Halo (voxels) the unmixing reads around a block: ``radius``, plus the ring of the blur tail (one voxel)
    for the unclipped rule."""
    return int(radius) + (0 if clip else 1)


def unmix_block(g_ext, ph_ext, pid_ext, levels, noise_sigma, min_contrast, radius=1, clip=True, engine="auto",
                sigma_eff=float("nan")):
    """Unmix the mixed voxels of one block given with a one-voxel halo.

    ``radius`` is the neighbourhood radius; the halo is :func:`halo` (``radius``, plus one for ``clip=False``);
    ``clip`` clips the fractions to [0, 1] and picks the partner by the residual (the rule up to session 5);
    ``clip=False`` is the unclipped rule of :func:`_unmix_linear` (noise-independent partners, three phases
    split with the blur ``sigma_eff``, the blur tail of the ring beyond the neighbourhood predicted).
    Returns ``(idx, own, frac, partner, owner, pid)``: flat core indices of the voxels whose partner share
    ``1 - frac`` is not zero, their own phase, own fraction (float64), partner phase, partner particle and
    own particle; with ``clip=False`` a voxel split between three phases has one row per partner (``frac``
    is then 1 minus that partner's share).
    """
    rad = halo(radius, clip)  # the box gathered (radius + 1 for the unclipped rule's tail ring)
    offs3 = offsets(rad)
    n_nb = len(offs3)
    centre = n_nb // 2
    # the measured neighbourhood: the (2 radius + 1)^3 cube for the clipped rule, the voxels within taxicab
    # distance ``radius`` (the 6 face neighbours for radius 1) for the unclipped rule (measured_offsets)
    inner = np.flatnonzero(measured_mask(offs3, int(radius), clip))
    inner_pos = np.zeros(n_nb, bool)
    inner_pos[inner] = True
    cshape = tuple(n - 2 * rad for n in ph_ext.shape)
    # the voxels whose gathered box (with the tail ring of the unclipped rule) holds another label: a voxel whose
    # measured box is constant but whose ring is not gets the predicted blur tail (_unmix_linear)
    idx = np.flatnonzero(constant_box(ph_ext, rad, lo=(rad,) * 3, hi=tuple(n - rad for n in ph_ext.shape),
                                      engine=engine) == 0)
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
    W = box_weights(sigma_eff, rad)
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
        if not clip:
            rv, bp, sh = _unmix_linear(nb, g, lv, known, max(min_contrast * sig, 1e-9), W, inner)
            if rv.size == 0:
                continue
            ci_k, a_k, ei_k, nbk = ci[rv], a[rv], ei[rv], nb[rv]
            if pid_flat is not None:
                nbp = pid_flat[ei_k[:, None] + offs[None, :]].astype(np.int64)
                # the particle of the partner's voxels in the measured neighbourhood, else in the ring
                is_b = nbk == bp[:, None]
                in_inner = (is_b & inner_pos[None, :]).any(axis=1)
                owner = np.where(is_b & (inner_pos[None, :] | ~in_inner[:, None]), nbp, -1).max(axis=1)
                own_pid = nbp[:, centre]
            else:
                owner = np.zeros(rv.size, np.int64)
                own_pid = np.zeros(rv.size, np.int64)
            out.append((ci_k, a_k, 1.0 - sh, bp, owner, own_pid))
            continue
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


#: Largest effective edge blur (voxels) the radius-1 measured neighbourhood serves with ``radius="auto"``; wider: 2.
AUTO_RADIUS_SIGMA = 0.9


def auto_radius(sigma_eff: float) -> int:
    """Neighbourhood radius for the model's effective blur: 1 up to :data:`AUTO_RADIUS_SIGMA`, else 2.

    For the unclipped rule the radius is the taxicab radius of the measured neighbourhood (6 face neighbours, or
    24 voxels) and the box out to the ring is ``radius + 1``: at a blur of 0.785 voxel (PSF 0.7) the face
    neighbours (the predicted blur of the 5x5x5 box for the rest) lose -1.5 / -0.4 / -0.1 % of inclusions of
    radius 2 / 3 / 4 noise-free and have half the per-object noise of the measured 5x5x5 box; at 1.04 (PSF 1.0)
    the blur of the hard labels' error spills beyond the face neighbours (-3.6 / -1.9 / -1.7 %, worse than the
    hard labels at radius 3-4) and radius 2 is needed (docs/partial_volume.md, session 6). 1 where the blur was
    not fitted.
    """
    if not np.isfinite(sigma_eff) or sigma_eff <= AUTO_RADIUS_SIGMA:
        return 1
    return 2


def _check_options(radius, clip, model=None):
    if isinstance(radius, str) and radius == "auto":
        radius = auto_radius(float(model.edge_sigma_vox) if model is not None else float("nan"))
    if not (isinstance(radius, (int, np.integer)) and not isinstance(radius, bool) and 1 <= int(radius) <= 3):
        raise InputError(f"radius={radius!r} must be 'auto', 1, 2 or 3 voxels (neighbourhood (2 radius + 1)^3)")
    if not isinstance(clip, (bool, np.bool_)):
        raise InputError(f"clip={clip!r} must be True or False")
    return int(radius), bool(clip)


def phase_fractions(image, phases, particles=None, *, model: PartialVolumeModel, radius: int | str = "auto",
                    clip: bool = False, chunks=None, workers: int | None = None) -> PhaseFractions:
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
    radius : int or "auto"
        Neighbourhood radius. Clipped rule: a voxel is mixed when its ``(2 radius + 1)^3`` cube holds more than
        one hard label, and its partner is one of those labels. Unclipped rule: the measured neighbourhood is the
        taxicab ball of ``radius`` (1: the 6 face neighbours; 2: 24 voxels); a voxel with a candidate phase there
        is unmixed from its grey value, the others of the ``(2 radius + 3)^3`` box get the model's predicted blur
        (:func:`_unmix_linear`). ``"auto"`` (default): :func:`auto_radius` of the model's blur.
    clip : bool
        Clip the fractions to [0, 1] and pick the partner by the residual. Clipping biases sums over many noisy
        voxels (a pure voxel's noise is kept only on one side); ``clip=False`` (default) keeps the unbiased
        linear estimate with noise-independent partners, and gives a phase met only in the ring just beyond the
        neighbourhood its predicted share of the blur tail (:func:`_unmix_linear`).
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
    radius, clip = _check_options(radius, clip, model)
    shape = tuple(int(n) for n in phases.shape)
    fraction = np.ones(shape, np.float32)
    partner = np.array(phases, copy=True)
    owner = np.zeros(shape, np.int64) if particles is None else np.array(particles, dtype=np.int64, copy=True)
    grid = block_grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    extra: dict = {}
    image, phases, particles = (shell_cached(a, halo=halo(radius, clip)) for a in (image, phases, particles))

    def run(core):
        g = read_ext(image, core, shape, halo(radius, clip))
        ph = read_ext(phases, core, shape, halo(radius, clip))
        pid = read_ext(particles, core, shape, halo(radius, clip)) if particles is not None else None
        return core, unmix_block(g, ph, pid, levels, sig, mc, radius, clip, sigma_eff=model.edge_sigma_vox)

    for core, (ci, _a, f, bp, ow, _pid) in map_blocks(run, grid, workers):
        sl = tuple(slice(lo, hi) for lo, hi in core)
        bshape = tuple(hi - lo for lo, hi in core)
        if ci.size and np.unique(ci).size < ci.size:
            # a voxel split between three phases: its own fraction is 1 minus all its shares; the partner and
            # owner maps keep the main partner (the first row of the voxel), ``extra`` the other shares
            uci, first, inv = np.unique(ci, return_index=True, return_inverse=True)
            later = np.ones(ci.size, bool)
            later[first] = False
            for p in np.unique(bp[later]):
                sel = later & (bp == p)
                vol = extra.setdefault(int(p), np.zeros(shape, np.float32))
                tmp = vol[sl].copy().reshape(-1)
                np.add.at(tmp, ci[sel], (1.0 - f[sel]).astype(np.float32))
                vol[sl] = tmp.reshape(bshape)
            f = 1.0 - np.bincount(inv, weights=1.0 - f)
            ci, bp, ow = uci, bp[first], ow[first]
        for arr, val in ((fraction, f), (partner, bp), (owner, ow)):
            view = arr[sl]
            flat = view.reshape(-1) if view.flags.c_contiguous else None
            if flat is None:
                tmp = view.copy().reshape(-1)
                tmp[ci] = val
                arr[sl] = tmp.reshape(bshape)
            else:
                flat[ci] = val
    return PhaseFractions(fraction=fraction, partner=partner, owner=owner, extra=extra)


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
                n_global=0, sigma_eff=float("nan")):
    """Per-block corrections: ``(None, delta)`` with the ``n_global`` rows of the ids of the lookup ``glut`` plus a
    last row for the other ids when ``glut`` is given (numba), else ``(ids, delta)`` with the ids of the block."""
    from liberation.stats._kernels import _check_ids, local_ids

    if engine == "numba":
        ext = halo(radius, clip)
        g, lo, hi = read_halo(image, core, shape, ext)
        ph, _lo, _hi = read_halo(phases, core, shape, ext)
        pid, _lo, _hi = read_halo(particles, core, shape, ext)
        if glut is not None:
            _check_ids(pid)
            ids, lut, src = None, glut, pid
            n_rows = n_global + 1
        else:
            ids, lut, src = local_ids(pid)
            n_rows = len(ids)
        delta, _moved, bad = soft_deltas(g, ph, src, lut, n_rows, radius, levels, sig, mc, clip, lo=lo, hi=hi,
                                        sigma_eff=sigma_eff)
        if bad is not None:
            raise InputError(f"phases holds id {bad} without a grey level (model has {len(levels)} phases)")
        return ids, delta
    ext = halo(radius, clip)
    g = read_ext(image, core, shape, ext)
    ph = read_ext(phases, core, shape, ext)
    pid = read_ext(particles, core, shape, ext)
    ci, a, f, bp, owner, own_pid = unmix_block(g, ph, pid, levels, sig, mc, radius, clip, engine="numpy",
                                                     sigma_eff=sigma_eff)
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


def soft_counts(particles, phases, image, *, model: PartialVolumeModel, ids, hard_counts, radius: int | str = "auto",
                clip: bool = False, chunks=None, workers: int | None = None, engine: str = "auto") -> np.ndarray:
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
    radius, clip = _check_options(radius, clip, model)
    if engine not in ("auto", "numba", "numpy"):
        raise InputError(f"engine={engine!r}; expected 'auto', 'numba' or 'numpy'")
    if engine == "numba" and not HAVE_NUMBA:
        raise InputError("engine='numba' but numba is not installed; use engine='auto' or 'numpy'")
    engine = ("numba" if HAVE_NUMBA else "numpy") if engine == "auto" else engine
    hard_counts = np.asarray(hard_counts)
    n_phases = hard_counts.shape[1]
    if len(levels) < n_phases:
        levels = np.concatenate([levels, np.full(n_phases - len(levels), np.nan)])
    shape = tuple(int(n) for n in phases.shape)
    grid = block_grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    out = hard_counts.astype(np.float64).copy()
    ids = np.asarray(ids, dtype=np.int64)
    glut = _global_lut(ids) if engine == "numba" else None
    # chunked stores: each chunk decoded about twice, not once per block whose halo touches it
    image, phases, particles = (shell_cached(a, halo=halo(radius, clip)) for a in (image, phases, particles))
    blocks = map_blocks(
        lambda core: _soft_block(image, phases, particles, core, shape, levels[:n_phases], sig, mc, n_phases,
                                 radius, clip, engine, glut, ids.size, model.edge_sigma_vox),
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
