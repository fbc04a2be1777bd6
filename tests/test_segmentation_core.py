"""Segmentation helpers that need no torch: patches, targets, metrics, baseline, particles."""

import subprocess
import sys

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.segmentation.baseline import grey_value_baseline
from liberation.segmentation.config import TrainConfig, get_preset
from liberation.segmentation.metrics import confusion_matrix, instance_metrics, interslice_consistency, phase_metrics
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.particles import (
    classical_particles,
    contact_zone,
    instances_from_prediction,
    particle_targets,
)
from liberation.segmentation.patches import extract_patch, reflect_index, sample_patch_origins, split_validation
from liberation.segmentation.targets import encode_targets, phase_classes


def test_package_import_does_not_load_torch():
    code = "import liberation.segmentation as s, sys; s.phase_metrics; s.TrainConfig; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_reflect_index_and_patch_reflection():
    assert reflect_index(np.array([-2, -1, 0, 4, 5, 6]), 5).tolist() == [2, 1, 0, 4, 3, 2]
    vol = np.arange(5 * 4 * 3).reshape(5, 4, 3)
    patch = extract_patch(vol, (-2, 0, 0), (4, 4, 3))
    np.testing.assert_array_equal(patch, vol[[2, 1, 0, 1]])
    lab = extract_patch(vol, (-2, 0, 0), (4, 4, 3), fill=255)
    assert (lab[:2] == 255).all() and (lab[2:] == vol[:2]).all()


def test_patch_origins_keep_labelled_plane_inside():
    mask = np.zeros((40, 30, 30), bool)
    mask[0] = True
    size = (16, 16, 16)
    origins = sample_patch_origins(mask, size, 200, context_margin=0.25, seed=1)
    offset = 0 - origins[:, 0]  # position of plane z=0 inside the patch
    assert offset.min() >= 4 and offset.max() < 12  # central half: context on both sides
    # same seed, same origins
    np.testing.assert_array_equal(origins, sample_patch_origins(mask, size, 200, context_margin=0.25, seed=1))


def test_split_validation_region_and_planes():
    sparse = np.full((10, 8, 10), 255, np.uint8)
    sparse[0] = 1
    sparse[9] = 2
    train, val, info = split_validation(sparse, val_fraction=0.2)
    assert info["mode"] == "region" and info["x_split"] == 8
    assert (train[:, :, 8:] == 255).all() and (val[0, :, 8:] == 1).all() and (val[:, :, :8] == 255).all()
    sparse[5] = 3
    train, val, info = split_validation(sparse, val_fraction=0.2)
    assert {k: info[k] for k in ("mode", "val_planes", "x_split")} == {"mode": "planes", "val_planes": [5], "x_split": None}
    assert [s["validation"] for s in info["sheets"]] == [False, True, False]
    assert [s["z_range"] for s in info["sheets"]] == [[0, 0], [5, 5], [9, 9]]
    assert (train[5] == 255).all() and (val[5] == 3).all()
    with pytest.raises(InputError, match="val_planes"):
        split_validation(sparse, val_planes=[4])


def test_targets_and_classes():
    sparse = np.full((4, 4, 4), 255, np.uint8)
    sparse[0, :2] = 3
    sparse[0, 2:] = 0
    ids, names = phase_classes(sparse)
    assert ids == [0, 3] and names == ["void", "phase_3"]
    enc = encode_targets(sparse, ids)
    assert set(np.unique(enc)) == {0, 1, 255}
    with pytest.raises(InputError, match="no labelled voxel"):
        phase_classes(np.full((2, 2, 2), 255, np.uint8))


def test_normalization_percentiles():
    img = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    p = robust_percentiles(img, low=0.0, high=100.0)
    assert p["value_low"] == 0 and p["value_high"] == 999
    assert apply_normalization(img, p).max() == pytest.approx(1.0)


def test_confusion_and_phase_metrics_known_answer():
    true = np.array([0, 0, 1, 1, 1, 2, 2, 255])
    pred = np.array([0, 1, 1, 1, 2, 2, 2, 0])
    cm = confusion_matrix(true, pred, class_ids=[0, 1, 2])
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 1], [0, 0, 2]])
    m = phase_metrics(cm, class_names=["void", "a", "b"], void_index=0)
    assert m["accuracy"] == pytest.approx(4 / 5)  # void excluded
    assert m["per_class_accuracy"]["a"] == pytest.approx(2 / 3)
    assert m["iou"]["a"] == pytest.approx(2 / 4) and m["iou"]["b"] == pytest.approx(2 / 3)
    assert m["miou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert np.allclose(np.sum(m["confusion_normalized"], axis=1), 1)


def test_instance_metrics_known_answer():
    true = np.zeros((1, 10, 10), int)
    true[0, :4, :4] = 1
    true[0, 6:, 6:] = 2
    pred = np.zeros_like(true)
    pred[0, :4, :3] = 5  # IoU 0.75 with 1
    pred[0, 6:8, 6:8] = 7  # IoU 0.25 with 2
    pred[0, 0, 9] = 9  # false positive
    m = instance_metrics(true, pred)
    assert (m["n_true"], m["n_pred"], m["tp"]) == (2, 3, 1)
    assert m["f1"] == pytest.approx(2 / 5) and m["count_error"] == pytest.approx(0.5)


def test_interslice_consistency():
    constant = np.ones((4, 5, 5), int)
    assert interslice_consistency(constant) == 1.0
    striped = np.ones((4, 5, 5), int)
    striped[1::2] = 2
    assert interslice_consistency(striped) == 0.0


def test_grey_value_baseline_separates_distinct_and_not_equal_greys():
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 4, (20, 20, 20)).astype(np.uint8)
    means = np.array([0, 100, 200, 202], float)  # classes 2 and 3 nearly the same grey
    img = means[truth] + rng.normal(0, 5, truth.shape)
    sparse = np.full_like(truth, 255)
    sparse[0] = truth[0]
    for method in ("gmm", "otsu"):
        pred = grey_value_baseline(img, sparse, method=method, seed=0)
        assert (pred[truth == 1] == 1).mean() > 0.99
        pair = np.isin(truth, [2, 3])
        assert (pred[pair] == truth[pair]).mean() < 0.75  # grey value alone cannot separate 2 and 3
    with pytest.raises(InputError, match="method"):
        grey_value_baseline(img, sparse, method="kmeans")


def _two_spheres():
    zz, yy, xx = np.indices((24, 24, 40))
    inst = np.zeros((24, 24, 40), np.uint32)
    inst[(zz - 12) ** 2 + (yy - 12) ** 2 + (xx - 11) ** 2 < 81] = 1
    inst[(zz - 12) ** 2 + (yy - 12) ** 2 + (xx - 28) ** 2 < 81] = 2
    return inst


def test_particle_targets_and_contacts():
    inst = _two_spheres()
    inst[12, 12, 20] = 2  # a bridge: the spheres nearly touch
    contact = contact_zone(inst, width=1)
    assert contact[12, 12, 19] and not contact[12, 12, 11]
    sparse = np.full(inst.shape, 255, np.uint8)
    sparse[12] = np.where(inst[12] > 0, 3, 0)
    t = particle_targets(sparse, instances=inst, bootstrap_planes=2)
    assert t[12, 12, 11] == 1 and t[12, 0, 0] == 0 and t[12, 12, 19] == 2
    assert (t[0] == 255).all() and (t[8] != 255).all()  # bootstrap plane at z=8


def test_contact_class_never_covers_the_void_between_particles():
    # two slabs of particle separated by a one-voxel void gap at x = 5
    inst = np.zeros((3, 4, 11), np.uint32)
    inst[:, :, :5] = 1
    inst[:, :, 6:] = 2
    sparse = np.full(inst.shape, 255, np.uint8)
    sparse[1] = np.where(inst[1] > 0, 7, 0)
    assert contact_zone(inst, width=1)[1, 0, 5]  # the gap is within one voxel of both
    t = particle_targets(sparse, instances=inst, bootstrap_planes=1)
    assert (t[1, :, 5] == 0).all()  # the gap stays outside
    assert (t[1, :, 4] == 2).all() and (t[1, :, 6] == 2).all()  # particle voxels at the gap are contacts
    assert (t[1, :, 3] == 1).all() and (t[1, :, 7] == 1).all()
    # foreground (particle | contact) equals the labelled particle set exactly
    np.testing.assert_array_equal(t[1] > 0, inst[1] > 0)


def test_watershed_instances_and_classical_bootstrap():
    inst = _two_spheres()
    classes = (inst > 0).astype(np.uint8)
    # the spheres merged by a thin bridge: the distance-map seeds still split them
    classes[12, 11:14, 18:23] = 1
    out = instances_from_prediction(classes, voxel_size_um=1.0, min_size_voxels=10, seeds="distance")
    assert out.max() == 2
    assert instance_metrics(inst, out)["f1"] == 1.0
    ct = np.where(inst > 0, 1000.0, 100.0) + np.random.default_rng(0).normal(0, 20, inst.shape)
    boot = classical_particles(ct, voxel_size_um=1.0, min_size_voxels=10)
    assert boot.max() == 2 and instance_metrics(inst, boot)["f1"] == 1.0


def test_core_seeds_split_touching_particles_and_keep_coreless_ones():
    truth = np.zeros((12, 12, 30), np.uint32)
    truth[2:10, 2:10, 2:10] = 1
    truth[2:10, 2:10, 10:18] = 2  # touches particle 1 over a whole face
    truth[4:7, 4:7, 24:27] = 3  # small, predicted as contact only (no core)
    classes = (truth > 0).astype(np.uint8)
    classes[2:10, 2:10, 9:11] = 2  # the contact zone between 1 and 2
    classes[truth == 3] = 2
    out = instances_from_prediction(classes, voxel_size_um=1.0, min_size_voxels=10, seeds="core")
    assert out.max() == 3
    np.testing.assert_array_equal(out > 0, truth > 0)
    assert instance_metrics(truth, out)["f1"] == 1.0
    # the touching faces go to the nearer core: each instance is exactly its particle
    for i in (1, 2, 3):
        assert len(np.unique(out[truth == i])) == 1
    # cores smaller than min_seed_voxels are no seeds: 1 and 2 (448 core voxels each) are
    # then one seedless component, particle 3 another
    assert instances_from_prediction(classes, min_size_voxels=10, min_seed_voxels=600, seeds="core").max() == 2
    with pytest.raises(InputError, match="seeds"):
        instances_from_prediction(classes, seeds="maxima")


def test_config_validation():
    assert get_preset("deep-xfct").optimizer == "adadelta" and get_preset("deep-xfct").lr == 1.0
    with pytest.raises(InputError, match="divisible"):
        TrainConfig(patch_size=(30, 32, 32))
    with pytest.raises(InputError, match="preset"):
        get_preset("huge")
    with pytest.raises(InputError, match="unknown training option"):
        get_preset("cpu", colour=1)
