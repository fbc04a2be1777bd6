"""The per-particle table (``particles.csv``) and size classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.measure import ParticleMeasurements, measure

#: Correction of the voxel-face area for isotropically oriented surfaces (Cauchy/Crofton):
#: the mean of |n_z| + |n_y| + |n_x| over the unit sphere is 3/2.
FACE_CORRECTION = 2.0 / 3.0

#: µm³ · g/cm³ -> µg
UM3_G_CM3_TO_UG = 1e-6


def check_size_classes(size_classes_um) -> tuple[float, ...]:
    """Validate size class bounds (µm, increasing, positive); return them as a tuple."""
    if size_classes_um is None:
        return ()
    if isinstance(size_classes_um, (int, float)):
        size_classes_um = (size_classes_um,)
    try:
        bounds = tuple(float(b) for b in size_classes_um)
    except (TypeError, ValueError):
        raise InputError(f"size_classes_um={size_classes_um!r} must be numbers (µm)") from None
    if any(not np.isfinite(b) or b <= 0 for b in bounds) or any(b >= c for b, c in zip(bounds, bounds[1:])):
        raise InputError(f"size_classes_um={size_classes_um!r} must be positive and strictly increasing (µm)")
    return bounds


def _fmt(v: float) -> str:
    return f"{v:g}"


def size_class_labels(bounds: Sequence[float]) -> list[str]:
    """Labels of the size classes: ``<63``, ``63-100``, ..., ``>=250`` (µm); ``["all"]`` without bounds."""
    if not bounds:
        return ["all"]
    labels = [f"<{_fmt(bounds[0])}"]
    labels += [f"{_fmt(a)}-{_fmt(b)}" for a, b in zip(bounds[:-1], bounds[1:])]
    labels.append(f">={_fmt(bounds[-1])}")
    return labels


def size_class_sort_key(label: str) -> tuple:
    """Sort key of a size class label of :func:`size_class_labels` (``<63`` < ``63-100`` < ``>=100``; others last, by name)."""
    text = str(label)
    try:
        if text.startswith("<"):
            return (0, float(text[1:]), 0, text)
        if text.startswith(">="):
            return (0, float(text[2:]), 1, text)
        return (0, float(text.split("-")[0]), 1, text)
    except ValueError:
        return (1, 0.0, 0, text)


def assign_size_class(esd_um: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    """Size class label of each diameter; class i is ``[bounds[i-1], bounds[i])``."""
    labels = np.array(size_class_labels(bounds), dtype=object)
    if not bounds:
        return np.full(len(esd_um), "all", dtype=object)
    return labels[np.searchsorted(np.asarray(bounds), np.asarray(esd_um), side="right")]


def table_from_measurements(
    m: ParticleMeasurements, *, size_classes_um=(), exclude_border: bool = False, surface: str | None = None,
    shapes: pd.DataFrame | None = None, size_by: str = "esd",
) -> pd.DataFrame:
    """Build the particle table from :class:`ParticleMeasurements` (see :func:`particle_table`).

    ``shapes`` (from :func:`liberation.stats.shape.particle_shapes`, one row per particle) adds the
    mesh surface, sphericity, elongation and flatness; ``surface`` defaults to ``"mesh"`` with it,
    else ``"corrected"``. Pore faces in ``m.pore_faces`` are taken off the free surface.
    """
    if surface is None:
        surface = "mesh" if shapes is not None else "corrected"
    if surface not in ("mesh", "corrected", "faces"):
        raise InputError(f"surface={surface!r}; expected 'mesh', 'corrected' or 'faces'")
    if surface == "mesh" and shapes is None:
        raise InputError("surface='mesh' needs the particle crops (shapes); use particle_table() or analyse()")
    bounds = check_size_classes(size_classes_um)
    minerals = m.minerals
    vox_um3 = float(np.prod(m.voxel_size_um))
    voxels = m.counts.sum(axis=1)
    volume = voxels * vox_um3
    esd = np.cbrt(6.0 * volume / np.pi)
    dens = minerals.density_lut()
    ids = np.array(minerals.ids)
    mineral_counts = m.counts[:, ids]
    mineral_total = mineral_counts.sum(axis=1)
    mass = (mineral_counts * dens[ids]).sum(axis=1) * vox_um3 * UM3_G_CM3_TO_UG
    cols: dict[str, object] = {
        "particle_id": m.ids.astype(np.int64),
        "voxels": voxels.astype(np.int64),
        "volume_um3": volume,
        "esd_um": esd,
        "mass_ug": mass,
        "bbox_z0": m.bbox[:, 0], "bbox_y0": m.bbox[:, 1], "bbox_x0": m.bbox[:, 2],
        "bbox_z1": m.bbox[:, 3], "bbox_y1": m.bbox[:, 4], "bbox_x1": m.bbox[:, 5],
    }
    shape = np.array(m.shape)
    touches = np.any(m.bbox[:, :3] == 0, axis=1) | np.any(m.bbox[:, 3:] == shape[None, :], axis=1)
    if m.faces.size and m.faces.shape[0] == len(m.ids):
        areas = m.face_areas_um2()
        outside = m.faces[:, :, -1, :]  # (n, P, 3)
        if m.pore_faces is not None:
            outside = outside - m.pore_faces  # the boundary to enclosed pores is not free surface
        outside_area = (outside * areas).sum(axis=2)  # (n, P)
        raw = outside_area.sum(axis=1)
        surf = raw * (FACE_CORRECTION if surface == "corrected" else 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sph = np.where(surf > 0, np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / surf, np.nan)
            exposed = np.where(raw[:, None] > 0, outside_area / raw[:, None], 0.0)
        if surface == "mesh":
            surf = shapes["mesh_area_um2"].to_numpy(dtype=float)
            sph = shapes["sphericity"].to_numpy(dtype=float)
        cols["surface_area_um2"] = surf
        cols["sphericity"] = sph
    else:
        exposed = None
        cols["surface_area_um2"] = np.full(len(m.ids), np.nan)
        cols["sphericity"] = np.full(len(m.ids), np.nan)
    if shapes is not None:
        cols["elongation"] = shapes["elongation"].to_numpy(dtype=float)
        cols["flatness"] = shapes["flatness"].to_numpy(dtype=float)
        cols["feret_max_um"] = shapes["feret_max_um"].to_numpy(dtype=float)
        cols["feret_min_um"] = shapes["feret_min_um"].to_numpy(dtype=float)
        if "intermediate_axis_um" in shapes:
            cols["intermediate_axis_um"] = shapes["intermediate_axis_um"].to_numpy(dtype=float)
            cols["sieve_size_um"] = cols["intermediate_axis_um"]
    if m.pore_voxels is not None:
        pv = np.asarray(m.pore_voxels, dtype=np.int64)
        cols["pore_voxels"] = pv
        cols["porosity"] = pv / np.maximum(voxels + pv, 1)
        pf = m.pore_faces if m.pore_faces is not None else np.zeros((len(m.ids), 1, 3))
        cols["pore_surface_um2"] = (pf.sum(axis=1) * m.face_areas_um2()).sum(axis=1) * FACE_CORRECTION
    cols["touches_border"] = touches
    cols["excluded"] = touches if exclude_border else np.zeros(len(m.ids), dtype=bool)
    from liberation.stats.sieve import SIZE_BY, check_size_by

    key = SIZE_BY[check_size_by(size_by)]
    if key not in cols:
        raise InputError(f"size_by={size_by!r} needs the particle crops (shapes=True): the {key} column is missing")
    cols["size_class"] = assign_size_class(np.asarray(cols[key], dtype=float), bounds)
    cols["unassigned_voxels"] = m.counts[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        for mineral in minerals:
            c = m.counts[:, mineral.id]
            cols[f"voxels_{mineral.name}"] = c
        for mineral in minerals:
            c = m.counts[:, mineral.id]
            cols[f"grade_{mineral.name}"] = np.where(mineral_total > 0, c / np.maximum(mineral_total, 1), 0.0)
        for mineral in minerals:
            c = m.counts[:, mineral.id] * mineral.density * vox_um3 * UM3_G_CM3_TO_UG
            cols[f"mass_grade_{mineral.name}"] = np.where(mass > 0, c / np.where(mass > 0, mass, 1), 0.0)
        for mineral in minerals:
            cols[f"surface_{mineral.name}"] = (exposed[:, mineral.id] if exposed is not None
                                              else np.full(len(m.ids), np.nan))
    return pd.DataFrame(cols)


def particle_table(
    particles,
    phases,
    *,
    voxel_size_um,
    minerals: MineralList,
    size_classes_um=(),
    exclude_border: bool = False,
    surface: str = "mesh",
    pores: bool = True,
    client=None,
    chunks=None,
    measurements: ParticleMeasurements | None = None,
) -> pd.DataFrame:
    """One row per particle: size, shape, composition and exposed surface (``particles.csv``).

    Parameters
    ----------
    particles : array, shape (z, y, x), integer
        Particle ids (0 = outside); numpy, dask or zarr.
    phases : array, shape (z, y, x), integer
        Phase ids (0 = void).
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.
    minerals : MineralList
        Minerals of the phase ids.
    size_classes_um : sequence of float
        Bounds of the size classes by ESD (µm).
    exclude_border : bool
        Mark particles touching the volume border as ``excluded``.
    surface : {"mesh", "corrected", "faces"}
        Surface area estimate: area of the smoothed marching-cubes mesh (default; sphericity from
        the mesh area and volume, so at most 1, see :mod:`liberation.stats.shape`), voxel-face area
        times 2/3 (isotropic correction) or the raw voxel-face area (exact for axis-aligned boxes).
    pores : bool
        Find the pores (background fully enclosed by a particle): ``pore_voxels``, ``porosity``,
        ``pore_surface_um2`` columns, and pore faces are not free surface.
    client, chunks
        See :func:`liberation.stats.measure.measure`.
    measurements : ParticleMeasurements, optional
        Reuse a previous pass instead of reading the voxels again.

    Returns
    -------
    DataFrame
        Columns documented in ``docs/columns.md``.
    """
    if measurements is None:
        measurements = measure(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals,
                               client=client, chunks=chunks)
    shapes = None
    if surface == "mesh" or pores:
        measurements, shapes = add_shapes(measurements, particles, phases, pores=pores)
    return table_from_measurements(measurements, size_classes_um=size_classes_um,
                                   exclude_border=exclude_border, surface=surface,
                                   shapes=shapes if surface == "mesh" else None)


def add_shapes(m: ParticleMeasurements, particles, phases, *, pores: bool = True, mode: str = "full"):
    """Measure the per-particle crops (:func:`liberation.stats.shape.particle_shapes`).

    Returns the measurements with ``pore_faces``/``pore_voxels`` set (when ``pores`` and ``mode="full"``)
    and the shape table (``mode="fast"``: the vectorised moments only, mesh and Feret columns NaN).
    """
    import dataclasses

    from liberation.stats.shape import particle_shapes

    shapes, pore_faces = particle_shapes(particles, phases, m.ids, m.bbox, voxel_size_um=m.voxel_size_um,
                                         n_phases=m.n_phases, mode=mode, moments=m.moments)
    if pores and pore_faces is not None:
        m = dataclasses.replace(m, pore_faces=pore_faces, pore_voxels=shapes["pore_voxels"].to_numpy())
    return m, shapes


def composition_table(
    particles, phases, *, minerals: MineralList, engine: str = "auto", workers: int | None = None
) -> pd.DataFrame:
    """Voxels of each mineral per particle only, in one pass (no faces, no boxes); in-memory arrays.

    The volume is split into z slabs counted in parallel threads (the numba kernel releases the GIL).

    Returns a DataFrame with ``particle_id`` and ``voxels_NAME`` columns (particles present only).
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    from liberation.stats import _kernels
    from liberation.stats.measure import check_inputs

    check_inputs(particles, phases, voxel_size_um=1.0, minerals=minerals)
    pid = np.asarray(particles)
    ph = np.asarray(phases)
    n_ids = int(pid.max()) + 1
    if n_ids > (1 << 24):
        raise InputError(f"particles has max id {n_ids - 1}; composition_table needs ids < 2**24 (use measure())")
    n_phases = minerals.max_id + 1
    workers = workers or os.cpu_count() or 1
    edges = np.linspace(0, pid.shape[0], min(workers, pid.shape[0]) + 1).astype(int)

    def run(k):
        return _kernels.composition_counts_flat(pid[edges[k]:edges[k + 1]], ph[edges[k]:edges[k + 1]], n_ids,
                                                n_phases, engine=engine)

    if len(edges) > 2:
        with ThreadPoolExecutor(len(edges) - 1) as pool:
            parts = list(pool.map(run, range(len(edges) - 1)))
    else:
        parts = [run(0)]
    counts = parts[0][0]
    for c, _ in parts[1:]:
        counts += c
    bad = sum(b for _, b in parts)
    if bad:
        raise InputError(f"phases contains {bad} voxels with a phase id outside the minerals {minerals.ids}")
    present = np.nonzero(counts[1:].sum(axis=1))[0] + 1
    out = {"particle_id": present}
    for mineral in minerals:
        out[f"voxels_{mineral.name}"] = counts[present, mineral.id]
    return pd.DataFrame(out)
