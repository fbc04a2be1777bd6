"""The registration zoo's sections (issue 17, session 9) and the map-structure flag of register_map."""

import warnings

import numpy as np
import pytest

from liberation.registration import register_map
from liberation.registration.register import RegistrationWarning
from liberation.registration.similarity import map_structure_pixels
from liberation.synthetic.face import random_face_pose, textured_phantom
from liberation.synthetic.zoo import REGISTRATION_ZOO, VOXEL_UM, particles_cut, registration_case, registration_sample


def _poisson_map(rng, background, shape=(48, 48), blocks=()):
    lam = np.full(shape, float(background))
    for (r0, r1, c0, c1), level in blocks:
        lam[r0:r1, c0:c1] = level
    return rng.poisson(lam).astype(np.float32)


def test_map_structure_pixels_counts_the_minority_blobs_on_either_side():
    rng = np.random.default_rng(0)
    # pure Poisson noise of a homogeneous phase: nothing stands out
    for lam in (0.5, 2.0, 10.0, 100.0):
        for _ in range(3):
            assert map_structure_pixels(_poisson_map(rng, lam)) < 10
    # a 10 x 10 particle (counts 40) on a void of mean 2: its 100 pixels and the smoothing's halo of at most
    # about 2 pixels at a strong edge (15 x 15 = 225 at most; measured 183-197)
    for _ in range(3):
        n = map_structure_pixels(_poisson_map(rng, 2.0, blocks=[((10, 20, 30, 40), 40.0)]))
        assert 100 <= n <= 225, n
    # two-sided: a void hole of 10 x 10 in a particle that fills the map (measured 134-138)
    for _ in range(3):
        n = map_structure_pixels(_poisson_map(rng, 40.0, blocks=[((10, 20, 30, 40), 2.0)]))
        assert 100 <= n <= 225, n
    # the minority side of a map 70 % particle / 30 % void is counted, whichever side is the bright one
    for bright_first in (True, False):
        lev = (40.0, 2.0) if bright_first else (2.0, 40.0)
        m = _poisson_map(rng, lev[0], blocks=[((0, 48, 34, 48), lev[1])])  # 14 of 48 columns: 672 pixels
        n = map_structure_pixels(m)
        assert 672 <= n <= 672 + 2 * 48, n  # measured 724-735
    # the mask: only valid pixels count
    m = _poisson_map(rng, 2.0, blocks=[((10, 20, 30, 40), 40.0)])
    mask = np.ones(m.shape, dtype=bool)
    mask[:, 25:] = False
    assert map_structure_pixels(m, mask=mask) < 10


def test_sparse_sections_cut_two_particles_deterministically():
    kind = next(k for k in REGISTRATION_ZOO if k.name == "sparse-r2-m48")
    assert (kind.min_particles, kind.min_particle_px) == (2, 20)
    sample = registration_sample(kind)
    shape, p = (kind.map_px,) * 2, kind.ratio * VOXEL_UM
    redrawn = 0
    for i in range(20):
        case = registration_case(kind, pose_seed=i, sample=sample)
        cut = particles_cut(sample, case.pose, map_shape=shape, pixel_size_um=p)
        assert np.count_nonzero(cut >= 20) >= 2, (i, cut)
        # the particle share stays low (a sparse section)
        assert cut.sum() / case.map.size < 0.25
        first = random_face_pose(sample.ct.shape, VOXEL_UM, map_shape=shape, pixel_size_um=p, axis=0, seed=i)
        ok_first = np.count_nonzero(particles_cut(sample, first, map_shape=shape, pixel_size_um=p) >= 20) >= 2
        # only the height moves, and only where the first draw cut too few particles
        for key in ("rotation_deg", "mirror", "tilt_deg", "tilt_direction_deg"):
            assert case.pose[key] == pytest.approx(first[key])
        assert case.pose["centre_um"][1:] == pytest.approx(first["centre_um"][1:])
        if ok_first:
            assert case.pose["centre_um"][0] == pytest.approx(first["centre_um"][0])
        else:
            redrawn += 1
    # of the session-8 draws, poses 1, 3, 4, 7, 8, 11, 12, 13, 17, 19 cut fewer than two such particles
    assert redrawn == 10
    again = registration_case(kind, pose_seed=8, sample=sample)
    assert np.array_equal(again.map, registration_case(kind, pose_seed=8, sample=sample).map)


def test_particle_kinds_other_than_sparse_keep_their_first_draw():
    for kind in REGISTRATION_ZOO:
        if kind.sample != "sparse":
            assert kind.min_particles == 0


@pytest.mark.slow
def test_map_without_structure_is_flagged():
    """A map of one homogeneous phase (Poisson noise only) has no pose: flagged with its own message."""
    ph = textured_phantom((48, 48, 48), voxel_size_um=10.0, seed=3)
    blank = np.random.default_rng(1).poisson(3.0, (24, 24)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = register_map(ph.ct, blank, voxel_size_um=10.0, pixel_size_um=20.0, axis="z", workers=1,
                           show_progress=False, n_candidates=1, n_final=1, coarse_binnings=(("quantile", 6),),
                           local_restarts=False, polish=False, max_pose_se_vox=None, min_map_pixels=100)
    assert res.poor_quality and res.structure_px < 25
    assert any("no structure" in m for m in res.messages)
    assert any(issubclass(w.category, RegistrationWarning) and "no structure" in str(w.message) for w in caught)
    assert res.to_dict()["structure_px"] == res.structure_px
    # the phantom's own face (particles and grains) stands out on most of its pixels
    assert map_structure_pixels(ph.ct[20, 8:32, 8:32]) > 0.25 * 24 * 24
