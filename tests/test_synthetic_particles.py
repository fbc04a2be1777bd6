"""Known-answer tests for the synthetic particle and grain generators."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from liberation.errors import InputError
from liberation.minerals import lithium_slag, spodumene_ore
from liberation.synthetic import add_grains, demo_sample, make_particles, make_sample


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        x, y = a[:-1], a[1:]
        m = (x > 0) & (y > 0) & (x != y)
        pairs |= {tuple(sorted(p)) for p in zip(x[m].tolist(), y[m].tolist())}
    return pairs


@pytest.fixture(scope="module")
def particles():
    return make_particles((64, 64, 64), voxel_size_um=10.0, esd_range_um=(60, 250), touching_fraction=0.4, seed=3)


def test_particles_ids_consecutive_and_dtype(particles):
    assert particles.dtype == np.uint32
    ids = np.unique(particles)
    n = int(particles.max())
    assert n >= 10
    np.testing.assert_array_equal(ids, np.arange(n + 1))


def test_particles_are_connected(particles):
    for i, sl in enumerate(ndimage.find_objects(particles), start=1):
        _, n = ndimage.label(particles[sl] == i)
        assert n == 1, f"particle {i} has {n} components"


def test_touching_pairs_exist(particles):
    assert len(_touching_pairs(particles)) >= 2


def test_no_touching_when_fraction_zero():
    p = make_particles((64, 64, 64), voxel_size_um=10.0, esd_range_um=(60, 250), touching_fraction=0.0, seed=3)
    assert p.max() >= 10
    assert _touching_pairs(p) == set()


def test_border_inside_leaves_void_at_border(particles):
    faces = [particles[0], particles[-1], particles[:, 0], particles[:, -1], particles[:, :, 0], particles[:, :, -1]]
    assert all(not f.any() for f in faces)


def test_border_cut_reaches_border():
    p = make_particles((48, 48, 48), voxel_size_um=10.0, esd_range_um=(80, 200), border="cut", seed=1)
    faces = [p[0], p[-1], p[:, 0], p[:, -1], p[:, :, 0], p[:, :, -1]]
    assert any(f.any() for f in faces)
    np.testing.assert_array_equal(np.unique(p), np.arange(int(p.max()) + 1))


@pytest.mark.parametrize("irregularity", [0.0, 0.5])
def test_n_particles_and_sizes(irregularity):
    vs = 10.0
    p = make_particles((64, 64, 64), voxel_size_um=vs, esd_range_um=(100, 100), n_particles=8,
                       irregularity=irregularity, touching_fraction=0.0, seed=0)
    assert int(p.max()) == 8
    volumes = np.bincount(p.ravel())[1:] * vs**3
    esd = (6 * volumes / np.pi) ** (1 / 3)
    np.testing.assert_allclose(esd, 100.0, rtol=0.1)


def test_irregular_particles_are_not_spheres():
    p = make_particles((64, 64, 64), voxel_size_um=10.0, esd_range_um=(200, 250), n_particles=4, irregularity=0.8,
                       touching_fraction=0.0, seed=2)
    # sphericity proxy: ratio of the bounding-box extents differs from 1 for at least one particle
    ratios = []
    for sl in ndimage.find_objects(p):
        ext = sorted(s.stop - s.start for s in sl)
        ratios.append(ext[-1] / ext[0])
    assert max(ratios) > 1.2


def test_particles_reproducible():
    a = make_particles((40, 40, 40), voxel_size_um=10.0, seed=5)
    b = make_particles((40, 40, 40), voxel_size_um=10.0, seed=5)
    c = make_particles((40, 40, 40), voxel_size_um=10.0, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"shape": (32, 32)}, "shape"),
        ({"shape": (32, 32, 32, 2)}, "shape"),
        ({"voxel_size_um": 0.0}, "voxel_size_um"),
        ({"voxel_size_um": -1.0}, "voxel_size_um"),
        ({"esd_range_um": (200, 100)}, "esd_range_um"),
        ({"border": "wrap"}, "border"),
        ({"touching_fraction": 1.5}, "touching_fraction"),
        ({"packing_fraction": 0.9}, "packing_fraction"),
    ],
)
def test_particles_bad_input(kwargs, word):
    args = {"shape": (32, 32, 32), "voxel_size_um": 10.0, "seed": 0} | kwargs
    shape = args.pop("shape")
    with pytest.raises(InputError, match=word):
        make_particles(shape, **args)


# --- grains ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grains(particles):
    fractions = {"spodumene": 0.2, "quartz": 0.4, "albite": 0.3, "muscovite": 0.1}
    phases = add_grains(particles, minerals=spodumene_ore(), volume_fractions=fractions, voxel_size_um=10.0, seed=0)
    return fractions, phases


def test_phases_exactly_inside_particles(particles, grains):
    _, phases = grains
    assert phases.dtype == np.uint8
    np.testing.assert_array_equal(phases > 0, particles > 0)


def test_volume_fractions_met(particles, grains):
    fractions, phases = grains
    n = np.count_nonzero(particles)
    for m in spodumene_ore():
        assert abs(np.count_nonzero(phases == m.id) / n - fractions[m.name]) < 0.02


def _phases_per_particle(particles, phases) -> np.ndarray:
    """Number of distinct phases in each particle 1..n (vectorised: unique (particle, phase) pairs)."""
    inside = particles > 0
    pairs = np.unique(particles[inside].astype(np.int64) * 256 + phases[inside])
    return np.bincount(pairs // 256, minlength=int(particles.max()) + 1)[1:]


def test_liberated_fraction_met(particles, grains):
    # default liberated_fraction=0.25: that share of particles is a single mineral (to one
    # particle); with 0 none is; the others are intergrown
    _, phases = grains
    n_phases = _phases_per_particle(particles, phases)
    n = n_phases.size
    assert abs(np.mean(n_phases == 1) - 0.25) <= 1.5 / n
    assert n_phases.max() >= 3  # intergrown
    fractions = {"spodumene": 0.2, "quartz": 0.4, "albite": 0.3, "muscovite": 0.1}
    none = add_grains(particles, minerals=spodumene_ore(), volume_fractions=fractions, voxel_size_um=10.0, seed=0,
                      liberated_fraction=0.0)
    half = add_grains(particles, minerals=spodumene_ore(), volume_fractions=fractions, voxel_size_um=10.0, seed=0,
                      liberated_fraction=0.5)
    assert np.mean(_phases_per_particle(particles, none) == 1) <= 1.5 / n
    assert abs(np.mean(_phases_per_particle(particles, half) == 1) - 0.5) <= 1.5 / n


def test_fine_texture_has_more_boundary_than_coarse(particles):
    def boundary_fraction(texture):
        ph = add_grains(particles, minerals=spodumene_ore(), texture=texture, voxel_size_um=10.0,
                        liberated_fraction=0.0, seed=1)
        inside = (particles[1:] > 0) & (particles[:-1] > 0)
        return np.count_nonzero((ph[1:] != ph[:-1]) & inside) / np.count_nonzero(inside)

    assert boundary_fraction("fine") > 1.5 * boundary_fraction("coarse")


def _boundary_fraction(phases: np.ndarray, mineral_id: int) -> float:
    """Fraction of a mineral's voxels with a face neighbour of another mineral."""
    m = phases == mineral_id
    b = np.zeros_like(m)
    for axis in range(3):
        a, mm, bb = (np.moveaxis(x, axis, 0) for x in (phases, m, b))
        d = (a[1:] != a[:-1]) & (a[1:] > 0) & (a[:-1] > 0)
        bb[1:] |= d & mm[1:]
        bb[:-1] |= d & mm[:-1]
    return np.count_nonzero(b) / np.count_nonzero(m)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_texture_fine_quartz_coarse_albite(seed):
    p = make_particles((64, 64, 64), voxel_size_um=10.0, esd_range_um=(60, 250), seed=seed)
    textures = {"spodumene": "coarse", "quartz": "fine", "albite": "coarse", "muscovite": "fine"}
    ph = add_grains(p, minerals=spodumene_ore(), texture=textures, voxel_size_um=10.0, liberated_fraction=0.0,
                    seed=seed)
    # quartz (fine intergrowth) has much more interface per voxel than albite (coarse grains)
    assert _boundary_fraction(ph, 2) > 1.3 * _boundary_fraction(ph, 3)
    n = np.count_nonzero(p)
    default = {"spodumene": 0.25, "quartz": 0.35, "albite": 0.28, "muscovite": 0.12}
    for m in spodumene_ore():
        assert abs(np.count_nonzero(ph == m.id) / n - default[m.name]) < 0.001


def test_fractions_missing_minerals_share_remainder(particles):
    ph = add_grains(particles, minerals=lithium_slag(), volume_fractions={"LiAlO2": 0.5}, voxel_size_um=10.0, seed=0)
    n = np.count_nonzero(particles)
    assert abs(np.count_nonzero(ph == 1) / n - 0.5) < 0.01
    assert abs(np.count_nonzero(ph == 2) / n - 0.25) < 0.01


def test_grains_do_not_modify_input(particles):
    before = particles.copy()
    add_grains(particles, voxel_size_um=10.0, seed=0)
    np.testing.assert_array_equal(particles, before)


def test_grains_reproducible(particles):
    a = add_grains(particles, voxel_size_um=10.0, seed=4)
    b = add_grains(particles, voxel_size_um=10.0, seed=4)
    c = add_grains(particles, voxel_size_um=10.0, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"volume_fractions": {"gold": 0.5}}, "volume_fractions"),
        ({"volume_fractions": {"quartz": 0.7, "albite": 0.6}}, "volume_fractions"),
        ({"volume_fractions": {"quartz": -0.1}}, "volume_fractions"),
        ({"texture": "lumpy"}, "texture"),
        ({"voxel_size_um": 0}, "voxel_size_um"),
        ({"grain_size_um": -5.0}, "grain_size_um"),
    ],
)
def test_grains_bad_input(particles, kwargs, word):
    args = {"voxel_size_um": 10.0, "seed": 0} | kwargs
    with pytest.raises(InputError, match=word):
        add_grains(particles[:16, :16, :16], **args)


def test_grains_bad_particles_shape():
    with pytest.raises(InputError, match="particles"):
        add_grains(np.zeros((8, 8), dtype=np.uint32), voxel_size_um=10.0, seed=0)


# --- make_sample ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample():
    return make_sample((64, 64, 64), seed=0)


def test_make_sample_contents(sample):
    assert sample.ct.dtype == np.uint16 and sample.ct.shape == (64, 64, 64)
    assert sample.particles.dtype == np.uint32 and sample.phases.dtype == np.uint8
    np.testing.assert_array_equal(sample.phases > 0, sample.particles > 0)
    assert sample.voxel_size_um == (10.0, 10.0, 10.0)
    assert sample.minerals.names == spodumene_ore().names
    json.dumps(sample.params)
    assert sample.params["seed"] == 0
    assert sample.params["indistinguishable"] == ["quartz", "albite"]
    assert sample.params["textures"]["quartz"] == "fine" and sample.params["textures"]["albite"] == "coarse"
    with pytest.raises(AttributeError):
        sample.seed = 3  # frozen


def test_make_sample_default_particle_count():
    s = make_sample(seed=1)
    n = int(s.particles.max())
    assert 30 <= n <= 80
    volumes = np.bincount(s.particles.ravel())[1:] * 1000.0
    esd = (6 * volumes / np.pi) ** (1 / 3)
    assert esd.min() < 100 and esd.max() > 250  # spans the 63/100/250 µm size classes


def test_make_sample_reproducible(sample):
    same = make_sample((64, 64, 64), seed=0)
    other = make_sample((64, 64, 64), seed=1)
    for name in ("ct", "particles", "phases"):
        np.testing.assert_array_equal(getattr(sample, name), getattr(same, name))
        assert not np.array_equal(getattr(sample, name), getattr(other, name))
    assert sample.params == same.params


def test_make_sample_slag_without_pair():
    s = make_sample((40, 40, 40), minerals=lithium_slag(), seed=0)
    assert s.params["indistinguishable"] is None
    assert set(np.unique(s.phases)) <= {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"shape": (32, 32)}, "shape"),
        ({"voxel_size_um": -2.0}, "voxel_size_um"),
        ({"volume_fractions": {"pyrite": 0.1}}, "volume_fractions"),
        ({"volume_fractions": {"quartz": 0.8, "spodumene": 0.4}}, "volume_fractions"),
        ({"indistinguishable": ("quartz", "gold")}, "indistinguishable"),
        ({"seed": -1}, "seed"),
    ],
)
def test_make_sample_bad_input(kwargs, word):
    args = {"shape": (32, 32, 32), "seed": 0} | kwargs
    shape = args.pop("shape")
    with pytest.raises(InputError, match=word):
        make_sample(shape, **args)


def test_demo_sample_parameters():
    from liberation.synthetic import DEMO_PARAMETERS

    assert DEMO_PARAMETERS["shape"] == [128, 128, 128]
    assert callable(demo_sample)
