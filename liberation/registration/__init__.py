"""Register 2D maps (micro-XRF, SEM, label maps) into the 3D CT volume by mutual information.

Coordinate convention: the CT voxel ``(k, j, i)`` has its centre at ``(k*sz, j*sy, i*sx)`` µm;
the map pixel ``(r, c)`` at ``(0, r*p, c*p)`` µm in the map frame; a registration is the 4x4
affine ``matrix`` from map-frame (z, y, x) µm to CT (z, y, x) µm. See ``docs/registration.md``.

Main entry point: :func:`register_map`. Then :func:`labels_to_sparse` /
:func:`accumulate_sparse_labels` put label maps onto CT voxels, :func:`ct_on_map_grid` and
:func:`map_to_ct_section` resample between the two, :func:`qa_images` and
:func:`plot_registration_qa` show the result.
"""

from liberation.registration.geometry import (
    apply_affine,
    decompose_pose,
    map_pixel_centres,
    pixel_centre_rms_error,
    pose_matrix,
)
from liberation.registration.qa import plot_registration_qa, qa_images
from liberation.registration.register import (
    RegistrationResult,
    RegistrationWarning,
    register_map,
    registration_quality,
)
from liberation.registration.resample import ct_on_map_grid, ct_section, map_to_ct_section, section_points
from liberation.registration.similarity import mutual_information
from liberation.registration.sparse import (
    IGNORE,
    accumulate_sparse_labels,
    labels_to_sparse,
    merge_sparse_labels,
    plane_voxels,
)

__all__ = [
    "IGNORE",
    "RegistrationResult",
    "RegistrationWarning",
    "accumulate_sparse_labels",
    "apply_affine",
    "ct_on_map_grid",
    "ct_section",
    "decompose_pose",
    "labels_to_sparse",
    "map_pixel_centres",
    "map_to_ct_section",
    "merge_sparse_labels",
    "mutual_information",
    "pixel_centre_rms_error",
    "plane_voxels",
    "plot_registration_qa",
    "pose_matrix",
    "qa_images",
    "register_map",
    "registration_quality",
    "section_points",
]
