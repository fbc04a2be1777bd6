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
@pytest.mark.parametrize("kind, seed", [("counts-g15", 0), ("wt%-g15", 1), ("wt%-g8", 0), ("wt%-g8", 1),
                                        ("counts-g8", 1)])
def test_labels_hold_from_n_to_2n_clusters(kind, seed):
    """Accuracy >= 0.95 and abundances (pixel counts and unmixed) within 1 pp for n, n + 1, 2n clusters.
    wt%-g15 seed 1 was the case where the calibration fit started from a mixed-pixel cluster and left the
    pure ilmenite cluster unknown (ilmenite -2.0 pp) before the second, same-units start. wt%-g8 (8-pixel
    grains) reached only 0.924 and 5.5 pp with n clusters before mixed pixels were left out of K-means
    (a cluster spent on plagioclase/ilmenite boundaries, orthopyroxene merged with olivine), then 0.973-0.974
    and 0.92 pp (seed 1: 1.46 pp); with mixed pixels labelled by their majority member (unmix) 0.988-0.991
    and 0.26 pp. counts-g8 seed 1: 1.32 pp before unmix (pixels between albite and clinochlore labelled
    laumontite), 0.977 and 0.43 pp with it."""
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
        # unmix=False: the K-means step alone (unmix relabels boundary pixels afterwards and hides the difference)
        r = xrf_labels(case.data.maps, n_clusters=case.n_minerals, reference=case.reference, seed=0, mixed=mixed,
                       unmix=False)
        lut = np.zeros(256, np.uint8)
        for i, name in r.minerals["name"].items():
            lut[int(i)] = ids.get(str(name), 0)
        scores[mixed] = pixel_accuracy(lut[r.labels], truth, mask=truth > 0)
    assert scores["keep"] < 0.94 and scores["exclude"] >= 0.95, scores


@pytest.mark.slow
def test_3_pixel_grains_wt_majority_mineral_and_area_fractions():
    """wt%-g3 (grains of 3 map pixels: most pixels are mixtures): accuracy against the majority mineral per
    pixel >= 0.95 and the unmixed abundance within 1 pp for n, n + 1, 2n clusters (0.930 and 2.9 pp before
    mixed pixels were labelled by the majority member of their two-component fit; 2n clusters left an
    unnamed cluster of plagioclase/ilmenite pixels: ilmenite -1.15 pp before it was dissolved). The
    abundance by pixel counts is not asserted: a perfect majority labelling of this face is itself 1.47 pp
    off the true area fractions (the unmixed abundance is the estimator of area fractions)."""
    case = label_case("wt%-g3", seed=0)
    truth = case.data.truth
    inside = truth > 0
    counts = np.bincount(truth[inside], minlength=7)
    majority = {case.minerals[i]: 100.0 * counts[i] / inside.sum() for i in case.minerals}
    fractions = dict(zip(case.data.fractions["name"], case.data.fractions["percent"]))
    assert max(abs(majority[m] - fractions[m]) for m in fractions) > 1.4  # the truth's own pixel-count bias
    n = case.n_minerals
    for k in (n, n + 1, 2 * n):
        accuracy, worst, r = _score(case, k)
        assert accuracy >= 0.95, (k, accuracy)
        assert r.worst_unmixed <= 1.0, (k, r.worst_unmixed)


@pytest.mark.slow
def test_3_pixel_grains_counts_unmix_gains():
    """counts-g3 seed 0, n clusters: labelling mixed pixels by the majority member of their two-component fit
    raises the accuracy from 0.897 (nearest centre) to 0.929 and the unmixed abundance error from 2.6 to
    1.3 pp; >= 0.95 is not reached (a per-pixel two-component fit with the true centres and the true
    neighbours reaches 0.944-0.949 on this face, docs/labels.md)."""
    case = label_case("counts-g3", seed=0)
    truth = case.data.truth
    ids = {name: i for i, name in case.minerals.items()}
    scores = {}
    for unmix in (False, True):
        r = xrf_labels(case.data.maps, n_clusters=case.n_minerals, reference=case.reference, seed=0, unmix=unmix)
        lut = np.zeros(256, np.uint8)
        for i, name in r.minerals["name"].items():
            lut[int(i)] = ids.get(str(name), 0)
        scores[unmix] = pixel_accuracy(lut[r.labels], truth, mask=truth > 0)
    assert scores[True] >= scores[False] + 0.02 and scores[True] >= 0.92, scores
