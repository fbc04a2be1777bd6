"""Public names of liberation.deploy.fragments (read by lazy_loader.attach_stub and by type checkers)."""

from . import distribution, sizing, synthetic, workflow
from .distribution import (
    SizeDistribution,
    fit_rosin_rammler,
    oversize_alarm,
    passing_curve,
    percentile_size,
    plot_size_distribution,
    rosin_rammler,
    size_distribution,
)
from .sizing import (
    DEFAULT_BOX_FACTOR,
    box_sizes,
    boxes_from_labels,
    calibrate_box_factor,
    drop_ruler,
    feret_diameters,
    fragment_sizes,
    pixel_size_from_ruler,
    ruler_area_per_pixel,
    segment_fragments,
)
from .synthetic import FragmentImage, make_fragment_image
from .workflow import guess_kind, measure_fragments, parse_ruler

__all__ = [
    "DEFAULT_BOX_FACTOR",
    "FragmentImage",
    "SizeDistribution",
    "box_sizes",
    "boxes_from_labels",
    "calibrate_box_factor",
    "distribution",
    "drop_ruler",
    "feret_diameters",
    "fit_rosin_rammler",
    "fragment_sizes",
    "guess_kind",
    "make_fragment_image",
    "measure_fragments",
    "oversize_alarm",
    "parse_ruler",
    "passing_curve",
    "percentile_size",
    "pixel_size_from_ruler",
    "plot_size_distribution",
    "rosin_rammler",
    "ruler_area_per_pixel",
    "segment_fragments",
    "size_distribution",
    "sizing",
    "synthetic",
    "workflow",
]
