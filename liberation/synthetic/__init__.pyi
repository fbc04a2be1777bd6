"""Type stub of liberation.synthetic: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# attenuation_coefficient is that of .ct (as before: the first module in alphabetical order won).
from .cores import CORE_FRACTIONS, core_minerals, dense_core, element_counts
from .ct import ELEMENTS, attenuation_coefficient, attenuation_lut, ct_forward, grey_levels
from .eds import GABBRO_ABUNDANCE, gabbro_compositions, make_eds_maps
from .face import (
    DEFAULT_PHASE_COUNTS,
    FaceMap,
    make_face_map,
    random_face_pose,
    textured_phantom,
)
from .grains import add_grains, resolve_textures, resolve_volume_fractions, smooth_random_field
from .packs import irregular_grains, mixed_sizes, touching_ellipsoids, touching_spheres
from .particles import default_esd_range_um, make_particles
from .pv_phantom import partial_volume_phantom
from .sample import DEMO_PARAMETERS, SyntheticSample, demo_sample, make_sample
from .seg_phantom import make_texture_phantom
from .seg_zoo import SEG_LAYOUTS, SEG_ZOO, SegCase, SegKind, seg_case, seg_label_planes
from .textures import TextureSample, texture_sample
from .xrf import (
    SyntheticSEM,
    SyntheticXRF,
    deep_xfct_minerals,
    deep_xfct_signatures,
    make_face,
    make_sem_map,
    make_xrf_maps,
    signatures_from_minerals,
)
from .zoo import LABEL_ZOO, REGISTRATION_ZOO, label_case, registration_case

__all__ = [
    "CORE_FRACTIONS",
    "DEFAULT_PHASE_COUNTS",
    "DEMO_PARAMETERS",
    "ELEMENTS",
    "FaceMap",
    "GABBRO_ABUNDANCE",
    "LABEL_ZOO",
    "REGISTRATION_ZOO",
    "SEG_LAYOUTS",
    "SEG_ZOO",
    "SegCase",
    "SegKind",
    "SyntheticSEM",
    "SyntheticSample",
    "SyntheticXRF",
    "TextureSample",
    "add_grains",
    "attenuation_coefficient",
    "attenuation_lut",
    "core_minerals",
    "ct_forward",
    "deep_xfct_minerals",
    "deep_xfct_signatures",
    "default_esd_range_um",
    "demo_sample",
    "dense_core",
    "element_counts",
    "gabbro_compositions",
    "grey_levels",
    "irregular_grains",
    "label_case",
    "make_eds_maps",
    "make_face",
    "make_face_map",
    "make_particles",
    "make_sample",
    "make_sem_map",
    "make_texture_phantom",
    "make_xrf_maps",
    "mixed_sizes",
    "partial_volume_phantom",
    "random_face_pose",
    "registration_case",
    "resolve_textures",
    "resolve_volume_fractions",
    "seg_case",
    "seg_label_planes",
    "signatures_from_minerals",
    "smooth_random_field",
    "texture_sample",
    "textured_phantom",
    "touching_ellipsoids",
    "touching_spheres",
]
