"""The result container of :func:`liberation.stats.analyse`.

The tables are pandas DataFrames whose columns are documented in ``docs/columns.md``
(a stable contract: the report writes them as CSV files unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from liberation.minerals import MineralList


@dataclass
class LiberationResult:
    """Everything the statistics produce for one sample.

    Attributes
    ----------
    minerals : MineralList
        The minerals (phase id -> name, density).
    voxel_size_um : tuple of float
        Voxel size (z, y, x) in µm.
    target : str or None
        Target mineral name, or None (statistics for every mineral).
    threshold : float
        Liberation threshold (grade in [0, 1]) above or at which a particle counts as liberated.
    size_classes_um : tuple of float
        Bounds of the particle size classes (equivalent sphere diameter, µm); empty for one class.
    particles : DataFrame
        One row per particle (``particles.csv``).
    sections : DataFrame
        One row per section particle of the virtual 2D sections (``sections_2d.csv``).
    modal : DataFrame
        Modal mineralogy, one row per mineral (``modal.csv``).
    liberation : DataFrame
        Composition class distributions, 3D and 2D, per size class and mineral (``liberation.csv``).
    surface_liberation : DataFrame
        Free-surface (exposure) class distributions, 3D, per size class and mineral.
    association : DataFrame
        Boundary-share of each mineral in contact with each other mineral and void (``association.csv``).
    locking : DataFrame
        Share of each mineral that is liberated / binary with X / ternary or more.
    grain_sizes : DataFrame
        One row per connected mineral grain inside a particle.
    grade_recovery : DataFrame
        Theoretical grade-recovery curve(s) (``grade_recovery.csv``).
    comparison : DataFrame
        2D vs 3D per size class and mineral: liberated fraction, mean grade and bias (2D minus 3D).
    cumulative_yield : DataFrame
        Cumulative liberation yield curves, 3D and 2D.
    size_distribution : DataFrame
        Particle size distribution (by number, volume and mass) over ESD bins.
    excluded_particle_ids : list of int
        Particles left out of the statistics (border particles with ``exclude_border=True``).
    summary : dict
        JSON-ready summary (``summary.json``).
    particles_soft, modal_soft, liberation_soft, grade_recovery_soft : DataFrame or None
        The same tables from sub-voxel (soft) phase volumes (:mod:`liberation.stats.partial_volume`),
        with ``quantification="both"``; None otherwise.
    deportment : DataFrame or None
        Share (%) of each element / oxide of the sample carried by each mineral
        (:func:`~liberation.stats.composition.element_deportment`); None when no mineral gives
        its contents.
    quantification : DataFrame or None
        Hard vs soft per mineral (volume, modal %, mean grade, liberated fraction) and their difference
        (``quantification.csv``); None with ``quantification="hard"``.
    """

    minerals: MineralList
    voxel_size_um: tuple[float, float, float]
    target: str | None
    threshold: float
    size_classes_um: tuple[float, ...]
    particles: pd.DataFrame
    sections: pd.DataFrame
    modal: pd.DataFrame
    liberation: pd.DataFrame
    surface_liberation: pd.DataFrame
    association: pd.DataFrame
    locking: pd.DataFrame
    grain_sizes: pd.DataFrame
    grade_recovery: pd.DataFrame
    comparison: pd.DataFrame
    cumulative_yield: pd.DataFrame
    size_distribution: pd.DataFrame
    excluded_particle_ids: list[int] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    particles_soft: pd.DataFrame | None = None
    modal_soft: pd.DataFrame | None = None
    liberation_soft: pd.DataFrame | None = None
    grade_recovery_soft: pd.DataFrame | None = None
    quantification: pd.DataFrame | None = None
    deportment: pd.DataFrame | None = None

    #: Names of the tables and the CSV file each one is written to (None: not written by default).
    CSV_FILES = {
        "particles": "particles.csv",
        "sections": "sections_2d.csv",
        "modal": "modal.csv",
        "liberation": "liberation.csv",
        "association": "association.csv",
        "grade_recovery": "grade_recovery.csv",
        "surface_liberation": "surface_liberation.csv",
        "locking": "locking.csv",
        "grain_sizes": "grain_sizes.csv",
        "comparison": "comparison_2d_3d.csv",
        "cumulative_yield": "cumulative_yield.csv",
        "size_distribution": "size_distribution.csv",
        "particles_soft": "particles_soft.csv",
        "modal_soft": "modal_soft.csv",
        "liberation_soft": "liberation_soft.csv",
        "grade_recovery_soft": "grade_recovery_soft.csv",
        "quantification": "quantification.csv",
        "deportment": "deportment.csv",
    }

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return ``{file name: DataFrame}`` for every table (file names from ``CSV_FILES``)."""
        return {fname: getattr(self, attr) for attr, fname in self.CSV_FILES.items()}
