"""Feret diameters of voxelised shapes against closed forms."""

import numpy as np
import pytest
from scipy.ndimage import rotate

from liberation.stats.shape import feret_diameters


def test_box_exact():
    mask = np.zeros((14, 22, 30), bool)
    mask[2:8, 3:13, 4:24] = True  # 6 x 10 x 20 voxels
    vs = (2.0, 1.0, 0.5)  # physical 12 x 10 x 10 µm
    fmax, fmin = feret_diameters(mask, vs)
    assert fmax == pytest.approx(np.sqrt(12**2 + 10**2 + 10**2))
    assert fmin == pytest.approx(10.0)


def test_ball_within_a_voxel():
    r = 10
    z, y, x = np.mgrid[-r - 1:r + 2, -r - 1:r + 2, -r - 1:r + 2]
    mask = z**2 + y**2 + x**2 <= r**2
    fmax, fmin = feret_diameters(mask)
    # the union of voxel cubes of a digital ball: between the ball's diameter and that plus a voxel diagonal
    assert 2 * r <= fmin <= fmax <= 2 * r + np.sqrt(3)
    assert fmax - fmin < 1.5


def test_rotated_rod_keeps_its_length_and_width():
    mask = np.zeros((40, 40, 40), bool)
    mask[18:22, 18:22, 5:35] = True  # 4 x 4 x 30
    turned = rotate(mask.astype(np.uint8), 30, axes=(1, 2), reshape=False, order=0) > 0
    fmax, fmin = feret_diameters(turned)
    assert fmax == pytest.approx(np.sqrt(4**2 + 4**2 + 30**2), abs=1.5)
    assert fmin == pytest.approx(4.0, abs=1.0)


def test_empty_and_single_voxel():
    assert all(np.isnan(feret_diameters(np.zeros((3, 3, 3), bool))))
    one = np.zeros((3, 3, 3), bool)
    one[1, 1, 1] = True
    fmax, fmin = feret_diameters(one)
    assert fmax == pytest.approx(np.sqrt(3))
    assert fmin == pytest.approx(1.0)


def test_particle_table_has_feret_columns():
    from liberation.stats import analyse
    from liberation.synthetic import make_sample

    sample = make_sample(shape=(40, 40, 40), voxel_size_um=10.0, seed=2)
    table = analyse(sample.particles, sample.phases, voxel_size_um=10.0, minerals=sample.minerals,
                    bootstrap=0).particles
    assert {"feret_max_um", "feret_min_um"} <= set(table.columns)
    assert (table["feret_min_um"] <= table["feret_max_um"]).all()
    # the minimum width is at most the smallest bounding-box side, the maximum at least the largest
    sides = np.stack([(table[f"bbox_{a}1"] - table[f"bbox_{a}0"]) * 10.0 for a in "zyx"], axis=1)
    assert (table["feret_min_um"] <= sides.min(axis=1) + 1e-9).all()
    assert (table["feret_max_um"] >= sides.max(axis=1) - 1e-9).all()
