"""Particle gallery: representative particles of each liberation and locking class of one mineral.

For every non-empty class, :func:`choose_gallery` picks the largest particle and, among the
others, the one whose equivalent sphere diameter (ESD) is closest to the class median (ties broken
by a seeded random choice). :func:`particle_crops` cuts each chosen particle out of the label volumes by its bounding
box (one array slice per particle, no loop over voxels), and :func:`plot_gallery_group` draws, per
particle, its central z section in the mineral colours and three shaded surface views of the
particle seen along z, y and x (depth-shaded relief, matplotlib only), each with a scale bar.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["GALLERY_COLUMNS", "choose_gallery", "particle_crops", "plot_gallery_group", "surface_view"]

#: Columns of ``gallery.csv``.
GALLERY_COLUMNS = ["group_kind", "group", "particle_id", "reason", "esd_um", "grade_percent", "n_in_group",
                   "median_esd_um", "mineral", "basis"]


def _grades(table: pd.DataFrame, minerals, basis: str) -> np.ndarray:
    from liberation.stats.composition import grades

    return grades(table, minerals, basis)


def _pick(ids: np.ndarray, esd: np.ndarray, rng) -> list[tuple[int, str]]:
    """The ids chosen in one group: the largest, and the other particle closest to the median ESD.

    Ties (equal ESD, or equally close to the median) are broken by ``rng``; a group of one
    particle gives it once (``"median size and largest"``).
    """
    top = np.flatnonzero(np.isclose(esd, esd.max(), rtol=0, atol=1e-9))
    i_big = int(top[rng.integers(len(top))]) if len(top) > 1 else int(top[0])
    if len(ids) == 1:
        return [(int(ids[0]), "median size and largest")]
    median = float(np.median(esd))
    gap = np.abs(esd - median)
    gap[i_big] = np.inf
    near = np.flatnonzero(np.isclose(gap, gap.min(), rtol=0, atol=1e-9))
    i_med = int(near[rng.integers(len(near))]) if len(near) > 1 else int(near[0])
    return [(int(ids[i_med]), "median size"), (int(ids[i_big]), "largest")]


def choose_gallery(table: pd.DataFrame, *, minerals, mineral: str, threshold: float = 0.9, classes=None,
                   basis: str = "volume", seed: int = 0) -> pd.DataFrame:
    """Choose the gallery particles: per non-empty liberation class and locking class of ``mineral``.

    Parameters
    ----------
    table : DataFrame
        Particle table (``particles.csv``: ``particle_id``, ``esd_um``, ``voxels_NAME``, ``excluded``).
        Excluded particles are never chosen.
    minerals : MineralList
        The minerals.
    mineral : str
        The mineral whose classes are shown (the report's target or headline mineral).
    threshold : float
        Liberated at grade >= threshold (locking classes).
    classes : sequence of float, optional
        Grade class bounds in percent (default 0, 10, ..., 100), as in ``liberation.csv``.
    basis : {"volume", "mass"}
        Basis of the grades.
    seed : int
        Seed of the tie breaks.

    Returns
    -------
    DataFrame
        Columns :data:`GALLERY_COLUMNS`: ``group_kind`` (``"liberation class"`` or ``"locking"``), ``group``
        (class label, e.g. ``"(40,50]"``, ``"binary with quartz"``), ``particle_id``, ``reason``
        (``"median size"``, ``"largest"`` or both), ``esd_um``, ``grade_percent`` of the mineral,
        ``n_in_group``, ``median_esd_um``; classes in table order (grade classes increasing, then
        liberated, binary with each mineral, ternary+).
    """
    from liberation.stats.composition import assign_class, check_classes, class_labels

    t = table[~table["excluded"].to_numpy(dtype=bool)] if "excluded" in table.columns else table
    names = list(minerals.names)
    j = names.index(mineral)
    g = _grades(t, minerals, basis)
    present = t[[f"voxels_{n}" for n in names]].to_numpy(dtype=float) > 0
    ids = t["particle_id"].to_numpy(dtype=np.int64)
    esd = t["esd_um"].to_numpy(dtype=float)
    bounds = check_classes(classes)
    labels = [lab for lab, _, _ in class_labels(bounds)]
    cls = assign_class(g[:, j], bounds)
    groups: list[tuple[str, str, np.ndarray]] = [("liberation class", labels[k], cls == k) for k in range(len(labels))]
    has = present[:, j]
    lib = has & (g[:, j] >= threshold - 1e-12)
    n_present = present.sum(axis=1)
    rest = has & ~lib
    groups.append(("locking", "liberated", lib))
    for k, other in enumerate(names):
        if k != j:
            groups.append(("locking", f"binary with {other}", rest & (n_present == 2) & present[:, k]))
    groups.append(("locking", "ternary+", rest & (n_present >= 3)))
    rng = np.random.default_rng(seed)
    rows = []
    for kind, label, sel in groups:
        if not sel.any():
            continue
        for pid, reason in _pick(ids[sel], esd[sel], rng):
            i = int(np.flatnonzero(ids == pid)[0])
            rows.append({"group_kind": kind, "group": label, "particle_id": pid, "reason": reason,
                         "esd_um": float(esd[i]), "grade_percent": 100.0 * float(g[i, j]),
                         "n_in_group": int(sel.sum()), "median_esd_um": float(np.median(esd[sel])),
                         "mineral": mineral, "basis": basis})
    return pd.DataFrame(rows, columns=GALLERY_COLUMNS)


def particle_crops(particles, phases, table: pd.DataFrame, particle_ids, *, margin: int = 1) -> dict:
    """Cut particles out of the label volumes by their bounding boxes.

    Parameters
    ----------
    particles, phases : array-like, shape (z, y, x)
        Particle ids and phase ids (numpy or zarr; only the boxes are read).
    table : DataFrame
        Particle table with ``particle_id`` and ``bbox_z0 .. bbox_x1`` (half-open voxel boxes).
    particle_ids : iterable of int
        The particles to cut.
    margin : int
        Voxels added around each box (clipped at the volume).

    Returns
    -------
    dict
        ``particle_id -> phases crop`` (uint8-like array of the box, 0 outside the particle).
    """
    shape = tuple(int(s) for s in particles.shape)
    box = table.set_index("particle_id")
    out = {}
    for pid in dict.fromkeys(int(p) for p in particle_ids):
        row = box.loc[pid]
        lo = [max(0, int(row[f"bbox_{a}0"]) - margin) for a in "zyx"]
        hi = [min(s, int(row[f"bbox_{a}1"]) + margin) for a, s in zip("zyx", shape)]
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        mask = np.asarray(particles[sl]) == pid
        out[pid] = np.where(mask, np.asarray(phases[sl]), 0)
    return out


def surface_view(crop: np.ndarray, axis: int, *, spacing=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """The particle seen along ``axis`` (from index 0): phase of the first voxel hit and a relief shade.

    Parameters
    ----------
    crop : ndarray, shape (z, y, x)
        Phase ids of one particle, 0 outside.
    axis : {0, 1, 2}
        Viewing direction.
    spacing : tuple of 3 float
        Voxel size (z, y, x) in µm, for the relief normals.

    Returns
    -------
    phase : ndarray, 2D
        Phase id of the first particle voxel along each ray (0 where the ray misses).
    shade : ndarray, 2D
        Lambert shade in [0.35, 1] of the depth relief (light from the upper left, towards the viewer).
    """
    inside = crop > 0
    first = np.argmax(inside, axis=axis)
    hit = inside.any(axis=axis)
    phase = np.take_along_axis(crop, np.expand_dims(first, axis), axis=axis).squeeze(axis)
    phase = np.where(hit, phase, 0)
    other = [a for a in range(3) if a != axis]
    depth = first.astype(float) * float(spacing[axis])
    depth = np.where(hit, depth, depth[hit].max() + spacing[axis] if hit.any() else 0.0)
    d_row, d_col = np.gradient(depth, float(spacing[other[0]]), float(spacing[other[1]]))
    normal = np.stack([-d_col, -d_row, -np.ones_like(depth)], axis=-1)  # (x, y, towards viewer)
    normal[..., 2] *= -1
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    light = np.array([-1.0, -1.0, 2.0]) / np.sqrt(6.0)
    shade = 0.35 + 0.65 * np.clip(normal @ light, 0.0, 1.0)
    return phase, np.where(hit, shade, 1.0)


def _rgb_image(phase: np.ndarray, colors: Mapping[int, str], shade: np.ndarray | None = None) -> np.ndarray:
    from matplotlib.colors import to_rgb

    lut = np.ones((max([int(phase.max()), *colors.keys(), 0]) + 1, 3))
    for pid, color in colors.items():
        lut[int(pid)] = to_rgb(color)
    lut[0] = (1.0, 1.0, 1.0)
    rgb = lut[phase.astype(np.intp)]
    if shade is not None:
        rgb = np.where((phase > 0)[..., None], rgb * shade[..., None], rgb)
    return rgb


def plot_gallery_group(title: str, items, *, colors: Mapping[int, str], names: Mapping[int, str],
                       voxel_size_um=(1.0, 1.0, 1.0)):
    """One gallery panel: the chosen particles of one class, a row each.

    Parameters
    ----------
    title : str
        Panel title (e.g. ``"spodumene grade (40,50] %: 12 particles"``).
    items : sequence of (str, ndarray)
        Row label and the phase crop (z, y, x) of each particle (0 outside it). The section is the
        filled z plane nearest the middle of the crop.
    colors, names : mapping of int to str
        Phase id -> colour and mineral name.
    voxel_size_um : tuple of 3 float
        Voxel size (z, y, x) in µm.

    Returns
    -------
    matplotlib.figure.Figure
        Per row: central z section, then the shaded views along z, y and x; every image has a scale bar.
    """
    from matplotlib.patches import Patch

    from liberation.report.plots import _figure, add_scale_bar

    items = list(items)
    vz, vy, vx = (float(v) for v in voxel_size_um)
    n_rows = max(len(items), 1)
    height = 0.6 + 2.3 * n_rows
    # A fixed grid instead of the constrained layout (a third of the drawing time of a panel): room
    # for the three-line row labels on the left, the axes titles, the title above, the legend below. No
    # layout engine at all (not even switched off later: savefig would then draw the panel twice).
    fig = _figure(9.0, height, layout=None)
    axes = fig.subplots(n_rows, 4, squeeze=False,
                        gridspec_kw={"left": 0.62 / 9.0, "right": 1.0 - 0.08 / 9.0, "top": 1.0 - 0.55 / height,
                                     "bottom": 0.42 / height, "wspace": 0.06, "hspace": 0.16})
    for row, (label, crop) in zip(axes, items):
        filled = np.flatnonzero((crop > 0).any(axis=(1, 2)))
        z_mid = int(filled[np.argmin(np.abs(filled - (crop.shape[0] - 1) / 2))]) if filled.size else 0
        panels = [(crop[z_mid], None, f"central section (z = {z_mid})", vy / vx, vx)]
        for axis, name in ((0, "z"), (1, "y"), (2, "x")):
            spacing = (vz, vy, vx)
            phase, shade = surface_view(crop, axis, spacing=spacing)
            rows_px = [vz, vy, vx][[a for a in range(3) if a != axis][0]]
            cols_px = [vz, vy, vx][[a for a in range(3) if a != axis][1]]
            panels.append((phase, shade, f"3D view along {name}", rows_px / cols_px, cols_px))
        for ax, (phase, shade, text, aspect, px_um) in zip(row, panels):
            ax.imshow(_rgb_image(phase, colors, shade), interpolation="nearest", aspect=aspect)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(text, fontsize=8)
            add_scale_bar(ax, px_um, phase.shape[1])
        row[0].set_ylabel(label, fontsize=8)
    present = sorted({int(p) for _, crop in items for p in np.unique(crop) if p > 0})
    handles = [Patch(facecolor=colors.get(p, "#808080"), edgecolor="black", label=names.get(p, str(p)))
               for p in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=min(len(handles), 6),
                   fontsize=8)
    fig.suptitle(title, fontsize=10, y=1.0 - 0.08 / height, va="top")
    return fig
