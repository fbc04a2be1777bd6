"""A classical first look at a store without a trained model (``liberation segment --classical``).

Phases by grey value (multi-Otsu or a Gaussian mixture on the CT, smoothed) and particles by
the library's measured classical separation
(:func:`liberation.segmentation.classical.separate_particles`, default method; see
docs/particles_classical.md for the comparison with porespy's SNOW and the watersheds).
The report's own fallback (a store with ``labels/phases`` but no ``labels/particles``) calls
:func:`derive_store_particles` as well, so the two never disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from liberation.errors import InputError, OverwriteError

__all__ = ["ClassicalRun", "PARTICLE_SEPARATION", "classical_segment_store", "derive_store_particles"]

_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6")

#: The particle separation of ``segment --classical`` and of the report's fallback.
PARTICLE_SEPARATION = {"method": "relative_dynamic"}


@dataclass(frozen=True)
class ClassicalRun:
    """What :func:`classical_segment_store` wrote.

    Attributes
    ----------
    store_path : Path
    n_phases : int
        Phases written, void included.
    n_particles : int
        Particles written to ``labels/particles`` (0 when particles were not asked for).
    thresholds : tuple of float
        Grey-value thresholds between consecutive phases (CT units).
    """

    store_path: Path
    n_phases: int
    n_particles: int
    thresholds: tuple[float, ...]


def derive_store_particles(phases, *, voxel_size_um) -> tuple[np.ndarray, dict]:
    """Particle instances from ``phases > 0`` by the one classical separation.

    Parameters
    ----------
    phases : array-like of int, shape (z, y, x)
        Phase ids, 0 = void (loaded into memory).
    voxel_size_um : float or (float, float, float)
        Voxel size in µm.

    Returns
    -------
    particles : numpy.ndarray of uint32, shape (z, y, x)
        Particle ids 1..n, 0 outside.
    params : dict
        Method and parameters (for the provenance and the report).
    """
    from liberation.segmentation.classical import separate_particles

    particles = separate_particles(np.asarray(phases) > 0, voxel_size_um=voxel_size_um, **PARTICLE_SEPARATION)
    return particles, {**PARTICLE_SEPARATION, "function": "liberation.segmentation.separate_particles",
                       "n_particles": int(particles.max(initial=0))}


def _ordered_minerals(minerals, n_minerals: int):
    """The mineral list renumbered 1..n in its file order (= increasing grey value)."""
    from liberation.minerals import MineralList

    if len(minerals) != n_minerals:
        raise InputError(f"--minerals lists {len(minerals)} minerals ({', '.join(minerals.names)}); --classes "
                         f"{n_minerals + 1} makes void plus {n_minerals} phases: list exactly {n_minerals}, in "
                         "order of increasing grey value")
    return MineralList([replace(m, id=i + 1) for i, m in enumerate(minerals)])


def classical_segment_store(
    store: str | os.PathLike,
    *,
    classes: int,
    minerals: str | os.PathLike | None = None,
    method: str = "multiotsu",
    smooth_sigma: float = 1.0,
    particles: bool = True,
    seed: int = 0,
    overwrite: bool = False,
) -> ClassicalRun:
    """Write ``labels/phases`` (and ``labels/particles``) of a store from its CT alone.

    Parameters
    ----------
    store : str or Path
        The sample store (opened read-write). The CT is loaded into memory.
    classes : int
        Classes including void (2 = void / one solid phase), 2..8.
    minerals : str or Path, optional
        Mineral list (CSV or YAML) with ``classes - 1`` minerals in order of increasing grey
        value; without it the phases are named ``phase_1`` .. (no density: volume basis).
    method : {"multiotsu", "gmm"}
        Grey-value thresholds by multi-Otsu or a 1D Gaussian mixture.
    smooth_sigma : float
        Gaussian smoothing of the CT before thresholding (voxels).
    particles : bool
        Also write ``labels/particles`` (:func:`derive_store_particles`).
    seed : int
        Seed of the mixture fit and of the histogram subsample.
    overwrite : bool
        Replace existing ``labels/phases`` / ``labels/particles``.

    Returns
    -------
    ClassicalRun
    """
    from liberation.io import open_store
    from liberation.segmentation.classical import classical_phases

    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or not 2 <= int(classes) <= 8:
        raise InputError(f"--classes={classes!r} must be an integer from 2 to 8 (void included)")
    s = open_store(store, mode="r+")
    names = ["phases", "particles"] if particles else ["phases"]
    existing = [n for n in names if s.has_label(n)]
    if existing and not overwrite:
        raise OverwriteError(f"{store}: labels/{', labels/'.join(existing)} already exist; pass --overwrite "
                             "to replace them")
    if minerals is not None:
        from liberation.io.sem import read_mineral_list

        label_names = {"minerals": _ordered_minerals(read_mineral_list(minerals), int(classes) - 1)}
    else:  # names and colours only: no density, so the report works on volume basis for them
        label_names = {"properties": [{"label-value": i, "name": f"phase_{i}", "color": _COLOURS[(i - 1) % len(_COLOURS)]}
                                      for i in range(1, int(classes))]}
    phases, thresholds = classical_phases(np.asarray(s.image()[...]), classes=int(classes), method=method,
                                          smooth_sigma=smooth_sigma, seed=seed, return_thresholds=True)
    params = {"classical": True, "classes": int(classes), "method": method, "smooth_sigma": smooth_sigma,
              "seed": seed, "thresholds": [float(t) for t in thresholds],
              "minerals": str(minerals) if minerals is not None else None}
    s.write_label("phases", phases, **label_names, overwrite=overwrite, step="segment --classical",
                  parameters=params)
    n_particles = 0
    if particles:
        instances, separation = derive_store_particles(phases, voxel_size_um=s.voxel_size_um)
        n_particles = int(instances.max(initial=0))
        s.write_label("particles", instances, overwrite=overwrite, step="segment --classical",
                      parameters={**params, "separation": separation})
    return ClassicalRun(store_path=Path(s.path), n_phases=int(classes), n_particles=n_particles,
                        thresholds=tuple(float(t) for t in thresholds))
