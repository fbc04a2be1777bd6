"""The voxel passes of ``liberation report`` on a sample store, against plain single-pass kernels.

Run (make the store first, see benchmarks/bench_stats_memory.py)::

    python benchmarks/bench_stats_memory.py --make-store /tmp/b512.zarr --size 512 --tile 256 \\
        --particles-per-tile 1250 --chunk 128
    OMP_NUM_THREADS=2 python benchmarks/bench_report_passes.py /tmp/b512.zarr
    OMP_NUM_THREADS=2 python benchmarks/bench_report_passes.py /tmp/b512.zarr --report   # + phase breakdown

Timed, in one process, same threads on every side (``--workers``, default the CPU count):

- ``decode``: every zarr chunk of ``labels/particles`` and ``labels/phases`` read once (threads):
  the read-once limit;
- ``plain geometry kernel``: one numba loop over the decoded in-memory volume counting voxels per
  (particle, phase), faces and bounding boxes into dense tables (no blocks, no merging, one thread
  per z slab); the library's ``measure`` (geometry pass on the zarr store, decoding included) is
  compared with decode + this kernel;
- ``plain grain kernel``: the numba union-find labelling of the whole decoded volume in one call;
  the library's grain pass (``grain_size_distribution``, blocks + merge, decoding included) is
  compared with decode + this kernel;
- ``measure + grains, one read``: ``measure_pass(grains=True)``, what ``analyse`` runs;
- with ``--report``: the whole ``run_report`` under cProfile, with the cumulative time of its phases.

The checks at the end assert that the library and the plain kernels agree (counts, faces, boxes,
grain count).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def plain_geometry(pid, ph, n_ids, n_phases, workers):
    """Dense counts / faces / boxes of an in-memory volume: one numba pass per z slab, slabs summed."""
    from liberation.stats import _kernels

    nz = pid.shape[0]
    edges = np.linspace(0, nz, workers + 1).astype(int)
    lut = np.arange(n_ids, dtype=np.int64)

    def run(k):
        z0, z1 = edges[k], edges[k + 1]
        counts, faces, bbox = _kernels.empty_tables(n_ids, n_phases)
        # one extra plane as halo is not supported by the core kernel: faces across slab edges are
        # left out of this reference (a few planes of a 512^3 volume), counts and boxes are exact
        _kernels._nb_core(pid[z0:z1], lut, ph[z0:z1], z0, 0, 0, *pid.shape, n_phases, counts, faces, bbox, True)
        return counts, faces, bbox

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(run, range(workers)))
    counts = sum(p[0] for p in parts)
    faces = sum(p[1] for p in parts)
    bbox = parts[0][2].copy()
    for p in parts[1:]:
        bbox[:, :3] = np.minimum(bbox[:, :3], p[2][:, :3])
        bbox[:, 3:] = np.maximum(bbox[:, 3:], p[2][:, 3:])
    return counts, faces, bbox


def decode(arr, workers):
    """Every chunk of a zarr array read once (threads); returns the in-memory volume."""
    from liberation.stats.measure import _block_grid, normalise_chunks

    shape = tuple(int(n) for n in arr.shape)
    out = np.empty(shape, dtype=arr.dtype)
    cores = list(_block_grid(shape, normalise_chunks(shape, None, arr)))

    def read(core):
        sl = tuple(slice(lo, hi) for lo, hi in core)
        out[sl] = arr[sl]

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(read, cores))
    return out


def timed(fn, *args, **kw):
    t = time.perf_counter()
    res = fn(*args, **kw)
    return res, time.perf_counter() - t


REPORT_CHILD = r"""
import cProfile, pstats, shutil, sys, time
from liberation.workflows.report_store import run_report
out = sys.argv[2]
shutil.rmtree(out, ignore_errors=True)
pr = cProfile.Profile()
t = time.perf_counter()
pr.enable()
run_report(sys.argv[1], out, size_classes_um=(63, 100, 250), shapes=sys.argv[3])
pr.disable()
total = time.perf_counter() - t
st = pstats.Stats(pr)
phases = {
    "measure_pass (tables + grains, one read)": "measure_pass",
    "shapes (moments; + crops with full)": "particle_shapes",
    "sections": "section_table",
    "bootstrap": "bootstrap_intervals",
    "unassigned check": "unassigned_volume",
    "write_report (plots, CSV, HTML, PDF)": "write_report",
}
cum = {}
for (file, line, name), (cc, nc, tt, ct, callers) in st.stats.items():
    for label, fn in phases.items():
        if name == fn:
            cum[label] = max(cum.get(label, 0.0), ct)
for label in phases:
    print(f"  {label:<44s} {cum.get(label, float('nan')):7.2f} s (cProfile)")
print(f"  {'run_report total':<44s} {total:7.2f} s")
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", help="sample store with labels/particles and labels/phases")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--report", action="store_true", help="also profile the whole run_report in a child")
    ap.add_argument("--shapes", choices=["fast", "full", "off"], default="fast", help="report --shapes (with --report)")
    args = ap.parse_args(argv)

    from liberation.io import open_store
    from liberation.stats import _kernels
    from liberation.stats.grains import grain_size_distribution
    from liberation.stats.measure import measure, measure_pass

    print(f"load: {os.getloadavg()[0]:.2f} (1 min), workers {args.workers}")
    store = open_store(args.store)
    particles, phases = store.label("particles"), store.label("phases")
    minerals = store.minerals
    vs = store.voxel_size_um
    n_phases = minerals.max_id + 1
    # warm-up: numba compile / cache load on a tiny volume
    tiny_p = np.ones((4, 4, 4), dtype=np.uint32)
    tiny_q = np.ones((4, 4, 4), dtype=np.uint8)
    measure_pass(tiny_p, tiny_q, voxel_size_um=vs, minerals=minerals, grains=True)
    plain_geometry(tiny_p, tiny_q, 2, n_phases, 1)

    res = {}
    (pid, t_p) = timed(decode, particles, args.workers)
    (ph, t_q) = timed(decode, phases, args.workers)
    res["decode (both arrays, every chunk once)"] = t_p + t_q
    n_ids = int(pid.max()) + 1
    (g, res["plain geometry kernel (in memory)"]) = timed(plain_geometry, pid, ph, n_ids, n_phases, args.workers)
    (gl, res["plain grain kernel (in memory, one call)"]) = timed(_kernels.grain_labels, pid, ph, n_phases)
    del gl
    n_vox = pid.size
    del pid, ph
    (m, res["library measure (zarr, geometry pass)"]) = timed(
        measure, particles, phases, voxel_size_um=vs, minerals=minerals, workers=args.workers)
    (grains, res["library grain pass (zarr)"]) = timed(
        grain_size_distribution, particles, phases, voxel_size_um=vs, minerals=minerals)
    ((m2, merger, _), res["library measure + grains, one read (zarr)"]) = timed(
        measure_pass, particles, phases, voxel_size_um=vs, minerals=minerals, grains=True, workers=args.workers)
    for name, value in res.items():
        print(f"{name:<48s} {value:7.3f} s  ({n_vox / value / 1e6:6.1f} Mvoxel/s)")
    dec = res["decode (both arrays, every chunk once)"]
    geo = res["library measure (zarr, geometry pass)"]
    gra = res["library grain pass (zarr)"]
    both = res["library measure + grains, one read (zarr)"]
    print(f"geometry pass / (decode + plain kernel): {geo / (dec + res['plain geometry kernel (in memory)']):5.2f}"
          "  (target <= 2)")
    print(f"grain pass / (decode + plain grain kernel): "
          f"{gra / (dec + res['plain grain kernel (in memory, one call)']):5.2f}  (target <= 2)")
    print(f"measure + grains one read / (measure then grains): {both / (geo + gra):5.2f}")
    # agreement
    counts, faces, bbox = g
    assert np.array_equal(counts[m.ids], m.counts), "counts differ"
    assert np.array_equal(bbox[m.ids], m.bbox), "boxes differ"
    assert np.array_equal(m2.counts, m.counts) and np.array_equal(m2.faces, m.faces)
    assert len(merger.table(voxel_size_um=vs, minerals=minerals)) == len(grains)
    print(f"checks passed: {len(m.ids)} particles, {len(grains)} grains; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.report:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            print("run_report phases (child process):")
            subprocess.run([sys.executable, "-c", REPORT_CHILD, args.store, os.path.join(tmp, "rep"), args.shapes],
                           check=True)
            print(f"  child wall {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
