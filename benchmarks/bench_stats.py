"""Benchmark of the liberation statistics against the tools a user would otherwise use.

Run::

    OMP_NUM_THREADS=2 python benchmarks/bench_stats.py --size 512 --particles 10000
    python benchmarks/bench_stats.py --size 128 --particles 200      # quick

Compares, on one synthetic volume (spheres with a blocky phase texture):

- composition table (voxels of every phase per particle): this library
  (``composition_table``: one pass, numba, threads over slabs), scikit-image
  ``regionprops_table`` with an ``extra_properties`` phase-count function, one
  ``scipy.ndimage.sum_labels`` per phase, one numpy ``bincount`` over ``id * n_phases + phase``,
  and a plain parallel numba loop that only reads both arrays (the memory-bandwidth limit);
- per-particle surface areas: this library (``measure``: composition + faces + boxes in one pass)
  vs ``porespy.metrics.regionprops_3D`` surface areas (marching cubes), on a crop of
  ``--porespy-size`` when the full size would take too long;
- the full ``analyse`` (3D tables, z sections, association, grains);
- optionally ``--zarr``: ``analyse`` on a chunked zarr copy, with peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time

import numpy as np


def make_volume(size: int, n_particles: int, seed: int = 0, cell: int = 8):
    """Spheres (later ones overwrite earlier ones) with phases 1..4 from random 8^3 cells."""
    rng = np.random.default_rng(seed)
    shape = (size,) * 3
    pid = np.zeros(shape, dtype=np.uint32)
    fill = 0.3 * size**3 / n_particles
    r_mean = (3 * fill / (4 * np.pi)) ** (1 / 3)
    radii = rng.uniform(0.7, 1.3, n_particles) * r_mean
    centres = rng.uniform(0, size, (n_particles, 3))
    for i, (r, c) in enumerate(zip(radii, centres), start=1):
        lo = np.maximum(np.floor(c - r).astype(int), 0)
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, size)
        z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        ball = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
        pid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][ball] = i
    n = -(-size // cell)
    cells = rng.integers(1, 5, (n, n, n)).astype(np.uint8)
    idx = np.arange(size) // cell
    ph = cells[idx[:, None, None], idx[None, :, None], idx[None, None, :]]
    ph[pid == 0] = 0
    return pid, ph


def timed(fn, *args, repeat=1, **kw):
    best = np.inf
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t)
    return best, out


def plain_kernel():
    import numba

    @numba.njit(parallel=True, cache=True)
    def count(pid, ph, n_ids, n_phases, n_chunks):
        out = np.zeros((n_chunks, n_ids, n_phases), dtype=np.int64)
        step = (pid.size + n_chunks - 1) // n_chunks
        for k in numba.prange(n_chunks):
            for i in range(k * step, min(pid.size, (k + 1) * step)):
                out[k, pid[i], ph[i]] += 1
        return out.sum(axis=0)

    return count


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512, help="edge of the cubic volume (voxels)")
    ap.add_argument("--particles", type=int, default=10000)
    ap.add_argument("--porespy-size", type=int, default=256, help="crop edge for porespy (0: skip porespy)")
    ap.add_argument("--skip-skimage", action="store_true")
    ap.add_argument("--zarr", action="store_true", help="also run analyse on a chunked zarr store")
    ap.add_argument("--chunk", type=int, default=128)
    args = ap.parse_args(argv)

    import numba
    from scipy import ndimage
    from skimage.measure import regionprops_table

    from liberation.minerals import spodumene_ore
    from liberation.stats import analyse, composition_table, measure

    minerals = spodumene_ore()
    P = minerals.max_id + 1
    t, (pid, ph) = timed(make_volume, args.size, args.particles)
    n = int(len(np.unique(pid)) - 1)
    print(f"volume {pid.shape}, {n} particles, made in {t:.1f} s; numba threads {numba.get_num_threads()}")
    res = {}

    # warm up the JIT kernels on a tiny volume
    small_p, small_q = pid[:8, :8, :8].copy(), ph[:8, :8, :8].copy()
    composition_table(small_p, small_q, minerals=minerals)
    measure(small_p, small_q, voxel_size_um=1.0, minerals=minerals)
    kernel = plain_kernel()
    kernel(small_p.ravel(), small_q.ravel(), int(small_p.max()) + 1, P, numba.get_num_threads())

    res["library composition_table"], ours = timed(composition_table, pid, ph, minerals=minerals, repeat=3)
    res["plain numba single pass"], ref = timed(kernel, pid.ravel(), ph.ravel(), int(pid.max()) + 1, P,
                                                numba.get_num_threads(), repeat=3)
    assert np.array_equal(ours["voxels_quartz"].to_numpy(), ref[ours["particle_id"].to_numpy(), 2])

    def bincount():
        key = pid.astype(np.int64) * P + ph
        return np.bincount(key.ravel(), minlength=(int(pid.max()) + 1) * P).reshape(-1, P)

    res["numpy bincount"], _ = timed(bincount)
    labels = np.arange(1, int(pid.max()) + 1)

    def scipy_sum_labels():
        return [ndimage.sum_labels(ph == m, pid, index=labels) for m in minerals.ids]

    res["scipy sum_labels (one per phase)"], _ = timed(scipy_sum_labels)

    if not args.skip_skimage:
        def phase_counts(regionmask, intensity):
            return np.bincount(intensity[regionmask].astype(np.intp), minlength=P)

        res["skimage regionprops_table"], _ = timed(
            regionprops_table, pid, intensity_image=ph, properties=("label", "area", "bbox"),
            extra_properties=(phase_counts,))

    res["library measure (composition+faces+bbox)"], _ = timed(measure, pid, ph, voxel_size_um=1.0,
                                                               minerals=minerals)
    if args.porespy_size:
        import porespy

        c = min(args.porespy_size, args.size)
        cp, cq = np.ascontiguousarray(pid[:c, :c, :c]), np.ascontiguousarray(ph[:c, :c, :c])
        from skimage.segmentation import relabel_sequential

        cp = relabel_sequential(cp)[0]

        def porespy_surfaces():
            props = porespy.metrics.regionprops_3D(cp)
            return [p.surface_area for p in props]

        res[f"porespy regionprops_3D surfaces ({c}^3 crop)"], _ = timed(porespy_surfaces)
        res[f"library measure ({c}^3 crop)"], _ = timed(measure, cp, cq, voxel_size_um=1.0, minerals=minerals)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["library analyse (full, in memory)"], result = timed(
        analyse, pid, ph, voxel_size_um=10.0, minerals=minerals, target="spodumene", size_classes_um=(63, 100, 250))
    print(f"analyse: {len(result.particles)} particles, {len(result.sections)} section particles, "
          f"{len(result.grain_sizes)} grains; peak RSS so far {rss0:.0f} MiB")
    if args.zarr:
        import zarr

        with tempfile.TemporaryDirectory() as tmp:
            zp = zarr.create_array(f"{tmp}/p.zarr", shape=pid.shape, chunks=(args.chunk,) * 3, dtype=pid.dtype)
            zp[:] = pid
            zq = zarr.create_array(f"{tmp}/q.zarr", shape=ph.shape, chunks=(args.chunk,) * 3, dtype=ph.dtype)
            zq[:] = ph
            res["library analyse (zarr, chunked)"], r2 = timed(
                analyse, zp, zq, voxel_size_um=10.0, minerals=minerals, target="spodumene",
                size_classes_um=(63, 100, 250))
            assert r2.particles.equals(result.particles)
            print("zarr result equals the in-memory result")

    print()
    for k, v in res.items():
        print(f"{k:48s} {v:8.3f} s")
    comp = res["library composition_table"]
    print()
    print(f"numba single pass / library composition: {res['plain numba single pass'] / comp:6.2f}  "
          "(target >= 0.5: within 2x)")
    print(f"numpy bincount / library composition:    {res['numpy bincount'] / comp:6.2f}")
    print(f"scipy sum_labels / library composition:  {res['scipy sum_labels (one per phase)'] / comp:6.2f}")
    if "skimage regionprops_table" in res:
        print(f"skimage path / library composition:      {res['skimage regionprops_table'] / comp:6.2f}  "
              "(target >= 10)")
    if args.porespy_size:
        c = min(args.porespy_size, args.size)
        ratio = res[f"porespy regionprops_3D surfaces ({c}^3 crop)"] / res[f"library measure ({c}^3 crop)"]
        print(f"porespy surfaces / library measure ({c}^3): {ratio:6.2f}  (target >= 5)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
