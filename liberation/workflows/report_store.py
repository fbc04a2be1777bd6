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
        Notes that matter for the results (e.g. particles derived from the phases).
    """

    folder: Path
    result: Any
    notes: tuple[str, ...] = ()


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


def _minerals_of(store):
    try:
        minerals = store.minerals
    except InputError as exc:
        raise InputError(f"{store.path}/labels/phases: bad mineral list in its properties ({exc})") from None
    if minerals is None:
        raise InputError(
            f"{store.path}/labels/phases has no mineral list (image-label 'properties' with label-value, name and "
            "density for each phase id); write the phases with minerals=..."
        )
    return minerals


def run_report(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    target: str | None = None,
    threshold: float = 0.9,
    section_axes: Sequence[str] = ("z",),
    section_spacing: int | None = None,
    size_classes_um: Sequence[float] = (),
    exclude_border: bool = True,
    basis: str = "auto",
    bootstrap: int = 1000,
    overwrite: bool = False,
    title: str | None = None,
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
        Increasing ESD bounds of the size classes in µm.
    exclude_border : bool
        Leave particles touching the volume border out (default; they are cut by the field of view).
    basis : {"auto", "mass", "volume"}
        Basis of the headline, grade-recovery and comparison (auto: mass when every mineral has a density).
    bootstrap : int
        Particle-bootstrap replicates of the 95 % intervals (0: none).
    overwrite : bool
        Replace an existing report folder.
    title : str, optional
        Title of the report page.

    Returns
    -------
    ReportRun
        The report folder, the statistics and the notes.

    Raises
    ------
    InputError
        Bad options, a mineral list or label array that does not fit the CT.
    StoreError
        The store has no ``labels/phases``.
    OverwriteError
        ``out_dir`` exists and ``overwrite`` is false (checked before the analysis).
    """
    from liberation.io import open_store
    from liberation.report.writer import check_out_dir, write_report
    from liberation.stats import analyse, derive_particles

    store_path = Path(store_path)
    out = Path(out_dir) if out_dir is not None else default_out_dir(store_path)
    if section_spacing is not None and int(section_spacing) < 1:
        raise InputError(f"--section-spacing={section_spacing} must be a positive number of voxels")
    store = open_store(store_path, mode="r")
    _check_out_not_store(out, store_path)
    check_out_dir(out, overwrite)  # fail before the (long) analysis
    if not store.has_label("phases"):
        known = ", ".join(store.label_names) or "none"
        raise StoreError(
            f"{store_path} has no labels/phases (labels present: {known}); segment the sample first "
            "(liberation segment) or write the phase labels into the store"
        )
    _check_label(store, "phases")
    minerals = _minerals_of(store)
    if target is not None and target not in minerals:
        raise InputError(f"--target={target!r} is not a mineral of this sample; known: {', '.join(minerals.names)}")
    phases = store.label("phases")
    info = {
        "store": str(store_path),
        "shape": list(store.shape),
        "ct_dtype": str(store.image().dtype),
        "ngff_version": store.ngff_version,
        "labels": list(store.label_names),
    }
    notes = []
    if store.has_label("particles"):
        _check_label(store, "particles")
        particles = store.label("particles")
        info["particles_source"] = "labels/particles of the store"
    else:
        notes.append("labels/particles is missing: deriving particles from phases > 0 "
                     "(connected components + watershed split; not written to the store)")
        logger.info(notes[-1])
        particles, params = derive_particles(np.asarray(phases), voxel_size_um=store.voxel_size_um)
        info["particles_source"] = "derived from labels/phases: " + ", ".join(f"{k}={v}" for k, v in params.items())
        info["derive_particles"] = params
    result = analyse(
        particles, phases, voxel_size_um=store.voxel_size_um, minerals=minerals, target=target,
        threshold=threshold, size_classes_um=tuple(size_classes_um), section_axes=tuple(section_axes),
        section_spacing=section_spacing, exclude_border=exclude_border, by=basis, bootstrap=bootstrap,
    )
    slices = pick_slices(store, phases)
    page_title = title or f"Liberation report: {store_path.name}"
    folder = write_report(result, out, overwrite=overwrite, slices=slices, sample_info=info, title=page_title)
    return ReportRun(folder=Path(folder), result=result, notes=tuple(notes))


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
