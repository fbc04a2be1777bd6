"""An ilastik-style per-voxel classifier on multi-scale filter features, and the bootstrap labels it makes.

Process mineralogists often segment CT phases with a pixel classifier (ilastik, Weka):
a gradient-boosted or random-forest classifier on Gaussian-smoothed grey value, local
standard deviation, gradient magnitude and Laplacian of Gaussian at a few scales. Trained
on the labelled planes it separates minerals of equal grey value by texture, and it
needs no GPU. Here it has two jobs:

- a strong classical baseline next to the U-Net (:func:`train_pixel_classifier`,
  :func:`predict_pixel_classifier`);
- a *bootstrap* for the U-Net (:func:`bootstrap_phase_labels`): its confident
  predictions on a few evenly spaced unlabelled planes become extra training labels, so
  the 3D network sees interior planes with real context on both sides instead of only
  the end faces, whose context beyond the face is a mirror image. The true labels are
  never replaced, validation stays on true labels only, and the extra labels are recorded
  in the model card.

Features are computed slab by slab with a halo (bounded memory on zarr volumes); a plane's
features equal those of ``scipy.ndimage`` filters over the whole volume (``mode="reflect"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.patches import labelled_planes
from liberation.segmentation.targets import IGNORE

__all__ = [
    "FEATURE_SIGMAS",
    "PixelClassifier",
    "bootstrap_phase_labels",
    "feature_names",
    "filter_features",
    "plane_features",
    "predict_pixel_classifier",
    "train_pixel_classifier",
]

#: Default scales (voxels) of the filter features.
FEATURE_SIGMAS = (0.7, 1.0, 1.6, 2.5)
_TRUNCATE = 4.0  # scipy.ndimage default


def feature_names(sigmas=FEATURE_SIGMAS) -> list[str]:
    """Names of the feature channels of :func:`filter_features`, in order."""
    names = ["grey"]
    for s in sigmas:
        names += [f"gauss{s:g}", f"std{s:g}", f"gradient{s:g}", f"log{s:g}"]
    return names


def filter_features(block, *, sigmas=FEATURE_SIGMAS, plane: int | None = None) -> np.ndarray:
    """Multi-scale filter features of a (normalised) block.

    Parameters
    ----------
    block : ndarray, shape (z, y, x)
        Grey values, already normalised (about 0..1).
    sigmas : sequence of float
        Gaussian scales in voxels.
    plane : int, optional
        Keep only this z plane of every filter response (memory of one plane of
        features instead of the whole block).

    Returns
    -------
    ndarray of float32, shape (z, y, x, 1 + 4 * len(sigmas)), or (y, x, F) with ``plane``
        Grey value, then per sigma: Gaussian, local standard deviation (Gaussian window),
        gradient magnitude and Laplacian of Gaussian (``scipy.ndimage``, ``mode="reflect"``).
    """
    block = np.asarray(block, dtype=np.float32)
    if block.ndim != 3:
        raise InputError(f"block has shape {block.shape}; expected (z, y, x)")
    keep = (slice(None),) if plane is None else (int(plane),)
    shape = block[keep].shape
    out = np.empty(shape + (1 + 4 * len(sigmas),), dtype=np.float32)
    out[..., 0] = block[keep]
    square = block * block
    for i, s in enumerate(sigmas):
        mean = ndimage.gaussian_filter(block, s)[keep]
        out[..., 1 + 4 * i] = mean
        out[..., 2 + 4 * i] = np.sqrt(np.maximum(ndimage.gaussian_filter(square, s)[keep] - mean * mean, 0.0))
        out[..., 3 + 4 * i] = ndimage.gaussian_gradient_magnitude(block, s)[keep]
        out[..., 4 + 4 * i] = ndimage.gaussian_laplace(block, s)[keep]
    return out


def _halo(sigmas) -> int:
    # radius of scipy's Gaussian kernels (derivative filters use the same radius)
    return int(_TRUNCATE * float(max(sigmas)) + 0.5) + 1


def plane_features(image, z_indices, norm: dict, *, sigmas=FEATURE_SIGMAS) -> np.ndarray:
    """Features of some z planes, computed on slabs with a halo (never the whole volume at once).

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values (numpy or zarr).
    z_indices : sequence of int
        Planes wanted.
    norm : dict
        Normalisation (:func:`~liberation.segmentation.normalize.robust_percentiles`).
    sigmas : sequence of float
        Feature scales in voxels.

    Returns
    -------
    ndarray of float32, shape (len(z_indices), y, x, n_features)
        Equal to ``filter_features`` of the whole normalised volume at those planes.
    """
    nz = int(image.shape[0])
    halo = _halo(sigmas)
    planes = [int(z) for z in z_indices]
    if any(not 0 <= z < nz for z in planes):
        raise InputError(f"z_indices={planes!r} must lie in 0..{nz - 1}")
    out = np.empty((len(planes),) + tuple(image.shape[1:]) + (1 + 4 * len(sigmas),), dtype=np.float32)
    for i, z in enumerate(planes):
        # the whole-volume filter reflects at the volume ends (scipy "reflect" = numpy
        # "symmetric", the edge voxel repeated): index the slab the same way
        index = np.pad(np.arange(nz), halo, mode="symmetric")[z:z + 2 * halo + 1]
        first, last = int(index.min()), int(index.max())
        slab = apply_normalization(np.asarray(image[first:last + 1]), norm)[index - first]
        out[i] = filter_features(slab, sigmas=sigmas, plane=halo)
    return out


@dataclass
class PixelClassifier:
    """A trained per-voxel classifier (see :func:`train_pixel_classifier`).

    Attributes
    ----------
    model : sklearn estimator
        ``HistGradientBoostingClassifier`` on the feature channels.
    class_ids : list of int
        Label values the classes stand for (``model.classes_``).
    sigmas : tuple of float
        Feature scales in voxels.
    norm : dict
        Grey-value normalisation.
    info : dict
        Training record (samples, planes, seconds).
    """

    model: object
    class_ids: list
    sigmas: tuple
    norm: dict
    info: dict = field(default_factory=dict)


def train_pixel_classifier(image, sparse, *, sigmas=FEATURE_SIGMAS, norm: dict | None = None,
                           max_samples: int = 200_000, max_iter: int = 200,
                           seed: int | np.random.Generator | None = 0) -> PixelClassifier:
    """Train a gradient-boosted per-voxel classifier on the labelled voxels.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values.
    sparse : array-like of uint8, shape (z, y, x)
        Labels, 255 = unlabelled.
    sigmas : sequence of float
        Feature scales in voxels.
    norm : dict, optional
        Normalisation; default robust percentiles (0.5, 99.5) of ``image``.
    max_samples : int
        At most this many labelled voxels are used (a random subset).
    max_iter : int
        Boosting iterations.
    seed : int or Generator
        Seed of the subsampling and of the classifier.

    Returns
    -------
    PixelClassifier
    """
    import time

    from sklearn.ensemble import HistGradientBoostingClassifier

    if tuple(image.shape) != tuple(sparse.shape) or len(image.shape) != 3:
        raise InputError(f"image shape {tuple(image.shape)} and sparse shape {tuple(sparse.shape)} must be equal (z, y, x)")
    if int(max_samples) < 10:
        raise InputError(f"max_samples={max_samples!r}; expected at least 10")
    rng = make_rng(seed)
    t0 = time.perf_counter()
    norm = norm or robust_percentiles(image, seed=rng)
    planes = labelled_planes(sparse)
    if not planes:
        raise InputError("sparse holds no labelled voxels (all 255); label at least one plane")
    xs, ys = [], []
    for z in planes:
        labels = np.asarray(sparse[z])
        mask = labels != IGNORE
        xs.append(plane_features(image, [z], norm, sigmas=sigmas)[0][mask])
        ys.append(labels[mask])
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    if len(np.unique(y)) < 2:
        raise InputError(f"the labels hold a single class ({int(y[0])}); a classifier needs at least two")
    if len(y) > max_samples:
        keep = rng.choice(len(y), size=int(max_samples), replace=False)
        x, y = x[keep], y[keep]
    model = HistGradientBoostingClassifier(max_iter=int(max_iter), random_state=int(rng.integers(2**31 - 1)))
    model.fit(x, y)
    info = {"samples": int(len(y)), "planes": planes, "features": feature_names(sigmas),
            "seconds": time.perf_counter() - t0}
    return PixelClassifier(model=model, class_ids=[int(c) for c in model.classes_], sigmas=tuple(float(s) for s in sigmas),
                           norm=norm, info=info)


def predict_pixel_classifier(image, classifier: PixelClassifier, z_indices) -> tuple[np.ndarray, np.ndarray]:
    """Classify whole z planes.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values.
    classifier : PixelClassifier
    z_indices : sequence of int
        Planes to classify.

    Returns
    -------
    labels : ndarray of uint8, shape (n, y, x)
        Predicted label values.
    confidence : ndarray of float32, shape (n, y, x)
        Probability of the predicted class.
    """
    planes = [int(z) for z in z_indices]
    shape = (len(planes),) + tuple(image.shape[1:])
    labels = np.empty(shape, dtype=np.uint8)
    confidence = np.empty(shape, dtype=np.float32)
    ids = np.asarray(classifier.class_ids, dtype=np.uint8)
    for i, z in enumerate(planes):
        feats = plane_features(image, [z], classifier.norm, sigmas=classifier.sigmas)[0]
        prob = classifier.model.predict_proba(feats.reshape(-1, feats.shape[-1]))
        best = prob.argmax(axis=1)
        labels[i] = ids[best].reshape(shape[1:])
        confidence[i] = prob[np.arange(len(best)), best].reshape(shape[1:])
    return labels, confidence


def bootstrap_phase_labels(image, sparse, *, planes: int = 8, min_probability: float = 0.8,
                           sigmas=FEATURE_SIGMAS, norm: dict | None = None, val_labels=None,
                           seed: int | np.random.Generator | None = 0,
                           classifier: PixelClassifier | None = None) -> tuple[np.ndarray, dict]:
    """Extra training labels on unlabelled planes from a pixel classifier trained on ``sparse``.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values.
    sparse : array-like of uint8, shape (z, y, x)
        The true training labels (255 = unlabelled). Pass only the *training* part when a
        validation part is held out, so the bootstrap does not see it.
    planes : int
        Number of evenly spaced z planes to label (planes holding true labels are skipped).
    min_probability : float
        Only voxels whose predicted class has at least this probability are kept.
    sigmas : sequence of float
        Feature scales in voxels.
    norm : dict, optional
        Grey-value normalisation (default robust percentiles of ``image``).
    val_labels : array-like of uint8, shape (z, y, x), optional
        Held-out true labels: the classifier's accuracy on them is recorded.
    seed : int or Generator
    classifier : PixelClassifier, optional
        A classifier already trained on ``sparse`` (then ``sigmas``, ``norm`` and ``seed``
        are not used): training shares it with its baseline.

    Returns
    -------
    labels : ndarray of uint8, shape (z, y, x)
        Bootstrap labels on the chosen planes, 255 elsewhere (true labels not included).
    info : dict
        Planes, fraction kept, class counts, the classifier's validation accuracy.
    """
    if int(planes) < 1:
        raise InputError(f"planes={planes!r}; expected a positive number of bootstrap planes")
    if not 0.0 <= float(min_probability) < 1.0:
        raise InputError(f"min_probability={min_probability!r}; expected 0 <= value < 1")
    if classifier is None:
        classifier = train_pixel_classifier(image, sparse, sigmas=sigmas, norm=norm, seed=seed)
    nz = int(image.shape[0])
    taken = set(labelled_planes(sparse))
    candidates = np.unique(np.linspace(0, nz - 1, int(planes) + 2).round().astype(int)[1:-1])
    chosen = [int(z) for z in candidates if int(z) not in taken]
    out = np.full(tuple(image.shape), IGNORE, dtype=np.uint8)
    kept = 0
    if chosen:
        labels, confidence = predict_pixel_classifier(image, classifier, chosen)
        confident = confidence >= float(min_probability)
        kept = int(confident.sum())
        out[chosen] = np.where(confident, labels, IGNORE)
    info = {"method": "pixel-classifier (HistGradientBoosting on multi-scale filter features)",
            "planes": chosen, "min_probability": float(min_probability),
            "kept_fraction": kept / max(1, len(chosen) * int(np.prod(image.shape[1:]))),
            "training_samples": classifier.info["samples"], "seconds": classifier.info["seconds"]}
    if val_labels is not None:
        vplanes = labelled_planes(val_labels)
        if vplanes:
            pred, _ = predict_pixel_classifier(image, classifier, vplanes)
            truth = np.stack([np.asarray(val_labels[z]) for z in vplanes])
            mask = truth != IGNORE
            info["validation_accuracy"] = float((pred[mask] == truth[mask]).mean())
    return out, info
