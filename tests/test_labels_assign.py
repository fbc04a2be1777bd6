"""Mineral assignment: reference matching (optimal one-to-one), rules, explicit mapping, label maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.errors import InputError
from liberation.labels import (
    assign_by_rules,
    assign_explicit,
    check_reference,
    match_signatures,
    mineral_map,
    parse_rules,
)
from liberation.synthetic.xrf import deep_xfct_minerals, deep_xfct_signatures


def _table2_centroids(order):
    """Table 2 centroids as K-means would report them: clusters 1..6 in a shuffled order."""
    sig = deep_xfct_signatures()
    cent = sig.iloc[order].reset_index(drop=True)
    cent.index = pd.Index(range(1, len(cent) + 1), name="cluster")
    return cent


def test_match_signatures_recovers_permutation_in_other_units():
    order = [3, 0, 5, 2, 4, 1]
    cent = _table2_centroids(order) * 7.3 + 2.0  # counts instead of 8-bit levels: matched on relative levels
    assignment = match_signatures(cent, deep_xfct_signatures())
    names = list(deep_xfct_signatures().index)
    assert [assignment.mapping[c] for c in range(1, 7)] == [names[i] for i in order]
    assert np.allclose(assignment.table["distance"], 0.0, atol=1e-9)
    assert not assignment.table["doubtful"].any()
    assert assignment.distances.shape == (6, 6)


def test_optimal_assignment_beats_greedy():
    # cluster 1 is nearest to A, but giving A to cluster 2 (which has nothing else) is better overall
    cent = pd.DataFrame({"Fe": [0.45, 0.0, 1.0]}, index=pd.Index([1, 2, 3], name="cluster"))
    ref = pd.DataFrame({"Fe": [0.0, 0.5, 1.0]}, index=["A", "B", "C"])
    assignment = match_signatures(cent, ref, normalize="none")
    assert assignment.mapping == {1: "B", 2: "A", 3: "C"}


def test_doubtful_match_is_flagged():
    cent = pd.DataFrame({"Fe": [0.0, 0.5, 1.0], "Si": [1.0, 0.5, 0.0]}, index=pd.Index([1, 2, 3], name="cluster"))
    ref = pd.DataFrame({"Fe": [0.0, 0.55, 0.45, 1.0], "Si": [1.0, 0.45, 0.55, 0.0]}, index=["q", "a", "b", "c"])
    assignment = match_signatures(cent, ref, normalize="none")
    row = assignment.table.loc[2]
    assert row["doubtful"] and "close to" in row["reason"]
    assert not assignment.table.loc[1, "doubtful"]


def test_one_to_one_leaves_extra_clusters_unassigned_and_flagged():
    cent = pd.DataFrame({"K": [0.0, 1.0, 0.9]}, index=pd.Index([1, 2, 3], name="cluster"))
    ref = pd.DataFrame({"K": [0.0, 1.0]}, index=["quartz", "illite"])
    assignment = match_signatures(cent, ref, method="one-to-one", normalize="none")
    assert assignment.mapping[1] == "quartz" and assignment.mapping[2] == "illite"
    assert assignment.mapping[3] is None and assignment.table.loc[3, "doubtful"]
    labels, table = mineral_map(np.array([[1, 2, 3, 0]], dtype=np.uint8), assignment)
    assert list(table["name"]) == ["quartz", "illite", "cluster 3"]
    np.testing.assert_array_equal(labels, [[1, 2, 3, 0]])


def test_reference_with_unknown_element_names():
    cent = _table2_centroids(list(range(6)))
    bad = deep_xfct_signatures().rename(columns={"Na": "Sodium"})
    with pytest.raises(InputError, match=r"\['Sodium'\].*not element symbols"):
        match_signatures(cent, bad)
    no_map = deep_xfct_signatures().assign(Ti=1.0)
    with pytest.raises(InputError, match=r"elements \['Ti'\] with no map"):
        match_signatures(cent, no_map)
    with pytest.raises(InputError, match="more than once"):
        check_reference(pd.concat([deep_xfct_signatures().iloc[:2]] * 2), list(cent.columns))


def test_reference_from_csv_style_table_with_mineral_column():
    ref = deep_xfct_signatures().reset_index()  # a 'mineral' column, as in SIGNATURES.csv
    out = check_reference(ref, list(ref.columns[1:]))
    assert list(out.index) == list(deep_xfct_signatures().index)


def test_rules_of_deep_xfct_section_3_1_2():
    order = [2, 5, 0, 4, 1, 3]
    cent = _table2_centroids(order)
    rules = """illite: highest K
    ankerite: highest Ca
    clinochlore: highest Mg
    quartz: highest Si
    albite: highest Na
    laumontite: remaining"""
    assignment = assign_by_rules(cent, rules)
    names = list(deep_xfct_signatures().index)
    assert [assignment.mapping[c] for c in range(1, 7)] == [names[i] for i in order]
    assert assignment.method == "rules"


def test_rule_errors():
    cent = _table2_centroids(list(range(6)))
    with pytest.raises(InputError, match="not a channel"):
        assign_by_rules(cent, {"zircon": "highest Zr"})
    with pytest.raises(InputError, match="exactly one cluster"):
        assign_by_rules(cent, ["illite: highest K", "rest: remaining"])
    with pytest.raises(InputError, match="not understood"):
        parse_rules("illite: most K")


def test_explicit_mapping_with_void_and_minerals_list():
    minerals = deep_xfct_minerals()
    cmap = np.array([[0, 1, 2], [3, 3, 1]], dtype=np.uint8)
    assignment = assign_explicit({1: "quartz", 2: "void", 3: "quartz"}, [1, 2, 3])
    labels, table = mineral_map(cmap, assignment, minerals=minerals)
    qid = minerals["quartz"].id
    np.testing.assert_array_equal(labels, [[0, qid, 0], [qid, qid, qid]])
    assert table.loc[qid, "clusters"] == "1 3"
    assert table.loc[qid, "density"] == 2.65
    with pytest.raises(InputError, match="do not exist"):
        assign_explicit({9: "quartz"}, [1, 2])


# --- many-to-one naming (issue 17) -----------------------------------------------------------

GAIN = {"Al": 0.9, "Ca": 1.1, "Fe": 0.95, "K": 1.0, "Mg": 0.05, "Mn": 0.97, "Na": 0.05, "Si": 1.05}
OFFSET = {"Al": 2.0, "Ca": 1.0, "Fe": 0.5, "K": 0.0, "Mg": 0.3, "Mn": 1.0, "Na": 0.2, "Si": 3.0}


def _counts_centroids(names, *, jitter=None):
    """Centroids in counts = GAIN * Table-2 level + OFFSET (exactly), one row per entry of ``names``."""
    sig = deep_xfct_signatures()
    rows = [sig.loc[n] * pd.Series(GAIN) + pd.Series(OFFSET) for n in names]
    cent = pd.DataFrame(rows).reset_index(drop=True)
    if jitter is not None:
        cent = cent + jitter
    cent.index = pd.Index(range(1, len(cent) + 1), name="cluster")
    spread = np.sqrt(cent.clip(lower=1.0))  # Poisson spread of single pixels
    return cent, spread


def test_nearest_names_split_clusters_and_recovers_the_calibration():
    names = ["albite", "illite", "albite", "quartz", "laumontite", "albite", "clinochlore", "ankerite", "quartz"]
    rng = np.random.default_rng(0)
    cent, spread = _counts_centroids(names)
    # the split clusters of one mineral differ by up to one pixel standard deviation (noise split)
    jitter = pd.DataFrame(0.0, index=cent.index, columns=cent.columns)
    for c in (3, 6, 9):
        jitter.loc[c] = rng.uniform(-1, 1, cent.shape[1]) * spread.loc[c].to_numpy()
    assignment = match_signatures(cent + jitter, deep_xfct_signatures(), spread=spread,
                                  sizes=[40, 25, 20, 10, 7, 5, 2, 2, 4])
    assert [assignment.mapping[c] for c in range(1, 10)] == names
    assert not assignment.table["doubtful"].any()
    assert assignment.table.attrs["method"] == "nearest"
    # the exact clusters carry no jitter: a zero-residual calibration line through them is the truth
    exact = match_signatures(cent, deep_xfct_signatures(), spread=spread)
    for element in GAIN:
        assert exact.table.attrs["gain"][element] == pytest.approx(GAIN[element], rel=1e-9)
        assert exact.table.attrs["offset"][element] == pytest.approx(OFFSET[element], abs=1e-7)
    assert np.allclose(exact.table["distance"], 0.0, atol=1e-9)


def test_cluster_far_from_every_reference_is_unknown_and_stays_out_of_the_fit():
    names = ["albite", "illite", "quartz", "laumontite", "clinochlore", "ankerite", "albite"]
    cent, spread = _counts_centroids(names)
    reference = deep_xfct_signatures().drop("ankerite")  # ankerite is not in the reference
    assignment = match_signatures(cent, reference, spread=spread, sizes=[40, 25, 12, 8, 3, 3, 9])
    table = assignment.table
    assert assignment.mapping[6] is None and table.loc[6, "doubtful"]
    assert table.loc[6, "reason"].startswith("unknown:")
    assert [assignment.mapping[c] for c in (1, 2, 3, 4, 5, 7)] == [n for n in names if n != "ankerite"]
    assert not table.drop(index=6)["doubtful"].any()
    # the unknown cluster did not bend the calibration: the line is exact again
    assert table.attrs["gain"]["Ca"] == pytest.approx(GAIN["Ca"], rel=1e-9)
    # the same cluster is named (one-to-one forced it onto laumontite-like names before)
    labels, minerals = mineral_map(np.array([[1, 7, 6]], np.uint8), assignment)
    assert labels[0, 0] == labels[0, 1] and minerals.loc[labels[0, 0], "clusters"] == "1 7"
    assert minerals.loc[labels[0, 2], "name"] == "cluster 6"


def test_nearest_with_poisson_default_and_same_units():
    cent = pd.DataFrame({"K": [0.0, 100.0, 90.0, 400.0]}, index=pd.Index([1, 2, 3, 4], name="cluster"))
    ref = pd.DataFrame({"K": [0.0, 100.0]}, index=["quartz", "illite"])
    assignment = match_signatures(cent, ref, normalize="none")
    # 90 is 1 Poisson sd (sqrt 90 = 9.5) from 100: illite; 400 is 15 sd from 100: unknown
    assert assignment.mapping == {1: "quartz", 2: "illite", 3: "illite", 4: None}
    assert assignment.table.attrs["noise"].startswith("Poisson")
    assert assignment.table.loc[4, "reason"].startswith("unknown")
    with pytest.raises(InputError, match="method"):
        match_signatures(cent, ref, method="greedy")
    with pytest.raises(InputError, match="max_z"):
        match_signatures(cent, ref, max_z=0)


def test_tiny_cluster_without_spread_in_a_weak_element_is_still_named():
    # cluster 3 has 3 pixels that all read 0 counts of Na: its own spread (0) would make Na infinitely strict
    cent = pd.DataFrame({"Na": [4.0, 0.5, 0.0], "Si": [100.0, 180.0, 176.0]}, index=pd.Index([1, 2, 3], name="cluster"))
    spread = pd.DataFrame({"Na": [2.0, 0.7, 0.0], "Si": [10.0, 13.0, 4.0]}, index=cent.index)
    ref = pd.DataFrame({"Na": [4.0, 0.5], "Si": [100.0, 180.0]}, index=["albite", "quartz"])
    named = match_signatures(cent, ref, normalize="none", spread=spread, sizes=[500, 400, 3])
    assert named.mapping == {1: "albite", 2: "quartz", 3: "quartz"}
    # without sizes there is no shrinkage: the zero spread makes cluster 3 unknown
    assert match_signatures(cent, ref, normalize="none", spread=spread).mapping[3] is None
