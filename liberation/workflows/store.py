"""Sample stores and datasets: convert a TIFF stack, describe a store, list the known datasets.

Glue of ``liberation convert``, ``liberation info`` and ``liberation data``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def convert_stack(src: str | os.PathLike, dst: str | os.PathLike, *,
                  voxel_size_um: float | Sequence[float] | None = None, chunks: int | None = None,
                  pyramid_levels: int = 0, ngff_version: str = "0.5", overwrite: bool = False):
    """Convert a TIFF stack into a sample store (:func:`liberation.io.tiff.convert_tiff`).

    Parameters
    ----------
    src : str or Path
        A folder of 2D TIFF slices or one multi-page TIFF.
    dst : str or Path
        The store to create.
    voxel_size_um : float or (3,) sequence of float, optional
        Voxel size in µm (one value or z, y, x); default from the TIFF metadata.
    chunks : int, optional
        Chunk edge length in voxels (default 128).
    pyramid_levels : int
        Extra 2x-downsampled levels.
    ngff_version : {"0.5", "0.4"}
        OME-NGFF version to write.
    overwrite : bool
        Replace an existing store.

    Returns
    -------
    SampleStore
        The new store.
    """
    from liberation.io.tiff import convert_tiff

    return convert_tiff(src, dst, voxel_size_um=voxel_size_um, chunks=chunks, pyramid_levels=pyramid_levels,
                        overwrite=overwrite, ngff_version=ngff_version)


def set_sieve_fraction(path: str | os.PathLike, fraction) -> tuple[float, float]:
    """Record the sieve fraction of a store (``liberation.sieve_fraction``, with a provenance record).

    Parameters
    ----------
    path : str or Path
        The store (its metadata is updated under the store's lock; no array is touched).
    fraction : str or (float, float)
        Lower and upper mesh opening in µm, e.g. ``"63-100"`` (:func:`liberation.stats.sieve.parse_fraction`).

    Returns
    -------
    (float, float)
        The fraction recorded.
    """
    from liberation.io import open_store
    from liberation.stats.sieve import parse_fraction

    lo, hi = parse_fraction(fraction)
    store = open_store(path, mode="r+")
    store.set_metadata("sieve_fraction", {"lower_um": lo, "upper_um": hi})
    store.add_provenance("set-fraction", {"lower_um": lo, "upper_um": hi})
    return lo, hi


def describe_store(path: str | os.PathLike) -> dict:
    """The description of a store: shape, voxel size (µm), labels, minerals, provenance.

    Parameters
    ----------
    path : str or Path
        The store.

    Returns
    -------
    dict
        :meth:`SampleStore.describe`, JSON-ready.
    """
    from liberation.io import open_store

    return open_store(path).describe()


def check_store(path: str | os.PathLike, *, deep: bool = False) -> dict:
    """Verify a store (:meth:`SampleStore.verify`) and find the temporaries beside it (``info --check``).

    The temporaries are listed before the store is opened, so they are reported even when the
    store is missing or damaged (:func:`temporary_lines`); nothing is removed.

    Parameters
    ----------
    path : str or Path
        The store.
    deep : bool
        Also read and decode every chunk.

    Returns
    -------
    dict
        ``arrays`` (count), ``chunks`` (count), ``not_recorded`` (array paths written by older
        versions, whose completeness is not recorded), ``deep``.

    Raises
    ------
    StoreError
        The store is missing or damaged; the message names the first missing or corrupt chunk.
    """
    from liberation.io import open_store

    report = open_store(path).verify(deep=deep)
    arrays = report["arrays"]
    return {"arrays": len(arrays), "chunks": sum(a["chunks"] for a in arrays.values()),
            "not_recorded": [name for name, a in arrays.items() if not a["complete_recorded"]], "deep": bool(deep)}


def temporary_lines(path: str | os.PathLike) -> list[str]:
    """One line per hidden temporary of ``path`` left beside it (``.NAME.tmp-*``, ``.NAME.old-*``).

    Says whether its writer still runs; the next write of ``path`` removes those whose writer is gone.
    """
    from liberation._atomic import _host_tag, _writer_alive, find_temporaries

    lines = []
    for temp, tag, host, pid in find_temporaries(path):
        if pid is None:
            state = "written by an older liberation version; remove it by hand if no run is writing"
        elif host != _host_tag():
            state = f"written on another host (pid {pid}); left alone"
        elif _writer_alive(pid, temp):
            state = f"its writer (pid {pid}) still runs"
        else:
            state = f"left by an interrupted run (pid {pid}); the next write of {Path(path).name} removes it"
        kind = "temporary" if tag == "tmp" else "moved-aside output"
        lines.append(f"{kind} {temp}: {state}")
    return lines


def describe_lines(desc: dict) -> list[str]:
    """The description of :func:`describe_store` as aligned text lines (``liberation info``).

    Parameters
    ----------
    desc : dict
        From :func:`describe_store`.

    Returns
    -------
    list of str
    """
    vz, vy, vx = desc["voxel_size_um"]
    lines = [f"store        {desc['path']}  (OME-NGFF {desc['ngff_version']})",
             f"image        {' x '.join(map(str, desc['shape']))} (z, y, x)  {desc['dtype']}  chunks {desc['chunks']}",
             f"voxel size   {vz:g} x {vy:g} x {vx:g} µm   levels {desc['levels']}"]
    if desc["labels"]:
        lines += [f"label        {name:<10} {lab['dtype']}" for name, lab in desc["labels"].items()]
    else:
        lines.append("labels       none")
    if desc.get("sieve_fraction"):
        f = desc["sieve_fraction"]
        lines.append(f"sieve        {f['lower_um']:g}-{f['upper_um']:g} µm")
    lines += [f"mineral      {m['label-value']:>3} {m['name']:<14} {m['density']:.3g} g/cm³  {m.get('color', '')}"
              for m in desc["minerals"]]
    lines += [f"provenance   {p.get('time', '')}  {p.get('step')}  (liberation {p.get('version')})"
              for p in desc["provenance"]]
    return lines


def dataset_lines() -> list[str]:
    """The datasets of ``data_manifest.yaml`` and whether each is present locally, as text lines.

    Returns
    -------
    list of str
        First the data folder (and the environment variable that moves it), then one line a dataset.
    """
    from liberation.io.datasets import DATA_ENV, data_dir, load_manifest

    lines = [f"data folder: {data_dir()}  (set ${DATA_ENV} to change it)"]
    for ds in load_manifest():
        state = "synthetic" if ds.kind == "synthetic" else ("present" if ds.present else "not present")
        lines.append(f"{ds.name:<20} {state:<12} {ds.title}")
    return lines


def dataset_folder(name: str) -> Path:
    """The local folder of dataset ``name``; raises with where to get it when it is absent.

    Parameters
    ----------
    name : str
        A dataset of ``data_manifest.yaml``.

    Returns
    -------
    Path
    """
    from liberation.io.datasets import get_dataset

    return Path(get_dataset(name).require())
