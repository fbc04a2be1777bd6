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


# ------------------------------------------------------------------ merging sieve fractions by mass

#: Tolerance on the sum of the fraction masses.
MASS_SUM_TOLERANCE = 1e-6


def check_fraction_masses(masses, n_fractions: int, *, name: str = "--fraction-mass") -> tuple[float, ...]:
    """Validate the mass fractions of ``n_fractions`` sieve fractions: one each, >= 0, summing to 1 (1e-6).

    Parameters
    ----------
    masses : str or sequence of float
        ``"0.4,0.6"`` or numbers.
    n_fractions : int
        Number of fractions (stores).
    name : str
        Option name for the messages.

    Returns
    -------
    tuple of float
    """
    if isinstance(masses, str):
        parts = [p.strip() for p in masses.split(",")]
    else:
        try:
            parts = list(masses)
        except TypeError:
            parts = [masses]
    try:
        w = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise InputError(f"{name}={masses!r} must be comma-separated mass fractions, e.g. 0.4,0.6") from None
    if len(w) != n_fractions:
        raise InputError(f"{name}={masses!r} gives {len(w)} mass fraction(s) for {n_fractions} store(s); "
                         "give one per store, in the same order")
    if any(not np.isfinite(x) or x < 0 for x in w):
        raise InputError(f"{name}={masses!r}: every mass fraction must be a finite number >= 0")
    if abs(sum(w) - 1.0) > MASS_SUM_TOLERANCE:
        raise InputError(f"{name}={masses!r} sums to {sum(w):.9g}; the mass fractions must sum to 1 "
                         f"(within {MASS_SUM_TOLERANCE:g})")
    return w


def fraction_amounts(particles: pd.DataFrame, sections: pd.DataFrame | None = None, *, minerals,
                     target: str | None = None, threshold: float = 0.9) -> pd.DataFrame:
    """Mass amounts of one sieve fraction per size class and mineral (the inputs of :func:`merge_fractions`).

    Parameters
    ----------
    particles : DataFrame
        Particle table (3D) of the fraction; ``excluded`` rows are left out.
    sections : DataFrame, optional
        Its section table (2D), for the 2D liberated fraction.
    minerals : MineralList
        The minerals (densities give the masses).
    target : str, optional
        Only this mineral (default all).
    threshold : float
        Liberated at grade >= threshold (mass grade).

    Returns
    -------
    DataFrame
        ``size_class`` (``all`` first), ``mineral``, ``n_particles``, ``mass`` (all particles of the
        class), ``mineral_mass``, ``liberated_mass`` (in particles with mass grade >= threshold) and,
        with sections, ``area_mass_2d``, ``mineral_mass_2d``, ``liberated_mass_2d`` (section areas
        times densities). Masses in voxels x g/cm³ (pixels x g/cm³ in 2D): only ratios are used.
    """
    from liberation.stats.composition import _included, _size_groups, amounts, check_target, check_threshold

    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    rows = []
    tabs = [("", _included(particles))]
    if sections is not None and len(sections):
        tabs.append(("_2d", _included(sections)))
    groups = {}
    for suffix, t in tabs:
        a, tot = amounts(t, minerals, "mass")
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(tot[:, None] > 0, a / np.where(tot > 0, tot, 1)[:, None], 0.0)
        for sc, sel in _size_groups(t):
            for name in names:
                j = minerals.names.index(name)
                row = groups.setdefault((sc, name), {"size_class": sc, "mineral": name})
                if suffix == "":
                    row["n_particles"] = int(sel.sum())
                    row["mass"] = float(tot[sel].sum())
                else:
                    row["area_mass_2d"] = float(tot[sel].sum())
                row[f"mineral_mass{suffix}"] = float(a[sel, j].sum())
                row[f"liberated_mass{suffix}"] = float(a[sel & (g[:, j] >= thr - 1e-12), j].sum())
    for row in groups.values():
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in ("n_particles", "mass", "mineral_mass", "liberated_mass"):
        if c not in out:
            out[c] = 0.0
    out["n_particles"] = out["n_particles"].fillna(0).astype(int)
    return out.fillna(0.0)


def merge_fractions(amounts_by_fraction, masses, *, labels=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Size-by-size tables per sieve fraction and the combined table, weighted by the fractions' masses.

    Fraction ``f`` has mass fraction ``w_f`` of the sample (``masses``, sum 1). Within it, size class
    ``c`` holds the mass share ``s_fc = mass_fc / mass_f,all`` of the analysed particles, mineral M the
    mass grade ``g_fcM = mineral_mass_fcM / mass_fc`` and the liberated fraction
    ``L_fcM = liberated_mass_fcM / mineral_mass_fcM``. Combined, for each size class:

    - mass share of the sample ``S_c = sum_f w_f s_fc``,
    - grade ``G_cM = sum_f w_f s_fc g_fcM / S_c``,
    - liberated fraction ``L_cM = sum_f w_f s_fc g_fcM L_fcM / sum_f w_f s_fc g_fcM``

    and the 2D liberated fraction ``L2_fcM`` (from the section areas) combined with the same weights
    ``w_f s_fc g_fcM``, so the combined 2D and 3D numbers differ only by the fractions' liberated
    fractions. The 3D numbers are the statistics of the
    union of all fractions' particles with each fraction's particle masses scaled by
    ``w_f / mass_f,all``, so a fraction counts by its weighed mass, not by how many particles were scanned.

    Parameters
    ----------
    amounts_by_fraction : sequence of DataFrame
        :func:`fraction_amounts` of each fraction.
    masses : sequence of float
        Mass fraction of each (:func:`check_fraction_masses`).
    labels : sequence of str, optional
        Name of each fraction (default ``fraction 1``, ...).

    Returns
    -------
    per_fraction : DataFrame
        ``fraction, mass_fraction, size_class, mineral, n_particles, mass_share_of_fraction,
        mass_share_of_sample, grade, liberated_fraction_3d`` (and ``liberated_fraction_2d`` with sections).
    combined : DataFrame
        ``size_class, mineral, n_particles, mass_share_of_sample, grade, liberated_fraction_3d``
        (and ``liberated_fraction_2d``).
    """
    w = check_fraction_masses(masses, len(amounts_by_fraction), name="masses")
    labels = list(labels) if labels is not None else [f"fraction {k + 1}" for k in range(len(w))]
    parts = []
    for lab, wf, am in zip(labels, w, amounts_by_fraction):
        a = am.copy()
        total = a.loc[a["size_class"] == "all", "mass"]
        m_all = float(total.iloc[0]) if len(total) else 0.0
        if m_all <= 0:
            raise InputError(f"{lab}: no analysed particle mass; cannot weight it by its mass fraction")
        a.insert(0, "fraction", lab)
        a.insert(1, "mass_fraction", wf)
        a["scale"] = wf / m_all  # sample-mass per fraction-mass unit
        a["fraction_mass_all"] = m_all
        parts.append(a)
    long = pd.concat(parts, ignore_index=True)
    has_2d = "mineral_mass_2d" in long
    with np.errstate(invalid="ignore", divide="ignore"):
        per = long[["fraction", "mass_fraction", "size_class", "mineral", "n_particles"]].copy()
        per["mass_share_of_fraction"] = long["mass"] / long["fraction_mass_all"]
        per["mass_share_of_sample"] = long["mass"] * long["scale"]
        per["grade"] = long["mineral_mass"] / long["mass"]
        per["liberated_fraction_3d"] = long["liberated_mass"] / long["mineral_mass"]
        if has_2d:
            per["liberated_fraction_2d"] = long["liberated_mass_2d"] / long["mineral_mass_2d"]
    # the combined table: sums of the scaled amounts (2D amounts scaled to each fraction's 3D mineral mass,
    # so the 2D liberated fraction of fraction f enters with the weight w_f s_fc g_fcM of its mineral)
    scaled = pd.DataFrame({"size_class": long["size_class"], "mineral": long["mineral"],
                           "n_particles": long["n_particles"],
                           "mass": long["mass"] * long["scale"],
                           "mineral_mass": long["mineral_mass"] * long["scale"],
                           "liberated_mass": long["liberated_mass"] * long["scale"]})
    if has_2d:
        with np.errstate(invalid="ignore", divide="ignore"):
            l2 = (long["liberated_mass_2d"] / long["mineral_mass_2d"]).fillna(0.0)
        scaled["mineral_mass_2d"] = np.where(long["mineral_mass_2d"] > 0, scaled["mineral_mass"], 0.0)
        scaled["liberated_mass_2d"] = scaled["mineral_mass_2d"] * l2
    order = list(dict.fromkeys(long["size_class"]))
    g = scaled.groupby(["size_class", "mineral"], sort=False).sum(numeric_only=True).reset_index()
    g["size_class"] = pd.Categorical(g["size_class"], categories=["all"] + [c for c in order if c != "all"])
    g = g.sort_values(["size_class"], kind="stable").reset_index(drop=True)
    g["size_class"] = g["size_class"].astype(str)
    with np.errstate(invalid="ignore", divide="ignore"):
        comb = g[["size_class", "mineral", "n_particles"]].copy()
        comb["mass_share_of_sample"] = g["mass"]
        comb["grade"] = g["mineral_mass"] / g["mass"]
        comb["liberated_fraction_3d"] = g["liberated_mass"] / g["mineral_mass"]
        if has_2d:
            comb["liberated_fraction_2d"] = g["liberated_mass_2d"] / g["mineral_mass_2d"]
    return per, comb
