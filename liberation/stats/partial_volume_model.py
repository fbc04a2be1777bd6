"""The partial-volume model of a CT: grey level and noise of each phase, and the edge blur, from the data.

The levels and noise come from the *interior* voxels of each hard phase (their whole
``(2 erosion + 1)^3`` neighbourhood has the phase), counted block by block with a halo
(:func:`liberation.stats.partial_volume_kernels.interior_sums`); the blur from a least-squares fit of the
model's blur of the hard labels to the grey values near the boundaries of a central cube (:func:`_edge_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.partial_volume_blocks import (
    block_grid,
    check_image,
    check_phases,
    map_blocks,
    read,
    read_ext,
    read_halo,
    shell_cached,
)

__all__ = ["PartialVolumeModel", "estimate_model"]


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
        Effective edge blur in voxels (Gaussian PSF and voxel sampling together): the sigma of
        :func:`psf_weights` whose blur of the hard labels best predicts the grey values near the boundaries;
        NaN when not fitted.
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


def _interior_sums(image, phases, core, shape, erosion, n_phases, shift):
    from liberation.stats.partial_volume_kernels import interior_sums

    ph, lo, hi = read_halo(phases, core, shape, erosion)
    g, _lo, _hi = read_halo(image, core, shape, erosion)
    n, s1, s2, bad = interior_sums(g, ph, erosion, n_phases, shift, lo=lo, hi=hi)
    if bad >= n_phases:
        raise InputError(f"phases holds id {bad}, above the largest phase id {n_phases - 1} of the minerals")
    return n, s1, s2


def _level_pass(image, phases, grid, shape, erosion, n_phases, shift, workers):
    n = np.zeros(n_phases, np.int64)
    s1 = np.zeros(n_phases)
    s2 = np.zeros(n_phases)
    for c, a, b in map_blocks(lambda core: _interior_sums(image, phases, core, shape, erosion, n_phases, shift),
                               grid, workers):
        n += c
        s1 += a
        s2 += b
    return n, s1, s2


def _sample_cores(grid, shape, sample_voxels, thickness: int = 8):
    """The cores of ``grid`` cut to evenly spaced z slabs of ``thickness`` planes, about ``sample_voxels`` in all."""
    total = int(np.prod(shape))
    if sample_voxels is None or total <= int(sample_voxels) or shape[0] <= thickness:
        return grid
    plane = shape[1] * shape[2]
    k = max(1, int(np.ceil(int(sample_voxels) / (thickness * plane))))
    starts = np.unique(np.linspace(0, shape[0] - thickness, k).astype(int))
    cores = []
    for core in grid:
        (z0, z1), rest = core[0], core[1:]
        for a in starts:
            lo, hi = max(z0, int(a)), min(z1, int(a) + thickness)
            if lo < hi:
                cores.append(((lo, hi), *rest))
    return cores


def _edge_fit(image, phases, levels, shape, sample: int):
    """Fit the effective edge blur (voxels) on a central sub-volume: the ``sigma_eff`` whose model blur
    (:func:`psf_weights`, separable, radius 4) of the hard labels' levels best predicts the grey values of the
    voxels within two voxels of a boundary (least squares; noise adds a constant to the loss).

    This is the blur the unmixing uses, fitted as it is used. An edge-spread fit (the grey value against the
    distance to the hard boundary, an error function, over |d| <= 3 voxels) came out 5-9 % narrower at a PSF
    sigma of 1 voxel (0.987-1.000 against 1.043 here, phantom of ``test_must_show_population_per_radius``):
    the window cut the tail, and every inclusion next to the void then lost 1-3 % of its volume.
    Returns ``(sigma_eff, pair)`` with ``pair`` the most common boundary pair (weighted by its contrast).
    """
    from scipy.optimize import minimize_scalar

    R = 4
    core = tuple((max(0, (n - sample) // 2), min(n, (n - sample) // 2 + sample)) for n in shape)
    ph = read_ext(phases, core, shape, 0).astype(np.int64)
    g = read_ext(image, core, shape, 0).astype(np.float64)
    P = len(levels)
    if ph.size == 0 or int(ph.max()) >= P or min(ph.shape) <= 2 * R + 1:
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
    img = np.nan_to_num(levels)[ph]
    mixed = ndimage.maximum_filter(ph, size=5) != ndimage.minimum_filter(ph, size=5)
    unknown = ndimage.maximum_filter((~ok[ph]).astype(np.uint8), size=2 * R + 1).astype(bool)
    sel = np.zeros(ph.shape, bool)
    inner = (slice(R, -R),) * 3
    sel[inner] = (mixed & ~unknown)[inner]
    if sel.sum() < 100:
        return float("nan"), None
    gs = g[sel]

    def loss(s):
        w = psf_weights(s, R)
        pred = img
        for axis in range(3):
            pred = ndimage.correlate1d(pred, w, axis=axis, mode="nearest")
        return float(np.mean((gs - pred[sel]) ** 2))

    res = minimize_scalar(loss, bounds=(0.3, 4.0), method="bounded", options={"xatol": 1e-3})
    return float(res.x), (int(p), int(q))


def psf_weights(sigma_eff: float, radius: int) -> np.ndarray:
    """1D voxel-to-voxel transfer weights of the model's blur over offsets ``-radius..radius``.

    ``w_k = Phi((k + 1/2) / s) - Phi((k - 1/2) / s)`` with ``s = sqrt(sigma_eff^2 - 1/12)`` (the edge fit's
    effective sigma already holds one voxel box; the other box is the integral), normalised to sum 1.
    """
    from scipy.special import ndtr

    s = float(np.sqrt(max(float(sigma_eff) ** 2 - 1.0 / 12.0, 0.01)))
    k = np.arange(-int(radius), int(radius) + 1, dtype=np.float64)
    w = ndtr((k + 0.5) / s) - ndtr((k - 0.5) / s)
    return w / w.sum()


def _leak_block(image, phases, core, shape, erosion, n_phases, stride, wz, R, levels, noise, weigh):
    """Blurred hard-label shares around every ``stride[a]``-th interior voxel of each phase ``a`` of a block
    (none where ``stride[a]`` is 0).

    Returns ``(sw, swg, h)`` per phase ``a``: the sum of the voxels' weights, of weight x grey value, and
    ``h[a, p]`` of weight x share of phase ``p`` in the model's blur around them (shape (P, P)). The weight is 1,
    or where ``weigh[a]``: ``1 / (noise^2 + (leak / 2)^2)`` with ``leak = sum_p share_p |L_p - L_a|`` (the
    predicted blur from the other phases, in grey, from the hard labels: trusted to about half of itself).
    """
    from liberation.stats.partial_volume_kernels import constant_box

    P = n_phases
    ph = read_ext(phases, core, shape, R).astype(np.int64)
    inner = tuple(slice(R - erosion, n - (R - erosion)) for n in ph.shape)
    const = constant_box(ph[inner], erosion).astype(bool)
    core_ph = ph[tuple(slice(R, n - R) for n in ph.shape)]
    sw = np.zeros(P)
    swg = np.zeros(P)
    h = np.zeros((P, P))
    if int(core_ph.max(initial=0)) >= P:
        return sw, swg, h
    zz, yy, xx = np.nonzero(const)
    a = core_ph[zz, yy, xx]
    # every stride-th interior voxel of each phase (in scan order within the block)
    rank = np.zeros(a.size, np.int64)
    for q in np.unique(a):
        sel = a == q
        rank[sel] = np.arange(int(sel.sum()))
    st = stride[a]
    take = (st > 0) & (rank % np.maximum(st, 1) == 0)
    zz, yy, xx, a = zz[take], yy[take], xx[take], a[take]
    if a.size == 0:
        return sw, swg, h
    g = read_ext(image, core, shape, 0)[zz, yy, xx].astype(np.float64)
    share = np.zeros((a.size, P))
    present = np.unique(ph)
    for dz in range(-R, R + 1):
        for dy in range(-R, R + 1):
            wzy = wz[dz + R] * wz[dy + R]
            for dx in range(-R, R + 1):
                q = ph[zz + R + dz, yy + R + dy, xx + R + dx]
                wt = wzy * wz[dx + R]
                for p in present:
                    share[:, p] += wt * (q == p)
    lv = np.nan_to_num(levels)
    leak = (share * np.abs(lv[None, :] - lv[a][:, None])).sum(axis=1)
    nz = np.nan_to_num(noise, nan=0.0)[a]
    w = np.where(weigh[a], 1.0 / (nz**2 + leak**2 + 1e-12), 1.0)
    sw = np.bincount(a, weights=w, minlength=P)
    swg = np.bincount(a, weights=w * g, minlength=P)
    for q in range(P):
        sel = a == q
        h[q] = (share[sel] * w[sel, None]).sum(axis=0)
    return sw, swg, h


def _blur_corrected_levels(image, phases, passes, shape, levels, noise, count, source, sigma, workers,
                           per_phase: int = 4000):
    """Levels corrected for the blur that reaches the interior voxels from the phases around them.

    The mean grey ``m_a`` of the interior voxels of phase ``a`` is ``sum_p M[a, p] L_p``, where ``M[a, p]`` is the
    mean share of phase ``p`` in the model's blur (:func:`psf_weights`, hard labels) around those voxels: small
    objects (a few voxels across) have no voxel deep enough to reach their level. Solved for the levels of the
    phases measured on interiors (the others are kept). ``M`` is measured on about ``per_phase`` voxels of each
    phase; a phase with at most ``per_phase`` interior voxels (all of them taken) weighs them by the trust in
    their predicted blur (:func:`_leak_block`: the deepest count most), a larger one keeps its mean. A
    correction smaller than 3 standard errors of the level is not applied.
    """
    P = len(levels)
    solve = np.array([s.startswith("interior") for s in source]) & np.isfinite(levels)
    if not solve.any() or not np.isfinite(sigma):
        return levels
    R = int(min(4, max(2, np.ceil(3 * np.sqrt(max(sigma**2 - 1 / 12, 0.01))))))
    wz = psf_weights(sigma, R)
    weigh = count <= per_phase
    sw = np.zeros(P)
    swg = np.zeros(P)
    h = np.zeros((P, P))
    for erosion, cores, mask in passes:
        use = mask & solve
        if not use.any() or R <= erosion:
            continue
        stride = np.maximum(1, count // per_phase).astype(np.int64)
        stride[~use] = 0  # phases measured in another pass (or not solved): none taken here

        def one(core, erosion=erosion, stride=stride):
            return _leak_block(image, phases, core, shape, erosion, P, stride, wz, R, levels, noise, weigh)

        for a, b, c in map_blocks(one, cores, workers):
            sw += a
            swg += b
            h += c
    ok = solve & (sw > 0)
    if not ok.any():
        return levels
    M = h[ok] / sw[ok, None]
    m = np.where(weigh[ok], swg[ok] / sw[ok], levels[ok])
    fixed = ~ok
    rhs = m - M[:, fixed] @ np.nan_to_num(levels[fixed])
    try:
        sol = np.linalg.solve(M[:, ok], rhs)
    except np.linalg.LinAlgError:  # pragma: no cover - M is near the identity
        return levels
    out = levels.copy()
    # a correction within 3 standard errors of the level (its noise over the interior voxels) is not applied:
    # the leak predicted from the hard labels of a few small objects is itself uncertain (about a third of it)
    se = np.nan_to_num(noise[ok], nan=0.0) / np.sqrt(np.maximum(count[ok], 1))
    big = np.abs(sol - levels[ok]) > 3 * se
    out[np.flatnonzero(ok)[big]] = sol[big]
    return out


def estimate_model(
    image,
    phases,
    *,
    n_phases: int | None = None,
    erosion: int = 2,
    min_interior: int = 27,
    edge: bool = True,
    edge_sample: int = 48,
    min_contrast: float = 2.0,
    sample_voxels: int | None = 1 << 23,
    phase_voxels=None,
    blur_correct: bool = True,
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
    sample_voxels : int or None
        Measure the interiors on about this many voxels: evenly spaced z slabs of 8 planes (the same
        slabs whatever the chunks); a phase with fewer than ``min_interior`` interior voxels there is
        measured on the whole volume. None: the whole volume.
    phase_voxels : array of int, shape (n_phases,), optional
        Voxels of each phase in the volume (e.g. from the hard pass); phases without voxels are
        ``"absent"`` without a fallback pass over the volume.
    blur_correct : bool
        Correct the levels for the blur reaching the interior voxels from the phases around them (needs
        ``edge``): the interior of a small object (a few voxels across) never reaches its level, and its mean
        grey, taken as the level, would bias every fraction unmixed against it (at blur 1 voxel the spodumene
        of a phantom whose largest grains have a radius of 4 voxels came out 1400 grey low, 16 % of the
        spodumene-quartz contrast). The mean grey of the interior voxels of phase ``a`` is modelled as
        ``sum_p M[a, p] L_p`` with ``M[a, p]`` the mean share of phase ``p`` in the fitted blur around them
        (hard labels, measured on about 4000 voxels per phase) and solved for the levels.
    chunks : int or tuple, optional
        Block shape (default the array's chunks or slabs of ~16 M voxels).
    workers : int, optional
        Threads.

    Returns
    -------
    PartialVolumeModel
    """
    check_phases(phases)
    check_image(image, phases)
    if not (isinstance(erosion, (int, np.integer)) and 1 <= int(erosion) <= 5):
        raise InputError(f"erosion={erosion!r} must be an integer number of voxels in 1..5")
    if not (isinstance(min_contrast, (int, float)) and min_contrast >= 0):
        raise InputError(f"min_contrast={min_contrast!r} must be a non-negative number of noise deviations")
    if sample_voxels is not None and not (isinstance(sample_voxels, (int, np.integer)) and sample_voxels > 0):
        raise InputError(f"sample_voxels={sample_voxels!r} must be a positive number of voxels or None")
    shape = tuple(int(n) for n in phases.shape)
    grid = block_grid(shape, chunks, phases if not isinstance(phases, np.ndarray) else image)
    # chunked stores: each chunk decoded about twice, not once per block whose halo touches it
    image, phases = (shell_cached(a, halo=2) for a in (image, phases))
    if n_phases is None:
        n_phases = 1 + max(int(np.asarray(read(phases, tuple(slice(lo, hi) for lo, hi in c))).max())
                           for c in grid)
    shift = 32768.0 if np.dtype(image.dtype).kind == "u" else 0.0
    levels = np.full(n_phases, np.nan)
    noise = np.full(n_phases, np.nan)
    count = np.zeros(n_phases, np.int64)
    source = ["absent"] * n_phases
    todo = np.ones(n_phases, bool)
    if phase_voxels is not None:
        pv_ = np.zeros(n_phases, np.int64)
        given = np.asarray(phase_voxels, dtype=np.int64).reshape(-1)[:n_phases]
        pv_[: given.size] = given
        todo &= pv_ > 0
    passes = [(int(erosion), "interior", _sample_cores(grid, shape, sample_voxels))]
    passes += [(int(erosion), "interior", grid)] if passes[0][2] is not grid else []
    passes += [(1, "interior-1", grid)] if int(erosion) > 1 else []
    passes += [(0, "all-voxels", grid)]
    taken = []
    for r, tag, cores in passes:
        if not todo.any():
            break
        n, s1, s2 = _level_pass(image, phases, cores, shape, r, n_phases, shift, workers)
        take = todo & (n >= (min_interior if r > 0 else 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n
            var = np.maximum(s2 / n - mean**2, 0.0) * n / np.maximum(n - 1, 1)
        levels[take] = mean[take] + shift
        taken.append((r, cores, take.copy()))
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
        if blur_correct and np.isfinite(sigma):
            levels = _blur_corrected_levels(image, phases, taken, shape, levels, noise, count, source, sigma, workers)
        if np.isfinite(sigma) and sigma > 1.0:
            notes.append(f"edge blur {sigma:.2f} voxels is wider than the 3x3x3 neighbourhood the unmixing uses: "
                         "voxels two or more voxels from a boundary stay unmixed")
    return PartialVolumeModel(levels=levels, noise=noise, interior_voxels=count, level_source=tuple(source),
                              edge_sigma_vox=sigma, edge_pair=pair, min_contrast=float(min_contrast),
                              notes=tuple(notes))
