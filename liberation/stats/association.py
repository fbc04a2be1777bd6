"""Mineral association from face-adjacent voxel pairs (counted in the single pass of ``measure``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.measure import ParticleMeasurements, measure
from liberation.stats.particles import assign_size_class, check_size_classes


def association_from_measurements(
    m: ParticleMeasurements, *, exclude: np.ndarray | None = None, size_classes_um=()
) -> pd.DataFrame:
    """Association table from :class:`ParticleMeasurements` (see :func:`association`)."""
    bounds = check_size_classes(size_classes_um)
    minerals = m.minerals
    keep = np.ones(len(m.ids), dtype=bool) if exclude is None else ~np.asarray(exclude, dtype=bool)
    areas = m.face_areas_um2()
    n_phases = m.n_phases
    if m.faces.size == 0:
        raise InputError("measurements were taken without faces; call measure(..., faces=True)")
    vox_um3 = float(np.prod(m.voxel_size_um))
    esd = np.cbrt(6.0 * m.counts.sum(axis=1) * vox_um3 / np.pi)
    size = assign_size_class(esd, bounds)
    groups = [("all", keep)]
    if bounds:
        groups += [(label, keep & (size == label)) for label in pd.unique(size[keep])]
    has_pores = m.pore_faces is not None
    neighbours = [(mm.name, [mm.id]) for mm in minerals] + [("void", [0, n_phases])]
    if has_pores:
        neighbours.append(("pore", [n_phases + 1]))
    rows = []
    for label, sel in groups:
        f = m.faces[sel]  # (n, P, P+1, 3)
        nfaces = f.sum(axis=0)  # (P, P+1, 3)
        if has_pores:  # column P+1: faces to enclosed pores, taken off the outside column P
            pf = m.pore_faces[sel].sum(axis=0)  # (P, 3)
            nfaces = np.concatenate([nfaces, pf[:, None, :]], axis=1)
            nfaces[:, n_phases, :] -= pf
        area = (nfaces * areas).sum(axis=2)  # (P, P+2)
        count = nfaces.sum(axis=2)
        for mineral in minerals:
            total = sum(area[mineral.id, k] for _, ks in neighbours for k in ks)
            for name, ks in neighbours:
                if name == mineral.name:
                    continue
                a = float(sum(area[mineral.id, k] for k in ks))
                rows.append({"size_class": label, "mineral": mineral.name, "neighbour": name,
                             "faces": int(sum(count[mineral.id, k] for k in ks)), "area_um2": a,
                             "share": a / total if total > 0 else np.nan})
    return pd.DataFrame(rows)


def association(
    particles,
    phases,
    *,
    voxel_size_um,
    minerals: MineralList,
    size_classes_um=(),
    exclude_border: bool = False,
    client=None,
    chunks=None,
    measurements: ParticleMeasurements | None = None,
) -> pd.DataFrame:
    """Share of each mineral's boundary in contact with each other mineral and with void.

    Boundaries are the faces between face-adjacent voxels (6-neighbourhood) inside one particle
    with different phases, plus the particle's outer faces (to background, another particle or the
    volume border), which count as ``void`` together with faces to unassigned (phase 0) voxels.
    With pores measured (``measurements.pore_faces``), faces to a pore (background fully enclosed
    by the particle) are the separate neighbour ``pore``.
    Areas use the face area of each axis (anisotropic voxels), uncorrected.

    Returns
    -------
    DataFrame
        Columns ``size_class, mineral, neighbour, faces, area_um2, share``; ``share`` sums to 1 over
        the neighbours of a mineral in one size class.
    """
    if measurements is None:
        measurements = measure(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals,
                               client=client, chunks=chunks)
    exclude = None
    if exclude_border:
        shape = np.array(measurements.shape)
        b = measurements.bbox
        exclude = np.any(b[:, :3] == 0, axis=1) | np.any(b[:, 3:] == shape[None, :], axis=1)
    return association_from_measurements(measurements, exclude=exclude, size_classes_um=size_classes_um)
