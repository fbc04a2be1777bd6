"""``liberation info``, ``liberation convert``, ``liberation set-fraction`` and ``liberation data``.

The work is in :mod:`liberation.workflows.store`.
"""

from __future__ import annotations

import json

import click

from liberation.cli._options import overwrite_option
from liberation.cli._output import echo_lines, echo_notes, note
from liberation.cli._parse import parse_voxel_size
from liberation.errors import InputError


@click.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full description as JSON.")
@click.option("--check", is_flag=True,
              help="Verify the store instead: every chunk of every array present (exit 2 naming the first "
                   "missing or corrupt one), and list hidden temporaries left beside it.")
@click.option("--deep", is_flag=True, help="With --check: also read and decode every chunk (reads the whole store).")
def info(store: str, as_json: bool, check: bool, deep: bool) -> None:
    """Show shape, voxel size, labels, minerals and provenance of STORE (or verify it with --check)."""
    from liberation.workflows.store import check_store, describe_lines, describe_store, temporary_lines

    if deep and not check:
        raise InputError("--deep works with --check; add --check to verify the store")
    if check:
        echo_notes(temporary_lines(store))
        result = check_store(store, deep=deep)
        if result["not_recorded"]:
            note(f"{len(result['not_recorded'])} arrays were written by an older version that did not record "
                 f"completeness ({', '.join(result['not_recorded'])}); their missing chunks cannot be told from "
                 "empty ones" + ("" if deep else "; --deep decodes every chunk"))
        click.echo(f"store complete: {result['arrays']} arrays, {result['chunks']} chunks"
                   + (", every chunk decoded" if deep else ""))
        return
    desc = describe_store(store)
    echo_lines([json.dumps(desc, indent=2)] if as_json else describe_lines(desc))


@click.command()
@click.argument("src", type=click.Path())
@click.argument("dst", type=click.Path())
@click.option("--voxel-size", "voxel_size", help="Voxel size in µm (one value or z,y,x); default from TIFF metadata.")
@click.option("--chunks", type=int, default=None, help="Chunk edge length in voxels (default 128).")
@click.option("--pyramid-levels", type=int, default=0, show_default=True, help="Extra 2x-downsampled levels.")
@click.option("--ngff", "ngff_version", type=click.Choice(["0.5", "0.4"]), default="0.5", show_default=True)
@click.option("--sieve-fraction", default=None, metavar="LOW-HIGH",
              help="Sieve fraction of the sample in µm, e.g. 63-100 (recorded in the store; see set-fraction).")
@overwrite_option("Replace an existing store.")
def convert(src: str, dst: str, voxel_size: str | None, chunks: int | None, pyramid_levels: int,
            ngff_version: str, sieve_fraction: str | None, overwrite: bool) -> None:
    """Convert SRC (a folder of 2D TIFF slices or one multi-page TIFF) into the store DST."""
    from liberation.stats.sieve import parse_fraction
    from liberation.workflows.store import convert_stack, set_sieve_fraction

    if sieve_fraction is not None:
        try:
            parse_fraction(sieve_fraction)  # before the conversion
        except InputError as exc:
            raise InputError(f"--sieve-fraction: {exc}") from None
    store = convert_stack(src, dst, voxel_size_um=parse_voxel_size(voxel_size), chunks=chunks,
                          pyramid_levels=pyramid_levels, overwrite=overwrite, ngff_version=ngff_version)
    vz, vy, vx = store.voxel_size_um
    click.echo(f"wrote {store.path}: {' x '.join(map(str, store.shape))} voxels of {vz:g} x {vy:g} x {vx:g} µm")
    if sieve_fraction is not None:
        lo, hi = set_sieve_fraction(dst, sieve_fraction)
        click.echo(f"sieve fraction {lo:g}-{hi:g} µm")


@click.command("set-fraction")
@click.argument("store", type=click.Path(file_okay=False))
@click.argument("fraction", metavar="LOW-HIGH")
def set_fraction(store: str, fraction: str) -> None:
    """Record the sieve fraction of STORE, lower and upper mesh opening in µm (e.g. 63-100).

    Only the store's metadata changes (liberation.sieve_fraction, plus a provenance record);
    `liberation report` shows it, and `liberation report A B --fraction-mass ...` labels the fractions with it.
    """
    from liberation.workflows.store import set_sieve_fraction

    lo, hi = set_sieve_fraction(store, fraction)
    click.echo(f"{store}: sieve fraction {lo:g}-{hi:g} µm")


@click.group()
def data() -> None:
    """Datasets the library knows (data_manifest.yaml); nothing is downloaded."""


@data.command("list")
def data_list() -> None:
    """List the datasets and whether they are present locally."""
    from liberation.workflows.store import dataset_lines

    echo_lines(dataset_lines())


@data.command("where")
@click.argument("name")
def data_where(name: str) -> None:
    """Print the local folder of dataset NAME, or where to get it."""
    from liberation.workflows.store import dataset_folder

    click.echo(str(dataset_folder(name)))
