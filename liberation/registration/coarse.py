"""Coarse automatic search for the plane of a 2D map in a CT volume.

Exhaustive on downsampled data: CT axis (given or all three), slice position, full-circle
in-plane rotation, mirror flip, and in-plane translation. For every slice and rotation the
normalised mutual information for *all* translations is computed at once by FFT
cross-correlation of bin-indicator images (:func:`~liberation.registration.similarity.fft_nmi_translation`).

Two levels when the map is large enough: level A has the in-plane resolution halved (slice
spacing unchanged, so no slice is skipped) and scores every slice, rotation (``angle_step_deg``)
and mirror state; its best local maxima (``n_peaks``) are re-scored at level B (the full
coarse resolution, rotation step halved, the neighbouring slices). Small maps use one level.
The best few distinct poses are returned as candidates for the fine stage.

The CT is read through :func:`downsample_volume`: slab by slab along z from any sliceable
array (numpy, zarr), or from a coarser pyramid level when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy import ndimage as ndi

from liberation._progress import progress
from liberation.errors import InputError
from liberation.registration.geometry import AXIS_FRAMES, frame_matrix, pixel_centre_rms_error, pose_matrix
from liberation.registration.similarity import fft_nmi_translation, level_bins, quantile_bins

__all__ = ["Candidate", "coarse_search", "block_reduce", "downsample_volume", "coarse_factors"]


@dataclass
class Candidate:
    """One pose found by the coarse search.

    Attributes
    ----------
    matrix : numpy.ndarray, shape (4, 4)
        Map µm -> CT µm.
    score : float
        Normalised mutual information at the coarse level.
    axis, rotation_deg, mirror, position_um
        The pose parameters searched (position along ``axis`` in µm).
    """

    matrix: np.ndarray
    score: float
    axis: int
    rotation_deg: float
    mirror: bool
    position_um: float


def block_reduce(volume: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Block mean (float32) by integer factors per axis; the trailing remainder is cropped."""
    shape = [n // f for n, f in zip(volume.shape, factors)]
    crop = volume[tuple(slice(0, n * f) for n, f in zip(shape, factors))]
    if all(f == 1 for f in factors):
        return np.asarray(crop, dtype=np.float32)
    new_shape = []
    for n, f in zip(shape, factors):
        new_shape += [n, f]
    return np.asarray(crop).reshape(new_shape).mean(axis=tuple(range(1, 2 * len(shape), 2)), dtype=np.float32)


def downsample_volume(
    volume, factors: tuple[int, int, int], *, pyramid=None, slab_voxels: int = 64
) -> np.ndarray:
    """Block mean of a (z, y, x) array by integer ``factors``, read slab by slab along z.

    Parameters
    ----------
    volume : array-like, shape (z, y, x)
        numpy array or any lazily sliced array (zarr, dask): only ``slab_voxels`` (rounded to
        a multiple of the z factor) full-resolution slices are in memory at a time.
    factors : (int, int, int)
    pyramid : sequence of (array, (int, int, int)), optional
        Downsampled copies of ``volume`` (e.g. sample-store pyramid levels, block means) with
        their factors; the coarsest one whose factors divide ``factors`` is read instead.
    slab_voxels : int
        Source slices read at once.

    Returns
    -------
    numpy.ndarray, float32, shape ``volume.shape // factors``
    """
    factors = tuple(int(f) for f in factors)
    source, extra = volume, factors
    out_shape = tuple(n // f for n, f in zip(volume.shape, factors))
    best = 1
    for arr, fac in pyramid or ():
        fac = tuple(int(v) for v in fac)
        ok = all(f % g == 0 for f, g in zip(factors, fac)) and all(
            a // (f // g) == o for a, f, g, o in zip(arr.shape, factors, fac, out_shape)
        )
        if ok and int(np.prod(fac)) > best:
            best = int(np.prod(fac))
            source, extra = arr, tuple(f // g for f, g in zip(factors, fac))
    fz = extra[0]
    step = max(1, int(slab_voxels) // fz)
    out = np.empty(out_shape, dtype=np.float32)
    for o0 in range(0, out_shape[0], step):
        o1 = min(out_shape[0], o0 + step)
        out[o0:o1] = block_reduce(np.asarray(source[o0 * fz : o1 * fz]), extra)
    return out


def coarse_factors(voxel_size_um, pixel_size_um: float, map_shape: tuple[int, int], target_size: int) -> tuple[int, int, int]:
    """Block factors per CT axis that make the map's longer side about ``target_size`` coarse pixels."""
    vs = np.asarray(voxel_size_um, dtype=float)
    p = float(pixel_size_um)
    g_target = max(p, max(map_shape) * p / target_size, float(vs.min()))
    return tuple(max(1, int(round(g_target / s))) for s in vs)


def _rotated_map(smooth_map, valid_map, p, a_mat, size, spacing):
    """Resample the map on a CT-aligned grid of ``size`` centred on the map centre."""
    h, w = smooth_map.shape
    c1, c2 = (size[0] - 1) / 2.0, (size[1] - 1) / 2.0
    q1, q2 = np.meshgrid((np.arange(size[0]) - c1) * spacing[0], (np.arange(size[1]) - c2) * spacing[1], indexing="ij")
    # map offsets = A^T q
    ym = a_mat[0, 0] * q1 + a_mat[1, 0] * q2
    xm = a_mat[0, 1] * q1 + a_mat[1, 1] * q2
    r = ym / p + (h - 1) / 2.0
    c = xm / p + (w - 1) / 2.0
    inside = (r > -0.5) & (r < h - 0.5) & (c > -0.5) & (c < w - 0.5)
    vals = ndi.map_coordinates(smooth_map, [r, c], order=1, mode="nearest")
    ri = np.clip(np.rint(r).astype(int), 0, h - 1)
    ci = np.clip(np.rint(c).astype(int), 0, w - 1)
    inside &= valid_map[ri, ci]
    return vals, inside


class _Level:
    """One search level for one axis: the binned CT slices, their FFTs and the translation grid."""

    def __init__(self, coarse, axis, factors, vs, map_image, valid_map, p, n_bins, ks, workers, binning="quantile",
                 outside="background"):
        order = AXIS_FRAMES[axis]
        self.vol = np.transpose(coarse, order)
        fac = np.asarray(factors, dtype=float)
        self.sp = (vs * fac)[list(order)]
        self.off = ((fac - 1) / 2.0 * vs)[list(order)]
        h, w = map_image.shape
        self.p = p
        self.valid_map = valid_map
        sigma = 0.4 * float(self.sp[1:].min()) / p
        self.smooth_map = ndi.gaussian_filter(map_image, sigma) if sigma > 0.5 else map_image
        self.map_ref = self.smooth_map[valid_map]
        na, n1, n2 = self.vol.shape
        diag = np.hypot(h, w) * p
        self.size = (int(np.ceil(diag / self.sp[1])) + 1, int(np.ceil(diag / self.sp[2])) + 1)
        self.fft_shape = (
            sfft.next_fast_len(n1 + self.size[0] - 1, real=True),
            sfft.next_fast_len(n2 + self.size[1] - 1, real=True),
        )
        self.c1, self.c2 = (self.size[0] - 1) / 2.0, (self.size[1] - 1) / 2.0
        self.d1 = np.arange(int(np.ceil(-self.c1)), int(np.floor(n1 - 1 - self.c1)) + 1)
        self.d2 = np.arange(int(np.ceil(-self.c2)), int(np.floor(n2 - 1 - self.c2)) + 1)
        self.rows, self.cols = self.d1 % self.fft_shape[0], self.d2 % self.fft_shape[1]
        self.n_bins = n_bins
        self.workers = workers
        self.ks = ks
        self.bin_fn = level_bins if binning == "levels" else quantile_bins
        ct_bins = self.bin_fn(self.vol, n_bins)
        self.kb = int(ct_bins.max()) + 1
        nr = self.fft_shape[1] // 2 + 1
        self.b_hat = np.empty((ks.size, self.kb, self.fft_shape[0], nr), dtype=np.complex64)
        cls = np.arange(self.kb, dtype=np.int16)[:, None, None]
        # outside="background": map pixels beyond the CT section pair with the bins of the CT's
        # lateral border in the proportions found there (the mount or air around the sample
        # continues outside the scan, with its noise), so a pose that hides part of the map
        # outside the volume is scored on all of the map and gains nothing by it
        self.outside_mix = background_mix(ct_bins, self.kb) if outside == "background" else None
        self.in_hat = None
        if self.outside_mix is not None:
            inside = np.zeros(self.fft_shape, dtype=np.float32)
            inside[:n1, :n2] = 1.0
            self.in_hat = sfft.rfft2(inside, workers=workers).astype(np.complex64)
        for i, k in enumerate(ks):
            onehot = (ct_bins[k][None] == cls).astype(np.float32)
            if self.outside_mix is None:
                self.b_hat[i] = sfft.rfft2(onehot, s=self.fft_shape, axes=(-2, -1), workers=workers)
            else:
                padded = np.zeros((self.kb,) + self.fft_shape, dtype=np.float32)
                padded[:, :n1, :n2] = onehot
                padded += self.outside_mix[:, None, None] * (1.0 - inside)[None]
                self.b_hat[i] = sfft.rfft2(padded, axes=(-2, -1), workers=workers)

    def position_um(self, k: int) -> float:
        return float(k * self.sp[0] + self.off[0])

    def score(self, angle_deg: float, mirror: bool, rows_idx: np.ndarray, min_overlap: float):
        """Best NMI and translation over all shifts, for the slices ``self.ks[rows_idx]``."""
        t = np.deg2rad(angle_deg)
        s = -1.0 if mirror else 1.0
        a_mat = np.array([[np.cos(t), -s * np.sin(t)], [np.sin(t), s * np.cos(t)]])
        vals, inside = _rotated_map(self.smooth_map, self.valid_map, self.p, a_mat, self.size, self.sp[1:])
        mb = self.bin_fn(vals, self.n_bins, reference=self.map_ref)
        ka = int(mb[inside].max()) + 1 if inside.any() else 1
        ind = ((mb[None] == np.arange(ka, dtype=np.int16)[:, None, None]) & inside[None]).astype(np.float32)
        a_hat = np.conj(sfft.rfft2(ind, s=self.fft_shape, axes=(-2, -1), workers=self.workers))
        min_count = min_overlap * inside.sum()
        n = rows_idx.size
        scores = np.zeros(n)
        shifts = np.zeros((n, 2), dtype=int)
        batch = max(1, int(3e7 // (ka * self.kb * self.fft_shape[0] * self.fft_shape[1] * 8)))
        overlap = None
        if self.in_hat is not None:  # map pixels on the CT section itself, for the min_overlap test
            a_in = np.conj(sfft.rfft2(inside.astype(np.float32), s=self.fft_shape, workers=self.workers))
            full = sfft.irfft2(a_in * self.in_hat, s=self.fft_shape, workers=self.workers)
            overlap = np.rint(full[np.ix_(self.rows, self.cols)])
        for start in range(0, n, batch):
            sel = rows_idx[start : start + batch]
            nmi, _ = fft_nmi_translation(
                a_hat, self.b_hat[sel], shape=self.fft_shape, rows=self.rows, cols=self.cols,
                min_count=min_count if overlap is None else 0.0, workers=self.workers,
            )
            if overlap is not None:
                nmi[:, overlap < min_count] = 0.0
            flat = nmi.reshape(nmi.shape[0], -1)
            arg = flat.argmax(axis=1)
            scores[start : start + batch] = flat[np.arange(flat.shape[0]), arg]
            shifts[start : start + batch, 0] = self.d1[arg // self.d2.size]
            shifts[start : start + batch, 1] = self.d2[arg % self.d2.size]
        return scores, shifts

    def centre_um(self, shift) -> tuple[float, float]:
        return (self.c1 + shift[0]) * self.sp[1] + self.off[1], (self.c2 + shift[1]) * self.sp[2] + self.off[2]


def lateral_border(volume: np.ndarray) -> np.ndarray:
    """The values on the lateral border (first and last row and column) of a (slices, rows, columns) volume."""
    return np.concatenate([volume[:, 0, :].ravel(), volume[:, -1, :].ravel(), volume[:, 1:-1, 0].ravel(),
                           volume[:, 1:-1, -1].ravel()])


def background_mix(bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Fraction of each bin on the lateral border of a binned (slices, rows, columns) volume, shape (n_bins,).

    What lies at the edge of every section (mount, resin or air around the sample) is taken to
    continue outside the scanned volume, with the same mix of (noise) bins.
    """
    counts = np.bincount(lateral_border(bins).astype(np.int64), minlength=n_bins)[:n_bins].astype(np.float64)
    return (counts / max(counts.sum(), 1.0)).astype(np.float32)


def _peaks(scores: np.ndarray, n: int) -> list[tuple[int, int, int]]:
    """Top ``n`` local maxima of (slice, angle, mirror) scores over 3 slices x 3 angles (angles wrap)."""
    pad = np.pad(scores, ((1, 1), (0, 0), (0, 0)), constant_values=-np.inf)
    mx = np.full(scores.shape, -np.inf)
    for dk in (0, 1, 2):
        sl = pad[dk : dk + scores.shape[0]]
        for da in (-1, 0, 1):
            mx = np.maximum(mx, np.roll(sl, da, axis=1))
    peak = (scores >= mx) & (scores > 0)
    idx = np.argwhere(peak)
    order = np.argsort(scores[peak])[::-1][:n]
    return [tuple(int(v) for v in idx[i]) for i in order]


def coarse_search(
    ct,
    map_image: np.ndarray,
    *,
    voxel_size_um: tuple[float, float, float],
    pixel_size_um: float,
    axes: tuple[int, ...] = (0,),
    map_mask: np.ndarray | None = None,
    slice_ranges_um: dict | None = None,
    n_bins: int = 6,
    level_a_bins: int = 4,
    angle_step_deg: float | None = None,
    search_mirror: bool = True,
    target_size: int = 40,
    min_overlap: float = 0.5,
    n_candidates: int = 4,
    n_peaks: int = 40,
    min_level_a_size: int = 16,
    binning: str = "levels",
    max_single_level_work: float = 3e7,
    outside: str = "background",
    pyramid=None,
    workers: int = 1,
    show_progress: bool | None = None,
) -> tuple[list[Candidate], dict]:
    """Search all slices, rotations, mirror flips and translations on downsampled data.

    Parameters
    ----------
    ct : array-like, shape (z, y, x)
        numpy array or lazily sliced array (zarr); read slab by slab (see :func:`downsample_volume`).
    map_image : numpy.ndarray, shape (rows, columns)
    voxel_size_um : (float, float, float)
    pixel_size_um : float
    axes : tuple of int
        CT axes the map plane may be perpendicular to.
    map_mask : numpy.ndarray of bool, optional
        Map pixels to use (default all).
    slice_ranges_um : dict, optional
        ``axis -> (lo, hi)`` µm: allowed positions of the plane along that axis.
    n_bins : int
        Quantile bins per image for the mutual information (level B, or the single level).
    level_a_bins : int
        Quantile bins at level A (fewer bins give a less noisy score on the small level-A images).
    angle_step_deg : float, optional
        Rotation step of the full-circle search (level A; level B uses half of it). Default: 10° with
        two levels; with one level the step that moves the map's corners by at most one coarse pixel
        either side of a searched angle (4.5° for a 36 x 36 map at 40 coarse pixels, at most 10°).
    search_mirror : bool
        Also try the mirrored map.
    target_size : int
        Approximate size (pixels) of the map's longest side at level B (level A: half).
    min_overlap : float
        Minimum fraction of the map that must overlap the CT section.
    n_candidates : int
        Number of distinct poses returned.
    n_peaks : int
        Level-A local maxima (per axis) re-scored at level B.
    min_level_a_size : int
        Use two levels only when the map's longer side at level A is at least this many pixels.
    binning : {"levels", "quantile"}
        Bins of the map and the CT: natural grey levels (:func:`~liberation.registration.similarity.level_bins`)
        or quantiles (:func:`~liberation.registration.similarity.quantile_bins`).
    max_single_level_work : float
        Above this many slice x angle x FFT pixels the search takes two levels (when the map is large enough).
    outside : {"background", "ignore"}
        Map pixels beyond the CT section: ``"background"`` (default) pairs them with the bin most common on
        the CT's lateral border (so every pose is scored on the whole map, and a pose that pushes
        map content out of the volume pays for it); ``"ignore"`` scores only the overlap.
    pyramid : sequence of (array, (int, int, int)), optional
        Downsampled copies of ``ct`` with their block factors (see :func:`downsample_volume`).
    workers : int
        FFT threads.

    Returns
    -------
    candidates : list of Candidate
        Best first.
    info : dict
        ``spacing_um`` of level B, ``factors`` of level B, ``two_level``, ``scores`` (per axis,
        level-A best NMI per slice, rotation and mirror), ``n_evaluated`` (slice-rotation pairs scored).
    """
    if outside not in ("background", "ignore"):
        raise InputError(f"outside={outside!r}; expected 'background' or 'ignore'")
    vs = np.asarray(voxel_size_um, dtype=float)
    p = float(pixel_size_um)
    h, w = map_image.shape
    factors = coarse_factors(vs, p, (h, w), target_size)
    if len(axes) == 1 and slice_ranges_um and axes[0] in slice_ranges_um:
        # A narrow slice window (a face hint): search it at full resolution along the axis.
        # Block means over several slices blur the plane the map shows, worst at the ends of
        # the volume, where particles are cut and change fast from slice to slice.
        lo, hi = slice_ranges_um[axes[0]]
        if hi - lo < 4 * factors[axes[0]] * vs[axes[0]]:
            factors = tuple(1 if a == axes[0] else f for a, f in enumerate(factors))
    base = downsample_volume(ct, factors, pyramid=pyramid)
    valid_map = np.ones(map_image.shape, bool) if map_mask is None else np.asarray(map_mask, bool)
    map32 = np.asarray(map_image, dtype=np.float32)
    mirrors = (False, True) if search_mirror else (False,)
    step_a = 10.0 if angle_step_deg is None else float(angle_step_deg)
    angles = np.arange(0.0, 360.0, step_a)
    info = {"spacing_um": [float(v) for v in vs * np.asarray(factors)], "factors": list(factors), "scores": {},
            "two_level": {}, "n_evaluated": 0}
    results = []  # (score, axis, position, angle, mirror, q1, q2)
    for axis in axes:
        order = AXIS_FRAMES[axis]
        n_slices = base.shape[axis]
        pos = (np.arange(n_slices) * factors[axis] + (factors[axis] - 1) / 2.0) * vs[axis]
        ks = np.arange(n_slices)
        if slice_ranges_um and axis in slice_ranges_um:
            lo, hi = slice_ranges_um[axis]
            sp_a = factors[axis] * vs[axis]
            ks = ks[(pos >= lo - sp_a / 2) & (pos <= hi + sp_a / 2)]
        if ks.size == 0:
            continue
        border = lateral_border(np.transpose(base, order)[ks])
        info.setdefault("background_grey", {})[axis] = np.sort(border)[np.linspace(0, border.size - 1, 1024).astype(int)]
        g1, g2 = factors[order[1]] * vs[order[1]], factors[order[2]] * vs[order[2]]
        size_a = max(h, w) * p / (2 * max(g1, g2))
        lev_b = _Level(base, axis, factors, vs, map32, valid_map, p, n_bins, ks, workers, binning, outside)
        work = float(ks.size) * angles.size * len(mirrors) * lev_b.fft_shape[0] * lev_b.fft_shape[1]
        two_level = (size_a >= min_level_a_size and min(base.shape[order[1]], base.shape[order[2]]) >= 8
                     and work > max_single_level_work)
        info["two_level"][axis] = bool(two_level)
        info.setdefault("single_level_work", {})[axis] = work
        if two_level:
            extra = [1, 1, 1]
            extra[order[1]] = extra[order[2]] = 2
            fac_a = tuple(f * e for f, e in zip(factors, extra))
            lev_a = _Level(block_reduce(base, tuple(extra)), axis, fac_a, vs, map32, valid_map, p, level_a_bins, ks,
                           workers, binning, outside)
            scores = np.zeros((ks.size, angles.size, len(mirrors)))
            combos = [(ia, im) for im in range(len(mirrors)) for ia in range(angles.size)]
            all_rows = np.arange(ks.size)
            for ia, im in progress(combos, desc=f"coarse search axis {'zyx'[axis]} (level A)", enabled=show_progress):
                scores[:, ia, im], _ = lev_a.score(angles[ia], mirrors[im], all_rows, min_overlap)
            info["n_evaluated"] += scores.size
            info["scores"][axis] = scores
            del lev_a
            groups: dict[tuple[float, bool], set] = {}
            for kk, ia, im in _peaks(scores, n_peaks):
                for da in (-0.5, 0.0, 0.5):
                    ang = float((angles[ia] + da * step_a) % 360.0)
                    groups.setdefault((round(ang, 6), mirrors[im]), set()).update(
                        r for r in (kk - 1, kk, kk + 1) if 0 <= r < ks.size
                    )
            work = [(ang, mir, np.array(sorted(rows))) for (ang, mir), rows in groups.items()]
        else:
            angles_1 = angles
            if angle_step_deg is None:
                half_diag = 0.5 * np.hypot(h, w) * p / float(min(g1, g2))  # coarse pixels
                raw = 2.0 * np.degrees(np.arcsin(min(1.0, 1.0 / max(half_diag, 1.0))))
                angles_1 = np.linspace(0.0, 360.0, int(np.ceil(360.0 / min(raw, 10.0))), endpoint=False)
            info["angle_step_deg"] = float(angles_1[1] - angles_1[0])
            work = [(float(a), m, np.arange(ks.size)) for m in mirrors for a in angles_1]
            info["scores"][axis] = None
        level_scores = []
        for ang, mir, rows in progress(work, desc=f"coarse search axis {'zyx'[axis]}", enabled=show_progress):
            sc, sh = lev_b.score(ang, mir, rows, min_overlap)
            info["n_evaluated"] += rows.size
            for r, s, d in zip(rows, sc, sh):
                level_scores.append((float(s), int(r), ang, mir, d))
        if not two_level:
            grid = np.zeros((ks.size, angles_1.size, len(mirrors)))
            step_1 = angles_1[1] - angles_1[0]
            for s, r, ang, mir, _ in level_scores:
                grid[r, int(round(ang / step_1)) % angles_1.size, mirrors.index(mir)] = s
            info["scores"][axis] = grid
        level_scores.sort(key=lambda x: -x[0])
        for s, r, ang, mir, d in level_scores[: 50 * n_candidates]:
            q1, q2 = lev_b.centre_um(d)
            results.append((s, axis, lev_b.position_um(int(ks[r])), ang, mir, q1, q2))
    results.sort(key=lambda r: -r[0])
    spacing = vs * np.asarray(factors)
    candidates: list[Candidate] = []
    for score, axis, x_a, ang, mir, q1, q2 in results:
        centre = frame_matrix(axis) @ np.array([x_a, q1, q2])
        m = pose_matrix(axis=axis, centre_um=centre, rotation_deg=ang, mirror=mir, map_shape=(h, w), pixel_size_um=p)
        if any(c.axis == axis and pixel_centre_rms_error(m, c.matrix, (h, w), p) < 2 * spacing.max() for c in candidates):
            continue
        candidates.append(Candidate(matrix=m, score=score, axis=axis, rotation_deg=ang, mirror=mir, position_um=x_a))
        if len(candidates) >= n_candidates:
            break
    return candidates, info
