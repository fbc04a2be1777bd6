"""The delivered phase method is the best of three candidates on the validation voxels (issue 18):
the network, the pixel classifier and the grey-value GMM; a delivered GMM is stored and applied."""

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.segmentation.baseline import fit_grey_gmm, grey_gmm_classifier, grey_value_baseline
from liberation.segmentation.normalize import apply_normalization
from liberation.segmentation.pixel_classifier import (
    filter_features,
    load_pixel_classifier,
    predict_pixel_classifier,
    save_pixel_classifier,
)
from liberation.segmentation.train import choose_delivered


def test_the_best_candidate_is_delivered_by_miou_then_accuracy_ties_to_the_network():
    net, clf, gmm = {"accuracy": 0.90, "miou": 0.80}, {"accuracy": 0.95, "miou": 0.85}, {"accuracy": 0.70, "miou": 0.5}
    assert choose_delivered(net, clf, gmm=gmm)[0] == "pixel-classifier"
    # the GMM clearly better than both: it is delivered
    method, reason = choose_delivered(net, clf, gmm={"accuracy": 0.99, "miou": 0.97})
    assert method == "grey-gmm" and reason.startswith("the grey-value GMM scored higher")
    assert "0.9700 / 0.9900 for the grey-value GMM" in reason and "0.8500 / 0.9500 for the pixel classifier" in reason
    # the network clearly better: the network
    assert choose_delivered({"accuracy": 0.99, "miou": 0.98}, clf, gmm=gmm)[0] == "network"
    # equal mIoU: accuracy decides; all equal: the network, then the pixel classifier
    assert choose_delivered(net, clf, gmm={"accuracy": 0.96, "miou": 0.85})[0] == "grey-gmm"
    assert choose_delivered(net, dict(net), gmm=dict(net))[0] == "network"
    assert choose_delivered(net, clf, gmm=dict(clf))[0] == "pixel-classifier"
    # a skipped candidate does not count; particles always the network; forcing still works
    assert choose_delivered(net, {"skipped": "one class"}, gmm={"skipped": "one class"})[0] == "network"
    assert choose_delivered(net, None, gmm={"accuracy": 1.0, "miou": 1.0})[0] == "grey-gmm"
    assert choose_delivered(net, clf, gmm={"accuracy": 1.0, "miou": 1.0}, task="particles")[0] == "network"
    assert choose_delivered(net, clf, gmm={"accuracy": 1.0, "miou": 1.0}, deliver="network")[0] == "network"
    with pytest.raises(InputError, match="no pixel classifier"):
        choose_delivered(net, None, gmm=gmm, deliver="pixel-classifier")


def _three_classes(n=20, seed=0, noise=60.0):
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 2.5, mode="wrap")
    phases = np.digitize(field, np.quantile(field, [0.3, 0.65])).astype(np.uint8)
    grey = np.array([100.0, 1000.0, 2000.0])[phases] + rng.normal(0, noise, phases.shape)
    return np.clip(np.round(grey), 0, 65535).astype(np.float32), phases


def test_grey_gmm_as_trees_predicts_as_the_mixture_and_survives_the_model_folder(tmp_path):
    rng = np.random.default_rng(1)
    # three overlapping classes on a normalised grey scale (the decision is not trivial)
    values = np.concatenate([rng.normal(0.1, 0.05, 3000), rng.normal(0.5, 0.12, 3000), rng.normal(0.62, 0.04, 2000)])
    labels = np.repeat(np.array([0, 3, 7], np.uint8), [3000, 3000, 2000])
    model = fit_grey_gmm(values, labels, seed=0)
    norm = {"method": "percentile", "low": 0.5, "high": 99.5, "value_low": 0.0, "value_high": 1.0}
    clf = grey_gmm_classifier(model, norm)
    assert clf.class_ids == [0, 3, 7] and clf.info["method"] == "grey-gmm"
    x = rng.uniform(-0.5, 1.5, 5000)
    feats = np.zeros((x.size, 5))
    feats[:, 0] = x
    want = model.predict(x)
    for use_sklearn in (True, False):
        got = np.asarray(clf.class_ids)[clf.model.predict_proba(feats, use_sklearn=use_sklearn).argmax(1)]
        # equal up to the grid resolution of the intervals (3 / 20000 of the training range)
        assert np.mean(got == want) > 0.999
    save_pixel_classifier(clf, tmp_path)
    loaded = load_pixel_classifier(tmp_path)
    np.testing.assert_allclose(loaded.model.predict_proba(feats), clf.model.predict_proba(feats))
    # on a volume the classifier uses only the grey value: it equals the mixture voxel by voxel
    grey, _ = _three_classes()
    sparse = np.full(grey.shape, 255, np.uint8)
    sparse[[2, 17]] = _three_classes()[1][[2, 17]]
    norm = {"method": "percentile", "low": 0.5, "high": 99.5, "value_low": 0.0, "value_high": 2000.0}
    g = apply_normalization(grey[sparse != 255], norm)
    vol_model = fit_grey_gmm(g, sparse[sparse != 255], seed=0)
    vol_clf = grey_gmm_classifier(vol_model, norm)
    planes, _ = predict_pixel_classifier(grey, vol_clf, [0, 9, 19])
    assert np.mean(planes == vol_model.predict(apply_normalization(grey[[0, 9, 19]], norm)).reshape(planes.shape)) > 0.999
    assert filter_features(grey[:3], sigmas=vol_clf.sigmas).shape[-1] == 5
    # grey_value_baseline keeps its behaviour (one mixture per class, majority mapping)
    whole = grey_value_baseline(grey, sparse, seed=0)
    assert np.mean(whole == _three_classes()[1]) > 0.99
    with pytest.raises(InputError, match="single class"):
        grey_gmm_classifier(fit_grey_gmm(values[:100], np.zeros(100, np.uint8)), norm)


@pytest.mark.slow
def test_a_clearly_better_gmm_is_delivered_stored_and_applied_by_segment(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from liberation.io import create_store, open_store
    from liberation.segmentation import pixel_classifier as pc
    from liberation.segmentation.checkpoint import save_model
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.train import train_model
    from liberation.workflows.segment import segment_store

    torch.set_num_threads(1)
    grey, phases = _three_classes()
    sparse = np.full(grey.shape, 255, np.uint8)
    for z in (2, 9, 17):
        sparse[z] = phases[z]
    original = pc.train_pixel_classifier

    def shuffled(image, labels, **kw):  # a pixel classifier trained on permuted labels: at chance
        labels = np.array(labels)
        where = labels != 255
        labels[where] = np.random.default_rng(0).permutation(labels[where])
        return original(image, labels, **kw)

    original_context = pc.add_context_stage

    def shuffled_context(image, labels, classifier, **kw):  # its auto-context stage on the same permuted labels
        labels = np.array(labels)
        where = labels != 255
        labels[where] = np.random.default_rng(0).permutation(labels[where])
        return original_context(image, labels, classifier, **kw)

    monkeypatch.setattr(pc, "train_pixel_classifier", shuffled)
    monkeypatch.setattr(pc, "add_context_stage", shuffled_context)
    cfg = get_preset("tiny", max_epochs=1, steps_per_epoch=1)  # one step: the network has barely learnt
    r = train_model(grey, sparse, voxel_size_um=5.0, config=cfg, seed=0, device="cpu", show_progress=False)
    v = r.card.validation
    scores = {k: v["delivery"][k]["miou"] for k in ("network", "pixel-classifier", "grey-gmm")}
    # known answer: grey values 100 / 1000 / 2000 with noise 60 separate the classes; the GMM is ~perfect
    assert v["grey_gmm"]["accuracy"] > 0.99 and scores["grey-gmm"] > 0.98
    assert scores["grey-gmm"] > scores["pixel-classifier"] + 0.3 and scores["grey-gmm"] > scores["network"] + 0.1
    assert v["delivered"] == "grey-gmm" and r.classifier is r.candidates["grey-gmm"]
    assert any("delivers the grey-value GMM" in n for n in r.notes)
    model = save_model(r, tmp_path / "model")
    path = tmp_path / "s.zarr"
    create_store(path, grey.astype(np.uint16), voxel_size_um=5.0)
    segment_store(path, model=model, threads=1, slab=7)
    s = open_store(path)
    out = np.asarray(s.label("phases")[...])
    assert np.mean(out == phases) > 0.99
    want, _ = predict_pixel_classifier(grey, load_pixel_classifier(model), range(grey.shape[0]))
    np.testing.assert_array_equal(out, want)
    assert [p for p in s.provenance if p["step"] == "segment"][-1]["parameters"]["method"] == "grey-gmm"
