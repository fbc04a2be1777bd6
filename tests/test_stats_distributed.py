"""The same statistics on a Dask distributed LocalCluster of 2 worker processes."""

from __future__ import annotations

import numpy as np
import pytest
from _stats_phantoms import random_particles

from liberation.minerals import spodumene_ore
from liberation.stats import analyse


@pytest.mark.slow
def test_local_cluster_matches_in_memory():
    distributed = pytest.importorskip("distributed")
    pid, ph = random_particles(seed=6)
    minerals = spodumene_ore()
    ref = analyse(pid, ph, voxel_size_um=2.0, minerals=minerals, section_spacing=8, size_classes_um=(20,))
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        got = analyse(pid, ph, voxel_size_um=2.0, minerals=minerals, section_spacing=8, size_classes_um=(20,),
                      client=client, chunks=(16, 16, 16))
    assert got.particles.equals(ref.particles)
    assert got.association.equals(ref.association)
    assert sorted(zip(got.grain_sizes["particle_id"], got.grain_sizes["mineral"], got.grain_sizes["voxels"])) == \
        sorted(zip(ref.grain_sizes["particle_id"], ref.grain_sizes["mineral"], ref.grain_sizes["voxels"]))
    assert got.summary["liberated_fraction_3d"] == ref.summary["liberated_fraction_3d"]
    assert np.isclose(got.sections["area_um2"].sum(), ref.sections["area_um2"].sum())
