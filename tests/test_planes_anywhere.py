"""Labelled planes anywhere (issue 18): end faces, planes a few voxels inside, interior planes
and tilted planes placed by a registration pose; no assumption that labels sit at z=0 / z=N-1."""

import numpy as np
import pytest
from scipy import ndimage

from liberation.registration.geometry import pose_matrix
from liberation.registration.sparse import labels_to_sparse
from liberation.segmentation.normalize import apply_normalization, robust_percentiles
from liberation.segmentation.patches import labelled_sheets, sample_patch_origins, split_validation
from liberation.segmentation.pixel_classifier import (
    bootstrap_phase_labels,
    filter_features,
    labelled_voxel_features,
    plane_features,
    predict_pixel_classifier_volume,
    train_pixel_classifier,
)

N = 32


def _phantom(n=N, seed=0):
    """Three classes (void, two phases) as smooth 3D blobs, distinct grey values, noise."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 3, mode="wrap")
    phases = np.digitize(field, np.quantile(field, [0.3, 0.65])).astype(np.uint8)
    grey = (np.array([100.0, 1000.0, 2000.0])[phases] + rng.normal(0, 60, phases.shape)).astype(np.float32)
    return grey, phases


def _tilted_matrix(n=N, *, tilt=30.0, direction=30.0, centre=None):
    centre = (n / 2, n / 2, n / 2) if centre is None else centre
    return pose_matrix(axis=0, centre_um=centre, rotation_deg=0.0, mirror=False, map_shape=(3 * n, 3 * n),
                       pixel_size_um=1.0, tilt_deg=tilt, tilt_direction_deg=direction)


def _tilted(phases, **kw):
    """Labels of ``phases`` on a tilted plane, rasterised as `register --labels` does (255 elsewhere)."""
    n = phases.shape[0]
    mask = labels_to_sparse(np.zeros((3 * n, 3 * n), np.uint8), _tilted_matrix(n, **kw), ct_shape=phases.shape,
                            voxel_size_um=(1.0, 1.0, 1.0), pixel_size_um=1.0)
    return np.where(mask != 255, phases, 255).astype(np.uint8)


def _planes(phases, zs):
    sparse = np.full(phases.shape, 255, np.uint8)
    for z in zs:
        sparse[z] = phases[z]
    return sparse


def test_sheets_are_the_connected_labelled_planes_with_their_normals():
    _, phases = _phantom()
    sparse = _tilted(phases, centre=(20.0, 16.0, 16.0), tilt=20.0)
    sparse[2] = phases[2]
    sheet, sheets = labelled_sheets(sparse)
    # independent count: scipy's 26-connected labelling of the labelled mask
    _, n_ref = ndimage.label(sparse != 255, structure=np.ones((3, 3, 3)))
    assert len(sheets) == n_ref == 2 and (sheet >= 0).all()
    face, tilt = sheets  # ordered by centroid z
    assert face["z_range"] == [2, 2] and np.allclose(face["normal"], [1, 0, 0])
    assert face["depth"] == pytest.approx(2.0)
    m = _tilted_matrix(centre=(20.0, 16.0, 16.0), tilt=20.0)
    true_normal = m[:3, 0] / np.linalg.norm(m[:3, 0])
    assert abs(float(np.dot(tilt["normal"], true_normal))) > 0.995
    assert tilt["z_range"][1] - tilt["z_range"][0] >= 8  # crosses many z planes
    assert tilt["depth"] > face["depth"]
    # planes that cross are one piece (held out together: no leak along the crossing line)
    sparse[:, :, 30] = np.where(sparse[:, :, 30] == 255, phases[:, :, 30], sparse[:, :, 30])
    _, n_ref = ndimage.label(sparse != 255, structure=np.ones((3, 3, 3)))
    assert len(labelled_sheets(sparse)[1]) == n_ref == 1


def test_small_pieces_are_fragments_kept_for_training():
    sparse = np.full((12, 20, 20), 255, np.uint8)
    sparse[3] = 1
    sparse[6] = 2
    sparse[9] = 1
    sparse[11, 0, 0] = 2  # a lone voxel: not a sheet
    sheet, sheets = labelled_sheets(sparse)
    assert len(sheets) == 3 and (sheet == -1).sum() == 1
    train, val, info = split_validation(sparse, val_fraction=0.2)
    assert info["mode"] == "planes" and info["val_planes"] == [6]
    assert train[11, 0, 0] == 2 and val[11, 0, 0] == 255


@pytest.mark.parametrize("where", ["tilted", "interior", "inside"])
def test_split_of_one_or_two_sheets_holds_out_a_band_of_each(where):
    _, phases = _phantom()
    sparse = {"tilted": _tilted(phases), "interior": _planes(phases, [N // 2]),
              "inside": _planes(phases, [3, N - 4])}[where]
    train, val, info = split_validation(sparse, val_fraction=0.2)
    labelled = sparse != 255
    assert info["mode"] == "region"
    # disjoint parts that together are the labels, values kept
    assert not ((train != 255) & (val != 255)).any()
    np.testing.assert_array_equal(np.where(train != 255, train, val), sparse)
    splits = {(s["split"]["axis"], s["split"]["at"]) for s in info["sheets"]}
    assert len(splits) == 1
    axis, at = splits.pop()
    assert axis == 2 and info["x_split"] == at  # the longest in-plane axis, x on ties
    coords = np.argwhere(labelled)
    held = (val != 255)[labelled]
    np.testing.assert_array_equal(held, coords[:, 2] >= at)
    frac = held.mean()
    assert 0.12 < frac < 0.28
    assert coords[held][:, 2].min() > coords[~held][:, 2].max()  # a band at high x: no interleaving


def test_validation_holds_out_the_most_interior_sheet_even_when_tilted():
    _, phases = _phantom()
    sparse = _planes(phases, [0, 4, N - 1])
    tilted = _tilted(phases, tilt=25.0)
    sparse[tilted != 255] = tilted[tilted != 255]
    train, val, info = split_validation(sparse, val_fraction=0.2)
    assert info["mode"] == "planes"
    chosen = [s for s in info["sheets"] if s["validation"]]
    assert len(chosen) == 1 and chosen[0]["z_range"][1] - chosen[0]["z_range"][0] > 5  # the tilted one
    np.testing.assert_array_equal(val != 255, (tilted != 255) & ~np.isin(np.arange(N), [0, 4, N - 1])[:, None, None])
    assert set(info["val_planes"]) == set(np.flatnonzero((val != 255).any(axis=(1, 2))).tolist())


def test_patches_centre_the_labelled_voxels_of_a_tilted_plane():
    _, phases = _phantom()
    sparse = _tilted(phases)
    coords = np.argwhere(sparse != 255)
    origins = sample_patch_origins(None, (16, 16, 16), 300, context_margin=0.25, seed=2, coords=coords)
    # every patch holds a labelled voxel in its central half along every axis
    for o in origins[:50]:
        inner = coords - o
        ok = ((inner >= 4) & (inner < 12)).all(axis=1)
        assert ok.any()


def test_features_of_labelled_voxels_equal_whole_plane_features():
    grey, phases = _phantom(24)
    sparse = _tilted(phases)
    norm = robust_percentiles(grey, seed=0)
    feats, labels, coords = labelled_voxel_features(grey, sparse, norm)
    np.testing.assert_array_equal(labels, sparse[tuple(coords.T)])
    # independent path: the filters of the whole normalised volume at once
    whole = filter_features(apply_normalization(grey, norm))
    np.testing.assert_allclose(feats, whole[tuple(coords.T)], rtol=1e-4, atol=1e-4)
    # and plane_features in any order, with repeats, cut into short runs
    zs = [int(z) for z in coords[::97, 0]]
    np.testing.assert_allclose(plane_features(grey, zs, norm), whole[zs], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_pixel_classifier_and_bootstrap_from_a_tilted_plane():
    grey, phases = _phantom(24)
    sparse = _tilted(phases)
    clf = train_pixel_classifier(grey, sparse, seed=0, max_iter=50)
    pred = predict_pixel_classifier_volume(grey, clf, show_progress=False)
    assert (pred == phases).mean() > 0.95
    extra, info = bootstrap_phase_labels(grey, sparse, planes=4, classifier=clf, val_labels=_planes(phases, [12]))
    # a tilted plane crosses every z plane with a thin strip: the bootstrap planes are not taken
    assert len(info["planes"]) == 4
    assert info["validation_accuracy"] > 0.95


@pytest.mark.slow
def test_network_from_interior_or_tilted_planes_matches_end_faces():
    torch = pytest.importorskip("torch")
    from liberation.segmentation.config import get_preset
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.train import train_model

    torch.set_num_threads(1)
    grey, phases = _phantom()
    cases = {"ends": _planes(phases, [0, N - 1]), "inside": _planes(phases, [3, N - 4]),
             "interior": _planes(phases, [N // 2]), "tilted": _tilted(phases)}
    cfg = get_preset("tiny", max_epochs=4, steps_per_epoch=8)
    chance = np.bincount(phases.ravel()).max() / phases.size
    acc = {}
    for name, sparse in cases.items():
        r = train_model(grey, sparse, voxel_size_um=1.0, config=cfg, seed=1, device="cpu", show_progress=False,
                        baseline=False)
        assert r.card.training["split"]["mode"] == "region"
        acc[name] = float((np.asarray(predict_volume(grey, r.network, r.card, show_progress=False)) == phases).mean())
    assert chance < 0.4
    for a in acc.values():
        assert a > chance + 0.25, acc
        assert abs(a - acc["ends"]) < 0.08, acc
