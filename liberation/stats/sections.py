"""Virtual 2D sections of the same particles, and the 2D vs 3D comparison.

A section is a plane normal to an axis (z, y or x) at indices ``spacing//2, spacing//2 +
spacing, ...``; a section particle is an 8-connected piece of one particle's voxels in one
plane (one particle can give several pieces, e.g. a U-shaped particle). Optionally, planes at
random orientations are resampled (nearest neighbour) from in-memory volumes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from skimage.measure import label as sk_label

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.composition import _included, amounts, check_by, check_target, check_threshold, grades
from liberation.stats.measure import check_inputs

AXES = {"z": 0, "y": 1, "x": 2}
#: Default number of planes per axis when no spacing is given.
DEFAULT_PLANES = 16


def section_positions(n: int, spacing: int | None) -> list[int]:
    """Plane indices ``spacing//2, spacing//2 + spacing, ...`` below ``n`` (default ~16 planes)."""
    if spacing is None:
        spacing = max(1, -(-n // DEFAULT_PLANES))
    if isinstance(spacing, bool) or not isinstance(spacing, (int, np.integer)) or spacing < 1:
        raise InputError(f"section_spacing={spacing!r} must be a positive integer (voxels)")
    return list(range(int(spacing) // 2, n, int(spacing)))


def _plane_rows(p2, q2, *, axis_name, position, position_um, pixel_area, minerals, n_phases):
    p2 = np.asarray(p2)
    q2 = np.asarray(q2).astype(np.int64)
    if not np.any(p2):
        return None
    lab = sk_label(p2, background=0, connectivity=2)
    n = int(lab.max())
    if n == 0:
        return None
    if np.any((q2 < 0) | (q2 >= n_phases)):
        bad = np.unique(q2[(q2 < 0) | (q2 >= n_phases)])[:5]
        raise InputError(f"phases contains phase id(s) {bad.tolist()} without a mineral; known {minerals.ids}")
    counts = np.bincount((lab.astype(np.int64) * n_phases + q2).ravel(),
                         minlength=(n + 1) * n_phases).reshape(n + 1, n_phases)[1:]
    parent = np.zeros(n + 1, dtype=np.int64)
    parent[lab.ravel()] = p2.ravel()
    edge = np.zeros(n + 1, dtype=bool)
    for border in (lab[0, :], lab[-1, :], lab[:, 0], lab[:, -1]):
        edge[border] = True
    pixels = counts.sum(axis=1)
    area = pixels * pixel_area
    return {
        "axis": np.full(n, axis_name, dtype=object),
        "position": np.full(n, position, dtype=np.int64),
        "position_um": np.full(n, position_um, dtype=float),
        "piece": np.arange(1, n + 1, dtype=np.int64),
        "particle_id": parent[1:],
        "pixels": pixels,
        "area_um2": area,
        "ecd_um": np.sqrt(4.0 * area / np.pi),
        "touches_border": edge[1:],
        "counts": counts,
    }


def _random_planes(shape, vs, n, rng):
    """Normals, centres (µm) and in-plane axes of ``n`` random planes through the volume."""
    size = np.array(shape) * np.array(vs)
    planes = []
    for _ in range(n):
        v = rng.normal(size=3)
        normal = v / np.linalg.norm(v)
        centre = size * rng.uniform(0.25, 0.75, size=3)
        helper = np.array([1.0, 0, 0]) if abs(normal[0]) < 0.9 else np.array([0, 1.0, 0])
        u = np.cross(normal, helper)
        u /= np.linalg.norm(u)
        w = np.cross(normal, u)
        planes.append((normal, centre, u, w))
    return planes


def section_table(
    particles,
    phases,
    *,
    voxel_size_um,
    minerals: MineralList,
    axes=("z",),
    spacing: int | None = None,
    random_sections: int = 0,
    seed=0,
    particle_table: pd.DataFrame | None = None,
    planes: dict | None = None,
) -> pd.DataFrame:
    """One row per section particle of virtual 2D sections (``sections_2d.csv``).

    Parameters
    ----------
    particles, phases : array, shape (z, y, x), integer
        Particle ids and phase ids (numpy, dask or zarr; only the section planes are read).
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm.
    minerals : MineralList
        The minerals.
    axes : sequence of {"z", "y", "x"}
        Plane normals.
    spacing : int, optional
        Plane spacing in voxels; planes at ``spacing//2, spacing//2 + spacing, ...``
        (default: about 16 planes per axis).
    random_sections : int
        Number of extra planes at random orientations (needs in-memory arrays); ``axis`` is
        ``"random"`` and ``position`` the plane number. Pixel size = the smallest voxel size.
    seed : int or Generator
        Seed of the random planes.
    particle_table : DataFrame, optional
        3D particle table: copies ``size_class`` and ``excluded`` of each parent particle.
    planes : dict, optional
        ``{(axis, index): (particle ids 2D, phases 2D)}`` already read
        (:func:`liberation.stats.measure.measure_pass`); planes not in it are read from the arrays.

    Returns
    -------
    DataFrame
        Columns documented in ``docs/columns.md``.
    """
    vs = check_inputs(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals)
    if isinstance(axes, str):
        axes = tuple(a.strip() for a in axes.split(",") if a.strip())
    for a in axes:
        if a not in AXES:
            raise InputError(f"section axis {a!r} is not one of 'z', 'y', 'x'")
    if isinstance(random_sections, bool) or not isinstance(random_sections, (int, np.integer)) or random_sections < 0:
        raise InputError(f"random_sections={random_sections!r} must be a non-negative integer")
    n_phases = minerals.max_id + 1
    shape = tuple(int(n) for n in particles.shape)
    parts = []
    for a in axes:
        ax = AXES[a]
        others = [vs[i] for i in range(3) if i != ax]
        for pos in section_positions(shape[ax], spacing):
            sl = [slice(None)] * 3
            sl[ax] = pos
            if planes is not None and (ax, pos) in planes:
                p2, q2 = planes[(ax, pos)]
            else:
                p2 = particles[tuple(sl)]
                q2 = phases[tuple(sl)]
            if hasattr(p2, "compute"):
                p2, q2 = p2.compute(), q2.compute()
            rows = _plane_rows(p2, q2, axis_name=a, position=pos, position_um=(pos + 0.5) * vs[ax],
                               pixel_area=others[0] * others[1], minerals=minerals, n_phases=n_phases)
            if rows is not None:
                parts.append(rows)
    if random_sections:
        from scipy.ndimage import map_coordinates

        pid = np.asarray(particles)
        ph = np.asarray(phases)
        step = min(vs)
        half = int(np.ceil(np.linalg.norm(np.array(shape) * np.array(vs)) / step / 2))
        grid = np.arange(-half, half + 1) * step
        gu, gw = np.meshgrid(grid, grid, indexing="ij")
        for k, (normal, centre, u, w) in enumerate(_random_planes(shape, vs, random_sections, make_rng(seed))):
            pts = centre[:, None, None] + u[:, None, None] * gu + w[:, None, None] * gw
            coords = pts / np.array(vs)[:, None, None] - 0.5
            p2 = map_coordinates(pid, coords, order=0, mode="constant", cval=0)
            q2 = map_coordinates(ph, coords, order=0, mode="constant", cval=0)
            rows = _plane_rows(p2, q2, axis_name="random", position=k, position_um=float(np.dot(normal, centre)),
                               pixel_area=step * step, minerals=minerals, n_phases=n_phases)
            if rows is not None:
                parts.append(rows)
    cols = ["axis", "position", "position_um", "piece", "particle_id", "pixels", "area_um2", "ecd_um",
            "touches_border"]
    if parts:
        data = {c: np.concatenate([p[c] for p in parts]) for c in cols}
        counts = np.concatenate([p["counts"] for p in parts])
    else:
        data = {c: np.array([], dtype=float) for c in cols}
        data["axis"] = np.array([], dtype=object)
        counts = np.zeros((0, n_phases), dtype=np.int64)
    df = pd.DataFrame(data)
    if particle_table is not None and len(df):
        lut = particle_table.set_index("particle_id")
        df["size_class"] = lut["size_class"].reindex(df["particle_id"]).to_numpy()
        df["excluded"] = lut["excluded"].reindex(df["particle_id"]).fillna(False).to_numpy(dtype=bool)
    else:
        df["size_class"] = "all"
        df["excluded"] = False
    df["unassigned_pixels"] = counts[:, 0]
    mineral_total = counts[:, minerals.ids].sum(axis=1)
    mass = (counts[:, minerals.ids] * np.array([m.density for m in minerals])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for m in minerals:
            df[f"pixels_{m.name}"] = counts[:, m.id]
        for m in minerals:
            df[f"grade_{m.name}"] = np.where(mineral_total > 0, counts[:, m.id] / np.maximum(mineral_total, 1), 0.0)
        for m in minerals:
            df[f"mass_grade_{m.name}"] = np.where(mass > 0, counts[:, m.id] * m.density / np.where(mass > 0, mass, 1),
                                                  0.0)
    return df


def random_plane_geometry(shape, voxel_size_um, n: int, seed=0) -> list[dict]:
    """Normals and centres (µm) of the random planes that :func:`section_table` uses with the same seed."""
    planes = _random_planes(tuple(shape), tuple(voxel_size_um), n, make_rng(seed))
    return [{"plane": k, "normal_zyx": [float(v) for v in p[0]], "centre_um": [float(v) for v in p[1]]}
            for k, p in enumerate(planes)]


def _mean_grade(a, tot, j):
    has = a[:, j] > 0
    denom = tot[has].sum()
    return float(a[has, j].sum() / denom) if denom > 0 else float("nan")


def compare_2d_3d(
    particles_table: pd.DataFrame,
    sections: pd.DataFrame,
    *,
    minerals: MineralList,
    target: str | None = None,
    threshold: float = 0.9,
    by: str = "volume",
) -> pd.DataFrame:
    """2D vs 3D per size class and mineral: liberated fraction, mean grade and the bias (2D minus 3D).

    The size class of a section particle is the class of its parent particle. ``mean_grade`` is the
    grade of the particles (sections) that contain the mineral: its amount over their total amount.

    Returns
    -------
    DataFrame
        Columns ``basis, size_class, mineral, n_particles_3d, n_sections_2d, liberated_fraction_3d,
        liberated_fraction_2d, liberated_fraction_bias, mean_grade_3d, mean_grade_2d, mean_grade_bias``.
    """
    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    check_by(by)
    t3 = _included(particles_table)
    t2 = _included(sections)
    a3, tot3 = amounts(t3, minerals, by)
    a2, tot2 = amounts(t2, minerals, by)
    g3 = grades(t3, minerals, by)
    g2 = grades(t2, minerals, by)
    c3 = t3["size_class"].astype(str).to_numpy() if "size_class" in t3 else np.full(len(t3), "all")
    c2 = t2["size_class"].astype(str).to_numpy() if "size_class" in t2 else np.full(len(t2), "all")
    classes = ["all"] + [c for c in pd.unique(c3) if c != "all"]
    rows = []
    for sc in classes:
        s3 = np.ones(len(t3), bool) if sc == "all" else c3 == sc
        s2 = np.ones(len(t2), bool) if sc == "all" else c2 == sc
        for name in names:
            j = minerals.names.index(name)
            lib = []
            for a, g, s in ((a3, g3, s3), (a2, g2, s2)):
                total = a[s, j].sum()
                lib.append(float(a[s & (g[:, j] >= thr - 1e-12), j].sum() / total) if total > 0 else float("nan"))
            m3 = _mean_grade(a3[s3], tot3[s3], j)
            m2 = _mean_grade(a2[s2], tot2[s2], j)
            rows.append({"basis": by, "size_class": sc, "mineral": name,
                         "n_particles_3d": int(s3.sum()), "n_sections_2d": int(s2.sum()),
                         "liberated_fraction_3d": lib[0], "liberated_fraction_2d": lib[1],
                         "liberated_fraction_bias": lib[1] - lib[0],
                         "mean_grade_3d": m3, "mean_grade_2d": m2, "mean_grade_bias": m2 - m3})
    return pd.DataFrame(rows)
