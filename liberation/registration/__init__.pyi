"""Type stub of liberation.registration: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# Submodules, reachable as attributes (not in __all__).
from . import coarse as coarse
from . import fine as fine
from . import geometry as geometry
from . import qa as qa
from . import register as register
from . import resample as resample
from . import similarity as similarity
from . import sparse as sparse
from .geometry import apply_affine, decompose_pose, map_pixel_centres, pixel_centre_rms_error, pose_matrix
from .qa import plot_registration_qa, qa_images
from .register import RegistrationResult, RegistrationWarning, register_map, registration_quality
from .resample import ct_on_map_grid, ct_section, labels_on_map_grid, map_to_ct_section, section_points
from .similarity import mutual_information
from .sparse import IGNORE, accumulate_sparse_labels, labels_to_sparse, merge_sparse_labels, plane_voxels

__all__ = [
    "IGNORE",
    "RegistrationResult",
    "RegistrationWarning",
    "accumulate_sparse_labels",
    "apply_affine",
    "ct_on_map_grid",
    "ct_section",
    "decompose_pose",
    "labels_on_map_grid",
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
