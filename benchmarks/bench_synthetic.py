"""Benchmark of the synthetic sample generators (run: python benchmarks/bench_synthetic.py [size]).

Times ``make_sample`` and its stages at ``size``³ (default 256) at 10 µm voxels, and
compares particle generation with what a user would otherwise do: porespy's random
sequential addition of spheres (``porespy.generators.random_spheres``, called once per
radius class, largest first, to the same packing fraction) followed by
``scipy.ndimage.label``. porespy gives spheres only, without touching control; ours gives
irregular particles. Both wall-clock and CPU (process) times are printed, because on a
shared machine wall time depends on the load.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def _timed(func):
    w0, c0 = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - w0, time.process_time() - c0


def _porespy_particles(shape, radii_vox, phi_total, seed):
    import porespy as ps
    from scipy import ndimage

    im = np.zeros(shape, dtype=bool)
    per_class = phi_total / len(radii_vox)
    for k, r in enumerate(radii_vox):
        target = (k + 1) * per_class
        im = ps.generators.random_spheres(im=im, r=int(r), clearance=1, phi=target, edges="contained",
                                          seed=seed + k, smooth=True)
    labels, n = ndimage.label(im)
    return labels, n


def main(size: int = 256) -> None:
    from liberation.synthetic import add_grains, ct_forward, make_particles, make_sample

    shape = (size, size, size)
    print(f"synthetic generators at {size}^3, 10 µm voxels, 1 thread (OMP_NUM_THREADS={_env('OMP_NUM_THREADS')})")
    make_sample((32, 32, 32), seed=0)  # warm imports

    sample, w, c = _timed(lambda: make_sample(shape, seed=0))
    n = int(sample.particles.max())
    print(f"make_sample: wall {w:.2f} s, cpu {c:.2f} s, {n} particles, packing {np.mean(sample.particles > 0):.3f}")
    particles, wp, cp = _timed(lambda: make_particles(shape, voxel_size_um=10.0, seed=0))
    print(f"  make_particles: wall {wp:.2f} s, cpu {cp:.2f} s ({int(particles.max())} particles)")
    phases, wg, cg = _timed(lambda: add_grains(particles, voxel_size_um=10.0, seed=0))
    print(f"  add_grains:     wall {wg:.2f} s, cpu {cg:.2f} s")
    _, wc, cc = _timed(lambda: ct_forward(phases, voxel_size_um=10.0, seed=0))
    print(f"  ct_forward:     wall {wc:.2f} s, cpu {cc:.2f} s")

    try:
        import porespy  # noqa: F401
    except ImportError:
        print("porespy not installed: no comparison")
        return
    _porespy_particles((32, 32, 32), [4], 0.1, 0)  # numba warm-up
    radii = [17, 10, 6, 3]  # ESD 340, 200, 120, 60 µm at 10 µm voxels
    phi = float(np.mean(particles > 0))
    (_, n_ps), wps, cps = _timed(lambda: _porespy_particles(shape, radii, phi, 0))
    print(f"porespy random_spheres x{len(radii)} radii + label: wall {wps:.2f} s, cpu {cps:.2f} s, {n_ps} spheres")
    print(f"ratio porespy / make_particles (cpu): {cps / cp:.2f}x")


def _env(name: str) -> str:
    import os

    return os.environ.get(name, "unset")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
