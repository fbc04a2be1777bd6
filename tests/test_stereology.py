"""Stereological correction: the 2D -> 3D liberation-class kernel, fitted on one sample, applied to a sister."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.errors import InputError
from liberation.stats import particle_table, section_table
from liberation.stats.stereology import (
    apply_kernel,
    class_histogram,
    correction_table,
    fit_kernel,
    liberated_share,
)
from liberation.synthetic.textures import texture_minerals, texture_sample

MINERALS = texture_minerals()


def _tables(s, *, sizes=(12, 16), spacing=2):
    t = particle_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals,
                       size_classes_um=sizes, surface="corrected", pores=False)
    sec = section_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals, axes=("z",),
                        spacing=spacing, particle_table=t)
    return t, sec


def _hand_tables():
    """Two particles; particle 1 (ore 50 %, 3D class (40,50]) cut into a pure-ore and a 20 %-ore section,
    particle 2 (pure ore) cut into two pure-ore sections."""
    p3 = pd.DataFrame({"particle_id": [1, 2], "voxels": [200, 100], "voxels_ore": [100, 100],
                       "voxels_gangue": [100, 0], "excluded": [False, False], "size_class": ["all", "all"]})
    s2 = pd.DataFrame({"particle_id": [1, 1, 2, 2], "pixels": [10, 20, 8, 12], "pixels_ore": [10, 4, 8, 12],
                       "pixels_gangue": [0, 16, 0, 0], "excluded": [False] * 4, "size_class": ["all"] * 4})
    return p3, s2


def test_kernel_by_hand():
    p3, s2 = _hand_tables()
    k = fit_kernel(p3, s2, minerals=MINERALS, mineral="ore")
    K = k.kernel("all")
    i100, i20, i50 = 11, 2, 5  # classes 0, (0,10], (10,20], ..., (40,50] = 5, ..., (90,100) = 10, 100 = 11
    # 2D class 100 holds ore area 10 (parent class (40,50]) + 20 (parent class 100)
    assert K[i100, i50] == pytest.approx(10 / 30) and K[i100, i100] == pytest.approx(20 / 30)
    assert K[i20, i50] == pytest.approx(1.0)  # the 20 % section (ore area 4) is all from particle 1
    assert np.allclose(K.sum(axis=1), 1.0)
    # rows without support: identity
    assert K[0, 0] == 1.0 and K[7, 7] == 1.0 and k.support["all"][7] == 0
    # applied to its own sections it gives the section-weighted 3D distribution (column sums of M)
    res = apply_kernel(k, s2, minerals=MINERALS)["all"]
    assert res["2d"][i100] == pytest.approx(30) and res["2d"][i20] == pytest.approx(4)
    assert res["corrected"][i50] == pytest.approx(14) and res["corrected"][i100] == pytest.approx(20)
    assert res["corrected"].sum() == pytest.approx(res["2d"].sum())
    tab = correction_table(k, s2, minerals=MINERALS, particles_3d=p3)
    row = tab.iloc[0]
    assert row["liberated_2d"] == pytest.approx(30 / 34)
    assert row["liberated_corrected"] == pytest.approx(20 / 34)
    assert row["liberated_3d"] == pytest.approx(100 / 200)  # ore volume 100 of 200 in the pure particle
    assert row["error_corrected"] == pytest.approx(20 / 34 - 0.5)


def test_particle_weight_counts_the_whole_section():
    p3, s2 = _hand_tables()
    k = fit_kernel(p3, s2, minerals=MINERALS, mineral="ore", weight="particle")
    assert k.kernel("all")[2, 5] == 1.0  # the 20 % section, area 20
    assert k.support["all"][2] == pytest.approx(20)
    h = class_histogram(p3, minerals=MINERALS, mineral="ore", weight="particle")["all"]
    assert h[5] == 200 and h[11] == 100


def test_columns_along_the_section_normal_give_the_identity():
    s = texture_sample("columns", grid=(2, 4, 4), cell=20, seed=3)
    t, sec = _tables(s)
    k = fit_kernel(t, sec, minerals=s.minerals, mineral="ore")
    assert len(k.kernels) > 1
    for name, K in k.kernels.items():
        assert np.array_equal(K, np.eye(12)), name
    # every section has its particle's composition exactly
    lut = t.set_index("particle_id")["grade_ore"]
    assert np.allclose(sec["grade_ore"].to_numpy(), lut.reindex(sec["particle_id"]).to_numpy())
    sister = texture_sample("columns", grid=(2, 4, 4), cell=20, seed=4)
    t2, sec2 = _tables(sister)
    tab = correction_table(k, sec2, minerals=s.minerals, particles_3d=t2)
    assert np.allclose(tab["liberated_corrected"], tab["liberated_2d"])


def test_bad_inputs():
    p3, s2 = _hand_tables()
    with pytest.raises(InputError, match="mineral='gold'"):
        fit_kernel(p3, s2, minerals=MINERALS, mineral="gold")
    with pytest.raises(InputError, match="weight='count'"):
        fit_kernel(p3, s2, minerals=MINERALS, mineral="ore", weight="count")
    with pytest.raises(InputError, match=r"particles \[2\]"):
        fit_kernel(p3.iloc[:1], s2, minerals=MINERALS, mineral="ore")
    with pytest.raises(InputError, match="no \\(included\\) section"):
        fit_kernel(p3, s2.iloc[:0], minerals=MINERALS, mineral="ore")
    with pytest.raises(InputError, match="not a class bound"):
        liberated_share(np.ones(12), bounds=tuple(range(0, 101, 10)), threshold=0.85)
    assert liberated_share(np.ones(12), bounds=tuple(range(0, 101, 10)), threshold=1.0) == pytest.approx(1 / 12)


@pytest.mark.slow
@pytest.mark.parametrize("texture", ["disseminated", "halves", "rims"])
def test_correction_beats_uncorrected_2d_on_a_sister_sample(texture):
    fit = texture_sample(texture, grid=(5, 8, 8), cell=24, seed=1)
    sister = texture_sample(texture, grid=(5, 8, 8), cell=24, seed=2)
    k = fit_kernel(*_tables(fit), minerals=fit.minerals, mineral="ore")
    t, sec = _tables(sister)
    tab = correction_table(k, sec, minerals=sister.minerals, particles_3d=t)
    print(f"\n{texture}\n{tab.round(3).to_string(index=False)}")
    overall = tab.iloc[0]
    assert overall["size_class"] == "all"
    assert abs(overall["error_2d"]) > 0.03  # 2D overstates liberation on these textures
    assert abs(overall["error_corrected"]) < abs(overall["error_2d"])


def test_texture_sample_refuses_bad_options():
    with pytest.raises(InputError, match="texture='marble'"):
        texture_sample("marble")
    with pytest.raises(InputError, match="radius_range"):
        texture_sample("rims", radius_range=(0.3, 0.6))


def test_texture_particles_stay_in_their_cells_with_the_drawn_grades():
    s = texture_sample("rims", grid=(2, 2, 3), cell=16, seed=5, pure_fraction=0.5)
    ids = np.unique(s.particles)[1:]
    assert ids.tolist() == list(range(1, 13))
    for pid in ids:  # one particle per cell, not touching the cell faces
        z, y, x = np.nonzero(s.particles == pid)
        for c in (z, y, x):
            assert c.min() // 16 == c.max() // 16 and c.min() % 16 > 0 and c.max() % 16 < 15
    assert set(np.unique(s.phases[s.particles > 0])) <= {1, 2}
    assert np.all((s.particles > 0) == (s.phases > 0))


# ------------------------------------------- saved kernels, leave-half-out, applying to a sister sample
def test_kernel_json_round_trip_is_exact(tmp_path):
    from liberation.errors import OverwriteError
    from liberation.stats.stereology import load_kernel, save_kernel

    s = texture_sample("halves", grid=(2, 4, 4), cell=20, seed=3)
    k = fit_kernel(*_tables(s), minerals=s.minerals, mineral="ore")
    assert any(0 < v < 1 for K in k.kernels.values() for v in K.ravel())  # non-trivial floats
    path = tmp_path / "kernel.json"
    save_kernel(k, path, minerals=s.minerals, threshold=0.9, source="seed 3")
    back, minerals, extra = load_kernel(path)
    assert (back.mineral, back.by, back.weight, back.bounds, back.labels) == (k.mineral, k.by, k.weight, k.bounds,
                                                                             k.labels)
    assert set(back.kernels) == set(k.kernels)
    for name in k.kernels:
        assert np.array_equal(back.kernels[name], k.kernels[name])
        assert np.array_equal(back.support[name], k.support[name])
    assert [(m.id, m.name, m.density) for m in minerals] == [(m.id, m.name, m.density) for m in s.minerals]
    assert extra == {"threshold": 0.9, "source": "seed 3"}
    with pytest.raises(OverwriteError):
        save_kernel(k, path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "liberation-stereology-kernel", "bounds": [0, 100]}')
    with pytest.raises(InputError, match="incomplete"):
        load_kernel(bad)


def test_leave_half_out_fits_on_one_parity_and_corrects_the_other():
    from liberation.stats.stereology import leave_half_out

    s = texture_sample("halves", grid=(3, 6, 6), cell=20, seed=1)
    t, sec = _tables(s)
    got = leave_half_out(t, sec, minerals=s.minerals, mineral="ore")
    # independent: the two folds by hand, amounts summed per size class before the ratio
    pid3, pid2 = t["particle_id"] % 2, sec["particle_id"] % 2
    acc = {}
    for fold in (0, 1):
        k = fit_kernel(t[pid3 == fold], sec[pid2 == fold], minerals=s.minerals, mineral="ore")
        res = apply_kernel(k, sec[pid2 != fold], minerals=s.minerals)
        truth = class_histogram(t[pid3 != fold], minerals=s.minerals, mineral="ore")
        for name, r in res.items():
            a = acc.setdefault(name, np.zeros((3, 12)))
            a += np.stack([r["2d"], r["corrected"], truth[name]])
    bounds = tuple(range(0, 101, 10))
    assert got["size_class"].tolist()[0] == "all" and set(got["size_class"]) == set(acc)
    for row in got.itertuples():
        a = acc[row.size_class]
        assert row.liberated_2d == pytest.approx(liberated_share(a[0], bounds=bounds))
        assert row.liberated_corrected == pytest.approx(liberated_share(a[1], bounds=bounds))
        assert row.liberated_3d == pytest.approx(liberated_share(a[2], bounds=bounds))
    # the 3D column is the whole sample's truth (both halves)
    assert got.iloc[0]["liberated_3d"] == pytest.approx(
        liberated_share(class_histogram(t, minerals=s.minerals, mineral="ore")["all"], bounds=bounds))
    overall = got.iloc[0]
    assert abs(overall["error_2d"]) > 0.05 and abs(overall["error_corrected"]) < abs(overall["error_2d"]) / 2


def test_threshold_off_the_class_bounds_is_added():
    from liberation.stats.stereology import bounds_with_threshold, stereology_check

    assert bounds_with_threshold(0.85) == (0, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 100)
    assert bounds_with_threshold(0.9) == tuple(float(b) for b in range(0, 101, 10))
    p3, s2 = _hand_tables()
    p3 = pd.concat([p3, p3.assign(particle_id=p3["particle_id"] + 2)], ignore_index=True)
    s2 = pd.concat([s2, s2.assign(particle_id=s2["particle_id"] + 2)], ignore_index=True)
    check = stereology_check(p3, s2, minerals=MINERALS, threshold=0.85)
    assert set(check.table["mineral"]) == {"ore", "gangue"} and set(check.kernels) == {"ore", "gangue"}
    assert sorted(check.kernel_files()) == ["stereology_kernel_gangue.json", "stereology_kernel_ore.json"]


def test_correct_2d_on_a_sister_reproduces_the_library(tmp_path, capsys):
    """A kernel from one sample applied to a sister's sections CSV: the CLI = correction_table on the same data."""
    from liberation.cli import main
    from liberation.stats.stereology import save_kernel

    fit = texture_sample("rims", grid=(2, 5, 5), cell=20, seed=1)
    sister = texture_sample("rims", grid=(2, 5, 5), cell=20, seed=2)
    k = fit_kernel(*_tables(fit), minerals=fit.minerals, mineral="ore")
    kpath = tmp_path / "stereology_kernel_ore.json"
    save_kernel(k, kpath, minerals=fit.minerals, threshold=0.9)
    _, sec = _tables(sister)
    sec.to_csv(tmp_path / "sections_2d.csv", index=False)
    want = correction_table(k, sec, minerals=sister.minerals)
    rc = main(["-q", "correct-2d", str(tmp_path / "sections_2d.csv"), "--kernel", str(kpath)])
    out = capsys.readouterr().out
    assert rc == 0, out
    got = pd.read_csv(tmp_path / "sections_2d_corrected.csv", dtype={"size_class": str})
    assert got["size_class"].tolist() == want["size_class"].tolist()
    for col in ("n_sections", "liberated_2d", "liberated_corrected"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12)
    assert f"corrected {100 * want.iloc[0]['liberated_corrected']:.1f} %" in out
    # one size class for every section (e.g. the sister's sieve fraction): the kernel of that class
    rc = main(["-q", "correct-2d", str(tmp_path / "sections_2d.csv"), "--kernel", str(kpath), "--size-class", "<12",
               "--out", str(tmp_path / "one.csv")])
    assert rc == 0
    one = pd.read_csv(tmp_path / "one.csv", dtype={"size_class": str})
    assert one["size_class"].tolist() == ["all", "<12"]
    h2 = class_histogram(sec, minerals=sister.minerals, mineral="ore")["all"]
    assert one.iloc[1]["liberated_corrected"] == pytest.approx(
        liberated_share(h2 @ k.kernel("<12"), bounds=k.bounds))
    # no overwrite without --overwrite; a kernel that is not one
    rc = main(["-q", "correct-2d", str(tmp_path / "sections_2d.csv"), "--kernel", str(kpath)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "--overwrite" in err
    (tmp_path / "x.json").write_text("{}")
    rc = main(["-q", "correct-2d", str(tmp_path / "sections_2d.csv"), "--kernel", str(tmp_path / "x.json"),
               "--out", str(tmp_path / "y.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "not a stereology kernel" in err and not (tmp_path / "y.csv").exists()
