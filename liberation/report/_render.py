"""Draw the report's figures and PDF in a second process, so that both cores work on the report.

:func:`liberation.report.writer.write_report` hands :class:`Renderer` the jobs that only need
matplotlib and the statistics (the plots, half of the gallery panels, the PDF) while the calling
process draws the other gallery panels, writes the CSV tables and builds the HTML page. The
worker is a *spawned* process (no fork of a process that runs numba and BLAS threads), started
early (:func:`liberation.workflows.report_store.run_report` starts it before the analysis, so that
its imports of matplotlib and pandas overlap this process's imports). ``run_report`` also hands it the
gallery panels and the plots without intervals as soon as the tables are made, before the bootstrap, one
job each (:class:`EarlyDrawing`, ``write_report(early=)``): the calling process runs the bootstrap, draws
the interval plots, then builds the PDF from its first page on, taking back (:meth:`Job.take`) the images
the worker has not started, while the worker draws from the PDF's last image back and then formats the
CSV tables. ``Renderer(processes=0)`` runs the same jobs in the calling process, one after the other: the
outputs are the same bytes either way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future

logger = logging.getLogger(__name__)

__all__ = ["Done", "EarlyDrawing", "Job", "Renderer", "render_figures", "render_gallery", "render_kept_figures",
           "render_pdf", "tables_csv"]

#: Snapshots of results kept for the plot jobs of :class:`EarlyDrawing`, by key (in each process).
_KEPT: dict = {}


def _warm_up() -> bool:
    """Import what the jobs need (runs in the worker while the caller analyses the volume)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import mpl_toolkits.axes_grid1.anchored_artists  # noqa: F401
    import pandas  # noqa: F401

    import liberation.report.figures  # noqa: F401
    import liberation.report.gallery  # noqa: F401
    import liberation.report.pdf  # noqa: F401
    import liberation.report.plots  # noqa: F401
    import liberation.report.tables  # noqa: F401

    _draw_once()
    return True


def _draw_once() -> None:
    """Draw a small throwaway figure (text, an image, a scale bar) to PNG: the first drawing in a process
    loads the fonts and fills matplotlib's caches (~0.4 s of CPU), here while the worker has nothing to do."""
    import numpy as np

    from liberation.report.plots import _figure, add_scale_bar

    fig = _figure(2.0, 1.5)
    ax = fig.add_subplot()
    ax.imshow(np.zeros((8, 8, 3)), interpolation="nearest")
    ax.set_title("µm 0.1", fontsize=8)
    ax.set_xlabel("x", fontsize=9)
    add_scale_bar(ax, 1.0, 8)
    fig.legend(handles=ax.plot([0, 1], label="a"), fontsize=8)
    figure_png(fig)


def figure_png(fig, dpi: float = 100) -> bytes:
    """PNG bytes of a figure at ``dpi`` (what the report embeds and writes)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _png_and_bars(fig) -> tuple[bytes, list[float]]:
    from liberation.report.plots import scale_bar_lengths

    return figure_png(fig), scale_bar_lengths(fig)


def render_figures(result, slices=None, names=None) -> dict:
    """The plots of :func:`liberation.report.figures.make_figures` (all, or ``names``) as ``name -> (png bytes,
    scale bars)``."""
    from liberation.report.figures import make_figures

    figs = make_figures(result, slices=slices) if names is None else make_figures(result, slices=slices, names=names)
    return {name: _png_and_bars(fig) for name, fig in figs.items()}


def _keep(key: str, path: str) -> bool:
    """Keep the ``(result, slices)`` pickled in the file ``path`` under ``key`` in this process (a job for the worker)."""
    import pickle

    with open(path, "rb") as f:
        _KEPT[key] = pickle.load(f)
    return True


def tables_csv(tables) -> dict:
    """The CSV bytes of ``name -> DataFrame`` (None skipped) as :func:`liberation.report._csv.write_csv` writes them
    (a job for the worker: ``write_report(early=...)`` writes the bytes into the report folder)."""
    import tempfile
    from pathlib import Path

    from liberation.report._csv import write_csv

    out = {}
    with tempfile.TemporaryDirectory(prefix="liberation-csv-") as tmp:
        for name, table in tables.items():
            if table is None:
                continue
            path = Path(tmp) / name
            write_csv(table, path)
            out[name] = path.read_bytes()
    return out


def _forget(key: str) -> None:
    _KEPT.pop(key, None)


def render_kept_figures(key: str, names) -> dict:
    """:func:`render_figures` of the ``(result, slices)`` kept under ``key`` (:class:`EarlyDrawing`)."""
    result, slices = _KEPT[key]
    return render_figures(result, slices, names=names)


def render_gallery(specs) -> dict:
    """Gallery panels (:func:`liberation.report.figures.gallery_specs`) as ``name -> (png bytes, scale bars)``."""
    from liberation.report.gallery import plot_gallery_group

    return {name: _png_and_bars(plot_gallery_group(title, items, **style)) for name, title, _alt, items, style in specs}


def render_pdf(result, images, **options) -> bytes:
    """:func:`liberation.report.pdf.build_pdf` (a job for the worker)."""
    from liberation.report.pdf import build_pdf

    return build_pdf(result, images, **options)


class Done:
    """A job already run here: :meth:`result` returns its value (the interface of :class:`Job`)."""

    def __init__(self, value):
        self._value = value

    def result(self):
        """The value."""
        return self._value


class Job:
    """A submitted job: :meth:`result` waits for it (or runs it here if the worker process died)."""

    def __init__(self, renderer: Renderer, future: Future | None, fn, args, kwargs):
        self._renderer, self._future, self._call = renderer, future, (fn, args, kwargs)
        self._value = None
        self._ran = False

    def take(self) -> bool:
        """Run the job in this process now if the worker has not started it (it is then cancelled there).

        Returns
        -------
        bool
            True when the job ran here (also for a job of an inline renderer); False when the worker has
            it (running, queued to it, or done): :meth:`result` then waits for the worker's value.
        """
        if self._future is not None and not self._future.cancel():
            return False
        self._future = None
        if not self._ran:
            fn, args, kwargs = self._call
            self._value, self._ran = fn(*args, **kwargs), True
        return True

    def result(self):
        """The job's return value (its exception is raised here)."""
        if self._ran:
            return self._value
        fn, args, kwargs = self._call
        if self._future is not None:
            from concurrent.futures.process import BrokenProcessPool

            try:
                return self._future.result()
            except BrokenProcessPool as exc:
                self._renderer._lost(exc)
        return fn(*args, **kwargs)


class Renderer:
    """Runs report drawing jobs in one spawned worker process, or inline.

    Parameters
    ----------
    processes : int
        1: a worker process (started now; its imports run in the background); 0: every job runs in
        the calling process when its result is asked for.

    Use as a context manager (or call :meth:`close`): the worker ends with it. If the worker
    cannot start or dies (e.g. a script without an ``if __name__ == "__main__":`` guard, which a
    spawned process imports again), the jobs run in the calling process instead.
    """

    def __init__(self, processes: int = 1):
        if processes not in (0, 1):
            raise ValueError(f"processes={processes!r}; expected 0 or 1")
        self._pool = None
        self._files: list[str] = []  # temporary files of the jobs, removed at close()
        if processes:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            self._pool.submit(_warm_up)

    @property
    def parallel(self) -> bool:
        """True when the jobs run in a worker process."""
        return self._pool is not None

    def _lost(self, exc: BaseException) -> None:
        logger.info("report drawing process lost (%s); drawing in this process", exc)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, fn, /, *args, **kwargs) -> Job:
        """Queue ``fn(*args, **kwargs)`` for the worker (inline: run when :meth:`Job.result` is called)."""
        future = None
        if self._pool is not None:
            from concurrent.futures.process import BrokenProcessPool

            try:
                future = self._pool.submit(fn, *args, **kwargs)
            except BrokenProcessPool as exc:
                self._lost(exc)
        return Job(self, future, fn, args, kwargs)

    def _remove_files(self, paths) -> None:
        import os

        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            if path in self._files:
                self._files.remove(path)

    def close(self) -> None:
        """End the worker (pending jobs are cancelled) and remove the jobs' temporary files."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._remove_files(list(self._files))

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EarlyDrawing:
    """The gallery and the plots without intervals, queued to the worker before the bootstrap.

    ``run_report`` makes one from ``analyse(on_tables=...)``: the worker then draws the gallery panels
    and the plots that do not show the bootstrap's intervals (:data:`liberation.report.figures.INTERVAL_PLOTS`
    are left out) while this process runs the bootstrap; :func:`liberation.report.writer.write_report`
    (``early=``) draws the interval plots here, then :meth:`results` takes back the jobs the worker has not
    started yet, from the end of its queue, and draws them here too. One job per panel and per plot, so the
    two processes end at about the same time whatever the load. The plot jobs draw from a snapshot of the
    result taken now (pickled here, before the bootstrap adds its interval columns in place); the jobs
    this process takes draw from the final result: the same figures (tests/test_report_render.py).

    Parameters
    ----------
    renderer : Renderer
        The drawing worker (inline: every job runs here, in :meth:`results`).
    result : LiberationResult
        The statistics before their intervals.
    slices : mapping, optional
        The CT slices of the slice panel (:func:`liberation.workflows.report_store.pick_slices`).
    gallery : (DataFrame, list), optional
        ``gallery_specs(result, particles, phases)``: the gallery table and its panels' specs.
    """

    def __init__(self, renderer: Renderer, result, slices=None, gallery=None):
        import os
        import pickle

        from liberation.report.figures import INTERVAL_PLOTS, PLOT_ORDER

        self.plot_names = tuple(n for n in PLOT_ORDER if n not in INTERVAL_PLOTS)
        self.gallery = None
        self._renderer = renderer
        self._key = f"{os.getpid()}-{id(self)}"
        _KEPT[self._key] = (result, slices)  # for the jobs this process takes back (and an inline renderer)
        self._path = None
        if renderer.parallel:
            # through a file (streamed, removed by results() or the renderer's close): pickled bytes in memory
            # would add twice the result's size to this process's peak, which comes during the bootstrap
            import tempfile

            fd, self._path = tempfile.mkstemp(prefix="liberation-report-", suffix=".pkl")
            renderer._files.append(self._path)
            with os.fdopen(fd, "wb") as f:
                pickle.dump((result, slices), f, protocol=pickle.HIGHEST_PROTOCOL)
            renderer.submit(_keep, self._key, self._path)
        specs = []
        if gallery is not None:
            table, specs = gallery
            self.gallery = (table, [(name, title, alt) for name, title, alt, _, _ in specs])
        # queued in the reverse order of the PDF's pages: this process builds the PDF from its first page on
        # and takes the images the worker has not started, the worker draws from the last page back
        jobs = {spec[0]: (render_gallery, [spec]) for spec in specs}
        jobs.update((name, (render_kept_figures, self._key, (name,))) for name in self.plot_names)
        order = pdf_image_order(self.plot_names, [spec[0] for spec in specs])
        self._jobs: list[Job] = []
        self._job_of: dict[str, Job] = {}
        for name in reversed(order):
            self._job_of[name] = renderer.submit(*jobs[name])
            self._jobs.append(self._job_of[name])

    def image(self, name: str) -> bytes | None:
        """The PNG of one panel or plot queued here (``None`` when that plot is not made), taking its job back
        when the worker has not started it, else waiting for it."""
        job = self._job_of.get(name)
        if job is None:
            return None
        job.take()
        value = job.result().get(name)
        return None if value is None else value[0]

    def images(self, others: Mapping[str, bytes]) -> Mapping[str, bytes]:
        """``others`` and every image queued here as a mapping that draws or waits for an image when asked
        (for :func:`liberation.report.pdf.build_pdf` in this process while the worker draws)."""
        return _LazyImages(self, others)

    def results(self) -> dict:
        """Every panel and plot as ``name -> (png bytes, scale bars)``, taking back the jobs not started yet."""
        try:
            for job in reversed(self._jobs):  # the worker takes its jobs in order: stop at its last one
                if not job.take():
                    break
            out: dict = {}
            for job in self._jobs:
                out.update(job.result())
            return out
        finally:
            _KEPT.pop(self._key, None)
            if self._path is not None:  # every job is done or taken back: the worker has read it
                self._renderer._remove_files([self._path])
            if self._renderer.parallel:
                self._renderer.submit(_forget, self._key)


def pdf_image_order(plot_names, gallery_names) -> list[str]:
    """The order in which :func:`liberation.report.pdf.build_pdf` places these plots and gallery panels."""
    from liberation.report.html import PLOT_CAPTIONS

    def of(section: str) -> list[str]:
        return [n for n, (sec, _) in PLOT_CAPTIONS.items() if sec == section and n in plot_names]

    order = of("modal") + of("liberation") + list(gallery_names)
    for section in ("association", "grade_recovery", "sizes", "slices"):
        order += of(section)
    return order + [n for n in plot_names if n not in order]


class _LazyImages(Mapping):
    """Name -> PNG bytes: ``others``, then the images of an :class:`EarlyDrawing`, each got when first asked."""

    def __init__(self, early: EarlyDrawing, others: Mapping[str, bytes]):
        self._early, self._got = early, dict(others)
        self._missing: set[str] = set()

    def _get(self, name: str) -> bool:
        if name not in self._got and name not in self._missing:
            png = self._early.image(name)
            if png is None:
                self._missing.add(name)
            else:
                self._got[name] = png
        return name in self._got

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and self._get(name)

    def __getitem__(self, name: str) -> bytes:
        if not self._get(name):
            raise KeyError(name)
        return self._got[name]

    def __iter__(self):
        for name in self._early._job_of:
            self._get(name)
        return iter(list(self._got))

    def __len__(self) -> int:
        return sum(1 for _ in self)
