"""Import CT volumes from TIFF: a folder of 2D slices or one multi-page / 3D TIFF.

Slices are streamed into zarr chunks one z-slab at a time, so memory stays bounded
by one slab (chunk depth x slice size) whatever the stack size.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liberation._progress import progress
from liberation.errors import FileFormatError, InputError

log = logging.getLogger(__name__)

TIFF_SUFFIXES = (".tif", ".tiff")
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)
_UNIT_TO_UM = {
    "um": 1.0, "µm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometre": 1.0, "mm": 1000.0, "millimeter": 1000.0, "cm": 10000.0, "centimeter": 10000.0,
    "nm": 1e-3, "nanometer": 1e-3, "inch": 25400.0, "in": 25400.0,
}


def natural_key(name: str) -> list:
    """Sort key that orders ``slice_2.tif`` before ``slice_10.tif``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class TiffStackInfo:
    """What a TIFF source holds, read from headers only.

    Attributes
    ----------
    files : list of Path
        Slice files in natural order (one entry for a multi-page TIFF).
    shape : tuple of int
        Volume shape (z, y, x).
    dtype : numpy.dtype
        Pixel type.
    voxel_size_um : tuple of float or None
        Voxel size (z, y, x) from TIFF metadata, if it was there.
    multipage : bool
        True when ``files`` is one multi-page / 3D TIFF.
    """

    files: list[Path]
    shape: tuple[int, int, int]
    dtype: np.dtype
    voxel_size_um: tuple[float, float, float] | None
    multipage: bool


def _open(path: Path):
    import tifffile

    try:
        return tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises many types for bad files
        raise FileFormatError(f"cannot read TIFF file {path}: {exc}") from None


def _metadata_voxel_size(tif) -> tuple[float, float, float] | None:
    """Voxel size (z, y, x) in µm from ImageJ metadata and resolution tags, or None."""
    page = tif.pages[0]
    tags = page.tags
    ij = tif.imagej_metadata or {}
    unit = str(ij.get("unit", "")).strip().lower() or None
    res_unit = tags.get("ResolutionUnit")
    if unit is None and res_unit is not None:
        unit = {2: "inch", 3: "cm"}.get(int(res_unit.value), None)
    xres, yres = tags.get("XResolution"), tags.get("YResolution")
    if xres is None or yres is None or unit not in _UNIT_TO_UM:
        return None
    factor = _UNIT_TO_UM[unit]

    def pitch(tag) -> float | None:
        num, den = tag.value if isinstance(tag.value, tuple) else (tag.value, 1)
        return factor * den / num if num else None

    px, py = pitch(xres), pitch(yres)
    if not px or not py or (unit == "inch" and abs(px - 25400.0) < 1e-6):  # 1 dpi default means "no resolution"
        return None
    pz = float(ij["spacing"]) * factor if "spacing" in ij else px
    if "spacing" not in ij:
        log.warning("TIFF metadata has no z spacing; assuming isotropic voxels (z = x = %.4g µm)", px)
    return (pz, py, px)


def numbering_gaps(files: list[Path]) -> list[tuple[str, str]]:
    """Neighbouring slices whose numbers are not consecutive: ``[(name_before, name_after), ...]``.

    The number of a slice is the last run of digits in its file name; names without one are
    ignored, and nothing is reported when the names carry no common step (e.g. a constant
    increment of 2 is regular: only changes of the step are gaps).
    """
    numbered = []
    for path in files:
        digits = re.findall(r"\d+", path.stem)
        if not digits:
            return []
        numbered.append((int(digits[-1]), path.name))
    if len(numbered) < 3:
        steps = [b[0] - a[0] for a, b in zip(numbered, numbered[1:])]
        return [(a[1], b[1]) for (a, b), s in zip(zip(numbered, numbered[1:]), steps) if s != 1]
    steps = [b[0] - a[0] for a, b in zip(numbered, numbered[1:])]
    common = min(set(steps), key=lambda s: (-steps.count(s), s))
    return [(a[1], b[1]) for (a, b), s in zip(zip(numbered, numbered[1:]), steps) if s != common]


def _warn_numbering_gaps(src: Path, files: list[Path]) -> None:
    gaps = numbering_gaps(files)
    if gaps:
        before, after = gaps[0]
        more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
        log.warning("slice numbering of %s has a gap (%s then %s%s): slices are stacked at uniform z spacing, "
                    "so z distances are wrong if slices are missing; check the stack and --voxel-size",
                    src, before, after, more)


def read_tiff_stack_info(src: str | os.PathLike) -> TiffStackInfo:
    """Inspect a TIFF source without reading pixel data.

    Parameters
    ----------
    src : str or Path
        A folder of 2D TIFF slices, or one multi-page / 3D TIFF file.

    Raises
    ------
    FileFormatError
        Missing or empty source, unreadable file, mixed slice shapes or dtypes
        (the message names the first odd file), or an unsupported pixel type.
    """
    src = Path(src)
    if not src.exists():
        raise FileFormatError(f"TIFF source {src} does not exist")
    if src.is_dir():
        files = sorted((p for p in src.iterdir() if p.suffix.lower() in TIFF_SUFFIXES and not p.name.startswith(".")),
                       key=lambda p: natural_key(p.name))
        if not files:
            raise FileFormatError(f"folder {src} holds no TIFF slices (*.tif, *.tiff)")
        with _open(files[0]) as tif:
            page = tif.pages[0]
            shape2d, dtype = tuple(page.shape), np.dtype(page.dtype)
            voxel = _metadata_voxel_size(tif)
        if len(shape2d) != 2:
            raise FileFormatError(f"{files[0]} has shape {shape2d}; expected a 2D grey-value slice")
        for path in files[1:]:
            with _open(path) as tif:
                page = tif.pages[0]
                if tuple(page.shape) != shape2d:
                    raise FileFormatError(f"{path} has shape {tuple(page.shape)} but {files[0].name} has {shape2d}; all slices must match")
                if np.dtype(page.dtype) != dtype:
                    raise FileFormatError(f"{path} has dtype {page.dtype} but {files[0].name} has {dtype}; all slices must match")
        info = TiffStackInfo(files, (len(files), *shape2d), dtype, voxel, multipage=False)
        _warn_numbering_gaps(src, files)
    else:
        with _open(src) as tif:
            if not tif.series or not tif.pages:
                raise FileFormatError(f"{src} holds no readable image; expected a (multi-page) TIFF")
            series = tif.series[0]
            shape = tuple(series.shape)
            dtype = np.dtype(series.dtype)
            voxel = _metadata_voxel_size(tif)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise FileFormatError(f"{src} holds an image of shape {shape}; expected a 3D (z, y, x) grey-value stack")
        info = TiffStackInfo([src], shape, dtype, voxel, multipage=True)
    if info.dtype.type not in SUPPORTED_DTYPES:
        raise FileFormatError(f"{info.files[0]} has pixel type {info.dtype}; expected uint8, uint16, int16 or float32")
    return info


def _iter_slabs(info: TiffStackInfo, slab_depth: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(z0, slab)`` with at most ``slab_depth`` slices each."""
    import tifffile

    nz, ny, nx = info.shape
    bar = progress(total=nz, desc="import TIFF", unit="slice")
    try:
        if info.multipage:
            with _open(info.files[0]) as tif:
                series = tif.series[0]
                pages = series.pages if len(series.pages) == nz else None
                whole = None if pages is not None else series.asarray().reshape(info.shape)
                for z0 in range(0, nz, slab_depth):
                    z1 = min(z0 + slab_depth, nz)
                    if whole is not None:
                        slab = whole[z0:z1]
                    else:
                        slab = np.stack([pages[z].asarray() for z in range(z0, z1)])
                    bar.update(z1 - z0)
                    yield z0, slab
        else:
            for z0 in range(0, nz, slab_depth):
                z1 = min(z0 + slab_depth, nz)
                slab = np.empty((z1 - z0, ny, nx), dtype=info.dtype)
                for k, path in enumerate(info.files[z0:z1]):
                    try:
                        image = tifffile.imread(path)
                    except Exception as exc:
                        raise FileFormatError(f"cannot read TIFF slice {path}: {exc}") from None
                    if image.shape != (ny, nx):
                        raise FileFormatError(f"{path} has shape {image.shape}; expected {(ny, nx)} like the first slice")
                    slab[k] = image
                bar.update(z1 - z0)
                yield z0, slab
    finally:
        bar.close()


def convert_tiff(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    voxel_size_um=None,
    chunks=None,
    pyramid_levels: int = 0,
    overwrite: bool = False,
    ngff_version: str = "0.5",
):
    """Convert a TIFF stack into a sample store, streaming slab by slab.

    Parameters
    ----------
    src : str or Path
        Folder of 2D TIFF slices (natural order of numbered names) or one multi-page TIFF.
    dst : str or Path
        Store to create, e.g. ``"sample.zarr"``.
    voxel_size_um : float or (float, float, float), optional
        Voxel size in µm; default from TIFF metadata (ImageJ spacing and resolution tags).
    chunks : int or tuple of int, optional
        Chunk shape of the store; default up to 128 per axis. Memory use is about one
        chunk-deep slab of slices.
    pyramid_levels : int
        Extra 2x-downsampled levels.
    overwrite : bool
        Replace an existing store.
    ngff_version : {"0.5", "0.4"}
        Format to write.

    Returns
    -------
    SampleStore
        The new store, open for adding labels.
    """
    from liberation.io.store import _check_chunks, create_store

    info = read_tiff_stack_info(src)
    voxel = voxel_size_um if voxel_size_um is not None else info.voxel_size_um
    if voxel is None:
        raise InputError(
            f"voxel size is missing: {info.files[0]} has no resolution metadata; give voxel_size_um (--voxel-size) in µm"
        )
    chunk_shape = _check_chunks(chunks, info.shape)
    parameters = {
        "source": str(Path(src).resolve()),
        "n_files": len(info.files),
        "shape": list(info.shape),
        "dtype": str(info.dtype),
        "voxel_size_from": "option" if voxel_size_um is not None else "tiff metadata",
        "chunks": list(chunk_shape),
    }
    return create_store(
        dst,
        None,
        voxel_size_um=voxel,
        chunks=chunk_shape,
        overwrite=overwrite,
        pyramid_levels=pyramid_levels,
        ngff_version=ngff_version,
        step="convert",
        parameters=parameters,
        inputs=[src],
        blocks=(info.shape, info.dtype, _iter_slabs(info, chunk_shape[0])),
    )
