"""The synthetic demo sample (spodumene ore, 10 µm voxels) and its liberation report (``liberation demo``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from liberation._atomic import check_new_output, overwrite_error
from liberation._progress import status
from liberation.errors import InputError
from liberation.workflows.report_store import ReportRun

DEMO_SIZE_CLASSES_UM = (100.0, 200.0)
DEMO_TITLE = "Liberation report: synthetic demo sample (spodumene ore)"


@dataclass(frozen=True)
class DemoRun:
    """What :func:`run_demo` made.

    Attributes
    ----------
    store_path : Path
        ``OUT/sample.zarr``: CT, ``labels/phases`` with the mineral list, ``labels/particles``.
    report : ReportRun
        ``OUT/report`` and its statistics.
    """

    store_path: Path
    report: ReportRun


def make_demo_store(folder: str | os.PathLike, *, size: int | None = None, seed: int = 0,
                    overwrite: bool = False) -> Path:
    """Write the synthetic demo sample as ``folder/sample.zarr``.

    Parameters
    ----------
    folder : str or Path
        Existing folder that receives ``sample.zarr``.
    size : int, optional
        Edge length of the cubic sample in voxels (at least 16; 10 µm voxels); default the
        standard 128³ demo sample (:func:`liberation.synthetic.demo_sample`).
    seed : int
        Seed of the synthetic sample.
    overwrite : bool
        Replace an existing store.

    Returns
    -------
    Path
        The store: CT, ``labels/phases`` with the mineral list, ``labels/particles`` (the exact truth).
    """
    from liberation.io import create_store
    from liberation.synthetic import demo_sample, make_sample

    if size is None:
        sample = demo_sample(seed=seed)
    else:
        if int(size) < 16:
            raise InputError(f"--size={size} is too small; expected at least 16 voxels per axis")
        sample = make_sample((int(size),) * 3, voxel_size_um=10.0, seed=seed)
    path = Path(folder) / "sample.zarr"
    store = create_store(path, sample.ct, voxel_size_um=sample.voxel_size_um, overwrite=overwrite,
                         step="demo", parameters=sample.params)
    truth = {"source": "synthetic ground truth (liberation.synthetic)", "seed": int(seed)}
    store.write_label("phases", sample.phases, minerals=sample.minerals, step="synthetic_phases", parameters=truth)
    store.write_label("particles", sample.particles, step="synthetic_particles", parameters=truth)
    return path


def run_demo(out_dir: str | os.PathLike, *, size: int | None = None, seed: int = 0,
             overwrite: bool = False) -> DemoRun:
    """Make the demo sample store in ``out_dir`` and write its liberation report beside it.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``sample.zarr`` and ``report`` (created if missing).
    size : int, optional
        Edge length of the cubic sample in voxels; default the standard 128³ demo sample.
    seed : int
        Seed of the synthetic sample (non-negative).
    overwrite : bool
        Replace the sample and report of an earlier demo in that folder.

    Returns
    -------
    DemoRun

    Raises
    ------
    OverwriteError
        ``out_dir`` is a file, or holds an earlier demo and ``overwrite`` is false.
    """
    from liberation.workflows.report_store import run_report

    folder = Path(out_dir)
    if size is not None and int(size) < 16:
        raise InputError(f"--size={size} is too small; expected at least 16 voxels per axis")
    if seed < 0:
        raise InputError(f"--seed={seed} must be a non-negative integer")
    if folder.exists() and not folder.is_dir():
        raise overwrite_error(folder, what="--out", reason="foreign")
    for path, what in ((folder / "sample.zarr", "sample store"), (folder / "report", "report folder")):
        check_new_output(path, overwrite=overwrite, what=what)
    folder.mkdir(parents=True, exist_ok=True)
    status(f"making the synthetic sample ({'128' if size is None else size}³ voxels, seed {seed}) ...")
    store_path = make_demo_store(folder, size=size, seed=seed, overwrite=overwrite)
    status("computing the liberation statistics and writing the report ...")
    report = run_report(store_path, folder / "report", target="spodumene", size_classes_um=DEMO_SIZE_CLASSES_UM,
                        overwrite=overwrite, title=DEMO_TITLE)
    return DemoRun(store_path=store_path, report=report)
