"""Time ``liberation report`` stage by stage on a synthetic sample store.

    python benchmarks/bench_report.py --size 256
    python benchmarks/bench_report.py --store /tmp/b512.zarr [--render-process 0|1] [--quantification hard]

With ``--store``: ``run_report`` on that store (``--size-classes 63,100,250``, the CLI's defaults
otherwise), its phases timed in place (wall and CPU of this process; the drawing worker's CPU and
peak RSS at the end). Stores: ``benchmarks/bench_stats_memory.py --make-store``.

Stages: open + read labels, ``liberation.stats.analyse``, rendering the plots, writing the
folder (CSV, PNG, HTML). The sample store is made first (not timed) in a temporary folder.
There is no other tool that writes the same report, so no ratio is printed; the statistics
have their own side-by-side benchmark (benchmarks/bench_stats.py).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

PHASES = [
    ("liberation.stats.analyse", "measure_pass", "measure_pass (tables, grains, planes)"),
    ("liberation.stats.particles", "add_shapes", "shapes (fast)"),
    ("liberation.stats.partial_volume", "soft_statistics", "soft statistics"),
    ("liberation.stats.analyse", "section_table", "section table"),
    ("liberation.stats.bootstrap", "bootstrap_intervals", "bootstrap"),
    ("liberation.stats", "analyse", "analyse (all of the above)"),
    ("liberation.stats.stereology", "stereology_check", "stereology check"),
    ("liberation.workflows.report_store", "pick_slices", "CT slices"),
    ("liberation.report.figures", "gallery_specs", "gallery crops"),
    ("liberation.report._render", "render_gallery", "gallery panels drawn here"),
    ("liberation.report._render", "render_figures", "plots drawn here"),
    ("liberation.report.html", "build_html", "report.html"),
    ("liberation.report.writer", "_write_tables", "CSV tables"),
    ("liberation.report.writer", "write_report", "write_report (all)"),
]


def time_store(args) -> None:
    """``run_report`` on an existing store, its phases timed in place."""
    import functools
    import importlib
    import os

    t0, c0 = time.perf_counter(), time.process_time()
    import liberation.workflows.report_store as rs

    timings: dict[str, list[float]] = {}

    def wrap(module: str, name: str, label: str) -> None:
        mod = importlib.import_module(module)
        func = getattr(mod, name)

        @functools.wraps(func)
        def timed(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            try:
                return func(*a, **k)
            finally:
                row = timings.setdefault(label, [0.0, 0.0, 0.0])
                row[0] += time.perf_counter() - t
                row[1] += time.process_time() - c
                row[2] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        setattr(mod, name, timed)

    for spec in PHASES:
        wrap(*spec)
    imports = time.perf_counter() - t0
    render = None if args.render_process is None else bool(args.render_process)
    with tempfile.TemporaryDirectory() as tmp:
        rs.run_report(args.store, Path(tmp) / "report", size_classes_um=(63, 100, 250),
                      quantification=args.quantification, render_process=render)
    print(f"load average {os.getloadavg()[0]:.1f}; imports {imports:.2f} s")
    print(f"{'phase':<40s} {'wall s':>8s} {'cpu s':>8s} {'peak RSS after (MiB)':>21s}")
    for label, (wall, cpu, rss) in timings.items():
        print(f"{label:<40s} {wall:8.2f} {cpu:8.2f} {rss:21.0f}")
    kids = os.times()
    print(f"total: wall {time.perf_counter() - t0:.2f} s, cpu {time.process_time() - c0:.2f} s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; drawing worker: cpu "
          f"{kids.children_user + kids.children_system:.2f} s, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="edge length of the cubic sample (voxels)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default=None, help="time run_report on this store instead of a demo sample")
    parser.add_argument("--render-process", type=int, choices=(0, 1), default=None,
                        help="draw in a worker process (1) or not (0); default: by volume size")
    parser.add_argument("--quantification", choices=("hard", "soft", "both"), default="both")
    args = parser.parse_args()
    if args.store is not None:
        time_store(args)
        return

    from liberation.io import open_store
    from liberation.report.figures import make_figures
    from liberation.report.writer import write_report
    from liberation.stats import analyse
    from liberation.workflows.demo import make_demo_store
    from liberation.workflows.report_store import pick_slices

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        make_demo_store(tmp, size=args.size, seed=args.seed)
        print(f"sample store {args.size}^3 made in {time.perf_counter() - t0:.1f} s (not part of the report)")
        times = {}
        t = time.perf_counter()
        store = open_store(tmp / "sample.zarr")
        particles, phases = store.label("particles"), store.label("phases")
        minerals = store.minerals
        times["open store"] = time.perf_counter() - t
        t = time.perf_counter()
        result = analyse(particles, phases, voxel_size_um=store.voxel_size_um, minerals=minerals,
                         target="spodumene", size_classes_um=(100, 200))
        times["analyse (statistics)"] = time.perf_counter() - t
        t = time.perf_counter()
        slices = pick_slices(store, phases)
        figs = make_figures(result, slices=slices)
        for fig in figs.values():
            fig.canvas.draw()
        times[f"build + draw {len(figs)} plots"] = time.perf_counter() - t
        t = time.perf_counter()
        write_report(result, tmp / "report", slices=slices, sample_info={"store": "sample.zarr"})
        times["write_report (plots again, CSV, HTML)"] = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (tmp / "report").iterdir())
    print(f"{len(result.particles)} particles, {len(result.sections)} section particles")
    for name, value in times.items():
        print(f"{name:<40s} {value:7.2f} s")
    print(f"report folder {size / 1e6:.1f} MB; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
