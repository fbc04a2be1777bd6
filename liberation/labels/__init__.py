"""2D ground truth: mineral labels from micro-XRF element maps (K-means) and SEM/MLA mineral maps.

Functions over numpy arrays, no file I/O (readers are in :mod:`liberation.io.xrf` and
:mod:`liberation.io.sem`)::

    from liberation.labels import xrf_labels, pixel_accuracy
    result = xrf_labels(maps, n_clusters=6, pixel_size_um=40.0, reference=signatures, seed=0)
    result.labels          # uint8 (y, x), 0 = outside, 1.. minerals
    result.centroids       # Table 2 of Deep-XFCT: centroid per cluster in input units, mineral, %
    result.assignment.table  # distances and doubtful flags of the matching

Steps, each usable alone: :func:`denoise_maps` (bilateral, Na and Mg by default),
:func:`scale_maps`, :func:`sample_mask`, :func:`feature_stack`, :func:`kmeans_maps`
(:func:`choose_n_clusters`), :func:`match_signatures` / :func:`assign_by_rules` /
:func:`assign_explicit`, :func:`mineral_map`, and the checks :func:`confusion_table`,
:func:`accuracy_table`, :func:`compare_abundance`; plots :func:`plot_centroids`, :func:`plot_label_map`.
"""

from __future__ import annotations

from liberation.labels.assign import (
    Assignment,
    assign_by_rules,
    assign_explicit,
    check_reference,
    match_signatures,
    mineral_map,
    parse_rules,
)
from liberation.labels.features import FeatureStack, feature_stack, resample_to_grid
from liberation.labels.kmeans import ClusterResult, choose_n_clusters, cluster_features, kmeans_maps
from liberation.labels.plots import plot_centroids, plot_label_map
from liberation.labels.preprocess import (
    check_maps,
    denoise_bilateral_map,
    denoise_maps,
    estimate_noise,
    sample_mask,
    scale_maps,
)
from liberation.labels.sem import check_colors, labels_from_ids, labels_from_rgb
from liberation.labels.validate import (
    abundance_table,
    accuracy_table,
    compare_abundance,
    confusion_matrix,
    confusion_table,
    pixel_accuracy,
)
from liberation.labels.workflow import LabelResult, xrf_labels

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
    "estimate_noise",
    "feature_stack",
    "kmeans_maps",
    "labels_from_ids",
    "labels_from_rgb",
    "match_signatures",
    "mineral_map",
    "parse_rules",
    "pixel_accuracy",
    "plot_centroids",
    "plot_label_map",
    "resample_to_grid",
    "sample_mask",
    "scale_maps",
    "xrf_labels",
]
