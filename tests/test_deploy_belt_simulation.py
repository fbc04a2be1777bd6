"""Belt simulation: mass balance, monotone effects, the paper's three series, the simulate command."""

import numpy as np
import pytest

from liberation.deploy.belt.simulation import SegmenterProfile, simulate_paper_trials, simulate_sorting
from liberation.errors import InputError

GOOD = SegmenterProfile("good", error=0.02, fps=1000.0)


def test_mass_balance_identity():
    r = simulate_sorting(size_class_mm=(10, 15), feed_kg_h=30, belt_speed_m_s=4, profile=GOOD, seed=0)
    assert 0 <= r["gamma"] <= 1 and 0 <= r["recovery"] <= 1
    # recovery = grade_c * (1 - gamma) / feed grade
    assert r["recovery"] == pytest.approx(r["concentrate_grade"] * (1 - r["gamma"]) / r["feed_grade_sim"], rel=1e-9)
    assert r["concentrate_grade"] > r["feed_grade_sim"]


def test_accuracy_and_throughput_effects():
    kw = dict(size_class_mm=(10, 15), feed_kg_h=50, belt_speed_m_s=4, n_fragments=20000, seed=1)
    good = simulate_sorting(profile=GOOD, **kw)
    bad = simulate_sorting(profile=SegmenterProfile("bad", error=0.3, fps=1000.0), **kw)
    assert good["concentrate_grade"] > bad["concentrate_grade"]
    slow = SegmenterProfile("slow", error=0.02, fps=5.0, ms_per_fragment=0.0)
    r = simulate_sorting(profile=slow, **kw)
    # 4 m/s over 512 rows of 0.5 mm needs 15.625 frames/s
    assert r["fps_needed"] == pytest.approx(15.625) and r["processed"] == pytest.approx(5.0 / 15.625)
    assert r["gamma"] < good["gamma"]


def test_paper_series_table():
    t = simulate_paper_trials(n_fragments=2000)
    assert set(t["series"]) == {"size", "feed", "speed"}
    assert len(t) == 2 * (5 + 7 + 7)
    assert np.isfinite(t[["concentrate_grade", "recovery", "gamma"]].to_numpy()).all()


def test_simulation_errors():
    with pytest.raises(InputError):
        simulate_sorting(size_class_mm=(5, 1), feed_kg_h=1, belt_speed_m_s=1, profile=GOOD)
    with pytest.raises(InputError):
        SegmenterProfile.from_measurements("x", miou=1.5, fps=1)


def test_simulate_command(tmp_path):
    from liberation.cli import main

    out = tmp_path / "sim"
    assert main(["deploy", "simulate", "--out", str(out), "--fragments", "500", "--series", "speed"]) == 0
    assert (out / "trials.csv").is_file() and (out / "trials.png").is_file()
    assert main(["deploy", "simulate", "--out", str(out), "--fragments", "500"]) == 2  # exists, no --overwrite
