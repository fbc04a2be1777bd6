"""Block kernels of the sub-voxel quantification (numba when importable, numpy otherwise).

Every kernel takes one block with whatever halo was read around it (:func:`liberation.stats.
partial_volume_blocks.read_halo`; no padding) and the bounds ``lo``, ``hi`` of its core; neighbours
beyond the array are clamped to its edge, which is edge replication at the volume border and never
happens elsewhere (the halo is there). The numba kernels stream the block plane by plane:

- :func:`constant_box`: 1 where the ``(2 r + 1)^3`` box around a core voxel holds one label only
  (separable: a square test per plane kept in a ring buffer of ``2 r + 1`` planes, a few vector
  operations per voxel instead of ``(2 r + 1)^3`` reads);
- :func:`interior_sums`: count, sum and sum of squares of the grey value of the voxels of each phase
  whose box is constant (the phase's interior, for the grey levels and noise of the model);
- :func:`soft_deltas`: the unmixing of every mixed voxel folded straight into per-particle
  phase-volume corrections (float64, the rule of the numpy reference
  ``liberation.stats.partial_volume_unmix.unmix_block``); the phase counts of the box come from one
  separable sum of ``1 << 8 q`` (8-bit fields of one integer, phases < 8 and boxes < 256 voxels), which
  is also the mixed-voxel test; the unclipped rule's blur shares over the box with the tail ring come from
  per-plane packed counts per 2D distance class (:func:`class_tables`) turned into per-plane float sums per phase
  (:func:`_nb_float_row`: the separable blur in y and x, formed per plane, phase and row only where a row's
  voxels have that phase as a candidate), weighted along z for the voxels and phases that need them (one load per
  plane; :func:`_nb_class_row`).

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

#: Voxels per plane of one y strip of the unmixing kernel (the strip's ring of plane sums stays in the L2 cache).
STRIP_VOXELS = 1 << 14
#: The same with the blur shares' ring of class plane sums (tail ring radius -> voxels per plane).
CLASS_STRIP_VOXELS = {2: 1 << 12, 3: 1 << 11}


def _bounds(shape, r, lo, hi):
    lo = np.array([r, r, r] if lo is None else lo, dtype=np.int64)
    hi = np.array([n - r for n in shape] if hi is None else hi, dtype=np.int64)
    return lo, hi


def _np_constant_box(ph: np.ndarray, r: int, lo, hi) -> np.ndarray:
    from scipy import ndimage

    core = tuple(slice(a, b) for a, b in zip(lo, hi))
    mn = ndimage.minimum_filter(ph, size=2 * r + 1, mode="nearest")[core]
    mx = ndimage.maximum_filter(ph, size=2 * r + 1, mode="nearest")[core]
    return (mn == mx).astype(np.uint8)


if HAVE_NUMBA:  # pragma: no branch
    # The helpers called once per voxel allocate nothing: compiled without numba's reference counting (an atomic
    # increment and decrement of every array argument per call was half the unclipped kernel's time; the option is
    # numba's private ``_nrt``, left out where a numba version lacks it).
    from numba.core.cpu import CPUTargetOptions as _Options

    _NO_NRT = {"_nrt": False} if hasattr(_Options, "_nrt") else {}
    from numba.cpython.unsafe.numbers import leading_zeros as _leading_zeros

    #: The low 7 bits of the 8-bit fields 0..6 of the packed counts, and their top bits (field 7, the flag, left out).
    _LOW7 = np.int64(0x007F7F7F7F7F7F7F)
    _HIGH1 = np.int64(0x0080808080808080)

    @numba.njit(cache=True, nogil=True)
    def _nb_fxy_plane(ph, p, r, lo, hi, fxy):
        """Plane ``p`` of the block: 1 where the ``(2r+1)^2`` square (y, x) around a core voxel has one label.

        Neighbours outside the array are clamped to its edge (= edge replication at the volume border).
        """
        Z, Y, X = ph.shape
        y0, y1, x0, x1 = lo[1], hi[1], lo[2], hi[2]
        ya, yb = max(y0 - r, 0), min(y1 + r, Y)
        nx = x1 - x0
        fx = np.empty((yb - ya, nx), np.uint8)
        # eb[i + r] = 1 where ph[i] != ph[i + 1]; zero beyond the row (clamped neighbours are equal)
        eb = np.zeros(X + 2 * r, np.uint8)
        for y in range(ya, yb):
            for i in range(X - 1):
                eb[i + r] = ph[p, y, i] != ph[p, y, i + 1]
            for x in range(x0, x1):
                e = np.uint8(0)
                for d in range(-r, r):
                    e |= eb[x + d + r]
                fx[y - ya, x - x0] = 1 - e
        for y in range(y0, y1):
            for x in range(nx):
                fxy[y - y0, x] = 1
            for d in range(-r, r + 1):
                yy = min(max(y + d, 0), Y - 1)
                for x in range(nx):
                    fxy[y - y0, x] &= fx[yy - ya, x] & (ph[p, yy, x + x0] == ph[p, y, x + x0])

    @numba.njit(cache=True, nogil=True)
    def _nb_const_plane(ph, r, lo, hi, z, ring, have, out):
        """``out[y, x]`` = 1 where the ``(2r+1)^3`` box around core voxel (z, y, x) has one label."""
        Z = ph.shape[0]
        w = 2 * r + 1
        y0, x0 = lo[1], lo[2]
        ny, nx = out.shape
        for d in range(-r, r + 1):
            p = min(max(z + d, 0), Z - 1)
            slot = p % w
            if have[slot] != p:
                _nb_fxy_plane(ph, p, r, lo, hi, ring[slot])
                have[slot] = p
        for y in range(ny):
            for x in range(nx):
                out[y, x] = 1
        for d in range(-r, r + 1):
            p = min(max(z + d, 0), Z - 1)
            fl = ring[p % w]
            for y in range(ny):
                for x in range(nx):
                    out[y, x] &= fl[y, x] & (ph[p, y + y0, x + x0] == ph[z, y + y0, x + x0])

    @numba.njit(cache=True, nogil=True)
    def _nb_constant_core(ph, r, lo, hi):
        w = 2 * r + 1
        ny, nx = hi[1] - lo[1], hi[2] - lo[2]
        ring = np.zeros((w, ny, nx), np.uint8)
        have = np.full(w, -1, np.int64)
        out = np.zeros((hi[0] - lo[0], ny, nx), np.uint8)
        for z in range(lo[0], hi[0]):
            _nb_const_plane(ph, r, lo, hi, z, ring, have, out[z - lo[0]])
        return out


    @numba.njit(cache=True, nogil=True)
    def _nb_interior_sums(g, ph, r, lo, hi, shift, n, s1, s2):
        P = n.size
        bad = np.int64(-1)
        w = 2 * r + 1
        ring = np.zeros((w, hi[1] - lo[1], hi[2] - lo[2]), np.uint8)
        have = np.full(w, -1, np.int64)
        const = np.ones((hi[1] - lo[1], hi[2] - lo[2]), np.uint8)
        for z in range(lo[0], hi[0]):
            if r > 0:
                _nb_const_plane(ph, r, lo, hi, z, ring, have, const)
            for y in range(lo[1], hi[1]):
                for x in range(lo[2], hi[2]):
                    if const[y - lo[1], x - lo[2]] == 0:
                        continue
                    q = np.int64(ph[z, y, x])
                    if q < 0 or q >= P:
                        bad = q
                        continue
                    v = np.float64(g[z, y, x]) - shift
                    n[q] += 1
                    s1[q] += v
                    s2[q] += v * v
        return bad

    @numba.njit(cache=True, nogil=True)
    def _nb_square_packed(ph, p, r, y0, y1, x0, x1, buf, rx, sq):
        """Plane ``p``, core rows ``y0..y1``, columns ``x0..x1``: ``sq[y - y0, x - x0]`` = the counts of every
        phase (< 8) over the ``(2r+1)^2`` square (y, x), packed in 8-bit fields of one integer (``1 << 8 q`` per
        voxel of phase q; neighbours beyond the array clamped to its edge)."""
        Z, Y, X = ph.shape
        w = 2 * r + 1
        ya, yb = max(y0 - r, 0), min(y1 + r, Y)
        nx = x1 - x0
        ia, ib = max(r - x0, 0), min(X - x0 + r, nx + 2 * r)  # buf[i] holds column x0 - r + i; unclamped in ia..ib
        for y in range(ya, yb):
            for i in range(ia, ib):
                buf[i] = np.int64(1) << np.int64(8 * ph[p, y, x0 - r + i])
            for i in range(ia):
                buf[i] = np.int64(1) << np.int64(8 * ph[p, y, 0])
            for i in range(ib, nx + 2 * r):
                buf[i] = np.int64(1) << np.int64(8 * ph[p, y, X - 1])
            row = rx[y - ya]
            for x in range(nx):
                row[x] = buf[x]
            for d in range(1, w):
                for x in range(nx):
                    row[x] += buf[x + d]
        for y in range(y0, y1):
            out = sq[y - y0]
            first = rx[min(max(y - r, 0), Y - 1) - ya]
            for x in range(nx):
                out[x] = first[x]
            for d in range(-r + 1, r + 1):
                src = rx[min(max(y + d, 0), Y - 1) - ya]
                for x in range(nx):
                    out[x] += src[x]

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_pack_ids_row(ph, src, p, y, x_first, ia, ib, buf, bid, none):
        """Columns ``x_first + ia .. x_first + ib`` of row ``(p, y)`` packed for the square sums: ``buf[i]`` the
        phase bit (8-bit field per phase) plus field 7 when particle and phase disagree on the background,
        ``bid[2 i]`` / ``bid[2 i + 1]`` the particle id and its negative (``none`` for the background)."""
        for i in range(ia, ib):
            q = np.int64(ph[p, y, x_first + i])
            sv = np.int64(src[p, y, x_first + i])
            buf[i] = (np.int64(1) << np.int64(8 * q)) + (np.int64((sv == 0) != (q == 0)) << np.int64(56))
            bid[2 * i] = np.int32(sv)
            bid[2 * i + 1] = np.int32(-sv) if sv != 0 else none

    @numba.njit(cache=True, nogil=True)
    def _nb_square_ids(ph, src, flag, p, r, y0, y1, x0, x1, buf, bid, rx, rid, sq, sid):
        """:func:`_nb_square_packed` for the unmixing, and when ``flag``: field 7 of ``sq`` counts the voxels whose
        particle is the background (``src == 0``) but whose phase is not the void or the other way round, and
        ``sid[y, 2 x]`` is the largest ``src`` over the square, ``-sid[y, 2 x + 1]`` the smallest ``src`` other than
        0 (``2^31 - 1`` where there is none): int32 pairs, both maxima of one vector pass (``src < 2^31``)."""
        Z, Y, X = ph.shape
        w = 2 * r + 1
        ya, yb = max(y0 - r, 0), min(y1 + r, Y)
        nx = x1 - x0
        none = np.int32(-2147483647)
        ia, ib = max(r - x0, 0), min(X - x0 + r, nx + 2 * r)  # buf[i] holds column x0 - r + i; unclamped in ia..ib
        for y in range(ya, yb):
            if flag:
                _nb_pack_ids_row(ph, src, p, y, x0 - r, ia, ib, buf, bid, none)
            else:
                for i in range(ia, ib):
                    buf[i] = np.int64(1) << np.int64(8 * ph[p, y, x0 - r + i])
            for i in range(ia):
                buf[i], bid[2 * i], bid[2 * i + 1] = buf[ia], bid[2 * ia], bid[2 * ia + 1]
            for i in range(ib, nx + 2 * r):
                buf[i], bid[2 * i], bid[2 * i + 1] = buf[ib - 1], bid[2 * ib - 2], bid[2 * ib - 1]
            row = rx[y - ya]
            for x in range(nx):
                row[x] = buf[x]
            for d in range(1, w):
                for x in range(nx):
                    row[x] += buf[x + d]
            if flag:
                rowid = rid[y - ya]
                for x in range(2 * nx):
                    rowid[x] = bid[x]
                for d in range(2, 2 * w, 2):
                    for x in range(2 * nx):
                        rowid[x] = max(rowid[x], bid[x + d])
        for y in range(y0, y1):
            out = sq[y - y0]
            k = min(max(y - r, 0), Y - 1) - ya
            first = rx[k]
            for x in range(nx):
                out[x] = first[x]
            for d in range(-r + 1, r + 1):
                other = rx[min(max(y + d, 0), Y - 1) - ya]
                for x in range(nx):
                    out[x] += other[x]
            if flag:
                oid = sid[y - y0]
                fid = rid[k]
                for x in range(2 * nx):
                    oid[x] = fid[x]
                for d in range(-r + 1, r + 1):
                    other_id = rid[min(max(y + d, 0), Y - 1) - ya]
                    for x in range(2 * nx):
                        oid[x] = max(oid[x], other_id[x])

    @numba.njit(cache=True, nogil=True)
    def _nb_interior_sums_packed(g, ph, r, lo, hi, shift, strip, n, s1, s2):
        """:func:`_nb_interior_sums` for phases < 8 and boxes < 256 voxels: the box is constant where its packed
        phase counts (:func:`_nb_square_packed`, summed over the ``2r + 1`` planes) are all of one phase."""
        Z = ph.shape[0]
        w = 2 * r + 1
        n_nb = np.int64(w * w * w)
        P = n.size
        bad = np.int64(-1)
        x0, x1 = lo[2], hi[2]
        nx = x1 - x0
        S = max(1, min(strip, hi[1] - lo[1]))
        ring8 = np.zeros((w, S, nx), np.int64)
        buf = np.zeros(nx + 2 * r, np.int64)
        rx = np.zeros((S + 2 * r, nx), np.int64)
        box = np.zeros(nx, np.int64)
        slots = np.zeros(w, np.int64)
        have = np.full(w, -1, np.int64)
        for ys in range(lo[1], hi[1], S):
            ye = min(ys + S, hi[1])
            have[:] = -1
            for z in range(lo[0], hi[0]):
                for d in range(w):
                    p = min(max(z + d - r, 0), Z - 1)
                    slots[d] = p % w
                    if have[p % w] != p:
                        _nb_square_packed(ph, p, r, ys, ye, x0, x1, buf, rx, ring8[p % w])
                        have[p % w] = p
                for y in range(ys, ye):
                    first = ring8[slots[0], y - ys]
                    for x in range(nx):
                        box[x] = first[x]
                    for d in range(1, w):
                        other = ring8[slots[d], y - ys]
                        for x in range(nx):
                            box[x] += other[x]
                    for x in range(x0, x1):
                        q = np.int64(ph[z, y, x])
                        if box[x - x0] != n_nb << np.int64(8 * q):
                            continue
                        if q >= P:
                            bad = q
                            continue
                        v = np.float64(g[z, y, x]) - shift
                        n[q] += 1
                        s1[q] += v
                        s2[q] += v * v
        return bad

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_count(ph, z, y, x, r, cnt):
        Z, Y, X = ph.shape
        cnt[:] = 0
        for dz in range(-r, r + 1):
            zz = min(max(z + dz, 0), Z - 1)
            for dy in range(-r, r + 1):
                yy = min(max(y + dy, 0), Y - 1)
                for dx in range(-r, r + 1):
                    xx = min(max(x + dx, 0), X - 1)
                    cnt[ph[zz, yy, xx]] += 1

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_owner3(ph, src, z, y, x, q):
        """Largest ``src`` among the 27 neighbours of phase ``q`` of a voxel off the array's edge (branchless:
        ``(src + 1)`` where the phase matches, else 0; the maximum, minus 1)."""
        best = np.int64(0)
        for zz in range(z - 1, z + 2):
            for yy in range(y - 1, y + 2):
                for xx in range(x - 1, x + 2):
                    best = max(best, (np.int64(src[zz, yy, xx]) + 1) * np.int64(ph[zz, yy, xx] == q))
        return best - 1

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_owner(ph, src, z, y, x, r, q):
        """Largest ``src`` among the neighbours of phase ``q`` (edge-clamped; -1 where there is none)."""
        Z, Y, X = ph.shape
        if r <= z < Z - r and r <= y < Y - r and r <= x < X - r:
            # off the array's edge: branchless, ``(src + 1)`` where the phase matches, else 0; the maximum, minus 1
            best = np.int64(0)
            for zz in range(z - r, z + r + 1):
                for yy in range(y - r, y + r + 1):
                    for xx in range(x - r, x + r + 1):
                        best = max(best, (np.int64(src[zz, yy, xx]) + 1) * np.int64(ph[zz, yy, xx] == q))
            return best - 1
        owner = np.int64(-1)
        for dz in range(-r, r + 1):
            zz = min(max(z + dz, 0), Z - 1)
            for dy in range(-r, r + 1):
                yy = min(max(y + dy, 0), Y - 1)
                for dx in range(-r, r + 1):
                    xx = min(max(x + dx, 0), X - 1)
                    if ph[zz, yy, xx] == q:
                        o = np.int64(src[zz, yy, xx])
                        if o > owner:
                            owner = o
        return owner

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_shares(ph, z, y, x, r, W, hh):
        """``hh[p]`` = the weight ``W`` (the model's blur over the box, in offset order) of the phase-``p``
        voxels of the box around (z, y, x), edge-clamped."""
        Z, Y, X = ph.shape
        hh[:] = 0.0
        k = 0
        for dz in range(-r, r + 1):
            zz = min(max(z + dz, 0), Z - 1)
            for dy in range(-r, r + 1):
                yy = min(max(y + dy, 0), Y - 1)
                for dx in range(-r, r + 1):
                    xx = min(max(x + dx, 0), X - 1)
                    hh[ph[zz, yy, xx]] += W[k]
                    k += 1

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_shares_owners(ph, src, z, y, x, r, W, hh, own):
        """:func:`_nb_shares` and, in the same scan, ``own[p]`` = the largest ``src`` among the phase-``p`` voxels of
        the box (-1 where none): the predicted tail of a voxel without a partner in its measured neighbourhood."""
        Z, Y, X = ph.shape
        hh[:] = 0.0
        own[:] = -1
        k = 0
        for dz in range(-r, r + 1):
            zz = min(max(z + dz, 0), Z - 1)
            for dy in range(-r, r + 1):
                yy = min(max(y + dy, 0), Y - 1)
                for dx in range(-r, r + 1):
                    xx = min(max(x + dx, 0), X - 1)
                    q = ph[zz, yy, xx]
                    hh[q] += W[k]
                    o = np.int64(src[zz, yy, xx])
                    if o > own[q]:
                        own[q] = o
                    k += 1

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_count_taxi(ph, z, y, x, r, cnt):
        """``cnt[p]`` = voxels of phase ``p`` within taxicab distance ``r`` of (z, y, x) (edge-clamped): the measured
        neighbourhood of the unclipped rule (``partial_volume_unmix.measured_mask``)."""
        Z, Y, X = ph.shape
        cnt[:] = 0
        for dz in range(-r, r + 1):
            zz = min(max(z + dz, 0), Z - 1)
            ry = r - abs(dz)
            for dy in range(-ry, ry + 1):
                yy = min(max(y + dy, 0), Y - 1)
                rx = ry - abs(dy)
                for dx in range(-rx, rx + 1):
                    xx = min(max(x + dx, 0), X - 1)
                    cnt[ph[zz, yy, xx]] += 1

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_owner_taxi(ph, src, z, y, x, r, q, fast, mxo):
        """Largest ``src`` among the voxels of phase ``q`` within taxicab distance ``r`` (edge-clamped); from the
        box's ids when ``fast`` (one particle id in the cube besides the background: also the taxicab ball's)."""
        if fast:
            return mxo if q != 0 else np.int64(0)
        Z, Y, X = ph.shape
        owner = np.int64(-1)
        for dz in range(-r, r + 1):
            zz = min(max(z + dz, 0), Z - 1)
            ry = r - abs(dz)
            for dy in range(-ry, ry + 1):
                yy = min(max(y + dy, 0), Y - 1)
                rx = ry - abs(dy)
                for dx in range(-rx, rx + 1):
                    xx = min(max(x + dx, 0), X - 1)
                    if ph[zz, yy, xx] == q:
                        o = np.int64(src[zz, yy, xx])
                        if o > owner:
                            owner = o
        return owner

    @numba.njit(cache=True, nogil=True)
    def _nb_phase_bits(ph, rt):
        """``out[v]`` = the OR of ``1 << phase`` over the box of radius ``rt`` around ``v`` (edge-clamped, phases
        < 8; separable: x, then y, then z)."""
        Z, Y, X = ph.shape
        a = np.empty((Z, Y, X), np.uint8)
        for z in range(Z):
            for y in range(Y):
                for x in range(X):
                    v = np.int64(0)
                    for xx in range(max(x - rt, 0), min(x + rt, X - 1) + 1):
                        v |= np.int64(1) << np.int64(ph[z, y, xx])
                    a[z, y, x] = v
        b = np.empty_like(a)
        for z in range(Z):
            for y in range(Y):
                for x in range(X):
                    v = np.int64(0)
                    for yy in range(max(y - rt, 0), min(y + rt, Y - 1) + 1):
                        v |= np.int64(a[z, yy, x])
                    b[z, y, x] = v
        for z in range(Z):
            for y in range(Y):
                for x in range(X):
                    v = np.int64(0)
                    for zz in range(max(z - rt, 0), min(z + rt, Z - 1) + 1):
                        v |= np.int64(b[zz, y, x])
                    a[z, y, x] = v
        return a

    @numba.njit(cache=True, nogil=True)
    def _nb_class_plane(ph, src, flag, p, R, y0, y1, x0, x1, terms, buf, bid, cx, rid, out, orp, sid):
        """The blur shares' plane sums: ``out[c, y - y0, x - x0]`` = the counts of every phase (< 7) among the voxels
        of plane ``p`` at ``(|dy|, |dx|)`` = 2D class ``c`` (``(j, k)`` either order: the blur is the same along y and
        x) from core voxel (y, x), packed in 8-bit fields (``1 << 8 q`` per voxel of phase q; edge-clamped).
        Separable: the row classes ``|dx| = k`` (``cx[k]``), then ``out[c] = sum cx[k](y + dy)`` over the rows
        ``terms[t] = (c, k, dy)`` (the first term of a class assigns); ``orp[y - y0, x - x0]`` = their OR (a field is
        not 0 where the square holds the phase). When ``flag``: field 7 counts the voxels whose
        particle is the background but whose phase is not the void or the other way round, and ``sid[y, 2 x]`` is the
        largest ``src`` over the ``(2R+1)^2`` square, ``-sid[y, 2 x + 1]`` the smallest other than 0 (as
        :func:`_nb_square_ids`)."""
        Z, Y, X = ph.shape
        ya, yb = max(y0 - R, 0), min(y1 + R, Y)
        nx = x1 - x0
        w = 2 * R + 1
        none = np.int32(-2147483647)
        ia, ib = max(R - x0, 0), min(X - x0 + R, nx + 2 * R)  # buf[i] holds column x0 - R + i; unclamped in ia..ib
        for y in range(ya, yb):
            yr = y - ya
            if flag:
                _nb_pack_ids_row(ph, src, p, y, x0 - R, ia, ib, buf, bid, none)
                for i in range(ia):
                    bid[2 * i], bid[2 * i + 1] = bid[2 * ia], bid[2 * ia + 1]
                for i in range(ib, nx + 2 * R):
                    bid[2 * i], bid[2 * i + 1] = bid[2 * ib - 2], bid[2 * ib - 1]
                for x in range(2 * nx):
                    rid[yr, x] = bid[x]
                for d in range(2, 2 * w, 2):
                    for x in range(2 * nx):
                        rid[yr, x] = max(rid[yr, x], bid[x + d])
            else:
                for i in range(ia, ib):
                    buf[i] = np.int64(1) << np.int64(8 * ph[p, y, x0 - R + i])
            for i in range(ia):
                buf[i] = buf[ia]
            for i in range(ib, nx + 2 * R):
                buf[i] = buf[ib - 1]
            for x in range(nx):
                cx[0, yr, x] = buf[x + R]
            for k in range(1, R + 1):
                for x in range(nx):
                    cx[k, yr, x] = buf[x + R - k] + buf[x + R + k]
        for y in range(y0, y1):
            yo = y - y0
            for t in range(terms.shape[0]):
                c, k, dy = terms[t, 0], terms[t, 1], terms[t, 2]
                yy = min(max(y + dy, 0), Y - 1) - ya
                if t == 0 or terms[t - 1, 0] != c:
                    for x in range(nx):
                        out[c, yo, x] = cx[k, yy, x]
                else:
                    for x in range(nx):
                        out[c, yo, x] += cx[k, yy, x]
            for x in range(nx):
                orp[yo, x] = out[0, yo, x]
            for c in range(1, out.shape[0]):
                for x in range(nx):
                    orp[yo, x] |= out[c, yo, x]
            if flag:
                for x in range(2 * nx):
                    sid[yo, x] = rid[min(max(y - R, 0), Y - 1) - ya, x]
                for dy in range(-R + 1, R + 1):
                    yy = min(max(y + dy, 0), Y - 1) - ya
                    for x in range(2 * nx):
                        sid[yo, x] = max(sid[yo, x], rid[yy, x])

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_row_owner(ringid2, slots2, yi, totr, idm, fo):
        """The owner shortcut of one core row, once for all its voxels: ``fo[x]`` = the box's one particle id besides
        the background (0: none) where the box out to the ring (``2 R + 1`` = ``slots2.size`` planes of the id planes
        ``ringid2`` of :func:`_nb_class_plane`) holds at most one and its void is exactly its background (the flag
        field of ``totr`` clear), else -1 (the owner needs a scan). ``idm``: scratch, ``2 nx`` int32."""
        nx = fo.size
        r0 = ringid2[slots2[0], yi]
        for i in range(2 * nx):
            idm[i] = r0[i]
        for d in range(1, slots2.size):
            rd = ringid2[slots2[d], yi]
            for i in range(2 * nx):
                idm[i] = max(idm[i], rd[i])
        for x in range(nx):
            mx = np.int64(idm[2 * x])
            nm = np.int64(idm[2 * x + 1])
            ok = ((totr[x] >> np.int64(56)) == 0) & ((mx == 0) | (-nm == mx))
            fo[x] = mx if ok else np.int64(-1)

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_row_or(O2, slots2, yi, totr):
        """One core row of the box of radius ``R`` (``2 R + 1`` = ``slots2.size`` planes of the ring): ``totr[x]`` = the
        OR of the planes' ORs ``O2`` (a field is not 0 where the box holds the phase; field 7: the flag of
        :func:`_nb_class_plane`)."""
        nx = totr.size
        o0 = O2[slots2[0], yi]
        for x in range(nx):
            totr[x] = o0[x]
        for d in range(1, slots2.size):
            od = O2[slots2[d], yi]
            for x in range(nx):
                totr[x] |= od[x]

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_float_row(K2s, w2, p, yi, o):
        """Row ``yi`` of one plane's float sums for phase ``p``: ``o[x]`` = the blur in (y, x) of the phase-``p``
        voxels of one plane (its packed 2D class counts ``K2s[c]`` weighted by ``w2[c]``; the same operations in the
        same order)."""
        sh = np.int64(8 * p)
        nx = o.size
        w0 = w2[0]
        if K2s.shape[0] == 6:  # the box of radius 2 (radius 1): one pass, the same operations in the same order
            k0, k1, k2, k3, k4, k5 = K2s[0, yi], K2s[1, yi], K2s[2, yi], K2s[3, yi], K2s[4, yi], K2s[5, yi]
            w1, w2_, w3, w4, w5 = w2[1], w2[2], w2[3], w2[4], w2[5]
            for x in range(nx):
                v = w0 * np.float64((k0[x] >> sh) & 255)
                v += w1 * np.float64((k1[x] >> sh) & 255)
                v += w2_ * np.float64((k2[x] >> sh) & 255)
                v += w3 * np.float64((k3[x] >> sh) & 255)
                v += w4 * np.float64((k4[x] >> sh) & 255)
                v += w5 * np.float64((k5[x] >> sh) & 255)
                o[x] = v
            return
        for x in range(nx):
            o[x] = w0 * np.float64((K2s[0, yi, x] >> sh) & 255)
        for c in range(1, K2s.shape[0]):
            wc = w2[c]
            for x in range(nx):
                o[x] += wc * np.float64((K2s[c, yi, x] >> sh) & 255)

    @numba.njit(cache=True, nogil=True, **_NO_NRT)
    def _nb_class_row(g, ph, src, lut, z, y, yi, x0, r, rt, levels, cmask8, flag, K2, O2, ringid2, slots2, taxi, w2,
                      wz, F2, fdone, totr, cinr, xs, idm, fo, hh, dump, delta):
        """One core row of the unclipped rule on the class planes (phases < 7; the rule of the numpy reference
        ``partial_volume_unmix._unmix_linear``). The row's candidates from the planes' ORs (:func:`_nb_row_or`) and
        its taxicab counts (:func:`taxi_terms`) in vector passes; its voxels listed by kind in two branch-free passes
        (the predicted tail: no candidate in the measured ball, some in the box; the measured ones: a candidate in
        the ball; the rest, most of the volume, never visited); the planes' float sums (:func:`_nb_float_row`) only
        for the phases that are candidates of the row's voxels, once per plane and row. Returns the shares moved."""
        P = levels.size
        nx = totr.size
        nl = lut.size
        wt = slots2.size
        _nb_row_or(O2, slots2, yi, totr)
        for x in range(nx):
            cinr[x] = 0
        for t in range(taxi.shape[0]):
            kt = K2[slots2[taxi[t, 0]], taxi[t, 1], yi]
            for x in range(nx):
                cinr[x] += kt[x]
        need = np.int64(0)
        n1 = 0
        for x in range(nx):
            ma = cmask8[np.int64(ph[z, y, x0 + x])]
            cb = totr[x] & ma
            keep = ((cinr[x] & ma) == 0) & (cb != 0)
            xs[n1] = x
            n1 += np.int64(keep)
            need |= cb
        if need == 0:
            return 0
        nm = n1
        for x in range(nx):
            ma = cmask8[np.int64(ph[z, y, x0 + x])]
            xs[nm] = x
            nm += np.int64((cinr[x] & ma) != 0)
        # the float sums of the planes of the box for the phases the row needs (formed once per plane and row)
        for p in range(P):
            if (need >> np.int64(8 * p)) & 255 == 0:
                continue
            for d in range(wt):
                sd = slots2[d]
                if fdone[sd, p, yi] == 0:
                    _nb_float_row(K2[sd], w2, p, yi, F2[sd, p, yi])
                    fdone[sd, p, yi] = 1
        if flag:
            _nb_row_owner(ringid2, slots2, yi, totr, idm, fo)
        moved = 0
        # the predicted tail: each candidate p of the box takes its blur share from the own phase a, to the
        # particle of its voxels (the row's owner shortcut, else a scan)
        for ix in range(n1):
            xi = xs[ix]
            x = x0 + xi
            a = np.int64(ph[z, y, x])
            tot = totr[xi]
            cands = tot & cmask8[a]
            own = np.int64(src[z, y, x])
            orow = lut[own] if 0 <= own < nl else dump
            ring_ids = flag and (tot >> np.int64(56)) == 0
            for p in range(P):
                if (cands >> np.int64(8 * p)) & 255 == 0:
                    continue
                h = wz[0] * F2[slots2[0], p, yi, xi]
                for d in range(1, wt):
                    h += wz[d] * F2[slots2[d], p, yi, xi]
                if h == 0.0:
                    continue
                delta[orow, a] -= h
                if ring_ids:
                    owner = np.int64(0) if p == 0 else (fo[xi] if fo[xi] >= 0 else _nb_owner(ph, src, z, y, x, rt, p))
                else:
                    owner = _nb_owner(ph, src, z, y, x, rt, p)
                delta[lut[owner] if 0 <= owner < nl else dump, p] += h
                moved += 1
        # the measured voxels: unmixed from the grey value against the main partner of the ball (the same partners
        # and float operations, in the same order, as the general branch of _nb_soft_deltas)
        for ix in range(n1, nm):
            xi = xs[ix]
            x = x0 + xi
            a = np.int64(ph[z, y, x])
            ma = cmask8[a]
            cin = cinr[xi] & ma
            tot = totr[xi]
            cbox = tot & ma
            la = levels[a]
            # the main partner: the largest candidate phase of the measured neighbourhood
            b = (63 - _leading_zeros(cin)) >> 3
            # a 0x80 bit per field that is not 0: several candidates in the box?
            nzf = (((cbox & _LOW7) + _LOW7) | cbox) & _HIGH1
            ncand = 1
            if nzf & (nzf - 1) != 0:
                ncand = 0
                for p in range(P):
                    hh[p] = 0.0
                    if (cbox >> np.int64(8 * p)) & 255 != 0:
                        h = wz[0] * F2[slots2[0], p, yi, xi]
                        for d in range(1, wt):
                            h += wz[d] * F2[slots2[d], p, yi, xi]
                        hh[p] = h
                        if h != 0.0:
                            ncand += 1
            d = np.float64(g[z, y, x]) - la
            if ncand >= 2:
                best = -1.0
                for p in range(P):
                    if hh[p] == 0.0 or (cin >> np.int64(8 * p)) & 255 == 0:
                        continue
                    sc = hh[p] * abs(levels[p] - la)
                    if sc > best:
                        best = sc
                        b = p
                for p in range(P):
                    if p != b and hh[p] != 0.0:
                        d -= (levels[p] - la) * hh[p]
            share_b = d / (levels[b] - la)
            own = np.int64(src[z, y, x])
            orow = lut[own] if 0 <= own < nl else dump
            # one particle id in the box out to the ring (also the measured ball's) besides the background, void
            # exactly where the background is (_nb_row_owner); else the scan
            mxo = fo[xi] if flag else np.int64(-1)
            fast = mxo >= 0
            if share_b != 0.0:
                delta[orow, a] -= share_b
                if fast:
                    owner = mxo if b != 0 else np.int64(0)
                else:
                    owner = _nb_owner_taxi(ph, src, z, y, x, r, b, False, mxo)
                delta[lut[owner] if 0 <= owner < nl else dump, b] += share_b
                moved += 1
            if ncand >= 2:
                for p in range(P):
                    if p != b and hh[p] != 0.0:
                        delta[orow, a] -= hh[p]
                        if fast:
                            # the row's shortcut: the background for the void, else the box's one id (also the
                            # ball's)
                            owner = mxo if p != 0 else np.int64(0)
                        elif (cin >> np.int64(8 * p)) & 255 != 0:
                            owner = _nb_owner_taxi(ph, src, z, y, x, r, p, False, mxo)
                        elif p == 0 and flag and (tot >> np.int64(56)) == 0:
                            owner = np.int64(0)
                        else:
                            owner = _nb_owner(ph, src, z, y, x, rt, p)
                        delta[lut[owner] if 0 <= owner < nl else dump, p] += hh[p]
        return moved

    @numba.njit(cache=True, nogil=True)
    def _nb_soft_deltas(g, ph, src, lut, r, rt, lo, hi, levels, known, sig, min_contrast, clip, strip, fast_owner,
                        W, bits, wide, cls, terms, taxi, w2, wz, delta):
        Z, Y, X = ph.shape
        P = levels.size
        w = 2 * r + 1
        n_nb = w * w * w
        cnt = np.zeros(P, np.int64)
        hh = np.zeros(P)
        owns = np.zeros(P, np.int64)
        packed = P <= 8 and n_nb < 256
        # field 7 of the packed counts (free when P < 8): voxels of the background particle that are not void, or
        # void voxels of a particle; where there are none and the box holds one particle id besides the
        # background, the partner's particle follows from the partner phase without a scan of the neighbours
        flag = P < 8 and fast_owner
        cmask = (np.int64(1) << np.int64(56)) - 1 if flag else np.int64(-1)
        thr = max(min_contrast * sig, 1e-9)
        sdiv = sig if sig > 0 else 1.0
        below = np.zeros(P, np.uint8)  # a known phase with a level below (above) L_a by more than the threshold
        above = np.zeros(P, np.uint8)
        pair = np.zeros((P, P), np.uint8)  # 1: phase a can be unmixed against p (both known, contrast > thr)
        cmask8 = np.zeros(P, np.int64)  # the 8-bit fields of the packed counts of the phases a can be unmixed against
        for a in range(P):
            for p in range(P):
                if p != a and known[a] and known[p] and abs(levels[a] - levels[p]) > thr:
                    pair[a, p] = 1
                    if p < 7:
                        cmask8[a] |= np.int64(255) << np.int64(8 * p)
                    if levels[p] < levels[a]:
                        below[a] = 1
                    else:
                        above[a] = 1
        x0, x1 = lo[2], hi[2]
        nx = x1 - x0
        S = max(1, min(strip, hi[1] - lo[1]))
        ring = np.zeros((0 if packed else w, S, nx), np.uint8)
        ring8 = np.zeros((w if packed and not cls else 0, S, nx), np.int64)
        ringid = np.zeros((w if packed and flag and not cls else 0, S, 2 * nx), np.int32)
        buf = np.zeros(nx + 2 * r, np.int64)
        bid = np.zeros(2 * (nx + 2 * r), np.int32)
        rx = np.zeros((S + 2 * r, nx), np.int64)
        rid = np.zeros((S + 2 * r, 2 * nx), np.int32)
        box = np.zeros(nx, np.int64)
        slots = np.zeros(w, np.int64)
        have = np.full(w, -1, np.int64)
        const = np.ones((S, nx), np.uint8)
        # cls: the blur shares of the box of radius rt from plane sums per distance class (_nb_class_plane), kept in
        # a ring of 2 rt + 1 planes (P < 8, unclipped rule) instead of a gather of the (2 rt + 1)^3 neighbours
        wt = 2 * rt + 1
        K2 = np.zeros((wt if cls else 0, w2.size, S, nx), np.int64)
        O2 = np.zeros((wt if cls else 0, S, nx), np.int64)
        cx = np.zeros((rt + 1 if cls else 0, S + 2 * rt, nx), np.int64)
        buf2 = np.zeros(nx + 2 * rt, np.int64)
        bid2 = np.zeros(2 * (nx + 2 * rt), np.int32)
        rid2 = np.zeros((S + 2 * rt if cls and flag else 0, 2 * nx), np.int32)
        ringid2 = np.zeros((wt if cls and flag else 0, S, 2 * nx), np.int32)
        slots2 = np.zeros(wt, np.int64)
        have2 = np.full(wt, -1, np.int64)
        # the blur shares of every core voxel of a row, from per-plane float sums per phase (_nb_float_row)
        F2 = np.zeros((wt if cls else 0, P, S, nx))
        fdone = np.zeros((wt if cls else 0, P, S), np.uint8)  # 1: row (slot, phase, y) of F2 formed
        cinr = np.zeros(nx if cls else 0, np.int64)
        totr = np.zeros(nx if cls else 0, np.int64)
        xs = np.zeros(nx + 1 if cls else 0, np.int64)
        idm = np.zeros(2 * nx if cls and flag else 0, np.int32)
        fo = np.full(nx if cls else 0, -1, np.int64)
        slo = lo.copy()
        shi = hi.copy()
        moved = 0
        nl = lut.size
        dump = delta.shape[0] - 1
        # y strips of S rows, each streamed plane by plane: the ring of plane sums stays in the cache
        for ys in range(lo[1], hi[1], S):
            ye = min(ys + S, hi[1])
            slo[1] = ys
            shi[1] = ye
            have[:] = -1
            have2[:] = -1
            for z in range(lo[0], hi[0]):
                if cls:
                    for d in range(wt):
                        p = min(max(z + d - rt, 0), Z - 1)
                        slots2[d] = p % wt
                        if have2[p % wt] != p:
                            _nb_class_plane(ph, src, flag, p, rt, ys, ye, x0, x1, terms, buf2, bid2, cx, rid2,
                                            K2[p % wt], O2[p % wt], ringid2[p % wt] if flag else rid2)
                            # the plane's float sums per phase are formed row by row where a row needs them
                            fdone[p % wt] = 0
                            have2[p % wt] = p
                if packed and not cls:
                    for d in range(w):
                        p = min(max(z + d - r, 0), Z - 1)
                        slots[d] = p % w
                        if have[p % w] != p:
                            _nb_square_ids(ph, src, flag, p, r, ys, ye, x0, x1, buf, bid, rx, rid, ring8[p % w],
                                           ringid[p % w] if flag else rid)
                            have[p % w] = p
                elif not packed:
                    _nb_const_plane(ph, r, slo, shi, z, ring, have, const[: ye - ys])
                for y in range(ys, ye):
                    yi = y - ys
                    if cls:
                        moved += _nb_class_row(g, ph, src, lut, z, y, yi, x0, r, rt, levels, cmask8, flag, K2, O2,
                                               ringid2, slots2, taxi, w2, wz, F2, fdone, totr, cinr, xs, idm, fo,
                                               hh, dump, delta)
                        continue
                    if packed:
                        first = ring8[slots[0], yi]
                        for x in range(nx):
                            box[x] = first[x]
                        for d in range(1, w):
                            other = ring8[slots[d], yi]
                            for x in range(nx):
                                box[x] += other[x]
                    for ix in range(nx):
                        x = x0 + ix
                        a = np.int64(ph[z, y, x])
                        c8 = np.int64(0)
                        if packed:
                            c8 = box[x - x0]
                            mconst = (c8 & cmask) == np.int64(n_nb) << np.int64(8 * a)
                        else:
                            mconst = const[yi, x - x0] == 1
                        if mconst:
                            # a constant measured box: only the unclipped rule's predicted tail, where the ring
                            # holds a phase a can be unmixed against
                            if clip or rt <= r or not known[a]:
                                continue
                            if bits.size:
                                bv = np.int64(bits[z, y, x])
                                hit = False
                                for p in range(P):
                                    if pair[a, p] == 1 and (bv >> p) & 1 == 1:
                                        hit = True
                                if not hit:
                                    continue
                            elif wide[z - lo[0], y - lo[1], x - lo[2]] == 0:
                                continue
                            _nb_shares_owners(ph, src, z, y, x, rt, W, hh, owns)
                            own = np.int64(src[z, y, x])
                            orow = lut[own] if 0 <= own < nl else dump
                            for p in range(P):
                                if pair[a, p] == 1 and hh[p] != 0.0:
                                    delta[orow, a] -= hh[p]
                                    owner = owns[p]
                                    delta[lut[owner] if 0 <= owner < nl else dump, p] += hh[p]
                                    moved += 1
                            continue
                        if not known[a]:
                            continue
                        gv = np.float64(g[z, y, x])
                        la = levels[a]
                        # clipped fractions: every partner p would give f = (g - L_p) / (L_a - L_p) >= 1 when g
                        # lies at or beyond L_a on the side away from all the phases it could be unmixed with
                        if clip and (below[a] == 0 or gv >= la) and (above[a] == 0 or gv <= la):
                            continue
                        if not packed:
                            _nb_count(ph, z, y, x, r, cnt)
                        if not clip:
                            # unclipped rule (numpy reference: partial_volume_unmix._unmix_linear): the main
                            # partner from the measured neighbourhood (taxicab radius r), the blur of the rest of
                            # the box out to rt predicted
                            # (the class path, phases < 7, has its own branch above)
                            _nb_count_taxi(ph, z, y, x, r, cnt)
                            nin = 0
                            b = a
                            for p in range(P):
                                if pair[a, p] == 0:
                                    continue
                                cp = cnt[p]
                                if cp > 0:
                                    nin += 1
                                    b = p
                            if nin == 0:
                                if rt > r:  # candidates in the ring only: their predicted shares
                                    _nb_shares_owners(ph, src, z, y, x, rt, W, hh, owns)
                                    own = np.int64(src[z, y, x])
                                    orow = lut[own] if 0 <= own < nl else dump
                                    for p in range(P):
                                        if pair[a, p] == 1 and hh[p] != 0.0:
                                            delta[orow, a] -= hh[p]
                                            owner = owns[p]
                                            delta[lut[owner] if 0 <= owner < nl else dump, p] += hh[p]
                                            moved += 1
                                continue
                            ncand = nin
                            if bits.size and nin == 1:
                                # the phases of the whole box (bits): a candidate beyond the measured box?
                                bv = np.int64(bits[z, y, x])
                                for p in range(P):
                                    if pair[a, p] == 1 and (bv >> p) & 1 == 1 and p != b:
                                        ncand = 2
                                        break
                            if nin >= 2 or (ncand >= 2 or bits.size == 0) and rt > r:
                                _nb_shares(ph, z, y, x, rt, W, hh)
                                ncand = 0
                                for p in range(P):
                                    if pair[a, p] == 1 and hh[p] != 0.0:
                                        ncand += 1
                            d = gv - la
                            if ncand >= 2:
                                best = -1.0
                                for p in range(P):
                                    if pair[a, p] == 0 or hh[p] == 0.0:
                                        continue
                                    if cnt[p] == 0:
                                        continue
                                    sc = hh[p] * abs(levels[p] - la)
                                    if sc > best:
                                        best = sc
                                        b = p
                                for p in range(P):
                                    if p != b and pair[a, p] == 1 and hh[p] != 0.0:
                                        d -= (levels[p] - la) * hh[p]
                            share_b = d / (levels[b] - la)
                            own = np.int64(src[z, y, x])
                            orow = lut[own] if 0 <= own < nl else dump
                            fast = False
                            mxo = np.int64(0)
                            if packed and flag and (c8 >> np.int64(56)) == 0:
                                xi = 2 * (x - x0)
                                mxo = np.int64(ringid[slots[0], yi, xi])
                                nmo = np.int64(ringid[slots[0], yi, xi + 1])
                                for d2 in range(1, w):
                                    mxo = max(mxo, np.int64(ringid[slots[d2], yi, xi]))
                                    nmo = max(nmo, np.int64(ringid[slots[d2], yi, xi + 1]))
                                fast = mxo == 0 or -nmo == mxo
                            if share_b != 0.0:
                                delta[orow, a] -= share_b
                                owner = _nb_owner_taxi(ph, src, z, y, x, r, b, fast, mxo)
                                delta[lut[owner] if 0 <= owner < nl else dump, b] += share_b
                                moved += 1
                            if ncand >= 2:
                                for p in range(P):
                                    if p != b and pair[a, p] == 1 and hh[p] != 0.0:
                                        delta[orow, a] -= hh[p]
                                        if cnt[p] > 0:
                                            owner = _nb_owner_taxi(ph, src, z, y, x, r, p, fast, mxo)
                                        else:  # a phase of the ring only: its particle from a scan of the ring
                                            owner = _nb_owner(ph, src, z, y, x, rt, p)
                                        delta[lut[owner] if 0 <= owner < nl else dump, p] += hh[p]
                            continue
                        best_cost = np.inf
                        best_p = a
                        best_f = 1.0
                        for p in range(P):
                            if pair[a, p] == 0:
                                continue
                            cp = (c8 >> np.int64(8 * p)) & 255 if packed else cnt[p]
                            if cp == 0:
                                continue
                            lp = levels[p]
                            diff = la - lp
                            f = (gv - lp) / diff
                            if clip:
                                f = min(max(f, 0.0), 1.0)
                            cost = abs(gv - (f * la + (1.0 - f) * lp)) / sdiv + (n_nb - cp) / n_nb
                            if cost < best_cost:
                                best_cost = cost
                                best_p = p
                                best_f = f
                        if best_p == a or best_f == 1.0:
                            continue
                        share = 1.0 - best_f
                        own = np.int64(src[z, y, x])
                        delta[lut[own] if 0 <= own < nl else dump, a] -= share
                        fast = False
                        mxo = np.int64(0)
                        if packed and flag and (c8 >> np.int64(56)) == 0:
                            # the box's largest id and smallest id other than the background, from the squares
                            xi = 2 * (x - x0)
                            mxo = np.int64(ringid[slots[0], yi, xi])
                            nmo = np.int64(ringid[slots[0], yi, xi + 1])
                            for d in range(1, w):
                                mxo = max(mxo, np.int64(ringid[slots[d], yi, xi]))
                                nmo = max(nmo, np.int64(ringid[slots[d], yi, xi + 1]))
                            fast = mxo == 0 or -nmo == mxo
                        if fast:
                            # one particle id in the box besides the background, void exactly where the
                            # background is: the partner's particle is the id, or the background for the void
                            owner = mxo if best_p != 0 else np.int64(0)
                        elif r == 1 and 0 < z < Z - 1 and 0 < y < Y - 1 and 0 < x < X - 1:
                            owner = _nb_owner3(ph, src, z, y, x, best_p)
                        else:
                            owner = _nb_owner(ph, src, z, y, x, r, best_p)
                        delta[lut[owner] if 0 <= owner < nl else dump, best_p] += share
                        moved += 1
        return moved


def constant_box(ph, r: int, *, lo=None, hi=None, engine: str = "auto") -> np.ndarray:
    """1 where the ``(2 r + 1)^3`` box of ``ph`` around a core voxel holds one label.

    Parameters
    ----------
    ph : ndarray of int, shape (Z, Y, X)
        Labels of a block and whatever halo it has; neighbours beyond the array are its edge values
        (edge replication, right at the volume border).
    r : int
        Box radius (>= 1).
    lo, hi : sequence of 3 int, optional
        The core ``ph[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]``; default a halo of ``r`` on every side.
    engine : {"auto", "numba", "numpy"}
        Kernel: separable plane flags in a ring buffer (numba), or min/max filters (numpy).

    Returns
    -------
    ndarray of uint8, shape of the core
    """
    lo, hi = _bounds(ph.shape, int(r), lo, hi)
    if (HAVE_NUMBA if engine == "auto" else engine == "numba"):
        return _nb_constant_core(np.ascontiguousarray(ph), int(r), lo, hi)
    return _np_constant_box(np.asarray(ph), int(r), lo, hi)


def interior_sums(g, ph, r: int, n_phases: int, shift: float, *, lo=None, hi=None, engine: str = "auto"):
    """Per phase: voxels, sum and sum of squares of ``g - shift`` over the core voxels with a constant box.

    ``g`` and ``ph`` are a block with its halo (see :func:`constant_box` for ``lo``, ``hi``); ``r = 0`` takes
    every core voxel. Returns ``(n, s1, s2, bad)``: ``bad`` is a phase id outside ``0..n_phases-1`` met
    (or -1).
    """
    r = int(r)
    lo, hi = _bounds(ph.shape, r, lo, hi)
    n = np.zeros(n_phases, np.int64)
    s1 = np.zeros(n_phases)
    s2 = np.zeros(n_phases)
    if (HAVE_NUMBA if engine == "auto" else engine == "numba"):
        g, ph = np.ascontiguousarray(g), np.ascontiguousarray(ph)
        if 0 < r <= 2 and ph.size and 0 <= int(ph.min()) and int(ph.max()) < 8:
            strip = max(2 * r + 1, STRIP_VOXELS // max(1, int(hi[2] - lo[2])))
            bad = _nb_interior_sums_packed(g, ph, r, lo, hi, float(shift), strip, n, s1, s2)
        else:
            bad = _nb_interior_sums(g, ph, r, lo, hi, float(shift), n, s1, s2)
        return n, s1, s2, int(bad)
    core = tuple(slice(a, b) for a, b in zip(lo, hi))
    ph = np.asarray(ph)
    sel = _np_constant_box(ph, r, lo, hi).astype(bool) if r > 0 else np.ones(ph[core].shape, bool)
    p = ph[core][sel].astype(np.int64)
    if p.size and (int(p.max()) >= n_phases or int(p.min()) < 0):
        return n, s1, s2, int(p.max()) if int(p.max()) >= n_phases else int(p.min())
    v = np.asarray(g)[core][sel].astype(np.float64) - shift
    return (np.bincount(p, minlength=n_phases), np.bincount(p, weights=v, minlength=n_phases),
            np.bincount(p, weights=v * v, minlength=n_phases), -1)


def soft_deltas(g, ph, src, lut, n_rows: int, r: int, levels, sig: float, min_contrast: float, clip: bool, *,
                lo=None, hi=None, sigma_eff: float = float("nan"), class_path: bool = True):
    """Sub-voxel corrections of one block, per local particle row and phase (numba only).

    Parameters
    ----------
    g, ph : ndarray, shape (Z, Y, X)
        Grey values and phase ids of the block with whatever halo it has (see :func:`constant_box`).
    src, lut : ndarray
        Particle rows: the row of a voxel is ``lut[src[voxel]]`` (``src >= 0``), the last row
        ``n_rows - 1`` where ``src[voxel] >= lut.size``; ``src`` increases with the particle id (the ids
        themselves with a lookup of all the ids, or :func:`liberation.stats._kernels.local_ids`), so the
        larger id wins a tie of owners.
    n_rows : int
        Rows of the result.
    r : int
        Neighbourhood radius.
    levels : ndarray of float64, shape (n_phases,)
        Grey levels (NaN: unknown, never unmixed).
    sig, min_contrast : float
        Pooled noise (grey) and the contrast below which two phases are not unmixed (noise units).
    clip : bool
        Clip fractions to [0, 1] and pick the partner by the residual; False: the unclipped rule with
        noise-independent partners (``partial_volume_unmix._unmix_linear``).
    lo, hi : sequence of 3 int, optional
        The core (default a halo of ``r``, ``r + 1`` for ``clip=False``: the ring of the blur tail).
    sigma_eff : float
        The model's effective edge blur (voxels; NaN: 0.8): splits the voxels where three phases meet.
    class_path : bool
        Unclipped rule, phases < 7: the blur shares (also the predicted tail's; per-plane float sums per phase,
        :func:`_nb_float_row`) and the taxicab counts of the measured neighbourhood from plane sums per distance
        class (:func:`class_tables`, :func:`taxi_terms`; default) instead of a gather of the ``(2 r + 3)^3`` neighbours and a scan of the taxicab ball (False: the
        gather, for tests).

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
    from liberation.stats.partial_volume_unmix import axis_weights, box_weights, halo

    rt = halo(int(r), bool(clip))  # the unclipped rule also reads the ring of the blur tail
    lo, hi = _bounds(ph.shape, rt, lo, hi)
    levels = np.asarray(levels, dtype=np.float64)
    ph = np.ascontiguousarray(ph)
    if ph.size:
        mn, mx = int(ph.min()), int(ph.max())
        if mx >= levels.size or mn < 0:
            return np.zeros((n_rows, levels.size)), 0, (mx if mx >= levels.size else mn)
    known = np.isfinite(levels)
    lv = np.where(known, levels, 0.0)
    src = np.ascontiguousarray(src)
    if src.dtype == np.uint64:
        src = src.astype(np.int64)
    delta = np.zeros((n_rows, lv.size))
    # the owner shortcut keeps the box's ids in int32 pairs (and needs particle id 0 = the background)
    fast_owner = bool(src.size == 0 or (int(src.min()) >= 0 and int(src.max()) < 2**31 - 1))
    W = box_weights(sigma_eff, rt)
    # the blur shares from plane sums per distance class (phases < 7, a packed measured box): see class_tables
    cls = bool(not clip and rt > int(r) and lv.size < 8 and (2 * int(r) + 1) ** 3 < 256 and class_path)
    nx = max(1, int(hi[2] - lo[2]))
    strip = max(2 * int(r) + 1, (CLASS_STRIP_VOXELS[rt] if cls and rt in CLASS_STRIP_VOXELS else STRIP_VOXELS) // nx)
    terms = class_tables(rt, W)[0] if cls else np.zeros((0, 3), np.int64)
    # else phases present in the box with the tail ring (P <= 8): the ring's blur is only summed where it holds a
    # candidate the measured box lacks
    bits = (_nb_phase_bits(ph, rt) if (not cls and not clip and rt > int(r) and lv.size <= 8)
            else np.zeros((0, 0, 0), np.uint8))
    # more than 8 phases: 1 where the box with the ring holds another label (the predicted tail of voxels whose
    # measured box is constant)
    wide = ((1 - _nb_constant_core(ph, rt, lo, hi)).astype(np.uint8) if (not clip and rt > int(r) and lv.size > 8)
            else np.zeros((0, 0, 0), np.uint8))
    taxi = taxi_terms(rt, int(r)) if cls else np.zeros((0, 2), np.int64)
    # the blur along one axis (wz, over the planes) and of one voxel of each 2D class (j, k) of class_tables (w2)
    wz = axis_weights(sigma_eff, rt)
    w2 = np.array([wz[rt + j] * wz[rt + k] for j in range(rt + 1) for k in range(j, rt + 1)]) if cls else np.zeros(0)
    moved = _nb_soft_deltas(np.ascontiguousarray(g), ph, src, lut, int(r), rt, lo, hi, lv, known,
                            float(sig if np.isfinite(sig) and sig > 0 else 0.0), float(min_contrast), bool(clip),
                            strip, fast_owner, W, bits, wide, cls, terms, taxi, w2, wz, delta)
    return delta, int(moved), None


def class_tables(R: int, W: np.ndarray):
    """Distance classes of the box of radius ``R`` for the blur shares of the numba kernel.

    The model's blur over the box is separable and the same along every axis (``W`` = ``w[|dz|] w[|dy|] w[|dx|]``,
    :func:`liberation.stats.partial_volume_unmix.box_weights`), so it depends only on the sorted distances
    ``(|dz|, |dy|, |dx|)``: the share of phase ``p`` is ``sum_c W3[c] n_c(p)`` with ``n_c(p)`` the phase-``p`` voxels
    of class ``c``, and ``n_c`` follows from per-plane sums over the 2D classes ``(|dy|, |dx|)``.

    Parameters
    ----------
    R : int
        Box radius.
    W : ndarray of float64, shape ((2 R + 1)^3,)
        The blur over the box in the order of ``offsets(R)``.

    Returns
    -------
    terms : ndarray of int64, shape (n_terms, 3)
        The rows summed into each 2D class ``c = (j, k)`` (``j <= k``, in order): ``(c, column class, dy)`` for
        the rows ``|dy| = j`` of the column class ``|dx| = k`` and, when ``j != k``, the rows ``|dy| = k`` of
        ``|dx| = j``.
    map3 : ndarray of int64, shape (R + 1, n2)
        The 3D class of ``|dz|`` and 2D class ``c``.
    W3 : ndarray of float64, shape (n3,)
        The blur of one voxel of each 3D class (the entry of ``W`` at the offset ``(t0, t1, t2)`` of the sorted
        class).
    """
    R = int(R)
    n = 2 * R + 1
    pairs = [(j, k) for j in range(R + 1) for k in range(j, R + 1)]
    triples = sorted({tuple(sorted((i, j, k))) for i in range(R + 1) for (j, k) in pairs})
    index = {t: c for c, t in enumerate(triples)}
    map3 = np.array([[index[tuple(sorted((i, j, k)))] for (j, k) in pairs] for i in range(R + 1)], np.int64)
    Wb = np.asarray(W, dtype=np.float64).reshape(n, n, n)
    W3 = np.array([Wb[R + t[0], R + t[1], R + t[2]] for t in triples])
    terms = []
    for c, (j, k) in enumerate(pairs):
        terms += [(c, k, dy) for dy in ((0,) if j == 0 else (j, -j))]
        if j != k:
            terms += [(c, j, dy) for dy in (k, -k)]
    return np.array(terms, np.int64).reshape(-1, 3), map3, W3


def taxi_terms(R: int, r: int) -> np.ndarray:
    """The taxicab ball of radius ``r`` (the unclipped rule's measured neighbourhood) as ``(plane d, 2D class c)``
    rows of the plane sums of :func:`class_tables` for the box of radius ``R`` (``d`` = ``dz + R``; class ``c`` =
    ``(j, k)``, ``j <= k``, in the order of :func:`class_tables`): every class with ``|dz| + j + k <= r``.

    Returns
    -------
    ndarray of int64, shape (n_terms, 2)
    """
    R, r = int(R), int(r)
    pairs = [(j, k) for j in range(R + 1) for k in range(j, R + 1)]
    rows = [(d, c) for d in range(2 * R + 1) for c, (j, k) in enumerate(pairs) if abs(d - R) + j + k <= r]
    return np.array(rows, np.int64).reshape(-1, 2)
