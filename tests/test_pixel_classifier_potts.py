"""In-plane Potts smoothing of the pixel classifier's probabilities (issue 18, session 9): the mean-field
relaxation against closed forms, the classifier's prediction paths, storage, and ``train``'s choice rule."""

import json
from dataclasses import replace

import numpy as np
import pytest
from _seg_phantoms import blobs as _blobs
from _seg_phantoms import faces as _faces

from liberation.errors import FileFormatError, InputError
from liberation.segmentation.pixel_classifier import (
    CLASSIFIER_META,
    PixelClassifier,
    classify_labelled_voxels,
    load_pixel_classifier,
    plane_features,
    potts_mean_field,
    predict_pixel_classifier,
    predict_pixel_classifier_volume,
    save_pixel_classifier,
    train_pixel_classifier,
)
from liberation.segmentation.train import POTTS_RECALL_DROP, _potts_candidate


def test_mean_field_on_a_constant_plane_equals_the_scalar_iteration():
    # every voxel has p = (0.6, 0.3, 0.1): the neighbours' mean is q itself, so each iteration is
    # q <- softmax(log p + w q), computed here independently
    p = np.array([0.6, 0.3, 0.1], np.float32)
    prob = np.broadcast_to(p, (2, 5, 7, 3)).copy()
    for w, it in ((3.0, 1), (6.0, 5), (12.0, 3)):
        q = p.astype(np.float64)
        for _ in range(it):
            z = np.log(p) + w * q
            q = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        out = potts_mean_field(prob, weight=w, iterations=it)
        assert out.shape == prob.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, np.broadcast_to(q, prob.shape), rtol=1e-5)
    # uniform probabilities stay uniform; weight 0 or no iterations: unchanged
    flat = np.full((3, 4, 4, 4), 0.25, np.float32)
    np.testing.assert_allclose(potts_mean_field(flat, weight=6.0), flat, rtol=1e-6)
    np.testing.assert_array_equal(potts_mean_field(prob, weight=0.0), prob)
    np.testing.assert_array_equal(potts_mean_field(prob, weight=5.0, iterations=0), prob)
    with pytest.raises(InputError, match="weight"):
        potts_mean_field(prob, weight=-1.0)
    with pytest.raises(InputError, match="shape"):
        potts_mean_field(np.ones((4, 2)), weight=1.0)


def test_mean_field_cleans_noisy_half_planes_and_keeps_planes_independent():
    # two half planes; each voxel's probabilities point to the wrong side with chance 0.25 (confidence 0.7):
    # the 8-neighbour Potts relaxation recovers nearly every voxel away from the boundary
    rng = np.random.default_rng(0)
    truth = np.zeros((2, 40, 40), np.int64)
    truth[:, :, 20:] = 1
    wrong = rng.random(truth.shape) < 0.25
    said = np.where(wrong, 1 - truth, truth)
    prob = np.where(said[..., None] == np.arange(2), 0.7, 0.3).astype(np.float32)
    before = (prob.argmax(-1) == truth).mean()
    after = potts_mean_field(prob, weight=6.0, iterations=5)
    np.testing.assert_allclose(after.sum(-1), 1.0, rtol=1e-5)
    assert before < 0.78 and (after.argmax(-1) == truth).mean() > 0.97, (before, (after.argmax(-1) == truth).mean())
    # in-plane: a plane's result does not depend on the other planes
    np.testing.assert_allclose(potts_mean_field(prob[1:], weight=6.0)[0], after[1], rtol=1e-6)


def test_smoothed_classifier_predicts_the_same_by_every_path_and_beats_unsmoothed():
    ct, phases = _blobs((14, 32, 32), noise=0.45, seed=3)
    sparse = _faces(phases, [1, 12])
    one = train_pixel_classifier(ct, sparse, sigmas=(0.7,), texture=(), seed=0, max_iter=20)
    smooth = replace(one, potts_weight=6.0, potts_iterations=5)
    planes = list(range(3, 11))
    lab, conf = predict_pixel_classifier(ct, smooth, planes)
    # the volume paths (slabs of one plane and of all) and the labelled-voxel path agree with the plane path
    for slab in (1, 14):
        vol = predict_pixel_classifier_volume(ct, smooth, slab=slab, show_progress=False)
        np.testing.assert_array_equal(vol[planes], lab)
    val = _faces(phases, [5, 8])
    pred, coords = classify_labelled_voxels(ct, smooth, val)
    np.testing.assert_array_equal(pred, lab[[planes.index(z) for z in coords[:, 0]], coords[:, 1], coords[:, 2]])
    # equal to the mean field of the unsmoothed probabilities of the stage-1 model
    feats = plane_features(ct, planes, one.norm, sigmas=one.sigmas, texture=())
    raw = one.model.predict_proba(feats.reshape(-1, feats.shape[-1])).reshape(len(planes), 32, 32, 2)
    ids = np.asarray(one.class_ids, np.uint8)
    np.testing.assert_array_equal(ids[potts_mean_field(raw, weight=6.0).argmax(-1)], lab)
    # known answer: noisy blobs, the smoothing is more accurate on the unlabelled planes
    acc_one = (predict_pixel_classifier(ct, one, planes)[0] == phases[planes]).mean()
    acc_smooth = (lab == phases[planes]).mean()
    assert acc_smooth > acc_one + 0.03, (acc_one, acc_smooth)


def test_smoothing_with_a_context_stage_in_one_plane_chunks(monkeypatch):
    import liberation.segmentation.pixel_classifier as pc

    ct, phases = _blobs((12, 20, 20), noise=0.4, seed=6)
    sparse = _faces(phases, [0, 11])
    two = train_pixel_classifier(ct, sparse, sigmas=(0.7,), texture=(), seed=0, max_iter=10,
                                 context_sigmas=(1.0, 2.0), context_axes="zyx")
    smooth = replace(two, potts_weight=3.0, potts_iterations=5)
    whole = predict_pixel_classifier_volume(ct, smooth, show_progress=False)
    monkeypatch.setattr(pc, "_CONTEXT_RUN_VOXELS", 1)
    np.testing.assert_array_equal(predict_pixel_classifier_volume(ct, smooth, slab=1, show_progress=False), whole)
    np.testing.assert_array_equal(predict_pixel_classifier(ct, smooth, [4, 7])[0], whole[[4, 7]])


def test_stored_smoothing_round_trips_and_old_files_have_none(tmp_path):
    ct, phases = _blobs((10, 16, 16), noise=0.3, seed=5)
    sparse = _faces(phases, [0, 9])
    clf = replace(train_pixel_classifier(ct, sparse, sigmas=(0.7,), texture=(), seed=0, max_iter=10),
                  potts_weight=6.0, potts_iterations=5)
    save_pixel_classifier(clf, tmp_path)
    meta = json.loads((tmp_path / CLASSIFIER_META).read_text())
    assert meta["smoothing"] == {"method": "potts-mean-field", "neighbours": "8 in-plane", "weight": 6.0,
                                 "iterations": 5}
    loaded = load_pixel_classifier(tmp_path)
    assert (loaded.potts_weight, loaded.potts_iterations) == (6.0, 5)
    np.testing.assert_array_equal(predict_pixel_classifier_volume(ct, loaded, show_progress=False),
                                  predict_pixel_classifier_volume(ct, clf, show_progress=False))
    # a file written before the smoothing existed: none
    del meta["smoothing"]
    (tmp_path / CLASSIFIER_META).write_text(json.dumps(meta))
    assert load_pixel_classifier(tmp_path).potts_weight == 0.0
    save_pixel_classifier(replace(clf, potts_weight=0.0), tmp_path)
    assert "smoothing" not in json.loads((tmp_path / CLASSIFIER_META).read_text())
    for bad in ({"method": "gauss", "weight": 1, "iterations": 2}, {"method": "potts-mean-field", "weight": -1,
                                                                     "iterations": 2},
                {"method": "potts-mean-field", "weight": "x"}):
        meta["smoothing"] = bad
        (tmp_path / CLASSIFIER_META).write_text(json.dumps(meta))
        with pytest.raises(FileFormatError, match="smoothing"):
            load_pixel_classifier(tmp_path)


def _m(acc, miou, **recall):
    return {"accuracy": acc, "miou": miou, "per_class_accuracy": recall}


def test_potts_candidate_rule_keeps_the_best_eligible_weight_with_the_rare_class_guard():
    def clf():
        return PixelClassifier(model=None, class_ids=[1, 2, 3], sigmas=(0.7,), norm={})

    def scorer(table):
        return lambda clf, weights: {w: table[w] for w in weights}

    base = _m(0.90, 0.80, a=0.9, b=0.9, rare=0.6)
    # weight 12 has the best accuracy but wipes the rare class (recall 0.6 -> 0.5): the guard skips it;
    # weight 6 beats 3 on accuracy
    table = {0.0: base, 3.0: _m(0.91, 0.81, a=0.91, b=0.91, rare=0.6), 6.0: _m(0.92, 0.82, a=0.93, b=0.92, rare=0.58),
             12.0: _m(0.95, 0.83, a=0.97, b=0.97, rare=0.6 - POTTS_RECALL_DROP - 0.01)}
    one = clf()
    rec = _potts_candidate(one, {}, scorer(table))
    assert rec["kept"] and rec["weight"] == 6.0 and rec["metrics"] is table[6.0], rec
    assert rec["candidates"]["12"]["eligible"] is False and rec["candidates"]["12"]["class"] == "rare"
    assert (rec["classifier"].potts_weight, rec["classifier"].potts_iterations) == (6.0, 5) and one.potts_weight == 0
    # a classifier already smoothed is not smoothed again
    assert not _potts_candidate(rec["classifier"], {}, scorer(table))["tried"]
    # a weight that gains accuracy but loses mIoU is not kept; ties keep the classifier unsmoothed
    table = {0.0: base, 3.0: _m(0.90, 0.80, a=0.9, b=0.9, rare=0.6), 6.0: _m(0.93, 0.79, a=0.95, b=0.95, rare=0.6),
             12.0: _m(0.89, 0.81, a=0.9, b=0.9, rare=0.6)}
    rec = _potts_candidate(clf(), {}, scorer(table))
    assert rec["tried"] and not rec["kept"] and rec["weight"] == 0.0 and "not kept" in rec["reason"]
    assert "classifier" not in rec and "metrics" not in rec
