"""Texture features of the pixel classifier: known answers, slab == whole volume, stored names (old cards)."""

import json

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import FileFormatError, InputError
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.pixel_classifier import (
    CLASSIFIER_META,
    feature_names,
    filter_features,
    load_pixel_classifier,
    plane_features,
    predict_pixel_classifier,
    predict_pixel_classifier_volume,
    save_pixel_classifier,
    train_pixel_classifier,
)
from liberation.segmentation.texture_features import (
    TEXTURE_FEATURES,
    parse_texture_feature,
    sorted_eigenvalues,
    structure_tensor,
    texture_features,
    texture_halo,
)
from liberation.synthetic.seg_phantom import make_texture_phantom


def _lamellae(shape, normal, period=6.0, amplitude=1.0):
    """A sine wave of ``period`` voxels along the unit ``normal`` (z, y, x): planar lamellae."""
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    zz, yy, xx = np.indices(shape, dtype=float)
    return (amplitude * np.sin(2 * np.pi * (normal[0] * zz + normal[1] * yy + normal[2] * xx) / period)).astype(np.float32)


@pytest.mark.parametrize("normal", [(1.0, 0.0, 0.0), (0.3, -0.8, 0.5), (0.0, 0.6, 0.8)])
def test_structure_tensor_of_lamellae_points_along_their_normal(normal):
    v = _lamellae((32, 32, 32), normal)
    t = structure_tensor(v, sigma=1.0, rho=3.0)
    c = (16, 16, 16)
    m = np.array([[t["zz"][c], t["zy"][c], t["zx"][c]], [t["zy"][c], t["yy"][c], t["yx"][c]],
                  [t["zx"][c], t["yx"][c], t["xx"][c]]], dtype=np.float64)
    w, vecs = np.linalg.eigh(m)
    n = np.asarray(normal) / np.linalg.norm(normal)
    assert abs(abs(vecs[:, -1] @ n) - 1.0) < 1e-3  # the largest eigenvector is the lamella normal
    assert w[1] < 1e-3 * w[2] and abs(w[0]) < 1e-3 * w[2]  # a 1D pattern: one non-zero eigenvalue
    # closed form: the gradient of sin(k.x) smoothed by G_sigma has mean square (k * exp(-k^2 s^2 / 2))^2 / 2
    k = 2 * np.pi / 6.0
    assert w[2] == pytest.approx(0.5 * (k * np.exp(-0.5 * k * k)) ** 2, rel=0.03)
    # sorted_eigenvalues (descending) agrees; the features see one strong direction whatever the normal
    lam = sorted_eigenvalues({key: np.array([a[c]]) for key, a in t.items()})[0]
    np.testing.assert_allclose(lam, w[::-1], rtol=1e-4, atol=1e-7)


def test_texture_features_are_invariant_to_the_lamella_direction():
    names = ["st1.5_l1", "st1.5_l2", "st1.5_coh", "hess1_l1", "bp1.5", "kstd1"]
    got = [texture_features(_lamellae((30, 30, 30), n), names)[15, 15, 15] for n in
           [(1, 0, 0), (0, 1, 0), (0, 0, 1)]]
    np.testing.assert_allclose(got[1], got[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got[2], got[0], rtol=1e-4, atol=1e-6)
    assert got[0][2] > 0.99  # coherence of a 1D pattern


def test_least_variance_window_features_equal_an_explicit_minimum():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(20, 22, 24)).astype(np.float32)
    v[:, :, 12:] += 3.0  # a step: windows across it have a large variance
    names = ["kstd1", "kmean1", "kstd1.6"]
    got = texture_features(v, names)
    for c, sigma in ((0, 1.0), (2, 1.6)):
        d = max(1, int(round(1.5 * sigma)))
        zpad = texture_halo(names)
        ext = v[np.pad(np.arange(v.shape[0]), zpad, mode="symmetric")]
        mean = ndimage.gaussian_filter(ext, sigma)
        var = np.maximum(ndimage.gaussian_filter(ext * ext, sigma) - mean * mean, 0)
        cands_var, cands_mean = [], []
        pv = np.pad(var, d, mode="symmetric")
        pm = np.pad(mean, d, mode="symmetric")
        for u in np.ndindex(3, 3, 3):  # the centre and 26 directions, each shifted by d voxels
            u = np.array(u) - 1
            o = np.rint(u * d / max(np.linalg.norm(u), 1.0)).astype(int)
            sl = tuple(slice(d + o[k], d + o[k] + var.shape[k]) for k in range(3))
            cands_var.append(pv[sl][zpad:-zpad])
            cands_mean.append(pm[sl][zpad:-zpad])
        cands_var, cands_mean = np.stack(cands_var), np.stack(cands_mean)
        np.testing.assert_allclose(got[..., c], np.sqrt(cands_var.min(axis=0)), rtol=1e-5, atol=1e-5)
        if c == 0:
            pick = np.take_along_axis(cands_mean, cands_var.argmin(axis=0)[None], 0)[0]
            np.testing.assert_allclose(got[..., 1], pick, rtol=1e-5, atol=1e-5)
    # next to the step the plain local std sees the step, the least-variance window does not
    plain = filter_features(v, sigmas=(1.0,))[..., 2]
    assert np.median(plain[:, :, 11]) > 1.0 and np.median(got[:, :, 11, 0]) < 1.2 * np.median(got[:, :, 5, 0])


def test_plane_features_with_texture_equal_whole_volume_features():
    ph = make_texture_phantom((30, 26, 28), seed=2)
    norm = robust_percentiles(ph.ct, seed=0)
    vol = apply_normalization(ph.ct, norm)
    texture = TEXTURE_FEATURES
    whole = filter_features(vol, texture=texture)
    assert whole.shape == (30, 26, 28, len(feature_names(texture=texture)))
    planes = [0, 1, 14, 28, 29, 14, 5]  # both ends (reflection), the interior, repeats
    np.testing.assert_allclose(plane_features(ph.ct, planes, norm, texture=texture), whole[planes], rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(filter_features(vol[:12], plane=4, texture=texture),
                               filter_features(vol[:12], texture=texture)[4], rtol=1e-5, atol=1e-5)
    # the basic channels are unchanged by the texture names
    np.testing.assert_allclose(whole[..., :17], filter_features(vol), rtol=1e-6, atol=1e-6)
    # a volume thinner than the texture halo: the reflection repeats as in the whole-volume features
    thin = ph.ct[:5]
    ref = filter_features(apply_normalization(thin, norm), texture=texture)
    np.testing.assert_allclose(plane_features(thin, [0, 2, 4], norm, texture=texture), ref[[0, 2, 4]], rtol=1e-4,
                               atol=1e-4)


def test_texture_names_are_checked():
    assert parse_texture_feature("st3_coh") == ("st", 3.0, "coh")
    assert parse_texture_feature("kstd1.6") == ("kstd", 1.6, "")
    for bad in ("st3", "hess1_coh", "kstd0", "gabor2", "bp9"):
        with pytest.raises(InputError, match="texture feature"):
            parse_texture_feature(bad)
    ct = np.random.default_rng(0).integers(0, 1000, (12, 20, 20)).astype(np.uint16)
    sparse = np.full(ct.shape, 255, np.uint8)
    sparse[0, :10], sparse[0, 10:] = 1, 2
    with pytest.raises(InputError, match="texture feature"):
        train_pixel_classifier(ct, sparse, texture=("st2_l4",), max_iter=5)


def test_stored_classifier_keeps_its_texture_names_and_old_cards_load(tmp_path):
    ph = make_texture_phantom((14, 28, 28), seed=5)
    sparse = np.full(ph.phases.shape, 255, np.uint8)
    sparse[[0, -1]] = ph.phases[[0, -1]]
    clf = train_pixel_classifier(ph.ct, sparse, seed=0, max_iter=15, sigmas=(0.7, 1.6))
    assert clf.texture == TEXTURE_FEATURES
    assert clf.info["features"] == feature_names((0.7, 1.6), TEXTURE_FEATURES)
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    save_pixel_classifier(clf, new)
    meta = json.loads((new / CLASSIFIER_META).read_text())
    assert meta["texture"] == list(TEXTURE_FEATURES) and meta["features"] == clf.info["features"]
    loaded = load_pixel_classifier(new)
    assert loaded.texture == clf.texture
    planes = [0, 6, 13]
    want = predict_pixel_classifier(ph.ct, clf, planes)[0]
    np.testing.assert_array_equal(predict_pixel_classifier(ph.ct, loaded, planes)[0], want)
    np.testing.assert_array_equal(predict_pixel_classifier_volume(ph.ct, loaded, slab=3, show_progress=False)[planes],
                                  want)
    # a classifier stored before the texture features: no "texture" key, the original feature names
    basic = train_pixel_classifier(ph.ct, sparse, seed=0, max_iter=15, sigmas=(0.7, 1.6), texture=())
    save_pixel_classifier(basic, old)
    meta = json.loads((old / CLASSIFIER_META).read_text())
    del meta["texture"]
    assert meta["features"] == feature_names((0.7, 1.6))
    (old / CLASSIFIER_META).write_text(json.dumps(meta))
    loaded_old = load_pixel_classifier(old)
    assert loaded_old.texture == ()
    np.testing.assert_array_equal(predict_pixel_classifier(ph.ct, loaded_old, planes)[0],
                                  predict_pixel_classifier(ph.ct, basic, planes)[0])
    # names that do not match the trees are refused
    meta["features"] = meta["features"][:3]
    (old / CLASSIFIER_META).write_text(json.dumps(meta))
    with pytest.raises(FileFormatError, match="features"):
        load_pixel_classifier(old)
