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
    section_dir : Path or None
        ``OUT/section``: the synthetic measured section (``map_labels.tif``, ``minerals.csv``,
        ``transform.json``) compared in the report.
    """

    store_path: Path
    report: ReportRun
    section_dir: Path | None = None


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
    for path, what in ((folder / "sample.zarr", "sample store"), (folder / "report", "report folder"),
                       (folder / "section", "measured section folder")):
        check_new_output(path, overwrite=overwrite, what=what)
    folder.mkdir(parents=True, exist_ok=True)
    status(f"making the synthetic sample ({'128' if size is None else size}³ voxels, seed {seed}) ...")
    store_path = make_demo_store(folder, size=size, seed=seed, overwrite=overwrite)
    section_dir = make_demo_section(store_path, folder / "section", seed=seed, overwrite=overwrite)
    status("computing the liberation statistics and writing the report ...")
    report = run_report(store_path, folder / "report", target="spodumene", size_classes_um=DEMO_SIZE_CLASSES_UM,
                        overwrite=overwrite, title=DEMO_TITLE, section=section_dir / "map_labels.tif",
                        transform=section_dir / "transform.json")
    return DemoRun(store_path=store_path, report=report, section_dir=section_dir)


#: Share of the particle pixels of the demo's measured section that take a wrong mineral.
DEMO_SECTION_NOISE = 0.03


def make_demo_section(store_path: str | os.PathLike, out_dir: str | os.PathLike, *, seed: int = 0,
                      noise: float = DEMO_SECTION_NOISE, overwrite: bool = False) -> Path:
    """The synthetic measured section of a demo store: truth phases on a tilted plane with label noise.

    Parameters
    ----------
    store_path : str or Path
        The demo store (its ``labels/phases`` are the truth).
    out_dir : str or Path
        Folder to create with ``map_labels.tif``, ``minerals.csv`` and ``transform.json``
        (:func:`liberation.workflows.measured_section.write_demo_section`).
    seed : int
        Seed of the label noise.
    noise : float
        Share of the particle pixels relabelled to another mineral.
    overwrite : bool
        Replace an earlier section folder.

    Returns
    -------
    Path
        ``out_dir``.
    """
    from types import SimpleNamespace

    import numpy as np

    from liberation._atomic import atomic_dir
    from liberation.io import open_store
    from liberation.workflows._minerals import minerals_for_report
    from liberation.workflows.measured_section import write_demo_section

    store = open_store(store_path, mode="r")
    sample = SimpleNamespace(phases=np.asarray(store.label("phases")), voxel_size_um=store.voxel_size_um,
                             minerals=minerals_for_report(store.label_properties("phases"))[0])
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite=overwrite, what="measured section folder", inputs=[store_path]) as tmp:
        write_demo_section(tmp, sample, noise=noise, seed=seed)
    return out_dir
