"""K-means clustering of micro-XRF feature stacks (scikit-learn), as in Deep-XFCT (best of 10 starts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liberation._validation import make_rng
from liberation.errors import InputError
from liberation.labels.features import FeatureStack, feature_stack
from liberation.labels.preprocess import DEFAULT_DENOISE, check_maps, denoise_maps, sample_mask

__all__ = ["ClusterResult", "choose_n_clusters", "cluster_features", "kmeans_maps", "mixed_pixels"]

MINIBATCH_THRESHOLD = 500_000


def _seed_int(seed) -> int:
    if isinstance(seed, (int, np.integer)):
        return int(seed)
    return int(make_rng(seed).integers(0, 2**31 - 1))


def cluster_features(
    features: np.ndarray,
    *,
    n_clusters: int,
    seed=0,
    n_init: int = 10,
    max_iter: int = 300,
    minibatch_threshold: int = MINIBATCH_THRESHOLD,
    method: str = "auto",
    batch_size: int = 65536,
    sample_size: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """K-means of feature rows with scikit-learn, best of ``n_init`` k-means++ starts.

    Methods: ``"kmeans"``: full-batch :class:`sklearn.cluster.KMeans` on all rows.
    ``"subsample"``: full-batch K-means (best of ``n_init``) on ``sample_size`` random rows, then
    Lloyd iterations on all rows from those centres (usually 2-3 until convergence), so the result
    is a full-batch K-means optimum at a fraction of the cost. ``"minibatch"``:
    :class:`sklearn.cluster.MiniBatchKMeans` with large batches (``batch_size``) and its starts
    compared on ``sample_size`` rows. ``"auto"`` (default): ``"kmeans"`` up to
    ``minibatch_threshold`` rows, ``"subsample"`` above. On a 2000 x 2000 x 9 map (one core),
    subsample took 3.5 s, mini-batch (batch 65 536) 23 s, full batch 56 s, all with the same
    inertia; scikit-learn's default mini-batch (batch 1024) lost a rare cluster (see
    docs/performance_labels.md).

    Parameters
    ----------
    features : numpy.ndarray
        (n_pixels, n_channels) float.
    n_clusters : int
        Number of clusters, 1..min(254, n_pixels).
    seed : int or numpy.random.Generator
        Random seed of the initialisations.
    n_init : int
        Number of k-means++ initialisations; the one with the lowest inertia is kept.
    max_iter : int
        Maximum iterations (full batch); mini-batch makes at most ``min(max_iter, 20)`` passes over the data.
    minibatch_threshold : int
        Rows above which ``method="auto"`` does not run full-batch K-means on all rows.
    method : {"auto", "kmeans", "subsample", "minibatch"}
        See above.
    batch_size : int
        Mini-batch size.
    sample_size : int
        Rows used to compare the initialisations (mini-batch) or to cluster first (subsample).

    Returns
    -------
    labels : numpy.ndarray
        (n_pixels,) int cluster index 0..K-1, ordered by decreasing cluster size.
    centers : numpy.ndarray
        (K, n_channels) cluster centres in feature units, in the same order.
    inertia : float
        Sum of squared distances of the rows to their centre.
    method : str
        The method used: ``"kmeans"``, ``"minibatch"`` or ``"subsample"``.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] == 0:
        raise InputError(f"features has shape {features.shape}; expected (n_pixels > 0, n_channels)")
    n = features.shape[0]
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise InputError(f"n_clusters={n_clusters!r}; expected a positive integer")
    if n_clusters > n:
        raise InputError(f"n_clusters={n_clusters} is more than the {n} sample pixels; give fewer clusters")
    if n_clusters > 254:
        raise InputError(f"n_clusters={n_clusters}; at most 254 clusters fit a uint8 label map")
    if n_init < 1:
        raise InputError(f"n_init={n_init!r}; expected at least 1")
    if method not in ("auto", "kmeans", "minibatch", "subsample"):
        raise InputError(f"method={method!r}; expected 'auto', 'kmeans', 'minibatch' or 'subsample'")
    random_state = _seed_int(seed)
    if method == "auto":
        method = "subsample" if n > minibatch_threshold else "kmeans"
    if method == "subsample" and n <= sample_size:
        method = "kmeans"
    if method == "minibatch":
        model = MiniBatchKMeans(n_clusters=int(n_clusters), n_init=int(n_init), random_state=random_state,
                                batch_size=int(min(batch_size, n)),
                                init_size=int(min(n, max(sample_size, 3 * n_clusters))),
                                max_iter=min(int(max_iter), 20), compute_labels=False)
        model.fit(features)
        labels = model.predict(features)
    elif method == "subsample":
        rng = make_rng(random_state)
        rows = features[rng.choice(n, size=int(sample_size), replace=False)]
        first = KMeans(n_clusters=int(n_clusters), n_init=int(n_init), random_state=random_state,
                       max_iter=int(max_iter)).fit(rows)
        model = KMeans(n_clusters=int(n_clusters), init=first.cluster_centers_, n_init=1, max_iter=int(max_iter),
                       random_state=random_state).fit(features)
        labels = model.labels_
    else:
        model = KMeans(n_clusters=int(n_clusters), n_init=int(n_init), random_state=random_state,
                       max_iter=int(max_iter)).fit(features)
        labels = model.labels_
    labels, centers, inertia = _biggest_first(features, labels, model.cluster_centers_)
    return labels, centers, inertia, method


def choose_n_clusters(
    features: np.ndarray,
    *,
    candidates: Iterable[int] = range(2, 11),
    sample_size: int = 5000,
    seed=0,
    n_init: int = 4,
) -> tuple[int, pd.DataFrame]:
    """Choose the number of clusters by the mean silhouette coefficient on a random subsample.

    Criterion: the candidate with the highest mean silhouette (:func:`sklearn.metrics.silhouette_score`)
    of K-means on ``sample_size`` random rows; ties go to the smaller number.

    Parameters
    ----------
    features : numpy.ndarray
        (n_pixels, n_channels).
    candidates : iterable of int
        Numbers of clusters to try (each >= 2).
    sample_size : int
        Rows drawn (without replacement) for the test.
    seed : int or numpy.random.Generator
        Random seed (subsample and K-means).
    n_init : int
        K-means starts per candidate.

    Returns
    -------
    k : int
        The chosen number of clusters.
    table : pandas.DataFrame
        Columns ``n_clusters``, ``silhouette``, ``inertia``, ``chosen``; ``attrs["criterion"]`` states it.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    features = np.asarray(features)
    cands = sorted({int(k) for k in candidates})
    if not cands or cands[0] < 2:
        raise InputError(f"candidates={list(candidates)!r}; expected numbers of clusters >= 2")
    rng = make_rng(seed)
    n = features.shape[0]
    rows = features[rng.choice(n, size=min(n, int(sample_size)), replace=False)] if n > sample_size else features
    valid = [k for k in cands if k < rows.shape[0]]
    if not valid:
        raise InputError(f"candidates {cands} need more than {rows.shape[0]} sample pixels")
    records = []
    random_state = _seed_int(rng)
    for k in valid:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(rows)
        score = silhouette_score(rows, model.labels_) if len(np.unique(model.labels_)) > 1 else -1.0
        records.append({"n_clusters": k, "silhouette": float(score), "inertia": float(model.inertia_)})
    table = pd.DataFrame(records)
    best = int(table.loc[table["silhouette"].idxmax(), "n_clusters"])
    table["chosen"] = table["n_clusters"] == best
    table.attrs["criterion"] = f"highest mean silhouette on {rows.shape[0]} random sample pixels"
    return best, table


@dataclass
class ClusterResult:
    """K-means clusters of a map.

    Attributes
    ----------
    cluster_map : numpy.ndarray
        (y, x) uint8: 0 = outside the sample mask, 1..K = cluster (1 = biggest).
    centroids : pandas.DataFrame
        Index ``cluster`` 1..K; one column per channel: mean of the input maps (input units, before
        denoising and scaling) over the cluster's pixels (like Table 2 of Deep-XFCT).
    centroids_scaled : pandas.DataFrame
        Cluster centres in the scaled feature space used by K-means.
    spread : pandas.DataFrame or None
        Index ``cluster``; one column per channel: standard deviation of the input maps over the
        cluster's pixels (input units): the measured noise that reference matching weighs
        distances by (:func:`~liberation.labels.assign.match_signatures`).
    features : numpy.ndarray or None
        (n_pixels, n_channels) float32 scaled features of the mask pixels (row-major order), kept
        only with ``keep_features=True``.
    pure : numpy.ndarray or None
        (y, x) bool: sample pixels that K-means was fitted on (``mixed="exclude"``: not mixed
        pixels; :func:`mixed_pixels`); None with ``mixed="keep"``.
    abundance : pandas.DataFrame
        Index ``cluster``; columns ``pixels`` and ``percent`` (of the sample pixels).
    mask : numpy.ndarray
        (y, x) bool sample mask.
    channels : list of str
    method : str
        ``"kmeans"`` (full batch), ``"subsample"`` or ``"minibatch"``.
    inertia : float
    k_selection : pandas.DataFrame or None
        The table of :func:`choose_n_clusters` when the number of clusters was chosen.
    parameters : dict
        The options used (for provenance).
    """

    cluster_map: np.ndarray
    centroids: pd.DataFrame
    centroids_scaled: pd.DataFrame
    abundance: pd.DataFrame
    mask: np.ndarray
    channels: list
    method: str
    inertia: float
    k_selection: pd.DataFrame | None = None
    parameters: dict = field(default_factory=dict)
    spread: pd.DataFrame | None = None
    features: np.ndarray | None = field(default=None, repr=False)
    pure: np.ndarray | None = field(default=None, repr=False)
    void: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_clusters(self) -> int:
        return len(self.centroids)


def kmeans_maps(
    maps: Mapping[str, np.ndarray],
    *,
    n_clusters: int | str,
    elements: Sequence[str] | None = None,
    denoise: Iterable[str] | Mapping[str, Mapping] | None = DEFAULT_DENOISE,
    sigma_spatial_px: float = 2.0,
    sigma_color: float | None = None,
    scaling: str = "noise",
    mask: np.ndarray | str | None = "auto",
    ct: np.ndarray | None = None,
    ct_weight: float = 1.0,
    extra: Mapping[str, np.ndarray] | None = None,
    seed=0,
    n_init: int = 10,
    minibatch_threshold: int = MINIBATCH_THRESHOLD,
    method: str = "auto",
    candidates: Iterable[int] = range(2, 11),
    keep_features: bool = False,
    mixed: str = "exclude",
) -> ClusterResult:
    """Cluster micro-XRF element maps into phases: denoise, scale, mask, stack, K-means.

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray
        Element -> (y, x) map (counts or 8-bit), all of one shape.
    n_clusters : int or "auto"
        Number of clusters, or ``"auto"`` to choose it with :func:`choose_n_clusters` (reported in
        :attr:`ClusterResult.k_selection`).
    elements : sequence of str, optional
        Elements to cluster on (default: all maps).
    denoise : iterable of str or mapping, optional
        Elements to bilateral-filter before scaling (default Na, Mg; see
        :func:`~liberation.labels.preprocess.denoise_maps`); ``None``: none.
    sigma_spatial_px, sigma_color : float
        Bilateral filter options.
    scaling : {"noise", "8bit", "zscore", "poisson", "none"}
        Channel scaling.
    mask : numpy.ndarray of bool, "auto" or None
        Sample mask; ``"auto"``: Otsu on the CT slice if given, else on total counts
        (:func:`~liberation.labels.preprocess.sample_mask`); ``None``: every pixel.
    ct : numpy.ndarray, optional
        Co-registered CT slice (any size covering the same field), added as channel ``"CT"``.
    ct_weight : float
        Weight of the scaled CT channel.
    extra : mapping of str to numpy.ndarray, optional
        Other channels.
    seed : int or numpy.random.Generator
        Random seed.
    n_init : int
        K-means starts (best of ``n_init``; 10 as in Deep-XFCT).
    minibatch_threshold : int
        Sample pixels above which K-means runs on a subsample first (or mini-batch, see ``method``).
    method : {"auto", "kmeans", "minibatch", "subsample"}
        See :func:`cluster_features`.
    candidates : iterable of int
        Numbers of clusters tried when ``n_clusters="auto"``.
    keep_features : bool
        Keep the scaled feature matrix in :attr:`ClusterResult.features`.
    mixed : {"exclude", "keep"}
        ``"exclude"`` (default): mixed pixels (grain boundaries: a pixel whose features are a
        mixture of two cluster centres, and clusters made of such pixels) are left out of the
        K-means fit, so that no cluster is spent on them; every pixel is then given the nearest
        centre of the fit on the pure pixels (see :func:`mixed_pixels`). ``"keep"``: plain K-means
        on every pixel.

    Returns
    -------
    ClusterResult
    """
    shape = check_maps(maps)
    if isinstance(mask, str):
        if mask != "auto":
            raise InputError(f"mask={mask!r}; expected a boolean array, 'auto' or None")
        ct_grid = None
        if ct is not None:
            from liberation.labels.features import resample_to_grid

            ct_grid = resample_to_grid(ct, shape)
        mask_arr = sample_mask(maps, ct=ct_grid)
    elif mask is None:
        mask_arr = np.ones(shape, dtype=bool)
    else:
        mask_arr = np.asarray(mask).astype(bool)
        if mask_arr.shape != shape:
            raise InputError(f"mask has shape {mask_arr.shape}; expected the map shape {shape}")
    n_pixels = int(mask_arr.sum())
    if isinstance(n_clusters, (int, np.integer)) and n_clusters > n_pixels:
        raise InputError(f"n_clusters={n_clusters} is more than the {n_pixels} sample pixels; give fewer clusters")
    denoised = denoise_maps(maps, elements=denoise, sigma_spatial_px=sigma_spatial_px, sigma_color=sigma_color,
                            mask=mask_arr)
    stack: FeatureStack = feature_stack(denoised, elements=elements, ct=ct, extra=extra, mask=mask_arr,
                                        scaling=scaling, raw_maps=maps,
                                        weights={"CT": ct_weight} if ct is not None else None)
    k_table = None
    if isinstance(n_clusters, str):
        if n_clusters != "auto":
            raise InputError(f"n_clusters={n_clusters!r}; expected a positive integer or 'auto'")
        n_clusters, k_table = choose_n_clusters(stack.features, candidates=candidates, seed=seed)
    if mixed not in ("exclude", "keep"):
        raise InputError(f"mixed={mixed!r}; expected 'exclude' or 'keep'")
    labels, centers, inertia, method = cluster_features(
        stack.features, n_clusters=int(n_clusters), seed=seed, n_init=n_init,
        minibatch_threshold=minibatch_threshold, method=method,
    )
    pure = None
    void = _void_features(stack, maps, ct, extra)
    if mixed == "exclude" and int(n_clusters) >= 2:
        labels, centers, refit_inertia, pure = _fit_on_pure_pixels(
            stack.features, mask_arr, labels, centers, seed=seed, n_init=n_init,
            minibatch_threshold=minibatch_threshold, method=method, void=void)
        inertia = inertia if refit_inertia is None else refit_inertia
    k = int(centers.shape[0])
    cluster_map = np.zeros(shape, dtype=np.uint8)
    cluster_map[mask_arr] = (labels + 1).astype(np.uint8)
    counts = np.bincount(labels, minlength=k)
    # centroids and spreads over the pure pixels of each cluster (all its pixels when it has none)
    weight = np.ones(labels.shape[0], dtype=np.float64)
    if pure is not None:
        pure_counts = np.bincount(labels, weights=pure.astype(np.float64), minlength=k)
        weight = np.where(pure | (pure_counts[labels] < 2), 1.0, 0.0)
    n_used = np.bincount(labels, weights=weight, minlength=k)
    sums = np.zeros((k, stack.raw.shape[1]), dtype=np.float64)
    _add_by_label(sums, labels, stack.raw, weight)
    means = sums / np.maximum(n_used, 1)[:, None]
    squares = np.zeros_like(sums)
    for j in range(stack.raw.shape[1]):  # centred per channel: no cancellation, one column of memory
        dev = stack.raw[:, j] - means[labels, j]
        squares[:, j] = np.bincount(labels, weights=weight * dev * dev, minlength=k)
    spread = np.sqrt(squares / np.maximum(n_used - 1, 1)[:, None])
    pure_map = None
    if pure is not None:
        pure_map = np.zeros(shape, dtype=bool)
        pure_map[mask_arr] = pure
    index = pd.Index(np.arange(1, k + 1), name="cluster")
    centroids = pd.DataFrame(means, index=index, columns=stack.channels)
    centroids_scaled = pd.DataFrame(centers, index=index, columns=stack.channels)
    spread_table = pd.DataFrame(spread, index=index, columns=stack.channels)
    abundance = pd.DataFrame({"pixels": counts.astype(np.int64), "percent": 100.0 * counts / max(n_pixels, 1)},
                             index=index)
    parameters = {
        "n_clusters": int(n_clusters), "n_clusters_kept": k, "elements": list(stack.channels),
        "denoise": _jsonable_denoise(denoise),
        "sigma_spatial_px": sigma_spatial_px, "sigma_color": sigma_color, "scaling": scaling,
        "ct": ct is not None, "ct_weight": ct_weight, "seed": seed if isinstance(seed, (int, np.integer)) else None,
        "n_init": n_init, "method": method, "minibatch_threshold": minibatch_threshold,
        "n_clusters_chosen": k_table is not None, "mixed": mixed,
        "mixed_pixels_percent": None if pure is None else float(100.0 * (~pure).mean()),
    }
    return ClusterResult(cluster_map=cluster_map, centroids=centroids, centroids_scaled=centroids_scaled,
                         abundance=abundance, mask=mask_arr, channels=list(stack.channels), method=method,
                         inertia=inertia, k_selection=k_table, parameters=parameters,
                         spread=spread_table, features=stack.features if keep_features else None,
                         pure=pure_map, void=void if keep_features else None)


def _add_by_label(sums: np.ndarray, labels: np.ndarray, values: np.ndarray, weight: np.ndarray | None = None) -> None:
    for j in range(values.shape[1]):
        w = values[:, j] if weight is None else weight * values[:, j]
        sums[:, j] = np.bincount(labels, weights=w, minlength=sums.shape[0])


def _jsonable_denoise(denoise):
    if denoise is None:
        return []
    if isinstance(denoise, Mapping):
        return {str(k): dict(v or {}) for k, v in denoise.items()}
    return [str(e) for e in denoise]


#: Mixture fractions counted as mixed: a pixel or cluster centre lying between two centres at 20-80 %.
MIXED_FRACTION = (0.2, 0.8)
#: Least drop of the squared (noise-whitened) residual for a pixel to count as a two-centre mixture.
MIXED_CHI2 = 9.0


def _void_features(stack: FeatureStack, maps, ct, extra) -> np.ndarray | None:
    """Features of no signal (zero in every element map), when every channel is an element map."""
    if ct is not None or extra or not all(c in maps for c in stack.channels):
        return None
    table = stack.scaling.loc[stack.channels]
    return (-table["offset"].to_numpy(dtype=np.float64) * table["scale"].to_numpy(dtype=np.float64))


def _two_nearest(features: np.ndarray, centers: np.ndarray, block: int = 262_144):
    """Indices of the two nearest centres of each row and the squared distance to the nearest."""
    n = features.shape[0]
    first = np.empty(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    d1 = np.empty(n, dtype=np.float64)
    c = centers.astype(np.float64)
    cc = (c * c).sum(axis=1)
    for start in range(0, n, block):
        rows = features[start:start + block].astype(np.float64)
        d2 = (rows * rows).sum(axis=1)[:, None] - 2.0 * rows @ c.T + cc[None, :]
        if c.shape[0] >= 2:
            part = np.argpartition(d2, 1, axis=1)[:, :2]
            swap = np.take_along_axis(d2, part[:, :1], 1)[:, 0] > np.take_along_axis(d2, part[:, 1:], 1)[:, 0]
            part[swap] = part[swap][:, ::-1]
            first[start:start + block], second[start:start + block] = part[:, 0], part[:, 1]
        else:
            first[start:start + block] = 0
        d1[start:start + block] = np.maximum(np.take_along_axis(d2, first[start:start + block, None], 1)[:, 0], 0.0)
    return first, second, d1


def mixed_pixels(features: np.ndarray, centers: np.ndarray, *, fraction: tuple[float, float] = MIXED_FRACTION,
                 chi2: float = MIXED_CHI2, void: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels whose features are a linear mixture of their two nearest cluster centres.

    Each row ``x`` is unmixed between its nearest centre ``a`` and second nearest ``b``:
    ``x ~ (1 - t) a + t b`` by least squares, ``t`` clipped to 0..1. The row is *mixed* when
    ``fraction[0] <= t <= fraction[1]`` and the mixture lowers the squared distance by more than
    ``chi2`` (the features are noise-whitened by the default scaling: one unit = one noise standard
    deviation, so a pure pixel lowers it by a chi-square of one degree of freedom, above 9 in 0.3 %
    of pure pixels).

    Parameters
    ----------
    features : numpy.ndarray
        (n_pixels, n_channels) scaled features.
    centers : numpy.ndarray
        (K, n_channels) cluster centres in the same units.
    fraction : (float, float)
        Range of the mixture fraction counted as mixed.
    chi2 : float
        Least drop of the squared residual.
    void : numpy.ndarray, optional
        (n_channels,) features of no signal (the void outside the sample): a row that is a mixture
        of its nearest centre and the void (a pixel on the sample rim) is mixed too.

    Returns
    -------
    mixed : numpy.ndarray
        (n_pixels,) bool.
    nearest, second : numpy.ndarray
        (n_pixels,) int indices of the two nearest centres.
    t : numpy.ndarray
        (n_pixels,) float fraction of ``second`` in the mixture (0..1).
    """
    features = np.asarray(features)
    centers = np.asarray(centers, dtype=np.float64)
    first, second, d1 = _two_nearest(features, centers)
    if centers.shape[0] < 2:
        return np.zeros(features.shape[0], bool), first, second, np.zeros(features.shape[0])
    t = np.empty(features.shape[0], dtype=np.float64)
    gain = np.empty(features.shape[0], dtype=np.float64)
    for start in range(0, features.shape[0], 262_144):
        sl = slice(start, start + 262_144)
        a, b = centers[first[sl]], centers[second[sl]]
        u = b - a
        uu = np.maximum((u * u).sum(axis=1), 1e-12)
        tt = np.clip(((features[sl] - a) * u).sum(axis=1) / uu, 0.0, 1.0)
        t[sl] = tt
        gain[sl] = d1[sl] - np.maximum(d1[sl] - 2 * tt * ((features[sl] - a) * u).sum(axis=1) + tt * tt * uu, 0.0)
    mixed = (t >= fraction[0]) & (t <= fraction[1]) & (gain > chi2)
    if void is not None:
        void = np.asarray(void, dtype=np.float64)
        for start in range(0, features.shape[0], 262_144):
            sl = slice(start, start + 262_144)
            a = centers[first[sl]]
            u = void[None, :] - a
            uu = np.maximum((u * u).sum(axis=1), 1e-12)
            proj = ((features[sl] - a) * u).sum(axis=1)
            tv = np.clip(proj / uu, 0.0, 1.0)
            gv = d1[sl] - np.maximum(d1[sl] - 2 * tv * proj + tv * tv * uu, 0.0)
            mixed[sl] |= (tv >= fraction[0]) & (tv <= fraction[1]) & (gv > chi2)
    return mixed, first, second, t


def _spread_along(features, rows, labels, cluster, unit) -> float:
    """Robust standard deviation (1.4826 MAD) of a cluster's pixels projected on a unit vector."""
    proj = features[rows[labels == cluster]] @ unit
    if proj.size < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(proj - np.median(proj))))


def _mixture_clusters(features: np.ndarray, centers: np.ndarray, labels: np.ndarray, mask: np.ndarray,
                      rows: np.ndarray, fraction: tuple[float, float] = MIXED_FRACTION, tolerance: float = 0.15,
                      contact: float = 0.3, void: np.ndarray | None = None) -> list[int]:
    """Clusters of boundary pixels between two other clusters.

    Cluster ``c`` is a mixture of ``a`` and ``b`` when (1) its centre lies within ``tolerance`` x
    (its distance to the nearer of the two) of the segment a-b, at a fraction in ``fraction`` (the
    mean of mixtures lies on the segment; the Deep-XFCT laumontite, the mineral nearest to a
    mixture of two others in the zoo, is 0.22-0.26 off, boundary clusters 0.05-0.07), (2) at least
    ``contact`` of its pixels touch (8 neighbours) a pixel of ``a`` and as many one of ``b``, and
    (3) its pixels spread along the line a-b more than those of ``a`` and of ``b`` (mixtures of all
    fractions; a mineral spreads by its noise). ``features[rows]`` are the clustered pixels,
    ``labels`` their clusters (``rows`` index the pixels of ``mask`` in row-major order). With
    ``void`` (features of no signal), ``b`` may be the void outside the mask (rim clusters).
    """
    from scipy import ndimage

    k = centers.shape[0]
    if k < 3:
        return []
    image = np.full(mask.shape, -1, dtype=np.int64)
    flat = np.full(int(mask.sum()), -1, dtype=np.int64)
    flat[rows] = labels
    image[mask] = flat
    found = []
    touch_cache: dict[int, np.ndarray] = {}

    def touches(cluster: int) -> np.ndarray:
        if cluster not in touch_cache:
            region = ~mask if cluster == k else image == cluster
            touch_cache[cluster] = ndimage.binary_dilation(region, structure=np.ones((3, 3), bool))
        return touch_cache[cluster]

    def spread(cluster: int, unit: np.ndarray) -> float:
        return 0.0 if cluster == k else _spread_along(features, rows, labels, cluster, unit)

    ends = centers if void is None else np.vstack([centers, np.asarray(void, dtype=np.float64)[None, :]])

    for c in range(k):
        mc = centers[c]
        own = image == c
        n_own = int(own.sum())
        if n_own == 0:
            continue
        for a in range(k):
            for b in range(a + 1, ends.shape[0]):
                if c in (a, b):
                    continue
                u = ends[b] - ends[a]
                uu = float(u @ u)
                if uu <= 0:
                    continue
                t = float((mc - ends[a]) @ u) / uu
                if not fraction[0] <= t <= fraction[1]:
                    continue
                residual = float(np.linalg.norm(mc - ends[a] - t * u))
                near = min(float(np.linalg.norm(mc - ends[a])), float(np.linalg.norm(mc - ends[b])))
                if residual > tolerance * near:
                    continue
                if touches(a)[own].mean() < contact or touches(b)[own].mean() < contact:
                    continue
                unit = u / np.sqrt(uu)
                if spread(c, unit) <= max(spread(a, unit), spread(b, unit)):
                    continue
                found.append(c)
                break
            if found and found[-1] == c:
                break
    return found


def _refit_from(rows: np.ndarray, kept: np.ndarray, k: int, *, seed, n_init: int,
                sample_size: int = 100_000) -> np.ndarray:
    """K-means of ``rows`` started from the ``kept`` centres plus new ones drawn k-means++-like.

    The clusters already found stay where they are (a fresh fit may trade a small mineral for a
    split of a big one); the centres of mixture clusters are redrawn among the pure pixels with
    probability proportional to the squared distance to the nearest kept centre, best of ``n_init``
    draws (lowest inertia, on at most ``sample_size`` rows), then Lloyd iterations on all rows.
    """
    from sklearn.cluster import KMeans

    rng = make_rng(_seed_int(seed))
    sample = rows if rows.shape[0] <= sample_size else rows[rng.choice(rows.shape[0], sample_size, replace=False)]
    n_new = k - kept.shape[0]
    trials = max(1, int(n_init)) if n_new > 0 else 1
    best, best_inertia = None, np.inf
    for _ in range(trials):
        init = kept.astype(np.float64)
        for _ in range(n_new):
            d2 = _two_nearest(sample, init)[2]
            p = d2 / d2.sum() if d2.sum() > 0 else None
            init = np.vstack([init, sample[rng.choice(sample.shape[0], p=p)][None, :].astype(np.float64)])
        model = KMeans(n_clusters=k, init=init, n_init=1, max_iter=300).fit(sample)
        if model.inertia_ < best_inertia:
            best, best_inertia = model.cluster_centers_, model.inertia_
    if sample is not rows:
        best = KMeans(n_clusters=k, init=best, n_init=1, max_iter=300).fit(rows).cluster_centers_
    return np.asarray(best, dtype=np.float64)


def _fit_on_pure_pixels(features, mask, labels, centers, *, seed, n_init, minibatch_threshold, method,
                        rounds: int = 3, void=None):
    """K-means refitted on the pure pixels (mixed pixels and mixture clusters left out), then every
    pixel given its nearest centre; a mixture cluster still found after the last round is dropped
    (fewer clusters than asked). Returns labels, centres, inertia and the bool mask of pure rows;
    when no cluster of the plain fit is a mixture cluster, the plain fit unchanged, None, None."""
    k = centers.shape[0]
    n = features.shape[0]
    pure = np.ones(n, dtype=bool)
    for _ in range(rounds):
        rows = np.flatnonzero(pure)
        fit_labels = _two_nearest(features[rows], centers)[0]
        bad = _mixture_clusters(features, centers, fit_labels, mask, rows, void=void)
        if not bad and pure.all():
            return labels, centers, None, None  # no cluster spent on boundary pixels: plain K-means stands
        keep = np.delete(centers, bad, axis=0) if bad else centers
        mixed = mixed_pixels(features, keep, void=void)[0]
        new_pure = ~mixed
        if bad:
            all_labels = _two_nearest(features, centers)[0]
            new_pure &= ~np.isin(all_labels, bad)
        if int(new_pure.sum()) < 10 * k or (not bad and np.array_equal(new_pure, pure)):
            break
        pure = new_pure
        centers = _refit_from(features[pure], keep, k, seed=seed, n_init=n_init)
    # a mixture cluster left after the last round: dropped, its pixels go to the nearest other centre
    rows = np.flatnonzero(pure)
    bad = _mixture_clusters(features, centers, _two_nearest(features[rows], centers)[0], mask, rows, void=void)
    if bad and len(bad) < centers.shape[0]:
        centers = np.delete(centers, bad, axis=0)
        k = centers.shape[0]
    labels, centers, inertia = _biggest_first(features, _two_nearest(features, centers)[0], centers)
    return labels, centers, inertia, pure


def _biggest_first(features: np.ndarray, labels: np.ndarray, centers: np.ndarray):
    """Renumber clusters by size (biggest first, stable); return labels, float64 centres and the inertia."""
    k = centers.shape[0]
    counts = np.bincount(labels, minlength=k)
    order = np.lexsort((np.arange(k), -counts))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    labels = rank[labels]
    centers = centers[order]
    diff = features - centers[labels]
    inertia = float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
    return labels, centers.astype(np.float64), inertia
