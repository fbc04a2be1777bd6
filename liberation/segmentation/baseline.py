"""Per-voxel grey-value baseline classifiers (what thresholding alone can do)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.segmentation.targets import IGNORE

__all__ = ["GreyGMM", "fit_grey_gmm", "grey_gmm_classifier", "grey_value_baseline"]

#: Raw score of the winning class in the trees of :func:`grey_gmm_classifier` (probability ~1).
_SCORE = 20.0


@dataclass
class GreyGMM:
    """A Gaussian mixture on grey values with each component mapped to a label (see :func:`fit_grey_gmm`).

    Attributes
    ----------
    gmm : sklearn.mixture.GaussianMixture
        One component per class, fitted on the labelled grey values.
    mapping : ndarray of uint8, shape (n_components,)
        Label value of each component (the majority label of its labelled voxels).
    classes : ndarray of uint8
        The label values of the training voxels.
    lo, hi : float
        Range of the training grey values.
    """

    gmm: object
    mapping: np.ndarray
    classes: np.ndarray
    lo: float
    hi: float

    def predict(self, values) -> np.ndarray:
        """Label values, shape (n,), of grey values ``values`` (n,), in the units it was fitted in."""
        values = np.asarray(values, dtype=np.float64).ravel()
        out = np.empty(values.size, dtype=np.uint8)
        step = 4_000_000
        for i in range(0, values.size, step):
            out[i:i + step] = self.mapping[self.gmm.predict(values[i:i + step, None])]
        return out

    def intervals(self, *, points: int = 20001) -> tuple[np.ndarray, np.ndarray]:
        """The mixture's decision as intervals of grey value.

        The decision is evaluated on ``points`` values evenly spaced over the training range
        widened by its width on both sides; a boundary sits half-way between two grid values
        whose labels differ (error at most half a grid step, ``3 (hi - lo) / (points - 1) / 2``).

        Returns
        -------
        breaks : ndarray of float, shape (m,)
            Increasing boundaries.
        labels : ndarray of uint8, shape (m + 1,)
            Label of ``x <= breaks[0]``, of each ``breaks[i] < x <= breaks[i + 1]``, of ``x > breaks[-1]``.
        """
        span = max(self.hi - self.lo, 1e-9)
        grid = np.linspace(self.lo - span, self.hi + span, int(points))
        lab = self.predict(grid)
        change = np.flatnonzero(lab[1:] != lab[:-1])
        breaks = 0.5 * (grid[change] + grid[change + 1])
        return breaks, np.concatenate([lab[:1], lab[change + 1]])


def fit_grey_gmm(values, labels, *, max_samples: int = 200_000, seed: int | np.random.Generator | None = 0) -> GreyGMM:
    """Fit a Gaussian mixture on the grey values of labelled voxels (one component per class).

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Grey values of the labelled voxels (any units; predict in the same units).
    labels : array-like of int, shape (n,)
        Their label values.
    max_samples : int
        At most this many voxels are used (a random subset).
    seed : int or Generator

    Returns
    -------
    GreyGMM
        Components started at the class means, each mapped to the class most of its voxels carry.
    """
    from sklearn.mixture import GaussianMixture

    rng = make_rng(seed)
    g = np.asarray(values, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(np.int64).ravel()
    if g.size != y.size or g.size == 0:
        raise InputError(f"values ({g.size}) and labels ({y.size}) must be equally long and not empty")
    if g.size > max_samples:
        keep = rng.choice(g.size, size=int(max_samples), replace=False)
        g, y = g[keep], y[keep]
    classes = np.unique(y)
    means = np.array([[g[y == c].mean()] for c in classes])
    gmm = GaussianMixture(n_components=len(classes), means_init=means, random_state=int(rng.integers(2**31)))
    gmm.fit(g[:, None])
    comp = gmm.predict(g[:, None])
    table = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(table, (comp, np.searchsorted(classes, y)), 1)
    mapping = classes[table.argmax(1)].astype(np.uint8)
    return GreyGMM(gmm=gmm, mapping=mapping, classes=classes.astype(np.uint8), lo=float(g.min()), hi=float(g.max()))


def grey_gmm_classifier(model: GreyGMM, norm: dict, *, info: dict | None = None):
    """The grey-value mixture as a :class:`~liberation.segmentation.pixel_classifier.PixelClassifier`.

    The mixture's decision intervals (:meth:`GreyGMM.intervals`; ``model`` fitted on grey
    values normalised by ``norm``) become trees on the classifier's first feature, the
    normalised grey value, so a model folder stores and ``segment`` applies it like the pixel
    classifier (no pickle, slab by slab). Its probabilities are hard (about 0 or 1).

    Parameters
    ----------
    model : GreyGMM
        Fitted on normalised grey values (:func:`liberation.segmentation.normalize.apply_normalization`).
    norm : dict
        That normalisation.
    info : dict, optional
        Training record stored with it.

    Returns
    -------
    PixelClassifier
        ``model`` a :class:`~liberation.segmentation.pixel_classifier.TreeEnsemble`, ``sigmas``
        (0.7,) (the filters are computed, only the grey value is used), ``info["method"] = "grey-gmm"``.
    """
    from liberation.segmentation.pixel_classifier import PixelClassifier, TreeEnsemble

    breaks, labels = model.intervals()
    classes = np.asarray(model.classes, dtype=np.int64)
    if len(classes) < 2:
        raise InputError(f"the labels hold a single class ({int(classes[0])}); a classifier needs at least two")
    trees = [(labels == classes[1]) * 2.0 * _SCORE - _SCORE] if len(classes) == 2 else \
        [(labels == c) * _SCORE for c in classes]
    fields = {k: [] for k in ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right",
                              "is_leaf")}
    offsets = [0]

    def add(values, i, j):  # a balanced tree over the intervals i..j; returns the node index in its tree
        node = len(fields["value"]) - offsets[-1]
        for key in fields:
            fields[key].append(0)
        at = offsets[-1] + node
        if i == j:
            fields["value"][at] = float(values[i])
            fields["is_leaf"][at] = 1
            return node
        mid = (i + j) // 2
        fields["num_threshold"][at] = float(breaks[mid])
        fields["missing_go_to_left"][at] = 1
        fields["left"][at] = add(values, i, mid)
        fields["right"][at] = add(values, mid + 1, j)
        return node

    for values in trees:
        add(values, 0, len(labels) - 1)
        offsets.append(len(fields["value"]))
    dtypes = {"value": np.float64, "feature_idx": np.uint32, "num_threshold": np.float64,
              "missing_go_to_left": np.uint8, "left": np.uint32, "right": np.uint32, "is_leaf": np.uint8}
    nodes = {k: np.asarray(v, dtype=dtypes[k]) for k, v in fields.items()}
    baseline = np.zeros(1 if len(classes) == 2 else len(classes))
    ensemble = TreeEnsemble(nodes, offsets, baseline, classes)
    record = {"method": "grey-gmm",
              "description": "Gaussian mixture on the normalised grey value (one component per class), stored as "
                             "its decision intervals",
              "breaks": [float(b) for b in breaks], "interval_labels": [int(v) for v in labels], **(info or {})}
    return PixelClassifier(model=ensemble, class_ids=[int(c) for c in classes], sigmas=(0.7,), norm=dict(norm),
                           info=record)


def grey_value_baseline(image, sparse, *, method: str = "gmm", max_samples: int = 200_000,
                        seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Classify every voxel by its grey value alone, trained on the same sparse labels.

    ``gmm``: a Gaussian mixture on grey values (scikit-learn, :func:`fit_grey_gmm`), one
    component per class, started at the class means of the labelled voxels; each component
    is mapped to the class most of its labelled voxels carry. ``otsu``: multi-Otsu thresholds
    (scikit-image) with one class per interval, mapped the same way.

    Parameters
    ----------
    image : ndarray, shape (z, y, x)
        CT grey values.
    sparse : ndarray of uint8, shape (z, y, x)
        Labels, 255 = unlabelled.
    method : {"gmm", "otsu"}
    max_samples : int
        Labelled voxels used for fitting.
    seed : int or Generator

    Returns
    -------
    ndarray of uint8, shape (z, y, x)
        Predicted label values.
    """
    image = np.asarray(image, dtype=np.float32)
    sparse = np.asarray(sparse)
    if image.shape != sparse.shape:
        raise InputError(f"image shape {image.shape} and sparse shape {sparse.shape} must match")
    if method not in ("gmm", "otsu"):
        raise InputError(f"method={method!r}; expected 'gmm' or 'otsu'")
    rng = make_rng(seed)
    labelled = np.flatnonzero(sparse.ravel() != IGNORE)
    if labelled.size == 0:
        raise InputError("sparse labels hold no labelled voxel (all 255)")
    if labelled.size > max_samples:
        labelled = rng.choice(labelled, size=max_samples, replace=False)
    g = image.ravel()[labelled].astype(np.float64)
    y = sparse.ravel()[labelled].astype(np.int64)
    if method == "gmm":
        return fit_grey_gmm(g, y, max_samples=max_samples, seed=rng).predict(image.ravel()).reshape(image.shape)
    from skimage.filters import threshold_multiotsu

    classes = np.unique(y)
    thresholds = threshold_multiotsu(g, classes=min(len(classes), 5))
    comp = np.digitize(g, thresholds)
    # component -> majority class of its labelled voxels
    table = np.zeros((len(thresholds) + 1, len(classes)), dtype=np.int64)
    np.add.at(table, (comp, np.searchsorted(classes, y)), 1)
    mapping = classes[table.argmax(1)].astype(np.uint8)
    out = np.empty(image.size, dtype=np.uint8)
    flat = image.ravel()
    step = 4_000_000
    for i in range(0, flat.size, step):
        out[i:i + step] = mapping[np.digitize(flat[i:i + step].astype(np.float64), thresholds)]
    return out.reshape(image.shape)
