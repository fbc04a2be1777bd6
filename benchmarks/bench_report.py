"""Time ``liberation report`` stage by stage on a synthetic sample store.

    python benchmarks/bench_report.py --size 256

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="edge length of the cubic sample (voxels)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

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
