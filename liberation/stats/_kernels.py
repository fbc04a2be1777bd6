"""Single-pass kernels over one block of voxels (numba when importable, numpy otherwise).

A block is the *core* region ``[0:nz, 0:ny, 0:nx]`` of an extended array that may hold one
extra plane on the high side of each axis (the halo), so that every face-adjacent voxel pair
of the whole volume is counted exactly once: by the block whose core holds its lower voxel.

Outputs of :func:`sparse_block_tables` and :func:`numpy_block_tables` (``n_ids`` rows indexed
by the particle id or its local row, ``n_phases`` columns indexed by the phase id):

- ``counts[id, phase]``: voxels of each phase in each particle (row 0: outside particles).
- ``faces[id, qa, qb, axis]``: voxel faces normal to ``axis`` (0 z, 1 y, 2 x) between a voxel
  of particle ``id`` with phase ``qa`` and a voxel of the same particle with phase ``qb != qa``;
  ``qb == n_phases`` is a face to the outside of the particle (another particle, background or
  the volume border).
- ``bbox[id] = (z0, y0, x0, z1, y1, x1)`` global voxel indices, half-open; (big, ..., -1) when absent.
- ``bad``: number of voxels with a phase outside ``0..n_phases-1`` or a negative particle id,
  and ``bad_value``: one such phase value (or -1).
"""

from __future__ import annotations

import numpy as np

try:  # pragma: no cover - depends on the environment
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False

BIG = np.iinfo(np.int64).max


def empty_tables(n_ids: int, n_phases: int, *, faces: bool = True):
    """Zero tables for ``n_ids`` ids and ``n_phases`` phases."""
    counts = np.zeros((n_ids, n_phases), dtype=np.int64)
    face = np.zeros((n_ids, n_phases, n_phases + 1, 3) if faces else (0, 0, 0, 3), dtype=np.int64)
    bbox = np.empty((n_ids, 6), dtype=np.int64)
    bbox[:, :3] = BIG
    bbox[:, 3:] = -1
    return counts, face, bbox


def _np_composition(pid, ph, n_ids, n_phases, counts):
    key = pid.astype(np.int64, copy=False).ravel() * n_phases + ph.astype(np.int64, copy=False).ravel()
    counts += np.bincount(key, minlength=n_ids * n_phases).reshape(n_ids, n_phases)


def numpy_block_tables(pid_ext, ph_ext, core, offset, shape, n_ids, n_phases, *, with_faces=True):
    """Tables of one block with plain numpy/scipy (the reference for the numba kernel :func:`_nb_core`).

    Parameters
    ----------
    pid_ext, ph_ext : ndarray, shape (nz [+1], ny [+1], nx [+1])
        Particle ids (rows) and phase ids of the block and its optional high-side halo.
    core : tuple of int
        Shape ``(nz, ny, nx)`` of the core region.
    offset : tuple of int
        Global index of the block's first voxel.
    shape : tuple of int
        Shape of the whole volume.
    n_ids, n_phases : int
        Table sizes (max row + 1, max phase id + 1).
    with_faces : bool
        Also count faces.
    """
    from scipy import ndimage

    nz, ny, nx = core
    pid = np.asarray(pid_ext)
    ph = np.asarray(ph_ext)
    pc = pid[:nz, :ny, :nx]
    qc = ph[:nz, :ny, :nx]
    counts, faces, bbox = empty_tables(n_ids, n_phases, faces=with_faces)
    bad_mask = (qc < 0) | (qc >= n_phases) | (pc < 0)
    bad = int(np.count_nonzero(bad_mask))
    bad_value = -1
    if bad:
        bad_value = int(qc[bad_mask & ((qc < 0) | (qc >= n_phases))].flat[0]) if np.any(
            bad_mask & ((qc < 0) | (qc >= n_phases))) else -1
        return counts, faces, bbox, bad, bad_value
    _np_composition(pc, qc, n_ids, n_phases, counts)
    objs = ndimage.find_objects(pc.astype(np.int64, copy=False) if pc.dtype.kind == "u" and pc.dtype.itemsize >= 8
                                else pc)
    for i, sl in enumerate(objs):
        if sl is None:
            continue
        lab = i + 1
        for a in range(3):
            bbox[lab, a] = sl[a].start + offset[a]
            bbox[lab, 3 + a] = sl[a].stop + offset[a]
    if not with_faces:
        return counts, faces, bbox, 0, -1
    P = n_phases
    # effective phase: 0 outside particles
    for axis in range(3):
        ext = [nz, ny, nx]
        has_next = pid.shape[axis] > core[axis]
        if has_next:
            ext[axis] += 1
        pa_full = pid[: ext[0], : ext[1], : ext[2]]
        qa_full = ph[: ext[0], : ext[1], : ext[2]]
        lo = [slice(0, nz), slice(0, ny), slice(0, nx)]
        hi = [slice(0, nz), slice(0, ny), slice(0, nx)]
        lo[axis] = slice(0, ext[axis] - 1)
        hi[axis] = slice(1, ext[axis])
        a = pa_full[tuple(lo)].astype(np.int64)
        b = pa_full[tuple(hi)].astype(np.int64)
        qa = qa_full[tuple(lo)].astype(np.int64)
        qb = qa_full[tuple(hi)].astype(np.int64)
        same = a == b
        # inside one particle, phases differ
        m = same & (qa != qb) & (a > 0)
        if np.any(m):
            aa, x, y = a[m], qa[m], qb[m]
            k1 = ((aa * P + x) * (P + 1) + y) * 3 + axis
            k2 = ((aa * P + y) * (P + 1) + x) * 3 + axis
            faces += np.bincount(np.concatenate([k1, k2]), minlength=faces.size).reshape(faces.shape)
        m = ~same
        if np.any(m):
            aa, bb, x, y = a[m], b[m], qa[m], qb[m]
            keys = []
            s = aa > 0
            keys.append(((aa[s] * P + x[s]) * (P + 1) + P) * 3 + axis)
            s = bb > 0
            keys.append(((bb[s] * P + y[s]) * (P + 1) + P) * 3 + axis)
            faces += np.bincount(np.concatenate(keys), minlength=faces.size).reshape(faces.shape)
        # volume border faces: low side of the volume and high side
        for side, glob in ((0, 0), (-1, shape[axis] - 1)):
            index = 0 if side == 0 else core[axis] - 1
            if offset[axis] + index != glob:
                continue
            sl = [slice(0, nz), slice(0, ny), slice(0, nx)]
            sl[axis] = index
            pp = pc[tuple(sl)].astype(np.int64).ravel()
            qq = qc[tuple(sl)].astype(np.int64).ravel()
            s = pp > 0
            k = ((pp[s] * P + qq[s]) * (P + 1) + P) * 3 + axis
            faces += np.bincount(k, minlength=faces.size).reshape(faces.shape)
    return counts, faces, bbox, 0, -1


if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True)
    def _nb_composition(pid, ph, n_phases, counts):
        """Composition only: counts[pid, phase] += 1 over a flat pair of arrays."""
        bad = 0
        for i in range(pid.size):
            a = np.int64(pid[i])
            q = np.int64(ph[i])
            if q < 0 or q >= n_phases or a < 0:
                bad += 1
                continue
            counts[a, q] += 1
        return bad


def composition_counts_flat(pid, ph, n_ids, n_phases, *, engine="auto"):
    """Voxel counts ``counts[id, phase]`` of two same-shape arrays in one pass (no faces, no bbox)."""
    use_numba = HAVE_NUMBA if engine == "auto" else engine == "numba"
    counts = np.zeros((n_ids, n_phases), dtype=np.int64)
    if use_numba:
        p = np.ascontiguousarray(pid).reshape(-1)
        q = np.ascontiguousarray(ph).reshape(-1)
        if p.dtype == np.uint64:
            p = p.astype(np.int64)
        bad = _nb_composition(p, q, n_phases, counts)
    else:
        qa = np.asarray(ph)
        pa = np.asarray(pid)
        badm = (qa < 0) | (qa >= n_phases) | (pa < 0)
        bad = int(np.count_nonzero(badm))
        if not bad:
            _np_composition(pa, qa, n_ids, n_phases, counts)
    return counts, int(bad)


# ---------------------------------------------------------------------------------------------
# Sparse (compact) block tables: rows only for the particle ids present in one block.
# ---------------------------------------------------------------------------------------------

#: Largest id for which the local lookup table is a dense array indexed by the id (else np.unique).
LUT_ID_LIMIT = 1 << 24


def _check_ids(pid) -> None:
    from liberation.errors import InputError

    if pid.size and pid.dtype.kind == "i":
        mn = int(pid.min())
        if mn < 0:
            raise InputError(f"particles contains negative ids (min {mn}); expected ids >= 0")


if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True)
    def _nb_mark(pid, present):
        for i in range(pid.size):
            present[pid[i]] = True

    @numba.njit(cache=True, nogil=True)
    def _nb_core(pid, lut, ph, oz, oy, ox, gz, gy, gx, n_phases, counts, faces, bbox, with_faces):
        """Tables of a core block without halo in one pass (see the module docstring); row of a voxel = ``lut[pid]``."""
        return _nb_core_moments(pid, lut, ph, oz, oy, ox, gz, gy, gx, n_phases, counts, faces, bbox, with_faces,
                                False, np.zeros((0, 10), dtype=np.int64))

    @numba.njit(cache=True, nogil=True, inline="always")
    def _nb_pair(a, q, w, r, lut, faces, axis, same, P):
        """The faces between a voxel (row ``a``, phase ``q``) and its high-side neighbour (value ``w``, phase
        ``r``) along ``axis``; ``same``: the two ``pid`` values are equal (so the rows are)."""
        if same:
            if a > 0 and q != r and r >= 0 and r < P:
                faces[a, q, r, axis] += 1
                faces[a, r, q, axis] += 1
        else:
            if a > 0:
                faces[a, q, P, axis] += 1
            b = np.int64(lut[w])
            if b > 0 and r >= 0 and r < P:
                faces[b, r, P, axis] += 1

    @numba.njit(cache=True, nogil=True)
    def _nb_core_moments(pid, lut, ph, oz, oy, ox, gz, gy, gx, n_phases, counts, faces, bbox, with_faces,
                         with_moments, moments):
        """:func:`_nb_core`, plus (``with_moments``) each particle row's coordinate sums in ``moments``
        (:func:`block_moments`'s layout, coordinates relative to the block's first voxel).

        Each row along x is taken as runs of voxels with the same ``pid`` value and phase: counts, boxes,
        moments, border faces and the faces along x are added once per run (closed forms of the run's sums);
        only the faces along z and y look at every voxel. Two voxels are in the same row of the tables when
        their ``pid`` values are equal (``lut`` is one-to-one on the values present)."""
        nz, ny, nx = pid.shape
        bad = 0
        bad_value = -1
        P = n_phases
        diff = np.zeros(nx, dtype=np.bool_)
        for z in range(nz):
            zb = 0  # faces on the volume border normal to z at this plane (0, 1 or 2 for a one-plane volume)
            if z + oz == 0:
                zb += 1
            if z + oz == gz - 1:
                zb += 1
            for y in range(ny):
                yb = 0
                if y + oy == 0:
                    yb += 1
                if y + oy == gy - 1:
                    yb += 1
                # the neighbour rows along z and y (views; not read on the block's last plane / row)
                pz = pid[min(z + 1, nz - 1), y]
                hz = ph[min(z + 1, nz - 1), y]
                py = pid[z, min(y + 1, ny - 1)]
                hy = ph[z, min(y + 1, ny - 1)]
                prow = pid[z, y]
                hrow = ph[z, y]
                x = 0
                while x < nx:
                    v = pid[z, y, x]
                    qv = ph[z, y, x]
                    x1 = x + 1
                    while x1 < nx and pid[z, y, x1] == v and ph[z, y, x1] == qv:
                        x1 += 1
                    n = x1 - x
                    q = np.int64(qv)
                    if q < 0 or q >= P:
                        bad += n
                        bad_value = q
                        x = x1
                        continue
                    a = np.int64(lut[v])
                    counts[a, q] += n
                    if a > 0:
                        if z + oz < bbox[a, 0]:
                            bbox[a, 0] = z + oz
                        if y + oy < bbox[a, 1]:
                            bbox[a, 1] = y + oy
                        if x + ox < bbox[a, 2]:
                            bbox[a, 2] = x + ox
                        if z + oz + 1 > bbox[a, 3]:
                            bbox[a, 3] = z + oz + 1
                        if y + oy + 1 > bbox[a, 4]:
                            bbox[a, 4] = y + oy + 1
                        if x1 + ox > bbox[a, 5]:
                            bbox[a, 5] = x1 + ox
                        if with_moments:  # x = x .. x1 - 1: Σx = n x + n(n-1)/2, Σx² = n x² + x n(n-1) + (n-1)n(2n-1)/6
                            sx = n * x + n * (n - 1) // 2
                            sxx = n * x * x + x * n * (n - 1) + (n - 1) * n * (2 * n - 1) // 6
                            moments[a, 0] += n
                            moments[a, 1] += n * z
                            moments[a, 2] += n * y
                            moments[a, 3] += sx
                            moments[a, 4] += n * z * z
                            moments[a, 5] += n * z * y
                            moments[a, 6] += z * sx
                            moments[a, 7] += n * y * y
                            moments[a, 8] += y * sx
                            moments[a, 9] += sxx
                    if not with_faces:
                        x = x1
                        continue
                    if a > 0:
                        if zb:
                            faces[a, q, P, 0] += zb * n
                        if yb:
                            faces[a, q, P, 1] += yb * n
                        if x + ox == 0:
                            faces[a, q, P, 2] += 1
                        if x1 - 1 + ox == gx - 1:
                            faces[a, q, P, 2] += 1
                    if x1 < nx:  # the run's end along x (inside a run: same value and phase, no face)
                        w = pid[z, y, x1]
                        _nb_pair(a, q, w, np.int64(ph[z, y, x1]), lut, faces, 2, w == v, P)
                    x = x1
                if not with_faces:
                    continue
                # faces along z and y: the voxels that differ from their neighbour (value or phase), found by a
                # plain comparison of the rows first (vectorised), then visited
                for axis in range(2):
                    if (axis == 0 and z + 1 >= nz) or (axis == 1 and y + 1 >= ny):
                        continue
                    pn = pz if axis == 0 else py
                    hn = hz if axis == 0 else hy
                    for k in range(nx):
                        diff[k] = (pn[k] != prow[k]) | (hn[k] != hrow[k])
                    for k in range(nx):
                        if diff[k]:
                            u = prow[k]
                            qk = np.int64(hrow[k])
                            if qk < 0 or qk >= P:
                                continue
                            w = pn[k]
                            _nb_pair(np.int64(lut[u]), qk, w, np.int64(hn[k]), lut, faces, axis, w == u, P)
        return bad, bad_value


def local_ids(pid: np.ndarray):
    """Sorted ids present in ``pid`` (always with 0 first) and a lookup ``id -> row``.

    Returns ``(ids, lut, src)``: the row of voxel ``v`` is ``lut[src[v]]``; ``src`` is ``pid``
    itself for ids below :data:`LUT_ID_LIMIT`, else the inverse of ``np.unique`` (``lut`` the identity).
    """
    pid = np.asarray(pid)
    _check_ids(pid)
    mx = int(pid.max()) if pid.size else 0
    if mx < LUT_ID_LIMIT:
        present = np.zeros(mx + 1, dtype=np.bool_)
        flat = np.ascontiguousarray(pid).reshape(-1)
        if HAVE_NUMBA and flat.dtype != np.uint64:
            _nb_mark(flat, present)
        else:
            present[flat] = True
        present[0] = True
        ids = np.flatnonzero(present)
        lut = np.zeros(mx + 1, dtype=np.int32)
        lut[ids] = np.arange(len(ids), dtype=np.int32)
        return ids.astype(np.int64), lut, pid
    u, inv = np.unique(pid, return_inverse=True)
    inv = inv.reshape(pid.shape)
    if u[0] != 0:
        u = np.concatenate([np.zeros(1, dtype=u.dtype), u])
        inv = inv + 1
    return u.astype(np.int64), np.arange(len(u), dtype=np.int64), inv


def sparse_block_tables(pid, ph, offset, shape, n_phases, *, with_faces=True, engine="auto", moments=False):
    """Tables of one core block (no halo) with rows only for the ids present in it.

    Faces between the block and its high-side neighbours are *not* counted here (see
    :func:`sparse_pair_tables`); faces on the volume border are.

    Parameters
    ----------
    moments : bool
        Also return the coordinate sums of every row (:func:`block_moments`; relative to the block's
        first voxel, row 0 left zero), from the same pass over the voxels.

    Returns
    -------
    ids : ndarray of int64, shape (n,)
        Sorted ids present (``ids[0] == 0``, the background row).
    counts, faces, bbox : ndarray
        As in :func:`numpy_block_tables`, with ``n`` rows.
    bad, bad_value : int
        Voxels with a phase id outside ``0..n_phases-1`` and one such value (or -1).
    sums : ndarray of int64, shape (n, 10)
        Only with ``moments``: see :func:`block_moments`.
    """
    pid = np.asarray(pid)
    ph = np.asarray(ph)
    ids, lut, src = local_ids(pid)
    n = len(ids)
    use_numba = HAVE_NUMBA if engine == "auto" else engine == "numba"
    if not use_numba:
        loc = lut[src]
        counts, faces, bbox, bad, bad_value = numpy_block_tables(loc, ph, pid.shape, offset, shape, n, n_phases,
                                                                 with_faces=with_faces)
        if moments:
            return ids, counts, faces, bbox, bad, bad_value, block_moments(loc, n)
        return ids, counts, faces, bbox, bad, bad_value
    counts, faces, bbox = empty_tables(n, n_phases, faces=with_faces)
    src = np.ascontiguousarray(src)
    if src.dtype == np.uint64:
        src = src.astype(np.int64)
    sums = np.zeros((n if moments else 0, 10), dtype=np.int64)
    bad, bad_value = _nb_core_moments(src, lut, np.ascontiguousarray(ph), *offset, *shape, n_phases, counts, faces,
                                      bbox, with_faces, bool(moments), sums)
    if moments:
        return ids, counts, faces, bbox, int(bad), int(bad_value), sums
    return ids, counts, faces, bbox, int(bad), int(bad_value)


def block_moments(rows: np.ndarray, n: int) -> np.ndarray:
    """Coordinate sums of every row of a block (numpy; the numba tables kernel fills the same in its pass).

    Parameters
    ----------
    rows : ndarray of int, shape (z, y, x)
        Row of each voxel (0: not a particle, left out).
    n : int
        Rows.

    Returns
    -------
    ndarray of int64, shape (n, 10)
        ``(count, Σz, Σy, Σx, Σzz, Σzy, Σzx, Σyy, Σyx, Σxx)`` of the voxel indices within the block.
    """
    out = np.zeros((n, 10), dtype=np.int64)
    flat = np.flatnonzero(rows)
    if flat.size == 0:
        return out
    r = np.asarray(rows).ravel()[flat].astype(np.int64)
    z, y, x = (c.astype(np.int64) for c in np.unravel_index(flat, np.shape(rows)))
    order = np.argsort(r, kind="stable")  # integer sums by sorting: exact (bincount's float weights are not)
    r = r[order]
    z, y, x = z[order], y[order], x[order]
    starts = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
    for j, w in enumerate((np.ones_like(z), z, y, x, z * z, z * y, z * x, y * y, y * x, x * x)):
        out[r[starts], j] = np.add.reduceat(w, starts)
    return out


def shift_moments(sums: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Coordinate sums of :func:`block_moments` with every coordinate moved by ``delta`` (exact integers).

    Parameters
    ----------
    sums : ndarray of int64, shape (n, 10)
        ``(count, Σz, Σy, Σx, Σzz, Σzy, Σzx, Σyy, Σyx, Σxx)``.
    delta : ndarray of int64, shape (3,) or (n, 3)
        Added to (z, y, x) of every voxel (per row or for all).

    Returns
    -------
    ndarray of int64, shape (n, 10)
        The sums of the moved coordinates: ``Σ(a + da)(b + db) = Σab + db Σa + da Σb + n da db``.
    """
    sums = np.asarray(sums, dtype=np.int64)
    d = np.broadcast_to(np.asarray(delta, dtype=np.int64), (len(sums), 3))
    n = sums[:, 0]
    out = sums.copy()
    for a in range(3):
        out[:, 1 + a] += n * d[:, a]
    for j, (a, b) in enumerate(_PAIRS):
        out[:, 4 + j] += d[:, b] * sums[:, 1 + a] + d[:, a] * sums[:, 1 + b] + n * d[:, a] * d[:, b]
    return out


#: The (a, b) axis pairs of the second-moment columns 4..9 of :func:`block_moments`.
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def sparse_pair_tables(pid_lo, ph_lo, pid_hi, ph_hi, axis, n_phases):
    """Face counts between two facing planes: ``*_lo`` the last plane of a block, ``*_hi`` the first
    plane of the next block along ``axis`` (same shape). Returns ``(ids, faces)`` with rows for the
    ids of both planes (sparse, ``ids[0] == 0``)."""
    a = np.asarray(pid_lo).reshape(-1)
    b = np.asarray(pid_hi).reshape(-1)
    q = np.asarray(ph_lo).reshape(-1).astype(np.int64)
    r = np.asarray(ph_hi).reshape(-1).astype(np.int64)
    P = n_phases
    ids, lut, src = local_ids(np.concatenate([a, b]))
    n = len(ids)
    inverse = lut[src].astype(np.int64)
    la, lb = inverse[: a.size], inverse[a.size:]
    ok = (q >= 0) & (q < P) & (r >= 0) & (r < P)
    la, lb, q, r = la[ok], lb[ok], q[ok], r[ok]
    same = la == lb
    m = same & (q != r) & (la > 0)
    keys = [((la[m] * P + q[m]) * (P + 1) + r[m]) * 3 + axis, ((la[m] * P + r[m]) * (P + 1) + q[m]) * 3 + axis]
    m = ~same
    s = m & (la > 0)
    keys.append(((la[s] * P + q[s]) * (P + 1) + P) * 3 + axis)
    s = m & (lb > 0)
    keys.append(((lb[s] * P + r[s]) * (P + 1) + P) * 3 + axis)
    size = n * P * (P + 1) * 3
    faces = np.bincount(np.concatenate(keys), minlength=size).reshape(n, P, P + 1, 3).astype(np.int64)
    return ids.astype(np.int64), faces


# ---------------------------------------------------------------------------------------------
# Grains: 6-connected components of equal (particle id, phase id) keys in one block.
# ---------------------------------------------------------------------------------------------

if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True, inline="always")
    def _nb_find(parent, i):
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            j = parent[i]
            parent[i] = root
            i = j
        return root

    @numba.njit(cache=True, nogil=True, inline="always")
    def _nb_union(parent, u, r):
        """Join the sets of runs ``u`` and ``r``; the smaller root becomes the root of both."""
        ru = _nb_find(parent, u)
        rr = _nb_find(parent, r)
        if ru < rr:
            parent[rr] = ru
        elif rr < ru:
            parent[ru] = rr


if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True)
    def _nb_grains_runs(pid, ph, n_phases, parent, lab):
        """Label 6-connected runs of equal key ``pid * n_phases + ph`` (pid > 0, ph > 0; else 0).

        The voxels of one key in a row along x (a run) are one piece of a grain, joined to the runs they touch
        in the previous row and plane; union-find over the runs, numbered in raster order of their first voxel
        with the smallest as the root, so labels 1..n number the grains in order of first appearance (as
        ``skimage.measure.label``). ``parent`` has a slot per voxel. Returns ``(n, voxels[n], keys[n])``;
        ``lab`` is filled in place."""
        nz, ny, nx = pid.shape
        run_key = np.empty(pid.size, dtype=np.int64)  # at most one run per voxel (keys alternating along x)
        nr = 0
        for z in range(nz):
            for y in range(ny):
                x = 0
                while x < nx:
                    a = np.int64(pid[z, y, x])
                    q = np.int64(ph[z, y, x])
                    x1 = x + 1
                    while x1 < nx and pid[z, y, x1] == pid[z, y, x] and ph[z, y, x1] == ph[z, y, x]:
                        x1 += 1
                    if a <= 0 or q <= 0:
                        for k in range(x, x1):
                            lab[z, y, k] = 0
                        x = x1
                        continue
                    key = a * n_phases + q
                    r = nr
                    nr += 1
                    run_key[r] = key
                    parent[r] = r
                    last_y = -1
                    last_z = -1
                    for k in range(x, x1):
                        lab[z, y, k] = r + 1
                        if y > 0:
                            u = np.int64(lab[z, y - 1, k]) - 1
                            if u >= 0 and u != last_y and run_key[u] == key:
                                last_y = u
                                _nb_union(parent, u, r)
                        if z > 0:
                            u = np.int64(lab[z - 1, y, k]) - 1
                            if u >= 0 and u != last_z and run_key[u] == key:
                                last_z = u
                                _nb_union(parent, u, r)
                    x = x1
        run_lab = np.empty(nr, dtype=np.int64)
        n = 0
        for r in range(nr):
            root = _nb_find(parent, r)
            if root == r:
                n += 1
                run_lab[r] = n
            else:
                run_lab[r] = run_lab[root]
        voxels = np.zeros(n, dtype=np.int64)
        keys = np.zeros(n, dtype=np.int64)
        for r in range(nr):
            keys[run_lab[r] - 1] = run_key[r]
        flat = lab.reshape(-1)
        for i in range(flat.size):
            g = flat[i]
            if g > 0:
                g = run_lab[g - 1]
                flat[i] = g
                voxels[g - 1] += 1
        return n, voxels, keys


def grain_labels(pid, ph, n_phases, *, engine="auto"):
    """6-connected grains (equal particle id > 0 and phase id > 0) of one block.

    Parameters
    ----------
    pid, ph : ndarray, shape (z, y, x)
        Particle ids and phase ids of the block.
    n_phases : int
        Max phase id + 1 (the key of a voxel is ``pid * n_phases + ph``).
    engine : {"auto", "numba", "numpy"}
        numba union-find (releases the GIL) or ``skimage.measure.label`` on the key array.

    Returns
    -------
    lab : ndarray of int32 or int64, shape (z, y, x)
        Grain labels 1..n in order of first appearance (raster order), 0 outside grains.
    voxels, keys : ndarray of int64, shape (n,)
        Voxels and key of each grain.
    """
    pid = np.ascontiguousarray(pid)
    ph = np.ascontiguousarray(ph)
    use_numba = HAVE_NUMBA if engine == "auto" else engine == "numba"
    if use_numba and pid.dtype != np.uint64:
        idx = np.int32 if pid.size < (1 << 31) else np.int64
        parent = np.empty(pid.size, dtype=idx)
        lab = np.empty(pid.shape, dtype=idx)
        n, voxels, keys = _nb_grains_runs(pid, ph, np.int64(n_phases), parent, lab)
        return lab, voxels, keys
    from skimage.measure import label as sk_label

    p = pid.astype(np.int64)
    q = ph.astype(np.int64)
    key = np.where((p > 0) & (q > 0), p * n_phases + q, 0)
    del p, q
    lab = sk_label(key, background=0, connectivity=1)
    n = int(lab.max())
    voxels = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.int64)
    keys = np.zeros(n + 1, dtype=np.int64)
    keys[lab.ravel()] = key.ravel()
    return lab, voxels, keys[1:]


# ---------------------------------------------------------------------------------------------
# Taubin smoothing of a mesh: v <- v + lam * (W v - v), then v <- v + mu * (W v - v), n times.
# ---------------------------------------------------------------------------------------------

if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True)
    def _nb_csr_step(indptr, indices, data, v, out, factor):
        for i in range(v.shape[0]):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            for jj in range(indptr[i], indptr[i + 1]):
                j = indices[jj]
                a = data[jj]
                s0 += a * v[j, 0]
                s1 += a * v[j, 1]
                s2 += a * v[j, 2]
            out[i, 0] = v[i, 0] + factor * (s0 - v[i, 0])
            out[i, 1] = v[i, 1] + factor * (s1 - v[i, 1])
            out[i, 2] = v[i, 2] + factor * (s2 - v[i, 2])

    @numba.njit(cache=True, nogil=True)
    def taubin_csr(indptr, indices, data, v, n, lam, mu):
        """``n`` Taubin steps of vertices ``v`` (nv, 3) with the row-normalised CSR adjacency (indptr, indices, data).

        Each product ``W v`` sums a row in stored order, as scipy's CSR product does.
        """
        a = v.copy()
        b = np.empty_like(v)
        for _ in range(n):
            _nb_csr_step(indptr, indices, data, a, b, lam)
            _nb_csr_step(indptr, indices, data, b, a, mu)
        return a


# ---------------------------------------------------------------------------------------------
# Bootstrap: per-bin weighted sums out[rows[i, j], c] += vals[i, j] * wt[i, c] (liberation.stats.bootstrap).
# ---------------------------------------------------------------------------------------------

#: Replicate columns summed at once by :func:`binned_sums` (the rows of ``out`` they touch stay in cache).
BINNED_TILE = 64

if HAVE_NUMBA:  # pragma: no branch

    @numba.njit(cache=True, nogil=True)
    def _nb_binned_sums(wt, rows, vals, out, c0, c1, tile):
        n = wt.shape[0]
        m = rows.shape[1]
        for t0 in range(c0, c1, tile):
            t1 = min(c1, t0 + tile)
            for i in range(n):
                for j in range(m):
                    r = rows[i, j]
                    v = vals[i, j]
                    for c in range(t0, t1):
                        out[r, c] += v * wt[i, c]


def binned_sums(wt: np.ndarray, rows: np.ndarray, vals: np.ndarray, n_rows: int, *, threads: int = 1) -> np.ndarray:
    """Per-bin weighted sums: ``out[rows[i, j], c] = sum over (i, j) of vals[i, j] * wt[i, c]``.

    Parameters
    ----------
    wt : ndarray of float64, shape (n, b)
        Weights, particle by replicate (C-contiguous).
    rows : ndarray of int32 or int64, shape (n, m)
        Output row of each particle's ``m`` values (in ``[0, n_rows)``).
    vals : ndarray of float64, shape (n, m)
        The values.
    n_rows : int
        Rows of the output.
    threads : int
        Threads over column ranges of ``wt`` (numba only; each column's sums are added in particle
        order whatever the split, so the result does not depend on it).

    Returns
    -------
    ndarray of float64, shape (n_rows, b)
    """
    wt = np.ascontiguousarray(wt, dtype=np.float64)
    rows = np.ascontiguousarray(rows) if rows.dtype in (np.int32, np.int64) else np.ascontiguousarray(rows, np.intp)
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    if rows.shape != vals.shape or rows.ndim != 2 or rows.shape[0] != wt.shape[0]:
        raise ValueError(f"rows {rows.shape} and vals {vals.shape} must both be (n, m) with n = {wt.shape[0]}")
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        raise ValueError(f"rows must lie in [0, {n_rows}); got {rows.min()} .. {rows.max()}")
    b = wt.shape[1]
    out = np.zeros((int(n_rows), b))
    if not HAVE_NUMBA:  # pragma: no cover - numba is a dependency in practice
        for j in range(rows.shape[1]):
            np.add.at(out, rows[:, j], vals[:, j, None] * wt)
        return out
    threads = max(1, min(int(threads), -(-b // BINNED_TILE)))
    if threads == 1:
        _nb_binned_sums(wt, rows, vals, out, 0, b, BINNED_TILE)
        return out
    from concurrent.futures import ThreadPoolExecutor

    tiles = -(-b // BINNED_TILE)
    cuts = [min(b, BINNED_TILE * (tiles * k // threads)) for k in range(threads + 1)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda k: _nb_binned_sums(wt, rows, vals, out, cuts[k], cuts[k + 1], BINNED_TILE),
                      range(threads)))
    return out
