"""SEM/MLA classified colours -> mineral ids."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.labels import check_colors, labels_from_ids, labels_from_rgb
from liberation.minerals import Mineral, MineralList, spodumene_ore
from liberation.synthetic.xrf import make_face, make_sem_map


def test_rgb_lookup_recovers_labels_and_reports_unknown():
    phases = make_face((96, 96), abundances=[1, 1, 1, 1], grain_size_px=16, seed=3)
    sem = make_sem_map(phases, spodumene_ore(), unknown_fraction=0.02, seed=4)
    labels, unknown = labels_from_rgb(sem.rgb, spodumene_ore())
    np.testing.assert_array_equal(labels[~sem.unknown], phases[~sem.unknown])
    assert np.all(labels[sem.unknown] == 0)
    assert list(unknown["color"]) == ["#ff00ff"]
    assert unknown["pixels"].item() == sem.unknown.sum()


def test_tolerance_for_lossy_colours():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = [0x2C + 3, 0xA0 - 2, 0x2C]  # spodumene, slightly off
    labels, unknown = labels_from_rgb(rgb, spodumene_ore(), tolerance=4)
    assert labels[0, 0] == 1 and unknown.empty
    labels, unknown = labels_from_rgb(rgb, spodumene_ore(), tolerance=0)
    assert labels[0, 0] == 0 and len(unknown) == 1


def test_colour_clash_is_an_error():
    clash = MineralList([Mineral(1, "a", 2.6, "#112233"), Mineral(2, "b", 2.7, "#112233")])
    with pytest.raises(InputError, match="colour clash.*#112233"):
        check_colors(clash)
    with pytest.raises(InputError, match="background"):
        labels_from_rgb(np.zeros((2, 2, 3), np.uint8), MineralList([Mineral(1, "a", 2.6, "#000000")]))


def test_id_images():
    img = np.array([[0, 1, 2], [9, 4, 4]], dtype=np.uint8)
    labels, unknown = labels_from_ids(img, spodumene_ore())
    np.testing.assert_array_equal(labels, [[0, 1, 2], [0, 4, 4]])
    assert unknown["value"].tolist() == [9] and unknown["pixels"].tolist() == [1]
