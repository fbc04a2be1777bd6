"""Coarse automatic search for the plane of a 2D map in a CT volume.

Exhaustive on downsampled data: CT axis (given or all three), slice position, full-circle
in-plane rotation, mirror flip, and in-plane translation. For every slice and rotation the
normalised mutual information for *all* translations is computed at once by FFT
cross-correlation of bin-indicator images (:func:`~liberation.registration.similarity.fft_nmi_translation`).
The best few distinct poses are returned as candidates for the fine stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy import ndimage as ndi

from liberation._progress import progress
from liberation.registration.geometry import AXIS_FRAMES, frame_matrix, pixel_centre_rms_error, pose_matrix
from liberation.registration.similarity import fft_nmi_translation, quantile_bins

__all__ = ["Candidate", "coarse_search", "block_reduce"]


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
    new_shape = []
    for n, f in zip(shape, factors):
        new_shape += [n, f]
    return crop.reshape(new_shape).mean(axis=tuple(range(1, 2 * len(shape), 2)), dtype=np.float32)


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


def coarse_search(
    ct: np.ndarray,
    map_image: np.ndarray,
    *,
    voxel_size_um: tuple[float, float, float],
    pixel_size_um: float,
    axes: tuple[int, ...] = (0,),
    map_mask: np.ndarray | None = None,
    slice_ranges_um: dict | None = None,
    n_bins: int = 6,
    angle_step_deg: float = 10.0,
    search_mirror: bool = True,
    target_size: int = 40,
    min_overlap: float = 0.5,
    n_candidates: int = 4,
    workers: int = 1,
    show_progress: bool | None = None,
) -> tuple[list[Candidate], dict]:
    """Search all slices, rotations, mirror flips and translations on downsampled data.

    Parameters
    ----------
    ct : numpy.ndarray, shape (z, y, x)
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
        Quantile bins per image for the mutual information.
    angle_step_deg : float
        Rotation step of the full-circle search.
    search_mirror : bool
        Also try the mirrored map.
    target_size : int
        Approximate size (pixels) of the map's longest side at the coarse level.
    min_overlap : float
        Minimum fraction of the map that must overlap the CT section.
    n_candidates : int
        Number of distinct poses returned.
    workers : int
        FFT threads.

    Returns
    -------
    candidates : list of Candidate
        Best first.
    info : dict
        ``spacing_um`` of the coarse grid, ``scores`` (best NMI per axis, slice and rotation).
    """
    vs = np.asarray(voxel_size_um, dtype=float)
    p = float(pixel_size_um)
    h, w = map_image.shape
    g_target = max(p, max(h, w) * p / target_size, float(vs.min()))
    factors = tuple(max(1, int(round(g_target / s))) for s in vs)
    spacing = vs * np.asarray(factors)
    offsets = (np.asarray(factors) - 1) / 2.0 * vs
    coarse = block_reduce(ct, factors)
    valid_map = np.ones(map_image.shape, bool) if map_mask is None else np.asarray(map_mask, bool)
    sigma = 0.4 * float(spacing.min()) / p
    smooth_map = ndi.gaussian_filter(map_image.astype(np.float32), sigma) if sigma > 0.5 else map_image.astype(np.float32)
    map_ref = smooth_map[valid_map]
    angles = np.arange(0.0, 360.0, angle_step_deg)
    mirrors = (False, True) if search_mirror else (False,)
    results = []  # (score, axis, K, angle, mirror, q1, q2)
    info = {"spacing_um": [float(v) for v in spacing], "scores": {}}
    diag = np.hypot(h, w) * p
    for axis in axes:
        order = AXIS_FRAMES[axis]
        vol = np.transpose(coarse, order)
        sp = spacing[list(order)]
        off = offsets[list(order)]
        na, n1, n2 = vol.shape
        ks = np.arange(na)
        pos = ks * sp[0] + off[0]
        if slice_ranges_um and axis in slice_ranges_um:
            lo, hi = slice_ranges_um[axis]
            ks = ks[(pos >= lo - sp[0] / 2) & (pos <= hi + sp[0] / 2)]
        if ks.size == 0:
            continue
        size = (int(np.ceil(diag / sp[1])) + 1, int(np.ceil(diag / sp[2])) + 1)
        fft_shape = (sfft.next_fast_len(n1 + size[0] - 1, real=True), sfft.next_fast_len(n2 + size[1] - 1, real=True))
        ct_bins = quantile_bins(vol, n_bins)
        kb = int(ct_bins.max()) + 1
        onehot = (ct_bins[ks][:, None] == np.arange(kb, dtype=np.int16)[None, :, None, None]).astype(np.float32)
        b_hat = sfft.rfft2(onehot, s=fft_shape, axes=(-2, -1), workers=workers)
        del onehot
        c1, c2 = (size[0] - 1) / 2.0, (size[1] - 1) / 2.0
        d1 = np.arange(int(np.ceil(-c1)), int(np.floor(n1 - 1 - c1)) + 1)
        d2 = np.arange(int(np.ceil(-c2)), int(np.floor(n2 - 1 - c2)) + 1)
        rows, cols = d1 % fft_shape[0], d2 % fft_shape[1]
        scores = np.zeros((ks.size, angles.size, len(mirrors)))
        best_shift = np.zeros((ks.size, angles.size, len(mirrors), 2), dtype=int)
        batch = max(1, int(4e7 // (n_bins * kb * fft_shape[0] * fft_shape[1] * 4)))
        combos = [(ia, im) for im in range(len(mirrors)) for ia in range(angles.size)]
        for ia, im in progress(combos, desc=f"coarse search axis {axis}", enabled=show_progress):
            t = np.deg2rad(angles[ia])
            s = -1.0 if mirrors[im] else 1.0
            a_mat = np.array([[np.cos(t), -s * np.sin(t)], [np.sin(t), s * np.cos(t)]])
            vals, inside = _rotated_map(smooth_map, valid_map, p, a_mat, size, sp[1:])
            mb = quantile_bins(vals, n_bins, reference=map_ref)
            ka = int(mb[inside].max()) + 1 if inside.any() else 1
            ind = ((mb[None] == np.arange(ka, dtype=np.int16)[:, None, None]) & inside[None]).astype(np.float32)
            a_hat = np.conj(sfft.rfft2(ind, s=fft_shape, axes=(-2, -1), workers=workers))
            min_count = min_overlap * inside.sum()
            for start in range(0, ks.size, batch):
                nmi, _ = fft_nmi_translation(
                    a_hat, b_hat[start : start + batch], shape=fft_shape, rows=rows, cols=cols,
                    min_count=min_count, workers=workers,
                )
                flat = nmi.reshape(nmi.shape[0], -1)
                arg = flat.argmax(axis=1)
                scores[start : start + batch, ia, im] = flat[np.arange(flat.shape[0]), arg]
                best_shift[start : start + batch, ia, im, 0] = d1[arg // d2.size]
                best_shift[start : start + batch, ia, im, 1] = d2[arg % d2.size]
        info["scores"][axis] = scores
        for kk, ia, im in zip(*np.unravel_index(np.argsort(scores, axis=None)[::-1][: 50 * n_candidates], scores.shape)):
            dd = best_shift[kk, ia, im]
            q1 = (c1 + dd[0]) * sp[1] + off[1]
            q2 = (c2 + dd[1]) * sp[2] + off[2]
            results.append((float(scores[kk, ia, im]), axis, float(pos[ks[kk]]), float(angles[ia]), mirrors[im], q1, q2))
    results.sort(key=lambda r: -r[0])
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
