"""Sieve fractions merged by mass: hand-weighted numbers, bad weights, the store attribute, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from liberation.cli import main
from liberation.errors import InputError
from liberation.io import create_store, open_store
from liberation.stats.sieve import check_fraction_masses, fraction_amounts, merge_fractions
from tests._stats_phantoms import two_minerals

MINERALS = two_minerals()  # ore 4.0 g/cm3, gangue 2.0 g/cm3


def _table(rows):
    t = pd.DataFrame(rows, columns=["particle_id", "voxels_ore", "voxels_gangue", "size_class"])
    t["voxels"] = t["voxels_ore"] + t["voxels_gangue"]
    t["excluded"] = False
    return t


# fraction A: a pure ore particle (mass 64*4 = 256) and a half/half one (ore 256 + gangue 128: mass grade 2/3)
A = _table([(1, 64, 0, "small"), (2, 64, 64, "big")])
# fraction B: a pure gangue particle (216*2 = 432) and a pure ore one (32*4 = 128)
B = _table([(1, 0, 216, "small"), (2, 32, 0, "big")])


def test_merge_equals_the_hand_weighted_sum():
    per, comb = merge_fractions([fraction_amounts(A, minerals=MINERALS), fraction_amounts(B, minerals=MINERALS)],
                                (0.4, 0.6), labels=["A", "B"])
    c = comb.set_index(["size_class", "mineral"])
    g_a, g_b = 512 / 640, 128 / 560  # ore mass grades of the fractions
    l_a, l_b = 256 / 512, 1.0  # liberated ore (mass grade >= 0.9) of the fractions
    assert c.loc[("all", "ore"), "mass_share_of_sample"] == pytest.approx(1.0)
    assert c.loc[("all", "ore"), "grade"] == pytest.approx(0.4 * g_a + 0.6 * g_b)
    assert c.loc[("all", "ore"), "liberated_fraction_3d"] == pytest.approx(
        (0.4 * g_a * l_a + 0.6 * g_b * l_b) / (0.4 * g_a + 0.6 * g_b))
    assert c.loc[("all", "ore"), "liberated_fraction_3d"] == pytest.approx(0.65)
    # size by size: "small" = A's pure ore (256 of 640) and B's pure gangue (432 of 560)
    s_small = 0.4 * 256 / 640 + 0.6 * 432 / 560
    assert c.loc[("small", "ore"), "mass_share_of_sample"] == pytest.approx(s_small)
    assert c.loc[("small", "ore"), "grade"] == pytest.approx(0.4 * 256 / 640 / s_small)
    assert c.loc[("small", "ore"), "liberated_fraction_3d"] == pytest.approx(1.0)
    assert c.loc[("big", "gangue"), "grade"] == pytest.approx(
        0.4 * 128 / 640 / (0.4 * 384 / 640 + 0.6 * 128 / 560))
    assert c.loc[("all", "ore"), "n_particles"] == 4
    p = per.set_index(["fraction", "size_class", "mineral"])
    assert p.loc[("A", "big", "ore"), "mass_share_of_fraction"] == pytest.approx(384 / 640)
    assert p.loc[("B", "big", "ore"), "mass_share_of_sample"] == pytest.approx(0.6 * 128 / 560)
    assert p.loc[("A", "all", "ore"), "liberated_fraction_3d"] == pytest.approx(0.5)
    assert list(comb["size_class"].unique()) == ["all", "small", "big"]


def test_merge_equals_the_union_with_scaled_masses():
    """Independent check: pool the particles, each fraction's masses scaled by w_f / its total mass."""
    rng = np.random.default_rng(0)
    tabs = []
    for _ in range(3):
        n = 30
        ore = rng.integers(0, 50, n) * (rng.uniform(size=n) < 0.7)
        gangue = rng.integers(0, 50, n) * (rng.uniform(size=n) < 0.7)
        gangue[(ore + gangue) == 0] = 5
        tabs.append(_table([(i + 1, int(o), int(g), "x" if i % 2 else "y") for i, (o, g) in
                            enumerate(zip(ore, gangue))]))
    w = (0.2, 0.5, 0.3)
    _, comb = merge_fractions([fraction_amounts(t, minerals=MINERALS) for t in tabs], w)
    ore_mass, lib_mass, tot_mass = 0.0, 0.0, 0.0
    for t, wf in zip(tabs, w):
        m_ore = t["voxels_ore"] * 4.0
        m = m_ore + t["voxels_gangue"] * 2.0
        scale = wf / m.sum()
        ore_mass += (m_ore * scale).sum()
        tot_mass += (m * scale).sum()
        lib_mass += (m_ore * scale)[m_ore / m >= 0.9].sum()
    row = comb[(comb["size_class"] == "all") & (comb["mineral"] == "ore")].iloc[0]
    assert row["grade"] == pytest.approx(ore_mass / tot_mass)
    assert row["liberated_fraction_3d"] == pytest.approx(lib_mass / ore_mass)


@pytest.mark.parametrize("masses, n, match", [
    ("0.4,0.5", 2, "sums to 0.9"), ("0.4,0.6,0", 2, "3 mass fraction"), ("0.5", 2, "1 mass fraction"),
    ("1.2,-0.2", 2, ">= 0"), ("a,b", 2, "comma-separated"), ("0.4,0.6000011", 2, "sums to"),
])
def test_bad_weights(masses, n, match):
    with pytest.raises(InputError, match=match) as err:
        check_fraction_masses(masses, n)
    assert "--fraction-mass" in str(err.value)


def test_weights_within_tolerance():
    assert check_fraction_masses("0.4,0.6000005", 2) == (0.4, 0.6000005)
    assert check_fraction_masses([1.0], 1) == (1.0,)


# ------------------------------------------------------------------ stores and the CLI


def _store(path, *, pure_ore: bool):
    """Two box particles in a 24^3 volume: a 4x4x4 particle (pure ore or pure gangue) and a 4x4x8 one, half ore."""
    pid = np.zeros((24, 24, 24), np.uint32)
    ph = np.zeros_like(pid, dtype=np.uint8)
    pid[3:7, 3:7, 3:7] = 1
    ph[3:7, 3:7, 3:7] = 1 if pure_ore else 2
    pid[10:14, 10:14, 8:16] = 2
    ph[10:14, 10:14, 8:12] = 1
    ph[10:14, 10:14, 12:16] = 2
    store = create_store(path, (ph * 100).astype(np.uint16), voxel_size_um=5.0, chunks=12)
    store.write_label("phases", ph, minerals=MINERALS)
    store.write_label("particles", pid)
    return path


def test_set_fraction_and_info(tmp_path, capsys):
    path = _store(tmp_path / "a.zarr", pure_ore=True)
    assert open_store(path).sieve_fraction is None
    assert main(["set-fraction", str(path), "63-100"]) == 0
    assert open_store(path).sieve_fraction == (63.0, 100.0)
    assert open_store(path).provenance[-1]["step"] == "set-fraction"
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert "sieve        63-100 µm" in capsys.readouterr().out
    assert main(["set-fraction", str(path), "100-63"]) == 2
    assert "error: sieve fraction '100-63'" in capsys.readouterr().err
    assert open_store(path).sieve_fraction == (63.0, 100.0)


@pytest.mark.slow
def test_cli_report_two_fractions(tmp_path, capsys):
    a = _store(tmp_path / "a.zarr", pure_ore=True)
    b = _store(tmp_path / "b.zarr", pure_ore=False)
    assert main(["set-fraction", str(a), "63-100"]) == 0
    out = tmp_path / "merged"
    args = ["-q", "report", str(a), str(b), "--out", str(out), "--no-pdf", "--bootstrap", "0", "--liberated-at", "0.9"]
    assert main([*args, "--fraction-mass", "0.4,0.5"]) == 2
    assert "error: --fraction-mass='0.4,0.5' sums to 0.9" in capsys.readouterr().err
    assert main([*args, "--fraction-mass", "1"]) == 2
    assert "1 mass fraction(s) for 2 store(s)" in capsys.readouterr().err
    assert main(args) == 2
    assert "without --fraction-mass" in capsys.readouterr().err
    assert not out.exists()
    assert main([*args, "--fraction-mass", "0.4,0.6"]) == 0
    text = capsys.readouterr().out
    assert "combined liberated ore: 3D" in text
    assert {"report.html", "fractions.csv", "combined.csv", "summary.json",
            "fraction_liberation.png"} <= {p.name for p in out.iterdir()}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="fig-fraction_liberation"' in page and "data:image/png;base64," in page
    summary = json.loads((out / "summary.json").read_text())
    assert [f["label"] for f in summary["fractions"]] == ["63-100 µm (a)", "b"]
    # combined = the hand-weighted sum of the fractions' own particle tables
    pa = pd.read_csv(out / summary["fractions"][0]["folder"] / "particles.csv")
    pb = pd.read_csv(out / summary["fractions"][1]["folder"] / "particles.csv")
    assert len(pa) == len(pb) == 2
    # a: pure ore 64 vox (mass 256) + half/half (ore 256 + gangue 128): ore mass grade 512/640, liberated 256/512
    # b: pure gangue 64 vox (mass 128) + the same half/half: ore grade 256/512, none liberated
    ga, gb = 512 / 640, 256 / 512
    la, lb = 256 / 512, 0.0
    comb = pd.read_csv(out / "combined.csv").set_index(["size_class", "mineral"])
    assert comb.loc[("all", "ore"), "grade"] == pytest.approx(0.4 * ga + 0.6 * gb)
    assert comb.loc[("all", "ore"), "liberated_fraction_3d"] == pytest.approx(
        (0.4 * ga * la + 0.6 * gb * lb) / (0.4 * ga + 0.6 * gb))
    assert main([*args, "--fraction-mass", "0.4,0.6"]) == 2  # exists: no overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_convert_records_the_sieve_fraction(tmp_path, capsys):
    import tifffile

    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, np.arange(4 * 8 * 8, dtype=np.uint16).reshape(4, 8, 8), photometric="minisblack")
    assert main(["convert", str(src), str(tmp_path / "bad.zarr"), "--voxel-size", "2",
                 "--sieve-fraction", "100"]) == 2
    assert "error: --sieve-fraction: sieve fraction '100'" in capsys.readouterr().err
    assert not (tmp_path / "bad.zarr").exists()
    assert main(["convert", str(src), str(tmp_path / "s.zarr"), "--voxel-size", "2",
                 "--sieve-fraction", "100-250"]) == 0
    assert "sieve fraction 100-250 µm" in capsys.readouterr().out
    assert open_store(tmp_path / "s.zarr").sieve_fraction == (100.0, 250.0)
    assert open_store(tmp_path / "s.zarr").describe()["sieve_fraction"] == {"lower_um": 100.0, "upper_um": 250.0}


def test_fraction_plot_bars_are_the_tables_numbers():
    from liberation.report.fractions import plot_fraction_liberation

    per = pd.DataFrame({"fraction": ["a", "a", "a", "b", "b"], "size_class": ["all", "<63", ">=63", "all", ">=63"],
                        "mineral": "ore", "liberated_fraction_3d": [0.5, 0.2, 0.8, 0.3, 0.3]})
    comb = pd.DataFrame({"size_class": ["all", ">=63", "<63"], "mineral": "ore",
                         "liberated_fraction_3d": [0.4, 0.55, 0.2]})
    fig = plot_fraction_liberation(per, comb)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all", "<63", ">=63"]
    heights = [p.get_height() for p in ax.patches]
    # bars grouped by series (a, b, combined), each over the size classes; b has no <63 particle
    assert heights[:3] == pytest.approx([50, 20, 80])
    assert heights[3] == pytest.approx(30) and np.isnan(heights[4]) and heights[5] == pytest.approx(30)
    assert heights[6:] == pytest.approx([40, 20, 55])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "combined"]
