"""Per-voxel grey-value baseline classifiers (what thresholding alone can do)."""

from __future__ import annotations

import numpy as np

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.segmentation.targets import IGNORE

__all__ = ["grey_value_baseline"]


def grey_value_baseline(image, sparse, *, method: str = "gmm", max_samples: int = 200_000,
                        seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """Classify every voxel by its grey value alone, trained on the same sparse labels.

    ``gmm``: a Gaussian mixture on grey values (scikit-learn), one component per class,
    started at the class means of the labelled voxels; each component is mapped to the
    class most of its labelled voxels carry. ``otsu``: multi-Otsu thresholds
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
    rng = make_rng(seed)
    labelled = np.flatnonzero(sparse.ravel() != IGNORE)
    if labelled.size == 0:
        raise InputError("sparse labels hold no labelled voxel (all 255)")
    if labelled.size > max_samples:
        labelled = rng.choice(labelled, size=max_samples, replace=False)
    g = image.ravel()[labelled].astype(np.float64)
    y = sparse.ravel()[labelled].astype(np.int64)
    classes = np.unique(y)
    if method == "gmm":
        from sklearn.mixture import GaussianMixture

        means = np.array([[g[y == c].mean()] for c in classes])
        gmm = GaussianMixture(n_components=len(classes), means_init=means, random_state=int(rng.integers(2**31)))
        gmm.fit(g[:, None])
        comp = gmm.predict(g[:, None])
        n_comp = len(classes)
        predict_all = lambda values: gmm.predict(values[:, None])  # noqa: E731
    elif method == "otsu":
        from skimage.filters import threshold_multiotsu

        thresholds = threshold_multiotsu(g, classes=min(len(classes), 5))
        comp = np.digitize(g, thresholds)
        n_comp = len(thresholds) + 1
        predict_all = lambda values: np.digitize(values, thresholds)  # noqa: E731
    else:
        raise InputError(f"method={method!r}; expected 'gmm' or 'otsu'")
    # component -> majority class of its labelled voxels
    table = np.zeros((n_comp, len(classes)), dtype=np.int64)
    np.add.at(table, (comp, np.searchsorted(classes, y)), 1)
    mapping = classes[table.argmax(1)].astype(np.uint8)
    out = np.empty(image.size, dtype=np.uint8)
    flat = image.ravel()
    step = 4_000_000
    for i in range(0, flat.size, step):
        out[i:i + step] = mapping[predict_all(flat[i:i + step].astype(np.float64))]
    return out.reshape(image.shape)
