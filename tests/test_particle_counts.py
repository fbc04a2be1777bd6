"""Particle counts of the particles network's separation on touching and elongated grains (issue 18).

Classes (outside / particle / contact) are made from the exact truth of packs with no gap
between particles (``liberation.synthetic.packs``), then degraded the way a network fails
(half the contacts missed, no contact at all). Seeds 5-7 are not the benchmark's (1-3).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.segmentation.metrics import instance_metrics
from liberation.segmentation.particles import (
    bootstrap_particles,
    classical_particles,
    contact_zone,
    instances_from_prediction,
)
from liberation.synthetic import make_particles, packs


def _classes(truth):
    classes = (truth > 0).astype(np.uint8)
    classes[contact_zone(truth, width=1) & (truth > 0)] = 2
    return classes


def _drop_half_of_the_contacts(truth, classes, seed):
    """Contact voxels of a random half of the touching pairs set back to particle."""
    big = np.iinfo(np.int64).max
    t = truth.astype(np.int64)
    high = ndimage.maximum_filter(t, size=3)
    low = ndimage.minimum_filter(np.where(t > 0, t, big), size=3)
    contact = classes == 2
    own = t[contact]
    other = np.where(high[contact] != own, high[contact], low[contact])
    key = np.minimum(own, other) * (int(t.max()) + 1) + np.maximum(own, other)
    pairs = np.unique(key)
    dropped = pairs[np.random.default_rng(seed).random(pairs.size) < 0.5]
    assert 0 < dropped.size < pairs.size
    out = classes.copy()
    out.ravel()[np.flatnonzero(contact.ravel())[np.isin(key, dropped)]] = 1
    return out


PACKS = {
    # radius 4 voxels, 12 touching spheres
    "spheres": lambda seed: packs.touching_spheres(shape=(48, 48, 48), voxel_size_um=10.0, n_particles=12,
                                                   radius_um=40.0, seed=seed),
    # aspect 3:1, random orientation, equivalent radius 5 voxels (semi-axes 10.4 x 3.5 x 3.5)
    "ellipsoids 3:1": lambda seed: packs.touching_ellipsoids(shape=(48, 48, 48), voxel_size_um=10.0, n_particles=8,
                                                             radius_um=50.0, aspect_range=(3.0, 3.0), seed=seed),
    # aspect 2-3 on voxels twice as long in z
    "ellipsoids, voxels 2:1:1": lambda seed: packs.touching_ellipsoids(
        shape=(32, 64, 64), voxel_size_um=(20.0, 10.0, 10.0), n_particles=12, radius_um=50.0,
        aspect_range=(2.0, 3.0), seed=seed),
}


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_relative_seeding_counts_touching_and_elongated_grains(pack):
    # measured on seeds 5, 6, 7: 0 % count error and every particle matched at IoU > 0.5 with
    # all, half or none of the contacts predicted, except 'no contacts' on the anisotropic
    # pack, seed 6 (-8.3 %: one pair merged); with half the contacts missed the core seeds
    # lose 50-83 %. The anisotropic pack (minor semi-axis 1.7 voxels in z) with contacts
    # missed is the weak case: -11 % mean, -16.7 % worst (2 of 12 merged) on the benchmark's
    # seeds 1-3 (docs/particles_network.md), hence its wider limit
    for seed in (5, 6):
        sample = PACKS[pack](seed)
        truth = sample.particles
        perfect = _classes(truth)
        variants = {"perfect": perfect, "half": _drop_half_of_the_contacts(truth, perfect, seed),
                    "none": (truth > 0).astype(np.uint8)}
        for name, classes in variants.items():
            out = instances_from_prediction(classes, voxel_size_um=sample.voxel_size_um, min_size_voxels=10)
            m = instance_metrics(truth, out)
            limit = 0.17 if pack == "ellipsoids, voxels 2:1:1" and name != "perfect" else 0.05
            assert abs(m["count_error"]) <= limit, (pack, seed, name, m)
            assert m["recall"] >= 1.0 - limit, (pack, seed, name, m)
            if name == "perfect":
                np.testing.assert_array_equal(out > 0, truth > 0)
        # the core seeds merge every pair whose contact was missed (why relative is the default)
        core = instances_from_prediction(variants["half"], voxel_size_um=sample.voxel_size_um, min_size_voxels=10,
                                         seeds="core")
        assert instance_metrics(truth, core)["count_error"] < -0.25


def test_relative_seeding_keeps_particles_in_void_and_contact_only_particles():
    truth = make_particles((48, 48, 48), voxel_size_um=10.0, esd_range_um=(80.0, 200.0), packing_fraction=0.2,
                           touching_fraction=0.0, seed=5)
    n = int(truth.max())
    assert n >= 10
    for classes in (_classes(truth), (truth > 0).astype(np.uint8)):
        out = instances_from_prediction(classes, voxel_size_um=10.0, min_size_voxels=10)
        assert out.max() == n
        assert instance_metrics(truth, out)["f1"] == 1.0
    # two cubes touching over a whole face: only the predicted contact separates them, and a
    # particle predicted as contact only (no core) is an instance of its own
    truth = np.zeros((12, 12, 30), np.uint32)
    truth[2:10, 2:10, 2:10] = 1
    truth[2:10, 2:10, 10:18] = 2
    truth[4:7, 4:7, 24:27] = 3
    classes = (truth > 0).astype(np.uint8)
    classes[2:10, 2:10, 9:11] = 2
    classes[truth == 3] = 2
    out = instances_from_prediction(classes, voxel_size_um=1.0, min_size_voxels=10)
    assert out.max() == 3 and instance_metrics(truth, out)["f1"] == 1.0
    np.testing.assert_array_equal(out > 0, truth > 0)
    # without the contact the face is as wide as the cubes: one particle (the known limit)
    assert instances_from_prediction((truth > 0).astype(np.uint8), voxel_size_um=1.0, min_size_voxels=10).max() == 2


@pytest.mark.slow
def test_bootstrap_particles_splits_touching_grains_from_the_ct():
    # the contact targets of the particles network; the former bootstrap (h-maxima) merges
    # these packs. Measured on seeds 5-7: spheres 0 %, 3:1 ellipsoids -12.5 % (one of 8
    # merged), classical_particles -75 to -92 %
    for seed in (5, 6):
        sample = PACKS["spheres"](seed)
        m = instance_metrics(sample.particles, bootstrap_particles(sample.ct, voxel_size_um=10.0))
        assert abs(m["count_error"]) <= 0.05 and m["recall"] >= 0.95, m
        old = instance_metrics(sample.particles, classical_particles(sample.ct, voxel_size_um=10.0))
        assert old["count_error"] < -0.5
        sample = PACKS["ellipsoids 3:1"](seed)
        m = instance_metrics(sample.particles, bootstrap_particles(sample.ct, voxel_size_um=10.0))
        assert abs(m["count_error"]) <= 0.15 and m["recall"] >= 0.85, m


def test_relative_seeding_errors_and_empty_input():
    classes = np.zeros((8, 8, 8), np.uint8)
    assert instances_from_prediction(classes).max() == 0
    classes[2:6, 2:6, 2:6] = 1
    with pytest.raises(InputError, match="ratio"):
        instances_from_prediction(classes, ratio=1.5)
    with pytest.raises(InputError, match="seeds"):
        instances_from_prediction(classes, seeds="watershed")
