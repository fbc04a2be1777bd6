"""``liberation register``: register a 2D map into the CT volume of a sample store.

The work, and the layout of the output folder, is in :mod:`liberation.workflows.register`.
"""

from __future__ import annotations

from pathlib import Path

import click

from liberation.cli._options import POSITIVE_INT, out_option, overwrite_option, pixel_size_option
from liberation.errors import InputError, LiberationError


@click.command("register")
@click.argument("store_path", metavar="SAMPLE.zarr", type=click.Path(path_type=Path))
@click.argument("map_file", metavar="MAP_FILE", type=click.Path(path_type=Path))
@pixel_size_option("Map pixel size in µm (required).")
@click.option("--axis", type=click.Choice(["z", "y", "x", "any"]), default="any", show_default=True,
              help="CT axis the map plane is perpendicular to ('any' searches all three).")
@click.option("--face", type=click.Choice(["any", "top", "bottom"]), default="any", show_default=True,
              help="Plane in the low-index (top) or high-index (bottom) half along the axis.")
@click.option("--labels", "labels_path", type=click.Path(path_type=Path), default=None,
              help="Label map on the map's pixel grid (TIFF/.npy): add the plane to labels/sparse.")
@out_option("out_dir", path_type=Path,
            help="Output folder [default: MAP_FILE stem + '.registration' beside the map].")
@overwrite_option()
@click.option("--accept-poor", is_flag=True, help="Write labels even when the registration is flagged as poor.")
@click.option("--threads", type=POSITIVE_INT, default=None,
              help="Threads of the FFT search and the refinement [default: all CPUs].")
@click.option("--workers", "workers_deprecated", type=POSITIVE_INT, default=None, hidden=True,
              help="Deprecated name of --threads (threads, not Dask worker processes as in report/segment).")
def register(store_path, map_file, pixel_size, axis, face, labels_path, out_dir, overwrite, accept_poor, threads,
             workers_deprecated):
    """Register MAP_FILE (element map, SEM image or label map) into the CT of SAMPLE.zarr.

    Automatic coarse search (slice, rotation, mirror, translation) then Mattes mutual
    information refinement; writes transform.json and QA images to the output folder.
    """
    from liberation.workflows.register import register_map_file

    if workers_deprecated is not None:
        if threads is not None and threads != workers_deprecated:
            raise InputError(f"--workers {workers_deprecated} (deprecated name of --threads) and --threads {threads} "
                             "disagree; give --threads only")
        click.echo("warning: register --workers is deprecated (it sets threads); use --threads", err=True)
        threads = workers_deprecated

    run = register_map_file(store_path, map_file, pixel_size_um=pixel_size, axis=None if axis == "any" else axis,
                            face=face, labels=labels_path, out_dir=out_dir, overwrite=overwrite,
                            accept_poor=accept_poor, workers=threads)
    for message in run.warnings:
        click.echo(f"warning: {message}", err=True)
    r = run.result
    click.echo(f"registered {map_file.name}: axis {'zyx'[r.axis]}, rotation {r.rotation_deg:.1f}°, "
               f"mirror {r.mirror}, tilt {r.tilt_deg:.2f}°, NMI {r.nmi:.4f} "
               f"(contrast {r.contrast:.2f}), overlap {100 * r.overlap_fraction:.0f}% -> {run.out_dir}")
    if run.labels_refused:
        raise LiberationError("labels not written to labels/sparse: the registration is flagged as poor "
                              "(check the QA images; --accept-poor writes them anyway)")
    if run.labels_written:
        click.echo(f"labels/sparse now has {run.n_labelled} labelled voxels")
