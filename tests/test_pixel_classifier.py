"""Pixel classifier on filter features: features against scipy on the whole volume, texture separation, bootstrap."""

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.pixel_classifier import (
    bootstrap_phase_labels,
    feature_names,
    filter_features,
    plane_features,
    predict_pixel_classifier,
    train_pixel_classifier,
)
from liberation.synthetic.seg_phantom import make_texture_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_texture_phantom((40, 48, 48), seed=3)


def test_plane_features_equal_whole_volume_scipy_filters(phantom):
    ct = phantom.ct
    norm = robust_percentiles(ct, seed=0)
    vol = apply_normalization(ct, norm)
    sigmas = (0.7, 2.0)
    planes = [0, 1, 7, 20, 38, 39]  # both ends (reflection) and the interior
    got = plane_features(ct, planes, norm, sigmas=sigmas)
    assert got.shape == (len(planes), 48, 48, len(feature_names(sigmas)))
    for j, s in enumerate(sigmas):
        mean = ndimage.gaussian_filter(vol, s)
        std = np.sqrt(np.maximum(ndimage.gaussian_filter(vol * vol, s) - mean * mean, 0))
        refs = [mean, std, ndimage.gaussian_gradient_magnitude(vol, s), ndimage.gaussian_laplace(vol, s)]
        for k, ref in enumerate(refs):
            np.testing.assert_allclose(got[..., 1 + 4 * j + k], ref[planes], atol=2e-5)
    np.testing.assert_allclose(got[..., 0], vol[planes], atol=1e-6)
    np.testing.assert_allclose(filter_features(vol[:9], sigmas=sigmas, plane=4), filter_features(vol[:9], sigmas=sigmas)[4])
    # a volume thinner than the filter halo: the reflection repeats, as in scipy
    thin = ct[:6]
    got = plane_features(thin, [0, 3, 5], norm, sigmas=(2.0,))
    ref = ndimage.gaussian_laplace(apply_normalization(thin, norm), 2.0)
    np.testing.assert_allclose(got[..., 4], ref[[0, 3, 5]], atol=2e-5)


@pytest.mark.slow
def test_classifier_trained_on_faces_separates_texture_pair(phantom):
    sparse = np.full(phantom.phases.shape, 255, np.uint8)
    sparse[[0, -1]] = phantom.phases[[0, -1]]
    clf = train_pixel_classifier(phantom.ct, sparse, seed=0)
    labels, conf = predict_pixel_classifier(phantom.ct, clf, [20])
    truth = phantom.phases[20]
    assert labels.shape == conf.shape == (1, 48, 48)
    assert np.all((conf > 0) & (conf <= 1))
    inner = {k: ndimage.binary_erosion(truth == k, iterations=1) for k in (2, 3)}
    # quartz and albite are 1 % apart in grey value: only texture separates them
    for k in (2, 3):
        if inner[k].sum() > 20:
            assert (labels[0][inner[k]] == k).mean() > 0.8
    assert (labels[0] == truth)[truth > 0].mean() > 0.8


@pytest.mark.slow
def test_bootstrap_labels_planes_confidence_and_no_true_planes(phantom):
    sparse = np.full(phantom.phases.shape, 255, np.uint8)
    sparse[[0, -1]] = phantom.phases[[0, -1]]
    val = np.full_like(sparse, 255)
    val[-1] = sparse[-1]
    train = sparse.copy()
    train[-1] = 255
    boot, info = bootstrap_phase_labels(phantom.ct, train, planes=3, min_probability=0.9, val_labels=val, seed=0)
    assert info["planes"] == [10, 20, 29]
    labelled = np.flatnonzero((boot != 255).any(axis=(1, 2)))
    assert set(labelled) <= set(info["planes"]) and 0 not in labelled
    assert 0.3 < info["kept_fraction"] <= 1.0
    kept = boot != 255
    assert (boot[kept] == phantom.phases[kept]).mean() > 0.9  # confident voxels are mostly right
    assert 0.7 < info["validation_accuracy"] <= 1.0
    with pytest.raises(InputError, match="planes"):
        bootstrap_phase_labels(phantom.ct, train, planes=0)
    with pytest.raises(InputError, match="min_probability"):
        bootstrap_phase_labels(phantom.ct, train, min_probability=1.5)


def test_classifier_rejects_empty_or_single_class_labels(phantom):
    empty = np.full(phantom.phases.shape, 255, np.uint8)
    with pytest.raises(InputError, match="no labelled"):
        train_pixel_classifier(phantom.ct, empty)
    one = empty.copy()
    one[0] = 2
    with pytest.raises(InputError, match="single class"):
        train_pixel_classifier(phantom.ct, one)
    with pytest.raises(InputError, match="shape"):
        train_pixel_classifier(phantom.ct, empty[:-1])


def test_stored_classifier_round_trips_without_pickle(tmp_path):
    import json
    import zipfile

    from liberation.errors import FileFormatError
    from liberation.segmentation.pixel_classifier import (
        CLASSIFIER_ARRAYS,
        CLASSIFIER_META,
        TreeEnsemble,
        load_pixel_classifier,
        predict_pixel_classifier_volume,
        save_pixel_classifier,
    )

    ph = make_texture_phantom((14, 28, 28), seed=5)
    sparse = np.full(ph.phases.shape, 255, np.uint8)
    sparse[[0, -1]] = ph.phases[[0, -1]]
    clf = train_pixel_classifier(ph.ct, sparse, seed=0, max_iter=15, sigmas=(0.7, 1.6))
    assert save_pixel_classifier(clf, tmp_path) == [CLASSIFIER_ARRAYS, CLASSIFIER_META]
    # plain numeric arrays (np.load refuses object arrays without pickle) and JSON
    with zipfile.ZipFile(tmp_path / CLASSIFIER_ARRAYS) as zf:
        assert all(name.endswith(".npy") for name in zf.namelist())
    with np.load(tmp_path / CLASSIFIER_ARRAYS, allow_pickle=False) as data:
        assert all(data[k].dtype.kind in "iufb" for k in data.files)
    assert json.loads((tmp_path / CLASSIFIER_META).read_text())["class_ids"] == clf.class_ids
    loaded = load_pixel_classifier(tmp_path)
    assert isinstance(loaded.model, TreeEnsemble)
    assert loaded.class_ids == clf.class_ids and loaded.sigmas == clf.sigmas
    planes = list(range(14))
    want, want_conf = predict_pixel_classifier(ph.ct, clf, planes)  # scikit-learn's own predict_proba
    got, got_conf = predict_pixel_classifier(ph.ct, loaded, planes)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got_conf, want_conf, rtol=0, atol=1e-12)
    # the numpy tree walk (independent of scikit-learn's internals) gives the same probabilities
    feats = plane_features(ph.ct, [3, 9], clf.norm, sigmas=clf.sigmas, texture=clf.texture)
    assert feats.shape[-1] == 9 + len(clf.texture)  # grey, 4 filters at 2 sigmas, the texture features
    feats = feats.reshape(-1, feats.shape[-1])
    np.testing.assert_allclose(loaded.model.predict_proba(feats, use_sklearn=False), clf.model.predict_proba(feats),
                               rtol=0, atol=1e-12)
    # slab-wise volume prediction (halo reflected at the ends) equals the plane-wise one
    prob = np.zeros((len(clf.class_ids) + 1, 14, 28, 28), np.uint8)
    vol = predict_pixel_classifier_volume(ph.ct, loaded, slab=4, prob_out=prob, prob_ids=clf.class_ids + [9],
                                          show_progress=False)
    np.testing.assert_array_equal(vol, got)
    np.testing.assert_array_equal(prob[-1], 0)  # a class the classifier never saw
    top = np.take_along_axis(prob[:-1], np.searchsorted(clf.class_ids, got)[None], 0)[0]
    np.testing.assert_array_equal(top, np.round(got_conf * 255).astype(np.uint8))
    (tmp_path / CLASSIFIER_META).unlink()
    with pytest.raises(FileFormatError, match="pixel_classifier.json"):
        load_pixel_classifier(tmp_path)
