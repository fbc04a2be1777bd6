"""``liberation pipeline``: the whole correlative chain on the synthetic correlative sample.

The work, and the layout of the output folder, is in :mod:`liberation.workflows.pipeline`.
"""

from __future__ import annotations

import click

from liberation.cli._moved import moved_getattr
from liberation.cli._options import (
    context_option,
    device_option,
    max_time_option,
    overwrite_option,
    preset_option,
    seed_option,
    size_option,
    threads_option,
)
from liberation.cli._output import echo_lines, echo_notes

__getattr__ = moved_getattr(__name__, {"run_pipeline": "liberation.workflows.pipeline"})


@click.command("pipeline")
@click.argument("out_dir", type=click.Path())
@size_option(default=96, help="Edge of the synthetic sample (voxels).")
@seed_option()
@preset_option()
@max_time_option("Training budget per model (s).")
@click.option("--particles/--no-particles", default=True, show_default=True)
@click.option("--report/--no-report", default=True, show_default=True)
@click.option("--allow-unassigned", is_flag=True,
              help="Report even when more than 10 % of the particle volume has no phase (e.g. after the tiny preset).")
@click.option("--register/--known-pose", default=True, show_default=True,
              help="MI registration of the face maps, or the known pose of the synthetic faces.")
@device_option()
@threads_option("CPU threads for torch.")
@context_option("Phase inference: sliding windows, or face-matched (mirrored z context; slower, more accurate "
                "for models trained on end faces).")
@overwrite_option(None)
def pipeline(out_dir, size, seed, preset, max_time, particles, report, allow_unassigned, register, device, threads,
             context, overwrite):
    """Synthetic correlative sample: labels -> register -> train -> segment -> report, into OUT_DIR."""
    from liberation.workflows.pipeline import run_pipeline
    from liberation.workflows.report_store import summary_lines

    run = run_pipeline(out_dir, size=size, seed=seed, preset=preset, max_time=max_time, particles=particles,
                       report=report, register=register, device=device, threads=threads, context=context,
                       allow_unassigned=allow_unassigned, overwrite=overwrite)
    echo_notes(run.notes)
    if run.report is not None:
        echo_lines(summary_lines(run.report.folder, run.report.result))
    ev = run.summary["evaluation"]
    click.echo(f"interior planes {ev['planes']}: 3D U-Net accuracy {ev['3d']['accuracy']:.3f} mIoU {ev['3d']['miou']:.3f}; "
               f"grey-value GMM accuracy {ev['grey_gmm']['accuracy']:.3f} mIoU {ev['grey_gmm']['miou']:.3f}")
    if "particles" in run.summary:
        p = run.summary["particles"]["network"]
        click.echo(f"particles: {p['n_pred']} found, {p['n_true']} true (count error {p['count_error']:+.1%})")
    click.echo(f"written to {out_dir}")
