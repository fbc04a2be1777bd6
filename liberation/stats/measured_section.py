"""A measured 2D section next to its virtual CT twin and the same particles in 3D.

A polished section mapped by SEM/MLA (or micro-XRF), registered into the CT, gives three views
of the same particles:

- **measured**: the mineral label map itself (``map_labels.tif``);
- **virtual**: the segmented phases and particle ids of the store sampled at the same map pixel
  centres (:func:`liberation.registration.labels_on_map_grid`);
- **3D**: the particles that the plane cuts (by particle id), whole.

Measured minus virtual is the segmentation plus registration error (both are areas of the same
plane); virtual minus 3D is the stereological bias (the same particles, section vs volume).

Section particles ("pieces") are 8-connected sets of footprint pixels with the same particle id
(the store's particle ids resampled on the plane); without particle ids, the 8-connected
components of the footprint. The footprint of the measured map is its non-zero pixels; that of
the virtual section its particle pixels. A measured piece where the CT has no particle has
``particle_id`` 0. The tables have the columns of a section table
(:func:`liberation.stats.section_table`), so every function of :mod:`liberation.stats.composition`
works on them, plus the boundary columns:

- ``perimeter_edges`` / ``perimeter_um``: pixel edges between the piece and anything else
  (background, another piece, the map edge), uncorrected (a Crofton factor pi/4 would apply to
  lengths, not to the shares);
- ``surface_NAME``: the share of the perimeter that mineral NAME holds (perimeter-based
  exposure, the 2D counterpart of the 3D ``surface_NAME`` of the particle table).

Boundary association counts 4-neighbour pixel edges (vectorised with ``np.bincount`` over
(piece, phase, neighbour phase) keys, no loop over particles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.composition import (
    _included,
    amounts,
    check_by,
    check_target,
    check_threshold,
    liberated_fraction,
    liberation_classes,
)
from liberation.stats.particles import size_class_sort_key
from liberation.stats.sections import _mean_grade

__all__ = [
    "SOURCES",
    "MeasuredSectionComparison",
    "association_3d_rows",
    "boundary_association",
    "compare_measured_section",
    "cut_particle_association",
    "section_particles",
]

#: The three views, in table and figure order.
SOURCES = ("measured", "virtual", "3D")

_EIGHT = np.ones((3, 3), dtype=bool)


def _as_2d_int(name: str, image, shape=None) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 2 or a.dtype.kind not in "uib":
        raise InputError(f"{name} has shape {a.shape} and dtype {a.dtype}; expected a 2D integer label image")
    if shape is not None and a.shape != tuple(shape):
        raise InputError(f"{name} has shape {a.shape}; expected {tuple(shape)} (the map's pixel grid)")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise InputError(f"{name} has negative ids (min {a.min()}); expected ids >= 0")
    return a


def _edge_pairs(img: np.ndarray):
    """All 4-neighbour pairs of a 2D image padded by one pixel of 0: (first, second) flat value arrays."""
    pad = np.pad(img, 1)
    return ((pad[:-1, :].ravel(), pad[1:, :].ravel()), (pad[:, :-1].ravel(), pad[:, 1:].ravel()))


def _boundary_counts(pieces: np.ndarray, phases: np.ndarray, n_pieces: int, n_phases: int) -> np.ndarray:
    """Pixel edges per (piece, phase, neighbour), shape (n_pieces, P, P + 1); column P = outside the piece.

    An edge between two pixels of one piece with different phases counts once on each side (as
    ``(p, a, b)`` and ``(p, b, a)``); an edge between a piece pixel and anything else (background,
    another piece, the image edge) counts as ``(p, a, P)``.
    """
    size = (n_pieces + 1) * n_phases * (n_phases + 1)
    total = np.zeros(size, dtype=np.int64)
    ph = np.pad(phases.astype(np.int64), 1)
    pc = np.pad(pieces.astype(np.int64), 1)
    for sl_a, sl_b in (((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
                       ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        pa, pb = pc[sl_a].ravel(), pc[sl_b].ravel()
        qa, qb = ph[sl_a].ravel(), ph[sl_b].ravel()
        outer = pa != pb
        inner = (~outer) & (pa > 0) & (qa != qb)
        keys = []
        for p, q, sel in ((pa, qa, outer & (pa > 0)), (pb, qb, outer & (pb > 0))):
            keys.append((p[sel] * n_phases + q[sel]) * (n_phases + 1) + n_phases)
        keys.append((pa[inner] * n_phases + qa[inner]) * (n_phases + 1) + qb[inner])
        keys.append((pa[inner] * n_phases + qb[inner]) * (n_phases + 1) + qa[inner])
        total += np.bincount(np.concatenate(keys), minlength=size)
    return total.reshape(n_pieces + 1, n_phases, n_phases + 1)[1:]


@dataclass
class SectionParticles:
    """Section particles of one 2D label image (:func:`section_particles`).

    Attributes
    ----------
    table : DataFrame
        One row per piece (section-table columns plus ``perimeter_edges``, ``perimeter_um``,
        ``surface_NAME``).
    pieces : numpy.ndarray, int64, shape (rows, columns)
        Piece number (1..n, the table's ``piece``) of each pixel, 0 outside the footprint.
    edges : numpy.ndarray, int64, shape (n, P, P + 1)
        Pixel edges per (piece, phase id, neighbour phase id); the last column is the outside.
    """

    table: pd.DataFrame
    pieces: np.ndarray
    edges: np.ndarray


def section_particles(
    phases,
    particle_ids=None,
    *,
    pixel_size_um: float,
    minerals: MineralList,
    footprint=None,
    valid=None,
) -> SectionParticles:
    """Section particles of a 2D label image: composition, area, perimeter exposure.

    Parameters
    ----------
    phases : array-like, integer, shape (rows, columns)
        Phase ids on the section (0 = background or unassigned).
    particle_ids : array-like, integer, shape (rows, columns), optional
        Particle ids on the same pixels (0 = none): pieces are the 8-connected pixels of one id.
        Without it, pieces are the 8-connected components of the footprint (``particle_id`` 0).
    pixel_size_um : float
        Pixel size in µm (square pixels).
    minerals : MineralList
        The minerals of the phase ids.
    footprint : array-like, bool, shape (rows, columns), optional
        Pixels that belong to section particles (default ``phases > 0``). Phase 0 inside the
        footprint counts as unassigned (``unassigned_pixels``), not as a mineral.
    valid : array-like, bool, shape (rows, columns), optional
        Pixels where the section is known (e.g. inside the CT volume); outside it nothing is a
        particle, and a piece next to it or to the image edge has ``touches_border`` true.

    Returns
    -------
    SectionParticles
    """
    q = _as_2d_int("phases", phases)
    shape = q.shape
    p = float(pixel_size_um)
    if not np.isfinite(p) or p <= 0:
        raise InputError(f"pixel_size_um={pixel_size_um!r} must be a positive number (µm)")
    n_phases = minerals.max_id + 1
    if q.size and int(q.max()) >= n_phases:
        bad = np.unique(q[q >= n_phases])[:5]
        raise InputError(f"phases contains id(s) {bad.tolist()} without a mineral; known ids {minerals.ids}")
    fp = (q > 0) if footprint is None else np.asarray(footprint, dtype=bool)
    if fp.shape != shape:
        raise InputError(f"footprint has shape {fp.shape}; expected {shape}")
    ok = np.ones(shape, bool) if valid is None else np.asarray(valid, dtype=bool)
    if ok.shape != shape:
        raise InputError(f"valid has shape {ok.shape}; expected {shape}")
    fp = fp & ok
    if particle_ids is None:
        key = fp.astype(np.int64)
    else:
        ids = _as_2d_int("particle_ids", particle_ids, shape).astype(np.int64)
        key = np.where(fp, ids + 1, 0)
    from skimage.measure import label as sk_label

    pieces = sk_label(key, background=0, connectivity=2).astype(np.int64)
    n = int(pieces.max())
    flat = pieces.ravel()
    counts = np.bincount(flat * n_phases + q.ravel().astype(np.int64),
                         minlength=(n + 1) * n_phases).reshape(n + 1, n_phases)[1:]
    parent = np.zeros(n + 1, dtype=np.int64)
    parent[flat] = key.ravel() - 1 if particle_ids is not None else 0
    # a piece touches the border: next to the image edge or to a pixel outside ``valid``
    near_out = ndi.binary_dilation(np.pad(~ok, 1, constant_values=True), structure=_EIGHT)[1:-1, 1:-1]
    edge = np.zeros(n + 1, dtype=bool)
    edge[np.unique(pieces[near_out & (pieces > 0)])] = True
    edges = _boundary_counts(pieces, q, n, n_phases)
    perimeter = edges[:, :, n_phases].sum(axis=1)
    pixels = counts.sum(axis=1)
    area = pixels * p * p
    data: dict[str, object] = {
        "piece": np.arange(1, n + 1, dtype=np.int64),
        "particle_id": parent[1:],
        "pixels": pixels.astype(np.int64),
        "area_um2": area,
        "ecd_um": np.sqrt(4.0 * area / np.pi),
        "perimeter_edges": perimeter.astype(np.int64),
        "perimeter_um": perimeter * p,
        "touches_border": edge[1:],
        "excluded": np.zeros(n, dtype=bool),
        "size_class": np.full(n, "all", dtype=object),
        "unassigned_pixels": counts[:, 0].astype(np.int64),
    }
    ids_ = list(minerals.ids)
    mineral_total = counts[:, ids_].sum(axis=1)
    mass = (counts[:, ids_] * np.array([m.density for m in minerals])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        for m in minerals:
            data[f"pixels_{m.name}"] = counts[:, m.id].astype(np.int64)
        for m in minerals:
            data[f"grade_{m.name}"] = np.where(mineral_total > 0, counts[:, m.id] / np.maximum(mineral_total, 1), 0.0)
        for m in minerals:
            data[f"mass_grade_{m.name}"] = np.where(mass > 0, counts[:, m.id] * m.density / np.where(mass > 0, mass, 1),
                                                    0.0)
        for m in minerals:
            data[f"surface_{m.name}"] = np.where(perimeter > 0, edges[:, m.id, n_phases] / np.maximum(perimeter, 1),
                                                 0.0)
    return SectionParticles(table=pd.DataFrame(data), pieces=pieces, edges=edges)


def boundary_association(edges: np.ndarray, *, minerals: MineralList, pixel_size_um: float,
                         keep=None) -> pd.DataFrame:
    """Boundary association of section particles from their pixel edges.

    Parameters
    ----------
    edges : numpy.ndarray, shape (n, P, P + 1)
        :attr:`SectionParticles.edges`.
    minerals : MineralList
    pixel_size_um : float
        Length of one pixel edge in µm.
    keep : array-like of bool, shape (n,), optional
        The pieces to count (default all).

    Returns
    -------
    DataFrame
        Columns ``mineral, neighbour, edges, length_um, share``: how the boundary of each mineral is
        shared among the other minerals and ``void`` (outside the particle, or unassigned pixels);
        ``share`` sums to 1 over the neighbours of a mineral.
    """
    e = np.asarray(edges)
    if keep is not None:
        e = e[np.asarray(keep, dtype=bool)]
    n_phases = e.shape[1]
    tot = e.sum(axis=0) if len(e) else np.zeros((n_phases, n_phases + 1), dtype=np.int64)
    neighbours = [(m.name, [m.id]) for m in minerals] + [("void", [0, n_phases])]
    rows = []
    for m in minerals:
        total = sum(int(tot[m.id, k]) for _, ks in neighbours for k in ks)
        for name, ks in neighbours:
            if name == m.name:
                continue
            c = int(sum(tot[m.id, k] for k in ks))
            rows.append({"mineral": m.name, "neighbour": name, "edges": c, "length_um": c * float(pixel_size_um),
                         "share": c / total if total > 0 else np.nan})
    return pd.DataFrame(rows, columns=["mineral", "neighbour", "edges", "length_um", "share"])


def _finite_mean(values) -> float:
    """Mean of the finite values (NaN when there are none, without a warning)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _exposed(table: pd.DataFrame, minerals: MineralList, weight: np.ndarray) -> dict[str, float]:
    """Boundary-weighted exposure of each mineral over the rows that hold it."""
    a, _ = amounts(table, minerals, "volume")
    out = {}
    for j, m in enumerate(minerals):
        col = f"surface_{m.name}"
        has = a[:, j] > 0
        if col not in table.columns or not has.any():
            out[m.name] = float("nan")
            continue
        s = np.nan_to_num(table[col].to_numpy(dtype=float))[has]
        w = weight[has]
        out[m.name] = float((s * w).sum() / w.sum()) if w.sum() > 0 else float("nan")
    return out


def _summary_rows(source: str, table: pd.DataFrame, minerals: MineralList, names, threshold: float, by: str,
                  weight: np.ndarray) -> list[dict]:
    a, tot = amounts(table, minerals, by)
    lib = liberated_fraction(table, minerals=minerals, threshold=threshold, by=by)
    exposed = _exposed(table, minerals, weight)
    grand = a.sum()
    rows = []
    for name in names:
        j = minerals.names.index(name)
        rows.append({"source": source, "mineral": name, "basis": by, "n_particles": len(table),
                     "n_with_mineral": int((a[:, j] > 0).sum()),
                     "modal_percent": 100.0 * a[:, j].sum() / grand if grand > 0 else float("nan"),
                     "liberated_fraction": lib[name], "mean_grade": _mean_grade(a, tot, j),
                     "exposed_fraction": exposed[name]})
    return rows


def _by_size_rows(tm: pd.DataFrame, tv: pd.DataFrame, t3: pd.DataFrame, minerals: MineralList, names,
                  threshold: float, by: str, w3: np.ndarray) -> pd.DataFrame:
    """The summary rows per size class of the 3D parent particle (``all`` first)."""
    cols = ["size_class", "source", "mineral", "basis", "n_particles", "n_with_mineral", "modal_percent",
            "liberated_fraction", "mean_grade", "exposed_fraction"]
    sc3 = t3["size_class"].astype(str).to_numpy() if "size_class" in t3.columns else np.full(len(t3), "all")
    labels = sorted({c for c in sc3 if c != "all"}, key=size_class_sort_key)
    rows = []
    for label in labels:
        parts = []
        for source, t, w in (("measured", tm, tm["perimeter_um"].to_numpy(dtype=float)),
                             ("virtual", tv, tv["perimeter_um"].to_numpy(dtype=float)), ("3D", t3, w3)):
            sel = t["size_class"].astype(str).to_numpy() == label if "size_class" in t.columns else np.zeros(len(t),
                                                                                                            bool)
            parts += _summary_rows(source, t[sel], minerals, names, threshold, by, w[sel])
        for r in parts:
            r["size_class"] = label
        rows += parts
    return pd.DataFrame(rows, columns=cols)


def cut_particle_association(particles, phases, particle_ids, *, voxel_size_um, minerals: MineralList,
                             particle_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """3D boundary association of only the given particles (those a section plane cuts).

    The particles are cropped to their joint bounding box (one voxel of margin, within the volume)
    and every other particle is set to background, then
    :func:`liberation.stats.association.association` measures them: faces to another particle,
    to background or to the volume border count as ``void`` either way, so the result equals the
    whole-sample function applied to a label volume that holds only these particles.

    Parameters
    ----------
    particles, phases : array-like, integer, shape (z, y, x)
        Particle ids and phase ids (numpy, zarr or dask; only the crop is read).
    particle_ids : array-like of int
        The particles to count (ids not in ``particles`` are ignored).
    voxel_size_um : float or (float, float, float)
    minerals : MineralList
    particle_table : DataFrame, optional
        A particle table with ``particle_id`` and ``bbox_z0`` ... ``bbox_x1`` (half-open voxel
        boxes) holding every id: the crop comes from it instead of a pass over ``particles``.

    Returns
    -------
    DataFrame
        Columns ``mineral, neighbour, faces, area_um2, share`` (size class ``all``); ``share`` NaN
        for a mineral without boundary (no particles: all NaN).
    """
    from liberation.stats.association import association

    ids = np.unique(np.asarray(particle_ids, dtype=np.int64))
    ids = ids[ids > 0]
    shape = tuple(int(n) for n in particles.shape)
    bcols = [f"bbox_{a}{k}" for k in "01" for a in "zyx"]
    known = (particle_table is not None and set(bcols) <= set(particle_table.columns)
             and np.isin(ids, particle_table["particle_id"].to_numpy()).all())
    if ids.size == 0:
        box = tuple(slice(0, 1) for _ in shape)
    elif known:
        b = particle_table[particle_table["particle_id"].isin(ids)][bcols].to_numpy(dtype=np.int64)
        lo, hi = b[:, :3].min(axis=0), b[:, 3:].max(axis=0)
        box = tuple(slice(max(0, int(a) - 1), min(n, int(c) + 1)) for a, c, n in zip(lo, hi, shape))
    else:
        # bounding box of the ids, slab by slab along z (never the whole volume in memory at once)
        lo = np.array(shape)
        hi = np.zeros(3, dtype=int)
        step = max(1, int(2**24 // max(1, shape[1] * shape[2])))
        for z0 in range(0, shape[0], step):
            hit = np.isin(np.asarray(particles[z0:z0 + step]), ids)
            if hit.any():
                where = np.nonzero(hit)
                for ax in range(3):
                    off = z0 if ax == 0 else 0
                    lo[ax] = min(lo[ax], int(where[ax].min()) + off)
                    hi[ax] = max(hi[ax], int(where[ax].max()) + off + 1)
        if np.any(hi <= lo):
            box = tuple(slice(0, 1) for _ in shape)
        else:
            box = tuple(slice(max(0, int(a) - 1), min(n, int(b) + 1)) for a, b, n in zip(lo, hi, shape))
    crop = np.asarray(particles[box])
    crop = np.where(np.isin(crop, ids), crop, 0)
    ph = np.asarray(phases[box])
    # a face on the crop's cut side (margin voxel) sees background there, as it would see a
    # non-listed particle or background in the full volume; a face on the volume border stays one
    if not crop.any():  # no particle: every share NaN
        rows = [{"mineral": m.name, "neighbour": k, "faces": 0, "area_um2": 0.0, "share": np.nan}
                for m in minerals for k in [o.name for o in minerals if o.name != m.name] + ["void"]]
        return pd.DataFrame(rows, columns=["mineral", "neighbour", "faces", "area_um2", "share"])
    table = association(crop, ph, voxel_size_um=voxel_size_um, minerals=minerals)
    return table[table["size_class"] == "all"].drop(columns="size_class").reset_index(drop=True)


def association_3d_rows(association_3d: pd.DataFrame) -> pd.DataFrame:
    """:func:`cut_particle_association` in the columns of :attr:`MeasuredSectionComparison.association`."""
    return pd.DataFrame({"source": "3D", "mineral": association_3d["mineral"],
                         "neighbour": association_3d["neighbour"], "edges": association_3d["faces"],
                         "length_um": np.nan, "share": association_3d["share"],
                         "area_um2": association_3d["area_um2"]})


@dataclass
class MeasuredSectionComparison:
    """The measured section, its virtual twin and the same particles in 3D (:func:`compare_measured_section`).

    Attributes
    ----------
    summary : DataFrame
        One row per source (``measured``, ``virtual``, ``3D``) and mineral: ``n_particles``,
        ``n_with_mineral``, ``modal_percent`` (area / volume or mass %), ``liberated_fraction``,
        ``mean_grade`` (of the particles that hold the mineral), ``exposed_fraction`` (share of the
        boundary of those particles held by the mineral: perimeter in 2D, surface in 3D).
        Measured minus virtual = segmentation + registration error; virtual minus 3D =
        stereological bias.
    classes : DataFrame
        Liberation (grade) classes of each source (:func:`~liberation.stats.liberation_classes`
        with a ``source`` column).
    association : DataFrame
        Boundary association of the measured and virtual sections (``source`` column; 2D edges),
        and, when given (:func:`compare_measured_section` ``association_3d``), of the cut particles in
        3D (``source`` ``3D``; ``edges`` = voxel faces, ``area_um2``).
    by_size : DataFrame
        ``summary`` per size class of the 3D parent particle (``size_class`` column, the particle
        table's size classes, smallest first; measured pieces without a CT particle are only in
        ``summary``). Empty without size classes.
    measured, virtual : DataFrame
        Section-particle tables (:func:`section_particles`), with ``excluded``.
    particles_3d : DataFrame
        Rows of the 3D particle table for the particles the plane cuts.
    measured_phases, virtual_phases : numpy.ndarray, shape (rows, columns)
        The two label images (0 outside the CT volume).
    valid : numpy.ndarray, bool, shape (rows, columns)
        Map pixels inside the CT volume.
    measured_pieces, virtual_pieces : numpy.ndarray, int64, shape (rows, columns)
        Piece number of each pixel (the tables' ``piece``), 0 outside section particles.
    agreement : dict
        ``pixel_disagreement`` (share of the footprint pixels, measured or virtual, whose phases
        differ), ``modal_l1_percent`` (sum over minerals of |measured - virtual| modal %),
        ``liberated_abs_diff`` (mean over the reported minerals of |measured - virtual| liberated
        fraction) and ``stereological_abs_diff`` (the same, virtual vs 3D).
    pixel_size_um : float
    target : str or None
    threshold : float
    basis : str
    """

    summary: pd.DataFrame
    classes: pd.DataFrame
    association: pd.DataFrame
    measured: pd.DataFrame
    virtual: pd.DataFrame
    particles_3d: pd.DataFrame
    measured_phases: np.ndarray
    virtual_phases: np.ndarray
    valid: np.ndarray
    agreement: dict = field(default_factory=dict)
    by_size: pd.DataFrame = field(default_factory=pd.DataFrame)
    measured_pieces: np.ndarray | None = None
    virtual_pieces: np.ndarray | None = None
    pixel_size_um: float = 1.0
    target: str | None = None
    threshold: float = 0.9
    basis: str = "volume"

    #: Table attribute -> CSV file name in the report folder.
    CSV_FILES = {"summary": "measured_section.csv", "by_size": "measured_section_by_size.csv", "classes": "measured_section_classes.csv",
                 "association": "measured_section_association.csv",
                 "measured": "measured_section_particles.csv", "virtual": "virtual_section_particles.csv"}

    def tables(self) -> dict[str, pd.DataFrame]:
        """``{file name: DataFrame}`` of the tables written to the report folder."""
        return {fname: getattr(self, attr) for attr, fname in self.CSV_FILES.items()}


def compare_measured_section(
    measured,
    virtual_phases,
    virtual_particles,
    *,
    pixel_size_um: float,
    minerals: MineralList,
    particle_table: pd.DataFrame,
    valid=None,
    measured_footprint=None,
    target: str | None = None,
    threshold: float = 0.9,
    by: str = "volume",
    exclude_edge: bool = True,
    association_3d: pd.DataFrame | None = None,
) -> MeasuredSectionComparison:
    """Statistics of a measured section, of the virtual CT section at its pose, and of the cut particles in 3D.

    Parameters
    ----------
    measured : array-like, integer, shape (rows, columns)
        Measured mineral labels (store phase ids; 0 = background).
    virtual_phases, virtual_particles : array-like, integer, shape (rows, columns)
        The store's phases and particle ids at the map pixel centres
        (:func:`liberation.registration.labels_on_map_grid`).
    pixel_size_um : float
        Map pixel size in µm.
    minerals : MineralList
        The store's minerals.
    particle_table : DataFrame
        The 3D particle table of the store (:func:`liberation.stats.particle_table`); its
        ``excluded`` particles are left out of all three views.
    valid : array-like, bool, shape (rows, columns), optional
        Map pixels inside the CT volume (default all): only these are compared.
    measured_footprint : array-like, bool, optional
        Pixels of measured particles (default ``measured > 0``; pass it when unnamed measured pixels
        were set to 0, so that they count as unassigned inside their particle).
    target : str, optional
        Only this mineral in ``summary`` and ``classes`` (default all).
    threshold : float
        Liberated at a grade of at least this fraction.
    by : {"volume", "mass"}
        Basis (in 2D: area or area × density).
    exclude_edge : bool
        Leave out pieces that touch the map edge or the outside of the CT volume (cut by the field).
    association_3d : DataFrame, optional
        The 3D association of the cut particles (:func:`cut_particle_association` of
        ``particles_3d``'s ids), added to ``association`` as source ``3D``.

    Returns
    -------
    MeasuredSectionComparison
    """
    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    check_by(by)
    q_m = _as_2d_int("measured", measured)
    shape = q_m.shape
    q_v = _as_2d_int("virtual_phases", virtual_phases, shape)
    p_v = _as_2d_int("virtual_particles", virtual_particles, shape)
    ok = np.ones(shape, bool) if valid is None else np.asarray(valid, dtype=bool)
    if ok.shape != shape:
        raise InputError(f"valid has shape {ok.shape}; expected {shape}")
    if "particle_id" not in particle_table.columns:
        raise InputError("particle_table has no particle_id column; expected a 3D particle table")
    p = float(pixel_size_um)
    fp_m = (q_m > 0) if measured_footprint is None else np.asarray(measured_footprint, dtype=bool)
    q_m = np.where(ok, q_m, 0)
    q_v = np.where(ok, q_v, 0)
    m_sec = section_particles(q_m, np.where(ok, p_v, 0), pixel_size_um=p, minerals=minerals, footprint=fp_m, valid=ok)
    v_sec = section_particles(q_v, np.where(ok, p_v, 0), pixel_size_um=p, minerals=minerals, footprint=p_v > 0,
                              valid=ok)
    lut = particle_table.set_index("particle_id")
    excluded_3d = lut["excluded"].astype(bool) if "excluded" in lut.columns else pd.Series(False, index=lut.index)
    for sec in (m_sec, v_sec):
        t = sec.table
        parent_out = excluded_3d.reindex(t["particle_id"], fill_value=False).to_numpy(dtype=bool)
        t["excluded"] = parent_out | (t["touches_border"].to_numpy(dtype=bool) if exclude_edge else False)
        if "size_class" in lut.columns:
            sc = lut["size_class"].reindex(t["particle_id"]).to_numpy()
            t["size_class"] = np.where(pd.isna(sc), "all", sc).astype(object)
    tm, tv = _included(m_sec.table), _included(v_sec.table)
    cut = np.unique(tv["particle_id"].to_numpy(dtype=np.int64))
    cut = cut[cut > 0]
    t3 = particle_table[particle_table["particle_id"].isin(cut)]
    t3 = _included(t3)
    w3 = (t3["surface_area_um2"].to_numpy(dtype=float) if "surface_area_um2" in t3.columns
          else np.ones(len(t3)))
    rows = (_summary_rows("measured", tm, minerals, names, thr, by, tm["perimeter_um"].to_numpy(dtype=float))
            + _summary_rows("virtual", tv, minerals, names, thr, by, tv["perimeter_um"].to_numpy(dtype=float))
            + _summary_rows("3D", t3, minerals, names, thr, by, np.nan_to_num(w3)))
    summary = pd.DataFrame(rows)
    by_size = _by_size_rows(tm, tv, t3, minerals, names, thr, by, np.nan_to_num(w3))
    classes = []
    for source, t in (("measured", tm), ("virtual", tv), ("3D", t3)):
        c = liberation_classes(t, minerals=minerals, target=target, by=by)
        c = c[c["size_class"].astype(str) == "all"].copy()
        c.insert(0, "source", source)
        classes.append(c)
    assoc = []
    for source, sec in (("measured", m_sec), ("virtual", v_sec)):
        a = boundary_association(sec.edges, minerals=minerals, pixel_size_um=p,
                                 keep=~sec.table["excluded"].to_numpy(dtype=bool))
        a.insert(0, "source", source)
        a["area_um2"] = np.nan
        assoc.append(a)
    if association_3d is not None:
        assoc.append(association_3d_rows(association_3d))
    either = (fp_m | (p_v > 0)) & ok
    dis = float(np.mean(q_m[either] != q_v[either])) if either.any() else float("nan")
    piv = summary.pivot(index="mineral", columns="source")
    am, _ = amounts(tm, minerals, by)
    av, _ = amounts(tv, minerals, by)
    mod_m = 100 * am.sum(axis=0) / am.sum() if am.sum() > 0 else np.full(len(minerals), np.nan)
    mod_v = 100 * av.sum(axis=0) / av.sum() if av.sum() > 0 else np.full(len(minerals), np.nan)
    lib = piv["liberated_fraction"]
    agreement = {
        "pixel_disagreement": dis,
        "modal_l1_percent": float(np.nansum(np.abs(mod_m - mod_v))),
        "liberated_abs_diff": _finite_mean(np.abs(lib["measured"] - lib["virtual"])),
        "stereological_abs_diff": _finite_mean(np.abs(lib["virtual"] - lib["3D"])),
        "n_pixels_inside": int(ok.sum()),
        "n_pixels": int(ok.size),
    }
    return MeasuredSectionComparison(
        summary=summary, classes=pd.concat(classes, ignore_index=True),
        association=pd.concat(assoc, ignore_index=True), measured=m_sec.table, virtual=v_sec.table,
        particles_3d=t3.reset_index(drop=True), measured_phases=q_m, virtual_phases=q_v, valid=ok,
        agreement=agreement, by_size=by_size, measured_pieces=m_sec.pieces, virtual_pieces=v_sec.pieces,
        pixel_size_um=p, target=target, threshold=thr, basis=by)

