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

Features: the grey value and Gaussian, local standard deviation, gradient magnitude and
Laplacian of Gaussian at :data:`FEATURE_SIGMAS`, then the texture features named in
``PixelClassifier.texture`` (default
:data:`~liberation.segmentation.texture_features.TEXTURE_FEATURES`: least-variance windows,
which see the lamella texture next to grain boundaries; a classifier stored without texture
names uses the filter features alone). They are computed slab by slab with a halo (bounded
memory on zarr volumes); a plane's features equal those of the whole volume
(``scipy.ndimage`` filters, ``mode="reflect"``).

Auto-context (``train_pixel_classifier(..., context_sigmas=CONTEXT_SIGMAS)``, or
:func:`add_context_stage` on a trained one-stage classifier): a second classifier on the
features plus the first stage's class probabilities and their Gaussian smoothings (3D, or within
each z plane with ``context_axes="yx"``: no neighbour planes needed), trained on out-of-fold
first-stage probabilities (folds of labelled voxels by cubes); a plane's prediction still equals
a whole-volume run at that plane. ``train`` tries the in-plane form as a candidate (kept only
when it scores higher on the validation voxels).

Potts smoothing (``PixelClassifier.potts_weight`` > 0; session 9): the class probabilities of
each z plane are relaxed by a few mean-field iterations of an in-plane Potts model
(:func:`potts_mean_field`), which pulls a voxel toward the classes of its 8 neighbours and
straightens ragged phase boundaries; in-plane only, so a plane's prediction still needs that
plane alone. ``train`` chooses the weight (or none) on the validation voxels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from liberation._validation import make_rng
from liberation.errors import FileFormatError, InputError
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.patches import labelled_counts, labelled_planes
from liberation.segmentation.targets import IGNORE

__all__ = [
    "CLASSIFIER_ARRAYS",
    "CLASSIFIER_META",
    "CONTEXT_AXES",
    "CONTEXT_SIGMAS",
    "FEATURE_SIGMAS",
    "POTTS_ITERATIONS",
    "POTTS_WEIGHTS",
    "PixelClassifier",
    "TreeEnsemble",
    "add_context_stage",
    "bootstrap_phase_labels",
    "classify_labelled_voxels",
    "context_feature_names",
    "feature_names",
    "filter_features",
    "labelled_voxel_features",
    "load_pixel_classifier",
    "plane_features",
    "potts_mean_field",
    "predict_pixel_classifier",
    "predict_pixel_classifier_volume",
    "save_pixel_classifier",
    "train_pixel_classifier",
]

#: A z plane with at least this fraction of its voxels labelled gets no bootstrap labels.
TAKEN_FRACTION = 0.1

#: Default scales (voxels) of the filter features.
FEATURE_SIGMAS = (0.7, 1.0, 1.6, 2.5)
_TRUNCATE = 4.0  # scipy.ndimage default
#: Mean-field iterations of the Potts smoothing (:func:`potts_mean_field`).
POTTS_ITERATIONS = 5
#: Potts weights ``train`` scores on the validation voxels (log-probability units per unit of the
#: neighbours' mean probability; docs/segmentation.md "Potts smoothing (session 9)").
POTTS_WEIGHTS = (3.0, 6.0, 12.0)
_POTTS_FLOOR = 1e-4


def feature_names(sigmas=FEATURE_SIGMAS, texture=()) -> list[str]:
    """Names of the feature channels of :func:`filter_features`, in order (``texture`` last)."""
    names = ["grey"]
    for s in sigmas:
        names += [f"gauss{s:g}", f"std{s:g}", f"gradient{s:g}", f"log{s:g}"]
    return names + [str(t) for t in texture]


def filter_features(block, *, sigmas=FEATURE_SIGMAS, plane: int | slice | None = None, texture=(),
                    extended: bool = False) -> np.ndarray:
    """Multi-scale filter features of a (normalised) block.

    Parameters
    ----------
    block : ndarray, shape (z, y, x)
        Grey values, already normalised (about 0..1).
    sigmas : sequence of float
        Gaussian scales in voxels.
    plane : int or slice, optional
        Keep only this z plane (or these planes) of every filter response (memory of the
        kept planes of features instead of the whole block).
    texture : sequence of str
        Texture feature names appended after the filter features
        (:mod:`liberation.segmentation.texture_features`; default none: the original set).
    extended : bool
        The block already holds the texture features' halo beyond every kept plane (a slab
        cut from a longer volume, :func:`plane_features`): the texture features skip their
        own z extension.

    Returns
    -------
    ndarray of float32, shape (z, y, x, 1 + 4 * len(sigmas) + len(texture)), or (y, x, F) with an int ``plane``
        Grey value, then per sigma: Gaussian, local standard deviation (Gaussian window),
        gradient magnitude and Laplacian of Gaussian (``scipy.ndimage``, ``mode="reflect"``),
        then the texture features.
    """
    block = np.asarray(block, dtype=np.float32)
    if block.ndim != 3:
        raise InputError(f"block has shape {block.shape}; expected (z, y, x)")
    keep = (slice(None),) if plane is None else (plane,) if isinstance(plane, slice) else (int(plane),)
    shape = block[keep].shape
    n_basic = 1 + 4 * len(sigmas)
    out = np.empty(shape + (n_basic + len(texture),), dtype=np.float32)
    out[..., 0] = block[keep]
    square = block * block
    for i, s in enumerate(sigmas):
        mean = ndimage.gaussian_filter(block, s)[keep]
        out[..., 1 + 4 * i] = mean
        out[..., 2 + 4 * i] = np.sqrt(np.maximum(ndimage.gaussian_filter(square, s)[keep] - mean * mean, 0.0))
        out[..., 3 + 4 * i] = ndimage.gaussian_gradient_magnitude(block, s)[keep]
        out[..., 4 + 4 * i] = ndimage.gaussian_laplace(block, s)[keep]
    if len(texture):
        from liberation.segmentation.texture_features import texture_features

        out[..., n_basic:] = texture_features(block, texture, keep=keep, extended=extended)
    return out


def _halo(sigmas, texture=()) -> int:
    # radius of scipy's Gaussian kernels (derivative filters use the same radius); the texture
    # features nest two filters (their own halo)
    halo = int(_TRUNCATE * float(max(sigmas)) + 0.5) + 1
    if len(texture):
        from liberation.segmentation.texture_features import texture_halo

        halo = max(halo, texture_halo(texture))
    return halo


def plane_features(image, z_indices, norm: dict, *, sigmas=FEATURE_SIGMAS, texture=()) -> np.ndarray:
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
    texture : sequence of str
        Texture feature names (:func:`filter_features`).

    Returns
    -------
    ndarray of float32, shape (len(z_indices), y, x, n_features)
        Equal to ``filter_features`` of the whole normalised volume at those planes.
    """
    nz = int(image.shape[0])
    planes = [int(z) for z in z_indices]
    if any(not 0 <= z < nz for z in planes):
        raise InputError(f"z_indices={planes!r} must lie in 0..{nz - 1}")
    out = np.empty((len(planes),) + tuple(image.shape[1:]) + (1 + 4 * len(sigmas) + len(texture),), dtype=np.float32)
    where = {}
    for i, z in enumerate(planes):
        where.setdefault(z, []).append(i)
    for run, feats in _plane_runs(image, sorted(where), norm, sigmas=sigmas, texture=texture):
        for z, f in zip(run, feats):
            out[where[z]] = f
    return out


def _plane_runs(image, planes, norm: dict, *, sigmas=FEATURE_SIGMAS, texture=(), max_run: int | None = None):
    """Yield ``(run, features)`` for runs of consecutive planes of sorted ``planes``.

    One slab with a halo per run of consecutive z (a tilted labelled plane touches many
    consecutive planes: one slab instead of one per plane); runs are cut at ``max_run``
    planes (default about 2**22 voxels of features' planes) to bound memory.
    """
    nz = int(image.shape[0])
    halo = _halo(sigmas, texture)
    plane = int(np.prod(image.shape[1:]))
    max_run = int(max_run) if max_run is not None else max(1, (1 << 22) // max(1, plane))
    runs: list[list[int]] = []
    for z in planes:
        if runs and z == runs[-1][-1] + 1 and len(runs[-1]) < max_run:
            runs[-1].append(int(z))
        else:
            runs.append([int(z)])
    padded = np.pad(np.arange(nz), halo, mode="symmetric")
    for run in runs:
        z0, z1 = run[0], run[-1] + 1
        # the whole-volume filter reflects at the volume ends (scipy "reflect" = numpy
        # "symmetric", the edge voxel repeated): index the slab the same way
        index = padded[z0:z1 + 2 * halo]
        first, last = int(index.min()), int(index.max())
        slab = apply_normalization(np.asarray(image[first:last + 1]), norm)[index - first]
        yield run, filter_features(slab, sigmas=sigmas, plane=slice(halo, halo + z1 - z0), texture=texture,
                                   extended=True)


def labelled_voxel_features(image, sparse, norm: dict, *, sigmas=FEATURE_SIGMAS,
                            texture=()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features and labels of the labelled voxels, on planes in any position or orientation.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values (numpy or zarr).
    sparse : array-like of uint8, shape (z, y, x)
        Labels, 255 = unlabelled (a mask: any value != 255 counts).
    norm : dict
        Normalisation.
    sigmas : sequence of float
        Feature scales in voxels.
    texture : sequence of str
        Texture feature names (:func:`filter_features`).

    Returns
    -------
    features : ndarray of float32, shape (m, n_features)
    labels : ndarray of uint8, shape (m,)
    coords : ndarray of int, shape (m, 3)
        Voxel (z, y, x) of each row, in ``np.argwhere`` order.
    """
    sparse = np.asarray(sparse)
    planes = labelled_planes(sparse)
    xs, ys, cs = [], [], []
    for run, feats in _plane_runs(image, planes, norm, sigmas=sigmas, texture=texture):
        labels = sparse[run[0]:run[-1] + 1]
        mask = labels != IGNORE
        xs.append(feats[mask])
        ys.append(labels[mask])
        c = np.argwhere(mask)
        c[:, 0] += run[0]
        cs.append(c)
    n_feat = 1 + 4 * len(sigmas) + len(texture)
    if not xs:
        return np.zeros((0, n_feat), np.float32), np.zeros(0, np.uint8), np.zeros((0, 3), np.int64)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(cs)


def classify_labelled_voxels(image, classifier: PixelClassifier, sparse) -> tuple[np.ndarray, np.ndarray]:
    """Classify only the voxels labelled in ``sparse`` (e.g. a validation part on tilted planes).

    Returns
    -------
    predicted : ndarray of uint8, shape (m,)
        Predicted label values of the labelled voxels, in ``np.argwhere(sparse != 255)`` order.
    coords : ndarray of int, shape (m, 3)
    """
    weight = float(classifier.potts_weight or 0.0)
    preds, coords = _classify_labelled_potts(image, classifier, sparse, weights=(weight,),
                                             iterations=int(classifier.potts_iterations))
    return preds[weight], coords


def _classify_labelled_potts(image, classifier: PixelClassifier, sparse, *, weights,
                             iterations: int = POTTS_ITERATIONS) -> tuple[dict, np.ndarray]:
    """:func:`classify_labelled_voxels` for several Potts weights at once (stage 1 and 2 run once):
    ``({weight: predicted}, coords)``; weight 0 = no smoothing. ``classifier``'s own weight is ignored."""
    sparse = np.asarray(sparse)
    ids = np.asarray(classifier.class_ids, dtype=np.uint8)
    weights = [float(w) for w in weights]
    preds: dict = {w: [] for w in weights}
    cs = []
    for run, raw in _raw_proba_runs(image, classifier, labelled_planes(sparse)):
        mask = sparse[run[0]:run[-1] + 1] != IGNORE
        for w in weights:
            prob = potts_mean_field(raw, weight=w, iterations=iterations) if w > 0 else raw
            preds[w].append(ids[prob[mask].argmax(axis=1)])
        c = np.argwhere(mask)
        c[:, 0] += run[0]
        cs.append(c)
    if not cs:
        return {w: np.zeros(0, np.uint8) for w in weights}, np.zeros((0, 3), np.int64)
    return {w: np.concatenate(p) for w, p in preds.items()}, np.concatenate(cs)


#: Default smoothing scales (voxels) of the auto-context stage's probability features.
CONTEXT_SIGMAS = (1.0, 2.0)
_CONTEXT_TRUNCATE = 3.0


#: Axes the stage-1 probabilities are smoothed along: ``"zyx"`` in 3D, ``"yx"`` within each z plane.
CONTEXT_AXES = ("zyx", "yx")


def _context_radius(context_sigmas, axes: str = "zyx") -> int:
    """Planes of stage-1 probabilities needed on each side of a plane (0 for in-plane smoothing)."""
    if axes == "yx" or not len(context_sigmas):
        return 0
    return int(_CONTEXT_TRUNCATE * float(max(context_sigmas)) + 0.5)


def context_feature_names(class_ids, context_sigmas) -> list[str]:
    """Names of the auto-context channels after the features: ``p<id>``, then ``p<id>_s<sigma>`` per sigma."""
    names = [f"p{int(c)}" for c in class_ids]
    for s in context_sigmas:
        names += [f"p{int(c)}_s{float(s):g}" for c in class_ids]
    return names


def _proba_columns(model, x, class_ids) -> np.ndarray:
    """``model.predict_proba(x)`` in ``class_ids`` column order (a class the model never saw: 0)."""
    prob = model.predict_proba(x)
    classes = [int(c) for c in model.classes_]
    if classes == [int(c) for c in class_ids]:
        return prob.astype(np.float32, copy=False)
    out = np.zeros((len(x), len(class_ids)), np.float32)
    for j, c in enumerate(class_ids):
        if int(c) in classes:
            out[:, j] = prob[:, classes.index(int(c))]
    return out


def _context_runs(image, planes, norm, *, sigmas, texture, models, class_ids, context_sigmas, axes="zyx",
                  need=None, cache: dict | None = None):
    """Yield ``(run, features, contexts)`` per run of consecutive sorted ``planes``: the features of
    the run's planes and, per stage-1 model of ``models``, its auto-context channels there.

    The stage-1 probabilities are computed on the run's planes plus ``_context_radius`` planes on
    each side (z indices reflected at the volume ends, as the whole-volume filters are), then
    smoothed in 3D (``scipy.ndimage.gaussian_filter``, ``mode="reflect"``) or in-plane (``axes="yx"``,
    no extra planes): every plane equals a whole-volume computation at that plane.

    ``need`` (bool, the volume's shape, optional): stage 1 runs only on these voxels (0 elsewhere);
    the contexts are then exact only where the smoothing windows see needed voxels alone (training:
    the labelled voxels dilated by the window radius).

    ``cache`` (dict, optional; prediction only, without ``need``): z -> the stage-1 probabilities of
    that plane per model, read for the context planes it holds and filled with those computed (a
    volume predicted chunk by chunk computes each plane's stage 1 once, not once per chunk whose
    smoothing window reaches it); the caller drops planes it no longer needs.
    """
    nz = int(image.shape[0])
    r = _context_radius(context_sigmas, axes)
    n_f = 1 + 4 * len(sigmas) + len(texture)
    runs: list[list[int]] = []
    for z in planes:
        if runs and z == runs[-1][-1] + 1:
            runs[-1].append(int(z))
        else:
            runs.append([int(z)])
    padded = np.pad(np.arange(nz), r, mode="symmetric")
    for run in runs:
        index = padded[run[0]:run[-1] + 1 + 2 * r]
        unique = sorted({int(z) for z in index})
        at = {z: i for i, z in enumerate(unique)}
        shape = (len(unique),) + tuple(image.shape[1:])
        # features kept for the run's planes only (the context planes need only their probabilities)
        feats = np.empty((len(run),) + shape[1:] + (n_f,), np.float32)
        probs = [np.empty(shape + (len(class_ids),), np.float32) for _ in models]
        # planes whose stage-1 probabilities are cached: copied; of those, only the run's own planes need
        # their features (stage 2)
        cached = set() if cache is None or need is not None else {z for z in unique if z in cache}
        for z in cached:
            for p, c in zip(probs, cache[z]):
                p[at[z]] = c
        wanted = [z for z in unique if z not in cached or run[0] <= z <= run[-1]]
        for sub, f in _plane_runs(image, wanted, norm, sigmas=sigmas, texture=texture):
            i0 = at[sub[0]]
            for j, z in enumerate(sub):
                if run[0] <= z <= run[-1]:
                    feats[z - run[0]] = f[j]
            if cached and any(int(z) in cached for z in sub):
                new = [j for j, z in enumerate(sub) if int(z) not in cached]
                if new:
                    flat = f[new].reshape(-1, n_f)
                    for m, p in zip(models, probs):
                        prob = _proba_columns(m, flat, class_ids).reshape((len(new),) + f.shape[1:-1] + (-1,))
                        for k, j in enumerate(new):
                            p[at[sub[j]]] = prob[k]
                    for j in new:
                        cache[int(sub[j])] = [p[at[sub[j]]].copy() for p in probs]
                continue
            flat = f.reshape(-1, n_f)
            sel = None if need is None else np.flatnonzero(np.asarray(need[sub[0]:sub[-1] + 1]).ravel())
            for m, p in zip(models, probs):
                if sel is None:
                    p[i0:i0 + len(sub)] = _proba_columns(m, flat, class_ids).reshape(f.shape[:-1] + (-1,))
                else:
                    block = np.zeros((len(flat), len(class_ids)), np.float32)
                    if len(sel):
                        block[sel] = _proba_columns(m, flat[sel], class_ids)
                    p[i0:i0 + len(sub)] = block.reshape(f.shape[:-1] + (-1,))
            if cache is not None and need is None:
                for z in sub:
                    cache[int(z)] = [p[at[z]].copy() for p in probs]
        rows = [at[int(z)] for z in index]
        centre = slice(r, r + len(run))
        contexts = []
        for p in probs:
            slab = p[rows]
            chans = [slab[centre]]
            for s in context_sigmas:
                sz = 0.0 if axes == "yx" else s
                chans.append(ndimage.gaussian_filter(slab, (sz, s, s, 0), mode="reflect",
                                                     truncate=_CONTEXT_TRUNCATE)[centre])
            contexts.append(np.concatenate(chans, axis=-1))
        yield run, feats, contexts


def potts_mean_field(prob, *, weight: float, iterations: int = POTTS_ITERATIONS) -> np.ndarray:
    """Relax class probabilities by mean-field iterations of an in-plane Potts model.

    ``q <- softmax(log(max(p, 1e-4)) + weight * m)``, starting from ``q = p``, where ``m`` is the
    mean of ``q`` over the 8 in-plane neighbours of each voxel (edges: the nearest voxel
    repeated, ``scipy.ndimage.uniform_filter(mode="nearest")``). A voxel whose neighbours agree
    on a class gains up to ``weight`` in log-odds toward it: isolated wrong voxels and ragged
    boundaries are smoothed, a class region wider than a few voxels with confident
    probabilities keeps its shape.

    Parameters
    ----------
    prob : array-like of float, shape (..., y, x, n_classes)
        Class probabilities of one or more z planes (each plane relaxed on its own).
    weight : float
        Coupling in log-probability units (>= 0; 0 returns ``prob`` unchanged).
    iterations : int
        Mean-field iterations (>= 0).

    Returns
    -------
    ndarray of float32, shape of ``prob``
        Relaxed probabilities (each voxel's sum is 1).
    """
    p = np.asarray(prob, dtype=np.float32)
    weight, iterations = float(weight), int(iterations)
    if not weight >= 0 or iterations < 0:
        raise InputError(f"weight={weight!r}, iterations={iterations!r}; expected weight >= 0 and iterations >= 0")
    if p.ndim < 3:
        raise InputError(f"prob has shape {p.shape}; expected (..., y, x, n_classes)")
    if weight == 0 or iterations == 0:
        return p
    log_p = np.log(np.maximum(p, _POTTS_FLOOR))
    size = (1,) * (p.ndim - 3) + (3, 3, 1)
    q = p
    for _ in range(iterations):
        # mean of the 8 in-plane neighbours: the 3x3 mean without the voxel itself
        m = (ndimage.uniform_filter(q, size, mode="nearest") * 9.0 - q) / 8.0
        z = log_p + weight * m
        z -= z.max(axis=-1, keepdims=True)
        q = np.exp(z)
        q /= q.sum(axis=-1, keepdims=True)
    return q.astype(np.float32, copy=False)


def _smoothed(classifier, prob) -> np.ndarray:
    """``prob`` (planes, y, x, n_classes) after ``classifier``'s Potts smoothing (unchanged without one)."""
    weight = float(getattr(classifier, "potts_weight", 0.0) or 0.0)
    if weight <= 0:
        return prob
    return potts_mean_field(prob, weight=weight, iterations=int(classifier.potts_iterations))


#: Voxels of planes per chunk of a two-stage prediction (memory bound; a module attribute so tests can
#: force one-plane chunks).
_CONTEXT_RUN_VOXELS = 1 << 22


def _proba_runs(image, classifier: PixelClassifier, planes, cache: dict | None = None):
    """Yield ``(run, probabilities)`` per run of consecutive sorted ``planes``: shape (len(run), y, x,
    n_classes), columns in ``classifier.class_ids`` order; two stages with an auto-context model, then
    the classifier's in-plane Potts smoothing (if any)."""
    for run, prob in _raw_proba_runs(image, classifier, planes, cache=cache):
        yield run, _smoothed(classifier, prob)


def _raw_proba_runs(image, classifier: PixelClassifier, planes, cache: dict | None = None):
    """:func:`_proba_runs` without the Potts smoothing."""
    planes = sorted({int(z) for z in planes})
    if classifier.context_model is None:
        for run, feats in _plane_runs(image, planes, classifier.norm, sigmas=classifier.sigmas,
                                      texture=classifier.texture):
            prob = _proba_columns(classifier.model, feats.reshape(-1, feats.shape[-1]), classifier.class_ids)
            yield run, prob.reshape(feats.shape[:-1] + (-1,))
        return
    # bound memory: runs of about _CONTEXT_RUN_VOXELS voxels of planes
    step = max(1, _CONTEXT_RUN_VOXELS // max(1, int(np.prod(image.shape[1:]))))
    chunks, cur = [], []
    for z in planes:
        if cur and (z != cur[-1] + 1 or len(cur) >= step):
            chunks.append(cur)
            cur = []
        cur.append(z)
    if cur:
        chunks.append(cur)
    # stage-1 probabilities of the planes within the smoothing reach, kept from one chunk to the next (and
    # from one call to the next when the caller passes its own ``cache``: a volume predicted slab by slab)
    cache = {} if cache is None else cache
    r = _context_radius(classifier.context_sigmas, classifier.context_axes)
    for chunk in chunks:
        for z in [z for z in cache if z < chunk[0] - r or z > chunk[-1] + r]:
            del cache[z]
        for run, feats, (ctx,) in _context_runs(image, chunk, classifier.norm, sigmas=classifier.sigmas,
                                                texture=classifier.texture, models=[classifier.model],
                                                class_ids=classifier.class_ids,
                                                context_sigmas=classifier.context_sigmas,
                                                axes=classifier.context_axes, cache=cache if r else None):
            x = np.concatenate([feats, ctx], axis=-1)
            prob = _proba_columns(classifier.context_model, x.reshape(-1, x.shape[-1]), classifier.class_ids)
            yield run, prob.reshape(x.shape[:-1] + (-1,))


def _fit_context_stage(image, sparse, classifier: PixelClassifier, *, context_sigmas, folds: int, block: int,
                       max_samples: int, max_iter: int, rng, fold_iter: int | None = None,
                       labelled=None, axes: str = "zyx") -> tuple[object, dict]:
    """Train the auto-context stage on out-of-fold stage-1 probabilities.

    The labelled voxels are split into ``folds`` folds by cubes of ``block`` voxels (a random fold
    per cube); one stage-1 classifier per fold is trained without that fold, and its
    probabilities (and their smoothings) are the context features of that fold's voxels, so the
    second stage learns from stage-1 probabilities of voxels stage 1 did not see (up to the
    smoothing window crossing a cube's edge).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    sparse = np.asarray(sparse)
    if labelled is None:
        labelled = labelled_voxel_features(image, sparse, classifier.norm, sigmas=classifier.sigmas,
                                           texture=classifier.texture)
    x, y, coords = labelled
    grid = tuple(-(-int(n) // block) for n in sparse.shape)
    cube_fold = rng.integers(int(folds), size=int(np.prod(grid)))
    cube = np.ravel_multi_index(tuple((coords // block).T), grid)
    fold = cube_fold[cube]
    if len(np.unique(fold)) < int(folds):
        # a fold without voxels (few cubes hold labels: a small volume): deal the occupied cubes
        # out in turn, or the voxels themselves when there are fewer cubes than folds
        occupied = np.unique(cube)
        if len(occupied) >= int(folds):
            turn = np.empty(int(np.prod(grid)), np.int64)
            turn[occupied[rng.permutation(len(occupied))]] = np.arange(len(occupied)) % int(folds)
            fold = turn[cube]
        else:
            fold = rng.permutation(len(y)) % int(folds)
    if len(y) > max_samples:
        keep = np.sort(rng.choice(len(y), size=int(max_samples), replace=False))
        x, y, coords, fold = x[keep], y[keep], coords[keep], fold[keep]
    # the fold classifiers stand in for the final stage 1: as many boosting iterations as it
    # kept (it stops early on its own validation fraction), no early stopping of their own
    # (fewer trees than max_iter: the stage-1 probabilities around the labelled planes are the
    # dominant cost of this stage)
    n_fold_iter = int(max_iter) if fold_iter is None else max(1, min(int(fold_iter), int(max_iter)))
    models = []
    for f in range(int(folds)):
        m = HistGradientBoostingClassifier(max_iter=n_fold_iter, early_stopping=fold_iter is None,
                                           random_state=int(rng.integers(2**31 - 1)))
        if len(np.unique(y[fold != f])) < 2:
            raise InputError(f"the labelled voxels outside context fold {f} hold a single class; the auto-context "
                             "stage needs more labelled voxels (or fewer context_folds)")
        m.fit(x[fold != f], y[fold != f])
        models.append(m)
    ids = classifier.class_ids
    n_ctx = len(ids) * (1 + len(context_sigmas))
    ctx = np.zeros((len(y), n_ctx), np.float32)
    row_of = {tuple(c): i for i, c in enumerate(coords.tolist())}
    # stage 1 only within the smoothing windows' reach of a labelled voxel (a tilted sheet crosses
    # many z planes with a thin strip each)
    rxy = int(_CONTEXT_TRUNCATE * float(max(context_sigmas)) + 0.5)
    rz = _context_radius(context_sigmas, axes)
    need = ndimage.maximum_filter(sparse != IGNORE, size=(2 * rz + 1, 2 * rxy + 1, 2 * rxy + 1), mode="reflect")
    for run, _, contexts in _context_runs(image, labelled_planes(sparse), classifier.norm, sigmas=classifier.sigmas,
                                          texture=classifier.texture, models=models, class_ids=ids,
                                          context_sigmas=context_sigmas, axes=axes, need=need):
        sel = [(i, c) for c in np.argwhere(sparse[run[0]:run[-1] + 1] != IGNORE).tolist()
               if (i := row_of.get((c[0] + run[0], c[1], c[2]))) is not None]
        if not sel:
            continue
        rows = np.array([i for i, _ in sel])
        local = np.array([c for _, c in sel])
        for f in range(int(folds)):
            mine = fold[rows] == f
            if mine.any():
                ctx[rows[mine]] = contexts[f][tuple(local[mine].T)]
    model = HistGradientBoostingClassifier(max_iter=int(max_iter), random_state=int(rng.integers(2**31 - 1)))
    model.fit(np.concatenate([x, ctx], axis=1), y)
    return model, {"context_sigmas": [float(s) for s in context_sigmas], "context_folds": int(folds),
                   "context_block": int(block), "context_samples": int(len(y)),
                   "context_fold_iterations": [int(m.n_iter_) for m in models], "context_axes": axes}


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
    texture : tuple of str
        Texture feature names after the filter features
        (:mod:`liberation.segmentation.texture_features`); empty: the original feature set
        (what a stored classifier without texture names uses).
    context_model : sklearn estimator or TreeEnsemble, optional
        Auto-context second stage: a classifier on the features, then ``model``'s class
        probabilities and their Gaussian smoothings at ``context_sigmas`` (3D); None: one
        stage (``model`` alone).
    context_sigmas : tuple of float
        Smoothing scales (voxels) of the stage-1 probabilities; empty without a second stage.
    context_axes : {"zyx", "yx"}
        The smoothing is 3D (``"zyx"``; what a stored classifier without the field used) or
        within each z plane (``"yx"``: a plane needs stage 1 on itself only).
    potts_weight : float
        Weight of the in-plane Potts smoothing of the final probabilities
        (:func:`potts_mean_field`); 0: none (what a stored classifier without the field used).
    potts_iterations : int
        Its mean-field iterations.
    """

    model: object
    class_ids: list
    sigmas: tuple
    norm: dict
    info: dict = field(default_factory=dict)
    texture: tuple = ()
    context_model: object = None
    context_sigmas: tuple = ()
    context_axes: str = "zyx"
    potts_weight: float = 0.0
    potts_iterations: int = 0


def train_pixel_classifier(image, sparse, *, sigmas=FEATURE_SIGMAS, texture=None, norm: dict | None = None,
                           max_samples: int = 200_000, max_iter: int = 200,
                           seed: int | np.random.Generator | None = 0, context_sigmas=(),
                           context_folds: int = 3, context_block: int = 16,
                           context_axes: str = "zyx") -> PixelClassifier:
    """Train a gradient-boosted per-voxel classifier on the labelled voxels.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values.
    sparse : array-like of uint8, shape (z, y, x)
        Labels, 255 = unlabelled.
    sigmas : sequence of float
        Feature scales in voxels.
    texture : sequence of str, optional
        Texture feature names after the filter features (default
        :data:`~liberation.segmentation.texture_features.TEXTURE_FEATURES`; ``()``: the
        original filter features only).
    norm : dict, optional
        Normalisation; default robust percentiles (0.5, 99.5) of ``image``.
    max_samples : int
        At most this many labelled voxels are used (a random subset).
    max_iter : int
        Boosting iterations.
    seed : int or Generator
        Seed of the subsampling and of the classifier.
    context_sigmas : sequence of float
        Auto-context (opt-in; default none): a second stage trained on the features plus the
        first stage's class probabilities and their 3D Gaussian smoothings at these scales
        (voxels, e.g. :data:`CONTEXT_SIGMAS`), from out-of-fold first-stage classifiers.
    context_folds : int
        Folds of the out-of-fold first-stage probabilities (at least 2).
    context_block : int
        Edge (voxels) of the cubes the labelled voxels are split into folds by.
    context_axes : {"zyx", "yx"}
        Smooth the stage-1 probabilities in 3D or within each z plane (:data:`CONTEXT_AXES`;
        ``"yx"`` needs stage 1 on the labelled planes only: a fraction of the training time).

    Returns
    -------
    PixelClassifier
        It keeps the labelled voxels' features in memory (attribute ``_labelled``, never stored)
        for :func:`add_context_stage` on the same labels; ``del clf._labelled`` frees them.
    """
    import time

    from sklearn.ensemble import HistGradientBoostingClassifier

    if tuple(image.shape) != tuple(sparse.shape) or len(image.shape) != 3:
        raise InputError(f"image shape {tuple(image.shape)} and sparse shape {tuple(sparse.shape)} must be equal (z, y, x)")
    if int(max_samples) < 10:
        raise InputError(f"max_samples={max_samples!r}; expected at least 10")
    context_sigmas = tuple(float(c) for c in context_sigmas)
    if any(not c > 0 for c in context_sigmas):
        raise InputError(f"context_sigmas={context_sigmas!r}; expected positive scales in voxels")
    if context_axes not in CONTEXT_AXES:
        raise InputError(f"context_axes={context_axes!r}; expected one of {', '.join(CONTEXT_AXES)}")
    if context_sigmas and (int(context_folds) < 2 or int(context_block) < 1):
        raise InputError(f"context_folds={context_folds!r}, context_block={context_block!r}; expected at least 2 "
                         "folds and a block of at least 1 voxel")
    from liberation.segmentation.texture_features import TEXTURE_FEATURES, parse_texture_feature

    texture = TEXTURE_FEATURES if texture is None else tuple(str(t) for t in texture)
    for name in texture:
        parse_texture_feature(name)
    rng = make_rng(seed)
    t0 = time.perf_counter()
    norm = norm or robust_percentiles(image, seed=rng)
    planes = labelled_planes(sparse)
    if not planes:
        raise InputError("sparse holds no labelled voxels (all 255); label at least one plane")
    # labelled voxels on planes in any position or orientation (one slab per run of z)
    labelled = labelled_voxel_features(image, sparse, norm, sigmas=sigmas, texture=texture)
    x, y, _ = labelled
    if len(np.unique(y)) < 2:
        raise InputError(f"the labels hold a single class ({int(y[0])}); a classifier needs at least two")
    if len(y) > max_samples:
        keep = rng.choice(len(y), size=int(max_samples), replace=False)
        x, y = x[keep], y[keep]
    model = HistGradientBoostingClassifier(max_iter=int(max_iter), random_state=int(rng.integers(2**31 - 1)))
    model.fit(x, y)
    info = {"samples": int(len(y)), "planes": planes, "features": feature_names(sigmas, texture)}
    clf = PixelClassifier(model=model, class_ids=[int(c) for c in model.classes_], sigmas=tuple(float(s) for s in sigmas),
                          norm=norm, info=info, texture=texture)
    # kept (not stored) for add_context_stage on the same labels: the features need not be computed again
    clf._labelled = labelled
    if context_sigmas:
        clf.context_model, extra = _fit_context_stage(image, sparse, clf, context_sigmas=context_sigmas,
                                                      folds=int(context_folds), block=int(context_block),
                                                      max_samples=int(max_samples), max_iter=int(max_iter), rng=rng,
                                                      fold_iter=int(model.n_iter_), labelled=labelled,
                                                      axes=context_axes)
        clf.context_sigmas = context_sigmas
        clf.context_axes = context_axes
        info.update(extra)
    info["seconds"] = time.perf_counter() - t0
    return clf


def add_context_stage(image, sparse, classifier: PixelClassifier, *, context_sigmas=CONTEXT_SIGMAS,
                      context_axes: str = "yx", context_folds: int = 2, context_block: int = 16,
                      max_samples: int = 200_000, max_iter: int = 200,
                      seed: int | np.random.Generator | None = 0) -> PixelClassifier:
    """A two-stage classifier from a trained one-stage one: the auto-context stage added, stage 1 reused.

    What :func:`train_pixel_classifier` with ``context_sigmas`` does, without training stage 1
    again (``train`` scores the one-stage classifier first, then this one, on the same
    validation voxels). The out-of-fold classifiers run ``classifier.model``'s number of
    boosting iterations.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values.
    sparse : array-like of uint8, shape (z, y, x)
        The labels ``classifier`` was trained on (255 = unlabelled).
    classifier : PixelClassifier
        A one-stage classifier with a fitted scikit-learn ``model`` (not one loaded from a folder).
    context_sigmas, context_axes, context_folds, context_block, max_samples, max_iter
        As in :func:`train_pixel_classifier` (defaults here: in-plane smoothing, 2 folds: the
        cheap setting ``train`` uses, docs/segmentation.md).
    seed : int or Generator
        Seed of the folds and of the classifiers.

    Returns
    -------
    PixelClassifier
        A new classifier sharing ``classifier.model``; ``info`` adds the context record and
        ``seconds`` the time of both stages.
    """
    import time
    from dataclasses import replace

    context_sigmas = tuple(float(c) for c in context_sigmas)
    if not context_sigmas or any(not c > 0 for c in context_sigmas):
        raise InputError(f"context_sigmas={context_sigmas!r}; expected positive scales in voxels")
    if context_axes not in CONTEXT_AXES:
        raise InputError(f"context_axes={context_axes!r}; expected one of {', '.join(CONTEXT_AXES)}")
    if int(context_folds) < 2 or int(context_block) < 1:
        raise InputError(f"context_folds={context_folds!r}, context_block={context_block!r}; expected at least 2 "
                         "folds and a block of at least 1 voxel")
    if classifier.context_model is not None:
        raise InputError("the classifier already has an auto-context stage")
    if not hasattr(classifier.model, "n_iter_"):
        raise InputError("the classifier's model is not a fitted HistGradientBoostingClassifier (a stored "
                         "classifier cannot get a context stage); train one with train_pixel_classifier")
    t0 = time.perf_counter()
    sparse = np.asarray(sparse)
    labelled = getattr(classifier, "_labelled", None)
    if labelled is not None:
        # the features kept by train_pixel_classifier, if they are those of these labels
        coords = np.argwhere(sparse != IGNORE)
        if not (len(coords) == len(labelled[2]) and np.array_equal(coords, labelled[2])
                and np.array_equal(sparse[tuple(coords.T)], labelled[1])):
            labelled = None
    model, extra = _fit_context_stage(image, sparse, classifier, context_sigmas=context_sigmas,
                                      folds=int(context_folds), block=int(context_block),
                                      max_samples=int(max_samples), max_iter=int(max_iter), rng=make_rng(seed),
                                      fold_iter=int(classifier.model.n_iter_), axes=context_axes, labelled=labelled)
    info = dict(classifier.info, **extra)
    info["seconds"] = float(classifier.info.get("seconds", 0.0)) + time.perf_counter() - t0
    info["context_seconds"] = time.perf_counter() - t0
    return replace(classifier, info=info, context_model=model, context_sigmas=context_sigmas,
                   context_axes=context_axes)


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
    where = {}
    for i, z in enumerate(planes):
        where.setdefault(z, []).append(i)
    for run, prob in _proba_runs(image, classifier, where):
        for z, p in zip(run, prob):
            best = p.argmax(axis=-1)
            labels[where[z]] = ids[best]
            confidence[where[z]] = np.take_along_axis(p, best[..., None], axis=-1)[..., 0]
    return labels, confidence


def bootstrap_phase_labels(image, sparse, *, planes: int = 8, min_probability: float = 0.8,
                           sigmas=FEATURE_SIGMAS, texture=None, norm: dict | None = None, val_labels=None,
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
        Number of evenly spaced z planes to label (planes mostly labelled already, at least
        ``TAKEN_FRACTION`` of their voxels, are skipped; a tilted labelled plane crosses
        many z planes with a thin strip each, which does not take them).
    min_probability : float
        Only voxels whose predicted class has at least this probability are kept.
    sigmas : sequence of float
        Feature scales in voxels.
    texture : sequence of str, optional
        Texture feature names (:func:`train_pixel_classifier`).
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
        classifier = train_pixel_classifier(image, sparse, sigmas=sigmas, texture=texture, norm=norm, seed=seed)
    nz = int(image.shape[0])
    area = int(np.prod(image.shape[1:]))
    counts = labelled_counts(sparse)
    taken = {int(z) for z in np.flatnonzero(counts >= TAKEN_FRACTION * area)}
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
        val_labels = np.asarray(val_labels)
        pred, coords = classify_labelled_voxels(image, classifier, val_labels)
        if len(pred):
            truth = val_labels[tuple(coords.T)]
            info["validation_accuracy"] = float((pred == truth).mean())
    return out, info


#: Files of a stored pixel classifier in a model folder (numeric arrays, then metadata).
CLASSIFIER_ARRAYS = "pixel_classifier.npz"
CLASSIFIER_META = "pixel_classifier.json"
_CLASSIFIER_FORMAT = "liberation-pixel-classifier-1"
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf")


class TreeEnsemble:
    """A fitted gradient-boosted tree ensemble as plain arrays, with ``predict_proba``.

    The stored form of a ``HistGradientBoostingClassifier`` (numerical features only):
    the nodes of every tree, the baseline raw score, the link (sigmoid for two classes,
    softmax otherwise). No pickle: it is saved as a ``.npz`` of numeric arrays.

    Parameters
    ----------
    nodes : dict of str -> ndarray, shape (n_nodes,)
        The node fields ``value, feature_idx, num_threshold, missing_go_to_left, left,
        right, is_leaf`` of all trees, concatenated; ``left``/``right`` index within a tree.
    offsets : ndarray of int, shape (n_iterations * n_trees_per_iteration + 1,)
        Tree ``t`` holds nodes ``offsets[t]:offsets[t + 1]``; trees are ordered by
        iteration, then by class.
    baseline : ndarray of float, shape (n_trees_per_iteration,)
        Raw score before the trees.
    classes : ndarray of int, shape (n_classes,)
        Label value of each probability column.
    """

    def __init__(self, nodes: dict, offsets, baseline, classes):
        self.nodes = {k: np.asarray(nodes[k]) for k in _NODE_FIELDS}
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.baseline = np.asarray(baseline, dtype=np.float64).ravel()
        self.classes_ = np.asarray(classes)
        k = len(self.baseline)
        n_trees = len(self.offsets) - 1
        if (k != (1 if len(self.classes_) == 2 else len(self.classes_)) or n_trees % k
                or len({len(v) for v in self.nodes.values()}) != 1 or self.offsets[-1] != len(self.nodes["value"])):
            raise FileFormatError(f"inconsistent tree ensemble: {len(self.classes_)} classes, {k} trees per "
                                  f"iteration, {n_trees} trees, {len(self.nodes['value'])} nodes")
        self._fast = None

    @classmethod
    def from_sklearn(cls, model) -> TreeEnsemble:
        """The arrays of a fitted ``HistGradientBoostingClassifier`` (numerical features only)."""
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            raise InputError("the classifier uses categorical features; only numerical features can be stored")
        trees = [p.nodes for iteration in model._predictors for p in iteration]
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in trees])])
        nodes = {k: np.concatenate([t[k] for t in trees]) for k in _NODE_FIELDS}
        return cls(nodes, offsets, np.asarray(model._baseline_prediction).ravel(), model.classes_)

    @property
    def n_trees_per_iteration(self) -> int:
        return len(self.baseline)

    def _trees_sklearn(self):
        # scikit-learn's compiled tree predictor, rebuilt from the arrays (same arithmetic as
        # the fitted estimator); None where its internals differ, then numpy walks the trees
        if self._fast is None:
            try:
                from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
                from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

                fast = []
                for t0, t1 in zip(self.offsets[:-1], self.offsets[1:]):
                    rec = np.zeros(int(t1 - t0), dtype=PREDICTOR_RECORD_DTYPE)
                    for k in _NODE_FIELDS:
                        rec[k] = self.nodes[k][t0:t1]
                    fast.append(TreePredictor(rec, np.zeros((0, 8), np.uint32), np.zeros((0, 8), np.uint32)))
                self._fast = fast
            except (ImportError, ValueError, TypeError):
                self._fast = False
        return self._fast or None

    def raw_predict(self, x, *, use_sklearn: bool = True) -> np.ndarray:
        """Raw scores, shape (n_samples, n_trees_per_iteration), of features ``x`` (n_samples, n_features)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        k = self.n_trees_per_iteration
        raw = np.zeros((len(x), k), dtype=np.float64, order="F")
        raw += self.baseline
        fast = self._trees_sklearn() if use_sklearn else None
        if fast is not None:
            from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

            n_threads = _openmp_effective_n_threads()
            f_idx_map = np.zeros(x.shape[1], dtype=np.uint32)
            known = np.zeros((0, 8), dtype=np.uint32)
            for t, tree in enumerate(fast):
                raw[:, t % k] += tree.predict(x, known, f_idx_map, n_threads)
            return raw
        n = self.nodes
        rows = np.arange(len(x))
        for t, t0 in enumerate(self.offsets[:-1]):
            node = np.zeros(len(x), dtype=np.int64)
            active = rows
            while active.size:
                at = node[active] + t0
                leaf = n["is_leaf"][at].astype(bool)
                active, at = active[~leaf], at[~leaf]
                v = x[active, n["feature_idx"][at]]
                left = np.where(np.isnan(v), n["missing_go_to_left"][at].astype(bool), v <= n["num_threshold"][at])
                node[active] = np.where(left, n["left"][at], n["right"][at])
            raw[:, t % k] += n["value"][node + t0]
        return raw

    def predict_proba(self, x, *, use_sklearn: bool = True) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        raw = self.raw_predict(x, use_sklearn=use_sklearn)
        if self.n_trees_per_iteration == 1:
            p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.stack([1.0 - p, p], axis=1)
        raw = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(raw)
        return e / e.sum(axis=1, keepdims=True)


def save_pixel_classifier(classifier: PixelClassifier, directory) -> list[str]:
    """Store a pixel classifier in a folder, without pickle.

    Writes :data:`CLASSIFIER_ARRAYS` (the trees as numeric arrays, ``numpy.savez``) and
    :data:`CLASSIFIER_META` (JSON: classes, feature scales, normalisation, training record).

    Parameters
    ----------
    classifier : PixelClassifier
        Its ``model`` a fitted ``HistGradientBoostingClassifier`` or a :class:`TreeEnsemble`.
    directory : path
        An existing folder (e.g. a model folder being written).

    Returns
    -------
    list of str
        The file names written.
    """
    from pathlib import Path

    from liberation._json import to_jsonable

    def ensemble(m):
        return m if isinstance(m, TreeEnsemble) else TreeEnsemble.from_sklearn(m)

    model = ensemble(classifier.model)
    directory = Path(directory)
    arrays = {"offsets": model.offsets, "baseline": model.baseline,
              "classes": np.asarray(model.classes_, dtype=np.int64), **{f"node_{k}": v for k, v in model.nodes.items()}}
    if classifier.context_model is not None:
        ctx = ensemble(classifier.context_model)
        arrays.update({"context_offsets": ctx.offsets, "context_baseline": ctx.baseline,
                       "context_classes": np.asarray(ctx.classes_, dtype=np.int64),
                       **{f"context_node_{k}": v for k, v in ctx.nodes.items()}})
    np.savez(directory / CLASSIFIER_ARRAYS, **arrays)
    meta = {"format": _CLASSIFIER_FORMAT,
            "model": "HistGradientBoostingClassifier (scikit-learn) stored as tree arrays",
            "class_ids": [int(c) for c in classifier.class_ids], "sigmas": [float(s) for s in classifier.sigmas],
            "texture": list(classifier.texture), "features": feature_names(classifier.sigmas, classifier.texture),
            "norm": classifier.norm, "info": classifier.info}
    if classifier.context_model is not None:
        meta["context"] = {"sigmas": [float(c) for c in classifier.context_sigmas],
                           "features": context_feature_names(classifier.class_ids, classifier.context_sigmas),
                           "axes": classifier.context_axes}
    if float(classifier.potts_weight or 0.0) > 0:
        meta["smoothing"] = {"method": "potts-mean-field", "neighbours": "8 in-plane",
                             "weight": float(classifier.potts_weight),
                             "iterations": int(classifier.potts_iterations)}
    (directory / CLASSIFIER_META).write_text(json.dumps(to_jsonable(meta), indent=1))
    return [CLASSIFIER_ARRAYS, CLASSIFIER_META]


def load_pixel_classifier(directory) -> PixelClassifier:
    """Read a pixel classifier written by :func:`save_pixel_classifier` (``allow_pickle=False``).

    Returns
    -------
    PixelClassifier
        Its ``model`` a :class:`TreeEnsemble`.

    Raises
    ------
    FileFormatError
        Files missing or not of this format.
    """
    from pathlib import Path

    directory = Path(directory)
    arrays, meta_path = directory / CLASSIFIER_ARRAYS, directory / CLASSIFIER_META
    if not arrays.is_file() or not meta_path.is_file():
        raise FileFormatError(f"{directory} lacks {CLASSIFIER_ARRAYS} or {CLASSIFIER_META}; expected a pixel "
                              "classifier stored by 'liberation train'")
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(arrays, allow_pickle=False) as data:
            model = TreeEnsemble({k: data[f"node_{k}"] for k in _NODE_FIELDS}, data["offsets"], data["baseline"],
                                 data["classes"])
            context_model = None
            if meta.get("context"):
                context_model = TreeEnsemble({k: data[f"context_node_{k}"] for k in _NODE_FIELDS},
                                             data["context_offsets"], data["context_baseline"], data["context_classes"])
    except (ValueError, KeyError, OSError) as exc:
        raise FileFormatError(f"cannot read the pixel classifier in {directory}: {exc}") from exc
    if meta.get("format") != _CLASSIFIER_FORMAT:
        raise FileFormatError(f"{meta_path} has format {meta.get('format')!r}; expected {_CLASSIFIER_FORMAT!r}")
    if [int(c) for c in model.classes_] != [int(c) for c in meta["class_ids"]]:
        raise FileFormatError(f"{directory}: classes {model.classes_.tolist()} of the trees differ from class_ids "
                              f"{meta['class_ids']} of {CLASSIFIER_META}")
    # a classifier stored before the texture features has no "texture": the original filter features
    texture = tuple(str(t) for t in meta.get("texture") or ())
    sigmas = tuple(float(s) for s in meta["sigmas"])
    try:
        names = feature_names(sigmas, texture)
        from liberation.segmentation.texture_features import texture_halo

        texture_halo(texture)
    except InputError as exc:
        raise FileFormatError(f"{meta_path}: {exc}") from exc
    if "features" in meta and list(meta["features"]) != names:
        raise FileFormatError(f"{meta_path}: features {meta['features']} differ from those of its sigmas and texture "
                              f"names {names}")
    split_features = model.nodes["feature_idx"][~model.nodes["is_leaf"].astype(bool)].astype(np.int64)
    n_used = int(np.max(split_features, initial=-1)) + 1
    if n_used > len(names):
        raise FileFormatError(f"{directory}: the trees use feature {n_used - 1} but {CLASSIFIER_META} names "
                              f"{len(names)} features")
    context_sigmas, context_axes = (), "zyx"
    if context_model is not None:
        context_sigmas = tuple(float(c) for c in meta["context"].get("sigmas") or ())
        # stored before in-plane smoothing existed: 3D
        context_axes = str(meta["context"].get("axes", "zyx"))
        if context_axes not in CONTEXT_AXES:
            raise FileFormatError(f"{meta_path}: context axes {context_axes!r}; expected one of "
                                  f"{', '.join(CONTEXT_AXES)}")
        ctx_names = context_feature_names(meta["class_ids"], context_sigmas)
        if not context_sigmas or list(meta["context"].get("features", ctx_names)) != ctx_names:
            raise FileFormatError(f"{meta_path}: context {meta['context']} does not match its class_ids; expected "
                                  f"sigmas and the features {ctx_names}")
        if [int(c) for c in context_model.classes_] != [int(c) for c in meta["class_ids"]]:
            raise FileFormatError(f"{directory}: classes {context_model.classes_.tolist()} of the context trees "
                                  f"differ from class_ids {meta['class_ids']}")
        split = context_model.nodes["feature_idx"][~context_model.nodes["is_leaf"].astype(bool)].astype(np.int64)
        if int(np.max(split, initial=-1)) + 1 > len(names) + len(ctx_names):
            raise FileFormatError(f"{directory}: the context trees use more features than the "
                                  f"{len(names) + len(ctx_names)} named")
    # stored before the Potts smoothing existed: none
    smoothing = meta.get("smoothing") or {}
    try:
        potts_weight = float(smoothing.get("weight", 0.0))
        potts_iterations = int(smoothing.get("iterations", 0))
    except (TypeError, ValueError, AttributeError) as exc:
        raise FileFormatError(f"{meta_path}: smoothing {smoothing!r} is not readable: {exc}") from exc
    if smoothing and (smoothing.get("method") != "potts-mean-field" or not potts_weight >= 0 or potts_iterations < 0):
        raise FileFormatError(f"{meta_path}: smoothing {smoothing!r}; expected method 'potts-mean-field' with a "
                              "weight >= 0 and iterations >= 0")
    return PixelClassifier(model=model, class_ids=[int(c) for c in meta["class_ids"]], sigmas=sigmas,
                           norm=dict(meta["norm"]), info=dict(meta.get("info") or {}), texture=texture,
                           context_model=context_model, context_sigmas=context_sigmas, context_axes=context_axes,
                           potts_weight=potts_weight, potts_iterations=potts_iterations)


def predict_pixel_classifier_volume(image, classifier: PixelClassifier, *, out=None, prob_out=None,
                                    prob_ids=None, slab: int | None = None, show_progress: bool = True):
    """Classify a whole volume slab by slab (bounded memory; numpy or zarr in and out).

    Each slab of ``slab`` planes is read with a halo of the filters' radius (reflected at
    the volume ends), so every plane equals :func:`predict_pixel_classifier` of that plane.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values.
    classifier : PixelClassifier
    out : array-like of uint8, shape (z, y, x), optional
        Where the label values are written (default a new array).
    prob_out : array-like of uint8, shape (len(prob_ids), z, y, x), optional
        Class probabilities scaled to 0..255, one channel per entry of ``prob_ids``.
    prob_ids : sequence of int, optional
        Label value of each ``prob_out`` channel (default ``classifier.class_ids``); a class
        the classifier never saw gets probability 0.
    slab : int, optional
        Planes per slab (default: about 2**22 voxels of output per slab).
    show_progress : bool

    Returns
    -------
    out
    """
    from liberation._progress import progress

    shape = tuple(int(s) for s in image.shape)
    if len(shape) != 3:
        raise InputError(f"image has shape {shape}; expected (z, y, x)")
    plane = shape[1] * shape[2]
    slab = int(slab) if slab is not None else max(1, (1 << 22) // max(1, plane))
    if slab < 1:
        raise InputError(f"slab={slab}; expected at least 1 plane")
    if out is None:
        out = np.zeros(shape, dtype=np.uint8)
    elif tuple(out.shape) != shape:
        raise InputError(f"out has shape {tuple(out.shape)}; expected {shape}")
    ids = [int(c) for c in classifier.class_ids]
    prob_ids = ids if prob_ids is None else [int(c) for c in prob_ids]
    if prob_out is not None and tuple(prob_out.shape) != (len(prob_ids), *shape):
        raise InputError(f"prob_out has shape {tuple(prob_out.shape)}; expected {(len(prob_ids), *shape)}")
    column = {c: i for i, c in enumerate(ids)}
    label_of = np.asarray(ids, dtype=np.uint8)
    nz = shape[0]
    halo = _halo(classifier.sigmas, classifier.texture)
    starts = list(range(0, nz, slab))
    stage1: dict = {}  # a 3D context stage's stage-1 probabilities, shared by consecutive slabs
    for z0 in progress(starts, desc="segment (pixel classifier)", total=len(starts), unit="slab",
                       enabled=None if show_progress else False):
        z1 = min(z0 + slab, nz)
        if classifier.context_model is not None:
            prob = np.concatenate([p.reshape(-1, p.shape[-1])
                                   for _, p in _proba_runs(image, classifier, range(z0, z1), cache=stage1)])
        else:
            # the whole-volume filters reflect at the ends (numpy "symmetric"): index the slab so
            index = np.pad(np.arange(nz), halo, mode="symmetric")[z0:z1 + 2 * halo]
            first, last = int(index.min()), int(index.max())
            block = apply_normalization(np.asarray(image[first:last + 1]), classifier.norm)[index - first]
            feats = filter_features(block, sigmas=classifier.sigmas, plane=slice(halo, halo + z1 - z0),
                                    texture=classifier.texture, extended=True)
            prob = classifier.model.predict_proba(feats.reshape(-1, feats.shape[-1]))
            prob = _smoothed(classifier, prob.reshape(feats.shape[:-1] + (-1,))).reshape(-1, prob.shape[-1])
            del feats
        out[z0:z1] = label_of[prob.argmax(axis=1)].reshape((z1 - z0,) + shape[1:])
        if prob_out is not None:
            for i, c in enumerate(prob_ids):
                p = prob[:, column[c]] if c in column else np.zeros(len(prob))
                prob_out[i, z0:z1] = np.round(p * 255.0).astype(np.uint8).reshape((z1 - z0,) + shape[1:])
    return out
