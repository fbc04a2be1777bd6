"""Type stub of liberation.synthetic: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# The names of .belt, .dual_energy and .fragments (XRT belt, dual-energy and fragment images) move to
# liberation.deploy (issue 14): at merge, drop these three imports and their __all__ entries and list
# the names as deprecated aliases in liberation/synthetic/__init__.py (see liberation._lazy).
# attenuation_coefficient is that of .ct (as before: the first module in alphabetical order won).
from .belt import (
    BELT_CLASSES,
    SIZE_CLASSES_MM,
    BeltImage,
    belt_attenuation,
    make_belt_dataset,
    make_belt_image,
)
from .ct import ELEMENTS, attenuation_coefficient, attenuation_lut, ct_forward, grey_levels
from .dual_energy import (
    DE_DENSITY,
    DE_ENERGIES_KEV,
    DE_MASS_ATTENUATION,
    DualEnergySet,
    make_dual_energy_set,
)
from .face import (
    DEFAULT_PHASE_COUNTS,
    FaceMap,
    PhantomVolume,
    make_face_map,
    random_face_pose,
    textured_phantom,
)
from .fragments import FragmentImage, make_fragment_image
from .grains import add_grains, resolve_textures, resolve_volume_fractions, smooth_random_field
from .particles import default_esd_range_um, make_particles
from .sample import DEMO_PARAMETERS, SyntheticSample, demo_sample, make_sample
from .seg_phantom import TexturePhantom, make_texture_phantom
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

__all__ = [
    "BELT_CLASSES",
    "BeltImage",
    "DEFAULT_PHASE_COUNTS",
    "DEMO_PARAMETERS",
    "DE_DENSITY",
    "DE_ENERGIES_KEV",
    "DE_MASS_ATTENUATION",
    "DualEnergySet",
    "ELEMENTS",
    "FaceMap",
    "FragmentImage",
    "PhantomVolume",
    "SIZE_CLASSES_MM",
    "SyntheticSEM",
    "SyntheticSample",
    "SyntheticXRF",
    "TexturePhantom",
    "add_grains",
    "attenuation_coefficient",
    "attenuation_lut",
    "belt_attenuation",
    "ct_forward",
    "deep_xfct_minerals",
    "deep_xfct_signatures",
    "default_esd_range_um",
    "demo_sample",
    "grey_levels",
    "make_belt_dataset",
    "make_belt_image",
    "make_dual_energy_set",
    "make_face",
    "make_face_map",
    "make_fragment_image",
    "make_particles",
    "make_sample",
    "make_sem_map",
    "make_texture_phantom",
    "make_xrf_maps",
    "random_face_pose",
    "resolve_textures",
    "resolve_volume_fractions",
    "signatures_from_minerals",
    "smooth_random_field",
    "textured_phantom",
]
