"""The textured segmentation phantom: exact truth, equal grey values, representative faces."""

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.synthetic.seg_phantom import make_texture_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_texture_phantom((48, 48, 48), seed=2)


def test_truth_is_consistent(phantom):
    p = phantom
    assert p.ct.shape == p.phases.shape == p.particles.shape == (48, 48, 48)
    assert p.ct.dtype == np.uint16 and p.phases.dtype == np.uint8 and p.particles.dtype == np.uint32
    # phases only inside particles, and every particle voxel has a mineral
    np.testing.assert_array_equal(p.phases > 0, p.particles > 0)
    assert set(np.unique(p.phases)) <= {0, 1, 2, 3, 4}
    ids = np.unique(p.particles)
    np.testing.assert_array_equal(ids, np.arange(len(ids)))  # consecutive ids


def test_reproducible():
    a = make_texture_phantom((24, 24, 24), seed=5)
    b = make_texture_phantom((24, 24, 24), seed=5)
    c = make_texture_phantom((24, 24, 24), seed=6)
    np.testing.assert_array_equal(a.ct, b.ct)
    np.testing.assert_array_equal(a.phases, b.phases)
    assert not np.array_equal(a.phases, c.phases)


def test_quartz_and_albite_differ_in_texture_not_grey(phantom):
    p = phantom
    ct = p.ct.astype(float)
    inner = {k: ndimage.binary_erosion(p.phases == k, iterations=2) for k in (2, 3)}
    quartz, albite = ct[inner[2]].mean(), ct[inner[3]].mean()
    assert abs(albite - quartz) / quartz < 0.015
    mean = ndimage.uniform_filter(ct, 3)
    std = np.sqrt(np.maximum(ndimage.uniform_filter(ct * ct, 3) - mean * mean, 0))
    assert np.median(std[inner[3]]) > 2.5 * np.median(std[inner[2]])


@pytest.mark.slow
def test_end_planes_are_representative():
    # particles continue beyond the faces: averaged over seeds, the end planes hold as much
    # particle area as interior planes (with centres inside the window only: about half)
    faces, interior = [], []
    for seed in range(6):
        p = make_texture_phantom((48, 48, 48), particle_radius=(4, 7), seed=seed)
        fraction = (p.particles > 0).mean(axis=(1, 2))
        faces += [fraction[0], fraction[-1]]
        interior.append(fraction[8:-8].mean())
    assert abs(np.mean(faces) / np.mean(interior) - 1.0) < 0.12


def test_bad_shape():
    with pytest.raises(InputError, match="shape"):
        make_texture_phantom((4, 64, 64))
