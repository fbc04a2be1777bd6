"""Write a report folder atomically: CSV tables, summary.json, PNG plots and report.html.

This is the only module of :mod:`liberation.report` that touches files. The folder is built
in a temporary directory beside the target and renamed into place at the end, so an
interrupted run leaves the old report (or none), never half of one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from liberation._atomic import atomic_dir, check_new_output, overwrite_error
from liberation._json import to_jsonable  # re-exported (public name of this module)
from liberation.errors import InputError
from liberation.report._csv import write_csv

__all__ = ["check_out_dir", "to_jsonable", "write_report"]

DEFAULT_TITLE = "Mineral liberation report"

#: above this many particles the CSV tables are written by the main process (memory; see write_report)
WORKER_CSV_MAX_PARTICLES = 20_000


def check_out_dir(out_dir, overwrite: bool = False, *, inputs=None) -> None:
    """Check that the report folder ``out_dir`` may be written (:func:`liberation._atomic.check_new_output`).

    Raises :class:`OverwriteError` (the one wording of :func:`liberation._atomic.overwrite_message`)
    if ``out_dir`` exists and ``overwrite`` is False, if it exists but liberation did not write
    it, or if it is not a folder; :class:`~liberation.errors.OutputOverlapError` if it overlaps
    one of ``inputs``.
    """
    out_dir = Path(out_dir)
    check_new_output(out_dir, overwrite=overwrite, what="output folder", inputs=inputs)
    if out_dir.exists() and not out_dir.is_dir():
        raise overwrite_error(out_dir, what="output folder", reason="foreign")
    parent = out_dir.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"out_dir={str(out_dir)!r}: parent {str(parent)!r} is not a folder")


def _write_tables(result, folder: Path) -> list[str]:
    written = []
    for fname, table in result.tables().items():
        if table is None:
            continue
        write_csv(table, folder / fname)
        written.append(fname)
    return written


def _figure_png(fig, dpi: float = 100) -> bytes:
    from liberation.report._render import figure_png

    return figure_png(fig, dpi)


def _report_numbers(result, gallery) -> dict:
    """Numbers the report adds to ``summary.json``: P50/P80, the figure colours, the gallery ids."""
    from liberation.report.figures import mineral_colors
    from liberation.report.tables import size_percentiles

    sizes = size_percentiles(result)
    out = {
        "size_percentiles_um": {str(r[0]): {"weighed": r[1], "count": int(r[2]), "p50": r[3], "p80": r[4]}
                                for r in sizes.itertuples(index=False)},
        "report_colors": mineral_colors(result),
    }
    if gallery is not None:
        out["gallery_particle_ids"] = sorted({int(i) for i in gallery[0]["particle_id"]})
    return to_jsonable(out)


def write_report(
    result,
    out_dir,
    *,
    overwrite: bool = False,
    slices: Mapping | None = None,
    sample_info: Mapping | None = None,
    title: str = DEFAULT_TITLE,
    volumes: tuple | None = None,
    gallery_seed: int = 0,
    pdf: bool = True,
    measured_section=None,
    stereology=None,
    renderer=None,
    prepared_gallery=None,
    early=None,
) -> Path:
    """Write the liberation report of one sample into a new folder.

    The folder holds ``particles.csv``, ``sections_2d.csv``, ``modal.csv``, ``liberation.csv``,
    ``association.csv``, ``grade_recovery.csv`` and the other tables of the result
    (``LiberationResult.CSV_FILES``), ``summary.json``, one PNG per plot and ``report.html``
    (self-contained: the same PNGs embedded as data URIs), and with ``volumes`` the particle gallery
    (``gallery.csv`` and ``gallery_NN.png``); with ``pdf`` also ``report.pdf`` (A4, the same content).

    Parameters
    ----------
    result : liberation.stats.result.LiberationResult
        Output of :func:`liberation.stats.analyse`.
    out_dir : str or path-like
        Report folder to create. Its parent is created if needed.
    overwrite : bool
        Replace an existing folder (as a whole: nothing of the old one is kept).
    slices : mapping, optional
        Panel title -> ``(ct_2d, phases_2d)`` small 2D arrays (either may be None) shown with
        the phase overlay.
    sample_info : mapping, optional
        Facts about the sample shown in the report and stored under ``"sample"`` in
        ``summary.json`` (e.g. ``{"store": ..., "shape": [z, y, x]}``).
    title : str
        Page title.
    volumes : (particles, phases), optional
        The label volumes of the statistics (numpy or zarr, shape (z, y, x)): adds the particle
        gallery (:func:`liberation.report.figures.make_gallery`).
    gallery_seed : int
        Seed of the gallery's tie breaks.
    pdf : bool
        Also write ``report.pdf`` (:func:`liberation.report.pdf.build_pdf`).
    measured_section : MeasuredSectionComparison, optional
        A measured section compared with its virtual twin and the 3D particles
        (:func:`liberation.stats.compare_measured_section`): adds ``measured_section.csv`` and the
        other tables of its ``CSV_FILES``, ``measured_section.png``, a section of the page and
        ``measured_section`` in ``summary.json``.
    stereology : StereologyCheck, optional
        The leave-half-out stereological correction (:func:`liberation.stats.stereology_check`):
        adds ``stereology_correction.csv``, one ``stereology_kernel_MINERAL.json`` per mineral, a
        table on the page and ``stereology`` in ``summary.json``.
    renderer : liberation.report._render.Renderer, optional
        Draws the plots, part of the gallery and the PDF in a worker process while this one writes
        the tables (:func:`liberation.workflows.report_store.run_report` passes one); default: all
        in this process. The files are the same either way.
    prepared_gallery : (DataFrame, list, Job or None), optional
        The gallery already cut and handed to ``renderer`` (``gallery_specs(result, *volumes)`` and the
        job of ``render_gallery`` over all its specs; ``run_report`` starts it before the bootstrap):
        used instead of ``volumes``, and the plots are then drawn in this process while the worker
        draws the gallery. The files are the same.
    early : liberation.report._render.EarlyDrawing, optional
        The gallery (cut from ``volumes``' labels) and the plots without intervals, queued to ``renderer`` before
        the bootstrap (``run_report`` makes it in ``analyse(on_tables=...)``): this process draws the plots with
        intervals, then the queued jobs the worker has not started yet. Used instead of ``volumes``,
        ``slices`` and ``prepared_gallery``. The files are the same.

    Returns
    -------
    pathlib.Path
        The report folder.

    Raises
    ------
    OverwriteError
        If ``out_dir`` exists and ``overwrite`` is False (nothing is written), or exists and
        is not a folder.
    """
    from liberation.report import _render

    out_dir = Path(out_dir).absolute()
    check_out_dir(out_dir, overwrite)
    own = renderer is None
    renderer = _render.Renderer(processes=0) if own else renderer
    try:
        return _write(result, out_dir, renderer, overwrite=overwrite, slices=slices, sample_info=sample_info,
                      title=title, volumes=volumes, gallery_seed=gallery_seed, pdf=pdf,
                      measured_section=measured_section, stereology=stereology, prepared_gallery=prepared_gallery,
                      early=early)
    finally:
        if own:
            renderer.close()


def _write(result, out_dir: Path, renderer, *, overwrite, slices, sample_info, title, volumes, gallery_seed, pdf,
           measured_section, stereology, prepared_gallery=None, early=None) -> Path:
    from liberation.report import _render
    from liberation.report.figures import mineral_colors
    from liberation.report.html import build_html

    # Render everything in memory first: a plotting error leaves no trace on disk. The plots and part
    # of the gallery go to the renderer's worker (when it has one) while this process cuts the gallery
    # crops and draws the other panels (or, with a prepared gallery that the worker has been drawing since
    # before the bootstrap, this process draws the plots); the PDF then goes to the worker while this
    # process builds the HTML page and writes the CSV tables. With ``early`` (the gallery and the plots
    # without intervals queued to the worker before the bootstrap) this process draws the interval plots,
    # then builds the PDF itself, taking back the images the worker has not started as the pages need them.
    gallery = None
    drawn: dict[str, tuple[bytes, list[float]]] = {}
    theirs = None
    pdf_bytes = None
    csv_job = None
    if early is not None:
        from liberation.report.figures import PLOT_ORDER

        # the worker formats the CSV tables after its drawing, while this process builds the PDF; not for large
        # tables: the pickled tables sent and the CSV bytes sent back add ~200 MiB to this process's peak at 1024^3
        # (75 000 particles: 1461 vs 1262 MiB, session 8), the memory bound is 1.5 GiB
        small = len(result.particles) <= WORKER_CSV_MAX_PARTICLES
        csv_job = renderer.submit(_render.tables_csv, result.tables()) if renderer.parallel and small else None
        here = _render.render_figures(result, slices, names=[n for n in PLOT_ORDER if n not in early.plot_names])
        gallery = early.gallery
    elif prepared_gallery is not None:
        # the worker has been drawing the whole gallery since before the bootstrap: the plots are drawn here
        table, specs, theirs = prepared_gallery
        gallery = (table, [(name, title_, alt) for name, title_, alt, _, _ in specs])
        plots = _render.Done(_render.render_figures(result, slices))
    else:
        plots = renderer.submit(_render.render_figures, result, slices)
    if volumes is not None and prepared_gallery is None and early is None:
        from liberation.report.figures import gallery_specs

        table, specs = gallery_specs(result, volumes[0], volumes[1], seed=gallery_seed)
        # the worker also draws the plots and then the PDF: it gets ~30 % of the panels (measured balance)
        split = len(specs) - int(round(0.3 * len(specs))) if renderer.parallel else len(specs)
        theirs = renderer.submit(_render.render_gallery, specs[split:]) if specs[split:] else None
        drawn.update(_render.render_gallery(specs[:split]))
        gallery = (table, [(name, title_, alt) for name, title_, alt, _, _ in specs])
    if measured_section is not None:
        from liberation.report.measured_section import FIGURE_NAME, plot_measured_section

        colors = mineral_colors(result)
        drawn[FIGURE_NAME] = _render._png_and_bars(plot_measured_section(
            measured_section, colors={m.id: colors[m.name] for m in result.minerals},
            names={m.id: m.name for m in result.minerals}, mineral=result.target))
    if early is not None:
        if pdf:
            own = {name: png for name, (png, _) in {**here, **drawn}.items()}
            pdf_bytes = _render.render_pdf(result, early.images(own), sample_info=sample_info, title=title,
                                           gallery=gallery, measured_section=measured_section, stereology=stereology)
        drawn_early = early.results()
        ordered = {**here, **drawn_early}
        plots = _render.Done({n: ordered[n] for n in PLOT_ORDER if n in ordered})
        if gallery is not None:
            drawn.update((name, drawn_early[name]) for name, _, _ in gallery[1])
    rendered = dict(plots.result())
    if gallery is not None:
        if theirs is not None:
            drawn.update(theirs.result())
        rendered.update((name, drawn[name]) for name, _, _ in gallery[1])
    rendered.update((name, value) for name, value in drawn.items() if name not in rendered)
    images = {name: png for name, (png, _) in rendered.items()}
    scale_bars = {name: bars for name, (_, bars) in rendered.items()}
    pdf_job = None if pdf_bytes is None else _render.Done(pdf_bytes)
    if pdf and pdf_job is None:
        pdf_job = renderer.submit(_render.render_pdf, result, images,
                                  sample_info=sample_info, title=title, gallery=gallery,
                                  measured_section=measured_section, stereology=stereology)
    summary = to_jsonable(dict(result.summary))
    if sample_info:
        summary["sample"] = to_jsonable(dict(sample_info))
    summary.update(_report_numbers(result, gallery))
    if measured_section is not None:
        summary["measured_section"] = to_jsonable({
            "agreement": measured_section.agreement,
            "rows": measured_section.summary.to_dict("records"),
        })
    if stereology is not None:
        summary["stereology"] = to_jsonable({"rows": stereology.table.to_dict("records"),
                                             "kernels": sorted(stereology.kernel_files())})
    page = build_html(result, images, sample_info=sample_info, title=title, gallery=gallery, scale_bars=scale_bars,
                      measured_section=measured_section, stereology=stereology)

    with atomic_dir(out_dir, overwrite=overwrite, what="output folder") as tmp:
        if csv_job is not None:
            csv_job.take()  # here if the worker has not started it yet
            files = []
            for fname, data in csv_job.result().items():
                (tmp / fname).write_bytes(data)
                files.append(fname)
        else:
            files = _write_tables(result, tmp)
        if measured_section is not None:
            for fname, table in measured_section.tables().items():
                write_csv(table, tmp / fname)
                files.append(fname)
        if stereology is not None:
            from liberation.report.stereology import CSV_NAME

            write_csv(stereology.table, tmp / CSV_NAME)
            files.append(CSV_NAME)
            for fname, data in stereology.kernel_files().items():
                (tmp / fname).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
                files.append(fname)
        for name, data in images.items():
            (tmp / f"{name}.png").write_bytes(data)
            files.append(f"{name}.png")
        if gallery is not None:
            write_csv(gallery[0], tmp / "gallery.csv")
            files.append("gallery.csv")
        if pdf_job is not None:
            (tmp / "report.pdf").write_bytes(pdf_job.result())
            files.append("report.pdf")
        summary.setdefault("report_files", sorted(files + ["summary.json", "report.html"]))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "report.html").write_text(page, encoding="utf-8")
        os.chmod(tmp, 0o755)
    return out_dir


