"""Read and write folders of dual-energy XRT image pairs with ore/waste labels.

Two folder layouts are read (class folder names ``ore`` = 1 and ``waste`` = 0, case-insensitive):

1. ``ROOT/<class>/<name>_high.<ext>`` next to ``ROOT/<class>/<name>_low.<ext>``;
2. ``ROOT/high/<class>/<name>.<ext>`` with ``ROOT/low/<class>/<name>.<ext>``.

Images are 2D grey TIFF, PNG or ``.npy`` files (read by :func:`liberation.io.images.read_image`) of detector transmission. Integer images are
divided by ``white`` (default: the dtype's maximum, e.g. 65535 for uint16) to give ``I / I0``;
float images are taken as transmission already. Pairs are resized to one common size so they
can be batched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liberation._atomic import atomic_dir
from liberation.errors import FileFormatError, InputError
from liberation.io.images import read_image

__all__ = ["CLASS_NAMES", "read_dual_energy_folder", "write_dual_energy_folder"]

CLASS_NAMES = {"waste": 0, "ore": 1}
_EXTS = (".tif", ".tiff", ".png", ".npy")


def _to_transmission(arr: np.ndarray, white) -> np.ndarray:
    if white is None:
        white = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0
    return np.clip(arr.astype(np.float64) / float(white), 1e-4, 1.0)


def _pairs(root: Path) -> list[tuple[Path, Path, int]]:
    pairs: list[tuple[Path, Path, int]] = []
    sub = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    if "high" in sub and "low" in sub:
        for cls_dir in sorted(p for p in sub["high"].iterdir() if p.is_dir()):
            label = CLASS_NAMES.get(cls_dir.name.lower())
            if label is None:
                continue
            for f in sorted(cls_dir.iterdir()):
                if f.suffix.lower() in _EXTS:
                    other = sub["low"] / cls_dir.name / f.name
                    if not other.is_file():
                        raise FileFormatError(f"{f} has no low-energy partner {other}")
                    pairs.append((f, other, label))
        return pairs
    for name, label in CLASS_NAMES.items():
        cls_dir = next((p for n, p in sub.items() if n == name), None)
        if cls_dir is None:
            continue
        for f in sorted(cls_dir.iterdir()):
            stem = f.stem
            if f.suffix.lower() in _EXTS and stem.lower().endswith("_high"):
                other = f.with_name(stem[: -len("_high")] + "_low" + f.suffix)
                if not other.is_file():
                    raise FileFormatError(f"{f} has no low-energy partner {other}")
                pairs.append((f, other, label))
    return pairs


def read_dual_energy_folder(root, *, size: tuple[int, int] | int | None = (64, 64), white=None):
    """Read labelled dual-energy pairs from a folder.

    Parameters
    ----------
    root : path
        Folder in one of the two layouts of the module docstring.
    size : (int, int) or int or None
        Resize every image to this (y, x) size (bilinear, anti-aliased); None keeps the sizes,
        which must then all agree.
    white : float, optional
        Detector value of the unattenuated beam for integer images (default: dtype maximum).

    Returns
    -------
    images : ndarray of float32, shape (n, 2, y, x)
        Transmission, channel 0 high and 1 low energy.
    labels : ndarray of int64, shape (n,)
        1 = ore, 0 = waste.
    names : list of str
        The high-energy file of each pair, relative to ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileFormatError(f"dual-energy data folder {root} does not exist")
    pairs = _pairs(root)
    if not pairs:
        raise FileFormatError(
            f"no image pairs found in {root}; expected ore/ and waste/ folders with NAME_high/NAME_low images "
            "or high/{ore,waste}/ and low/{ore,waste}/"
        )
    if isinstance(size, int):
        size = (size, size)
    from skimage.transform import resize

    images, labels, names = [], [], []
    for high_path, low_path, label in pairs:
        pair = []
        for p in (high_path, low_path):
            t = _to_transmission(read_image(p), white)
            if size is not None and t.shape != tuple(size):
                t = resize(t, tuple(size), order=1, anti_aliasing=True, preserve_range=True)
            pair.append(t)
        if pair[0].shape != pair[1].shape:
            raise FileFormatError(f"{high_path} and {low_path} differ in shape: {pair[0].shape} vs {pair[1].shape}")
        images.append(np.stack(pair))
        labels.append(label)
        names.append(str(high_path.relative_to(root)))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise FileFormatError(f"images in {root} have different shapes {sorted(shapes)}; pass size=(y, x) to resize")
    return np.stack(images).astype(np.float32), np.asarray(labels, dtype=np.int64), names


def write_dual_energy_folder(root, images, labels, *, overwrite: bool = False) -> Path:
    """Write pairs as 16-bit TIFFs in layout 1 (``ore/NAME_high.tif`` ...), atomically.

    Parameters
    ----------
    root : path
        Output folder; refused if it exists unless ``overwrite=True``.
    images : ndarray, shape (n, 2, y, x)
        Transmission in (0, 1] (channel 0 high, 1 low); stored as ``round(T * 65535)``.
    labels : ndarray of {0, 1}, shape (n,)
    """
    import tifffile

    root = Path(root)
    x = np.asarray(images)
    y = np.asarray(labels).ravel()
    if x.ndim != 4 or x.shape[1] != 2 or y.shape[0] != x.shape[0]:
        raise InputError(f"images has shape {x.shape} and labels {y.shape}; expected (n, 2, y, x) and (n,)")
    with atomic_dir(root, overwrite=overwrite) as tmp:
        names = {v: k for k, v in CLASS_NAMES.items()}
        for cls in names.values():
            (tmp / cls).mkdir()
        u16 = np.round(np.clip(x, 0, 1) * 65535).astype(np.uint16)
        for i in range(x.shape[0]):
            d = tmp / names[int(y[i])]
            tifffile.imwrite(d / f"frag{i:06d}_high.tif", u16[i, 0])
            tifffile.imwrite(d / f"frag{i:06d}_low.tif", u16[i, 1])
    return root
