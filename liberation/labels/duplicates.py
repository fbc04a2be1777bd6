"""Near-duplicate K-means clusters: one population split by noise, told apart from two minerals.

Over-clustering, or a noisy minor element stretched by 8-bit scaling, splits one mineral into
clusters whose centroids are equal within noise in every major element. Two such clusters have
no valley between them: projected on the line joining their centroids (noise-whitened), their
pixels form one unimodal cloud, densest between the centroids; the pixels of two minerals form
two peaks with a valley between them. :func:`near_duplicates` measures that valley.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from liberation.errors import InputError

__all__ = ["duplicate_groups", "near_duplicates"]

_BINS = np.linspace(-1.0, 2.0, 31)  # 0.1 wide along the line; the centroids at 0 and 1
_HALF = 15  # bins with centres below 0.5


def near_duplicates(
    maps: Mapping[str, np.ndarray],
    cluster_map: np.ndarray,
    *,
    elements: Sequence[str] | None = None,
    min_ratio: float = 0.8,
    max_z: float = 12.0,
) -> pd.DataFrame:
    """Pairs of clusters with no density valley between them (one population split by noise).

    For each pair ``(a, b)`` the pixels of both clusters are projected on the direction
    ``(mean_b - mean_a) / sd**2`` (per-element pooled within-cluster variance: the noise-whitened
    line between the centroids), scaled so that the centroids sit at 0 and 1, and histogrammed
    (bins 0.1 wide from -1 to 2, smoothed 1-2-1). The *valley ratio* is the lowest density
    between the highest bin below 0.5 and the highest bin above 0.5, over the lower of these two
    peaks: 1 for one unimodal population split in two (no valley), near 0 for two separated
    minerals; a cluster that holds several minerals shows its own valleys. Pairs whose
    centroids differ by more than ``max_z`` pooled standard deviations in some element are
    distinct without looking further.

    Parameters
    ----------
    maps : mapping of str to numpy.ndarray
        Element -> (y, x) map in input units.
    cluster_map : numpy.ndarray
        (y, x) integer clusters, 0 = outside.
    elements : sequence of str, optional
        Channels to use (default: all maps).
    min_ratio : float
        Valley ratio at or above which a pair is a near duplicate (> 0).
    max_z : float
        See above.

    Returns
    -------
    pandas.DataFrame
        One row per near-duplicate pair: ``cluster`` (the bigger-numbered), ``duplicate_of``,
        ``valley_ratio``, ``max_z`` (largest per-element centroid difference in pooled standard
        deviations) and ``element`` (where it is largest); sorted by ``cluster``.
    """
    cluster_map = np.asarray(cluster_map)
    if cluster_map.dtype.kind not in "ui":
        raise InputError(f"cluster_map has dtype {cluster_map.dtype}; expected integer cluster ids")
    if not min_ratio > 0:
        raise InputError(f"min_ratio={min_ratio!r}; expected a positive valley ratio")
    names = list(maps) if elements is None else list(elements)
    missing = [e for e in names if e not in maps]
    if missing:
        raise InputError(f"elements {missing} have no map; the maps are {list(maps)}")
    for e in names:
        if np.shape(maps[e]) != cluster_map.shape:
            raise InputError(f"maps[{e!r}] has shape {np.shape(maps[e])}; expected the cluster map shape "
                             f"{cluster_map.shape}")
    inside = cluster_map > 0
    labels = cluster_map[inside].astype(np.int64)
    values = np.stack([np.asarray(maps[e], dtype=np.float64)[inside] for e in names], axis=1)
    ids = [int(c) for c in np.unique(labels)]
    k = max(ids, default=0) + 1
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    means = np.stack([np.bincount(labels, weights=values[:, j], minlength=k) for j in range(len(names))], axis=1)
    means /= np.maximum(counts, 1)[:, None]
    var = np.stack([np.bincount(labels, weights=(values[:, j] - means[labels, j]) ** 2, minlength=k)
                    for j in range(len(names))], axis=1) / np.maximum(counts - 1, 1)[:, None]
    floor = (1e-3 * np.maximum(np.abs(values).max(axis=0), 1e-12)) ** 2 if values.size else np.ones(len(names))
    rows = []
    by_cluster = {c: values[labels == c] for c in ids}
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            pooled = np.maximum((var[a] + var[b]) / 2.0, floor)
            delta = means[b] - means[a]
            z = np.abs(delta) / np.sqrt(pooled)
            if z.max() > max_z or z.max() == 0:
                continue
            direction = delta / pooled
            scale = float(delta @ direction)
            t = np.concatenate([(by_cluster[a] - means[a]) @ direction, (by_cluster[b] - means[a]) @ direction])
            t /= scale
            hist = np.histogram(t, bins=_BINS)[0].astype(np.float64)
            hist = np.convolve(np.pad(hist, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
            ia = int(np.argmax(hist[:_HALF]))
            ib = _HALF + int(np.argmax(hist[_HALF:]))
            ratio = float(hist[ia:ib + 1].min() / max(min(hist[ia], hist[ib]), 1e-12))
            if ratio >= min_ratio:
                worst = int(np.argmax(z))
                rows.append({"cluster": b, "duplicate_of": a, "valley_ratio": float(ratio), "max_z": float(z[worst]),
                             "element": names[worst]})
    table = pd.DataFrame(rows, columns=["cluster", "duplicate_of", "valley_ratio", "max_z", "element"])
    return table.sort_values(["cluster", "duplicate_of"]).reset_index(drop=True)


def duplicate_groups(pairs: pd.DataFrame) -> dict[int, int]:
    """Group near-duplicate clusters by complete linkage: every two clusters of a group are near duplicates.

    Pairs are merged in decreasing ``valley_ratio``; two groups join only if each cluster of one is
    a near duplicate of each cluster of the other, so that a cluster of mixed pixels between two
    minerals (a near duplicate of both) does not chain them into one group.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Output of :func:`near_duplicates` (columns ``cluster``, ``duplicate_of``, ``valley_ratio``).

    Returns
    -------
    dict of int to int
        Cluster -> representative (the smallest id of its group), only for clusters in a group
        of two or more.
    """
    linked = {frozenset((int(a), int(b))) for a, b in zip(pairs["cluster"], pairs["duplicate_of"])}
    group: dict[int, set[int]] = {}
    order = pairs.sort_values("valley_ratio", ascending=False, kind="stable")
    for a, b in zip(order["cluster"], order["duplicate_of"]):
        ga, gb = group.get(int(a), {int(a)}), group.get(int(b), {int(b)})
        if ga is gb or not all(frozenset((x, y)) in linked for x in ga for y in gb):
            continue
        merged = ga | gb
        for c in merged:
            group[c] = merged
    return {c: min(g) for c, g in group.items() if len(g) > 1}
