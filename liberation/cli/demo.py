"""``liberation demo``: make the synthetic demo sample, store it, and run the report on it."""

from __future__ import annotations

from pathlib import Path

import click

from liberation.errors import InputError, OverwriteError

DEMO_SIZE_CLASSES_UM = (100.0, 200.0)


def make_demo_store(folder: Path, *, size: int | None = None, seed: int = 0, overwrite: bool = False) -> Path:
    """Write the synthetic demo sample as ``folder/sample.zarr`` (CT, phases with minerals, particles)."""
    from liberation.io import create_store
    from liberation.synthetic import demo_sample, make_sample

    if size is None:
        sample = demo_sample(seed=seed)
    else:
        if int(size) < 16:
            raise InputError(f"--size={size} is too small; expected at least 16 voxels per axis")
        sample = make_sample((int(size),) * 3, voxel_size_um=10.0, seed=seed)
    path = folder / "sample.zarr"
    store = create_store(path, sample.ct, voxel_size_um=sample.voxel_size_um, overwrite=overwrite,
                         step="demo", parameters=sample.params)
    truth = {"source": "synthetic ground truth (liberation.synthetic)", "seed": int(seed)}
    store.write_label("phases", sample.phases, minerals=sample.minerals, step="synthetic_phases", parameters=truth)
    store.write_label("particles", sample.particles, step="synthetic_particles", parameters=truth)
    return path


@click.command()
@click.option("--out", "out_dir", type=click.Path(), default="demo_out", show_default=True, metavar="DIR",
              help="Folder for the demo sample store and its report.")
@click.option("--overwrite", is_flag=True, help="Replace the sample and report of an earlier demo in that folder.")
@click.option("--size", type=int, default=None, metavar="N",
              help="Edge length of the cubic sample in voxels (default: the standard 128³ demo sample).")
@click.option("--seed", type=int, default=0, show_default=True, metavar="S", help="Seed of the synthetic sample.")
def demo(out_dir: str, overwrite: bool, size: int | None, seed: int) -> None:
    """Make the synthetic demo sample (spodumene ore, 10 µm voxels) and its liberation report.

    Writes OUT/sample.zarr (CT, labels/phases with the mineral list, labels/particles) and
    OUT/report (report.html, CSV tables, plots, summary.json).
    """
    from liberation.cli.report import note, run_report, status, summary_lines

    folder = Path(out_dir)
    if seed < 0:
        raise InputError(f"--seed={seed} must be a non-negative integer")
    if folder.exists() and not folder.is_dir():
        raise OverwriteError(f"--out={out_dir!r} exists and is not a folder")
    existing = [p.name for p in (folder / "sample.zarr", folder / "report") if p.exists()]
    if existing and not overwrite:
        raise OverwriteError(f"{out_dir!r} already holds {', '.join(existing)} from an earlier demo; "
                             "use --overwrite to replace them or choose another --out")
    folder.mkdir(parents=True, exist_ok=True)
    status(f"making the synthetic sample ({'128' if size is None else size}³ voxels, seed {seed}) ...")
    store_path = make_demo_store(folder, size=size, seed=seed, overwrite=overwrite)
    click.echo(f"sample store: {store_path}")
    status("computing the liberation statistics and writing the report ...")
    report_dir, result = run_report(
        store_path, folder / "report", target="spodumene", size_classes_um=DEMO_SIZE_CLASSES_UM,
        overwrite=overwrite, title="Liberation report: synthetic demo sample (spodumene ore)",
        echo=note,
    )
    for line in summary_lines(report_dir, result):
        click.echo(line)
    click.echo(f"open {report_dir / 'report.html'} in a browser; the tables (CSV) and plots (PNG) are beside it")
