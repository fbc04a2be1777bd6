"""``liberation report``: 3D and 2D liberation statistics of a segmented sample store, as a report folder.

Reads the store only (never writes to it); imports no torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from liberation.errors import InputError, StoreError

AXES = ("z", "y", "x")


def status(text: str) -> None:
    """Print a progress note to stderr, unless the CLI runs with ``-q``."""
    from liberation import _progress

    if _progress._ENABLED:
        click.echo(text, err=True)


def note(text: str) -> None:
    """Print a note that matters for the results to stderr (also with ``-q``)."""
    click.echo(f"note: {text}", err=True)


def parse_size_classes(text: str | None) -> tuple[float, ...]:
    """Parse ``"63,100,250"`` into increasing positive bounds (µm); empty or None -> ``()``."""
    if text is None or not text.strip():
        return ()
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"--size-classes={text!r} is not a list of numbers; expected µm bounds like 63,100,250") from None
    if any(not np.isfinite(v) or v <= 0 for v in values) or any(a >= b for a, b in zip(values, values[1:])):
        raise InputError(f"--size-classes={text!r} must be positive and strictly increasing (µm), e.g. 63,100,250")
    return values


def parse_threshold(text) -> float:
    """Parse ``--liberated-at``: a grade fraction in (0, 1]."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f"--liberated-at={text!r} is not a number; expected a grade fraction in (0, 1], e.g. 0.9") from None
    if not 0.0 < value <= 1.0:
        raise InputError(f"--liberated-at={text!r} must be in (0, 1] (a grade fraction, e.g. 0.9)")
    return value


def parse_spacing(text) -> int | None:
    """Parse ``--section-spacing``: a positive whole number of voxels, or None."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise InputError(f"--section-spacing={text!r} is not a whole number; expected voxels between planes, e.g. 8") from None
    if value < 1:
        raise InputError(f"--section-spacing={text!r} must be a positive number of voxels")
    return value


def parse_axes(text: str | None) -> tuple[str, ...]:
    """Parse ``"z"`` or ``"z,y"`` into section axes; ``"none"`` or empty -> no sections."""
    if text is None or text.strip().lower() in ("", "none"):
        return ()
    axes = tuple(a.strip().lower() for a in text.split(",") if a.strip())
    bad = [a for a in axes if a not in AXES]
    if bad or len(set(axes)) != len(axes):
        raise InputError(f"--sections={text!r} must be axis names from z, y, x (comma separated, no repeats) or 'none'")
    return axes


def _check_out_not_store(out: Path, store: Path) -> None:
    out_r, store_r = out.resolve(), store.resolve()
    if out_r == store_r or store_r in out_r.parents or out_r in store_r.parents:
        raise InputError(f"--out={str(out)!r} would overlap the input store {str(store)!r}; choose a separate folder")


def default_out_dir(store: str | os.PathLike) -> Path:
    """``data/sample.zarr`` -> ``data/sample_report``."""
    path = Path(store)
    stem = path.name[: -len(".zarr")] if path.name.endswith(".zarr") else path.name
    return path.with_name(f"{stem}_report")


def pick_slices(store, phases, *, fractions: Sequence[float] = (0.25, 0.5, 0.75), max_pixels: int = 512) -> dict:
    """A few z slices of the CT and phases (at ``fractions`` of the depth), strided to at most ``max_pixels``."""
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
    store_path,
    out_dir=None,
    *,
    target: str | None = None,
    threshold: float = 0.9,
    section_axes: Sequence[str] = ("z",),
    section_spacing: int | None = None,
    size_classes_um: Sequence[float] = (),
    exclude_border: bool = False,
    overwrite: bool = False,
    title: str | None = None,
    echo=print,
):
    """Open a store read-only, compute the statistics and write the report folder.

    Returns
    -------
    (Path, LiberationResult)
        The report folder and the statistics.
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
    if store.has_label("particles"):
        _check_label(store, "particles")
        particles = store.label("particles")
        info["particles_source"] = "labels/particles of the store"
    else:
        echo("labels/particles is missing: deriving particles from phases > 0 "
             "(connected components + watershed split; not written to the store)")
        particles, params = derive_particles(np.asarray(phases), voxel_size_um=store.voxel_size_um)
        info["particles_source"] = "derived from labels/phases: " + ", ".join(f"{k}={v}" for k, v in params.items())
        info["derive_particles"] = params
    result = analyse(
        particles, phases, voxel_size_um=store.voxel_size_um, minerals=minerals, target=target,
        threshold=threshold, size_classes_um=tuple(size_classes_um), section_axes=tuple(section_axes),
        section_spacing=section_spacing, exclude_border=exclude_border,
    )
    slices = pick_slices(store, phases)
    page_title = title or f"Liberation report: {store_path.name}"
    folder = write_report(result, out, overwrite=overwrite, slices=slices, sample_info=info, title=page_title)
    return folder, result


def summary_lines(folder: Path, result) -> list[str]:
    """Short text summary printed by the CLI."""
    from liberation.report.text import bias_sentence, headline_mineral

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

    for name in ([result.target] if result.target else list(result.minerals.names)):
        lines.append(f"liberated {name}: 3D {pct(lib3.get(name))}, 2D {pct(lib2.get(name))}")
    head = headline_mineral(result.target, lib2, lib3, list(result.minerals.names))
    if head is not None and len(result.sections):
        lines.append(bias_sentence(head, lib2.get(head), lib3.get(head)))
    return lines


@click.command()
@click.argument("store", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(), default=None, metavar="DIR",
              help="Report folder to create (default: STORE name + '_report' beside the store).")
@click.option("--target", default=None, metavar="NAME", help="Target mineral (default: every mineral; the headline uses the largest bias).")
@click.option("--liberated-at", "threshold", default="0.9", show_default=True, metavar="FRACTION",
              help="A particle is liberated when its grade of the mineral is at least this fraction.")
@click.option("--sections", "sections", default="z", show_default=True, metavar="AXES",
              help="Normals of the virtual 2D section planes: z, y, x, a comma list, or 'none'.")
@click.option("--section-spacing", default=None, metavar="N",
              help="Distance between section planes in voxels (planes at N//2, N//2+N, ...); default ~16 planes.")
@click.option("--size-classes", default=None, metavar="B1,B2,...", help="ESD bounds of the size classes in µm, e.g. 63,100,250.")
@click.option("--exclude-border", is_flag=True, help="Leave particles touching the volume border out (they are cut).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--title", default=None, metavar="TEXT", help="Title of the report page.")
def report(store, out_dir, target, threshold, sections, section_spacing, size_classes, exclude_border, overwrite, title):
    """Liberation report of STORE (a segmented sample.zarr): 3D particles vs 2D sections.

    Writes report.html (self-contained), particles.csv, sections_2d.csv, liberation.csv,
    association.csv, modal.csv, grade_recovery.csv, more tables, PNG plots and summary.json.
    The store is only read.
    """
    sizes = parse_size_classes(size_classes)
    axes = parse_axes(sections)
    threshold = parse_threshold(threshold)
    section_spacing = parse_spacing(section_spacing)
    folder, result = run_report(
        store, out_dir, target=target, threshold=threshold, section_axes=axes, section_spacing=section_spacing,
        size_classes_um=sizes, exclude_border=exclude_border, overwrite=overwrite, title=title, echo=note,
    )
    for line in summary_lines(folder, result):
        click.echo(line)
