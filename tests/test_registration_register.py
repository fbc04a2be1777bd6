"""End-to-end registration on a synthetic textured CT with a face map at a known random pose."""

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from liberation.errors import InputError
from liberation.registration import (
    IGNORE,
    RegistrationWarning,
    labels_to_sparse,
    pixel_centre_rms_error,
    plane_voxels,
    qa_images,
    register_map,
)
from liberation.synthetic.face import make_face_map, random_face_pose, textured_phantom

VOXEL = 10.0
PIXEL = 40.0  # 4x the CT voxel
MAP = (24, 24)


@pytest.fixture(scope="module")
def phantom(face_phantom):
    assert face_phantom.voxel_size_um == (VOXEL,) * 3
    return face_phantom


class RecordingArray:
    """A lazily sliced stand-in for a zarr array that records the z-extent of every read."""

    def __init__(self, data):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads = []

    def __getitem__(self, key):
        out = self.data[key]
        self.reads.append(out.shape)
        return out


@pytest.fixture(scope="module")
def registrations(phantom):
    out = []
    for seed in range(3):
        pose = random_face_pose(phantom.ct.shape, VOXEL, map_shape=MAP, pixel_size_um=PIXEL, axis=0, seed=seed)
        fm = make_face_map(phantom.phases, VOXEL, map_shape=MAP, pixel_size_um=PIXEL, seed=seed, **pose)
        ct = phantom.ct
        res = register_map(ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="z", workers=1,
                           show_progress=False)
        out.append((fm, res, ct))
    return out


@pytest.mark.slow
def test_lazy_ct_is_read_by_slabs_not_whole():
    # a tall CT given as a lazily sliced array (like a zarr array of a store): the coarse search reads
    # slabs of at most 64 slices, the fine stage only slabs around the candidate planes
    tall = textured_phantom((192, 96, 96), voxel_size_um=VOXEL, seed=5)
    ct = RecordingArray(tall.ct)
    p, shape = PIXEL, MAP
    pose = random_face_pose(tall.ct.shape, VOXEL, map_shape=shape, pixel_size_um=p, axis=0, seed=4)
    fm = make_face_map(tall.phases, VOXEL, map_shape=shape, pixel_size_um=p, seed=4, **pose)
    # n_final=2: the full-resolution level reads one slab per refined candidate (default 8 candidates)
    res = register_map(ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=p, axis="z", workers=1, show_progress=False,
                       n_final=2)
    assert pixel_centre_rms_error(res.matrix, fm.matrix, shape, p) < VOXEL
    full_res = [hi - lo for level, axis, lo, hi in res.fine_slabs if level == 1]
    assert full_res and sum(full_res) < 0.5 * tall.ct.shape[0]
    assert all(axis == 0 and 0 <= lo < hi <= tall.ct.shape[0] for _, axis, lo, hi in res.fine_slabs)
    # everything else (coarse copy, block-reduced fine level, quality, QA) is read <= 64 slices at a time
    assert ct.reads and all(r[0] <= 64 or r[0] in full_res for r in ct.reads)


@pytest.mark.slow
def test_two_level_coarse_search_finds_pose(phantom):
    from liberation.registration.coarse import coarse_search

    # 2x pixel, 40-px map: level B ~40 px, level A ~20 px (two levels), like a 128-px map on a 256^3 CT
    p, shape = 20.0, (40, 40)
    fm = make_face_map(phantom.phases, VOXEL, map_shape=shape, pixel_size_um=p, rotation_deg=130.0, mirror=True,
                       centre_um=(515.0, 470.0, 490.0), tilt_deg=3.0, tilt_direction_deg=60.0, seed=2)
    cands, info = coarse_search(phantom.ct, fm.map, voxel_size_um=(VOXEL,) * 3, pixel_size_um=p, max_single_level_work=0)
    assert info["two_level"][0]
    assert info["n_evaluated"] < 1.5 * info["scores"][0].size  # level B re-scores only around the level-A peaks
    best = cands[0]
    assert best.mirror and abs((best.rotation_deg - 130.0 + 180) % 360 - 180) <= 5.0
    assert pixel_centre_rms_error(best.matrix, fm.matrix, shape, p) < 2 * max(info["spacing_um"])


@pytest.mark.slow
def test_random_poses_within_one_voxel(registrations):
    for fm, res, _ in registrations:
        err = pixel_centre_rms_error(res.matrix, fm.matrix, MAP, PIXEL)
        assert err < VOXEL, (fm.pose, err)
        assert not res.poor_quality
        assert res.mirror == fm.pose["mirror"]
        assert res.overlap_fraction > 0.5 and res.nmi > res.nmi_null
        assert np.allclose(np.array(res.to_dict()["matrix"]), res.matrix)


@pytest.mark.slow
def test_transferred_labels_agree_on_interior_pixels(phantom, registrations):
    for fm, res, _ in registrations:
        sparse = labels_to_sparse(fm.labels, res.matrix, ct_shape=phantom.ct.shape, voxel_size_um=(VOXEL,) * 3,
                                  pixel_size_um=PIXEL)
        vox, (r, c) = plane_voxels(res.matrix, ct_shape=phantom.ct.shape, voxel_size_um=(VOXEL,) * 3, map_shape=MAP,
                                   pixel_size_um=PIXEL)
        # interior map pixels: the true label map is constant over the 3 x 3 neighbourhood
        interior = ndi.maximum_filter(fm.labels, 3, mode="nearest") == ndi.minimum_filter(fm.labels, 3, mode="nearest")
        use = interior[r, c]
        assert use.sum() > 500
        agree = np.mean(sparse[vox][use] == phantom.phases[vox][use])
        assert agree >= 0.95, agree
        assert np.count_nonzero(sparse != IGNORE) == len(vox[0])


@pytest.mark.slow
def test_qa_images(phantom, registrations):
    fm, res, _ = registrations[0]
    qa = qa_images(phantom.ct, fm.map, res)
    n1, n2 = phantom.ct.shape[1:]
    assert qa["edges_overlay"].shape == (n1, n2, 3) and qa["checkerboard"].shape == (n1, n2)
    assert qa["edges"].any() and qa["axis"] == 0
    from liberation.registration import plot_registration_qa

    fig = plot_registration_qa(qa, quality={"nmi": res.nmi})
    assert len(fig.axes) == 3


@pytest.mark.slow
def test_unrelated_map_is_flagged(phantom):
    other = textured_phantom((96, 96, 96), voxel_size_um=VOXEL, seed=7)
    fm = make_face_map(other.phases, VOXEL, map_shape=MAP, pixel_size_um=PIXEL, seed=3)
    with pytest.warns(RegistrationWarning, match="poor registration"):
        res = register_map(phantom.ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis=0, workers=1,
                           show_progress=False, n_candidates=2)
    assert res.poor_quality and res.messages


def test_bad_inputs(phantom):
    good = np.random.default_rng(0).random((24, 24))
    with pytest.raises(InputError, match="pixel_size_um is missing"):
        register_map(phantom.ct, good, voxel_size_um=VOXEL, pixel_size_um=None)
    with pytest.raises(InputError, match="zero variance"):
        register_map(phantom.ct, np.full((24, 24), 7.0), voxel_size_um=VOXEL, pixel_size_um=PIXEL)
    with pytest.raises(InputError, match="larger than the CT section"):
        register_map(phantom.ct, np.random.default_rng(0).random((40, 40)), voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="z")
    with pytest.raises(InputError, match="larger than every CT section"):
        register_map(phantom.ct, np.random.default_rng(0).random((40, 40)), voxel_size_um=VOXEL, pixel_size_um=PIXEL)
    with pytest.raises(InputError, match="voxel_size_um is missing"):
        register_map(phantom.ct, good, voxel_size_um=None, pixel_size_um=PIXEL)
    with pytest.raises(InputError, match="expected a 2D map"):
        register_map(phantom.ct, good[None], voxel_size_um=VOXEL, pixel_size_um=PIXEL)
    with pytest.raises(InputError, match="axis="):
        register_map(phantom.ct, good, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="w")
    with pytest.raises(InputError, match="face="):
        register_map(phantom.ct, good, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis=0, face="side")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="NaN"):
            register_map(phantom.ct, np.where(good > 0.5, np.nan, good), voxel_size_um=VOXEL, pixel_size_um=PIXEL)


@pytest.mark.parametrize("face", ["bottom", pytest.param("top", marks=pytest.mark.slow)])
def test_end_face_with_slice_window_registers_within_a_voxel(face):
    # the pipeline's case: a micro-XRF label map (4x coarser) of an end face,
    # searched in a thin slice window; searched at full resolution along z (block means over
    # several end slices, where cut particles change fast, used to put it 2 voxels off).
    # The top face (first voxel centres) was 58-70 voxels off, flagged, until the full-resolution
    # level mirrored slices beyond the end face (session 6)
    from liberation.labels import xrf_labels
    from liberation.registration import apply_affine
    from liberation.synthetic import make_sample
    from liberation.synthetic.xrf import make_xrf_maps, signatures_from_minerals

    size = 96
    sample = make_sample((size,) * 3, voxel_size_um=10.0, border="cut", packing_fraction=0.4, seed=0)
    minerals = sample.minerals
    signatures = signatures_from_minerals(minerals)
    z = size - 1 if face == "bottom" else 0
    xrf = make_xrf_maps(sample.phases[z], signatures, minerals=minerals, block=4, pixel_size_um=10.0, seed=0)
    labels = xrf_labels(xrf.maps, n_clusters=len(minerals), reference=signatures, minerals=minerals,
                        pixel_size_um=xrf.pixel_size_um, seed=0).labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = register_map(sample.ct, minerals.density_lut()[labels].astype(np.float32), voxel_size_um=10.0,
                           pixel_size_um=xrf.pixel_size_um, axis="z", face=face,
                           slice_range_um=(max(z - 3, 0) * 10.0, (z + 3 if face == "top" else z) * 10.0),
                           show_progress=False)
    known = np.eye(4)
    known[:3, 3] = (z * 10.0, 15.0, 15.0)  # map pixel (r, c) averages CT pixels 4r..4r+3
    rows, cols = np.meshgrid(np.arange(labels.shape[0]), np.arange(labels.shape[1]), indexing="ij")
    pts = np.stack([np.zeros(rows.size), rows.ravel() * xrf.pixel_size_um, cols.ravel() * xrf.pixel_size_um], 1)
    error = np.sqrt(((apply_affine(np.asarray(reg.matrix), pts) - apply_affine(known, pts)) ** 2).sum(1).mean())
    assert not reg.poor_quality
    assert error < 10.0  # RMS below one voxel


@pytest.mark.parametrize("seed", [7, 5])
def test_end_face_map_without_window_registers_within_a_voxel(seed):
    # the README chain's case (48^3 CT, 24 x 24 label map of the bottom end face at 20 µm, only face="bottom"):
    # the plane lies on the last voxel centres; before session 6 the full-resolution refinement of the right
    # coarse candidate (1.5 voxels off) left the image buffer at its first step and was dropped: 29-36 voxels
    # off (seed 7 with outside="background" flagged poor, with "ignore" 35 voxels off); now the CT is mirrored
    # about the end slice (prepare_levels pad_ends)
    from liberation.labels import xrf_labels
    from liberation.synthetic import make_sample
    from liberation.synthetic.xrf import make_xrf_maps, signatures_from_minerals

    size = 48
    sample = make_sample((size,) * 3, voxel_size_um=10.0, border="cut", packing_fraction=0.5, seed=seed)
    signatures = signatures_from_minerals(sample.minerals)
    z = size - 1
    xrf = make_xrf_maps(sample.phases[z], signatures, minerals=sample.minerals, block=2, pixel_size_um=10.0, seed=1)
    labels = xrf_labels(xrf.maps, n_clusters=4, reference=signatures, minerals=sample.minerals,
                        pixel_size_um=xrf.pixel_size_um, seed=0).labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = register_map(sample.ct, labels.astype(np.float32), voxel_size_um=10.0, pixel_size_um=20.0, axis="z",
                           face="bottom", workers=2, show_progress=False)
    known = np.eye(4)
    known[:3, 3] = (z * 10.0, 5.0, 5.0)  # map pixel (r, c) averages CT pixels 2r..2r+1
    error = pixel_centre_rms_error(reg.matrix, known, labels.shape, 20.0) / 10.0
    assert error < 1.0 and not reg.poor_quality, (error, reg.messages)


@pytest.mark.slow
def test_one_worker_registration_is_repeatable(phantom):
    # ITK's metric threads follow its global default: with workers=1 the refinement must not depend on it
    # (before the fix the pose moved by up to 0.03 voxel from run to run and flipped a borderline flag in CI)
    import SimpleITK as sitk

    pose = random_face_pose(phantom.ct.shape, VOXEL, map_shape=MAP, pixel_size_um=PIXEL, axis=0, seed=2)
    fm = make_face_map(phantom.phases, VOXEL, map_shape=MAP, pixel_size_um=PIXEL, seed=2, **pose)
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(4)
    try:
        runs = [register_map(phantom.ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="z", workers=1,
                             show_progress=False).matrix for _ in range(3)]
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 4  # restored after each refinement
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
