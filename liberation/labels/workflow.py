"""From micro-XRF element maps to a mineral label map in one call (cluster, then assign)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liberation.errors import InputError
from liberation.labels.assign import Assignment, assign_by_rules, assign_explicit, match_signatures, mineral_map
from liberation.labels.duplicates import duplicate_groups, near_duplicates
from liberation.labels.kmeans import MINIBATCH_THRESHOLD, MIXED_CHI2, MIXED_FRACTION, ClusterResult, kmeans_maps
from liberation.labels.preprocess import DEFAULT_DENOISE
from liberation.labels.unmix import unmix_labels
from liberation.labels.validate import abundance_table
from liberation.minerals import Mineral, MineralList

__all__ = ["LabelResult", "unmixed_abundance", "xrf_labels"]


@dataclass
class LabelResult:
    """Mineral labels of a 2D map.

    Attributes
    ----------
    labels : numpy.ndarray
        (y, x) uint8 mineral ids, 0 = outside the sample / void.
    minerals : pandas.DataFrame
        Index ``id``; columns ``name``, ``color``, ``density`` (g/cm³, NaN if unknown), ``clusters``.
    abundance : pandas.DataFrame
        Index ``id``; ``name``, ``pixels``, ``percent`` (of the sample pixels)[, ``mass_percent``]
        [, ``unmixed_percent``: mixed pixels split between two minerals, :func:`unmixed_abundance`].
        ``percent`` counts each pixel once for its (majority) label: on fine-grained maps it is
        biased (a perfect majority labelling of 3-pixel grains is 1.4-1.8 pp off the area
        fractions); ``unmixed_percent`` estimates the area fractions.
    pixel_size_um : float or None
        Map pixel size in µm.
    clusters : ClusterResult or None
        The K-means result (micro-XRF), with the cluster map and the centroid table.
    assignment : Assignment or None
        How clusters became minerals, with distances and doubtful flags.
    duplicates : pandas.DataFrame or None
        Near-duplicate cluster pairs (:func:`~liberation.labels.duplicates.near_duplicates`).
    parameters : dict
        Options used (for provenance).
    """

    labels: np.ndarray
    minerals: pd.DataFrame
    abundance: pd.DataFrame
    pixel_size_um: float | None = None
    clusters: ClusterResult | None = None
    assignment: Assignment | None = None
    parameters: dict = field(default_factory=dict)
    duplicates: pd.DataFrame | None = None

    @property
    def centroids(self) -> pd.DataFrame | None:
        """Centroid table with the assigned mineral and the abundance (like Table 2 of Deep-XFCT)."""
        if self.clusters is None:
            return None
        table = self.clusters.centroids.copy()
        if self.assignment is not None:
            table.insert(0, "mineral", [self.assignment.mapping.get(int(c)) for c in table.index])
        table["percent"] = self.clusters.abundance["percent"]
        return table

    def mineral_list(self) -> MineralList | None:
        """The minerals as a :class:`~liberation.minerals.MineralList` (None if a density is unknown)."""
        table = self.minerals
        if table.empty or table["density"].isna().any():
            return None
        return MineralList(Mineral(int(i), str(r["name"]), float(r["density"]), str(r["color"]))
                           for i, r in table.iterrows())


def xrf_labels(
    maps: Mapping[str, np.ndarray],
    *,
    n_clusters: int | str,
    pixel_size_um: float | None = None,
    reference: pd.DataFrame | None = None,
    mapping: Mapping[int, str | None] | None = None,
    rules: str | Sequence[str] | Mapping[str, str] | None = None,
    minerals: MineralList | None = None,
    elements: Sequence[str] | None = None,
    denoise: Iterable[str] | Mapping[str, Mapping] | None = DEFAULT_DENOISE,
    sigma_spatial_px: float = 2.0,
    sigma_color: float | None = None,
    scaling: str = "noise",
    mask: np.ndarray | str | None = "auto",
    ct: np.ndarray | None = None,
    ct_weight: float = 1.0,
    extra: Mapping[str, np.ndarray] | None = None,
    normalize: str = "fit",
    naming: str = "nearest",
    max_z: float = 4.0,
    refine: bool = True,
    merge_duplicates: bool = True,
    seed=0,
    n_init: int = 10,
    minibatch_threshold: int = MINIBATCH_THRESHOLD,
    mixed: str = "exclude",
    unmix: bool = True,
) -> LabelResult:
    """Mineral label map from micro-XRF element maps: K-means clusters, then mineral assignment.

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray
        Element -> (y, x) map, all of one shape.
    n_clusters : int or "auto"
        Number of clusters (see :func:`~liberation.labels.kmeans.kmeans_maps`).
    pixel_size_um : float, optional
        Map pixel size in µm (recorded in the result).
    reference : pandas.DataFrame, optional
        Reference signatures (one row per mineral, one column per element): each cluster gets the
        nearest signature in a noise-aware distance, several clusters may share a mineral, a
        cluster far from every signature stays unnamed and doubtful
        (:func:`~liberation.labels.assign.match_signatures`).
    mapping : mapping of int to str, optional
        Explicit cluster -> mineral mapping.
    rules : str, sequence or mapping, optional
        Declarative rules (:func:`~liberation.labels.assign.assign_by_rules`).
    minerals : MineralList, optional
        Ids, colours and densities of the mineral names.
    elements, denoise, sigma_spatial_px, sigma_color, scaling, mask, ct, ct_weight, extra, seed, n_init,
    minibatch_threshold, mixed
        See :func:`~liberation.labels.kmeans.kmeans_maps`.
    normalize : {"fit", "range", "zscore", "none"}
        Calibration of the reference to the map units for reference matching.
    naming : {"nearest", "one-to-one"}
        Reference matching: many-to-one by nearest signature (default) or optimal one-to-one.
    max_z : float
        Nearest naming: a cluster more than ``max_z`` within-cluster standard deviations from its
        nearest signature in some element stays unnamed.
    refine : bool
        Nearest naming: each pixel of a named cluster goes to the nearest mineral centre in the
        K-means feature space (a mineral's centre: the pixel-weighted mean of its clusters'
        centres), so that clusters of mixed pixels between two minerals are split between them;
        pixels of unnamed clusters stay as they are and no pixel moves into them.
    unmix : bool
        Label each pixel by the majority member of its best two-component mixture of labels found
        among its 8 neighbours (or a label and the void on the sample rim), not by the nearest
        centre (:func:`~liberation.labels.unmix.unmix_labels`): on maps of grains a few pixels
        across most pixels are mixtures, and the nearest centre is often a third mineral between
        the two (the truth of a mixed pixel is its majority mineral).
    merge_duplicates : bool
        Near-duplicate clusters (no density valley between them in the maps: one population
        split by noise, :func:`~liberation.labels.duplicates.near_duplicates`) are always
        reported in the assignment table (``reason``; ``doubtful`` when they were given different
        names, or merged). Without ``reference``, ``mapping`` or ``rules`` they are merged
        into one label named after the smallest cluster id when this is True.

    Returns
    -------
    LabelResult
        Without ``reference``, ``mapping`` or ``rules`` every cluster is its own mineral named
        ``"cluster <c>"``.
    """
    given = [n for n, v in (("reference", reference), ("mapping", mapping), ("rules", rules)) if v is not None]
    if len(given) > 1:
        raise InputError(f"give one of reference, mapping or rules, not {' and '.join(given)}")
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise InputError(f"pixel_size_um={pixel_size_um!r}; expected a positive pixel size in µm")
    clusters = kmeans_maps(
        maps, n_clusters=n_clusters, elements=elements, denoise=denoise, sigma_spatial_px=sigma_spatial_px,
        sigma_color=sigma_color, scaling=scaling, mask=mask, ct=ct, ct_weight=ct_weight, extra=extra, seed=seed,
        n_init=n_init, minibatch_threshold=minibatch_threshold, keep_features=True, mixed=mixed,
    )
    features, clusters.features = clusters.features, None
    channels = [c for c in clusters.channels if c in maps]
    # the valley test on the pure pixels: mixed pixels at grain boundaries fill the valley between two minerals
    pure_clusters = clusters.cluster_map if clusters.pure is None else np.where(clusters.pure, clusters.cluster_map, 0)
    duplicates = near_duplicates(maps, pure_clusters.astype(clusters.cluster_map.dtype), elements=channels)
    groups = duplicate_groups(duplicates)
    if reference is not None and naming == "nearest":
        # a group of near duplicates is one population: name it once, from its pooled centroid and spread
        cent, spread, sizes = _pool(clusters, groups)
        pooled = match_signatures(cent, reference, method=naming, normalize=normalize, spread=spread, sizes=sizes,
                                  max_z=max_z)
        assignment = _expand(pooled, clusters.centroids.index, groups)
    elif reference is not None:
        assignment = match_signatures(clusters.centroids, reference, method=naming, normalize=normalize)
    elif rules is not None:
        assignment = assign_by_rules(clusters.centroids, rules)
    elif mapping is not None:
        assignment = assign_explicit(mapping, clusters.centroids.index)
    else:
        assignment = assign_explicit({c: f"cluster {c}" for c in clusters.centroids.index}, clusters.centroids.index)
    assignment = _report_duplicates(assignment, groups, merge=merge_duplicates and not given)
    cluster_map = clusters.cluster_map
    if refine and reference is not None and naming == "nearest":
        cluster_map = _refine_pixels(cluster_map, clusters.mask, features, clusters.centroids_scaled,
                                     clusters.abundance["pixels"], assignment.mapping)
    labels, table = mineral_map(cluster_map, assignment, minerals=minerals)
    if unmix and features is not None:
        named = assignment.mapping
        unknown = [int(i) for i, row in table.iterrows()
                   if given and all(named.get(int(c)) is None for c in str(row["clusters"]).split())]
        before = set(np.unique(labels[labels > 0]).tolist())
        labels = unmix_labels(labels, clusters.mask, features, pure=clusters.pure, void=clusters.void,
                              unknown=unknown)
        gone = sorted(before - set(np.unique(labels[labels > 0]).tolist()))
        if gone:
            assignment = _note_dissolved(assignment, [int(c) for i in gone for c in str(table.loc[i, "clusters"]).split()])
    abundance = abundance_table(labels, names=table, mask=clusters.mask & (labels > 0))
    if features is not None:
        unmixed = unmixed_abundance(labels, clusters.mask, features, pure=clusters.pure)
        abundance["unmixed_percent"] = [float(unmixed.get(int(i), 0.0)) for i in abundance.index]
    parameters = dict(clusters.parameters)
    parameters.update({"assignment": assignment.method, "normalize": normalize, "naming": naming, "max_z": max_z,
                       "refine": bool(refine and reference is not None and naming == "nearest"),
                       "merge_duplicates": bool(merge_duplicates and not given),
                       "unmix": bool(unmix and features is not None),
                       "pixel_size_um": pixel_size_um})
    return LabelResult(labels=labels, minerals=table, abundance=abundance, pixel_size_um=pixel_size_um,
                       clusters=clusters, assignment=assignment, parameters=parameters, duplicates=duplicates)


def _spatial_unmix(labels: np.ndarray, mask: np.ndarray, features: np.ndarray, pure: np.ndarray | None,
                   chi2: float = MIXED_CHI2, fraction: tuple[float, float] = MIXED_FRACTION):
    """Unmix each labelled pixel between its label and one of its 8 neighbours' labels.

    The partner is the neighbouring label (different from the pixel's) whose two-centre mixture
    fits the pixel best (least squares, fraction ``t`` of the partner clipped to 0..1); centres are
    the means of each label's pure pixels. A pixel is mixed when ``t`` lies in ``fraction`` and the
    mixture lowers the squared residual by more than ``chi2`` (noise-whitened features).

    Returns ``ids`` (labels present), and per labelled sample pixel (row-major): ``own`` and
    ``partner`` (indices into ``ids``), ``t`` and ``mixed``.
    """
    image = np.where(mask, np.asarray(labels), 0).astype(np.int64)
    flat = image[mask]
    inside = flat > 0
    ids = np.unique(flat[inside])
    rows, lab = features[inside].astype(np.float64), flat[inside]
    use = np.ones(lab.size, dtype=bool) if pure is None else np.asarray(pure)[mask][inside]
    centres = np.stack([rows[(lab == i) & use].mean(axis=0) if ((lab == i) & use).any() else rows[lab == i].mean(axis=0)
                        for i in ids]) if ids.size else np.zeros((0, rows.shape[1]))
    own = np.searchsorted(ids, lab)
    a = centres[own]
    d_own = ((rows - a) ** 2).sum(axis=1)
    best_gain = np.zeros(lab.size)
    best_t = np.zeros(lab.size)
    partner = own.copy()
    padded = np.pad(image, 1)
    ys, xs = np.nonzero(mask)
    keep = image[ys, xs] > 0
    ys, xs = ys[keep], xs[keep]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            nb = padded[ys + 1 + dy, xs + 1 + dx]
            ok = (nb > 0) & (nb != lab)
            if not ok.any():
                continue
            other = np.searchsorted(ids, np.where(ok, nb, lab))
            u = centres[other] - a
            uu = np.maximum((u * u).sum(axis=1), 1e-12)
            proj = ((rows - a) * u).sum(axis=1)
            t = np.clip(proj / uu, 0.0, 1.0)
            gain = d_own - np.maximum(d_own - 2 * t * proj + t * t * uu, 0.0)
            better = ok & (gain > best_gain)
            best_gain[better], best_t[better], partner[better] = gain[better], t[better], other[better]
    mixed = (partner != own) & (best_t >= fraction[0]) & (best_t <= fraction[1]) & (best_gain > chi2)
    return ids, own, partner, best_t, mixed


def unmixed_abundance(labels: np.ndarray, mask: np.ndarray, features: np.ndarray, *,
                      pure: np.ndarray | None = None) -> dict[int, float]:
    """Area percent of each label with mixed pixels split fractionally between two minerals.

    Each label's centre is the mean of the features of its pure pixels (all its pixels when
    ``pure`` is None or it has none). Every pixel is unmixed between its own label and the label
    of one of its 8 neighbours (the best two-centre fit); a mixed pixel (mixture fraction 0.2..0.8
    that lowers the squared noise-whitened residual by more than 9) counts ``1 - t`` to its label
    and ``t`` to the neighbour's, any other pixel counts 1 to its label.

    Parameters
    ----------
    labels : numpy.ndarray
        (y, x) integer labels, 0 = outside / void.
    mask : numpy.ndarray
        (y, x) bool sample pixels whose feature rows are ``features`` (row-major order).
    features : numpy.ndarray
        (mask.sum(), n_channels) noise-scaled features (:attr:`ClusterResult.features`).
    pure : numpy.ndarray, optional
        (y, x) bool pure pixels (:attr:`ClusterResult.pure`).

    Returns
    -------
    dict of int to float
        Label id -> percent of the labelled sample pixels.
    """
    ids, own, partner, t, mixed = _spatial_unmix(labels, mask, features, pure)
    if ids.size == 0:
        return {}
    share = np.bincount(own[~mixed], minlength=ids.size).astype(np.float64)
    share += np.bincount(own[mixed], weights=1.0 - t[mixed], minlength=ids.size)
    share += np.bincount(partner[mixed], weights=t[mixed], minlength=ids.size)
    return {int(i): float(100.0 * v / own.size) for i, v in zip(ids, share)}


def _refine_pixels(cluster_map, mask, features, centres, sizes, mapping) -> np.ndarray:
    """Cluster map where each pixel of a named cluster carries the biggest cluster of its nearest mineral.

    Mineral centres: pixel-weighted means of the scaled centres of the clusters named after them.
    Pixels of unnamed clusters keep their cluster.
    """
    named = {c: m for c, m in mapping.items() if m is not None}
    minerals = sorted(set(named.values()))
    if len(minerals) < 1 or features is None:
        return cluster_map
    sizes = np.asarray(sizes, dtype=np.float64)
    centre_rows, representative = [], []
    for name in minerals:
        members = [c for c, m in named.items() if m == name]
        w = sizes[[c - 1 for c in members]]
        centre_rows.append((centres.loc[members].to_numpy(dtype=np.float64) * w[:, None]).sum(axis=0)
                           / max(w.sum(), 1.0))
        representative.append(max(members, key=lambda c: (sizes[c - 1], -c)))
    centre = np.asarray(centre_rows, dtype=np.float32)
    flat = cluster_map[mask]
    movable = np.isin(flat, list(named))
    rows = features[movable]
    nearest = np.empty(rows.shape[0], dtype=np.int64)
    for start in range(0, rows.shape[0], 262_144):  # bounded memory on big maps
        block = rows[start:start + 262_144]
        d2 = (block * block).sum(axis=1)[:, None] - 2.0 * block @ centre.T + (centre * centre).sum(axis=1)[None, :]
        nearest[start:start + 262_144] = d2.argmin(axis=1)
    flat = flat.copy()
    flat[movable] = np.asarray(representative, dtype=flat.dtype)[nearest]
    out = cluster_map.copy()
    out[mask] = flat
    return out


def _note_dissolved(assignment: Assignment, clusters: list[int]) -> Assignment:
    """Note in the assignment table the clusters whose pixels :func:`unmix_labels` gave to other minerals."""
    table = assignment.table.copy()
    table.attrs = dict(assignment.table.attrs)
    for c in clusters:
        if c in table.index:
            old = str(table.loc[c, "reason"] or "")
            note = "a cluster of mixed pixels (its mean lies between two minerals): its pixels were unmixed"
            table.loc[c, "reason"] = f"{old}; {note}" if old else note
    return Assignment(table, assignment.method, assignment.distances)


def _report_duplicates(assignment: Assignment, groups: dict[int, int], *, merge: bool) -> Assignment:
    """Write near-duplicate groups into the assignment table (and merge them when asked)."""
    if not groups:
        return assignment
    table = assignment.table.copy()
    table.attrs = dict(assignment.table.attrs)
    table["mineral"] = table["mineral"].astype(object)
    names = assignment.mapping
    for cluster, rep in sorted(groups.items()):
        members = sorted(c for c, r in groups.items() if r == rep)
        others = [c for c in members if c != cluster]
        if merge:
            table.loc[cluster, "mineral"] = names.get(rep)
            note = (f"merged with cluster(s) {' '.join(map(str, others))}: near duplicates (no valley between them "
                    "in the maps; one population split by noise; try fewer clusters or --scaling zscore)")
            doubtful = True
        elif len({names.get(c) for c in members}) > 1:
            note = (f"near duplicate of cluster(s) {' '.join(map(str, others))}, which got another name: the maps "
                    "do not tell them apart")
            doubtful = True
        else:
            note = f"near duplicate of cluster(s) {' '.join(map(str, others))} (same mineral)"
            doubtful = bool(table.loc[cluster, "doubtful"])
        old = str(table.loc[cluster, "reason"] or "")
        table.loc[cluster, "reason"] = f"{old}; {note}" if old and old != "explicit" else note
        table.loc[cluster, "doubtful"] = doubtful
    return Assignment(table, assignment.method, assignment.distances)


def _pool(clusters: ClusterResult, groups: dict[int, int]):
    """Centroids, spreads and sizes with each near-duplicate group pooled into its representative."""
    sizes = clusters.abundance["pixels"].astype(float)
    keep = [int(c) for c in clusters.centroids.index if groups.get(int(c), int(c)) == int(c)]
    cent = clusters.centroids.loc[keep].copy()
    spread = clusters.spread.loc[keep].copy()
    pooled_sizes = sizes.loc[keep].copy()
    for rep in sorted(set(groups.values())):
        members = [c for c, r in groups.items() if r == rep]
        n = sizes.loc[members].to_numpy()[:, None]
        mu = clusters.centroids.loc[members].to_numpy()
        mean = (n * mu).sum(axis=0) / n.sum()
        var = (n * (clusters.spread.loc[members].to_numpy() ** 2 + (mu - mean) ** 2)).sum(axis=0) / n.sum()
        cent.loc[rep], spread.loc[rep], pooled_sizes.loc[rep] = mean, np.sqrt(var), n.sum()
    return cent, spread, pooled_sizes


def _expand(pooled: Assignment, clusters: Iterable[int], groups: dict[int, int]) -> Assignment:
    """Assignment of pooled groups -> one row per cluster (members copy their representative's row)."""
    rows = [groups.get(int(c), int(c)) for c in clusters]
    table = pooled.table.loc[rows].copy()
    table.index = pd.Index([int(c) for c in clusters], name="cluster")
    table.attrs = dict(pooled.table.attrs)
    distances = None
    if pooled.distances is not None:
        distances = pooled.distances.loc[rows].copy()
        distances.index = table.index
    return Assignment(table, pooled.method, distances)
