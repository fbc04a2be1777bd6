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
