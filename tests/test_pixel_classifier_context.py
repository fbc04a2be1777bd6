"""Auto-context stage of the pixel classifier: equal to a whole-volume computation, helps on a known phantom, stored."""

import json
from dataclasses import replace

import numpy as np
import pytest
from _seg_phantoms import blobs as _blobs
from _seg_phantoms import faces as _faces
from scipy import ndimage

from liberation.errors import FileFormatError, InputError
from liberation.segmentation.normalize import apply_normalization
from liberation.segmentation.pixel_classifier import (
    CLASSIFIER_META,
    classify_labelled_voxels,
    context_feature_names,
    filter_features,
    load_pixel_classifier,
    predict_pixel_classifier,
    predict_pixel_classifier_volume,
    save_pixel_classifier,
    train_pixel_classifier,
)


def test_context_prediction_equals_whole_volume_two_stage_computation():
    ct, phases = _blobs((18, 22, 24), noise=0.15, seed=1)
    sparse = _faces(phases, [1, 16])
    clf = train_pixel_classifier(ct, sparse, sigmas=(0.7, 1.6), texture=("kstd1",), seed=0, max_iter=20,
                                 context_sigmas=(1.0, 2.0))
    assert clf.context_model is not None and clf.context_sigmas == (1.0, 2.0)
    assert clf.info["context_folds"] == 3
    # independent: features of the whole volume, stage-1 probabilities of the whole volume smoothed by
    # scipy in 3D (reflect at the ends), then the second stage
    feats = filter_features(apply_normalization(ct, clf.norm), sigmas=(0.7, 1.6), texture=("kstd1",))
    flat = feats.reshape(-1, feats.shape[-1])
    p = clf.model.predict_proba(flat).reshape(ct.shape + (-1,)).astype(np.float32)
    chans = [p] + [ndimage.gaussian_filter(p, (s, s, s, 0), mode="reflect", truncate=3.0) for s in (1.0, 2.0)]
    assert sum(c.shape[-1] for c in chans) == len(context_feature_names(clf.class_ids, clf.context_sigmas))
    x = np.concatenate([feats] + chans, axis=-1).reshape(-1, feats.shape[-1] + 3 * len(clf.class_ids))
    prob2 = clf.context_model.predict_proba(x)
    want = np.asarray(clf.class_ids, np.uint8)[prob2.argmax(1)].reshape(ct.shape)
    margin = np.sort(prob2, axis=1)[:, -1] - np.sort(prob2, axis=1)[:, -2]
    sure = margin.reshape(ct.shape) > 1e-4  # float32 sums may flip exact ties only
    planes = [0, 1, 2, 9, 16, 17]  # both ends (reflection) and the interior
    got, conf = predict_pixel_classifier(ct, clf, planes)
    assert np.array_equal(got[sure[planes]], want[planes][sure[planes]])
    np.testing.assert_allclose(conf, prob2.max(1).reshape(ct.shape)[planes], atol=1e-4)
    vol = predict_pixel_classifier_volume(ct, clf, slab=4, show_progress=False)
    assert np.array_equal(vol[sure], want[sure])
    assert np.array_equal(vol[planes], got)
    pred, coords = classify_labelled_voxels(ct, clf, sparse)
    assert np.array_equal(pred, vol[tuple(coords.T)])


def test_context_stage_cleans_a_noisy_two_phase_sample():
    # grey values 0.4 / 0.6 under noise 0.5: a voxel's fine-scale features are ambiguous, the
    # smoothed stage-1 probabilities are not (the blobs are ~10 voxels wide)
    ct, phases = _blobs((24, 48, 48), noise=0.5, seed=4)
    sparse = _faces(phases, [2, 21])
    kw = {"sigmas": (0.7,), "texture": (), "seed": 0, "max_iter": 40}
    one = train_pixel_classifier(ct, sparse, **kw)
    two = train_pixel_classifier(ct, sparse, context_sigmas=(1.0, 2.0), **kw)
    test = [8, 12, 16]
    acc_one = (predict_pixel_classifier(ct, one, test)[0] == phases[test]).mean()
    acc_two = (predict_pixel_classifier(ct, two, test)[0] == phases[test]).mean()
    assert acc_one < 0.85
    assert acc_two > acc_one + 0.05 and acc_two > 0.88  # measured 0.822 -> 0.894


def test_stored_context_classifier_round_trips_and_checks(tmp_path):
    ct, phases = _blobs((12, 20, 20), noise=0.15, seed=2)
    sparse = _faces(phases, [0, 11])
    with pytest.raises(InputError, match="context_sigmas"):
        train_pixel_classifier(ct, sparse, context_sigmas=(0.0,), max_iter=5)
    with pytest.raises(InputError, match="context_folds"):
        train_pixel_classifier(ct, sparse, context_sigmas=(1.0,), context_folds=1, max_iter=5)
    clf = train_pixel_classifier(ct, sparse, sigmas=(0.7,), texture=(), seed=0, max_iter=10, context_sigmas=(1.5,))
    save_pixel_classifier(clf, tmp_path)
    meta = json.loads((tmp_path / CLASSIFIER_META).read_text())
    assert meta["context"] == {"sigmas": [1.5], "features": context_feature_names(clf.class_ids, (1.5,)),
                               "axes": "zyx"}
    loaded = load_pixel_classifier(tmp_path)
    assert loaded.context_sigmas == (1.5,) and loaded.context_model is not None
    planes = [0, 5, 11]
    np.testing.assert_array_equal(predict_pixel_classifier(ct, loaded, planes)[0],
                                  predict_pixel_classifier(ct, clf, planes)[0])
    # context names that do not match the class ids are refused
    meta["context"]["features"] = ["p9"]
    (tmp_path / CLASSIFIER_META).write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match="context"):
        load_pixel_classifier(tmp_path)
    # without the "context" key (a classifier stored before auto-context) the first stage alone is used
    del meta["context"]
    (tmp_path / CLASSIFIER_META).write_text(json.dumps(meta))
    first = load_pixel_classifier(tmp_path)
    assert first.context_model is None and first.context_sigmas == ()
    single = train_pixel_classifier(ct, sparse, sigmas=(0.7,), texture=(), seed=0, max_iter=10)
    np.testing.assert_array_equal(predict_pixel_classifier(ct, first, planes)[0],
                                  predict_pixel_classifier(ct, single, planes)[0])


def test_in_plane_context_equals_whole_volume_computation_and_needs_no_neighbour_planes():
    ct, phases = _blobs((30, 22, 24), noise=0.2, seed=3)
    sparse = _faces(phases, [1, 28])
    clf = train_pixel_classifier(ct, sparse, sigmas=(0.7, 1.6), texture=("kstd1",), seed=0, max_iter=20,
                                 context_sigmas=(1.0, 2.0), context_axes="yx", context_folds=2)
    assert clf.context_axes == "yx" and clf.info["context_axes"] == "yx" and clf.info["context_folds"] == 2
    # the fold classifiers run as many iterations as the stage-1 classifier kept
    assert clf.info["context_fold_iterations"] == [clf.model.n_iter_] * 2
    # independent: whole-volume features and stage-1 probabilities, smoothed by scipy within each z plane
    feats = filter_features(apply_normalization(ct, clf.norm), sigmas=(0.7, 1.6), texture=("kstd1",))
    flat = feats.reshape(-1, feats.shape[-1])
    p = clf.model.predict_proba(flat).reshape(ct.shape + (-1,)).astype(np.float32)
    chans = [p] + [ndimage.gaussian_filter(p, (0, s, s, 0), mode="reflect", truncate=3.0) for s in (1.0, 2.0)]
    x = np.concatenate([feats] + chans, axis=-1).reshape(-1, feats.shape[-1] + 3 * len(clf.class_ids))
    prob2 = clf.context_model.predict_proba(x)
    want = np.asarray(clf.class_ids, np.uint8)[prob2.argmax(1)].reshape(ct.shape)
    margin = np.sort(prob2, axis=1)[:, -1] - np.sort(prob2, axis=1)[:, -2]
    sure = margin.reshape(ct.shape) > 1e-4
    planes = [0, 15, 29]
    got, conf = predict_pixel_classifier(ct, clf, planes)
    assert np.array_equal(got[sure[planes]], want[planes][sure[planes]])
    np.testing.assert_allclose(conf, prob2.max(1).reshape(ct.shape)[planes], atol=1e-4)
    # a plane needs stage 1 on itself only: planes beyond the features' halo (9 planes at sigma 1.6) do not
    # matter (with 3D smoothing at sigma 2 they would: 6 more planes)
    garbage = np.array(ct)
    garbage[:6] = 0.0
    garbage[25:] = 5000.0
    np.testing.assert_array_equal(predict_pixel_classifier(garbage, clf, [15])[0], got[1:2])
    vol = predict_pixel_classifier_volume(ct, clf, slab=7, show_progress=False)
    assert np.array_equal(vol[sure], want[sure])
    with pytest.raises(InputError, match="context_axes"):
        train_pixel_classifier(ct, sparse, context_sigmas=(1.0,), context_axes="xy", max_iter=5)


def test_stored_in_plane_context_round_trips_and_old_files_are_3d(tmp_path):
    ct, phases = _blobs((12, 20, 20), noise=0.3, seed=5)
    sparse = _faces(phases, [0, 11])
    clf = train_pixel_classifier(ct, sparse, sigmas=(0.7,), texture=(), seed=0, max_iter=10, context_sigmas=(1.0, 2.0),
                                 context_axes="yx")
    save_pixel_classifier(clf, tmp_path)
    meta = json.loads((tmp_path / CLASSIFIER_META).read_text())
    assert meta["context"]["axes"] == "yx"
    loaded = load_pixel_classifier(tmp_path)
    assert loaded.context_axes == "yx"
    np.testing.assert_array_equal(predict_pixel_classifier_volume(ct, loaded, show_progress=False),
                                  predict_pixel_classifier_volume(ct, clf, show_progress=False))
    # a file written before in-plane smoothing (no "axes") holds a 3D context stage
    del meta["context"]["axes"]
    (tmp_path / CLASSIFIER_META).write_text(json.dumps(meta))
    assert load_pixel_classifier(tmp_path).context_axes == "zyx"
    meta["context"]["axes"] = "x"
    (tmp_path / CLASSIFIER_META).write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match="axes"):
        load_pixel_classifier(tmp_path)


def test_3d_context_volume_runs_stage_one_once_per_plane_in_one_plane_chunks(monkeypatch):
    # a large plane makes every chunk of a two-stage prediction one plane deep; the 3D smoothing needs stage 1
    # on +-6 planes around it: those are kept from chunk to chunk, not computed again (13x the work before)
    import liberation.segmentation.pixel_classifier as pc

    ct, phases = _blobs((18, 22, 24), noise=0.15, seed=1)
    clf = train_pixel_classifier(ct, _faces(phases, [1, 16]), sigmas=(0.7, 1.6), texture=("kstd1",), seed=0,
                                 max_iter=20, context_sigmas=(1.0, 2.0))
    want = predict_pixel_classifier_volume(ct, clf, show_progress=False)

    class Counting:
        def __init__(self, model):
            self.model, self.classes_, self.rows = model, model.classes_, 0

        def predict_proba(self, x):
            self.rows += len(x)
            return self.model.predict_proba(x)

    counting = Counting(clf.model)
    monkeypatch.setattr(pc, "_CONTEXT_RUN_VOXELS", 1)
    got = predict_pixel_classifier_volume(ct, replace(clf, model=counting), slab=5, show_progress=False)
    assert np.array_equal(got, want)
    assert counting.rows == ct.size
