"""A wall-clock timeline of one ``liberation report`` run: the main process and the drawing worker.

    OMP_NUM_THREADS=2 python benchmarks/bench_report_timeline.py --store /tmp/b512.zarr --quantification hard

Each phase (the main process's analysis steps and drawing, the worker's jobs: its warm-up imports,
the gallery, the plots, the PDF and what the PDF spends its time on) is logged with its start and
end (seconds since the run started, one clock for both processes) and its CPU seconds. Printed as a
table sorted by start, then as a coarse text chart (one row per process, 0.5 s per character, the first
letter of the phase; upper case: a worker job, in the main process one it took back from the worker).
The worker's jobs are wrapped in the parent (``Renderer.submit`` and the warm-up), so the worker runs
the library's own code; the timing adds microseconds per phase.
Stores: ``benchmarks/bench_stats_memory.py --make-store``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import tempfile
import time
from pathlib import Path

T0_ENV = "LIBERATION_TIMELINE_T0"
LOG_ENV = "LIBERATION_TIMELINE_LOG"
MAIN_ENV = "LIBERATION_TIMELINE_MAIN"

#: (module, function, label) timed in the main process (nested ones print indented by start time).
MAIN_PHASES = [
    ("liberation.stats.analyse", "measure_pass", "measure_pass"),
    ("liberation.stats.particles", "add_shapes", "shapes"),
    ("liberation.stats.shape", "principal_moments", "shapes: moments pass"),
    ("liberation.stats.partial_volume", "soft_statistics", "soft statistics"),
    ("liberation.stats.partial_volume_tables", "estimate_model", "soft: model (level/edge/blur passes)"),
    ("liberation.stats.partial_volume_model", "_level_pass", "soft: model level pass"),
    ("liberation.stats.partial_volume_model", "_edge_fit", "soft: model edge fit"),
    ("liberation.stats.partial_volume_model", "_blur_corrected_levels", "soft: model blur-corrected levels"),
    ("liberation.stats.partial_volume_tables", "soft_counts", "soft: clipped pass (soft_counts)"),
    ("liberation.stats.analyse", "section_table", "section table"),
    ("liberation.report.figures", "gallery_specs", "gallery crops"),
    ("liberation.stats.bootstrap", "bootstrap_intervals", "bootstrap"),
    ("liberation.stats", "analyse", "analyse (all)"),
    ("liberation.stats.stereology", "stereology_check", "stereology"),
    ("liberation.workflows.report_store", "pick_slices", "CT slices"),
    ("liberation.report._render", "render_figures", "plots"),
    ("liberation.report._render", "render_gallery", "gallery panels"),
    ("liberation.report._render", "render_pdf", "PDF"),
    ("liberation.report.html", "build_html", "HTML"),
    ("liberation.report.writer", "_write_tables", "CSV tables"),
    ("liberation.report.writer", "write_report", "write_report (all)"),
]
#: Timed inside whichever process draws (the PDF's parts).
DRAW_PHASES = [
    ("liberation.report.pdf._Pages", "flush", "pdf: savefig page"),  # session 8's PdfPages writer; now previews only
    ("liberation.report.pdf._Pages", "image", "pdf: decode + place PNG"),
    ("liberation.report.pdf._Pages", "_draw_table", "pdf: table texts"),
    ("liberation.report._pdfwriter.PdfDocument", "add_image", "pdf: decode + deflate PNG"),
    ("liberation.report._pdfwriter.PdfDocument", "tobytes", "pdf: write objects"),
]


def _log(label: str, start: float, end: float, cpu: float) -> None:
    t0 = float(os.environ[T0_ENV])
    row = {"pid": os.getpid(), "label": label, "start": start - t0, "end": end - t0, "cpu": cpu}
    with open(os.environ[LOG_ENV], "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _wrap(owner, name: str, label: str) -> None:
    func = getattr(owner, name)
    if getattr(func, "_timeline", False):
        return

    @functools.wraps(func)
    def timed(*a, **k):
        t, c = time.time(), time.process_time()
        try:
            return func(*a, **k)
        finally:
            _log(label, t, time.time(), time.process_time() - c)

    timed._timeline = True
    timed._timeline_orig = func
    setattr(owner, name, timed)


def _resolve(path: str):
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for p in parts[k:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(path)


def install(phases) -> None:
    """Wrap every ``(owner path, function, label)`` of ``phases`` with the timeline log."""
    for owner, name, label in phases:
        try:
            _wrap(_resolve(owner), name, label)
        except (ImportError, AttributeError):
            pass


def _traced(label: str, module: str, name: str, *args, **kwargs):
    """Run ``module.name`` (the unwrapped one) logged as a worker job; installs the drawing timers once."""
    install(DRAW_PHASES)
    func = getattr(importlib.import_module(module), name)
    func = getattr(func, "_timeline_orig", func)
    if str(os.getpid()) == os.environ.get(MAIN_ENV):  # a job the main process took back (Job.take)
        label = "taken back: " + label[len("worker: "):]
    t, c = time.time(), time.process_time()
    try:
        return func(*args, **kwargs)
    finally:
        _log(label, t, time.time(), time.process_time() - c)


def install_worker_hooks() -> None:
    """Route the worker's jobs (and its warm-up) through :func:`_traced`."""
    from liberation.report import _render

    orig_submit = _render.Renderer.submit

    def submit(self, fn, /, *args, **kwargs):
        fn = getattr(fn, "_timeline_orig", fn)
        label = "worker: " + fn.__name__.replace("render_", "")
        if not self.parallel:
            return orig_submit(self, fn, *args, **kwargs)
        return orig_submit(self, functools.partial(_traced, label, fn.__module__, fn.__name__), *args, **kwargs)

    _render.Renderer.submit = submit
    orig_init = _render.Renderer.__init__

    def init(self, processes: int = 1):
        warm = _render._warm_up
        _render._warm_up = functools.partial(_traced, "worker: imports (warm-up)", _render.__name__, "_warm_up")
        try:
            orig_init(self, processes)
        finally:
            _render._warm_up = warm

    _render.Renderer.__init__ = init


def chart(rows: list[dict], main_pid: int, width_s: float = 0.5) -> list[str]:
    """One text row per process: ``#`` where one of its top-level phases runs, ``.`` where it idles."""
    end = max(r["end"] for r in rows)
    n = int(end / width_s) + 1
    lines = []
    for pid in sorted({r["pid"] for r in rows}, key=lambda p: (p != main_pid, p)):
        cells = ["."] * n
        for r in rows:
            if r["pid"] != pid or r["label"] in ("analyse (all)", "write_report (all)"):
                continue
            for k in range(int(r["start"] / width_s), min(n, int(r["end"] / width_s) + 1)):
                label = r["label"].split(": ")[-1]
                cells[k] = label[0].upper() if ": " in r["label"] else label[0]
        lines.append(f"{'main  ' if pid == main_pid else 'worker'} |{''.join(cells)}|")
    lines.append(f"        0 s{' ' * (n - 8)}{end:.1f} s  ({width_s} s per character)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--quantification", choices=("hard", "soft", "both"), default="hard")
    parser.add_argument("--json", default=None, help="also write the events here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "timeline.jsonl"
        os.environ[LOG_ENV] = str(log)
        t0 = time.time()
        os.environ[T0_ENV] = repr(t0)
        os.environ[MAIN_ENV] = str(os.getpid())
        c0 = time.process_time()
        import liberation.workflows.report_store as rs

        _log("imports", t0, time.time(), time.process_time() - c0)
        install(MAIN_PHASES)
        install(DRAW_PHASES)
        install_worker_hooks()
        rs.run_report(args.store, Path(tmp) / "report", size_classes_um=(63, 100, 250),
                      quantification=args.quantification)
        total = time.time() - t0
        rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    main_pid = os.getpid()
    rows.sort(key=lambda r: (r["start"], -r["end"]))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    kids = os.times()
    print(f"load average {os.getloadavg()[0]:.1f}; total wall {total:.2f} s; main CPU {time.process_time() - c0:.2f} s;"
          f" worker CPU {kids.children_user + kids.children_system:.2f} s")
    # the PDF's parts are summed (there are dozens of pages and images)
    parts: dict[tuple[int, str], list[float]] = {}
    print(f"{'process':<7s} {'phase':<34s} {'start':>7s} {'end':>7s} {'wall':>6s} {'cpu':>6s}")
    for r in rows:
        if r["label"].startswith("pdf: "):
            p = parts.setdefault((r["pid"], r["label"]), [0, 0.0, 0.0])
            p[0] += 1
            p[1] += r["end"] - r["start"]
            p[2] += r["cpu"]
            continue
        who = "main" if r["pid"] == main_pid else "worker"
        print(f"{who:<7s} {r['label']:<34s} {r['start']:7.2f} {r['end']:7.2f} {r['end'] - r['start']:6.2f} "
              f"{r['cpu']:6.2f}")
    for (pid, label), (n, wall, cpu) in parts.items():
        who = "main" if pid == main_pid else "worker"
        print(f"{who:<7s} {label + f' (x{n}, summed)':<34s} {'':>7s} {'':>7s} {wall:6.2f} {cpu:6.2f}")
    print("\n".join(chart([r for r in rows if not r["label"].startswith("pdf: ")], main_pid)))


if __name__ == "__main__":
    main()
