"""Geometry, similarity, resampling and sparse-label transfer of liberation.registration (exact answers)."""

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.registration import (
    IGNORE,
    accumulate_sparse_labels,
    apply_affine,
    ct_on_map_grid,
    ct_section,
    decompose_pose,
    labels_to_sparse,
    map_to_ct_section,
    merge_sparse_labels,
    mutual_information,
    pixel_centre_rms_error,
    pose_matrix,
)
from liberation.registration.fine import from_sitk_transform, to_sitk_matrix
from liberation.registration.similarity import fft_nmi_translation, quantile_bins
from liberation.synthetic.face import make_face_map, textured_phantom


def test_pose_matrix_is_rotation_and_places_centre():
    for axis in (0, 1, 2):
        for mirror in (False, True):
            m = pose_matrix(axis=axis, centre_um=(100, 200, 300), rotation_deg=37, mirror=mirror, map_shape=(11, 21),
                            pixel_size_um=4.0, tilt_deg=3, tilt_direction_deg=80)
            r = m[:3, :3]
            assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
            assert np.isclose(np.linalg.det(r), 1.0)
            centre = apply_affine(m, np.array([0.0, 5 * 4.0, 10 * 4.0]))
            assert np.allclose(centre, (100, 200, 300))
            pose = decompose_pose(m, (11, 21), 4.0)
            assert pose["axis"] == axis and pose["mirror"] == mirror
            assert pose["tilt_deg"] == pytest.approx(3.0, abs=1e-6)


def test_untilted_axis_z_pose_convention():
    # rotation 0, no mirror, axis z: map row -> CT y, map column -> CT x, map pixel (r, c) -> (z0, y0 + r p, x0 + c p)
    m = pose_matrix(axis=0, centre_um=(50, 10 + 2 * 3.0, 20 + 4 * 3.0), rotation_deg=0, mirror=False, map_shape=(5, 9),
                    pixel_size_um=3.0)
    assert np.allclose(apply_affine(m, np.array([0, 1 * 3.0, 2 * 3.0])), (50, 13, 26))
    mm = pose_matrix(axis=0, centre_um=(50, 16, 32), rotation_deg=0, mirror=True, map_shape=(5, 9), pixel_size_um=3.0)
    # mirrored: the column direction is reversed
    assert np.allclose(apply_affine(mm, np.array([0, 0, 0.0])), (50, 10, 44))


def test_sitk_roundtrip_and_rms_error():
    m = pose_matrix(axis=1, centre_um=(5, 6, 7), rotation_deg=123, mirror=True, map_shape=(8, 8), pixel_size_um=2.0,
                    tilt_deg=4, tilt_direction_deg=10)
    back = from_sitk_transform(to_sitk_matrix(m, np.array([0, 7.0, 7.0])))
    assert np.allclose(back, m, atol=1e-9)
    shifted = m.copy()
    shifted[:3, 3] += (3.0, 0, 4.0)
    assert pixel_centre_rms_error(shifted, m, (8, 8), 2.0) == pytest.approx(5.0)


def test_mutual_information_limits():
    rng = np.random.default_rng(0)
    a = rng.random((64, 64))
    same = mutual_information(a, a, bins=8)
    assert same["nmi"] == pytest.approx(2.0)
    assert same["mi"] == pytest.approx(np.log(8), rel=1e-6)
    # a non-monotone function of a keeps high MI; independent noise gives NMI ~ 1
    assert mutual_information(a, np.cos(6 * a), bins=8)["nmi"] > 1.3
    assert mutual_information(a, rng.random((64, 64)), bins=8)["nmi"] < 1.02


def test_fft_nmi_matches_direct_histogram():
    import scipy.fft as sfft

    rng = np.random.default_rng(1)
    fixed = rng.integers(0, 4, (20, 24)).astype(np.int16)
    moving = rng.integers(0, 3, (7, 6)).astype(np.int16)
    shape = (32, 32)
    a = (moving[None] == np.arange(3)[:, None, None]).astype(np.float32)
    b = (fixed[None] == np.arange(4)[:, None, None]).astype(np.float32)[None]
    a_hat = np.conj(sfft.rfft2(a, s=shape))
    b_hat = sfft.rfft2(b, s=shape)
    d1, d2 = np.arange(0, 14), np.arange(0, 19)
    nmi, n = fft_nmi_translation(a_hat, b_hat, shape=shape, rows=d1, cols=d2, min_count=1)
    for s1, s2 in [(0, 0), (5, 9), (13, 18)]:
        direct = mutual_information(moving, fixed[s1 : s1 + 7, s2 : s2 + 6], bins=50)  # bins >= levels: exact classes
        assert n[0, s1, s2] == 42
        assert nmi[0, s1, s2] == pytest.approx(direct["nmi"], rel=1e-5)


def test_quantile_bins_monotone_invariant():
    x = np.linspace(0, 1, 1000)
    assert np.array_equal(quantile_bins(x, 6), quantile_bins(np.exp(5 * x), 6))


@pytest.fixture(scope="module")
def phantom():
    return textured_phantom((48, 48, 48), voxel_size_um=10.0, seed=3)


def test_sparse_labels_axis_aligned_plane_exact():
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    # plane z = 5 voxels (50 µm), map pixel 20 µm = 2 voxels, map origin at voxel (5, 2, 3)
    m = pose_matrix(axis=0, centre_um=(50, 20 + 20, 30 + 30), rotation_deg=0, mirror=False, map_shape=(3, 4), pixel_size_um=20.0)
    vol = labels_to_sparse(labels, m, ct_shape=(10, 12, 14), voxel_size_um=(10.0, 10.0, 10.0), pixel_size_um=20.0)
    assert vol.dtype == np.uint8
    assert np.all(np.delete(vol, 5, axis=0) == IGNORE)
    plane = vol[5]
    # voxel (j, i) takes the pixel nearest to ((j - 2) / 2, (i - 3) / 2): rint rounds half to even
    for j in range(12):
        for i in range(14):
            r, c = np.rint((j - 2) / 2), np.rint((i - 3) / 2)
            expected = labels[int(r), int(c)] if 0 <= r < 3 and 0 <= c < 4 else IGNORE
            assert plane[j, i] == expected


def test_sparse_labels_tilted_plane_one_voxel_thick():
    m = pose_matrix(axis=0, centre_um=(100, 100, 100), rotation_deg=30, mirror=True, map_shape=(10, 10),
                    pixel_size_um=20.0, tilt_deg=20, tilt_direction_deg=45)
    vol = labels_to_sparse(np.ones((10, 10), np.uint8), m, ct_shape=(21, 21, 21), voxel_size_um=10.0 * np.ones(3),
                           pixel_size_um=20.0)
    k, j, i = np.nonzero(vol != IGNORE)
    pts = np.stack([k, j, i], 1) * 10.0
    dist = np.abs((pts - m[:3, 3]) @ m[:3, 0])
    assert dist.max() <= 5.0 + 1e-6
    # every voxel column under the map has 1 or 2 labelled voxels, and all voxels within 5 µm are labelled
    kk, jj, ii = np.meshgrid(*(np.arange(21),) * 3, indexing="ij")
    allpts = np.stack([kk, jj, ii], -1).reshape(-1, 3) * 10.0
    local = (allpts - m[:3, 3]) @ m[:3, :3]
    near = (np.abs(local[:, 0]) <= 5.0) & (np.rint(local[:, 1] / 20) >= 0) & (np.rint(local[:, 1] / 20) < 10) & (
        np.rint(local[:, 2] / 20) >= 0) & (np.rint(local[:, 2] / 20) < 10)
    assert np.array_equal(near.reshape(vol.shape), vol != IGNORE)


def test_merge_and_accumulate_conflicts():
    a = np.full((4, 4, 4), IGNORE, np.uint8)
    b = a.copy()
    a[0, 0, 0], a[1, 1, 1] = 1, 2
    b[1, 1, 1], b[2, 2, 2] = 3, 4
    assert merge_sparse_labels(a, b, conflict="new")[1, 1, 1] == 3
    assert merge_sparse_labels(a, b, conflict="old")[1, 1, 1] == 2
    merged = merge_sparse_labels(a, b, conflict="unlabel")
    assert merged[1, 1, 1] == IGNORE and merged[0, 0, 0] == 1 and merged[2, 2, 2] == 4
    assert a[1, 1, 1] == 2  # inputs untouched
    with pytest.raises(InputError, match="conflict"):
        merge_sparse_labels(a, b, conflict="max")
    m1 = pose_matrix(axis=0, centre_um=(10, 15, 15), rotation_deg=0, mirror=False, map_shape=(4, 4), pixel_size_um=10.0)
    m2 = pose_matrix(axis=0, centre_um=(30, 15, 15), rotation_deg=0, mirror=False, map_shape=(4, 4), pixel_size_um=10.0)
    vol = accumulate_sparse_labels([(np.full((4, 4), 1, np.uint8), m1, 10.0), (np.full((4, 4), 2, np.uint8), m2, 10.0)],
                                   ct_shape=(5, 4, 4), voxel_size_um=(10.0, 10.0, 10.0))
    assert np.all(vol[1] == 1) and np.all(vol[3] == 2) and np.all(vol[[0, 2, 4]] == IGNORE)


def test_resampling_untilted_matches_orthoslice(phantom):
    vs = (10.0, 10.0, 10.0)
    m = pose_matrix(axis=0, centre_um=(200, 235, 235), rotation_deg=0, mirror=False, map_shape=(48, 48), pixel_size_um=10.0)
    sec, sp = ct_section(phantom.ct, m, voxel_size_um=vs, pixel_size_um=10.0)
    assert sp.axis == 0
    assert np.allclose(sec, phantom.ct[20].astype(np.float32))
    grid = ct_on_map_grid(phantom.ct, m, voxel_size_um=vs, map_shape=(48, 48), pixel_size_um=10.0)
    assert np.allclose(grid, phantom.ct[20].astype(np.float32))
    lab, _ = map_to_ct_section(phantom.phases[20], m, ct_shape=phantom.ct.shape, voxel_size_um=vs, pixel_size_um=10.0,
                               order=0, fill=IGNORE)
    assert np.array_equal(lab, phantom.phases[20])


def test_face_map_truth(phantom):
    fm = make_face_map(phantom.phases, 10.0, map_shape=(10, 10), pixel_size_um=40.0, rotation_deg=90, mirror=True,
                       tilt_deg=0.0, centre_um=(235, 235, 235), seed=0, counts_scale=1e4)
    assert fm.map.shape == (10, 10) and fm.labels.shape == (10, 10)
    assert np.isclose(np.linalg.det(fm.matrix[:3, :3]), 1.0)
    # labels are the phases at the true pixel centres
    idx = np.rint(apply_affine(fm.matrix, np.array([0.0, 3 * 40.0, 7 * 40.0])) / 10.0).astype(int)
    assert fm.labels[3, 7] == phantom.phases[tuple(idx)]
    with pytest.raises(InputError, match="phases= .* or ct="):
        make_face_map(None, 10.0)


def test_downsample_volume_slabs_and_pyramid():
    from liberation.registration.coarse import block_reduce, downsample_volume

    rng = np.random.default_rng(4)
    vol = rng.integers(0, 1000, (37, 20, 26)).astype(np.uint16)
    direct = block_reduce(vol, (3, 2, 2))
    assert direct.shape == (12, 10, 13)
    assert np.allclose(direct[1, 2, 3], vol[3:6, 4:6, 6:8].mean())
    assert np.allclose(downsample_volume(vol, (3, 2, 2), slab_voxels=4), direct)

    class Forbidden:  # the full-resolution array must not be read when a usable pyramid level exists
        shape = vol.shape

        def __getitem__(self, key):
            raise AssertionError("full-resolution CT read")

    level1 = block_reduce(vol, (1, 2, 2))  # an exact block-mean level, factors (1, 2, 2)
    wrong = block_reduce(vol, (2, 2, 2))  # factors do not divide (3, 2, 2): must be skipped
    out = downsample_volume(Forbidden(), (3, 2, 2), pyramid=[(wrong, (2, 2, 2)), (level1, (1, 2, 2))])
    assert np.allclose(out, direct, atol=1e-3)

