"""``liberation info``, ``liberation convert`` and ``liberation data``."""

from __future__ import annotations

import json

import click

from liberation.errors import InputError


def _parse_voxel_size(value: str | None):
    if value is None:
        return None
    parts = [p for p in value.replace(" ", "").split(",") if p]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"--voxel-size={value!r} is not numeric; expected µm as 2.296 or 'z,y,x'") from None
    if len(numbers) not in (1, 3):
        raise InputError(f"--voxel-size={value!r} must be one number or three (z,y,x) in µm")
    return numbers[0] if len(numbers) == 1 else tuple(numbers)


@click.command()
@click.argument("store", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full description as JSON.")
def info(store: str, as_json: bool) -> None:
    """Show shape, voxel size, labels, minerals and provenance of STORE."""
    from liberation.io import open_store

    desc = open_store(store).describe()
    if as_json:
        click.echo(json.dumps(desc, indent=2))
        return
    vz, vy, vx = desc["voxel_size_um"]
    click.echo(f"store        {desc['path']}  (OME-NGFF {desc['ngff_version']})")
    click.echo(f"image        {' x '.join(map(str, desc['shape']))} (z, y, x)  {desc['dtype']}  chunks {desc['chunks']}")
    click.echo(f"voxel size   {vz:g} x {vy:g} x {vx:g} µm   levels {desc['levels']}")
    if desc["labels"]:
        for name, lab in desc["labels"].items():
            click.echo(f"label        {name:<10} {lab['dtype']}")
    else:
        click.echo("labels       none")
    for m in desc["minerals"]:
        click.echo(f"mineral      {m['label-value']:>3} {m['name']:<14} {m['density']:.3g} g/cm³  {m.get('color', '')}")
    for p in desc["provenance"]:
        click.echo(f"provenance   {p.get('time', '')}  {p.get('step')}  (liberation {p.get('version')})")


@click.command()
@click.argument("src", type=click.Path())
@click.argument("dst", type=click.Path())
@click.option("--voxel-size", "voxel_size", help="Voxel size in µm (one value or z,y,x); default from TIFF metadata.")
@click.option("--chunks", type=int, default=None, help="Chunk edge length in voxels (default 128).")
@click.option("--pyramid-levels", type=int, default=0, show_default=True, help="Extra 2x-downsampled levels.")
@click.option("--ngff", "ngff_version", type=click.Choice(["0.5", "0.4"]), default="0.5", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing store.")
def convert(src: str, dst: str, voxel_size: str | None, chunks: int | None, pyramid_levels: int,
            ngff_version: str, overwrite: bool) -> None:
    """Convert SRC (a folder of 2D TIFF slices or one multi-page TIFF) into the store DST."""
    from liberation.io.tiff import convert_tiff

    store = convert_tiff(src, dst, voxel_size_um=_parse_voxel_size(voxel_size), chunks=chunks,
                         pyramid_levels=pyramid_levels, overwrite=overwrite, ngff_version=ngff_version)
    vz, vy, vx = store.voxel_size_um
    click.echo(f"wrote {store.path}: {' x '.join(map(str, store.shape))} voxels of {vz:g} x {vy:g} x {vx:g} µm")


@click.group()
def data() -> None:
    """Datasets the library knows (data_manifest.yaml); nothing is downloaded."""


@data.command("list")
def data_list() -> None:
    """List the datasets and whether they are present locally."""
    from liberation.io.datasets import DATA_ENV, data_dir, load_manifest

    click.echo(f"data folder: {data_dir()}  (set ${DATA_ENV} to change it)")
    for ds in load_manifest():
        state = "synthetic" if ds.kind == "synthetic" else ("present" if ds.present else "not present")
        click.echo(f"{ds.name:<20} {state:<12} {ds.title}")


@data.command("where")
@click.argument("name")
def data_where(name: str) -> None:
    """Print the local folder of dataset NAME, or where to get it."""
    from liberation.io.datasets import get_dataset

    click.echo(str(get_dataset(name).require()))
