"""CPU seconds of the report's drawing alone: the 10 plots, the gallery panels and the PDF (min of N).

    python benchmarks/bench_report_drawing.py --store /tmp/i22d_b256.zarr --repeat 3
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_report_drawing.py --store ... --repeat 3

The first call runs the report of ``--store`` once (``--no-pdf``, drawing in this process) and keeps what the
drawing got (the result, the CT slices, the gallery specs) in ``--cache``; later calls
(also from another checkout, on ``PYTHONPATH``) reuse it, so two versions of the drawing code can be compared
in alternation on the same inputs. Times are ``time.process_time`` of one process, after a warm-up drawing
(fonts loaded), the minimum of ``--repeat`` rounds: the plots (``make_figures`` + PNG), the gallery panels
(``render_gallery``) and ``build_pdf`` of all those images.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time


def capture(store: str, path: str) -> None:
    """Run the report of ``store`` once in this process and pickle the drawing jobs' inputs to ``path``."""
    import liberation.report._render as R
    from liberation.workflows.report_store import run_report

    specs: list = []
    kept: list = []
    orig_gallery, orig_figures = R.render_gallery, R.render_figures

    def gallery(specs_):
        specs.extend(specs_)
        return orig_gallery(specs_)

    def figures(result, slices=None, names=None):
        if not kept:
            kept.append((result, slices))
        return orig_figures(result, slices, names)

    R.render_gallery, R.render_figures = gallery, figures  # drawing in this process: write_report calls these
    with tempfile.TemporaryDirectory() as tmp:
        run_report(store, out_dir=os.path.join(tmp, "r"), size_classes_um=(63, 100, 250), quantification="hard",
                   pdf=False, render_process=False)
    with open(path, "wb") as f:
        pickle.dump((specs, kept[0]), f)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--cache", default="/tmp/bench_report_drawing.pkl")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not os.path.exists(args.cache):
        capture(args.store, args.cache)
    with open(args.cache, "rb") as f:
        specs, (result, slices) = pickle.load(f)

    from liberation.report._render import _draw_once, render_figures, render_gallery
    from liberation.report.pdf import build_pdf

    _draw_once()
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        t = time.process_time()
        plots = render_figures(result, slices)
        best["plots"] = min(best.get("plots", 1e9), time.process_time() - t)
        t = time.process_time()
        panels = render_gallery(specs)
        best["gallery"] = min(best.get("gallery", 1e9), time.process_time() - t)
        images = {name: png for name, (png, _) in {**plots, **panels}.items()}
        gallery = (None, [(name, title, alt) for name, title, alt, _, _ in specs])
        t = time.process_time()
        data = build_pdf(result, images, gallery=gallery)
        best["pdf"] = min(best.get("pdf", 1e9), time.process_time() - t)
    import liberation

    where = os.path.dirname(os.path.dirname(liberation.__file__))
    print(f"{where}: {len(plots)} plots {best['plots']:.3f} s, {len(panels)} gallery panels {best['gallery']:.3f} s, "
          f"PDF {best['pdf']:.3f} s ({len(data) / 1e6:.2f} MB) CPU, min of {args.repeat}; load "
          f"{os.getloadavg()[0]:.1f}", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
