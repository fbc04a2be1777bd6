"""Per-particle shape and internal pores, from one crop of each particle.

- **Surface area and sphericity** come from a closed triangle mesh of the particle: marching
  cubes at level 0.5 on the binary mask (padded by one voxel, voxel size as spacing), smoothed by
  :data:`TAUBIN_ITERATIONS` Taubin steps (λ = 0.5, μ = −0.53, which shrink neither flat faces
  nor the volume), surface area = mesh area. The sphericity ``π^(1/3) (6 V)^(2/3) / A`` uses the
  area *and* the volume of the same closed mesh, so it is at most 1 (isoperimetric inequality);
  it is about 0.99 on a digital sphere of radius 10 voxels, 0.84 on a 20-voxel cube (true 0.806;
  the marching-cubes chamfer of the cube edges shrinks with the size) and within 2 % on ellipsoids.
- **Elongation and flatness** from the principal axes of the voxel coordinates (second moments,
  physical units): with eigenvalues ``l1 >= l2 >= l3`` of the covariance, elongation =
  ``sqrt(l2 / l1)`` and flatness = ``sqrt(l3 / l2)`` (1 for a sphere or cube, towards 0 for a
  needle / a plate). :func:`particle_shapes` takes them, with the intermediate axis, from
  :func:`particle_moments_table` (all particles at once, two passes over the labels, the first of
  them done by :func:`liberation.stats.measure.measure_pass` in the analysis; equal to the
  per-particle :func:`principal_axes` to rounding); ``mode="fast"`` stops there.
- **Feret diameters** (caliper widths of the voxelised particle, every voxel a full cube):
  the corners of the particle's voxels are reduced to their convex hull; the maximum Feret
  diameter is the largest distance between two hull vertices (exact), the minimum Feret
  diameter the smallest width over the hull's facet normals and :data:`FERET_DIRECTIONS`
  directions spread over the sphere (exact for boxes, within 0.3 % otherwise). The minimum
  Feret is the sieve-like size of a particle: the smallest opening it passes through in one
  orientation is at least its minimum width.
- **Pores**: voxels outside the particle (any label but the particle's own) that the particle
  fully encloses (not 6-connected to the outside of its padded bounding box, voxels beyond the
  volume border counting as outside) and that are background (particle id 0). ``pore_faces``
  counts the faces between the particle's voxels (by phase) and its pore voxels: that boundary
  is not free surface.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

#: Taubin smoothing steps applied to the marching-cubes mesh.
TAUBIN_ITERATIONS = 10
TAUBIN_LAMBDA = 0.5
TAUBIN_MU = -0.53
#: Directions (Fibonacci points on the half sphere) over which the minimum Feret width is sought,
#: on top of the hull's facet normals.
FERET_DIRECTIONS = 512
#: Fewest particles per thread of :func:`particle_shapes`.
MIN_PARTICLES_PER_THREAD = 64


def _taubin(v: np.ndarray, f: np.ndarray, n: int) -> np.ndarray:
    import scipy.sparse as sp

    nv = len(v)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(nv, nv)).tocsr()
    a.data[:] = 1.0
    deg = np.asarray(a.sum(axis=1)).ravel()
    w = (sp.diags(1.0 / np.maximum(deg, 1)) @ a).tocsr()
    from liberation.stats._kernels import HAVE_NUMBA

    if HAVE_NUMBA:
        from liberation.stats._kernels import taubin_csr

        # the same products and sums, in the same order, as the scipy loop below (identical results),
        # without the overhead of 2 * n sparse products
        return taubin_csr(w.indptr.astype(np.int64), w.indices.astype(np.int64), w.data, np.ascontiguousarray(v),
                          int(n), TAUBIN_LAMBDA, TAUBIN_MU)
    for _ in range(n):
        v = v + TAUBIN_LAMBDA * (w @ v - v)
        v = v + TAUBIN_MU * (w @ v - v)
    return v


def mesh_area_volume(mask: np.ndarray, voxel_size_um=(1.0, 1.0, 1.0), *,
                     iterations: int = TAUBIN_ITERATIONS) -> tuple[float, float]:
    """Surface area (µm²) and enclosed volume (µm³) of the smoothed marching-cubes mesh of ``mask``.

    Parameters
    ----------
    mask : ndarray of bool, shape (z, y, x)
        The object (one connected particle, holes allowed).
    voxel_size_um : tuple of 3 float
        Voxel size (z, y, x) in µm.
    iterations : int
        Taubin smoothing steps (0: the raw marching-cubes mesh).
    """
    from skimage.measure import marching_cubes, mesh_surface_area

    m = np.pad(np.asarray(mask, dtype=np.float32), 1)
    if m.max() <= 0:
        return 0.0, 0.0
    v, f, _, _ = marching_cubes(m, 0.5, spacing=tuple(float(s) for s in voxel_size_um), allow_degenerate=False)
    v = v.astype(np.float64)
    if iterations:
        v = _taubin(v, f, iterations)
    area = float(mesh_surface_area(v, f))
    tri = v[f]
    vol = abs(float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum())) / 6.0
    return area, vol


def sphericity(area: float, volume: float) -> float:
    """Wadell sphericity ``π^(1/3) (6 V)^(2/3) / A`` (NaN when the area is 0)."""
    return float(np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area) if area > 0 else float("nan")


def principal_axes(mask: np.ndarray, voxel_size_um=(1.0, 1.0, 1.0)) -> tuple[float, float]:
    """Elongation ``sqrt(l2/l1)`` and flatness ``sqrt(l3/l2)`` of the voxel coordinates' covariance."""
    c = np.argwhere(mask).astype(np.float64) * np.asarray(voxel_size_um, dtype=np.float64)[None, :]
    if len(c) < 2:
        return float("nan"), float("nan")
    # a voxel is a cube, not a point: add its own second moment s^2/12 per axis
    cov = np.cov(c, rowvar=False, bias=True) + np.diag(np.asarray(voxel_size_um, dtype=np.float64) ** 2 / 12.0)
    ev = np.sort(np.linalg.eigvalsh(cov))[::-1]
    ev = np.maximum(ev, 0.0)
    el = float(np.sqrt(ev[1] / ev[0])) if ev[0] > 0 else float("nan")
    fl = float(np.sqrt(ev[2] / ev[1])) if ev[1] > 0 else float("nan")
    return el, fl


def _half_sphere(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors on the half sphere z >= 0 (Fibonacci lattice), shape (n, 3)."""
    i = np.arange(n) + 0.5
    z = i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([z, r * np.sin(phi), r * np.cos(phi)], axis=1)


def _row_end_corners(mask: np.ndarray) -> np.ndarray | None:
    """The two end corners of every row along x of the voxels' corners, shape (k, 3), sorted (z, y, x).

    Of the 8 corners of every voxel only the first and last corner of each row along x can be a
    convex hull vertex (the rest lie between them). Corner row ``(z, y)`` touches voxel rows
    ``(z-1 or z, y-1 or y)``; its first corner is the smallest first voxel of those rows, its last
    the largest last voxel + 1. None for an empty mask.
    """
    nz, ny, nx = mask.shape
    has = mask.any(axis=2)
    if not has.any():
        return None
    first = np.where(has, mask.argmax(axis=2), nx + 1)
    last = np.where(has, nx - mask[:, :, ::-1].argmax(axis=2), -1)  # last voxel + 1
    lo = np.full((nz + 1, ny + 1), nx + 1, dtype=np.int64)
    hi = np.full((nz + 1, ny + 1), -1, dtype=np.int64)
    for dz in (0, 1):
        for dy in (0, 1):
            sl = (slice(dz, dz + nz), slice(dy, dy + ny))
            lo[sl] = np.minimum(lo[sl], first)
            hi[sl] = np.maximum(hi[sl], last)
    zz, yy = np.nonzero(hi >= 0)
    pts = np.empty((2 * len(zz), 3), dtype=np.int64)
    pts[0::2, 0] = pts[1::2, 0] = zz
    pts[0::2, 1] = pts[1::2, 1] = yy
    pts[0::2, 2] = lo[zz, yy]
    pts[1::2, 2] = hi[zz, yy]
    return pts


def feret_diameters(mask: np.ndarray, voxel_size_um=(1.0, 1.0, 1.0), *,
                    n_directions: int = FERET_DIRECTIONS) -> tuple[float, float]:
    """Maximum and minimum Feret diameter (µm) of a voxelised object.

    Parameters
    ----------
    mask : ndarray of bool, shape (z, y, x)
        The object; each voxel is a cube of ``voxel_size_um``.
    voxel_size_um : tuple of 3 float
        Voxel size (z, y, x) in µm.
    n_directions : int
        Directions, besides the convex hull's facet normals, over which the minimum width is sought.

    Returns
    -------
    feret_max_um, feret_min_um : float
        NaN for an empty mask.
    """
    from scipy.spatial import ConvexHull, QhullError
    from scipy.spatial.distance import pdist

    vs = np.asarray(voxel_size_um, dtype=np.float64)
    points = _row_end_corners(np.asarray(mask, dtype=bool))
    if points is None:
        return float("nan"), float("nan")
    points = points.astype(np.float64) * vs
    try:
        hull = ConvexHull(points)
        vertices = points[hull.vertices]
        normals = hull.equations[:, :3]
    except QhullError:  # a flat or degenerate set (cannot happen with full voxels, kept for safety)
        vertices, normals = points, np.zeros((0, 3))
    feret_max = float(pdist(vertices).max()) if len(vertices) > 1 else 0.0
    directions = np.concatenate([normals, np.eye(3), _half_sphere(int(n_directions))])
    proj = vertices @ directions.T  # small: call under a 1-thread BLAS (particle_shapes does)
    feret_min = float((proj.max(axis=0) - proj.min(axis=0)).min())
    return feret_max, feret_min


def pores_of(crop_ids: np.ndarray, crop_phases: np.ndarray, pid: int, n_phases: int) -> tuple[int, np.ndarray]:
    """Pore voxels of particle ``pid`` in a crop, and its faces to them by own phase and axis.

    Parameters
    ----------
    crop_ids, crop_phases : ndarray, shape (z, y, x)
        Particle ids and phases of the particle's bounding box padded by one voxel (pad = 0).
    pid : int
        The particle id.
    n_phases : int
        Number of phase ids.

    Returns
    -------
    n_pore_voxels : int
    pore_faces : ndarray of int64, shape (n_phases, 3)
        Faces between a voxel of the particle (row = its phase) and a pore voxel, normal to z, y, x.
    """
    from scipy import ndimage as ndi

    mask = crop_ids == pid
    filled = ndi.binary_fill_holes(mask)
    pore = filled & ~mask & (crop_ids == 0)
    faces = np.zeros((n_phases, 3), dtype=np.int64)
    n = int(pore.sum())
    if n == 0:
        return 0, faces
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax] = slice(0, -1)
        hi[ax] = slice(1, None)
        lo, hi = tuple(lo), tuple(hi)
        a = mask[lo] & pore[hi]
        b = pore[lo] & mask[hi]
        ph = np.concatenate([crop_phases[lo][a], crop_phases[hi][b]]).astype(np.int64)
        faces[:, ax] = np.bincount(ph, minlength=n_phases)[:n_phases]
    return n, faces


def particle_shapes(particles, phases, ids: np.ndarray, bbox: np.ndarray, *, voxel_size_um,
                    n_phases: int, workers: int | None = None,
                    cache_bytes: int = 512 << 20, mode: str = "full",
                    moments: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Mesh surface, sphericity, elongation, flatness and pores of every particle (one crop each).

    Elongation, flatness and the intermediate axis are vectorised over the volume
    (:func:`particle_moments_table`, two passes over ``particles``, one with ``moments``); the mesh, the Feret diameters
    and the pores are measured on each particle's crop (``mode="full"``) or left out
    (``mode="fast"``: those columns NaN, no pore faces; about 1 % of the time).

    Parameters
    ----------
    particles, phases : array, shape (z, y, x)
        Particle ids and phases (numpy, zarr or dask: only the crops are read).
    ids : ndarray of int, shape (n,)
        Particle ids.
    bbox : ndarray of int, shape (n, 6)
        Bounding boxes ``z0, y0, x0, z1, y1, x1`` (half-open).
    voxel_size_um : tuple of 3 float
        Voxel size in µm.
    n_phases : int
        Number of phase ids.
    workers : int, optional
        Threads (default the CPU count; one per :data:`MIN_PARTICLES_PER_THREAD` particles at most). The results do not depend on it.
    cache_bytes : int
        Most decoded chunk bytes kept in memory (zarr/dask inputs), both arrays and all threads
        together; less when ``(4 + threads)`` rows of chunks along x are smaller.
    mode : {"full", "fast"}
        Measure the crops (mesh, Feret, pores) or only the vectorised moments.
    moments : ndarray of int64, shape (n, 10), optional
        Coordinate sums from ``measure_pass(moments=True)`` (``ParticleMeasurements.moments``): the
        moments' own pass over ``particles`` is skipped (:func:`principal_moments`; same results).

    Returns
    -------
    DataFrame
        Columns ``mesh_area_um2, mesh_volume_um3, sphericity, elongation, flatness, feret_max_um,
        feret_min_um, intermediate_axis_um, pore_voxels`` (the intermediate axis length, the
        sieve-equivalent size: :mod:`liberation.stats.sieve`).
    ndarray of int64, shape (n, n_phases, 3), or None
        Pore faces (see :func:`pores_of`); None with ``mode="fast"`` (and ``pore_voxels`` is then absent).
    """
    from liberation.errors import InputError
    from liberation.stats.measure import BlockReader

    if mode not in ("full", "fast"):
        raise InputError(f"mode={mode!r}; expected 'full' or 'fast'")
    shape = tuple(int(s) for s in particles.shape)
    n = len(ids)
    vs = tuple(float(v) for v in voxel_size_um)
    moments = particle_moments_table(particles, ids, bbox, voxel_size_um=vs, workers=workers, sums=moments)
    out = {k: np.full(n, np.nan) for k in ("mesh_area_um2", "mesh_volume_um3", "sphericity", "feret_max_um",
                                            "feret_min_um")}
    for k in FAST_COLUMNS:
        out[k] = moments[k].to_numpy(dtype=float)
    order_cols = ("mesh_area_um2", "mesh_volume_um3", "sphericity", "elongation", "flatness", "feret_max_um",
                  "feret_min_um", "intermediate_axis_um")
    if mode == "fast":
        return pd.DataFrame({k: out[k] for k in order_cols}), None
    pore_vox = np.zeros(n, dtype=np.int64)
    pore_faces = np.zeros((n, n_phases, 3), dtype=np.int64)
    # crops are read through one cache of decoded chunks per array, shared by the threads; the particles
    # are visited in chunk order (C order of the chunk holding the crop's low corner), in small batches
    # taken in that order by every thread, so all threads work in the same few chunk rows: a crop
    # reaches at most one chunk further along each axis, so 2 x 2 rows of chunks along x (plus one
    # row of slack per thread) are enough for each chunk to be decoded about once
    pread, qread = BlockReader(particles), BlockReader(phases)
    order = sorted(range(n), key=lambda i: pread.chunk_index(np.maximum(bbox[i, :3] - 1, 0)))
    n_threads = max(1, min(int(workers or os.cpu_count() or 1), n // MIN_PARTICLES_PER_THREAD or 1))
    for reader in (pread, qread):
        need = (4 + n_threads) * reader.row_chunks() * reader.chunk_bytes()
        reader.max_bytes = max(reader.chunk_bytes(), min(need, int(cache_bytes) * reader.chunk_bytes()
                                                         // max(1, pread.chunk_bytes() + qread.chunk_bytes())))
    batches = [order[k:k + 16] for k in range(0, n, 16)]
    # the per-particle matrices are tiny: a multi-threaded BLAS spends ~10x the work spinning its threads
    from threadpoolctl import threadpool_limits

    def run(part):
        _shape_loop(part, ids, bbox, shape, pread, qread, vs, n_phases, out, pore_vox, pore_faces)

    with threadpool_limits(limits=1, user_api="blas"):
        if n_threads == 1:
            run(order)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(run, batches))
    df = pd.DataFrame({k: out[k] for k in order_cols})
    df["pore_voxels"] = pore_vox
    return df, pore_faces


def _shape_loop(order, ids, bbox, shape, pread, qread, vs, n_phases, out, pore_vox, pore_faces) -> None:
    """The per-particle measurements of :func:`particle_shapes`, filled into ``out``, ``pore_vox``, ``pore_faces``."""
    for i in order:
        pid, b = ids[i], bbox[i]
        lo = [max(int(b[k]) - 1, 0) for k in range(3)]
        hi = [min(int(b[3 + k]) + 1, shape[k]) for k in range(3)]
        sl = tuple(slice(a, c) for a, c in zip(lo, hi))
        pad = [(int(b[k]) - lo[k] == 0) * 1 for k in range(3)], [(hi[k] - int(b[3 + k]) == 0) * 1 for k in range(3)]
        widths = tuple((pad[0][k], pad[1][k]) for k in range(3))
        cid = np.pad(pread.read(sl), widths)
        cph = np.pad(qread.read(sl), widths)
        mask = cid == pid
        area, vol = mesh_area_volume(mask, vs)
        out["mesh_area_um2"][i] = area
        out["mesh_volume_um3"][i] = vol
        out["sphericity"][i] = sphericity(area, vol)
        out["feret_max_um"][i], out["feret_min_um"][i] = feret_diameters(mask, vs)
        pore_vox[i], pore_faces[i] = pores_of(cid, cph, int(pid), n_phases)


# ---------------------------------------------------------------------------------------------
# Vectorised over the whole volume: the second moments of every particle (one pass over the
# particle labels, block by block), their principal axes for all particles at once, and the
# caliper width along the intermediate axis (a second pass).
# ---------------------------------------------------------------------------------------------

#: Columns of :func:`particle_moments_table` (the ``fast`` shape subset).
FAST_COLUMNS = ("elongation", "flatness", "intermediate_axis_um")
#: Shape modes of :func:`liberation.stats.analyse` / ``report --shapes``.
SHAPE_MODES = ("full", "fast", "off")


def check_shapes_mode(shapes) -> str:
    """``shapes`` as one of :data:`SHAPE_MODES` (True -> ``"full"``, False/None -> ``"off"``)."""
    from liberation.errors import InputError

    if shapes is True:
        return "full"
    if shapes is False or shapes is None:
        return "off"
    if isinstance(shapes, str) and shapes in SHAPE_MODES:
        return shapes
    raise InputError(f"shapes={shapes!r}; expected one of {', '.join(map(repr, SHAPE_MODES))} (or True/False)")


def _np_moments(pid, rows, oz, oy, ox, lo, acc):
    """numpy fallback of :func:`_nb_moments`: ``acc[r] += (n, Σz, Σy, Σx, Σzz, Σzy, Σzx, Σyy, Σyx, Σxx)``."""
    flat = np.flatnonzero(pid)
    if flat.size == 0:
        return
    r = rows[pid.ravel()[flat]]
    keep = r >= 0
    flat, r = flat[keep], r[keep]
    z, y, x = np.unravel_index(flat, pid.shape)
    z = z.astype(np.int64) + oz - lo[r, 0]
    y = y.astype(np.int64) + oy - lo[r, 1]
    x = x.astype(np.int64) + ox - lo[r, 2]
    k = len(acc)
    for j, w in enumerate((None, z, y, x, z * z, z * y, z * x, y * y, y * x, x * x)):
        acc[:, j] += np.bincount(r, weights=w, minlength=k).astype(np.int64) if w is not None else \
            np.bincount(r, minlength=k)


def _np_project(pid, rows, oz, oy, ox, lo, vec, hi_out, lo_out):
    """numpy fallback of :func:`_nb_project`: per-row max/min of ``(voxel - lo) . vec``."""
    flat = np.flatnonzero(pid)
    if flat.size == 0:
        return
    r = rows[pid.ravel()[flat]]
    keep = r >= 0
    flat, r = flat[keep], r[keep]
    z, y, x = np.unravel_index(flat, pid.shape)
    p = ((z + oz - lo[r, 0]) * vec[r, 0] + (y + oy - lo[r, 1]) * vec[r, 1] + (x + ox - lo[r, 2]) * vec[r, 2])
    np.maximum.at(hi_out, r, p)
    np.minimum.at(lo_out, r, p)


try:  # pragma: no cover - depends on the environment
    import numba as _numba

    @_numba.njit(cache=True, nogil=True)
    def _nb_moments(pid, rows, oz, oy, ox, lo, acc):
        nz, ny, nx = pid.shape
        for i in range(nz):
            for j in range(ny):
                for k in range(nx):
                    p = pid[i, j, k]
                    if p == 0:
                        continue
                    r = rows[p]
                    if r < 0:
                        continue
                    z = i + oz - lo[r, 0]
                    y = j + oy - lo[r, 1]
                    x = k + ox - lo[r, 2]
                    acc[r, 0] += 1
                    acc[r, 1] += z
                    acc[r, 2] += y
                    acc[r, 3] += x
                    acc[r, 4] += z * z
                    acc[r, 5] += z * y
                    acc[r, 6] += z * x
                    acc[r, 7] += y * y
                    acc[r, 8] += y * x
                    acc[r, 9] += x * x

    @_numba.njit(cache=True, nogil=True)
    def _nb_project(pid, rows, oz, oy, ox, lo, vec, hi_out, lo_out):
        nz, ny, nx = pid.shape
        for i in range(nz):
            for j in range(ny):
                for k in range(nx):
                    p = pid[i, j, k]
                    if p == 0:
                        continue
                    r = rows[p]
                    if r < 0:
                        continue
                    v = ((i + oz - lo[r, 0]) * vec[r, 0] + (j + oy - lo[r, 1]) * vec[r, 1]
                         + (k + ox - lo[r, 2]) * vec[r, 2])
                    if v > hi_out[r]:
                        hi_out[r] = v
                    if v < lo_out[r]:
                        lo_out[r] = v

    _HAVE_NB = True
except ImportError:  # pragma: no cover
    _HAVE_NB = False

#: Largest particle id mapped through a dense lookup table (larger ids: per-block search).
_DENSE_LUT_MAX = 1 << 26


def _block_pass(particles, ids, fn, args, workers, init):
    """Run ``fn(block, rows, oz, oy, ox, *args, *acc)`` over the blocks in threads; return the per-thread accumulators."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from liberation.stats.measure import _block_grid, _read, normalise_chunks

    shape = tuple(int(s) for s in particles.shape)
    cores = list(_block_grid(shape, normalise_chunks(shape, None, particles)))
    ids = np.asarray(ids, dtype=np.int64)
    max_id = int(ids.max()) if ids.size else 0
    dense = max_id < _DENSE_LUT_MAX
    if dense:
        lut = np.full(max_id + 1, -1, dtype=np.int64)
        lut[ids] = np.arange(len(ids))
    order = np.argsort(ids)
    local = threading.local()
    accs = []
    lock = threading.Lock()

    def run(core):
        if not hasattr(local, "acc"):
            local.acc = init()
            with lock:
                accs.append(local.acc)
        sl = tuple(slice(a, b) for a, b in core)
        block = _read(particles, sl)
        if block.dtype.kind not in "ui":
            block = block.astype(np.int64)
        if dense:
            if block.size and int(block.max()) > max_id:  # ids not in the table (cannot happen with measure's ids)
                block = np.where(block > max_id, 0, block)
            rows = lut
        else:  # remap the block to rows + 1 (0 = not a listed particle)
            pos = np.searchsorted(ids, block.ravel(), sorter=order).clip(0, len(ids) - 1)
            hit = ids[order[pos]] == block.ravel()
            block = np.where(hit, order[pos] + 1, 0).reshape(block.shape)
            rows = np.concatenate([[-1], np.arange(len(ids), dtype=np.int64)])
        fn(np.ascontiguousarray(block), rows, core[0][0], core[1][0], core[2][0], *args, *local.acc)

    n_threads = max(1, min(int(workers or os.cpu_count() or 1), len(cores)))
    if n_threads == 1:
        for c in cores:
            run(c)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(run, cores))
    return accs


def principal_moments(particles, ids: np.ndarray, bbox: np.ndarray, *, voxel_size_um,
                      workers: int | None = None, sums: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Covariance matrices (µm²) of every particle's voxels, each voxel a full cube; one pass.

    Parameters
    ----------
    particles : array, shape (z, y, x)
        Particle ids (numpy, zarr or dask; read block by block along the array's chunks).
    ids : ndarray of int, shape (n,)
        Particle ids (0 not allowed); voxels of other ids are ignored.
    bbox : ndarray of int, shape (n, 6)
        Bounding boxes ``z0, y0, x0, z1, y1, x1`` (coordinates are taken from the low corner, so
        the integer sums are exact).
    voxel_size_um : tuple of 3 float
        Voxel size in µm.
    workers : int, optional
        Threads (default the CPU count).
    sums : ndarray of int64, shape (n, 10), optional
        The coordinate sums this pass makes, already summed elsewhere (``ParticleMeasurements.moments`` of
        ``measure_pass(moments=True)``, the same integers): no pass over ``particles`` then.

    Returns
    -------
    cov : ndarray of float64, shape (n, 3, 3)
        Covariance of the voxel centres plus ``s²/12`` per axis (the second moment of a voxel cube).
    counts : ndarray of int64, shape (n,)
        Voxels per particle.
    """
    vs = np.asarray(voxel_size_um, dtype=np.float64)
    n = len(ids)
    lo = np.ascontiguousarray(np.asarray(bbox, dtype=np.int64)[:, :3])
    if sums is not None:
        acc = np.asarray(sums, dtype=np.int64)
        if acc.shape != (n, 10):
            from liberation.errors import InputError

            raise InputError(f"sums has shape {acc.shape}; expected ({n}, 10), one row per particle id")
    else:
        fn = _nb_moments if _HAVE_NB else _np_moments
        accs = _block_pass(particles, ids, fn, (lo,), workers, lambda: (np.zeros((n, 10), dtype=np.int64),))
        acc = sum(a[0] for a in accs) if accs else np.zeros((n, 10), dtype=np.int64)
    cnt = acc[:, 0]
    nf = np.maximum(cnt, 1).astype(np.float64)
    mean = acc[:, 1:4] / nf[:, None]
    iu = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    cov = np.empty((n, 3, 3))
    for j, (a, b) in enumerate(iu):
        c = (acc[:, 4 + j] / nf - mean[:, a] * mean[:, b]) * vs[a] * vs[b]
        cov[:, a, b] = cov[:, b, a] = c
    cov += np.diag(vs**2 / 12.0)[None]
    return cov, cnt


def particle_moments_table(particles, ids: np.ndarray, bbox: np.ndarray, *, voxel_size_um,
                           workers: int | None = None, sums: np.ndarray | None = None) -> pd.DataFrame:
    """Elongation, flatness and intermediate axis length of every particle, vectorised (two passes).

    The same quantities as :func:`principal_axes` and
    :func:`liberation.stats.sieve.intermediate_axis_length` on each particle's mask (equal to
    rounding), without a per-particle loop: the second moments are summed per particle id block
    by block (exact integer sums relative to each bounding box), the ``(n, 3, 3)`` covariance
    stack is diagonalised at once with :func:`numpy.linalg.eigh`, and a second pass takes the
    extreme projections of the voxels on the intermediate axes. With ``sums`` (the analysis sums them
    in its tables pass, ``measure_pass(moments=True)``) the first pass is skipped.

    Parameters
    ----------
    particles : array, shape (z, y, x)
        Particle ids (numpy, zarr or dask).
    ids : ndarray of int, shape (n,)
        Particle ids.
    bbox : ndarray of int, shape (n, 6)
        Bounding boxes ``z0, y0, x0, z1, y1, x1`` (half-open), as measured.
    voxel_size_um : tuple of 3 float
        Voxel size in µm.
    workers : int, optional
        Threads.
    sums : ndarray of int64, shape (n, 10), optional
        The first pass's coordinate sums, made by ``measure_pass(moments=True)`` (then only the second
        pass reads ``particles``); see :func:`principal_moments`.

    Returns
    -------
    DataFrame
        Columns :data:`FAST_COLUMNS`, one row per ``ids`` entry (NaN for a particle of fewer than 2 voxels,
        as the per-particle functions).
    """
    from liberation.stats.sieve import _corner_half_width

    vs = np.asarray(voxel_size_um, dtype=np.float64)
    n = len(ids)
    cov, cnt = principal_moments(particles, ids, bbox, voxel_size_um=vs, workers=workers, sums=sums)
    if n == 0:
        return pd.DataFrame({k: np.array([], dtype=float) for k in FAST_COLUMNS})
    w, vecs = np.linalg.eigh(cov)  # ascending
    ev = np.maximum(w[:, ::-1], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        el = np.where(ev[:, 0] > 0, np.sqrt(ev[:, 1] / ev[:, 0]), np.nan)
        fl = np.where(ev[:, 1] > 0, np.sqrt(ev[:, 2] / ev[:, 1]), np.nan)
    small = cnt < 2
    el[small] = np.nan
    fl[small] = np.nan
    vec = np.ascontiguousarray(vecs[:, :, 1])
    vvox = np.ascontiguousarray(vec * vs[None, :])  # projection per voxel step (µm)
    lo = np.ascontiguousarray(np.asarray(bbox, dtype=np.int64)[:, :3])
    fn = _nb_project if _HAVE_NB else _np_project
    accs = _block_pass(particles, ids, fn, (lo, vvox), workers,
                       lambda: (np.full(n, -np.inf), np.full(n, np.inf)))
    hi = np.max([a[0] for a in accs], axis=0) if accs else np.full(n, -np.inf)
    lo_p = np.min([a[1] for a in accs], axis=0) if accs else np.full(n, np.inf)
    width = hi - lo_p + 2.0 * _corner_half_width(vec, vs)
    width[cnt == 0] = np.nan
    return pd.DataFrame({"elongation": el, "flatness": fl, "intermediate_axis_um": width})
