"""Registration of a micro-XRF Fe map into the CT of a dense core (Voronoi grains, no void between them)."""

import warnings

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.registration import pixel_centre_rms_error, register_map
from liberation.synthetic import dense_core, element_counts, make_face_map, random_face_pose

VOXEL = 10.0
PIXEL = 40.0  # 4x the CT voxel
MAP = (36, 36)  # as wide as the 144-voxel core


@pytest.fixture(scope="module")
def core():
    return dense_core((144, 144, 144), voxel_size_um=VOXEL, seed=0)


def _fe_map(core, seed):
    pose = random_face_pose(core.ct.shape, VOXEL, map_shape=MAP, pixel_size_um=PIXEL, axis=0, seed=seed)
    return make_face_map(core.phases, VOXEL, map_shape=MAP, pixel_size_um=PIXEL,
                         phase_counts=element_counts(core.minerals, "Fe"), seed=seed, **pose)


def test_dense_core_fills_the_cylinder(core):
    ph = core.phases
    nz, ny, nx = ph.shape
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot(yy - (ny - 1) / 2, xx - (nx - 1) / 2)
    inside = r < 0.49 * 144 - 1
    assert np.all(ph[:, inside] > 0)  # no void between grains
    assert np.all(ph[:, r > 0.49 * 144 + 1] == 0)  # air outside
    fracs = np.bincount(ph[:, inside].ravel(), minlength=6)[1:] / inside.sum() / nz
    assert abs(fracs[3] - 0.15) < 0.05  # ankerite, the Fe phase
    grey = [core.ct[ph == i].mean() for i in range(1, 6)]
    assert grey[3] == max(grey)  # ankerite is the densest
    counts = element_counts(core.minerals, "Fe")
    assert counts[4] == 102.0 and counts[1] == counts[0] == 2.0
    with pytest.raises(InputError, match="element='Au'"):
        element_counts(core.minerals, "Au")


@pytest.mark.slow
def test_fe_map_of_dense_core_one_pose(core):
    fm = _fe_map(core, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = register_map(core.ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="z", workers=2,
                           show_progress=False)
    assert pixel_centre_rms_error(res.matrix, fm.matrix, MAP, PIXEL) < VOXEL
    assert not res.poor_quality and res.mirror == fm.pose["mirror"]


@pytest.mark.slow
def test_fe_map_of_dense_core_pose_sweep(core):
    # any height, rotation, mirror, tilt up to 5 deg; 5 seeded poses, each within one voxel RMS
    for seed in range(5):
        fm = _fe_map(core, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = register_map(core.ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="z", workers=2,
                               show_progress=False)
        err = pixel_centre_rms_error(res.matrix, fm.matrix, MAP, PIXEL)
        assert err < VOXEL, (seed, fm.pose, err)
        assert not res.poor_quality


def test_restart_poses_untilt_reflect_and_shift():
    from liberation.registration.geometry import apply_affine, map_centre_um, pose_matrix
    from liberation.registration.register import restart_poses

    m = pose_matrix(axis=0, centre_um=(500.0, 600.0, 700.0), rotation_deg=30.0, mirror=False, map_shape=MAP,
                    pixel_size_um=PIXEL, tilt_deg=4.0, tilt_direction_deg=20.0)
    starts = restart_poses(m, axis=0, map_shape=MAP, pixel_size_um=PIXEL, voxel_size_um=VOXEL)
    assert len(starts) == 4
    centre = map_centre_um(MAP, PIXEL)[None]
    c0 = apply_affine(m, centre)[0]
    normal = m[:3, 0]
    untilt, reflect, up, down = starts
    np.testing.assert_allclose(untilt[:3, 0], [1.0, 0.0, 0.0], atol=1e-12)  # normal onto the z axis
    assert np.degrees(np.arccos(reflect[:3, 0] @ [1.0, 0.0, 0.0])) == pytest.approx(4.0)  # same tilt ...
    assert reflect[1:3, 0] == pytest.approx(-normal[1:3])  # ... the other way
    for s in (untilt, reflect):
        np.testing.assert_allclose(apply_affine(s, centre)[0], c0, atol=1e-9)  # about the map centre
        np.testing.assert_allclose(s[:3, :3] @ s[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(apply_affine(up, centre)[0] - c0, 1.5 * VOXEL * normal, atol=1e-9)
    np.testing.assert_allclose(apply_affine(down, centre)[0] - c0, -1.5 * VOXEL * normal, atol=1e-9)
    flat = pose_matrix(axis=0, centre_um=(500.0, 600.0, 700.0), rotation_deg=30.0, mirror=True, map_shape=MAP,
                       pixel_size_um=PIXEL)
    assert len(restart_poses(flat, axis=0, map_shape=MAP, pixel_size_um=PIXEL, voxel_size_um=VOXEL)) == 2


@pytest.mark.slow
def test_former_confident_wrong_pose_is_found():
    """Core seed 4 (20-voxel grains), pose 20: the refinement stopped 2.8 voxels off with good contrast (not
    flagged, session 3). Session 4's local restarts took it to 1.2 voxels and the undetermined-pose test flagged it
    (a rival 1.7-2.0 voxels away within the NMI margin); this test asserted that flag until session 7. The
    class-fraction polish (session 7) finds it: 0.32 voxel RMS, not flagged (the Mattes/NMI maximum of this map lies
    about a voxel off; docs/registration.md session 7)."""
    core4 = dense_core((144, 144, 144), voxel_size_um=VOXEL, grain_size_vox=20.0, seed=4)
    fm = _fe_map(core4, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RegistrationWarning: not flagged
        res = register_map(core4.ct, fm.map, voxel_size_um=VOXEL, pixel_size_um=PIXEL, axis="z", workers=2,
                           show_progress=False)
    err = pixel_centre_rms_error(res.matrix, fm.matrix, MAP, PIXEL)
    assert err < VOXEL, err
    assert not res.poor_quality and res.contrast > 1.6
    polished = [c for c in res.candidates if c.get("polished")]
    assert polished and polished[0]["polish_r2"] > 0.9  # the class-fraction model explains the Fe map


def test_class_fraction_polish_recovers_the_pose_from_1_5_voxels_off(core):
    """The last step of register_map: the map fitted as a linear mix of the CT's grey-class fractions smoothed to
    the pixel footprint. Started 1.5 voxels off along the normal and 1.5 deg tilted (about where the Mattes
    maximum of 36 x 36 maps at 4x lies, docs/registration.md session 7), it ends within half a voxel of the truth."""

    from liberation.registration.geometry import apply_affine, map_centre_um
    from liberation.registration.register import _class_polisher, _rotation

    fm = _fe_map(core, 1)
    m = fm.matrix
    c = apply_affine(m, map_centre_um(MAP, PIXEL)[None])[0]
    rot = _rotation(m[:3, 1] / np.linalg.norm(m[:3, 1]), np.deg2rad(1.5))
    t = np.eye(4)
    t[:3, :3] = rot
    t[:3, 3] = c + 1.5 * VOXEL * m[:3, 0] - rot @ c
    start = t @ m
    err0 = pixel_centre_rms_error(start, m, MAP, PIXEL) / VOXEL
    assert err0 > 1.5
    pol = _class_polisher(core.ct, fm.map, start, vs=np.full(3, VOXEL), p=PIXEL, axis=0, map_mask=None,
                          n_classes=16, max_values=2e8)
    polished, r2 = pol(start)
    err = pixel_centre_rms_error(polished, m, MAP, PIXEL) / VOXEL
    assert err < 0.5, (err0, err)
    assert r2 > pol.score(start) and r2 > 0.8  # the Fe map is nearly a linear mix of the class fractions
    assert pol.null_score(polished) < 0.3 * r2  # flipped or shifted maps fit far worse
    assert pol.contains(polished)  # a box clipped at the ends of the volume holds what lies beyond
    # too large a box for the memory cap: no polish
    assert _class_polisher(core.ct, fm.map, start, vs=np.full(3, VOXEL), p=PIXEL, axis=0, map_mask=None,
                           n_classes=16, max_values=1e5) is None


@pytest.mark.slow
def test_pose_standard_error_matches_the_spread_over_noise_draws(core):
    """Known answer: a map made by the class-fraction model itself at the true pose has no residual (standard
    error 0); with independent Gaussian noise added, the standard error predicts the RMS error of the poses the
    polish (Powell, not the linearisation) finds over noise draws, and the block-robust estimate agrees with the
    independent-noise formula ``sqrt(trace(G 2 s^2 H^-1))``."""
    from liberation.registration.fine import _fit
    from liberation.registration.register import _class_polisher

    fm = _fe_map(core, 1)
    m = fm.matrix
    pol = _class_polisher(core.ct, fm.map, m, vs=np.full(3, VOXEL), p=PIXEL, axis=0, map_mask=None,
                          n_classes=16, max_values=2e8)
    exact = _fit(pol.fractions(m), pol.y)
    pol.y = exact.copy()
    pol.ss = float(((exact - exact.mean()) ** 2).sum())
    assert pol.pose_standard_error(m) < 1e-3
    rng = np.random.default_rng(0)
    sigma = 0.5 * exact.std()
    ses, errs = [], []
    for _ in range(5):
        pol.y = exact + rng.normal(0.0, sigma, exact.size)
        pol.ss = float(((pol.y - pol.y.mean()) ** 2).sum())
        ses.append(pol.pose_standard_error(m))
        found, _ = pol(m)
        errs.append(pixel_centre_rms_error(found, m, MAP, PIXEL) / VOXEL)
    se, rms = float(np.mean(ses)), float(np.sqrt(np.mean(np.square(errs))))
    assert 0.05 < se < 1.0, se
    assert 0.5 < rms / se < 2.0, (rms, se, errs)  # measured: 0.152 vs 0.155 voxel
    # the independent-noise formula at the same pose (Gauss-Newton Hessian of the summed squares)
    h = 0.3
    d = np.stack([(pol.residuals(pol.pose(m, h * e)) - pol.residuals(pol.pose(m, -h * e))) / (2 * h)
                  for e in np.eye(6)], axis=-1)
    from liberation.registration.geometry import apply_affine
    base = apply_affine(m, pol.pts) / VOXEL
    jac = np.stack([(apply_affine(pol.pose(m, 1e-3 * e), pol.pts) / VOXEL - base) / 1e-3 for e in np.eye(6)], -1)
    gmat = np.einsum("nai,naj->ij", jac, jac) / jac.shape[0]
    iid = np.sqrt(np.trace(gmat @ (2 * sigma**2 * np.linalg.inv(2 * d.T @ d))))
    assert 0.7 < ses[-1] / iid < 1.4, (ses[-1], iid)  # measured: 0.156 vs 0.163


@pytest.mark.slow
def test_loose_particle_map_pose_is_flagged():
    """Zoo particles-r4-m24 (24 x 24 map at 4x), pose 8: registered 1.18 voxels off and not flagged (sessions 6-7).
    Its pose standard error is 0.61 voxel (correct poses of the kind: 0.22-0.49): flagged poor."""
    from liberation.synthetic.zoo import registration_case

    case = registration_case("particles-r4-m24", pose_seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = register_map(case.ct, case.map, voxel_size_um=case.voxel_size_um, pixel_size_um=case.pixel_size_um,
                           axis="z", workers=2, show_progress=False)
    err = pixel_centre_rms_error(res.matrix, case.matrix, case.map.shape, case.pixel_size_um) / case.voxel_size_um
    assert res.pose_se_vox > 0.55, (res.pose_se_vox, err)
    assert res.poor_quality and any("standard error" in msg for msg in res.messages), res.messages
