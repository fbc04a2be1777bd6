"""``liberation correct-2d``: the stereological correction of a 2D-only section table.

The work is in :mod:`liberation.workflows.correct_2d`.
"""

from __future__ import annotations

import click

from liberation.cli._options import overwrite_option
from liberation.cli._output import note


@click.command("correct-2d")
@click.argument("sections", type=click.Path(dir_okay=False))
@click.option("--kernel", "kernel", required=True, type=click.Path(dir_okay=False),
              help="Kernel JSON fitted on a sample with 3D data (stereology_kernel_MINERAL.json of its report).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output CSV (default SECTIONS_corrected.csv beside SECTIONS).")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0, min_open=True), default=None,
              help="Liberation grade, a class bound of the kernel (default the one stored in the kernel, else 0.9).")
@click.option("--size-class", "size_class", default=None,
              help="Give every section this size class of the kernel (e.g. the sieve fraction); default the "
                   "table's size_class column.")
@overwrite_option("Replace an existing output file.")
def correct_2d(sections: str, kernel: str, out: str | None, threshold: float | None, size_class: str | None,
               overwrite: bool) -> None:
    """Correct the 2D liberated fraction of SECTIONS (a CSV section table of a 2D-only sister sample).

    SECTIONS needs a pixels_MINERAL column per mineral of the kernel (sections_2d.csv or
    measured_section_particles.csv of a report, or any table of that form). Writes the uncorrected
    and corrected liberated fraction per size class (docs/stereology.md).
    """
    from liberation.workflows.correct_2d import run_correct_2d

    path, table = run_correct_2d(sections, kernel, out, threshold=threshold, size_class=size_class,
                                 overwrite=overwrite)
    if "note" in table.attrs:
        note(table.attrs["note"])
    for row in table.itertuples():
        click.echo(f"{row.size_class}: liberated {row.mineral} 2D {100 * row.liberated_2d:.1f} %, corrected "
                   f"{100 * row.liberated_corrected:.1f} % ({row.n_sections} sections)")
    click.echo(f"table: {path}")
