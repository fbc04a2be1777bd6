"""Type stub of liberation.labels: the public names, resolved lazily at run time (lazy_loader.attach_stub)."""

# Submodules, reachable as attributes (not in __all__).
from . import assign as assign
from . import duplicates as duplicates
from . import features as features
from . import kmeans as kmeans
from . import plots as plots
from . import preprocess as preprocess
from . import sem as sem
from . import unmix as unmix
from . import validate as validate
from . import workflow as workflow
from .assign import (
    Assignment,
    assign_by_rules,
    assign_explicit,
    check_reference,
    match_signatures,
    mineral_map,
    parse_rules,
)
from .duplicates import duplicate_groups, near_duplicates
from .features import FeatureStack, feature_stack, resample_to_grid
from .kmeans import ClusterResult, choose_n_clusters, cluster_features, kmeans_maps, mixed_pixels
from .plots import plot_centroids, plot_label_map
from .preprocess import (
    check_maps,
    denoise_bilateral_map,
    denoise_maps,
    estimate_noise,
    sample_mask,
    scale_maps,
)
from .sem import check_colors, labels_from_ids, labels_from_rgb
from .unmix import unmix_labels
from .validate import (
    abundance_table,
    accuracy_table,
    compare_abundance,
    confusion_matrix,
    confusion_table,
    pixel_accuracy,
)
from .workflow import LabelResult, unmixed_abundance, xrf_labels

__all__ = [
    "Assignment",
    "ClusterResult",
    "FeatureStack",
    "LabelResult",
    "abundance_table",
    "accuracy_table",
    "assign_by_rules",
    "assign_explicit",
    "check_colors",
    "check_maps",
    "check_reference",
    "choose_n_clusters",
    "cluster_features",
    "compare_abundance",
    "confusion_matrix",
    "confusion_table",
    "denoise_bilateral_map",
    "denoise_maps",
    "duplicate_groups",
    "estimate_noise",
    "feature_stack",
    "kmeans_maps",
    "labels_from_ids",
    "labels_from_rgb",
    "match_signatures",
    "mineral_map",
    "mixed_pixels",
    "near_duplicates",
    "parse_rules",
    "pixel_accuracy",
    "plot_centroids",
    "plot_label_map",
    "resample_to_grid",
    "sample_mask",
    "scale_maps",
    "unmix_labels",
    "unmixed_abundance",
    "xrf_labels",
]
