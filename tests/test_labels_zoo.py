"""Labels over the sample zoo (issue 17): counts maps and wt% maps, n, n + 1 and 2n clusters, default scaling."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.labels import compare_abundance, pixel_accuracy, xrf_labels
from liberation.synthetic.zoo import LABEL_ZOO, label_case


def _score(case, k):
    r = xrf_labels(case.data.maps, n_clusters=k, reference=case.reference, seed=0)  # default scaling "noise"
    ids = {name: i for i, name in case.minerals.items()}
    lut = np.zeros(256, np.uint8)
    for i, name in r.minerals["name"].items():
        lut[int(i)] = ids.get(str(name), 0)
    truth = case.data.truth
    accuracy = pixel_accuracy(lut[r.labels], truth, mask=truth > 0)
    reference = dict(zip(case.data.fractions["name"], case.data.fractions["percent"]))
    worst = compare_abundance(r.labels, reference, names=r.minerals)["difference_pp"].abs().max()
    unmixed = dict(zip(r.abundance["name"], r.abundance["unmixed_percent"]))
    r.worst_unmixed = max(abs(unmixed.get(name, 0.0) - p) for name, p in reference.items())
    return accuracy, worst, r


def test_zoo_kinds_are_what_they_say():
    names = [k.name for k in LABEL_ZOO]
    assert names == ["counts-g3", "counts-g8", "counts-g15", "wt%-g3", "wt%-g8", "wt%-g15"]
    case = label_case("counts-g8", seed=0)
    maps = case.data.maps
    inside = case.data.truth > 0
    others = np.mean([maps[e][inside].mean() for e in maps if e not in ("Na", "Mg")])
    assert maps["Na"][inside].mean() < 0.1 * others and maps["Mg"][inside].mean() < 0.1 * others  # weak Na, Mg
    assert case.data.truth.shape == (96, 96) and case.n_minerals == 6
    eds = label_case("wt%-g15", seed=0)
    assert set(eds.data.maps) == set(eds.reference.columns) and len(eds.data.maps) == 12
    assert eds.data.maps["Si"][eds.data.truth == 1].mean() == pytest.approx(25.2, abs=1.0)  # plagioclase wt%


@pytest.mark.slow
@pytest.mark.parametrize("kind, seed", [("counts-g15", 0), ("wt%-g15", 1), ("wt%-g8", 0)])
def test_labels_hold_from_n_to_2n_clusters(kind, seed):
    """Accuracy >= 0.95 and abundances (pixel counts and unmixed) within 1 pp for n, n + 1, 2n clusters.
    wt%-g15 seed 1 was the case where the calibration fit started from a mixed-pixel cluster and left the
    pure ilmenite cluster unknown (ilmenite -2.0 pp) before the second, same-units start. wt%-g8 (8-pixel
    grains) reached only 0.924 and 5.5 pp with n clusters before mixed pixels were left out of K-means
    (a cluster spent on plagioclase/ilmenite boundaries, orthopyroxene merged with olivine); now 0.973-0.974
    and 0.92 pp (unmixed 0.74 pp)."""
    case = label_case(kind, seed=seed)
    n = case.n_minerals
    for k in (n, n + 1, 2 * n):
        accuracy, worst, r = _score(case, k)
        assert accuracy >= 0.95, (kind, k, accuracy)
        assert worst <= 1.0, (kind, k, worst)
        assert r.worst_unmixed <= 1.0, (kind, k, r.worst_unmixed)


@pytest.mark.slow
def test_mixed_pixels_left_out_of_kmeans_on_8_pixel_grains():
    """wt%-g8 seed 0, n clusters: plain K-means on every pixel (mixed="keep") spends a cluster on boundary
    pixels (0.924, 5.5 pp); fitted on the pure pixels it reaches >= 0.95 and 1 pp."""
    case = label_case("wt%-g8", seed=0)
    truth = case.data.truth
    ids = {name: i for i, name in case.minerals.items()}
    scores = {}
    for mixed in ("keep", "exclude"):
        r = xrf_labels(case.data.maps, n_clusters=case.n_minerals, reference=case.reference, seed=0, mixed=mixed)
        lut = np.zeros(256, np.uint8)
        for i, name in r.minerals["name"].items():
            lut[int(i)] = ids.get(str(name), 0)
        scores[mixed] = pixel_accuracy(lut[r.labels], truth, mask=truth > 0)
    assert scores["keep"] < 0.94 and scores["exclude"] >= 0.95, scores
