"""Liberation statistics: particle-wise 3D composition, liberation, association, sizes, 2D sections.

Functions over arrays (numpy, dask or zarr) plus a voxel size in µm; no file I/O. The voxels
are read in one pass per statistic family (composition + faces + boxes; grain labelling;
section planes), block by block, so volumes larger than memory work, and the same code runs on a
Dask ``distributed.Client`` passed as ``client=``. Column names: ``docs/columns.md``.

Typical use::

    from liberation.stats import analyse
    result = analyse(particles, phases, voxel_size_um=10.0, minerals=minerals, target="spodumene",
                     size_classes_um=(63, 100, 250))
    result.particles          # particles.csv
    result.summary            # summary.json
"""

from liberation.stats.analyse import analyse, size_distribution
from liberation.stats.association import association, association_from_measurements
from liberation.stats.composition import (
    calculated_assay,
    cumulative_liberation_yield,
    grade_recovery,
    grades,
    liberated_fraction,
    liberation_classes,
    locking,
    modal_mineralogy,
    surface_liberation,
)
from liberation.stats.derive import derive_particles
from liberation.stats.grains import grain_size_distribution
from liberation.stats.measure import ParticleMeasurements, measure
from liberation.stats.particles import composition_table, particle_table, size_class_labels
from liberation.stats.result import LiberationResult
from liberation.stats.sections import compare_2d_3d, section_positions, section_table

__all__ = [
    "LiberationResult",
    "ParticleMeasurements",
    "analyse",
    "association",
    "association_from_measurements",
    "calculated_assay",
    "compare_2d_3d",
    "composition_table",
    "cumulative_liberation_yield",
    "derive_particles",
    "grade_recovery",
    "grades",
    "grain_size_distribution",
    "liberated_fraction",
    "liberation_classes",
    "locking",
    "measure",
    "modal_mineralogy",
    "particle_table",
    "section_positions",
    "section_table",
    "size_class_labels",
    "size_distribution",
    "surface_liberation",
]
