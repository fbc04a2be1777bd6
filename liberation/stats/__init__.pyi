"""Type stub of liberation.stats: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# Submodules, reachable as attributes (not in __all__).
from . import bootstrap as bootstrap
from . import composition as composition
from . import derive as derive
from . import grains as grains
from . import measured_section as measured_section
from . import partial_volume as partial_volume
from . import particles as particles
from . import result as result
from . import sections as sections
from . import shape as shape
from . import sieve as sieve
from . import stereology as stereology
from .analyse import analyse, size_distribution
from .association import association, association_from_measurements
from .bootstrap import bootstrap_intervals
from .composition import (
    calculated_assay,
    cumulative_liberation_yield,
    element_deportment,
    grade_recovery,
    grades,
    liberated_fraction,
    liberation_classes,
    locking,
    modal_mineralogy,
    surface_liberation,
)
from .derive import derive_particles
from .grains import grain_size_distribution
from .measure import ParticleMeasurements, measure
from .measured_section import (
    MeasuredSectionComparison,
    association_3d_rows,
    boundary_association,
    compare_measured_section,
    cut_particle_association,
    section_particles,
)
from .partial_volume import PartialVolumeModel, estimate_model, phase_fractions, soft_counts, soft_statistics
from .particles import composition_table, particle_table, size_class_labels
from .result import LiberationResult
from .sections import compare_2d_3d, section_positions, section_table
from .sieve import intermediate_axis_lengths, sieve_sizes
from .stereology import (
    StereologyCheck,
    StereologyKernel,
    apply_kernel,
    correct_sections,
    correction_table,
    fit_kernel,
    leave_half_out,
    load_kernel,
    save_kernel,
    stereology_check,
)

__all__ = [
    "LiberationResult",
    "MeasuredSectionComparison",
    "StereologyCheck",
    "StereologyKernel",
    "PartialVolumeModel",
    "ParticleMeasurements",
    "analyse",
    "apply_kernel",
    "association",
    "association_from_measurements",
    "bootstrap_intervals",
    "boundary_association",
    "calculated_assay",
    "compare_2d_3d",
    "compare_measured_section",
    "cut_particle_association",
    "association_3d_rows",
    "composition_table",
    "correct_sections",
    "correction_table",
    "cumulative_liberation_yield",
    "derive_particles",
    "element_deportment",
    "estimate_model",
    "fit_kernel",
    "leave_half_out",
    "load_kernel",
    "save_kernel",
    "stereology_check",
    "grade_recovery",
    "grades",
    "grain_size_distribution",
    "intermediate_axis_lengths",
    "liberated_fraction",
    "liberation_classes",
    "locking",
    "measure",
    "modal_mineralogy",
    "particle_table",
    "phase_fractions",
    "section_particles",
    "section_positions",
    "section_table",
    "sieve_sizes",
    "size_class_labels",
    "size_distribution",
    "soft_counts",
    "soft_statistics",
    "surface_liberation",
]
