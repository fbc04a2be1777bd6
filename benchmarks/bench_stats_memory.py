"""Peak memory and time of ``analyse`` on a chunked volume (fresh process, volume never fully in memory).

Two ways to run it.

1. Raw zarr arrays written slab by slab (spheres + blocky phase texture, as in bench_stats.py)::

       python benchmarks/bench_stats_memory.py --size 512 --particles 10000 --chunk 128

2. A real sample store (as ``liberation report`` reads it: ``store.label("particles")`` and
   ``store.label("phases")`` are zarr arrays). Build a big one chunk-wise from a repeated
   synthetic tile (particle ids offset per tile so they stay unique, tiles mirrored so the
   volume is not purely periodic; generation needs about one z slab of memory), then measure::

       python benchmarks/bench_stats_memory.py --make-store /tmp/big.zarr --size 1024 --tile 256 \\
           --particles-per-tile 1250 --chunk 128
       OMP_NUM_THREADS=2 /usr/bin/time -v python benchmarks/bench_stats_memory.py --store /tmp/big.zarr --report

   ``--store`` runs ``analyse`` in a fresh child process with the report's arguments (z sections
   at the default spacing, size classes 63/100/250 µm, target spodumene) and prints its time and
   peak RSS (``resource.getrusage``, which includes everything the process ever held); with
   ``--report`` the child runs the whole ``liberation report`` (``run_report``: analyse + tables +
   plots + HTML) and prints the analyse part and the total separately.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np


def _spheres(size_zyx, n_particles, rng, z_range=None):
    """Particle ids (uint32) of random spheres (30 % packing) and a blocky 4-phase texture (uint8)."""
    size = np.array(size_zyx)
    fill = 0.3 * np.prod(size) / n_particles
    r_mean = (3 * fill / (4 * np.pi)) ** (1 / 3)
    radii = rng.uniform(0.7, 1.3, n_particles) * r_mean
    centres = rng.uniform(0, 1, (n_particles, 3)) * size
    cells = rng.integers(1, 5, tuple(-(-size // 8))).astype(np.uint8)
    return radii, centres, cells


def _render(radii, centres, cells, shape, z0, z1):
    pid = np.zeros((z1 - z0, shape[1], shape[2]), dtype=np.uint32)
    for i, (r, c) in enumerate(zip(radii, centres), start=1):
        if c[0] + r < z0 or c[0] - r >= z1:
            continue
        lo = np.maximum(np.floor(c - r).astype(int), [z0, 0, 0])
        hi = np.minimum(np.ceil(c + r).astype(int) + 1, [z1, shape[1], shape[2]])
        z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        ball = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r
        pid[lo[0] - z0:hi[0] - z0, lo[1]:hi[1], lo[2]:hi[2]][ball] = i
    iz = np.arange(z0, z1) // 8
    iy = np.arange(shape[1]) // 8
    ix = np.arange(shape[2]) // 8
    ph = cells[iz[:, None, None], iy[None, :, None], ix[None, None, :]]
    ph[pid == 0] = 0
    return pid, ph


def write(path, size, n_particles, chunk, seed=0):
    """Raw zarr arrays ``p.zarr`` (uint32 ids) and ``q.zarr`` (uint8 phases) under ``path``."""
    import zarr

    rng = np.random.default_rng(seed)
    radii, centres, cells = _spheres((size,) * 3, n_particles, rng)
    zp = zarr.create_array(f"{path}/p.zarr", shape=(size,) * 3, chunks=(chunk,) * 3, dtype=np.uint32)
    zq = zarr.create_array(f"{path}/q.zarr", shape=(size,) * 3, chunks=(chunk,) * 3, dtype=np.uint8)
    for z0 in range(0, size, chunk):
        z1 = min(size, z0 + chunk)
        pid, ph = _render(radii, centres, cells, (size,) * 3, z0, z1)
        zp[z0:z1] = pid
        zq[z0:z1] = ph


class TiledVolume:
    """A (size,)*3 array made of a repeated (tile,)*3 block, read by z slabs (enough for ``write_label``).

    Tile ``t`` is mirrored along the axes given by the bits of ``t`` and, for particle ids,
    offset by ``t * id_step`` (0 stays 0), so ids are unique over the volume.
    """

    def __init__(self, tile: np.ndarray, size: int, id_step: int | None = None, dtype=None):
        self.tile = tile
        self.n = tile.shape[0]
        self.shape = (size, size, size)
        self.dtype = np.dtype(dtype or tile.dtype)
        self.ndim = 3
        self.id_step = id_step
        self.nt = -(-size // self.n)

    def _tile(self, tz, ty, tx):
        t = (tz * self.nt + ty) * self.nt + tx
        block = self.tile
        for axis in range(3):
            if (t >> axis) & 1:
                block = np.flip(block, axis)
        if self.id_step is None:
            return block.astype(self.dtype)
        out = block.astype(self.dtype)
        out[out > 0] += self.dtype.type(t * self.id_step)
        return out

    def __getitem__(self, key):
        if not isinstance(key, slice):
            key = key[0]
        z0, z1, _ = key.indices(self.shape[0])
        out = np.empty((z1 - z0,) + self.shape[1:], dtype=self.dtype)
        n, size = self.n, self.shape[0]
        for tz in range(z0 // n, -(-z1 // n)):
            a, b = max(z0, tz * n), min(z1, (tz + 1) * n)
            for ty in range(self.nt):
                for tx in range(self.nt):
                    blk = self._tile(tz, ty, tx)[a - tz * n:b - tz * n]
                    y1, x1 = min(size, (ty + 1) * n), min(size, (tx + 1) * n)
                    out[a - z0:b - z0, ty * n:y1, tx * n:x1] = blk[:, : y1 - ty * n, : x1 - tx * n]
        return out


def make_store(path, size, tile, n_per_tile, chunk, seed=0, voxel_size_um=10.0):
    """A sample store (CT + labels/particles uint32 + labels/phases uint8) built tile by tile."""
    from liberation.io import create_store
    from liberation.minerals import spodumene_ore

    rng = np.random.default_rng(seed)
    radii, centres, cells = _spheres((tile,) * 3, n_per_tile, rng)
    pid, ph = _render(radii, centres, cells, (tile,) * 3, 0, tile)
    particles = TiledVolume(pid, size, id_step=n_per_tile, dtype=np.uint32)
    phases = TiledVolume(ph, size)
    grey = np.array([1000, 31500, 26500, 26200, 28300], dtype=np.uint16)  # void + 4 minerals

    def ct_slabs():
        for z0 in range(0, size, chunk):
            yield z0, grey[phases[z0:min(size, z0 + chunk)]]

    store = create_store(path, None, voxel_size_um=voxel_size_um, chunks=chunk,
                         blocks=((size,) * 3, np.uint16, ct_slabs()), step="benchmark")
    store.write_label("phases", phases, minerals=spodumene_ore(), step="benchmark")
    store.write_label("particles", particles, step="benchmark")
    return store


CHILD_ZARR = textwrap.dedent("""
    import resource, sys, time, zarr
    from liberation.minerals import spodumene_ore
    from liberation.stats import analyse
    p = zarr.open_array(sys.argv[1] + "/p.zarr", mode="r"); q = zarr.open_array(sys.argv[1] + "/q.zarr", mode="r")
    t = time.perf_counter()
    r = analyse(p, q, voxel_size_um=10.0, minerals=spodumene_ore(), target="spodumene", size_classes_um=(63, 100, 250))
    print(f"analyse on zarr {p.shape} chunks {p.chunks}: {time.perf_counter() - t:.1f} s, {len(r.particles)} particles,"
          f" {len(r.grain_sizes)} grains, {len(r.sections)} section particles,"
          f" peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
""")

CHILD_STORE = textwrap.dedent("""
    import resource, sys, tempfile, time
    import liberation.stats
    from liberation.io import open_store

    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    store_path, mode = sys.argv[1], sys.argv[2]
    store = open_store(store_path, mode="r")
    print(f"store {store_path}: shape {store.shape}, chunks {store.label('particles').chunks}, "
          f"labels {store.label_names}; RSS before {rss():.0f} MiB", flush=True)
    if mode == "analyse":
        t = time.perf_counter()
        r = liberation.stats.analyse(store.label("particles"), store.label("phases"), voxel_size_um=store.voxel_size_um,
                                     minerals=store.minerals, target="spodumene", size_classes_um=(63, 100, 250))
        print(f"analyse: {time.perf_counter() - t:.1f} s, {len(r.particles)} particles, {len(r.grain_sizes)} grains,"
              f" {len(r.sections)} section particles, peak RSS {rss():.0f} MiB", flush=True)
    else:
        from liberation.workflows.report_store import run_report

        original = liberation.stats.analyse

        def timed(*a, **k):
            t = time.perf_counter()
            r = original(*a, **k)
            print(f"  analyse part: {time.perf_counter() - t:.1f} s, {len(r.particles)} particles,"
                  f" {len(r.grain_sizes)} grains, {len(r.sections)} section particles,"
                  f" peak RSS so far {rss():.0f} MiB", flush=True)
            return r

        liberation.stats.analyse = timed
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run_report(store_path, tmp + "/report", target="spodumene", size_classes_um=(63, 100, 250))
            print(f"report (run_report): {time.perf_counter() - t:.1f} s, peak RSS {rss():.0f} MiB", flush=True)
""")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--particles", type=int, default=10000, help="particles of the raw zarr volume")
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--store", help="measure analyse on this existing sample store")
    ap.add_argument("--report", action="store_true", help="with --store: run the whole report, not only analyse")
    ap.add_argument("--make-store", help="create a sample store here (then exit)")
    ap.add_argument("--tile", type=int, default=256, help="edge of the repeated tile for --make-store")
    ap.add_argument("--particles-per-tile", type=int, default=1250)
    args = ap.parse_args(argv)
    if args.make_store:
        t = time.perf_counter()
        store = make_store(args.make_store, args.size, args.tile, args.particles_per_tile, args.chunk)
        print(f"store {store.path}: {store.shape}, chunks {args.chunk}, "
              f"{(-(-args.size // args.tile)) ** 3 * args.particles_per_tile} particle ids at most, "
              f"written in {time.perf_counter() - t:.0f} s")
        return 0
    if args.store:
        subprocess.run([sys.executable, "-c", CHILD_STORE, args.store, "report" if args.report else "analyse"],
                       check=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp, args.size, args.particles, args.chunk)
        print(f"volume {args.size}^3 uint32 = {args.size**3 * 4 / 2**20:.0f} MiB of particle ids")
        subprocess.run([sys.executable, "-c", CHILD_ZARR, tmp], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
