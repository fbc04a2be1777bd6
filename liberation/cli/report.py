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

__getattr__ = moved_getattr(__name__, {
    **dict.fromkeys(("run_report", "pick_slices", "summary_lines", "default_out_dir"),
                    "liberation.workflows.report_store"),
    "status": "liberation._progress",
    "note": "liberation.cli._output",
    "AXES": "liberation.cli._parse",
})


@click.command()
@click.argument("store", type=click.Path())
@out_option("out_dir", metavar="DIR",
            help="Report folder to create (default: STORE name + '_report' beside the store).")
@click.option("--target", default=None, metavar="NAME", help="Target mineral (default: every mineral; the headline uses the largest bias).")
@click.option("--liberated-at", "threshold", default="0.9", show_default=True, metavar="FRACTION",
              help="A particle is liberated when its grade of the mineral is at least this fraction.")
@click.option("--sections", "sections", default="z", show_default=True, metavar="AXES",
              help="Normals of the virtual 2D section planes: z, y, x, a comma list, or 'none'.")
@click.option("--section-spacing", default=None, metavar="N",
              help="Distance between section planes in voxels (planes at N//2, N//2+N, ...); default ~16 planes.")
@click.option("--size-classes", default=None, metavar="B1,B2,...", help="ESD bounds of the size classes in µm, e.g. 63,100,250.")
@click.option("--exclude-border/--include-border", default=True, show_default=True,
              help="Leave particles touching the volume border out (they are cut by the field of view); "
                   "their count and volume share are stated.")
@click.option("--basis", type=click.Choice(["auto", "mass", "volume"]), default="auto", show_default=True,
              help="Basis of the headline, grade-recovery and 2D-vs-3D tables; auto: mass when every mineral "
                   "has a density, else volume.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True, metavar="B",
              help="Particle-bootstrap replicates of the 95 % intervals (0: none; else at least 100).")
@overwrite_option("Replace an existing report folder.")
@click.option("--title", default=None, metavar="TEXT", help="Title of the report page.")
@click.option("--allow-unassigned", is_flag=True,
              help="Report even when more than 10 % of the particle volume has no phase (phase 0 inside particles; "
                   "stated in the report, a warning above 1 %).")
@click.option("--quantification", type=click.Choice(["hard", "soft", "both"]), default="hard", show_default=True,
              help="Phase volumes from the hard labels, from sub-voxel fractions of the mixed voxels (CT grey "
                   "values unmixed between neighbouring phases), or both (hard tables plus *_soft.csv and "
                   "quantification.csv with the difference). soft/both read the CT and take about 10x longer "
                   "(docs/partial_volume.md).")
@click.option("--pdf/--no-pdf", default=True, show_default=True,
              help="Also write report.pdf (A4, the same content as report.html; a few seconds more).")
@cluster_options("the block passes (phase counts, faces, grains)")
def report(store, out_dir, target, threshold, sections, section_spacing, size_classes, exclude_border, basis, n_boot,
           overwrite, title, allow_unassigned, quantification, pdf, workers, scheduler):
    """Liberation report of STORE (a segmented sample.zarr): 3D particles vs 2D sections.

    Writes report.html (self-contained) and report.pdf, particles.csv, sections_2d.csv, liberation.csv,
    association.csv, modal.csv, grade_recovery.csv, more tables, gallery.csv (the particles of
    the particle gallery), PNG plots and summary.json.
    The store is only read.
    """
    from liberation.workflows.report_store import run_report, summary_lines

    sizes, axes = parse_size_classes(size_classes), parse_axes(sections)
    threshold, section_spacing = parse_threshold(threshold), parse_spacing(section_spacing)
    run = run_report(store, out_dir, target=target, threshold=threshold, section_axes=axes,
                     section_spacing=section_spacing, size_classes_um=sizes, exclude_border=exclude_border,
                     basis=basis, bootstrap=n_boot, overwrite=overwrite, title=title,
                     allow_unassigned=allow_unassigned, quantification=quantification, pdf=pdf,
                     workers=workers, scheduler=scheduler)
    echo_notes(run.notes)
    for text in run.warnings:
        click.echo(f"warning: {text}", err=True)
    echo_lines(summary_lines(run.folder, run.result))
