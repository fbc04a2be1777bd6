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
  needle / a plate).
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
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return float("nan"), float("nan")
    # the 8 corners of every voxel, deduplicated; only the extreme ones matter, so keep the voxels
    # that are not surrounded on all 6 sides (interior voxels cannot hold a hull vertex)
    from scipy import ndimage

    interior = ndimage.binary_erosion(np.pad(mask, 1), structure=ndimage.generate_binary_structure(3, 1))[1:-1, 1:-1, 1:-1]
    idx = np.argwhere(mask & ~interior)
    corners = (idx[:, None, :] + np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])[None]).reshape(-1, 3)
    # unique corners via one int64 key per corner (sorted as np.unique(axis=0), much faster); of each
    # row of corners along x only the two ends can be hull vertices (the rest lie between them)
    span = corners.max(axis=0).astype(np.int64) + 1
    key = np.unique((corners[:, 0].astype(np.int64) * span[1] + corners[:, 1]) * span[2] + corners[:, 2])
    row = key // span[2]
    ends = np.concatenate([[True], row[1:] != row[:-1]]) | np.concatenate([row[1:] != row[:-1], [True]])
    key = key[ends]
    points = np.stack([key // (span[1] * span[2]), (key // span[2]) % span[1], key % span[2]], axis=1)
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
                    cache_bytes: int = 512 << 20) -> tuple[pd.DataFrame, np.ndarray]:
    """Mesh surface, sphericity, elongation, flatness and pores of every particle (one crop each).

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

    Returns
    -------
    DataFrame
        Columns ``mesh_area_um2, mesh_volume_um3, sphericity, elongation, flatness, feret_max_um,
        feret_min_um, intermediate_axis_um, pore_voxels`` (the intermediate axis length, the
        sieve-equivalent size: :mod:`liberation.stats.sieve`).
    ndarray of int64, shape (n, n_phases, 3)
        Pore faces (see :func:`pores_of`).
    """
    from liberation.stats.measure import BlockReader

    shape = tuple(int(s) for s in particles.shape)
    n = len(ids)
    out = {k: np.full(n, np.nan) for k in ("mesh_area_um2", "mesh_volume_um3", "sphericity", "elongation",
                                            "flatness", "feret_max_um", "feret_min_um", "intermediate_axis_um")}
    pore_vox = np.zeros(n, dtype=np.int64)
    pore_faces = np.zeros((n, n_phases, 3), dtype=np.int64)
    vs = tuple(float(v) for v in voxel_size_um)
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
    df = pd.DataFrame(out)
    df["pore_voxels"] = pore_vox
    return df, pore_faces


def _shape_loop(order, ids, bbox, shape, pread, qread, vs, n_phases, out, pore_vox, pore_faces) -> None:
    """The per-particle measurements of :func:`particle_shapes`, filled into ``out``, ``pore_vox``, ``pore_faces``."""
    from liberation.stats.sieve import intermediate_axis_length

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
        out["elongation"][i], out["flatness"][i] = principal_axes(mask, vs)
        out["feret_max_um"][i], out["feret_min_um"][i] = feret_diameters(mask, vs)
        out["intermediate_axis_um"][i] = intermediate_axis_length(mask, vs)
        pore_vox[i], pore_faces[i] = pores_of(cid, cph, int(pid), n_phases)
