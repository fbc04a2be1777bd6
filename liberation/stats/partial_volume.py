"""Sub-voxel (soft) mineral quantification: a partial-volume model of the CT and per-voxel phase fractions.

At micro-CT resolution many voxels of a particle are *mixed*: they straddle a particle surface or a
boundary between two minerals, and their grey value lies between the grey levels of the phases that
meet there. Hard labels (one phase per voxel) put the whole voxel into one phase, which biases the
volume of small inclusions and thin rims, the grade of the particles that hold them and their
liberation class. This module (the public face of the ``partial_volume_*`` modules)

1. estimates a partial-volume model of the CT from the data itself (:func:`estimate_model`,
   ``partial_volume_model``): the grey level and noise of each phase from the interiors of the
   segmented phases (voxels whose whole ``(2 r + 1)^3`` neighbourhood has the same hard label), and the
   blur as the sigma whose model blur of the hard labels best predicts the grey values near boundaries;
2. unmixes every mixed voxel (a voxel whose 3x3x3 neighbourhood holds more than one hard label)
   linearly between its own phase ``a`` and the neighbouring phase ``b`` that best explains its grey
   value ``g``: ``f_a = clip((g - L_b) / (L_a - L_b), 0, 1)``, ``f_b = 1 - f_a``
   (:func:`phase_fractions`, :func:`soft_counts`, ``partial_volume_unmix``); the share ``f_b`` goes to the
   particle of the neighbours of phase ``b`` (to the background when ``b`` is void outside the particles).
   That is the clipped rule of the report (``soft_statistics``); the default of :func:`soft_counts` and
   :func:`phase_fractions` is the unclipped rule: partners from the hard labels and the model's blur only, a voxel
   with another phase among its face neighbours (taxicab radius 1, or 2 for a blur above 0.9 voxel) unmixed
   linearly from its grey value, every other voxel within the box of radius ``radius + 1`` given the model's
   predicted blur of the hard labels (linear in the grey values, noise-free selection);
3. turns the soft per-particle phase volumes into the usual particle table (:func:`soft_table`), so that
   liberation classes, modal mineralogy and grade-recovery come from the same functions as the hard ones
   (:func:`soft_statistics`, ``partial_volume_tables``).

The voxel passes are block-wise with a halo of ``radius`` voxels (edge-replicated at the volume border),
so a chunked run equals a whole-volume run; the per-voxel work is a numba kernel
(``partial_volume_kernels``: mixed voxels found by separable run lengths, unmixed and summed by
particle in one pass, no gathering, no per-particle Python loop), with a numpy reference.
The model and its assumptions are documented in ``docs/partial_volume.md``.
"""

from __future__ import annotations

from liberation.stats.partial_volume_model import PartialVolumeModel, estimate_model
from liberation.stats.partial_volume_tables import (
    SoftStatistics,
    quantification_difference,
    soft_statistics,
    soft_table,
)
from liberation.stats.partial_volume_unmix import PhaseFractions, phase_fractions, soft_counts

__all__ = [
    "PartialVolumeModel",
    "PhaseFractions",
    "SoftStatistics",
    "estimate_model",
    "phase_fractions",
    "quantification_difference",
    "soft_counts",
    "soft_statistics",
    "soft_table",
]
