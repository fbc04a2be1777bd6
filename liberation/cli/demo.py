"""``liberation demo``: make the synthetic demo sample, store it, and run the report on it.

The work is :func:`liberation.workflows.demo.run_demo`.
"""

from __future__ import annotations

import click

from liberation.cli._moved import moved_getattr
from liberation.cli._options import out_option, overwrite_option, seed_option, size_option
from liberation.cli._output import echo_lines, echo_notes

__getattr__ = moved_getattr(__name__, dict.fromkeys(("make_demo_store", "DEMO_SIZE_CLASSES_UM"),
                                                    "liberation.workflows.demo"))


@click.command()
@out_option("out_dir", default="demo_out", show_default=True, metavar="DIR",
            help="Folder for the demo sample store and its report.")
@overwrite_option("Replace the sample and report of an earlier demo in that folder.")
@size_option(default=None, metavar="N",
             help="Edge length of the cubic sample in voxels (default: the standard 128³ demo sample).")
@seed_option("Seed of the synthetic sample.", metavar="S")
def demo(out_dir: str, overwrite: bool, size: int | None, seed: int) -> None:
    """Make the synthetic demo sample (spodumene ore, 10 µm voxels) and its liberation report.

    Writes OUT/sample.zarr (CT, labels/phases with the mineral list, labels/particles),
    OUT/section (a synthetic measured section: map_labels.tif, minerals.csv, transform.json) and
    OUT/report (report.html, CSV tables, plots, summary.json; with the comparison measured
    section vs virtual CT section vs 3D).
    """
    from liberation.workflows.demo import run_demo
    from liberation.workflows.report_store import summary_lines

    run = run_demo(out_dir, size=size, seed=seed, overwrite=overwrite)
    click.echo(f"sample store: {run.store_path}")
    echo_notes(run.report.notes)
    echo_lines(summary_lines(run.report.folder, run.report.result))
    click.echo(f"open {run.report.folder / 'report.html'} in a browser; the tables (CSV) and plots (PNG) are beside it")
