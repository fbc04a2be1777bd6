"""Virtual 2D sections: exact piece counts/areas, U-shape, Delesse and Wicksell."""

from __future__ import annotations

import numpy as np
import pytest
from _stats_phantoms import boxes, sphere, two_minerals
from scipy import ndimage

from liberation.errors import InputError
from liberation.stats import section_positions, section_table

M = two_minerals()


def test_positions():
    assert section_positions(10, 4) == [2, 6]
    assert section_positions(5, 1) == [0, 1, 2, 3, 4]
    with pytest.raises(InputError, match="section_spacing"):
        section_positions(10, 0)


def test_box_sections_exact():
    pid, ph = boxes()
    s = section_table(pid, ph, voxel_size_um=(1.0, 2.0, 3.0), minerals=M, axes=("z",), spacing=2)
    # planes 1, 3, 5, ...: box 1 (z 2..5) -> planes 3, 5; box 2 (z 10..13) -> 11, 13; box 3 (z 0..2) -> 1
    assert sorted(zip(s["position"], s["particle_id"])) == [(1, 3), (3, 1), (5, 1), (11, 2), (13, 2)]
    one = s[s["particle_id"] == 1]
    assert one["pixels"].tolist() == [30, 30]
    assert one["area_um2"].tolist() == [30 * 6.0, 30 * 6.0]
    assert np.allclose(one["ecd_um"], np.sqrt(4 * 180 / np.pi))
    assert one["position_um"].tolist() == [3.5, 5.5]
    two = s[s["particle_id"] == 2]
    assert two["pixels_ore"].tolist() == [8, 8] and two["grade_ore"].tolist() == [0.5, 0.5]
    x = section_table(pid, ph, voxel_size_um=1.0, minerals=M, axes="x", spacing=1)
    two = x[x["particle_id"] == 2].sort_values("position")
    assert two["grade_ore"].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_u_shape_gives_two_pieces():
    pid = np.zeros((10, 16, 12), dtype=np.uint16)
    pid[2:8, 2:12, 2:4] = 5
    pid[2:8, 2:12, 8:10] = 5
    pid[2:8, 2:4, 2:10] = 5
    ph = (pid > 0).astype(np.uint8)
    s = section_table(pid, ph, voxel_size_um=1.0, minerals=M, axes=("y",), spacing=14)
    assert s["position"].tolist() == [7, 7]
    assert s["particle_id"].tolist() == [5, 5]
    assert s["pixels"].tolist() == [12, 12]
    z = section_table(pid, ph, voxel_size_um=1.0, minerals=M, axes=("z",), spacing=10)
    assert len(z) == 1 and z["pixels"].iloc[0] == 10 * 2 * 2 + 2 * 4


def test_diagonal_touching_is_one_piece():
    pid = np.zeros((3, 6, 6), dtype=np.uint8)
    pid[1, 1, 1] = pid[1, 2, 2] = 1  # 8-connected in the plane
    s = section_table(pid, pid, voxel_size_um=1.0, minerals=M, axes="z", spacing=2)
    assert len(s) == 1 and s["pixels"].iloc[0] == 2


def test_delesse_area_fraction_equals_volume_fraction():
    rng = np.random.default_rng(7)
    shape = (64, 64, 64)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 3)
    ph = np.where(field > np.quantile(field, 0.7), 1, 2).astype(np.uint8)
    pid = np.ones(shape, dtype=np.uint8)
    vf = np.mean(ph == 1)
    s = section_table(pid, ph, voxel_size_um=1.0, minerals=M, axes=("z", "y", "x"), spacing=8)
    fr = s["pixels_ore"] / s["pixels"]
    err = fr.std(ddof=1) / np.sqrt(len(fr))
    assert abs(fr.mean() - vf) < 3 * err + 1e-3
    r = section_table(pid, ph, voxel_size_um=1.0, minerals=M, axes=(), random_sections=6, seed=1)
    fr = r["pixels_ore"].sum() / r["pixels"].sum()
    assert set(r["axis"]) == {"random"}
    assert fr == pytest.approx(vf, abs=0.05)


def test_wicksell_mean_section_diameter():
    rng = np.random.default_rng(3)
    radius, pitch, n = 10.0, 24, 3
    shape = (pitch * n,) * 3
    pid = np.zeros(shape, dtype=np.uint16)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    label = 0
    for i in range(n):
        for j in range(n):
            for k in range(n):
                label += 1
                c = (np.array([i, j, k]) + 0.5) * pitch + rng.uniform(-0.5, 0.5, 3)
                pid[((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) <= radius**2] = label
    ph = (pid > 0).astype(np.uint8)
    s = section_table(pid, ph, voxel_size_um=2.0, minerals=M, axes=("z", "y", "x"), spacing=1)
    assert s["ecd_um"].mean() == pytest.approx(np.pi / 4 * 2 * radius * 2.0, rel=0.03)


def test_sphere_sections_cover_particle():
    s = sphere(8).astype(np.uint8)
    t = section_table(s, s, voxel_size_um=1.0, minerals=M, axes="z", spacing=1)
    assert t["pixels"].sum() == s.sum()


def test_bad_axis():
    pid, ph = boxes()
    with pytest.raises(InputError, match="axis"):
        section_table(pid, ph, voxel_size_um=1.0, minerals=M, axes=("w",))
