"""K-means mineral labels on synthetic micro-XRF maps with exact truth (Deep-XFCT Table 2 signatures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.errors import InputError
from liberation.labels import (
    choose_n_clusters,
    cluster_features,
    compare_abundance,
    kmeans_maps,
    pixel_accuracy,
    xrf_labels,
)
from liberation.minerals import MineralList
from liberation.synthetic.xrf import deep_xfct_minerals, deep_xfct_signatures, make_face, make_xrf_maps

TABLE2_ABUNDANCE = [48, 2, 4, 25, 7, 14]


@pytest.fixture(scope="module")
def table2_face():
    phases = make_face((512, 512), abundances=TABLE2_ABUNDANCE, grain_size_px=40, seed=1)
    return make_xrf_maps(phases, deep_xfct_signatures(), minerals=deep_xfct_minerals(), block=4,
                         pixel_size_um=10.0, seed=2)


@pytest.fixture(scope="module")
def table2_result(table2_face):
    return xrf_labels(table2_face.maps, n_clusters=6, pixel_size_um=table2_face.pixel_size_um,
                      reference=deep_xfct_signatures(), minerals=deep_xfct_minerals(), seed=0)


def test_synthetic_face_is_what_we_asked(table2_face):
    assert table2_face.truth.shape == (128, 128)
    assert table2_face.pixel_size_um == 40.0
    assert set(table2_face.maps) == {"Al", "Ca", "Fe", "K", "Mg", "Mn", "Na", "Si"}
    # Na and Mg are weak: a few counts per pixel
    assert table2_face.maps["Na"].mean() < 10 < table2_face.maps["Si"].mean()


def test_pixel_accuracy_at_least_95_percent(table2_face, table2_result):
    inside = table2_face.truth > 0
    acc = pixel_accuracy(table2_result.labels, table2_face.truth, mask=inside)
    assert acc >= 0.95
    # the sample mask found by Otsu on total counts agrees with the truth
    assert np.mean(table2_result.clusters.mask == inside) > 0.99


def test_reference_matching_names_every_mineral(table2_face, table2_result):
    table = table2_result.assignment.table
    assert sorted(table["mineral"]) == sorted(deep_xfct_signatures().index)
    assert not table["doubtful"].any()
    # each named mineral is the truth's majority inside its cluster
    cmap = table2_result.clusters.cluster_map
    for cluster, name in table2_result.assignment.mapping.items():
        truth_ids = table2_face.truth[cmap == cluster]
        majority = np.bincount(truth_ids).argmax()
        assert table2_face.names[majority] == name
    # and the label ids are those of the mineral list
    assert list(table2_result.minerals["name"]) == deep_xfct_minerals().names


def test_abundance_within_one_percentage_point(table2_face, table2_result):
    truth = dict(zip(table2_face.fractions["name"], table2_face.fractions["percent"]))
    comparison = compare_abundance(table2_result.labels, truth, names=table2_result.minerals)
    assert comparison["difference_pp"].abs().max() <= 1.0
    assert table2_result.abundance["percent"].sum() == pytest.approx(100.0)


def test_centroid_table_is_in_input_units(table2_face, table2_result):
    cent = table2_result.centroids
    quartz = cent[cent["mineral"] == "quartz"].iloc[0]
    # quartz signature Si = 179 counts, Fe = 36 (Table 2); block mixing keeps means close
    assert quartz["Si"] == pytest.approx(179, rel=0.05)
    assert quartz["Fe"] == pytest.approx(36, rel=0.15)
    assert cent["percent"].sum() == pytest.approx(100.0)


def test_bilateral_filtering_improves_accuracy_on_noisy_light_elements():
    # two minerals differ only in Na and Mg, which are weak (a few counts, very noisy)
    sig = pd.DataFrame({"Si": [100, 100, 60], "Al": [50, 50, 120], "Na": [60, 15, 30], "Mg": [10, 40, 20]},
                       index=["albite", "quartz", "mica"])
    minerals = MineralList.from_records([{"name": n, "density": 2.6} for n in sig.index])
    phases = make_face((384, 384), abundances=[1, 1, 1], grain_size_px=40, seed=0)
    data = make_xrf_maps(phases, sig, minerals=minerals, seed=10, weak={"Na": 0.05, "Mg": 0.05})
    inside = data.truth > 0
    accuracy = {}
    for key, denoise in (("filtered", ("Na", "Mg")), ("raw", None)):
        result = xrf_labels(data.maps, n_clusters=3, reference=sig, minerals=minerals, denoise=denoise, seed=0)
        accuracy[key] = pixel_accuracy(result.labels, data.truth, mask=inside)
    assert accuracy["filtered"] >= accuracy["raw"] + 0.03, accuracy


def test_same_seed_same_result_and_inputs_untouched(table2_face):
    maps = {k: v.copy() for k, v in table2_face.maps.items()}
    a = kmeans_maps(maps, n_clusters=6, seed=3, n_init=2)
    b = kmeans_maps(maps, n_clusters=6, seed=3, n_init=2)
    np.testing.assert_array_equal(a.cluster_map, b.cluster_map)
    for k in maps:
        np.testing.assert_array_equal(maps[k], table2_face.maps[k])
    # clusters are numbered by decreasing size
    assert list(a.abundance["pixels"]) == sorted(a.abundance["pixels"], reverse=True)


@pytest.mark.parametrize("method", ["minibatch", "subsample"])
def test_large_map_methods_match_full_batch_on_separated_blobs(method):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=float)
    truth = rng.integers(0, 4, 20000)
    x = centres[truth] + rng.normal(0, 1.0, (truth.size, 3))
    full, _, inertia_full, m1 = cluster_features(x, n_clusters=4, seed=0, n_init=3)
    fast, _, inertia_fast, m2 = cluster_features(x, n_clusters=4, seed=0, n_init=3, method=method,
                                                 batch_size=2048, sample_size=3000)
    assert (m1, m2) == ("kmeans", method)
    # the same partition up to label names, and both recover the blobs
    agreement = np.mean([np.bincount(fast[full == c]).max() / np.sum(full == c) for c in range(4)])
    assert agreement > 0.99
    recovered = np.mean([np.bincount(fast[truth == c]).max() / np.sum(truth == c) for c in range(4)])
    assert recovered > 0.99
    assert inertia_fast <= 1.01 * inertia_full
    # auto switches above the threshold
    assert cluster_features(x, n_clusters=4, n_init=1, minibatch_threshold=1000, sample_size=3000)[3] == "subsample"


def test_choose_n_clusters_finds_four_blobs():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [8, 0], [0, 8], [8, 8]], dtype=float)
    x = centres[rng.integers(0, 4, 4000)] + rng.normal(0, 0.7, (4000, 2))
    k, table = choose_n_clusters(x, candidates=range(2, 7), sample_size=1500, seed=0)
    assert k == 4
    assert table.loc[table["chosen"], "n_clusters"].item() == 4
    assert "silhouette" in table.attrs["criterion"]


@pytest.mark.slow
def test_auto_clusters_reports_selection(table2_face):
    maps = {k: table2_face.maps[k][32:96, 32:96] for k in ("Al", "Ca", "Fe", "K", "Si")}
    result = kmeans_maps(maps, n_clusters="auto", candidates=(2, 3, 4), seed=0, n_init=2)
    assert result.k_selection is not None
    assert result.n_clusters == int(result.k_selection.loc[result.k_selection["chosen"], "n_clusters"].item())


def test_ct_channel_is_added(table2_face):
    ct = np.kron(table2_face.truth.astype(np.float32) * 20, np.ones((4, 4), np.float32))  # 4x finer CT slice
    result = kmeans_maps(table2_face.maps, n_clusters=6, ct=ct, seed=0, n_init=2)
    assert result.channels[-1] == "CT"
    assert result.centroids["CT"].between(0, 120).all()


def test_more_clusters_than_pixels_is_an_error():
    maps = {"Fe": np.arange(9, dtype=float).reshape(3, 3), "Si": np.ones((3, 3))}
    with pytest.raises(InputError, match="more than the 9 sample pixels"):
        kmeans_maps(maps, n_clusters=12, mask=None, denoise=None)
    with pytest.raises(InputError, match="n_clusters"):
        cluster_features(np.zeros((5, 2)), n_clusters=0)


def test_mismatched_map_shapes_name_the_map():
    maps = {"Fe": np.zeros((10, 10)), "Na": np.zeros((10, 12))}
    with pytest.raises(InputError, match=r"maps\['Na'\] has shape \(10, 12\)"):
        kmeans_maps(maps, n_clusters=2)


def test_one_assignment_source_only(table2_face):
    with pytest.raises(InputError, match="reference and rules"):
        xrf_labels(table2_face.maps, n_clusters=2, reference=deep_xfct_signatures(), rules="a: highest K")
