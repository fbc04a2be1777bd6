"""Sieve-equivalent particle size and sieve fractions.

**Sieve size.** A sieve sorts particles by the smallest square opening they pass, which for a
compact particle is set by its *intermediate* dimension: a box ``a >= b >= c`` passes an opening
of side ``b`` with its ``b x c`` face first. The sieve-equivalent size here is the **intermediate
axis length**: the caliper width of the particle along its intermediate principal axis (the
eigenvector of the middle eigenvalue of the voxel coordinates' covariance, in µm), every voxel a
full cube (the projections of its corners count). It is exact for an axis-aligned box (``b``) and
the diameter for a sphere (to about a voxel). The **minimum Feret diameter** (the smallest
caliper width, :func:`liberation.stats.shape.feret_diameters`) is the other usual sieve-like
size (``c`` for a box); it is measured on each particle's crop with the shape pass, while the
intermediate axis here is vectorised over the whole label volume (two passes over the particle
voxels, no per-particle loop).

**Sieve fraction.** A sample that was sieved records its fraction as lower and upper mesh
opening in µm (e.g. ``63-100``): :func:`parse_fraction`, stored by
:func:`liberation.workflows.store.set_sieve_fraction` under ``liberation.sieve_fraction`` of
the store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liberation._validation import as_voxel_size
from liberation.errors import InputError

#: Names of the size measures ``size_by`` may choose, and their particle-table column.
SIZE_BY = {"esd": "esd_um", "sieve": "sieve_size_um"}


def check_size_by(size_by: str) -> str:
    """Validate ``size_by`` (``"esd"`` or ``"sieve"``)."""
    if size_by not in SIZE_BY:
        raise InputError(f"size_by={size_by!r}; expected one of {', '.join(map(repr, SIZE_BY))}")
    return size_by


def _corner_half_width(vectors: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """Half the projection of a voxel cube (edges ``vs``) on unit vectors, shape (n,)."""
    return 0.5 * (np.abs(vectors) * vs[None, :]).sum(axis=1)


def _intermediate_vectors(n, s1, s2, vs) -> np.ndarray:
    """Unit intermediate principal axes from voxel counts and first/second coordinate sums (µm)."""
    mean = s1 / n[:, None]
    cov = s2 / n[:, None, None] - mean[:, :, None] * mean[:, None, :]
    cov = cov + np.diag(vs**2 / 12.0)[None]  # a voxel is a cube, not a point
    _, vecs = np.linalg.eigh(cov)  # ascending eigenvalues
    return vecs[:, :, 1]


def intermediate_axis_length(mask: np.ndarray, voxel_size_um=1.0) -> float:
    """Caliper width (µm) of one object along its intermediate principal axis.

    Parameters
    ----------
    mask : ndarray of bool, shape (z, y, x)
        The object.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.

    Returns
    -------
    float
        NaN for an empty mask.
    """
    ids = np.asarray(mask, dtype=bool).astype(np.uint8)
    out = intermediate_axis_lengths(ids, voxel_size_um=voxel_size_um)
    return float(out["intermediate_axis_um"].iloc[0]) if len(out) else float("nan")


def intermediate_axis_lengths(labels: np.ndarray, *, voxel_size_um=1.0) -> pd.DataFrame:
    """Intermediate axis length of every labelled object, vectorised over the volume.

    Parameters
    ----------
    labels : ndarray of int, shape (z, y, x)
        Object ids, 0 = background (in memory: two passes over the labelled voxels).
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.

    Returns
    -------
    DataFrame
        ``particle_id`` (increasing) and ``intermediate_axis_um`` (µm), one row per id present.
    """
    vs = np.asarray(as_voxel_size(voxel_size_um), dtype=np.float64)
    lab = np.asarray(labels)
    if lab.ndim != 3 or lab.dtype.kind not in "uib":
        raise InputError(f"labels must be a 3D integer array; got shape {lab.shape}, dtype {lab.dtype}")
    flat = np.flatnonzero(lab)
    if flat.size == 0:
        return pd.DataFrame({"particle_id": np.array([], dtype=np.int64), "intermediate_axis_um": []})
    ids_all = lab.ravel()[flat].astype(np.int64)
    ids, inv = np.unique(ids_all, return_inverse=True)
    k = len(ids)
    coords = np.stack(np.unravel_index(flat, lab.shape), axis=1).astype(np.float64) * vs[None, :]
    del flat
    n = np.bincount(inv, minlength=k).astype(np.float64)
    s1 = np.stack([np.bincount(inv, weights=coords[:, a], minlength=k) for a in range(3)], axis=1)
    s2 = np.empty((k, 3, 3))
    for a in range(3):
        for b in range(a, 3):
            s2[:, a, b] = s2[:, b, a] = np.bincount(inv, weights=coords[:, a] * coords[:, b], minlength=k)
    vec = _intermediate_vectors(n, s1, s2, vs)
    proj = np.einsum("ij,ij->i", coords, vec[inv])
    hi = np.full(k, -np.inf)
    lo = np.full(k, np.inf)
    np.maximum.at(hi, inv, proj)
    np.minimum.at(lo, inv, proj)
    width = hi - lo + 2.0 * _corner_half_width(vec, vs)
    return pd.DataFrame({"particle_id": ids, "intermediate_axis_um": width})


def sieve_sizes(labels: np.ndarray, *, voxel_size_um=1.0, feret: bool = True) -> pd.DataFrame:
    """Sieve-equivalent sizes of every object: intermediate axis and (optionally) minimum Feret.

    Parameters
    ----------
    labels : ndarray of int, shape (z, y, x)
        Object ids, 0 = background.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.
    feret : bool
        Also the minimum Feret diameter (convex hull of each object's crop, one crop per object:
        :func:`liberation.stats.shape.feret_diameters`; the slow part).

    Returns
    -------
    DataFrame
        ``particle_id``, ``intermediate_axis_um``, ``sieve_size_um`` (= the intermediate axis) and,
        with ``feret``, ``feret_min_um``.
    """
    from scipy import ndimage

    from liberation.stats.shape import feret_diameters

    vs = as_voxel_size(voxel_size_um)
    out = intermediate_axis_lengths(labels, voxel_size_um=vs)
    out["sieve_size_um"] = out["intermediate_axis_um"]
    if feret:
        lab = np.asarray(labels)
        boxes = ndimage.find_objects(lab)
        fmin = np.full(len(out), np.nan)
        for i, pid in enumerate(out["particle_id"].to_numpy()):
            sl = boxes[int(pid) - 1]
            fmin[i] = feret_diameters(lab[sl] == pid, vs)[1]
        out["feret_min_um"] = fmin
    return out


def parse_fraction(text) -> tuple[float, float]:
    """A sieve fraction ``"63-100"`` (µm; also ``"63,100"`` or a pair) as ``(lower_um, upper_um)``.

    ``lower_um`` may be 0 (the undersize, ``"0-63"``); ``upper_um`` must exceed it.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace("µm", "").replace("um", "").replace(",", "-").split("-")]
    else:
        try:
            parts = list(text)
        except TypeError:
            parts = []
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except (TypeError, ValueError):
        raise InputError(f"sieve fraction {text!r} must be two sizes in µm, lower-upper, e.g. '63-100'") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise InputError(f"sieve fraction {text!r} must have 0 <= lower < upper (µm), e.g. '63-100'")
    return lo, hi


def fraction_label(fraction) -> str:
    """``(63, 100)`` -> ``"63-100 µm"``; None -> ``"unsieved"``."""
    if fraction is None:
        return "unsieved"
    lo, hi = parse_fraction(fraction if not isinstance(fraction, dict) else (fraction["lower_um"],
                                                                                 fraction["upper_um"]))
    return f"{lo:g}-{hi:g} µm"
