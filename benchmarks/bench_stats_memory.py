"""Peak memory of ``analyse`` on a chunked zarr volume (fresh process, volume never fully in memory).

Run::

    python benchmarks/bench_stats_memory.py --size 512 --particles 10000 --chunk 128

The zarr arrays are written slab by slab (spheres + blocky phase texture as in bench_stats.py,
generated per slab), then a fresh Python process runs ``analyse`` on them and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap

import numpy as np


def write(path, size, n_particles, chunk, seed=0):
    import zarr

    rng = np.random.default_rng(seed)
    fill = 0.3 * size**3 / n_particles
    r_mean = (3 * fill / (4 * np.pi)) ** (1 / 3)
    radii = rng.uniform(0.7, 1.3, n_particles) * r_mean
    centres = rng.uniform(0, size, (n_particles, 3))
    cells = rng.integers(1, 5, (-(-size // 8),) * 3).astype(np.uint8)
    zp = zarr.create_array(f"{path}/p.zarr", shape=(size,) * 3, chunks=(chunk,) * 3, dtype=np.uint32)
    zq = zarr.create_array(f"{path}/q.zarr", shape=(size,) * 3, chunks=(chunk,) * 3, dtype=np.uint8)
    idx = np.arange(size) // 8
    for z0 in range(0, size, chunk):
        z1 = min(size, z0 + chunk)
        pid = np.zeros((z1 - z0, size, size), dtype=np.uint32)
        for i, (r, c) in enumerate(zip(radii, centres), start=1):
            if c[0] + r < z0 or c[0] - r >= z1:
                continue
            lo = np.maximum(np.floor(c - r).astype(int), [z0, 0, 0])
            hi = np.minimum(np.ceil(c + r).astype(int) + 1, [z1, size, size])
            z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            ball = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
            pid[lo[0] - z0:hi[0] - z0, lo[1]:hi[1], lo[2]:hi[2]][ball] = i
        ph = cells[idx[z0:z1, None, None], idx[None, :, None], idx[None, None, :]]
        ph[pid == 0] = 0
        zp[z0:z1] = pid
        zq[z0:z1] = ph


CHILD = textwrap.dedent("""
    import resource, sys, time, zarr
    from liberation.minerals import spodumene_ore
    from liberation.stats import analyse
    p = zarr.open_array(sys.argv[1] + "/p.zarr", mode="r"); q = zarr.open_array(sys.argv[1] + "/q.zarr", mode="r")
    t = time.perf_counter()
    r = analyse(p, q, voxel_size_um=10.0, minerals=spodumene_ore(), target="spodumene", size_classes_um=(63, 100, 250))
    print(f"analyse on zarr {p.shape} chunks {p.chunks}: {time.perf_counter() - t:.1f} s, {len(r.particles)} particles,"
          f" peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
""")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--particles", type=int, default=10000)
    ap.add_argument("--chunk", type=int, default=128)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp, args.size, args.particles, args.chunk)
        print(f"volume {args.size}^3 uint32 = {args.size**3 * 4 / 2**20:.0f} MiB of particle ids")
        subprocess.run([sys.executable, "-c", CHILD, tmp], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
