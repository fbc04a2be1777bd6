"""``liberation report``: 3D and 2D liberation statistics of a segmented sample store, as a report folder.

Reads the store only (never writes to it); imports no torch. The work is
:func:`liberation.workflows.report_store.run_report`.
"""

from __future__ import annotations

import click

from liberation.cli._moved import moved_getattr
from liberation.cli._options import cluster_options, out_option, overwrite_option
from liberation.cli._output import echo_lines, echo_notes
from liberation.cli._parse import parse_axes, parse_size_classes, parse_spacing, parse_threshold
from liberation.errors import InputError

__getattr__ = moved_getattr(__name__, {
    **dict.fromkeys(("run_report", "pick_slices", "summary_lines", "default_out_dir"),
                    "liberation.workflows.report_store"),
    "status": "liberation._progress",
    "note": "liberation.cli._output",
    "AXES": "liberation.cli._parse",
})


@click.command()
@click.argument("stores", metavar="STORE...", nargs=-1, required=True, type=click.Path())
@out_option("out_dir", metavar="DIR",
            help="Report folder to create (default: STORE name + '_report' beside the store).")
@click.option("--target", default=None, metavar="NAME", help="Target mineral (default: every mineral; the headline uses the largest bias).")
@click.option("--liberated-at", "threshold", default="0.9", show_default=True, metavar="FRACTION",
              help="A particle is liberated when its grade of the mineral is at least this fraction.")
@click.option("--sections", "sections", default="z", show_default=True, metavar="AXES",
              help="Normals of the virtual 2D section planes: z, y, x, a comma list, or 'none'.")
@click.option("--section-spacing", default=None, metavar="N",
              help="Distance between section planes in voxels (planes at N//2, N//2+N, ...); default ~16 planes.")
@click.option("--size-classes", default=None, metavar="B1,B2,...",
              help="Bounds of the size classes in µm (of the size --size-by picks), e.g. 63,100,250.")
@click.option("--size-by", type=click.Choice(["esd", "sieve"]), default="esd", show_default=True,
              help="Size of the size classes: equivalent sphere diameter, or the sieve-equivalent size "
                   "(intermediate axis length; the minimum Feret diameter is in particles.csv too).")
@click.option("--fraction-mass", default=None, metavar="W1,W2,...",
              help="Several stores, one per sieve fraction: the mass fraction of each (same order, summing to 1). "
                   "Reports each fraction and merges them by mass (fractions.csv, combined.csv).")
@click.option("--exclude-border/--include-border", default=True, show_default=True,
              help="Leave particles touching the volume border out (they are cut by the field of view); "
                   "their count and volume share are stated.")
@click.option("--basis", type=click.Choice(["auto", "mass", "volume"]), default="auto", show_default=True,
              help="Basis of the headline, grade-recovery and 2D-vs-3D tables; auto: mass when every mineral "
                   "has a density, else volume.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True, metavar="B",
              help="Particle-bootstrap replicates of the 95 % intervals (0: none; else at least 100).")
@click.option("--shapes", type=click.Choice(["fast", "full", "off"]), default="fast", show_default=True,
              help="Particle shape measures: fast = principal axes of every particle (elongation, flatness, "
                   "intermediate axis), vectorised; full = also each particle's marching-cubes mesh sphericity, "
                   "Feret diameters and pores (about 10 ms of CPU per particle); off = none.")
@overwrite_option("Replace an existing report folder.")
@click.option("--title", default=None, metavar="TEXT", help="Title of the report page.")
@click.option("--allow-unassigned", is_flag=True,
              help="Report even when more than 10 % of the particle volume has no phase (phase 0 inside particles; "
                   "stated in the report, a warning above 1 %).")
@click.option("--quantification", type=click.Choice(["hard", "soft", "both"]), default="both", show_default=True,
              help="Phase volumes from the hard labels, from sub-voxel fractions of the mixed voxels (CT grey "
                   "values unmixed between neighbouring phases), or both (hard tables plus *_soft.csv and "
                   "quantification.csv with the difference). soft/both read the CT; the soft statistics take "
                   "about 1.5-2x the hard ones at 512^3 (docs/partial_volume.md); hard skips them.")
@click.option("--pdf/--no-pdf", default=True, show_default=True,
              help="Also write report.pdf (A4, the same content as report.html; a few seconds more).")
@click.option("--section", "section", type=click.Path(), default=None, metavar="LABELS",
              help="A measured section: its mineral label map (TIFF or .npy, 0 = background; a minerals.csv beside "
                   "it matches its ids to the store's minerals by name). With --transform: adds the comparison "
                   "measured section vs virtual CT section at the same pose vs the same particles in 3D "
                   "(measured_section.csv, measured_section.png).")
@click.option("--transform", "transform", type=click.Path(), default=None, metavar="JSON",
              help="transform.json of the section's registration (liberation register); goes with --section.")
@cluster_options("the block passes (phase counts, faces, grains)")
def report(stores, out_dir, target, threshold, sections, section_spacing, size_classes, size_by, fraction_mass,
           exclude_border, basis, n_boot, shapes, overwrite, title, allow_unassigned, quantification, pdf, section, transform,
           workers, scheduler):
    """Liberation report of STORE (a segmented sample.zarr): 3D particles vs 2D sections.

    Writes report.html (self-contained) and report.pdf, particles.csv, sections_2d.csv, liberation.csv,
    association.csv, modal.csv, grade_recovery.csv, more tables, gallery.csv (the particles of
    the particle gallery), PNG plots and summary.json; with --section and --transform also the
    measured-section comparison (measured_section*.csv, measured_section.png).
    The store is only read.

    Several stores (one per sieve fraction) with --fraction-mass: one report folder with each
    fraction's report in a subfolder, fractions.csv (size by size, per fraction) and combined.csv
    (the fractions weighted by their mass fractions).
    """
    sizes, axes = parse_size_classes(size_classes), parse_axes(sections)
    threshold, section_spacing = parse_threshold(threshold), parse_spacing(section_spacing)
    options = dict(section_axes=axes, section_spacing=section_spacing, size_classes_um=sizes, size_by=size_by,
                   exclude_border=exclude_border, basis=basis, bootstrap=n_boot, shapes=shapes,
                   allow_unassigned=allow_unassigned, quantification=quantification, pdf=pdf,
                   workers=workers, scheduler=scheduler)
    if fraction_mass is not None:
        if section is not None or transform is not None:
            raise InputError("--section/--transform go with one store; they cannot be combined with --fraction-mass")
        from liberation.workflows.report_fractions import fraction_summary_lines, run_fraction_report

        frun = run_fraction_report(stores, fraction_mass, out_dir, target=target, threshold=threshold,
                                   overwrite=overwrite, title=title, **options)
        for r in frun.runs:
            echo_notes(r.notes)
            for text in r.warnings:
                click.echo(f"warning: {r.folder.name}: {text}", err=True)
        echo_lines(fraction_summary_lines(frun))
        return
    if len(stores) > 1:
        raise InputError(f"{len(stores)} stores given without --fraction-mass; give one store, or one per sieve "
                         "fraction with --fraction-mass W1,W2,... (their mass fractions, summing to 1)")
    from liberation.workflows.report_store import run_report, summary_lines

    run = run_report(stores[0], out_dir, target=target, threshold=threshold, overwrite=overwrite, title=title,
                     section=section, transform=transform, **options)
    echo_notes(run.notes)
    for text in run.warnings:
        click.echo(f"warning: {text}", err=True)
    echo_lines(summary_lines(run.folder, run.result))
