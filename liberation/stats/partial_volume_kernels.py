"""Block kernels of the sub-voxel quantification (numba when importable, numpy otherwise).

Every kernel takes one block *with a halo* of ``r`` voxels on every side (edge-replicated at the
volume border, :func:`liberation.stats.partial_volume_blocks.read_ext`) and returns results for the
block's core ``ext[r:-r, r:-r, r:-r]``:

- :func:`constant_box`: 1 where the ``(2 r + 1)^3`` box around a core voxel holds one label only
  (separable run lengths: O(1) work per voxel whatever ``r``, instead of ``(2 r + 1)^3`` reads);
- :func:`interior_sums`: count, sum and sum of squares of the grey value of the voxels of each phase
  whose box is constant (the phase's interior, for the grey levels and noise of the model);
- :func:`soft_deltas`: the unmixing of every mixed voxel (box not constant) folded straight into
  per-particle phase-volume corrections, without gathering the mixed voxels (float64, the same rule
  as the numpy reference ``liberation.stats.partial_volume_unmix.unmix_block``).

The numba kernels hold no GIL, so blocks run in parallel threads.
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - depends on the environment
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "constant_box", "interior_sums", "soft_deltas"]


def _np_constant_box(ph: np.ndarray, r: int) -> np.ndarray:
    from scipy import ndimage

    core = (slice(r, -r),) * 3
    lo = ndimage.minimum_filter(ph, size=2 * r + 1, mode="nearest")[core]
    hi = ndimage.maximum_filter(ph, size=2 * r + 1, mode="nearest")[core]
    return (lo == hi).astype(np.uint8)


if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True)
    def _nb_constant_box(ph, r):
        Z, Y, X = ph.shape
        Zc, Yc, Xc = Z - 2 * r, Y - 2 * r, X - 2 * r
        cap = r + 1
        # x: the run of equal labels through (z, y, x) reaches r voxels on both sides
        cx = np.zeros((Z, Y, Xc), np.uint8)
        left = np.empty(X, np.int64)
        for z in range(Z):
            for y in range(Y):
                s = 0
                for x in range(X):
                    if x > 0 and ph[z, y, x] != ph[z, y, x - 1]:
                        s = x
                    left[x] = x - s
                e = X - 1
                for x in range(X - 1, -1, -1):
                    if x < X - 1 and ph[z, y, x] != ph[z, y, x + 1]:
                        e = x
                    if r <= x < X - r and left[x] >= r and e - x >= r:
                        cx[z, y, x - r] = 1
        # y: runs of consecutive x-constant rows with the same label
        cy = np.zeros((Z, Yc, Xc), np.uint8)
        L = np.empty((Y, Xc), np.int8)
        R = np.empty(Xc, np.int8)
        for z in range(Z):
            for y in range(Y):
                for x in range(Xc):
                    if cx[z, y, x] == 0:
                        L[y, x] = -1
                    elif y > 0 and L[y - 1, x] >= 0 and ph[z, y, x + r] == ph[z, y - 1, x + r]:
                        L[y, x] = min(L[y - 1, x] + 1, cap)
                    else:
                        L[y, x] = 0
            for y in range(Y - 1, -1, -1):
                for x in range(Xc):
                    if cx[z, y, x] == 0:
                        R[x] = -1
                    elif y < Y - 1 and R[x] >= 0 and ph[z, y, x + r] == ph[z, y + 1, x + r]:
                        R[x] = min(R[x] + 1, cap)
                    else:
                        R[x] = 0
                    if r <= y < Y - r and L[y, x] >= r and R[x] >= r:
                        cy[z, y - r, x] = 1
        # z: runs of consecutive xy-constant planes with the same label
        out = np.zeros((Zc, Yc, Xc), np.uint8)
        Lz = np.empty((Z, Yc, Xc), np.int8)
        for z in range(Z):
            for y in range(Yc):
                for x in range(Xc):
                    if cy[z, y, x] == 0:
                        Lz[z, y, x] = -1
                    elif z > 0 and Lz[z - 1, y, x] >= 0 and ph[z, y + r, x + r] == ph[z - 1, y + r, x + r]:
                        Lz[z, y, x] = min(Lz[z - 1, y, x] + 1, cap)
                    else:
                        Lz[z, y, x] = 0
        Rz = np.empty((Yc, Xc), np.int8)
        for z in range(Z - 1, -1, -1):
            for y in range(Yc):
                for x in range(Xc):
                    if cy[z, y, x] == 0:
                        Rz[y, x] = -1
                    elif z < Z - 1 and Rz[y, x] >= 0 and ph[z, y + r, x + r] == ph[z + 1, y + r, x + r]:
                        Rz[y, x] = min(Rz[y, x] + 1, cap)
                    else:
                        Rz[y, x] = 0
                    if r <= z < Z - r and Lz[z, y, x] >= r and Rz[y, x] >= r:
                        out[z - r, y, x] = 1
        return out

    @numba.njit(cache=True, nogil=True)
    def _nb_interior_sums(g, ph, const, r, shift, n, s1, s2):
        Zc, Yc, Xc = const.shape
        P = n.size
        bad = np.int64(-1)
        for z in range(Zc):
            for y in range(Yc):
                for x in range(Xc):
                    if const[z, y, x] == 0:
                        continue
                    q = np.int64(ph[z + r, y + r, x + r])
                    if q < 0 or q >= P:
                        bad = q
                        continue
                    v = np.float64(g[z + r, y + r, x + r]) - shift
                    n[q] += 1
                    s1[q] += v
                    s2[q] += v * v
        return bad

    @numba.njit(cache=True, nogil=True)
    def _nb_soft_deltas(g, ph, src, lut, const, r, levels, known, sig, min_contrast, clip, delta, bad):
        Zc, Yc, Xc = const.shape
        P = levels.size
        w = 2 * r + 1
        n_nb = w * w * w
        cnt = np.zeros(P, np.int64)
        thr = max(min_contrast * sig, 1e-9)
        sdiv = sig if sig > 0 else 1.0
        moved = 0
        for z in range(Zc):
            for y in range(Yc):
                for x in range(Xc):
                    if const[z, y, x] == 1:
                        continue
                    zz, yy, xx = z + r, y + r, x + r
                    for p in range(P):
                        cnt[p] = 0
                    for dz in range(-r, r + 1):
                        for dy in range(-r, r + 1):
                            for dx in range(-r, r + 1):
                                q = np.int64(ph[zz + dz, yy + dy, xx + dx])
                                if q < 0 or q >= P:
                                    bad[0] = q
                                    return moved
                                cnt[q] += 1
                    a = np.int64(ph[zz, yy, xx])
                    if not known[a]:
                        continue
                    gv = np.float64(g[zz, yy, xx])
                    la = levels[a]
                    best_cost = np.inf
                    best_p = a
                    best_f = 1.0
                    for p in range(P):
                        if p == a or cnt[p] == 0 or not known[p]:
                            continue
                        lp = levels[p]
                        diff = la - lp
                        if abs(diff) <= thr:
                            continue
                        f = (gv - lp) / diff
                        if clip:
                            f = min(max(f, 0.0), 1.0)
                        cost = abs(gv - (f * la + (1.0 - f) * lp)) / sdiv + (n_nb - cnt[p]) / n_nb
                        if cost < best_cost:
                            best_cost = cost
                            best_p = p
                            best_f = f
                    if best_p == a or best_f == 1.0:
                        continue
                    owner = np.int64(-1)
                    for dz in range(-r, r + 1):
                        for dy in range(-r, r + 1):
                            for dx in range(-r, r + 1):
                                if ph[zz + dz, yy + dy, xx + dx] == best_p:
                                    o = np.int64(src[zz + dz, yy + dy, xx + dx])
                                    if o > owner:
                                        owner = o
                    share = 1.0 - best_f
                    delta[lut[src[zz, yy, xx]], a] -= share
                    delta[lut[owner], best_p] += share
                    moved += 1
        return moved


def constant_box(ph_ext: np.ndarray, r: int, *, engine: str = "auto") -> np.ndarray:
    """1 where the ``(2 r + 1)^3`` box of ``ph_ext`` around a core voxel holds one label.

    Parameters
    ----------
    ph_ext : ndarray of int, shape (z + 2 r, y + 2 r, x + 2 r)
        Labels of a block and its halo.
    r : int
        Box radius (>= 1).
    engine : {"auto", "numba", "numpy"}
        Kernel.

    Returns
    -------
    ndarray of uint8, shape (z, y, x)
    """
    if (HAVE_NUMBA if engine == "auto" else engine == "numba"):
        return _nb_constant_box(np.ascontiguousarray(ph_ext), int(r))
    return _np_constant_box(np.asarray(ph_ext), int(r))


def interior_sums(g_ext, ph_ext, r: int, n_phases: int, shift: float, *, engine: str = "auto"):
    """Per phase: voxels, sum and sum of squares of ``g - shift`` over the core voxels with a constant box.

    ``r = 0`` takes every core voxel. Returns ``(n, s1, s2, bad)``: ``bad`` is a phase id outside
    ``0..n_phases-1`` met (or -1).
    """
    r = int(r)
    n = np.zeros(n_phases, np.int64)
    s1 = np.zeros(n_phases)
    s2 = np.zeros(n_phases)
    core = (slice(r, g_ext.shape[0] - r), slice(r, g_ext.shape[1] - r), slice(r, g_ext.shape[2] - r))
    if (HAVE_NUMBA if engine == "auto" else engine == "numba"):
        ph = np.ascontiguousarray(ph_ext)
        const = _nb_constant_box(ph, r) if r > 0 else np.ones(ph[core].shape, np.uint8)
        bad = _nb_interior_sums(np.ascontiguousarray(g_ext), ph, const, r, float(shift), n, s1, s2)
        return n, s1, s2, int(bad)
    ph = np.asarray(ph_ext)
    sel = _np_constant_box(ph, r).astype(bool) if r > 0 else np.ones(ph[core].shape, bool)
    p = ph[core][sel].astype(np.int64)
    if p.size and (int(p.max()) >= n_phases or int(p.min()) < 0):
        return n, s1, s2, int(p.max()) if int(p.max()) >= n_phases else int(p.min())
    v = np.asarray(g_ext)[core][sel].astype(np.float64) - shift
    return (np.bincount(p, minlength=n_phases), np.bincount(p, weights=v, minlength=n_phases),
            np.bincount(p, weights=v * v, minlength=n_phases), -1)


def soft_deltas(g_ext, ph_ext, src_ext, lut, n_rows: int, r: int, levels, sig: float, min_contrast: float,
                clip: bool):
    """Sub-voxel corrections of one block, per local particle row and phase (numba only).

    Parameters
    ----------
    g_ext, ph_ext : ndarray, shape (z + 2 r, y + 2 r, x + 2 r)
        Grey values and phase ids of the block with its halo.
    src_ext, lut : ndarray
        Local particle rows: the row of a voxel is ``lut[src_ext[voxel]]``; ``src_ext`` increases with the
        particle id (:func:`liberation.stats._kernels.local_ids`), so the larger id wins a tie of owners.
    n_rows : int
        Rows of the result.
    r : int
        Neighbourhood radius.
    levels : ndarray of float64, shape (n_phases,)
        Grey levels (NaN: unknown, never unmixed).
    sig, min_contrast : float
        Pooled noise (grey) and the contrast below which two phases are not unmixed (noise units).
    clip : bool
        Clip fractions to [0, 1].

    Returns
    -------
    delta : ndarray of float64, shape (n_rows, n_phases)
        Volume (voxels) moved: ``-(1 - f)`` at (own row, own phase), ``+(1 - f)`` at (partner row,
        partner phase), summed over the mixed voxels of the core.
    moved : int
        Voxels unmixed.
    bad : int or None
        A phase id without a grey level (outside ``0..n_phases-1``) met in the block (the result is then
        incomplete), else None.
    """
    levels = np.asarray(levels, dtype=np.float64)
    known = np.isfinite(levels)
    lv = np.where(known, levels, 0.0)
    ph = np.ascontiguousarray(ph_ext)
    src = np.ascontiguousarray(src_ext)
    if src.dtype == np.uint64:
        src = src.astype(np.int64)
    const = _nb_constant_box(ph, int(r))
    delta = np.zeros((n_rows, lv.size))
    bad = np.full(1, np.iinfo(np.int64).min, np.int64)
    moved = _nb_soft_deltas(np.ascontiguousarray(g_ext), ph, src, lut, const, int(r), lv, known,
                            float(sig if np.isfinite(sig) and sig > 0 else 0.0), float(min_contrast), bool(clip),
                            delta, bad)
    return delta, int(moved), (None if bad[0] == np.iinfo(np.int64).min else int(bad[0]))
