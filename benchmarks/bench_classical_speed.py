"""Speed of classical particle separation on a big pack of touching grains, against porespy SNOW.

Run::

    python benchmarks/bench_classical_speed.py --size 300 --particles 1000 --threads 2 \\
        --pack /tmp/sand300.npz        # the pack is made once (minutes) and cached there

The pack is ``liberation.synthetic.packs.touching_spheres`` (every grain touches a neighbour in
a neck, exact truth). Every method gets the same foreground (the truth's particle voxels) and
the same thread count (``--threads`` sets OpenMP/BLAS/numba and the ``edt`` threads before the
libraries load). Methods:

- ``separate_particles`` (relative_dynamic, the default of ``segment --classical`` and the report's
  fallback), with the ``edt`` distance map;
- the same with scipy's distance transform (the previous implementation's distance map);
- ``separate_particles(method="h_maxima")``;
- ``porespy.filters.snow_partitioning`` with its defaults (the baseline tool).

``--stages``: the stages of the default method timed one by one (wall and CPU), to see what is
serial (only the distance map is multi-threaded).

Printed: wall and process CPU seconds (CPU time barely depends on other jobs: on a loaded machine it
bounds the quiet wall time from above for single-threaded parts), particles found vs true, count
error, and the wall-time ratio porespy / library.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=300)
    ap.add_argument("--particles", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pack", help="npz cache of the pack (made when missing)")
    ap.add_argument("--skip", nargs="*", default=[], help="method names to leave out")
    ap.add_argument("--stages", action="store_true", help="also time the stages of the default method")
    args = ap.parse_args(argv)
    _set_threads(args.threads)

    import numpy as np

    from liberation.segmentation import classical
    from liberation.synthetic import packs

    path = Path(args.pack) if args.pack else None
    if path is not None and path.exists():
        d = np.load(path)
        truth, vs = d["particles"], tuple(float(v) for v in d["vs"])
    else:
        t = time.perf_counter()
        p = packs.touching_spheres(shape=(args.size,) * 3, n_particles=args.particles, seed=args.seed)
        truth, vs = p.particles, tuple(float(v) for v in p.voxel_size_um)
        print(f"pack made in {time.perf_counter() - t:.0f} s (not timed below)")
        if path is not None:
            np.savez_compressed(path, particles=truth, vs=np.array(vs))
    fg = truth > 0
    n_true = int(truth.max())
    print(f"pack {truth.shape}, {n_true} particles, voxel {vs} µm, foreground {fg.mean():.2f}; "
          f"threads {args.threads}; load {os.getloadavg()[0]:.2f}")

    def scipy_edt(mask, voxel_size_um, *, workers=None):
        from scipy import ndimage

        return ndimage.distance_transform_edt(mask, sampling=voxel_size_um).astype(np.float32)

    def with_scipy_edt(f):
        def run():
            saved = classical.distance_map
            classical.distance_map = scipy_edt
            try:
                return f()
            finally:
                classical.distance_map = saved
        return run

    def snow():
        import porespy

        return np.asarray(porespy.filters.snow_partitioning(fg).regions)

    methods = {
        "separate_particles (edt)": lambda: classical.separate_particles(fg, voxel_size_um=vs),
        "separate_particles (scipy EDT)": with_scipy_edt(lambda: classical.separate_particles(fg, voxel_size_um=vs)),
        "h_maxima": lambda: classical.separate_particles(fg, voxel_size_um=vs, method="h_maxima"),
        "porespy snow": snow,
    }
    # warm-up (imports, numba caches) on a small crop
    small = fg[:40, :40, :40]
    classical.separate_particles(small, voxel_size_um=vs)
    res = {}
    for name, fn in methods.items():
        if name in args.skip:
            continue
        t = time.perf_counter()
        c = time.process_time()
        lab = fn()
        dt = time.perf_counter() - t
        cpu = time.process_time() - c
        n = int(len(np.unique(lab[lab > 0])))
        res[name] = dt
        print(f"{name:<34s} {dt:7.2f} s wall {cpu:7.2f} s CPU  {n:5d} particles  "
              f"count error {100 * (n - n_true) / n_true:+6.1f} %", flush=True)
    if args.stages:
        _stages(fg, vs, args.threads)
    if "porespy snow" in res and "separate_particles (edt)" in res:
        print(f"porespy snow / separate_particles: {res['porespy snow'] / res['separate_particles (edt)']:.2f}")
    if "separate_particles (scipy EDT)" in res and "separate_particles (edt)" in res:
        print(f"scipy-EDT version / edt version: "
              f"{res['separate_particles (scipy EDT)'] / res['separate_particles (edt)']:.2f}")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


def _stages(fg, vs, threads: int) -> None:
    """Wall and CPU time of each stage of ``separate_particles`` (default method), in its order."""
    import numpy as np
    from scipy import ndimage
    from skimage.segmentation import watershed

    from liberation.segmentation import classical

    stages = {}

    def timed(name, f, *a, **k):
        t, c = time.perf_counter(), time.process_time()
        r = f(*a, **k)
        stages[name] = (time.perf_counter() - t, time.process_time() - c)
        return r

    vmin = min(vs)
    dist = timed(f"distance map (edt, {threads} threads)", classical.distance_map, fg, vs, workers=threads)
    smooth = timed("gaussian filter", lambda: ndimage.gaussian_filter(dist, [0.5 * vmin / v for v in vs]) * fg)
    peaks = timed("maximum filter", lambda: (smooth == ndimage.maximum_filter(smooth, size=3)) & fg)
    markers, _ = timed("label peaks", ndimage.label, peaks, structure=np.ones((3, 3, 3)))
    regions = timed("watershed (scikit-image)", watershed, -smooth, markers, mask=fg)
    labels = timed("merge by relative dynamic", classical._merge_by_relative_dynamic, regions, smooth, ratio=0.9,
                   h_um=0.5 * vmin)
    timed("label unseeded", ndimage.label, fg & (labels == 0))
    timed("drop small + relabel", classical._drop_small_relabel, labels, 8)
    cpu = sum(c for _, c in stages.values())
    for name, (w, c) in stages.items():
        print(f"  stage {name:<30s} {w:7.2f} s wall {c:6.2f} s CPU ({100 * c / cpu:4.1f} % of the CPU)")
    print(f"  stages total {sum(w for w, _ in stages.values()):.2f} s wall, {cpu:.2f} s CPU", flush=True)


if __name__ == "__main__":
    main()
