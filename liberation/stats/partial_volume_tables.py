"""Soft tables: the particle table, modal mineralogy, liberation classes and grade-recovery from soft counts,
and the hard-vs-soft difference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.partial_volume_model import PartialVolumeModel, estimate_model
from liberation.stats.partial_volume_unmix import soft_counts

__all__ = ["SoftStatistics", "quantification_difference", "soft_statistics", "soft_table"]


def soft_table(table: pd.DataFrame, counts: np.ndarray, *, minerals: MineralList, voxel_size_um) -> pd.DataFrame:
    """The particle table with volumes, masses and grades from soft counts.

    Parameters
    ----------
    table : DataFrame
        Hard particle table (:func:`liberation.stats.particle_table`), rows in the order of ``counts``.
    counts : ndarray of float, shape (n, n_phases)
        Soft voxel counts (:func:`soft_counts`).
    minerals : MineralList
        The minerals.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.

    Returns
    -------
    DataFrame
        Same columns; ``voxels``, ``volume_um3``, ``esd_um``, ``mass_ug``, ``unassigned_voxels`` and the
        ``voxels_*``, ``grade_*``, ``mass_grade_*`` columns from the soft counts (float). Size class,
        exclusion, surface and shape columns stay those of the hard labels, so hard and soft rows compare
        particle by particle.
    """
    from liberation._validation import as_voxel_size
    from liberation.stats.particles import UM3_G_CM3_TO_UG

    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[0] != len(table):
        raise InputError(f"counts has {counts.shape[0]} rows but the table has {len(table)} particles")
    vox = float(np.prod(as_voxel_size(voxel_size_um)))
    ids = np.array(minerals.ids)
    mineral_counts = np.clip(counts[:, ids], 0.0, None)
    unassigned = np.clip(counts[:, 0], 0.0, None)
    mineral_total = mineral_counts.sum(axis=1)
    voxels = mineral_total + unassigned
    dens = np.array([m.density for m in minerals], dtype=float)
    mass_parts = mineral_counts * dens[None, :] * vox * UM3_G_CM3_TO_UG
    mass = mass_parts.sum(axis=1)
    out = table.copy()
    out["voxels"] = voxels
    out["volume_um3"] = voxels * vox
    out["esd_um"] = np.cbrt(6.0 * voxels * vox / np.pi)
    out["mass_ug"] = mass
    out["unassigned_voxels"] = unassigned
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, m in enumerate(minerals):
            out[f"voxels_{m.name}"] = mineral_counts[:, j]
            out[f"grade_{m.name}"] = np.where(mineral_total > 0, mineral_counts[:, j] / np.maximum(mineral_total,
                                                                                                   1e-300), 0.0)
            out[f"mass_grade_{m.name}"] = np.where(mass > 0, mass_parts[:, j] / np.where(mass > 0, mass, 1), 0.0)
    return out


def quantification_difference(hard: pd.DataFrame, soft: pd.DataFrame, *, minerals: MineralList,
                              target: str | None = None, threshold: float = 0.9, by: str = "volume") -> pd.DataFrame:
    """Hard vs soft, per mineral: volume, modal %, mean particle grade and liberated fraction, with differences.

    Parameters
    ----------
    hard, soft : DataFrame
        Hard and soft particle tables (same rows).
    minerals : MineralList
        The minerals.
    target : str, optional
        Only this mineral (default all).
    threshold : float
        Liberation threshold (grade fraction).
    by : {"volume", "mass"}
        Basis of the liberated fraction and modal share.

    Returns
    -------
    DataFrame
        Columns ``mineral, basis, quantity, hard, soft, soft_minus_hard, relative_difference``; quantities
        ``volume_um3``, ``modal_percent``, ``mean_grade`` (over particles holding the mineral in either table),
        ``liberated_fraction``, ``n_liberated`` (included particles only).
    """
    from liberation.stats.composition import _included, amounts, check_target, grades, liberated_fraction

    names = check_target(target, minerals)
    h, s = _included(hard), _included(soft)
    ah, th = amounts(h, minerals, by)
    as_, ts = amounts(s, minerals, by)
    gh, gs = grades(h, minerals, by), grades(s, minerals, by)
    libh = liberated_fraction(hard, minerals=minerals, target=target, threshold=threshold, by=by)
    libs = liberated_fraction(soft, minerals=minerals, target=target, threshold=threshold, by=by)
    rows = []
    for name in names:
        j = minerals.names.index(name)
        vh = h[f"voxels_{name}"].to_numpy(float).sum() * (h["volume_um3"].sum() / max(h["voxels"].sum(), 1e-300))
        vs_ = s[f"voxels_{name}"].to_numpy(float).sum() * (s["volume_um3"].sum() / max(s["voxels"].sum(), 1e-300))
        holds = (ah[:, j] > 0) | (as_[:, j] > 0)
        vals = {
            "volume_um3": (vh, vs_),
            "modal_percent": (100 * ah[:, j].sum() / th.sum() if th.sum() else np.nan,
                              100 * as_[:, j].sum() / ts.sum() if ts.sum() else np.nan),
            "mean_grade": (float(gh[holds, j].mean()) if holds.any() else np.nan,
                           float(gs[holds, j].mean()) if holds.any() else np.nan),
            "liberated_fraction": (libh[name], libs[name]),
            "n_liberated": (float((gh[:, j] >= threshold).sum()), float((gs[:, j] >= threshold).sum())),
        }
        for q, (a, b) in vals.items():
            rows.append({"mineral": name, "basis": by, "quantity": q, "hard": float(a), "soft": float(b),
                         "soft_minus_hard": float(b - a),
                         "relative_difference": float((b - a) / a) if a not in (0, 0.0) and a == a else np.nan})
    return pd.DataFrame(rows)


@dataclass
class SoftStatistics:
    """Soft tables of one sample (:func:`soft_statistics`)."""

    model: PartialVolumeModel
    particles: pd.DataFrame
    modal: pd.DataFrame
    liberation: pd.DataFrame
    grade_recovery: pd.DataFrame
    difference: pd.DataFrame


def soft_statistics(particles, phases, image, *, table: pd.DataFrame, measurements, minerals: MineralList,
                    voxel_size_um, target: str | None = None, threshold: float = 0.9, classes=None,
                    by: str = "volume", model: PartialVolumeModel | None = None, radius: int = 1,
                    clip: bool = True, chunks=None, workers: int | None = None) -> SoftStatistics:
    """Soft particle table, modal mineralogy, liberation classes, grade-recovery and the hard-soft difference.

    Parameters
    ----------
    particles, phases, image : array, shape (z, y, x)
        Particle ids, hard phase ids and CT grey values.
    table : DataFrame
        Hard particle table (rows = ``measurements.ids``).
    measurements : ParticleMeasurements
        The hard pass (ids and counts).
    minerals : MineralList
        The minerals.
    voxel_size_um : float or tuple
        Voxel size in µm.
    target, threshold, classes, by
        As in :func:`liberation.stats.analyse` (``by`` resolved: "volume" or "mass").
    model : PartialVolumeModel, optional
        Default :func:`estimate_model` of ``image`` and ``phases``.
    radius, clip
        See :func:`phase_fractions`.
    chunks, workers
        Block shape and threads of the voxel passes.

    Returns
    -------
    SoftStatistics
    """
    from liberation.stats.composition import grade_recovery, liberation_classes, modal_mineralogy

    n_phases = measurements.counts.shape[1]
    if model is None:
        present = measurements.counts.sum(axis=0) + np.asarray(measurements.background)[:n_phases]
        model = estimate_model(image, phases, n_phases=n_phases, phase_voxels=present, chunks=chunks,
                               workers=workers)
    counts = soft_counts(particles, phases, image, model=model, ids=measurements.ids,
                         hard_counts=measurements.counts, radius=radius, clip=clip, chunks=chunks,
                         workers=workers)
    soft = soft_table(table, counts, minerals=minerals, voxel_size_um=voxel_size_um)
    lib = pd.concat([liberation_classes(soft, minerals=minerals, target=target, classes=classes, by=b)
                     for b in ("volume", "mass")], ignore_index=True)
    lib.insert(0, "quantification", "soft")
    gr = grade_recovery(soft, minerals=minerals, target=target, by=by)
    gr.insert(0, "quantification", "soft")
    modal = modal_mineralogy(soft, minerals=minerals, voxel_size_um=voxel_size_um)
    modal["voxels"] = modal["volume_um3"] / float(np.prod(np.broadcast_to(voxel_size_um, 3)))
    diff = pd.concat([quantification_difference(table, soft, minerals=minerals, target=target, threshold=threshold,
                                                by=b) for b in ("volume", "mass")], ignore_index=True)
    return SoftStatistics(model=model, particles=soft, modal=modal, liberation=lib, grade_recovery=gr,
                          difference=diff)
