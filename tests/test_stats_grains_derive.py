"""Grain sizes (chunk-merged labelling), derived particles, and a synthetic sample end to end."""

from __future__ import annotations

import dask.array as da
import numpy as np
from _stats_phantoms import random_particles, sphere, two_minerals

from liberation.minerals import spodumene_ore
from liberation.stats import analyse, derive_particles, grain_size_distribution, particle_table
from liberation.synthetic.sample import make_sample

M = two_minerals()


def test_grains_exact():
    pid = np.zeros((8, 8, 10), dtype=np.uint8)
    ph = np.zeros_like(pid)
    pid[2:6, 2:6, 2:8] = 1
    ph[2:6, 2:6, 2:4] = 1  # ore grain, 32 voxels
    ph[2:6, 2:6, 4:6] = 2  # gangue, 32
    ph[2:6, 2:6, 6:8] = 1  # second ore grain, 32
    g = grain_size_distribution(pid, ph, voxel_size_um=2.0, minerals=M)
    assert sorted(g["mineral"]) == ["gangue", "ore", "ore"]
    assert g["voxels"].tolist() == [32, 32, 32]
    assert np.allclose(g["volume_um3"], 32 * 8.0)
    # chunks that split both grains merge back
    g2 = grain_size_distribution(pid, ph, voxel_size_um=2.0, minerals=M, chunks=(3, 3, 3))
    assert sorted(g2["voxels"].tolist()) == [32, 32, 32]


def test_grains_touching_particles_stay_apart():
    pid = np.zeros((4, 4, 8), dtype=np.uint8)
    pid[:, :, :4] = 1
    pid[:, :, 4:] = 2
    ph = np.ones_like(pid)
    g = grain_size_distribution(pid, ph, voxel_size_um=1.0, minerals=M)
    assert g["particle_id"].tolist() == [1, 2] and g["voxels"].tolist() == [64, 64]


def _canon(g):
    return sorted(zip(g["particle_id"], g["mineral"], g["voxels"]))


def test_grains_chunked_equals_in_memory():
    pid, ph = random_particles(seed=2)
    ref = grain_size_distribution(pid, ph, voxel_size_um=1.0, minerals=spodumene_ore(), chunks=pid.shape)
    got = grain_size_distribution(pid, ph, voxel_size_um=1.0, minerals=spodumene_ore(), chunks=(9, 13, 11))
    assert _canon(ref) == _canon(got)
    dp, dq = da.from_array(pid, chunks=(20, 20, 20)), da.from_array(ph, chunks=(20, 20, 20))
    assert _canon(ref) == _canon(grain_size_distribution(dp, dq, voxel_size_um=1.0, minerals=spodumene_ore()))


def test_derive_particles_splits_touching_spheres():
    a = sphere(8, shape=(24, 24, 44), centre=(11.5, 11.5, 11.5))
    b = sphere(8, shape=(24, 24, 44), centre=(11.5, 11.5, 25.5))
    c = sphere(4, shape=(24, 24, 44), centre=(5, 5, 38))
    phases = (a | b | c).astype(np.uint8)
    labels, params = derive_particles(phases, voxel_size_um=1.0)
    assert labels.max() == 3
    assert params["n_components"] == 2 and params["method"] == "connected_components+watershed"
    sizes = np.sort(np.bincount(labels.ravel())[1:])
    assert abs(int(sizes[1]) - int(sizes[2])) < 0.05 * sizes[2]
    cc, p = derive_particles(phases, voxel_size_um=1.0, split=False)
    assert cc.max() == 2 and p["method"] == "connected_components"


def test_analyse_on_synthetic_sample():
    s = make_sample(shape=(48, 48, 48), voxel_size_um=10.0, seed=1)
    r = analyse(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals, section_spacing=8,
                size_classes_um=(100, 200))
    t = r.particles
    # exact truth from the label arrays themselves
    ids, counts = np.unique(s.particles[s.particles > 0], return_counts=True)
    assert np.array_equal(t["particle_id"], ids) and np.array_equal(t["voxels"], counts)
    for m in s.minerals:
        assert int(t[f"voxels_{m.name}"].sum()) == int(np.count_nonzero((s.phases == m.id) & (s.particles > 0)))
    frac = r.summary["liberated_fraction_3d"]
    assert all(v is None or 0.0 <= v <= 1.0 for v in frac.values())
    assert len(r.sections) > 0
    direct = particle_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals,
                            chunks=(16, 16, 16), size_classes_um=(100, 200))
    assert direct.equals(t)
