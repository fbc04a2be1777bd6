"""Small argument checks shared by the library (errors name the parameter)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from liberation.errors import InputError


def as_voxel_size(voxel_size_um, *, name: str = "voxel_size_um", ndim: int = 3) -> tuple[float, ...]:
    """Return the voxel size as a tuple of ``ndim`` positive floats in µm.

    Parameters
    ----------
    voxel_size_um : float or sequence of float
        One isotropic size or one size per axis (z, y, x), in µm.
    name : str
        Parameter name used in the error message.
    ndim : int
        Number of axes.

    Raises
    ------
    InputError
        If the value is missing, not numeric, of the wrong length, or not positive.
    """
    if voxel_size_um is None:
        raise InputError(f"{name} is missing: give the voxel size in µm (a positive number)")
    if isinstance(voxel_size_um, (int, float, np.integer, np.floating)) and not isinstance(voxel_size_um, bool):
        values = (float(voxel_size_um),) * ndim
    elif isinstance(voxel_size_um, Sequence) or isinstance(voxel_size_um, np.ndarray):
        try:
            values = tuple(float(v) for v in voxel_size_um)
        except (TypeError, ValueError):
            raise InputError(f"{name}={voxel_size_um!r} is not numeric; expected positive numbers in µm") from None
        if len(values) != ndim:
            raise InputError(f"{name}={voxel_size_um!r} has {len(values)} values; expected 1 or {ndim} (z, y, x)")
    else:
        raise InputError(f"{name}={voxel_size_um!r} is not a number; expected a positive voxel size in µm")
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"{name}={voxel_size_um!r} must be finite and positive (µm)")
    return values


def check_label_array(array, *, name: str, ndim: int | None = None) -> None:
    """Raise :class:`InputError` unless ``array`` has an integer dtype (and ``ndim`` axes)."""
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "ui":
        raise InputError(f"{name} has dtype {dtype}; expected an integer label array")
    if ndim is not None and array.ndim != ndim:
        raise InputError(f"{name} has shape {tuple(array.shape)}; expected {ndim} axes")


def check_same_shape(a, b, *, name_a: str, name_b: str) -> None:
    """Raise :class:`InputError` if two arrays differ in shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise InputError(f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; they must match")


def make_rng(seed=None) -> np.random.Generator:
    """Return a numpy Generator from an int seed, a Generator, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
