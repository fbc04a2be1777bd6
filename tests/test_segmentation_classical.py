"""Classical first look: packs with exact truth, grey-value phases, particle separation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.metrics import confusion_matrix
from liberation.segmentation.classical import classical_phases, separate_particles
from liberation.segmentation.metrics import instance_metrics
from liberation.synthetic.packs import irregular_grains, mixed_sizes, touching_ellipsoids, touching_spheres

# the separation's parameters were chosen on seed 0 (benchmarks/bench_particles_classical.py);
# these tests use other seeds
SEED = 7
SMALL = {"shape": (64, 64, 64), "n_particles": 20}


@pytest.fixture(scope="module")
def spheres():
    return touching_spheres(seed=SEED, **SMALL)


@pytest.fixture(scope="module")
def ellipsoids():
    return touching_ellipsoids(seed=SEED, **SMALL)


def _touching_labels(labels: np.ndarray) -> set[int]:
    """Labels that share a face with another label."""
    out: set[int] = set()
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)[:-1]
        b = np.moveaxis(labels, axis, 0)[1:]
        edge = (a != b) & (a > 0) & (b > 0)
        out.update(np.unique(a[edge]).tolist())
        out.update(np.unique(b[edge]).tolist())
    return out


def _aspect(labels: np.ndarray, label: int) -> float:
    """Long / short semi-axis from the second moments of one particle's voxels."""
    coords = np.argwhere(labels == label).astype(np.float64)
    evals = np.linalg.eigvalsh(np.cov(coords.T))
    return float(np.sqrt(evals[-1] / evals[0]))


@pytest.mark.parametrize("make", [touching_spheres, touching_ellipsoids, irregular_grains, mixed_sizes])
def test_pack_has_exact_truth(make):
    pack = make(seed=3, **SMALL)
    labels = pack.particles
    assert labels.dtype == np.uint32 and labels.shape == SMALL["shape"]
    assert pack.ct.dtype == np.uint16 and pack.ct.shape == labels.shape
    ids = np.unique(labels)
    assert ids.tolist() == list(range(SMALL["n_particles"] + 1))
    assert pack.n_particles == SMALL["n_particles"]
    # every particle is one piece, touches another (a neck, no gap), and keeps off the border
    assert all(ndimage.label(labels == i)[1] == 1 for i in ids[1:])
    assert _touching_labels(labels) == set(ids[1:].tolist())
    assert ndimage.label(labels > 0)[1] == 1
    for axis in range(3):
        assert not np.moveaxis(labels, axis, 0)[[0, -1]].any()
    # particles are brighter than the void in the CT
    assert pack.ct[labels > 0].mean() > pack.ct[labels == 0].mean() + 3 * pack.ct[labels == 0].std()
    again = make(seed=3, **SMALL)
    np.testing.assert_array_equal(again.particles, labels)
    np.testing.assert_array_equal(again.ct, pack.ct)


def test_ellipsoid_aspects_are_as_requested(ellipsoids):
    drawn = np.array([p["aspect"] for p in ellipsoids.particle_info])
    assert drawn.min() >= 1.5 and drawn.max() <= 3.0
    measured = np.array([_aspect(ellipsoids.particles, i + 1) for i in range(ellipsoids.n_particles)])
    # voxelisation and the necks change the moments a little
    assert np.median(np.abs(measured / drawn - 1)) < 0.1
    assert measured.min() > 1.3


def test_sphere_aspects_and_mixed_size_spread(spheres):
    measured = np.array([_aspect(spheres.particles, i + 1) for i in range(spheres.n_particles)])
    assert np.all(measured < 1.2)
    mixed = mixed_sizes(seed=SEED, **SMALL)
    sizes = np.bincount(mixed.particles.ravel())[1:]
    assert sizes.max() / sizes.min() > 4  # log-normal radii, sigma 0.4
    radii = np.array([p["semi_axes_um"][0] for p in mixed.particle_info])
    assert np.all(np.diff(radii) <= 0)  # largest placed first


def _separate(pack):
    foreground = classical_phases(pack.ct, classes=2) > 0
    return separate_particles(foreground, voxel_size_um=pack.voxel_size_um)


def test_separation_counts_touching_spheres(spheres):
    m = instance_metrics(spheres.particles, _separate(spheres))
    assert abs(m["count_error"]) <= 0.05
    assert m["f1"] >= 0.9


def test_separation_counts_ellipsoids(ellipsoids):
    m = instance_metrics(ellipsoids.particles, _separate(ellipsoids))
    assert abs(m["count_error"]) <= 0.10
    assert m["f1"] >= 0.85


@pytest.mark.slow
def test_separation_as_good_as_porespy_snow(spheres):
    porespy = pytest.importorskip("porespy")
    foreground = classical_phases(spheres.ct, classes=2) > 0
    snow = np.asarray(porespy.filters.snow_partitioning(foreground).regions)
    ours = separate_particles(foreground, voxel_size_um=spheres.voxel_size_um)
    n_true = spheres.n_particles
    n_snow = len(np.unique(snow)) - 1
    n_ours = int(ours.max())
    assert abs(n_ours - n_true) <= abs(n_snow - n_true) + 1
    # the wrapper's "snow" method is porespy's SNOW on the same distance map
    wrapped = separate_particles(foreground, voxel_size_um=spheres.voxel_size_um, method="snow", min_size_voxels=0)
    assert int(wrapped.max()) == n_snow


@pytest.mark.parametrize("method", ["multiotsu", "gmm"])
def test_phases_ordered_by_grey_value(method):
    # quartz (id 2) attenuates less than spodumene (id 1): order void < quartz < spodumene
    pack = touching_spheres(seed=SEED, phase_ids=[1, 2], **SMALL)
    assert set(np.unique(pack.phases)) == {0, 1, 2}
    truth = np.choose(pack.phases, [0, 2, 1]).astype(np.uint8)
    phases = classical_phases(pack.ct, classes=3, method=method)
    assert phases.dtype == np.uint8 and set(np.unique(phases)) <= {0, 1, 2}
    # away from the boundaries (partial volume), the grey-value classes are the truth phases
    interior = ndimage.binary_erosion(pack.particles > 0, iterations=2) | ~ndimage.binary_dilation(
        pack.particles > 0, iterations=2)
    cm = confusion_matrix(truth, phases, num_classes=3, mask=interior)
    assert np.trace(cm) / cm.sum() > 0.95
    means = [pack.ct[phases == k].mean() for k in range(3)]
    assert means[0] < means[1] < means[2]


def test_phases_thresholds_and_void_only_foreground():
    pack = touching_spheres(seed=SEED, **SMALL)
    phases, thresholds = classical_phases(pack.ct, classes=2, return_thresholds=True)
    assert thresholds.shape == (1,)
    assert pack.ct[pack.particles == 0].mean() < thresholds[0] < pack.ct[pack.particles > 0].mean()
    assert separate_particles(np.zeros((8, 8, 8), bool), voxel_size_um=1.0).max() == 0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: classical_phases(np.zeros((4, 4)), classes=2), "ct"),
        (lambda: classical_phases(np.random.default_rng(0).random((8, 8, 8)), classes=1), "classes"),
        (lambda: classical_phases(np.random.default_rng(0).random((8, 8, 8)), classes=2, method="kmeans"), "method"),
        (lambda: classical_phases(np.random.default_rng(0).random((8, 8, 8)), classes=2, smooth_sigma=-1),
         "smooth_sigma"),
        (lambda: classical_phases(np.ones((8, 8, 8)), classes=2), "ct"),
        (lambda: separate_particles(np.ones((8, 8), bool), voxel_size_um=1.0), "foreground"),
        (lambda: separate_particles(np.ones((8, 8, 8), bool), voxel_size_um=0), "voxel_size_um"),
        (lambda: separate_particles(np.ones((8, 8, 8), bool), voxel_size_um=1.0, method="magic"), "method"),
        (lambda: separate_particles(np.ones((8, 8, 8), bool), voxel_size_um=1.0, ratio=1.5), "ratio"),
        (lambda: separate_particles(np.ones((8, 8, 8), bool), voxel_size_um=1.0, h_um=-1.0), "h_um"),
        (lambda: separate_particles(np.ones((8, 8, 8)), voxel_size_um=1.0), "foreground"),
        (lambda: touching_spheres(n_particles=0), "n_particles"),
        (lambda: touching_spheres(shape=(4, 64, 64)), "shape"),
        (lambda: touching_spheres(overlap=0.5), "overlap"),
        (lambda: touching_ellipsoids(aspect_range=(3.0, 1.5)), "aspect_range"),
        (lambda: mixed_sizes(log_sigma=-1.0), "log_sigma"),
        (lambda: touching_spheres(shape=(32, 32, 32), n_particles=20, radius_um=100.0), "n_particles"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(InputError, match=name):
        call()


def test_distance_map_equals_scipy():
    from scipy import ndimage

    from liberation.segmentation.classical import distance_map

    rng = np.random.default_rng(0)
    mask = ndimage.gaussian_filter(rng.random((31, 37, 29)), 2) > 0.5
    ref = ndimage.distance_transform_edt(mask, sampling=(1.0, 1.0, 1.0)).astype(np.float32)
    np.testing.assert_array_equal(distance_map(mask, (1.0, 1.0, 1.0)), ref)
    vs = (0.7, 1.3, 3.0)  # anisotropic, axis order z, y, x: within one float32 rounding step
    ref = ndimage.distance_transform_edt(mask, sampling=vs).astype(np.float32)
    np.testing.assert_allclose(distance_map(mask, vs), ref, rtol=2e-7, atol=0)
