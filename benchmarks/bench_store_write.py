"""Write speed and peak memory of :func:`liberation.io.create_store` and ``write_label`` on a large volume.

Each measurement runs in a fresh child process (so ``ru_maxrss`` is that run's own high-water
mark). The child builds a CT-like uint16 volume in memory (smooth spheres + Gaussian noise, so
it compresses like a real scan, not like zeros), a blocky uint8 phase image and uint32 particle
ids, then times::

    create_store(path, ct, voxel_size_um=2.0, chunks=CHUNK, pyramid_levels=LEVELS)
    store.write_label("phases", phases)        # with the same pyramid levels
    store.write_label("particles", particles)

and prints, per step, the wall time, the throughput of level 0 (MiB/s of uncompressed data) and
the peak RSS above the RSS before the step (the inputs are already in memory then; the peak
(``VmHWM``) is reset before each step through ``/proc/self/clear_refs``, Linux only). Example::

    OMP_NUM_THREADS=2 python benchmarks/bench_store_write.py --size 512 --levels 2 --chunk 128
    python benchmarks/bench_store_write.py --size 1024 --levels 2 --chunk 128 --image-only   # 2 GiB of CT

``--validate`` also checks the written store with ome-zarr-models (not timed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent(
    r"""
    import json, resource, sys, time, shutil
    import numpy as np

    size, levels, chunk, path, ngff, validate, image_only = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                                            sys.argv[4], sys.argv[5], sys.argv[6] == "1",
                                                            sys.argv[7] == "1")

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    def reset_peak():  # Linux >= 4.0: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def peak_mib():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024

    rng = np.random.default_rng(0)
    n = size
    ct = np.empty((n, n, n), np.uint16)
    shape_l = (8, 8, 8) if image_only else (n, n, n)
    phases = np.zeros(shape_l, np.uint8)
    particles = np.zeros(shape_l, np.uint32)
    cell = max(4, n // 32)
    y, x = np.ogrid[:n, :n]
    for z0 in range(0, n, 32):
        z1 = min(n, z0 + 32)
        z = np.arange(z0, z1)[:, None, None]
        cz, cy, cx = z // cell, y[None] // cell, x[None] // cell
        pid = (cz * (n // cell + 1) + cy) * (n // cell + 1) + cx + 1
        inside = ((z % cell - cell / 2) ** 2 + (y[None] % cell - cell / 2) ** 2
                  + (x[None] % cell - cell / 2) ** 2) < (0.4 * cell) ** 2
        if not image_only:
            particles[z0:z1] = np.where(inside, pid, 0)
            phases[z0:z1] = np.where(inside, 1 + pid % 4, 0)
        ct[z0:z1] = np.clip(20000 + 15000 * inside + rng.normal(0, 800, inside.shape), 0, 65535)
    del z, cz, cy, cx, pid, inside

    from liberation.io import create_store
    warm = create_store(path + ".warm", ct[:8, :8, :8], voxel_size_um=2.0, pyramid_levels=1, ngff_version=ngff)
    warm.write_label("phases", phases[:8, :8, :8])  # imports (zarr, codecs, dask) out of the timings
    shutil.rmtree(path + ".warm")
    out = {"size": n, "levels": levels, "chunk": chunk, "ngff": ngff, "mib": n**3 * 2 / 2**20}
    rows = []
    reset_peak()
    base = rss_mib()
    t = time.perf_counter()
    store = create_store(path, ct, voxel_size_um=2.0, chunks=chunk, pyramid_levels=levels, ngff_version=ngff)
    rows.append(("create_store (uint16)", time.perf_counter() - t, n**3 * 2, peak_mib() - base))
    for name, arr in () if image_only else (("phases", phases), ("particles", particles)):
        reset_peak()
        base = rss_mib()
        t = time.perf_counter()
        store.write_label(name, arr)
        rows.append((f"write_label {name} ({arr.dtype})", time.perf_counter() - t, arr.nbytes, peak_mib() - base))
    out["rows"] = [{"step": s, "seconds": round(sec, 2), "mib_per_s": round(b / 2**20 / sec, 1),
                    "peak_rss_above_start_mib": round(max(p, 0.0), 1)} for s, sec, b, p in rows]
    out["level_shapes"] = [list(store.image(i).shape) for i in range(len(store.level_paths))]
    out["label_level_shapes"] = [] if image_only else [list(store.label("phases", i).shape)
                                                       for i in range(len(store.level_paths))]
    if validate:
        import zarr
        import ome_zarr_models.v04 as v04
        import ome_zarr_models.v05 as v05
        m = v05 if ngff == "0.5" else v04
        g = zarr.open_group(path, mode="r")
        m.Image.from_zarr(g)
        for name in () if image_only else ("phases", "particles"):
            m.ImageLabel.from_zarr(g["labels"][name])
        out["validated"] = "ome-zarr-models " + ngff
    shutil.rmtree(path)
    print("RESULT " + json.dumps(out))
    """
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="edge of the cubic volume in voxels")
    ap.add_argument("--levels", type=int, default=2, help="extra pyramid levels")
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--ngff", default="0.5", choices=["0.5", "0.4"])
    ap.add_argument("--validate", action="store_true", help="check the store with ome-zarr-models (not timed)")
    ap.add_argument("--image-only", action="store_true", help="time create_store only (no label images in memory)")
    ap.add_argument("--tmp", default=None, help="folder for the store (default: the system temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        cmd = [sys.executable, "-c", CHILD, str(args.size), str(args.levels), str(args.chunk), f"{tmp}/bench.zarr",
               args.ngff, "1" if args.validate else "0", "1" if args.image_only else "0"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    print(f"{args.size}^3, {result['mib']:.0f} MiB uint16, chunks {args.chunk}, {args.levels} extra levels, "
          f"NGFF {args.ngff}")
    print(f"{'step':34s} {'s':>8s} {'MiB/s':>8s} {'peak RSS +MiB':>14s}")
    for row in result["rows"]:
        print(f"{row['step']:34s} {row['seconds']:8.2f} {row['mib_per_s']:8.1f} {row['peak_rss_above_start_mib']:14.1f}")
    print("image level shapes:", result["level_shapes"])
    if result["label_level_shapes"]:
        print("label level shapes:", result["label_level_shapes"])
    if "validated" in result:
        print("validated with", result["validated"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
