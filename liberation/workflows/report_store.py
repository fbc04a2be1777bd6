"""The liberation report of a segmented sample store (``liberation report``).

Reads the store only (never writes to it); imports no torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liberation.errors import InputError, StoreError

logger = logging.getLogger(__name__)

#: Share of the particle volume without a phase (phase 0 inside a particle) above which the report warns.
UNASSIGNED_WARN = 0.01
#: ... and above which it refuses unless ``allow_unassigned``.
UNASSIGNED_REFUSE = 0.10
#: Volumes of at least this many voxels draw their figures in a second process (``run_report(render_process=None)``).
RENDER_PROCESS_VOXELS = 128 * 256 * 256


@dataclass(frozen=True)
class ReportRun:
    """What :func:`run_report` made.

    Attributes
    ----------
    folder : Path
        The report folder (report.html, CSV tables, PNG plots, summary.json).
    result : LiberationResult
        The statistics (:func:`liberation.stats.analyse`).
    notes : tuple of str
        Notes that matter for the results (e.g. particles derived from the phases, minerals
        without a density).
    warnings : tuple of str
        Doubts about the results (e.g. particle volume without a phase above
        :data:`UNASSIGNED_WARN`).
    """

    folder: Path
    result: Any
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def default_out_dir(store: str | os.PathLike) -> Path:
    """The default report folder of a store: ``data/sample.zarr`` -> ``data/sample_report``.

    Parameters
    ----------
    store : str or Path
        Path of the sample store.

    Returns
    -------
    Path
    """
    path = Path(store)
    stem = path.name[: -len(".zarr")] if path.name.endswith(".zarr") else path.name
    return path.with_name(f"{stem}_report")


def pick_slices(store, phases, *, fractions: Sequence[float] = (0.25, 0.5, 0.75), max_pixels: int = 512) -> dict:
    """A few z slices of the CT and the phases for the report page.

    Parameters
    ----------
    store : SampleStore
        The open store (its CT image and voxel size are read).
    phases : array-like, shape (z, y, x)
        The phase labels.
    fractions : sequence of float
        Depths of the slices as fractions of the z extent.
    max_pixels : int
        Largest edge of a slice after striding.

    Returns
    -------
    dict
        ``"z = 12 (120 µm)" -> (ct slice, phase slice)``, both 2D arrays strided by the same step.
    """
    depth, ny, nx = phases.shape
    step = max(1, int(np.ceil(max(ny, nx) / max_pixels)))
    image = store.image()
    vz = store.voxel_size_um[0]
    slices = {}
    for f in fractions:
        z = min(depth - 1, max(0, int(round(f * (depth - 1)))))
        label = f"z = {z} ({z * vz:.0f} µm)"
        if label in slices:
            continue
        slices[label] = (np.asarray(image[z, ::step, ::step]), np.asarray(phases[z, ::step, ::step]))
    return slices


def _check_out_not_store(out: Path, store: Path) -> None:
    out_r, store_r = out.resolve(), store.resolve()
    if out_r == store_r or store_r in out_r.parents or out_r in store_r.parents:
        raise InputError(f"--out={str(out)!r} would overlap the input store {str(store)!r}; choose a separate folder")


def _check_label(store, name: str) -> None:
    arr = store.label(name)
    dtype = np.dtype(arr.dtype)
    if dtype.kind not in "ui":
        raise InputError(f"{store.path}/labels/{name} has dtype {dtype}; expected an integer label array")
    if tuple(arr.shape) != tuple(store.shape):
        raise InputError(
            f"{store.path}/labels/{name} has shape {tuple(arr.shape)} but the CT image has shape {tuple(store.shape)}; "
            "they must match"
        )


def _minerals_of(store) -> tuple[Any, list[str], float | None]:
    """The minerals of ``labels/phases`` (stand-in densities where missing), the names without one, the stand-in."""
    from liberation.workflows._minerals import minerals_for_report

    properties = store.label_properties("phases")
    if not properties:
        raise InputError(
            f"{store.path}/labels/phases has no mineral names (image-label 'properties' with label-value and name "
            "for each phase id); segment with a model trained on named labels (liberation register --labels "
            "LABELS_FOLDER/labels.tif reads the folder's minerals.csv, then train and segment again)"
        )
    try:
        return minerals_for_report(properties)
    except InputError as exc:
        raise InputError(f"{store.path}/labels/phases: bad mineral list in its properties ({exc})") from None


def _unassigned_block(pid, ph, core):
    inside = np.asarray(pid) > 0
    return int(np.count_nonzero(inside & (np.asarray(ph) == 0))), int(np.count_nonzero(inside))


def unassigned_volume(particles, phases, *, slab: int | None = None) -> tuple[int, int]:
    """Particle voxels without a phase (phase 0 inside a particle), and all particle voxels.

    Parameters
    ----------
    particles, phases : array-like, shape (z, y, x)
        Particle ids (0 = outside) and phase ids (0 = void); numpy, zarr or dask.
    slab : int, optional
        Block height in z planes; default the arrays' own chunks (each zarr chunk decoded once,
        blocks counted in threads) or slabs of ~16 M voxels for numpy.

    Returns
    -------
    (int, int)
        ``(unassigned voxels, particle voxels)``.
    """
    from liberation.stats.measure import normalise_chunks, run_blocks

    shape = tuple(int(n) for n in particles.shape)
    source = phases if isinstance(particles, np.ndarray) else particles
    grid = normalise_chunks(shape, None if slab is None else (int(slab), shape[1], shape[2]), source)
    unassigned = total = 0
    for u, t in run_blocks(particles, phases, grid, _unassigned_block):
        unassigned += u
        total += t
    return unassigned, total


def _check_unassigned(n_unassigned: int, n_particle: int, *, info: dict, doubts: list, allow: bool,
                      store_path: Path) -> None:
    """Record the particle volume without a phase in ``info``; warn above UNASSIGNED_WARN, refuse above UNASSIGNED_REFUSE."""
    share = n_unassigned / n_particle if n_particle else 0.0
    info["unassigned_particle_volume"] = {"voxels": n_unassigned, "particle_voxels": n_particle, "fraction": share}
    if share > UNASSIGNED_WARN:
        text = (f"{100 * share:.1f} % of the particle volume ({n_unassigned} of {n_particle} voxels) has no phase "
                "(phase 0 inside a particle); the statistics leave it out")
        if share > UNASSIGNED_REFUSE and not allow:
            raise InputError(f"{store_path}: {text}; more than {100 * UNASSIGNED_REFUSE:.0f} %: check the "
                             "segmentation, or pass --allow-unassigned to report anyway")
        doubts.append(text)
        logger.warning(text)


def run_report(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    target: str | None = None,
    threshold: float = 0.9,
    section_axes: Sequence[str] = ("z",),
    section_spacing: int | None = None,
    size_classes_um: Sequence[float] = (),
    size_by: str = "esd",
    exclude_border: bool = True,
    basis: str = "auto",
    bootstrap: int = 1000,
    shapes: str = "fast",
    overwrite: bool = False,
    title: str | None = None,
    allow_unassigned: bool = False,
    quantification: str = "hard",
    pdf: bool = True,
    gallery: bool = True,
    section: str | os.PathLike | None = None,
    transform: str | os.PathLike | None = None,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    render_process: bool | None = None,
) -> ReportRun:
    """Open a store read-only, compute the 3D and 2D statistics and write the report folder.

    Parameters
    ----------
    store_path : str or Path
        The segmented sample store (``labels/phases`` with a mineral list; ``labels/particles``
        optional, derived from the phases when missing).
    out_dir : str or Path, optional
        Report folder to create; default :func:`default_out_dir` of the store. Must not overlap
        the store.
    target : str, optional
        Target mineral (default every mineral).
    threshold : float
        A particle is liberated when its grade is at least this fraction, in (0, 1].
    section_axes : sequence of {"z", "y", "x"}
        Normals of the virtual 2D section planes; empty for no sections.
    section_spacing : int, optional
        Distance between section planes in voxels.
    size_classes_um : sequence of float
        Increasing bounds of the size classes in µm, by ``size_by``.
    size_by : {"esd", "sieve"}
        Size the classes bound: equivalent sphere diameter, or the sieve-equivalent size (intermediate
        axis length, :mod:`liberation.stats.sieve`).
    exclude_border : bool
        Leave particles touching the volume border out (default; they are cut by the field of view).
    basis : {"auto", "mass", "volume"}
        Basis of the headline, grade-recovery and comparison (auto: mass when every mineral has a density).
    bootstrap : int
        Particle-bootstrap replicates of the 95 % intervals (0: none).
    shapes : {"fast", "full", "off"}
        Particle shape measures (:func:`liberation.stats.analyse`): ``"fast"`` (default) the
        vectorised elongation, flatness and intermediate axis, with surface and sphericity from
        the corrected voxel faces; ``"full"`` adds each particle's crop: marching-cubes mesh
        sphericity, Feret diameters and pores, about 10 ms of CPU per particle (100 s for the
        10,000 particles of a 512^3 sample, docs/performance_report.md); ``"off"`` none.
    overwrite : bool
        Replace an existing report folder.
    title : str, optional
        Title of the report page.
    allow_unassigned : bool
        Report even when more than :data:`UNASSIGNED_REFUSE` of the particle volume has no
        phase (phase 0 inside a particle; e.g. a network predicting void inside particles).
        The share is always stated (``summary.json``: ``sample.unassigned_particle_volume``),
        with a warning above :data:`UNASSIGNED_WARN`. Counted by the analysis's block pass (its particle
        table), so the refusal comes after the analysis (with ``quantification="soft"``: a separate pass
        before it).
    quantification : {"hard", "soft", "both"}
        Phase volumes from the hard labels, from sub-voxel fractions of the mixed voxels (CT grey values
        unmixed between the neighbouring phases, :mod:`liberation.stats.partial_volume`), or both
        (hard tables plus ``*_soft.csv`` and ``quantification.csv`` with the difference). Default
        ``"hard"``: the soft statistics still take about 5x the hard ones at 512^3 (docs/partial_volume.md).
    pdf : bool
        Also write ``report.pdf`` (the same content, A4).
    gallery : bool
        Add the particle gallery (``gallery.csv``, one panel per class of the target mineral).
    section, transform : str or Path, optional
        A measured section: its mineral label map (TIFF/``.npy``, ``minerals.csv`` beside it) and
        the ``transform.json`` of ``liberation register``. Adds the three-way comparison measured vs
        virtual section vs 3D (:mod:`liberation.workflows.measured_section`). Give both or neither.
    client : distributed.Client, optional
        Run the block passes of :func:`liberation.stats.analyse` (phase counts, faces, boxes; grains)
        on this Dask cluster (``--workers`` / ``--scheduler``, :mod:`liberation.workflows.cluster`);
        the workers read the store's chunks themselves, so a remote cluster must see the store's
        path. The report is the same as without (docs/distributed.md).
    workers, scheduler : int or str, optional
        Instead of ``client``: a local cluster of ``workers`` processes, or the running cluster of
        the scheduler at this address, opened after the inputs are checked and closed at the end
        (:func:`liberation.workflows.cluster.dask_client`).
    render_process : bool, optional
        Draw the figures and the PDF in a second (spawned) process as well, started once the inputs are
        checked: the gallery panels and the plots without intervals are queued to it the moment the tables
        are made (before the bootstrap, through ``analyse(on_tables=...)``; one job each), while this process
        runs the bootstrap, draws the plots with intervals and takes back the jobs the worker has not started
        (:class:`liberation.report._render.EarlyDrawing`); the worker then draws the PDF while this process
        writes the tables (:class:`liberation.report._render.Renderer`; the files are the same). Default: when
        the volume has at least :data:`RENDER_PROCESS_VOXELS` voxels.

    Returns
    -------
    ReportRun
        The report folder, the statistics and the notes.

    A mineral of ``labels/phases`` without a density is not refused: a note names it and its
    mass-basis numbers use a stand-in density
    (:func:`liberation.workflows._minerals.minerals_for_report`).

    Raises
    ------
    InputError
        Bad options, a mineral list or label array that does not fit the CT, too much particle
        volume without a phase.
    StoreError
        The store has no ``labels/phases``.
    OverwriteError
        ``out_dir`` exists and ``overwrite`` is false (checked before the analysis).
    """
    from liberation.io import open_store
    from liberation.report.writer import check_out_dir, write_report
    from liberation.workflows.cluster import check_cluster_options

    check_cluster_options(workers, scheduler)
    store_path = Path(store_path)
    out = Path(out_dir) if out_dir is not None else default_out_dir(store_path)
    if section_spacing is not None and int(section_spacing) < 1:
        raise InputError(f"--section-spacing={section_spacing} must be a positive number of voxels")
    distributed = client is not None or workers is not None or scheduler is not None
    # workers of a cluster open the store's arrays by path: absolute, whatever their working folder
    store = open_store(store_path.resolve() if distributed else store_path, mode="r")
    _check_out_not_store(out, store_path)
    check_out_dir(out, overwrite)  # fail before the (long) analysis
    if not store.has_label("phases"):
        known = ", ".join(store.label_names) or "none"
        raise StoreError(
            f"{store_path} has no labels/phases (labels present: {known}); segment the sample first "
            "(liberation segment) or write the phase labels into the store"
        )
    _check_label(store, "phases")
    minerals, no_density, stand_in = _minerals_of(store)
    if target is not None and target not in minerals:
        raise InputError(f"--target={target!r} is not a mineral of this sample; known: {', '.join(minerals.names)}")
    if (section is None) != (transform is None):
        raise InputError("--section and --transform go together: give the measured label map and the "
                         "transform.json of its registration, or neither")
    if section is not None:  # fail before the (long) analysis
        from liberation.workflows.measured_section import check_section_inputs

        check_section_inputs(section, transform, minerals)
    from liberation.report._render import Renderer

    if render_process is None:  # a worker pays off from ~256^3 (its start and imports cost ~1-2 s of CPU)
        render_process = int(np.prod(store.shape, dtype=np.int64)) >= RENDER_PROCESS_VOXELS
    # started once the inputs are checked and before the analysis and its imports: the worker's start and
    # imports overlap this process's imports (one core each) instead of the two-threaded voxel passes
    with Renderer(processes=1 if render_process else 0) as renderer:
        from liberation.stats import analyse
        from liberation.workflows.cluster import dask_client

        phases = store.label("phases")
        info = {
            "store": str(store_path),
            "shape": list(store.shape),
            "ct_dtype": str(store.image().dtype),
            "ngff_version": store.ngff_version,
            "labels": list(store.label_names),
        }
        if store.sieve_fraction is not None:
            info["sieve_fraction"] = "{:g}-{:g} µm".format(*store.sieve_fraction)
        notes, doubts = [], []
        if no_density:
            notes.append(f"no density for {', '.join(no_density)}: volume-basis numbers are exact; mass-basis numbers "
                         f"(wt%, mass grades) weigh {'its' if len(no_density) == 1 else 'their'} volume at a stand-in "
                         f"{stand_in:.3g} g/cm³ (the mean of the known densities; 1 when none is known, so mass basis "
                         "= volume basis)")
            info["minerals_without_density"] = list(no_density)
            info["stand_in_density_g_cm3"] = stand_in
        if store.has_label("particles"):
            _check_label(store, "particles")
            particles = store.label("particles")
            info["particles_source"] = "labels/particles of the store"
        else:
            notes.append("labels/particles is missing: deriving particles from phases > 0 with the classical "
                         "separation of `liberation segment --classical` (not written to the store)")
            logger.info(notes[-1])
            from liberation.workflows.classical import derive_store_particles

            particles, params = derive_store_particles(phases, voxel_size_um=store.voxel_size_um)
            info["particles_source"] = "derived from labels/phases: " + ", ".join(f"{k}={v}" for k, v in params.items())
            info["derive_particles"] = params
        # hard tables: the particle table of the analysis counts the particle voxels without a phase (the
        # same numbers as unassigned_volume, without another decoding pass over both label arrays); the
        # check then comes after the analysis
        info["unassigned_particle_volume"] = None  # (its place in summary.json)
        if quantification == "soft":
            _check_unassigned(*unassigned_volume(particles, phases), info=info, doubts=doubts,
                              allow=allow_unassigned, store_path=store_path)
        early: dict = {}

        def start_drawing(partial) -> None:
            # the tables are made, the bootstrap not yet: the worker draws the gallery and the plots without
            # intervals meanwhile (write_report then draws the interval plots here and takes back what the worker
            # has not started); without a worker everything is drawn as before, in write_report
            if renderer.parallel:
                from liberation.report._render import EarlyDrawing
                from liberation.report.figures import gallery_specs

                early["slices"] = pick_slices(store, phases)
                early["drawing"] = EarlyDrawing(renderer, partial, early["slices"],
                                                gallery=gallery_specs(partial, particles, phases) if gallery else None)

        with dask_client(client, workers=workers, scheduler=scheduler) as client:
            result = analyse(
                particles, phases, voxel_size_um=store.voxel_size_um, minerals=minerals, target=target,
                threshold=threshold, size_classes_um=tuple(size_classes_um), size_by=size_by,
                section_axes=tuple(section_axes),
                section_spacing=section_spacing, exclude_border=exclude_border, by=basis, bootstrap=bootstrap, shapes=shapes,
                image=store.image() if quantification != "hard" else None, quantification=quantification,
                client=client, on_tables=start_drawing,
            )
        if quantification != "soft":
            table = result.particles
            _check_unassigned(int(table["unassigned_voxels"].sum()), int(table["voxels"].sum()), info=info,
                              doubts=doubts, allow=allow_unassigned, store_path=store_path)
        measured = None
        if section is not None:
            from liberation.workflows.measured_section import compare_store_section

            measured, section_notes = compare_store_section(
                store, result.particles, minerals=minerals, section=section, transform=transform, target=target,
                threshold=threshold, by=result.summary.get("basis", "volume"), particles=particles)
            notes.extend(section_notes)
            info["measured_section"] = {"labels": str(section), "transform": str(transform)}
        stereology = None
        if len(result.sections):
            from liberation.stats.stereology import stereology_check

            stereology = stereology_check(result.particles, result.sections, minerals=minerals, target=target,
                                          threshold=threshold, by=result.summary.get("basis", "volume"),
                                          source=str(store_path))
        slices = early["slices"] if "slices" in early else pick_slices(store, phases)
        page_title = title or f"Liberation report: {store_path.name}"
        folder = write_report(result, out, overwrite=overwrite, slices=slices, sample_info=info, title=page_title,
                              volumes=(particles, phases) if gallery else None, pdf=pdf, measured_section=measured,
                              stereology=stereology, renderer=renderer, early=early.get("drawing"))
    return ReportRun(folder=Path(folder), result=result, notes=tuple(notes), warnings=tuple(doubts))


def summary_lines(folder: str | os.PathLike, result) -> list[str]:
    """A short text summary of a report: where it is, particle counts, liberated fractions, the 2D bias.

    Parameters
    ----------
    folder : str or Path
        The report folder.
    result : LiberationResult
        Its statistics.

    Returns
    -------
    list of str
        One line each (``liberation report`` prints them).
    """
    from liberation.report.text import bias_sentence, headline_mineral

    folder = Path(folder)
    s = result.summary
    lib3 = s.get("liberated_fraction_3d") or {}
    lib2 = s.get("liberated_fraction_2d") or {}
    lines = [f"report: {folder / 'report.html'}"]
    n_total = s.get("n_particles_total", len(result.particles))
    lines.append(f"particles: {s.get('n_particles', n_total)} analysed of {n_total} "
                 f"({len(result.excluded_particle_ids)} excluded at the border); "
                 f"section particles: {s.get('n_sections_2d', len(result.sections))}")

    def pct(v):
        return "n/a" if v is None or v != v else f"{100 * float(v):.1f} %"

    ci3 = s.get("liberated_fraction_3d_ci95") or {}

    def ci(v):
        return f" (95 % CI {pct(v[0])} to {pct(v[1])})" if v else ""

    for name in ([result.target] if result.target else list(result.minerals.names)):
        lines.append(f"liberated {name}: 3D {pct(lib3.get(name))}{ci(ci3.get(name))}, 2D {pct(lib2.get(name))} "
                     f"(by {s.get('basis', 'volume')})")
    head = headline_mineral(result.target, lib2, lib3, list(result.minerals.names))
    if head is not None and len(result.sections):
        lines.append(bias_sentence(head, lib2.get(head), lib3.get(head), basis=s.get("basis"),
                                   ci95=(s.get("bias_2d_minus_3d_ci95") or {}).get(head)))
    return lines
