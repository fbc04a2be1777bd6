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
:func:`assign_explicit`, :func:`mineral_map`, :func:`unmix_labels` (mixed pixels labelled by their
majority member), and the checks :func:`confusion_table`,
:func:`accuracy_table`, :func:`compare_abundance`; plots :func:`plot_centroids`, :func:`plot_label_map`.
"""

from liberation._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
