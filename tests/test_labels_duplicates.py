"""Near-duplicate clusters (issue 17): a mineral split by noise in a minor element is found and merged.

Synthetic gabbro-like SEM-EDS wt% maps (12 elements; plagioclase 70 %, clinopyroxene,
orthopyroxene; noise floor 1 wt% in K, 0.2 wt% K in plagioclase): with 8-bit scaling (the default
before the noise whitening) and 4 clusters, K-means splits the plagioclase into two clusters equal within 0.05 wt% in every
major element, separated only by the noise in K.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.errors import InputError
from liberation.labels import duplicate_groups, kmeans_maps, near_duplicates, pixel_accuracy, xrf_labels
from liberation.synthetic import gabbro_compositions, make_eds_maps, make_face


@pytest.fixture(scope="module")
def gabbro():
    phases = make_face((256, 256), abundances=(70, 18, 12), grain_size_px=12, sample="full", pore_fraction=0,
                       seed=3)
    return make_eds_maps(phases, gabbro_compositions(), relative_noise=0.1, floor_wt={"K": 1.0}, seed=4)


def _majority(data, cluster_map, k):
    return [int(np.bincount(data.truth[cluster_map == c], minlength=7).argmax()) for c in range(1, k + 1)]


def test_eds_maps_are_wt_percent_with_the_asked_noise(gabbro):
    plag = gabbro.truth == 1
    assert gabbro.maps["Si"][plag].mean() == pytest.approx(25.2, abs=0.05)
    # sd = sqrt(0.1 * 25.2 + 0.3**2) = 1.616 wt%
    assert gabbro.maps["Si"][plag].std() == pytest.approx(1.616, rel=0.03)
    assert gabbro.maps["K"].min() == 0.0 and len(gabbro.maps) == 12
    assert gabbro.fractions.loc[1, "percent"] == pytest.approx(70, abs=5)


@pytest.mark.slow
def test_split_plagioclase_is_found_and_merged(gabbro):
    clusters = kmeans_maps(gabbro.maps, n_clusters=4, seed=0, scaling="8bit")
    majority = _majority(gabbro, clusters.cluster_map, 4)
    split = [c for c in range(1, 5) if majority[c - 1] == 1]
    assert len(split) == 2  # the case of the issue: plagioclase in two clusters
    cent = clusters.centroids.loc[split]
    assert (cent.drop(columns="K").diff().iloc[1].abs() < 0.3).all()  # equal within 0.3 wt% in all but K
    pairs = near_duplicates(gabbro.maps, clusters.cluster_map)
    assert [sorted(p) for p in zip(pairs["duplicate_of"], pairs["cluster"])] == [sorted(split)]
    assert pairs["element"].iloc[0] == "K"
    # through xrf_labels: merged into one label, reported as doubtful with the reason
    result = xrf_labels(gabbro.maps, n_clusters=4, seed=0, scaling="8bit")
    table = result.assignment.table
    assert table.loc[split[1], "mineral"] == f"cluster {split[0]}" and table.loc[split[1], "doubtful"]
    assert "near duplicates" in table.loc[split[1], "reason"]
    assert len(result.minerals) == 3
    labels = result.labels
    plag_labels = np.unique(labels[gabbro.truth == 1])
    assert len(plag_labels) == 1
    # with the reference (wt%), both plagioclase clusters are named plagioclase, not doubtful
    named = xrf_labels(gabbro.maps, n_clusters=4, reference=gabbro_compositions().iloc[:3], seed=0, scaling="8bit")
    assert [named.assignment.mapping[c] for c in split] == ["plagioclase", "plagioclase"]
    assert "same mineral" in named.assignment.table.loc[split[1], "reason"]
    assert pixel_accuracy(named.labels, gabbro.truth, mask=gabbro.truth > 0) >= 0.99


def test_distinct_minerals_are_not_duplicates(gabbro):
    clusters = kmeans_maps(gabbro.maps, n_clusters=3, seed=0)
    assert sorted(_majority(gabbro, clusters.cluster_map, 3)) == [1, 2, 3]
    assert near_duplicates(gabbro.maps, clusters.cluster_map).empty
    result = xrf_labels(gabbro.maps, n_clusters=3, seed=0)
    assert not result.assignment.table["doubtful"].any()


def test_complete_linkage_does_not_chain_through_a_mixed_cluster():
    # cluster 3 (mixed pixels) is a near duplicate of 1 and of 2, but 1 and 2 are distinct
    pairs = pd.DataFrame({"cluster": [3, 3, 4], "duplicate_of": [1, 2, 1], "valley_ratio": [1.5, 1.2, 1.1]})
    assert duplicate_groups(pairs) == {1: 1, 3: 1}  # 4 joins only if it is a near duplicate of 3 too
    pairs = pd.DataFrame({"cluster": [3, 3], "duplicate_of": [1, 2], "valley_ratio": [1.5, 1.2]})
    assert duplicate_groups(pairs) == {1: 1, 3: 1}
    with pytest.raises(InputError, match="min_ratio"):
        near_duplicates({"K": np.zeros((2, 2))}, np.ones((2, 2), np.uint8), min_ratio=0)


@pytest.mark.slow
def test_default_noise_scaling_on_the_gabbro(gabbro):
    """With the default scaling (noise whitening) 3 clusters are the 3 minerals; a 4th cluster still halves
    the plagioclase along the noise in K (any scaling does: it is the largest spread left), and the
    near-duplicate merge makes it one label again."""
    clusters = kmeans_maps(gabbro.maps, n_clusters=3, seed=0)
    assert sorted(_majority(gabbro, clusters.cluster_map, 3)) == [1, 2, 3]
    result = xrf_labels(gabbro.maps, n_clusters=4, seed=0)
    assert len(result.minerals) == 3
    assert len(np.unique(result.labels[gabbro.truth == 1])) == 1  # the two halves merged
    inside = gabbro.truth > 0
    majority = {int(lab): int(np.bincount(gabbro.truth[result.labels == lab]).argmax())
                for lab in np.unique(result.labels[inside])}
    mapped = np.vectorize(majority.get)(result.labels)
    assert pixel_accuracy(mapped, gabbro.truth, mask=inside) >= 0.95
