"""All liberation statistics of one sample: :func:`analyse`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.minerals import MineralList
from liberation.stats.association import association_from_measurements
from liberation.stats.composition import (
    calculated_assay,
    check_classes,
    check_target,
    check_threshold,
    cumulative_liberation_yield,
    element_deportment,
    grade_recovery,
    liberated_fraction,
    liberation_classes,
    locking,
    modal_mineralogy,
    surface_liberation,
)
from liberation.stats.measure import check_inputs, measure_pass
from liberation.stats.particles import check_size_classes, table_from_measurements
from liberation.stats.result import LiberationResult
from liberation.stats.sections import compare_2d_3d, random_plane_geometry, section_table


def size_distribution(table: pd.DataFrame, *, n_bins: int = 30) -> pd.DataFrame:
    """Particle size distribution over log-spaced ESD bins (included particles).

    Returns
    -------
    DataFrame
        Columns ``esd_lower_um, esd_upper_um, n_particles, number_fraction, volume_fraction,
        mass_fraction, cumulative_volume_passing`` (share of volume in particles smaller than the upper bound).
    """
    t = table[~table["excluded"].to_numpy(dtype=bool)] if "excluded" in table else table
    esd = t["esd_um"].to_numpy(dtype=float)
    cols = ["esd_lower_um", "esd_upper_um", "n_particles", "number_fraction", "volume_fraction",
            "mass_fraction", "cumulative_volume_passing"]
    if len(esd) == 0:
        return pd.DataFrame({c: [] for c in cols})
    lo, hi = esd.min(), esd.max()
    edges = np.geomspace(lo * 0.999, hi * 1.001, n_bins + 1) if hi > lo else np.array([lo * 0.999, hi * 1.001])
    idx = np.clip(np.searchsorted(edges, esd, side="right") - 1, 0, len(edges) - 2)
    nb = len(edges) - 1
    n = np.bincount(idx, minlength=nb)
    v = np.bincount(idx, weights=t["volume_um3"].to_numpy(dtype=float), minlength=nb)
    m = np.bincount(idx, weights=t["mass_ug"].to_numpy(dtype=float), minlength=nb)
    return pd.DataFrame({
        "esd_lower_um": edges[:-1], "esd_upper_um": edges[1:], "n_particles": n,
        "number_fraction": n / n.sum(), "volume_fraction": v / v.sum() if v.sum() else np.nan,
        "mass_fraction": m / m.sum() if m.sum() else np.nan,
        "cumulative_volume_passing": np.cumsum(v) / v.sum() if v.sum() else np.nan,
    })


def analyse(
    particles,
    phases,
    *,
    voxel_size_um,
    minerals: MineralList,
    target: str | None = None,
    threshold: float = 0.9,
    classes=None,
    size_classes_um=(),
    size_by: str = "esd",
    section_axes=("z",),
    section_spacing: int | None = None,
    random_sections: int = 0,
    exclude_border: bool = True,
    by: str = "auto",
    client=None,
    chunks=None,
    seed=0,
    grains: bool = True,
    shapes: bool | str = True,
    bootstrap: int = 1000,
    image=None,
    quantification: str = "hard",
    on_tables=None,
) -> LiberationResult:
    """Compute every liberation statistic of a segmented sample, 3D and on virtual 2D sections.

    Parameters
    ----------
    particles : array, shape (z, y, x), integer
        Particle ids (0 = outside), numpy, dask or zarr. Use :func:`derive_particles` when missing.
    phases : array, shape (z, y, x), integer
        Phase ids (0 = void), same shape.
    voxel_size_um : float or tuple of 3 float
        Voxel size in µm (positive).
    minerals : MineralList
        Minerals of the phase ids.
    target : str, optional
        Target mineral; default all minerals.
    threshold : float
        Liberated at grade >= threshold (fraction, default 0.9).
    classes : sequence of float, optional
        Composition class bounds in percent (default 0, 10, ..., 100).
    size_classes_um : sequence of float
        Bounds of the size classes in µm (e.g. ``(63, 100, 250)``), by ``size_by``.
    size_by : {"esd", "sieve"}
        Size that the classes bound: the equivalent sphere diameter (default) or the sieve-equivalent
        size, the intermediate axis length (:mod:`liberation.stats.sieve`; needs ``shapes``).
    section_axes : sequence of {"z", "y", "x"}
        Normals of the virtual section planes.
    section_spacing : int, optional
        Plane spacing in voxels (planes at ``spacing//2 + k*spacing``; default ~16 planes per axis).
    random_sections : int
        Extra planes at random orientations (in-memory arrays only).
    exclude_border : bool
        Leave particles touching the volume border (cut by the field of view: truncated volume and
        grade, the cut face would count as free surface) and their sections and grains out of the
        statistics (default). The summary states their number and volume share.
    by : {"auto", "mass", "volume"}
        Basis of the headline numbers (summary, comparison, grade-recovery); the class tables hold
        both. ``"auto"`` (default): mass when every mineral has a density, else volume (the summary's
        ``basis_note`` names the minerals without density).
    client : distributed.Client, optional
        Run the voxel passes on this Dask cluster.
    chunks : int or tuple, optional
        Block shape for the chunked passes.
    seed : int
        Seed of the random section planes.
    grains : bool
        Compute the grain size distribution (one labelling pass).
    shapes : bool or {"full", "fast", "off"}
        ``"full"`` (or True): measure every particle's crop: mesh surface area, sphericity (<= 1),
        Feret diameters and internal pores (:mod:`liberation.stats.shape`; pore faces are not free
        surface), plus elongation, flatness and intermediate axis (vectorised). ``"fast"``: only the
        vectorised elongation, flatness and intermediate axis (their moments summed in the tables' pass, then
        one pass over the particle labels;
        surface and sphericity from the corrected voxel faces, no mesh, Feret or pores). ``"off"``
        (or False): none.
    bootstrap : int
        Particle-bootstrap replicates for the 95 % intervals (:mod:`liberation.stats.bootstrap`,
        stratified by size class, seeded by ``seed``); 0 for none, else >= 100.
    image : array, shape (z, y, x), optional
        CT grey values; needed for ``quantification`` "soft" or "both".
    quantification : {"hard", "soft", "both"}
        Phase volumes from the hard labels (default), from sub-voxel fractions of the mixed voxels
        (:mod:`liberation.stats.partial_volume`; the 3D tables, headline and intervals become soft, the 2D
        sections stay hard), or both: hard tables plus ``*_soft`` tables. "soft" and "both" add the
        hard-vs-soft table ``quantification`` and the partial-volume model to the summary.
    on_tables : callable, optional
        Called as ``on_tables(result)`` once every table and the summary are made, before the
        bootstrap: ``result`` is the returned object without the intervals (no ``*_ci95_*`` columns,
        ``n_boot`` 0 and no ``*_ci95`` in the summary), which are then added to the same tables and
        summary in place. Lets a caller start work that needs no interval (the report's particle
        gallery) while the bootstrap runs.

    Returns
    -------
    LiberationResult
    """
    import liberation

    vs = check_inputs(particles, phases, voxel_size_um=voxel_size_um, minerals=minerals)
    names = check_target(target, minerals)
    thr = check_threshold(threshold)
    bounds = check_classes(classes)
    sizes = check_size_classes(size_classes_um)
    by, basis_note = resolve_basis(by, minerals)
    from liberation.stats.shape import check_shapes_mode
    from liberation.stats.sieve import check_size_by

    shapes = check_shapes_mode(shapes)
    if check_size_by(size_by) == "sieve" and shapes == "off":
        raise InputError("size_by='sieve' needs shapes='fast' or 'full' (the intermediate axis of each particle); "
                         "got shapes='off'")
    from liberation.stats.bootstrap import check_n_boot

    n_boot = check_n_boot(bootstrap)
    if isinstance(section_axes, str):
        section_axes = tuple(a.strip() for a in section_axes.split(",") if a.strip())
    section_axes = tuple(section_axes or ())
    if random_sections and (type(particles).__module__.startswith(("dask.", "zarr."))):
        raise InputError("random_sections needs in-memory (numpy) arrays; got a chunked array")
    # one read of the volume for the particle tables, the grains and the section planes
    from liberation.stats.sections import AXES, section_positions

    shape3 = tuple(int(n) for n in particles.shape)
    for a in section_axes:
        if a not in AXES:
            raise InputError(f"section axis {a!r} is not one of 'z', 'y', 'x'")
    wanted = [(AXES[a], pos) for a in dict.fromkeys(section_axes)
              for pos in section_positions(shape3[AXES[a]], section_spacing)]
    m, grain_merger, planes = measure_pass(particles, phases, voxel_size_um=vs, minerals=minerals, client=client,
                                           chunks=chunks, grains=grains, planes=wanted, moments=shapes != "off")
    if m.ids.size == 0:
        raise InputError(
            f"particles holds no particle (every label of the {'x'.join(map(str, m.shape))} volume is 0); "
            "nothing to analyse"
        )
    shape_table = None
    if shapes != "off":
        from liberation.stats.particles import add_shapes

        m, shape_table = add_shapes(m, particles, phases, mode=shapes)
    table = table_from_measurements(m, size_classes_um=sizes, exclude_border=exclude_border, shapes=shape_table,
                                    size_by=size_by, surface="corrected" if shapes == "fast" else None)
    if quantification not in ("hard", "soft", "both"):
        raise InputError(f"quantification={quantification!r}; expected 'hard', 'soft' or 'both'")
    soft = None
    if quantification != "hard":
        if image is None:
            raise InputError(f"quantification={quantification!r} needs the CT image (image=...); got none")
        from liberation.stats.partial_volume import soft_statistics

        soft = soft_statistics(particles, phases, image, table=table, measurements=m, minerals=minerals,
                               voxel_size_um=vs, target=target, threshold=thr, classes=bounds, by=by, chunks=chunks)
        if quantification == "soft":
            table = soft.particles
    excluded = table.loc[table["excluded"], "particle_id"].astype(int).tolist()
    if section_axes or random_sections:
        sections = section_table(particles, phases, voxel_size_um=vs, minerals=minerals, axes=section_axes,
                                 spacing=section_spacing, random_sections=random_sections, seed=seed,
                                 particle_table=table, planes=planes)
    else:
        sections = _empty_sections(minerals)
    have_2d = len(sections) > 0
    lib_parts, yld_parts, gr_parts, surf_parts, lock_parts = [], [], [], [], []
    for basis in ("volume", "mass"):
        lib_parts.append(liberation_classes(table, minerals=minerals, target=target, classes=bounds, by=basis))
        surf_parts.append(surface_liberation(table, minerals=minerals, target=target, classes=bounds, by=basis))
        lock_parts.append(locking(table, minerals=minerals, target=target, threshold=thr, by=basis))
        yld_parts.append(cumulative_liberation_yield(table, minerals=minerals, target=target, by=basis))
        if have_2d:
            lib_parts.append(liberation_classes(sections, minerals=minerals, target=target, classes=bounds, by=basis))
            yld_parts.append(cumulative_liberation_yield(sections, minerals=minerals, target=target, by=basis))
    gr_parts.append(grade_recovery(table, minerals=minerals, target=target, by=by))
    if have_2d:
        gr_parts.append(grade_recovery(sections, minerals=minerals, target=target, by=by))
    modal = modal_mineralogy(table, minerals=minerals, sections=sections if have_2d else None, voxel_size_um=vs)
    assoc = association_from_measurements(m, exclude=table["excluded"].to_numpy(dtype=bool), size_classes_um=sizes)
    if have_2d:
        comparison = compare_2d_3d(table, sections, minerals=minerals, target=target, threshold=thr, by=by)
    else:
        comparison = pd.DataFrame(columns=["basis", "size_class", "mineral", "n_particles_3d", "n_sections_2d",
                                           "liberated_fraction_3d", "liberated_fraction_2d",
                                           "liberated_fraction_bias", "mean_grade_3d", "mean_grade_2d",
                                           "mean_grade_bias"])
    if grains:
        grain_table = grain_merger.table(voxel_size_um=vs, minerals=minerals, particle_table=table)
    else:
        grain_table = pd.DataFrame(columns=["grain_id", "particle_id", "mineral", "voxels", "volume_um3", "esd_um"])
    lib3 = liberated_fraction(table, minerals=minerals, target=target, threshold=thr, by=by)
    lib2 = (liberated_fraction(sections, minerals=minerals, target=target, threshold=thr, by=by) if have_2d
            else {n: float("nan") for n in names})
    included = table[~table["excluded"]]
    liberation_t = pd.concat(lib_parts, ignore_index=True)
    yield_t = pd.concat(yld_parts, ignore_index=True)
    gr_t = pd.concat(gr_parts, ignore_index=True)
    ci = {"n_boot": 0}  # the intervals come last (after on_tables), into these tables and the summary

    def interval(key):
        lo_hi = ci.get(key)
        if lo_hi is None or not np.all(np.isfinite([lo_hi[0][0], lo_hi[1][0]])):
            return None
        return [float(lo_hi[0][0]), float(lo_hi[1][0])]

    excl = table["excluded"].to_numpy(dtype=bool)
    total_volume = float(table["volume_um3"].sum())
    parameters = {
        "target": target, "threshold": thr, "classes_percent": list(bounds), "size_classes_um": list(sizes), "size_by": size_by,
        "section_axes": list(section_axes), "section_spacing": section_spacing, "random_sections": random_sections,
        "exclude_border": bool(exclude_border), "by": by, "seed": seed, "bootstrap": n_boot,
        "surface_method": "mesh" if shapes == "full" else "corrected_voxel_faces", "pores": shapes == "full",
        "shapes": shapes,
    }
    if random_sections:
        parameters["random_planes"] = random_plane_geometry(m.shape, vs, random_sections, seed)

    def clean(d):
        return {k: (None if v != v else float(v)) for k, v in d.items()}

    summary = {
        "version": liberation.__version__,
        "n_particles": int(len(included)),
        "n_particles_total": int(len(table)),
        "n_excluded": len(excluded),
        "n_border_particles": int(table["touches_border"].sum()),
        "n_sections_2d": int((~sections["excluded"]).sum()) if have_2d else 0,
        "shape": [int(s) for s in m.shape],
        "voxel_size_um": [float(v) for v in vs],
        "minerals": [{"id": mm.id, "name": mm.name, "density": mm.density, "color": mm.color} for mm in minerals],
        "target": target,
        "liberation_threshold": thr,
        "basis": by,
        "modal_volume_percent": clean(dict(zip(modal["mineral"], modal["volume_percent"]))),
        "modal_mass_percent": clean(dict(zip(modal["mineral"], modal["mass_percent"]))),
        "calculated_assay_wt_percent": clean(calculated_assay(modal, minerals=minerals)),
        "liberated_fraction_3d": clean(lib3),
        "liberated_fraction_2d": clean(lib2),
        "liberated_fraction_bias": clean({k: lib2[k] - lib3[k] for k in lib3}),
        "basis_note": basis_note,
        "excluded_volume_um3": float(table.loc[excl, "volume_um3"].sum()),
        "excluded_volume_fraction": (float(table.loc[excl, "volume_um3"].sum()) / total_volume
                                     if total_volume > 0 else None),
        "n_boot": 0,
        "liberated_fraction_3d_ci95": {n: None for n in names},
        "liberated_fraction_2d_ci95": {n: None for n in names},
        "bias_2d_minus_3d_ci95": {n: None for n in names},
        "small_size_classes": sorted(
            str(c) for c, k in included["size_class"].astype(str).value_counts().items()
            if k < 30 and c != "all"),
        "parameters": parameters,
        "quantification": quantification,
    }
    if soft is not None:
        d = soft.difference[soft.difference["basis"] == by]
        summary["partial_volume_model"] = soft.model.to_dict(minerals)
        summary["soft_minus_hard"] = {
            q: clean(dict(zip(d.loc[d["quantity"] == q, "mineral"], d.loc[d["quantity"] == q, "soft_minus_hard"])))
            for q in ("modal_percent", "mean_grade", "liberated_fraction")}
    both = quantification == "both"
    deportment = element_deportment(modal, minerals=minerals)
    result = LiberationResult(
        minerals=minerals, voxel_size_um=tuple(vs), target=target, threshold=thr, size_classes_um=sizes,
        particles=table, sections=sections, modal=modal,
        liberation=liberation_t,
        surface_liberation=pd.concat(surf_parts, ignore_index=True),
        association=assoc, locking=pd.concat(lock_parts, ignore_index=True), grain_sizes=grain_table,
        grade_recovery=gr_t, comparison=comparison,
        cumulative_yield=yield_t, size_distribution=size_distribution(table),
        excluded_particle_ids=excluded, summary=summary,
        particles_soft=soft.particles if both else None, modal_soft=soft.modal if both else None,
        liberation_soft=soft.liberation if both else None, grade_recovery_soft=soft.grade_recovery if both else None,
        quantification=soft.difference if soft is not None else None,
        deportment=deportment if deportment.shape[1] > 1 else None,
    )
    if on_tables is not None:
        on_tables(result)
    if n_boot:
        from liberation.stats.bootstrap import attach_intervals, bootstrap_intervals

        ci = bootstrap_intervals(table, sections if have_2d else None, minerals=minerals, target=target,
                                 threshold=thr, classes=bounds, by=by, n_boot=n_boot, seed=seed)
        attach_intervals(ci, liberation=liberation_t, cumulative_yield=yield_t, grade_recovery=gr_t,
                         modal=modal, comparison=comparison, minerals=minerals)
    if len(comparison):
        from liberation.stats.bootstrap import MIN_PARTICLES

        comparison["few_particles"] = comparison["n_particles_3d"].to_numpy(dtype=float) < MIN_PARTICLES
    summary["n_boot"] = int(ci["n_boot"])  # the keys exist already: the summary keeps its order
    summary["liberated_fraction_3d_ci95"] = {n: interval(("lib", "3D", by, "all", n)) for n in names}
    summary["liberated_fraction_2d_ci95"] = {n: interval(("lib", "2D", by, "all", n)) for n in names}
    summary["bias_2d_minus_3d_ci95"] = {n: interval(("bias", by, "all", n)) for n in names}
    return result


def resolve_basis(by: str, minerals: MineralList) -> tuple[str, str | None]:
    """Resolve ``by="auto"``: mass when every mineral has a positive density, else volume.

    Returns the basis and a note naming the minerals without density (None when there is none).
    """
    if by not in ("auto", "mass", "volume"):
        raise InputError(f"by={by!r}; expected 'auto', 'mass' or 'volume'")
    missing = []
    for mm in minerals:
        d = getattr(mm, "density", None)
        try:
            ok = d is not None and np.isfinite(float(d)) and float(d) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            missing.append(mm.name)
    if by == "mass" and missing:
        raise InputError(f"by='mass' needs a density for every mineral; none for {', '.join(missing)}")
    if by == "auto":
        if missing:
            return "volume", f"volume basis: no density for {', '.join(missing)}"
        return "mass", None
    return by, None


def _empty_sections(minerals: MineralList) -> pd.DataFrame:
    cols = ["axis", "position", "position_um", "piece", "particle_id", "pixels", "area_um2", "ecd_um",
            "touches_border", "size_class", "excluded", "unassigned_pixels"]
    cols += [f"pixels_{m.name}" for m in minerals] + [f"grade_{m.name}" for m in minerals]
    cols += [f"mass_grade_{m.name}" for m in minerals]
    return pd.DataFrame({c: [] for c in cols})
