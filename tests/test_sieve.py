"""Sieve-equivalent size (intermediate axis, minimum Feret) and sieve fractions: closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.stats import analyse
from liberation.stats.shape import feret_diameters
from liberation.stats.sieve import (
    fraction_label,
    intermediate_axis_length,
    intermediate_axis_lengths,
    parse_fraction,
    sieve_sizes,
)
from tests._stats_phantoms import sphere, two_minerals


def _box(a, b, c, pad=3):
    m = np.zeros((a + 2 * pad, b + 2 * pad + 1, c + 2 * pad + 2), dtype=bool)
    m[pad:pad + a, pad:pad + b, pad:pad + c] = True
    return m


@pytest.mark.parametrize("sides", [(5, 12, 30), (30, 5, 12), (12, 30, 5), (7, 9, 11)])
def test_box_intermediate_axis_is_middle_side_and_min_feret_smallest(sides):
    m = _box(*sides)
    assert intermediate_axis_length(m) == pytest.approx(sorted(sides)[1], abs=1e-9)
    assert feret_diameters(m)[1] == pytest.approx(min(sides), abs=1e-9)
    out = sieve_sizes(m.astype(np.uint8))
    assert out["sieve_size_um"].iloc[0] == pytest.approx(sorted(sides)[1], abs=1e-9)
    assert out["feret_min_um"].iloc[0] == pytest.approx(min(sides), abs=1e-9)


def test_box_anisotropic_voxels_in_micrometres():
    m = _box(6, 10, 30)  # 6 x 10 x 30 voxels of 3 x 1 x 1 µm = 18 x 10 x 30 µm: middle side 18 µm
    assert intermediate_axis_length(m, (3.0, 1.0, 1.0)) == pytest.approx(18.0, abs=1e-9)
    assert feret_diameters(m, (3.0, 1.0, 1.0))[1] == pytest.approx(10.0, abs=1e-9)


def test_rotated_box_within_a_voxel():
    # a 8 x 16 x 40 box rotated by 30 degrees about z (in the y-x plane): middle side 16
    z, y, x = np.mgrid[:14, :60, :60].astype(float)
    ang = np.deg2rad(30)
    u = (y - 29.5) * np.cos(ang) + (x - 29.5) * np.sin(ang)
    v = -(y - 29.5) * np.sin(ang) + (x - 29.5) * np.cos(ang)
    m = (np.abs(z - 6.5) < 4) & (np.abs(u) < 8) & (np.abs(v) < 20)
    assert intermediate_axis_length(m) == pytest.approx(16.0, abs=1.5)
    assert feret_diameters(m)[1] == pytest.approx(8.0, abs=1e-9)


def test_sphere_both_sizes_about_the_diameter():
    m = sphere(10.0)  # diameter 20 voxels (a digital sphere spans 21 voxel widths along an axis)
    assert intermediate_axis_length(m) == pytest.approx(20.0, abs=1.5)
    assert feret_diameters(m)[1] == pytest.approx(20.0, abs=1.5)


def test_vectorised_equals_one_mask_at_a_time():
    lab = np.zeros((30, 40, 50), dtype=np.uint16)
    lab[2:7, 3:15, 4:34] = 1
    lab[10:28, 20:30, 5:12] = 7
    s = sphere(6.0)
    lab[12:12 + s.shape[0], 2:2 + s.shape[1], 30:30 + s.shape[2]][s] = 3
    out = intermediate_axis_lengths(lab, voxel_size_um=(2.0, 1.0, 0.5))
    assert out["particle_id"].tolist() == [1, 3, 7]
    for pid, w in zip(out["particle_id"], out["intermediate_axis_um"]):
        assert w == pytest.approx(intermediate_axis_length(lab == pid, (2.0, 1.0, 0.5)), rel=1e-12)
    assert out["intermediate_axis_um"].iloc[0] == pytest.approx(12.0)  # 5*2, 12*1, 30*0.5 µm: middle 12
    assert out["intermediate_axis_um"].iloc[2] == pytest.approx(10.0)  # 36, 10, 3.5 µm


def test_empty_and_bad_labels():
    assert len(intermediate_axis_lengths(np.zeros((4, 4, 4), dtype=np.uint8))) == 0
    assert np.isnan(intermediate_axis_length(np.zeros((4, 4, 4), dtype=bool)))
    with pytest.raises(InputError, match="3D integer"):
        intermediate_axis_lengths(np.zeros((4, 4), dtype=np.uint8))


def test_particle_table_size_by_sieve_classes_by_intermediate_axis():
    # two boxes with the same volume: a plate 4 x 16 x 16 (ESD 12.4, sieve 16) and a cube 10.08^3 -> 10^3+
    pid = np.zeros((30, 40, 60), dtype=np.uint32)
    pid[3:7, 3:19, 3:19] = 1  # plate: sieve size 16
    pid[12:22, 20:30, 30:40] = 2  # cube 10: ESD 12.4, sieve 10
    ph = (pid > 0).astype(np.uint8)
    kw = dict(voxel_size_um=1.0, minerals=two_minerals(), size_classes_um=(13,), bootstrap=0, grains=False,
              section_axes=())
    esd = analyse(pid, ph, size_by="esd", **kw).particles.set_index("particle_id")
    sieve = analyse(pid, ph, size_by="sieve", **kw).particles.set_index("particle_id")
    assert sieve.loc[1, "sieve_size_um"] == pytest.approx(16.0)
    assert sieve.loc[2, "sieve_size_um"] == pytest.approx(10.0)
    assert esd.loc[1, "size_class"] == "<13" and esd.loc[2, "size_class"] == "<13"
    assert sieve.loc[1, "size_class"] == ">=13" and sieve.loc[2, "size_class"] == "<13"
    with pytest.raises(InputError, match="size_by='sieve' needs shapes"):
        analyse(pid, ph, size_by="sieve", shapes=False, **kw)
    with pytest.raises(InputError, match="size_by='feret'"):
        analyse(pid, ph, size_by="feret", **kw)


@pytest.mark.parametrize("text, expected", [("63-100", (63.0, 100.0)), ("0-63", (0.0, 63.0)),
                                            ("63,100", (63.0, 100.0)), ("63-100 µm", (63.0, 100.0)),
                                            ((45, 63), (45.0, 63.0))])
def test_parse_fraction(text, expected):
    assert parse_fraction(text) == expected


@pytest.mark.parametrize("text", ["100-63", "63", "a-b", "63-63", "-5-10", "1-2-3", None])
def test_parse_fraction_refuses(text):
    with pytest.raises(InputError, match="sieve fraction"):
        parse_fraction(text)


def test_fraction_label():
    assert fraction_label((63, 100)) == "63-100 µm"
    assert fraction_label({"lower_um": 0, "upper_um": 63}) == "0-63 µm"
    assert fraction_label(None) == "unsieved"
