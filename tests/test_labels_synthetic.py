"""Synthetic faces, micro-XRF maps and SEM maps: their truth is what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.minerals import spodumene_ore
from liberation.synthetic.xrf import (
    make_face,
    make_sem_map,
    make_xrf_maps,
    signatures_from_minerals,
)


def test_make_face_ids_disk_and_seed():
    a = make_face((128, 128), abundances=[1, 1, 1, 1], grain_size_px=16, seed=5)
    b = make_face((128, 128), abundances=[1, 1, 1, 1], grain_size_px=16, seed=5)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and set(np.unique(a)) <= {0, 1, 2, 3, 4}
    assert a[0, 0] == 0 and a[64, 64] >= 0  # corners are outside the disk
    full = make_face((64, 64), abundances={7: 1.0}, sample="full", pore_fraction=0, seed=0)
    assert np.all(full == 7)
    with pytest.raises(InputError, match="abundances"):
        make_face((64, 64), abundances=[])


def test_make_xrf_maps_levels_are_exact_on_pure_pixels():
    phases = np.zeros((64, 64), np.uint8)
    phases[:, :32] = 1
    phases[:, 32:] = 2
    sig = signatures_from_minerals(spodumene_ore(), elements=["Si", "Al"], counts_per_wt_percent=10.0)
    data = make_xrf_maps(phases, sig, minerals=spodumene_ore(), block=4, seed=0, weak={})
    assert data.maps["Si"].shape == (16, 16)
    # Poisson mean over pure spodumene pixels = 30.18 wt% x 10
    assert data.maps["Si"][:, :8].mean() == pytest.approx(301.8, rel=0.02)
    np.testing.assert_array_equal(data.truth[:, :8], 1)
    assert data.purity.min() == 1.0
    assert data.fractions.loc[1, "percent"] == pytest.approx(50.0)


def test_make_sem_map_colours_and_unknown():
    minerals = spodumene_ore()
    phases = make_face((64, 64), abundances=[1, 1, 1, 1], grain_size_px=12, seed=1)
    sem = make_sem_map(phases, minerals, unknown_fraction=0.05, seed=2)
    spod = np.array([0x2C, 0xA0, 0x2C], np.uint8)
    assert np.all(sem.rgb[(phases == 1) & ~sem.unknown] == spod)
    assert 0.02 < sem.unknown[phases > 0].mean() < 0.08
    with pytest.raises(InputError, match="not in minerals"):
        make_sem_map(np.full((4, 4), 9, np.uint8), minerals)
