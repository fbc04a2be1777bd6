"""Ore/waste per fragment from thickness-free image features (single-energy XRT).

With one X-ray energy a fragment's attenuation is ``mu * t``: the class lives in ``mu``
(ore mineral about twice the gangue) but the thickness ``t`` is not measured, so a
decision learned from the absolute attenuation moves with the beam and the rock shapes
(issue 23). This module decides per fragment from features that do not scale with the
attenuation, or scale only with the fragment's size:

* **texture of the log attenuation** on the fragment's thick part: ``h = ln a - ln S_s(a)``
  with ``S_s`` a normalised Gaussian smoothing inside the fragment (sigma 1 and 2 px).
  ``ln t`` is smooth, so ``h`` is the texture of ``ln mu``: ore-mineral grains in a gangue
  matrix. A waste fragment (few grains) has a few bright outliers (positive skew, short
  lower tail), an ore fragment dark matrix holes between grains (negative skew, long
  lower tail). Statistics: skewness, standard deviation, ``q90 - q50``, ``q50 - q10``;
  all unchanged when the attenuation is multiplied by a constant (beam, thickness scale);
* **attenuation per size**: ``ln(mean a / d)`` and ``ln(q90 a / d)`` with ``d`` the
  equivalent diameter in mm (thickness scales with size), and ``ln(area)``.
* **distance-profile residual** (session 7): ``ln a`` minus the median ``ln a`` of the
  fragment's pixels at the same distance from its outline (:func:`_profile_residual`), on
  the pixels at least 2 px inside. A thickness that is a function of the distance to the
  outline (a bevelled slab of angular rock, an ellipsoid or paraboloid of a round pebble)
  cancels whatever its shape and size, where the Gaussian high-pass above responds to the
  kink of a bevel as if it were grains; skewness and tails of the raw and the 0.7 px
  smoothed residual.

All features use the fragment's pixels above ``support`` (0.35) times its 90th-percentile
attenuation, so the thin edge that each segmenter draws differently stays out of them.

:func:`fit_fragment_classifier` fits a logistic model on these features of labelled
fragments; :func:`calibrate_fragment_classifier` does so on the project's synthetic
frames with **physics randomisation** (beam, ore/gangue ratio, thickness profile and
ratio drawn per frame, :data:`~liberation.deploy.belt.synthetic.PHYSICS_RANGES`), so the
fit leans on the features that do not move with the physics. :data:`DEFAULT_FRAGMENT_CLASSIFIER`
is that calibration (seed 0, 400 frames), used by the runtime's ``decision="features"``
and ``"hybrid"``. Numpy and scipy only (the calibration also needs the phantoms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from liberation.errors import InputError

__all__ = [
    "DEFAULT_FRAGMENT_CLASSIFIER",
    "DOG_SCALES",
    "FEATURE_NAMES",
    "FragmentClassifier",
    "belt_background_level",
    "calibrate_fragment_classifier",
    "classify_fragments",
    "fit_fragment_classifier",
    "fragment_features",
    "grow_foreground",
    "trim_foreground",
]

#: Feature names, in column order of :func:`fragment_features` (27: 8 high-pass, 3 attenuation per size, 8 band-pass,
#: 8 distance-profile residual statistics).
FEATURE_NAMES: tuple[str, ...] = (
    "skew_s1", "std_s1", "upper_s1", "lower_s1",
    "skew_s2", "std_s2", "upper_s2", "lower_s2",
    "log_mean_att_per_mm", "log_q90_att_per_mm", "log_area_mm2",
    "dog_skew_a", "dog_lower_a", "dog_logratio_a", "dog_std_a",
    "dog_skew_b", "dog_lower_b", "dog_logratio_b", "dog_std_b",
    "rim_skew_0", "rim_upper_0", "rim_lower_0", "rim_logratio_0",
    "rim_skew_b", "rim_upper_b", "rim_lower_b", "rim_logratio_b",
)
#: Band-pass scales (sigma pairs, pixels) of the ``dog_*_a`` and ``dog_*_b`` features.
DOG_SCALES: tuple[tuple[float, float], ...] = ((0.7, 2.0), (1.0, 3.0))
_FLOOR = 1e-3  # smallest attenuation used in logarithms
#: Smoothing (pixels) of the two distance-profile residuals (``rim_*_0``: none, ``rim_*_b``: band-pass scale).
RIM_SIGMAS: tuple[float, float] = (0.0, 0.7)


def _profile_residual(log_a: np.ndarray, dist: np.ndarray, *, group: int = 12, parts: int = 10) -> np.ndarray:
    """``log_a`` minus the median of ``log_a`` over pixels at a similar distance from the outline.

    Pixels are sorted by their distance to the fragment's outline and cut into consecutive
    groups of ``max(group, n // parts)``; each pixel's residual is its value minus its
    group's median. Any thickness profile that is a function of the distance to the
    outline (a bevelled slab, an ellipsoid or a paraboloid of round outline) cancels, for
    every profile exponent, bevel width and thickness; what is left is the texture of
    ``ln mu`` (grains in a matrix) and the noise.
    """
    n = len(log_a)
    order = np.argsort(dist, kind="stable")
    size = max(int(group), n // int(parts))
    ngroup = max(n // size, 1)
    vals = log_a[order]
    # groups are consecutive runs of the sorted values: ngroup - 1 of ``size``, the last takes the rest
    cut = (ngroup - 1) * size
    med = np.empty(n)
    if cut:
        med[:cut] = np.repeat(np.median(vals[:cut].reshape(ngroup - 1, size), axis=1), size)
    med[cut:] = np.median(vals[cut:])
    out = np.empty(n)
    out[order] = vals - med
    return out


def _erode_cross(m: np.ndarray) -> np.ndarray:
    """``ndi.binary_erosion(m)`` (4-neighbour cross, outside the array counts as background), by slicing."""
    e = m.copy()
    e[1:] &= m[:-1]
    e[:-1] &= m[1:]
    e[:, 1:] &= m[:, :-1]
    e[:, :-1] &= m[:, 1:]
    e[0] = e[-1] = False
    e[:, 0] = e[:, -1] = False
    return e


def _tail_stats(h: np.ndarray) -> list[float]:
    """Skewness, ``q90 - q50``, ``q50 - q10`` and ``ln((q90 - q50) / (q50 - q10))`` of ``h``."""
    q10, q50, q90 = np.percentile(h, [10, 50, 90])
    return [_skew(h), q90 - q50, q50 - q10, float(np.log(max(q90 - q50, 1e-6) / max(q50 - q10, 1e-6)))]


def _skew(h: np.ndarray) -> float:
    c = h - h.mean()
    s = float(np.sqrt((c * c).mean()))
    return float((c**3).mean() / s**3) if s > 1e-12 else 0.0


def belt_background_level(attenuation: np.ndarray, foreground: np.ndarray, *, margin: int = 2) -> float:
    """Attenuation of the bare belt: the median over pixels at least ``margin`` px from the foreground.

    Parameters
    ----------
    attenuation : ndarray, (y, x)
        Log attenuation of one frame.
    foreground : ndarray, (y, x) bool
        Fragment pixels.
    margin : int
        Distance from fragments, pixels.

    Returns
    -------
    float
        The level (0 when no belt pixel is left).
    """
    fg = np.asarray(foreground, bool)
    far = ~ndi.binary_dilation(fg, iterations=int(margin)) if margin > 0 else ~fg
    return float(np.median(attenuation[far])) if far.any() else 0.0


def fragment_features(attenuation, labels, *, pixel_size_um: float = 500.0, background: float | None = None,
                      min_pixels: int = 8, support: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Thickness-free features (:data:`FEATURE_NAMES`) of every fragment of one frame.

    Parameters
    ----------
    attenuation : array_like, (y, x) float
        Log attenuation ``-ln(I / I0)`` (the segmenter's input).
    labels : array_like, (y, x) int
        Fragment ids (0 = belt).
    pixel_size_um : float
        Pixel size, µm (for the attenuation per mm of size and the area).
    background : float, optional
        Attenuation of the bare belt, subtracted first (default
        :func:`belt_background_level`).
    min_pixels : int
        Fragments with fewer pixels get NaN features.
    support : float
        Features use the fragment's pixels whose attenuation above the belt is at least
        ``support`` times the fragment's 90th percentile (``0 <= support < 1``; 0: all
        its pixels): the thin outer edge, which every segmenter draws differently and the
        detector blur spreads over the belt, stays out of the sizes and textures, in the
        calibration (true outlines) and at run time (predicted outlines) alike.

    Returns
    -------
    ids : ndarray, (n,) int
        Fragment ids present, ascending.
    features : ndarray, (n, 27) float
        One row per fragment, columns :data:`FEATURE_NAMES`.

    Notes
    -----
    The ``dog_*`` columns are statistics of the band-pass ``ln S_s1(a) - ln S_s2(a)``
    (:data:`DOG_SCALES`) on the same thick part: skewness, ``q50 - q10``,
    ``ln((q90 - q50) / (q50 - q10))`` and the standard deviation. The band-pass leaves out
    the pixel noise that dominates the 1-px texture of noisy (low-photon) detectors; like
    the other texture statistics they do not change when the attenuation is multiplied by
    a constant. The ``rim_*`` columns (``*_0`` raw, ``*_b`` smoothed with sigma
    :data:`RIM_SIGMAS` [1]) are skewness, ``q90 - q50``, ``q50 - q10`` and
    ``ln((q90 - q50) / (q50 - q10))`` of the distance-profile residual (module notes) on
    the pixels at least 2 px from the outline.
    """
    att = np.asarray(attenuation, dtype=np.float64)
    lab = np.asarray(labels)
    if att.ndim != 2 or lab.shape != att.shape or lab.dtype.kind not in "ui":
        raise InputError(f"attenuation {att.shape} and labels {lab.shape} ({lab.dtype}) must be 2D, the same shape, "
                         "labels integer ids")
    if not pixel_size_um > 0:
        raise InputError(f"pixel_size_um={pixel_size_um!r} must be positive (µm)")
    if not 0 <= support < 1:
        raise InputError(f"support={support!r} must lie in [0, 1) (a fraction of the fragment's 90th-percentile "
                         "attenuation)")
    if background is None:
        background = belt_background_level(att, lab > 0)
    att = att - float(background)
    px_mm = pixel_size_um / 1000.0
    ids = np.unique(lab[lab > 0]).astype(np.int64)
    out = np.full((len(ids), len(FEATURE_NAMES)), np.nan)
    boxes = ndi.find_objects(lab.astype(np.int64)) if len(ids) else []
    for row, fid in enumerate(ids):
        box = boxes[fid - 1]
        if box is None:
            continue
        pad = 6
        sl = tuple(slice(max(b.start - pad, 0), min(b.stop + pad, n)) for b, n in zip(box, att.shape))
        m = lab[sl] == fid
        if support > 0 and m.sum() >= min_pixels:
            a0 = att[sl]
            m = m & (a0 >= support * np.percentile(a0[m], 90))
        area = int(m.sum())
        if area < min_pixels:
            continue
        a = att[sl]
        v = np.where(m, np.maximum(a, _FLOOR), 0.0)
        mf = m.astype(np.float64)
        sm2 = ndi.gaussian_filter(v, 2.0) / np.maximum(ndi.gaussian_filter(mf, 2.0), 1e-9)
        top = _erode_cross(m) & (sm2 >= 0.6 * sm2[m].max())
        if top.sum() < 8:
            top = m
        feats = []
        smooth = {2.0: sm2, 1.0: ndi.gaussian_filter(v, 1.0) / np.maximum(ndi.gaussian_filter(mf, 1.0), 1e-9)}
        for s in (1.0, 2.0):
            sm = smooth[s]
            h = np.log(v[top]) - np.log(np.maximum(sm[top], _FLOOR))
            q10, q50, q90 = np.percentile(h, [10, 50, 90])
            feats += [_skew(h), float(h.std()), q90 - q50, q50 - q10]
        d_mm = 2.0 * np.sqrt(area / np.pi) * px_mm
        inside = np.maximum(a[m], _FLOOR)
        feats += [np.log(inside.mean() / d_mm), np.log(np.percentile(inside, 90) / d_mm), np.log(area * px_mm**2)]
        for s1, s2 in DOG_SCALES:
            for s in (s1, s2):
                if s not in smooth:
                    smooth[s] = ndi.gaussian_filter(v, s) / np.maximum(ndi.gaussian_filter(mf, s), 1e-9)
            h = np.log(np.maximum(smooth[s1][top], _FLOOR)) - np.log(np.maximum(smooth[s2][top], _FLOOR))
            q10, q50, q90 = np.percentile(h, [10, 50, 90])
            feats += [_skew(h), q50 - q10, float(np.log(max(q90 - q50, 1e-6) / max(q50 - q10, 1e-6))), float(h.std())]
        dist = ndi.distance_transform_edt(m)
        core = dist >= 2.0
        if core.sum() < 8:
            core = m
        for s in RIM_SIGMAS:
            if s > 0 and s not in smooth:
                smooth[s] = ndi.gaussian_filter(v, s) / np.maximum(ndi.gaussian_filter(mf, s), 1e-9)
            la = np.log(np.maximum(v[core] if s == 0 else smooth[s][core], _FLOOR))
            feats += _tail_stats(_profile_residual(la, dist[core]))
        out[row] = feats
    return ids, out


@dataclass(frozen=True)
class FragmentClassifier:
    """Logistic model ``P(ore) = 1 / (1 + exp(-(w · (x - mean) / scale + b)))`` on :data:`FEATURE_NAMES`.

    Attributes
    ----------
    mean, scale, coef : tuple of float
        Feature standardisation and weights (one per feature).
    intercept : float
    features : tuple of str
        Feature names (must be :data:`FEATURE_NAMES`).
    info : dict
        How it was fitted (data, seed, training accuracy).
    """

    mean: tuple
    scale: tuple
    coef: tuple
    intercept: float
    features: tuple = FEATURE_NAMES
    info: dict | None = None

    def __post_init__(self):
        if tuple(self.features) != FEATURE_NAMES:
            raise InputError(f"classifier features {list(self.features)} differ from this version's {list(FEATURE_NAMES)}")
        n = len(FEATURE_NAMES)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise InputError(f"classifier needs {n} means, scales and weights")

    def decision_function(self, features) -> np.ndarray:
        """Log-odds of ore ``(n,)`` for feature rows ``(n, 27)``; rows with NaN get 0 (undecided)."""
        x = np.asarray(features, dtype=np.float64)
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + float(self.intercept)
        return np.where(np.isfinite(z), z, 0.0)

    def predict_proba(self, features) -> np.ndarray:
        """Probability of ore ``(n,)``."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(features)))

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> FragmentClassifier:
        try:
            return cls(mean=tuple(d["mean"]), scale=tuple(d["scale"]), coef=tuple(d["coef"]),
                       intercept=float(d["intercept"]), features=tuple(d.get("features", FEATURE_NAMES)),
                       info=d.get("info"))
        except KeyError as exc:
            raise InputError(f"fragment classifier record lacks {exc.args[0]!r}") from None


def fit_fragment_classifier(features, is_ore, *, l2: float = 1.0, weights=None, info: dict | None = None,
                            iterations: int = 50) -> FragmentClassifier:
    """Fit the logistic model by Newton's method with an L2 penalty (standardised features).

    Parameters
    ----------
    features : array_like, (n, 27)
        Rows of :func:`fragment_features` (rows with NaN are dropped).
    is_ore : array_like, (n,) bool
        Truth.
    l2 : float
        Penalty on the weights (not the intercept), in units of the summed sample weight
        (``l2 / 2 · |w|²``, as scikit-learn's ``C = 1 / l2``).
    weights : array_like, (n,), optional
        Sample weights (e.g. fragment areas), default 1.
    info : dict, optional
        Stored with the model.
    iterations : int
        Newton steps (converges in about 10).

    Returns
    -------
    FragmentClassifier
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(is_ore, dtype=np.float64).ravel()
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or len(y) != len(x):
        raise InputError(f"features {x.shape} and is_ore {y.shape} must be (n, {len(FEATURE_NAMES)}) and (n,)")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    ok = np.isfinite(x).all(1) & np.isfinite(w)
    x, y, w = x[ok], y[ok], w[ok]
    if len(np.unique(y)) < 2:
        raise InputError("fit_fragment_classifier needs fragments of both classes")
    w = w * len(w) / w.sum()
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    xs = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    beta = np.zeros(xs.shape[1])
    pen = np.full(xs.shape[1], float(l2))
    pen[-1] = 0.0
    for _ in range(int(iterations)):
        p = 1.0 / (1.0 + np.exp(-(xs @ beta)))
        grad = xs.T @ (w * (p - y)) + pen * beta
        hess = (xs * (w * p * (1 - p))[:, None]).T @ xs + np.diag(pen + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    p = 1.0 / (1.0 + np.exp(-(xs @ beta)))
    acc = float(((p >= 0.5) == (y > 0.5)).mean())
    meta = {"n_fragments": int(len(y)), "train_accuracy": acc, "l2": float(l2), **(info or {})}
    return FragmentClassifier(mean=tuple(mean.tolist()), scale=tuple(scale.tolist()), coef=tuple(beta[:-1].tolist()),
                              intercept=float(beta[-1]), info=meta)


def calibrate_fragment_classifier(n_frames: int = 400, *, shape=(128, 128), physics: dict | None = None,
                                  detector: bool = True, fragments: str = "split",
                                  size_classes_mm=((5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0)),
                                  seed=0, min_pixels: int = 30, l2: float = 1.0,
                                  split_on: str = "attenuation") -> FragmentClassifier:
    """Fit the classifier on the project's synthetic frames with physics randomisation.

    Frames of :func:`~liberation.deploy.belt.synthetic.make_belt_image` (the size classes
    in turn, coverage 0.15-0.45, touching fragments, automatic open beam) with the beam,
    ore/gangue ratio, thickness profile and thickness ratio drawn per frame from
    ``physics`` (default :data:`~liberation.deploy.belt.synthetic.PHYSICS_RANGES`);
    fragments of at least ``min_pixels`` pixels, weighted equally, labelled with the
    majority class of their pixels.

    Parameters
    ----------
    n_frames : int
        Number of frames (400: about 2500 fragments, ~1 min on one core).
    shape : (int, int)
        Frame size.
    physics : dict, optional
        Ranges overriding :data:`PHYSICS_RANGES`.
    fragments : {"split", "true"}
        ``"split"``: the true foreground split as the runtime splits a prediction
        (:func:`~liberation.deploy.belt.sorting.split_fragments`: touching fragments merge
        or split as they will at run time); ``"true"``: the true instances.
    split_on : {"attenuation", "distance"}
        The watershed surface of the split (see :func:`classify_fragments`).
    size_classes_mm : sequence of (float, float)
        Size classes used in turn (default 5-25 mm: the sortable classes of
        :data:`~liberation.deploy.belt.synthetic.SIZE_CLASSES_MM`; 0-5 mm fragments are
        mostly below ``min_pixels``).
    detector : bool
        Re-render every frame through a random detector
        (:func:`~liberation.deploy.belt.augment.detector_augment`: gamma, PSF, gains, noise,
        8/12/16 bits), as the segmenter's training does.
    seed : int or Generator
    min_pixels : int
        Smallest fragment used.
    l2 : float
        Penalty (see :func:`fit_fragment_classifier`).

    Returns
    -------
    FragmentClassifier
    """
    from liberation._validation import make_rng
    from liberation.deploy.belt.augment import detector_augment
    from liberation.deploy.belt.preprocess import belt_attenuation, estimate_open_beam
    from liberation.deploy.belt.sorting import split_fragments
    from liberation.deploy.belt.synthetic import PHYSICS_RANGES, make_belt_image

    _check_split_on(split_on)
    if fragments not in ("split", "true"):
        raise InputError(f"fragments={fragments!r} must be 'split' or 'true'")
    classes = [tuple(c) for c in size_classes_mm]
    ranges = {**PHYSICS_RANGES, **(physics or {})}
    rng = make_rng(seed)
    rows, truth = [], []
    for k in range(int(n_frames)):
        mu = rng.uniform(*ranges["mu_gangue_per_mm"])
        lo, hi = rng.uniform(*ranges["thickness_ratio_low"]), rng.uniform(*ranges["thickness_ratio_high"])
        f = make_belt_image(shape, size_class_mm=classes[k % len(classes)], coverage=rng.uniform(0.15, 0.45), seed=rng,
                            mu_gangue_per_mm=mu, mu_ore_per_mm=mu * rng.uniform(*ranges["ore_gangue_ratio"]),
                            profile=rng.uniform(*ranges["profile"]), thickness_ratio=(lo, max(lo, hi)))
        image = f.image
        if detector:
            image = detector_augment(image / float(estimate_open_beam(image[None])[0]), seed=rng)
        att = belt_attenuation(image, i0=float(estimate_open_beam(image[None])[0]))
        if fragments == "split":
            labels = split_fragments(f.mask > 0, attenuation=att if split_on == "attenuation" else None)
        else:
            labels = f.instances
        ids, x = fragment_features(att, labels, pixel_size_um=f.pixel_size_um, min_pixels=min_pixels)
        if not len(ids):
            continue
        n = int(labels.max())
        ore = np.bincount(labels.ravel(), weights=(f.mask == 1).ravel(), minlength=n + 1)[ids]
        waste = np.bincount(labels.ravel(), weights=(f.mask == 2).ravel(), minlength=n + 1)[ids]
        rows.append(x)
        truth.append(ore > waste)
    info = {"data": f"make_belt_image {classes} mm, physics-randomised, {fragments} fragments"
                    + (f" (split on the {_SPLIT_SURFACE[split_on]})" if fragments == "split" else ""),
            "n_frames": int(n_frames),
            "seed": seed if isinstance(seed, int) else None, "min_pixels": int(min_pixels),
            "detector": bool(detector)}
    return fit_fragment_classifier(np.concatenate(rows), np.concatenate(truth), l2=l2, info=info)


def grow_foreground(foreground, attenuation, *, sigma: float = 2.0, margin: int = 3) -> np.ndarray:
    """Add the belt pixels 4-adjacent to the foreground that attenuate clearly more than the belt.

    A pixel joins when its attenuation exceeds the belt level (median over pixels at least
    ``margin`` px from the foreground) by ``sigma`` times the belt's robust standard
    deviation (1.4826 × the median absolute deviation). One pixel of growth, once.

    Parameters
    ----------
    foreground : array_like, (y, x) bool
    attenuation : array_like, (y, x) float
    sigma : float
        Threshold in robust standard deviations of the belt (> 0).
    margin : int
        Distance from the foreground of the belt pixels used for the level, pixels.

    Returns
    -------
    ndarray, (y, x) bool
    """
    fg = np.asarray(foreground, bool)
    att = np.asarray(attenuation, dtype=np.float64)
    if fg.shape != att.shape or fg.ndim != 2:
        raise InputError(f"foreground {fg.shape} and attenuation {att.shape} must be the same 2D shape")
    if not sigma > 0:
        raise InputError(f"grow_sigma={sigma!r} must be positive (robust standard deviations)")
    far = ~ndi.binary_dilation(fg, iterations=int(margin))
    if not fg.any() or far.sum() < 16:
        return fg
    level = float(np.median(att[far]))
    spread = 1.4826 * float(np.median(np.abs(att[far] - level)))
    ring = ndi.binary_dilation(fg, ndi.generate_binary_structure(2, 1)) & ~fg
    return fg | (ring & (att > level + sigma * spread))


_SPLIT_SURFACE = {"attenuation": "distance x attenuation", "distance": "distance"}


def _check_split_on(split_on: str) -> None:
    if split_on not in ("attenuation", "distance"):
        raise InputError(f"split_on={split_on!r} must be 'attenuation' or 'distance'")


def trim_foreground(foreground, attenuation, *, alpha: float = 0.2, margin: int = 3) -> np.ndarray:
    """Remove the outline pixels that carry only the detector blur of their fragment.

    A point-spread function spreads a fragment's steep edge over the belt next to it; a
    segmenter trained on other frames, and :func:`grow_foreground`, then take those pixels
    in. An outline pixel (4-neighbour of the belt) leaves the foreground when its
    attenuation above the belt level is below ``alpha`` times the largest of its interior
    neighbours' (3 × 3): a pixel outside the true outline receives only the blur's tail
    (for a Gaussian PSF of sigma 0.8 px about 11 % of a step 1 px outside and 3 % at
    1.5 px; tested: of a disc grown by two pixels, exactly the outer ring goes, the first
    ring, which holds about a quarter of the step, stays), a pixel inside at least half of
    its neighbours' value. One pixel, once.

    Parameters
    ----------
    foreground : array_like, (y, x) bool
    attenuation : array_like, (y, x) float
    alpha : float
        Fraction of the interior neighbours' attenuation above the belt (0 < alpha < 1).
    margin : int
        Distance from the foreground of the belt pixels that give the belt level, pixels.

    Returns
    -------
    ndarray, (y, x) bool
        The foreground without the blurred rim (a subset of ``foreground``).
    """
    fg = np.asarray(foreground, bool)
    att = np.asarray(attenuation, dtype=np.float64)
    if fg.shape != att.shape or fg.ndim != 2:
        raise InputError(f"foreground {fg.shape} and attenuation {att.shape} must be the same 2D shape")
    if not 0 < alpha < 1:
        raise InputError(f"trim_alpha={alpha!r} must lie between 0 and 1 (a fraction of the interior attenuation)")
    far = ~ndi.binary_dilation(fg, iterations=int(margin))
    if not fg.any() or far.sum() < 16:
        return fg
    above = att - float(np.median(att[far]))
    cross = ndi.generate_binary_structure(2, 1)
    rim = fg & ~ndi.binary_erosion(fg, cross, border_value=1)
    interior = ndi.maximum_filter(np.where(fg & ~rim, above, -np.inf), size=3)
    return fg & ~(rim & np.isfinite(interior) & (above < alpha * interior))


def classify_fragments(probabilities, attenuation, *, classifier: FragmentClassifier | None = None,
                       network_weight: float = 0.0, pixel_size_um: float = 500.0, instances=None,
                       split: bool = True, split_on: str = "attenuation", min_distance: int = 5, min_pixels: int = 8,
                       grow_sigma: float | None = 2.0, trim_alpha: float | None = 0.2) -> np.ndarray:
    """Belt/ore/waste masks: the network's foreground, ore or waste per fragment from its features.

    The foreground is the pixel argmax of the segmenter (class > 0); fragments are its
    connected components split where they touch
    (:func:`~liberation.deploy.belt.sorting.split_fragments`) or the given ``instances``;
    each fragment is ore when its log-odds

        z = classifier(features) + network_weight · logit(mean_fragment p_ore / (p_ore + p_waste))

    is positive. ``network_weight=0`` ignores the network's ore/waste opinion (``decision=
    "features"`` of the runtime), ``1`` adds it (``"hybrid"``). Fragments too small for
    features (< ``min_pixels``) take the network's vote.

    Parameters
    ----------
    probabilities : array_like, (3, y, x) or (n, 3, y, x)
        Softmax of the segmenter (classes belt, ore, waste).
    attenuation : array_like, (y, x) or (n, y, x)
        The segmenter's input: log attenuation.
    classifier : FragmentClassifier, optional
        Default :data:`DEFAULT_FRAGMENT_CLASSIFIER`.
    network_weight : float
        Weight of the network's fragment vote (>= 0).
    pixel_size_um : float
        Pixel size, µm.
    instances : array_like, (y, x) or (n, y, x) int, optional
        Fragment ids instead of the split foreground.
    split, min_distance
        See :func:`~liberation.deploy.belt.sorting.fragment_class_vote`.
    split_on : {"attenuation", "distance"}
        Watershed surface that splits touching fragments: the smoothed attenuation
        times the distance to the belt (default; a valley at the contact of two thick
        fragments) or the distance alone (a neck in the outline),
        :func:`~liberation.deploy.belt.sorting.split_fragments`.
    min_pixels : int
        Smallest fragment given features.
    grow_sigma : float or None
        Edge refinement before the fragments are formed (:func:`grow_foreground`): belt
        pixels next to the foreground whose attenuation exceeds the belt level by
        ``grow_sigma`` robust standard deviations of the belt join it (a fragment's thin
        edge, which a segmenter trained on other frames tends to leave out). ``None``:
        the argmax foreground as it is.
    trim_alpha : float or None
        After the growth, outline pixels whose attenuation above the belt is below
        ``trim_alpha`` times their interior neighbours' leave the foreground
        (:func:`trim_foreground`: the detector blur's rim). ``None``: no trimming.

    Returns
    -------
    ndarray, uint8, (y, x) or (n, y, x)
        0 belt, 1 ore, 2 waste.
    """
    from liberation.deploy.belt.sorting import split_fragments

    p = np.asarray(probabilities, dtype=np.float64)
    att = np.asarray(attenuation, dtype=np.float64)
    if p.ndim not in (3, 4) or p.shape[-3] != 3:
        raise InputError(f"probabilities have shape {p.shape}; expected (3, y, x) or (n, 3, y, x): belt, ore, waste")
    single = p.ndim == 3
    p, att = (p[None], att[None]) if single else (p, att)
    if att.shape != (p.shape[0], *p.shape[2:]):
        raise InputError(f"attenuation has shape {att.shape}; expected {(p.shape[0], *p.shape[2:])}")
    if not network_weight >= 0:
        raise InputError(f"network_weight={network_weight!r} must be >= 0")
    _check_split_on(split_on)
    clf = DEFAULT_FRAGMENT_CLASSIFIER if classifier is None else classifier
    inst = None
    if instances is not None:
        inst = np.asarray(instances)
        inst = inst[None] if inst.ndim == 2 else inst
        if inst.shape != att.shape or inst.dtype.kind not in "ui":
            raise InputError(f"instances have shape {inst.shape} ({inst.dtype}); expected integer ids of shape {att.shape}")
    out = np.zeros(att.shape, np.uint8)
    for i in range(len(p)):
        fg = p[i].argmax(0) > 0
        if grow_sigma is not None:
            fg = grow_foreground(fg, att[i], sigma=grow_sigma)
        if trim_alpha is not None:
            fg = trim_foreground(fg, att[i], alpha=trim_alpha)
        if inst is not None:
            labels = np.where(fg, inst[i], 0)
        elif split:
            labels = split_fragments(fg, min_distance=min_distance,
                                     attenuation=att[i] if split_on == "attenuation" else None)
        else:
            labels = ndi.label(fg)[0]
        if not labels.any():
            continue
        ids, x = fragment_features(att[i], labels, pixel_size_um=pixel_size_um, min_pixels=min_pixels)
        n = int(labels.max())
        flat = labels.ravel()
        share = p[i, 1].ravel() / np.maximum(p[i, 1].ravel() + p[i, 2].ravel(), 1e-12)
        count = np.bincount(flat, minlength=n + 1)[ids]
        vote = np.bincount(flat, weights=share, minlength=n + 1)[ids] / np.maximum(count, 1)
        vote = np.clip(vote, 1e-4, 1 - 1e-4)
        net = np.log(vote / (1 - vote))
        usable = np.isfinite(x).all(1)
        z = np.where(usable, clf.decision_function(x) + float(network_weight) * net, net)
        lut = np.zeros(n + 1, np.uint8)
        lut[ids] = np.where(z > 0, 1, 2)
        out[i] = np.where(fg, lut[labels], 0)
    return out[0] if single else out


#: :func:`calibrate_fragment_classifier` ``(400, seed=0)`` (4171 fragments, 27 features), regenerated by
#: ``python benchmarks/bench_belt_fragment_features.py --calibrate``.
DEFAULT_FRAGMENT_CLASSIFIER = FragmentClassifier(
    mean=(-0.326416, 0.108767, 0.123567, 0.148181, -0.276544, 0.160839, 0.186644, 0.217468, -2.58332, -2.22749, 3.90807, -0.179559, 0.134248, -0.138756, 0.100868, -0.102758, 0.148882, -0.0746541, 0.113689, -0.0539799, 0.253231, 0.261926, -0.0458829, 0.0751858, 0.203385, 0.193259, 0.030552),
    scale=(0.426387, 0.0460859, 0.0539844, 0.0718066, 0.537268, 0.050556, 0.0756555, 0.0833296, 0.470938, 0.480318, 0.808342, 0.625125, 0.0450329, 0.508219, 0.0270909, 0.586869, 0.0454763, 0.512305, 0.0282915, 0.716794, 0.11003, 0.103995, 0.513979, 0.800386, 0.102828, 0.088599, 0.592298),
    coef=(-0.701422, 0.938284, 0.388773, 0.320375, -0.070041, -3.908, 0.303276, 0.221032, 1.82341, -0.573818, 0.684263, -1.14606, 1.06989, 0.148669, 2.05742, 0.130401, 0.383538, 0.953468, -1.28787, -0.453665, 0.802321, 0.05676, -0.526079, -0.674577, -0.975847, 0.243859, 0.18332),
    intercept=-0.996941,
    info={'n_fragments': 4171, 'train_accuracy': 0.8961879645169024, 'l2': 1.0, 'data': 'make_belt_image [(5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0)] mm, physics-randomised, split fragments (split on the distance x attenuation)', 'n_frames': 400, 'seed': 0, 'min_pixels': 30, 'detector': True},
)
