"""Report plots, HTML page and atomic writer on a hand-built LiberationResult (no statistics run)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from liberation.errors import OverwriteError
from liberation.minerals import spodumene_ore
from liberation.report import bias_sentence, build_html, make_figures, write_report
from liberation.report import plots as P
from liberation.stats.result import LiberationResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ["0", "(0,10]", "(10,20]", "(20,30]", "(30,40]", "(40,50]", "(50,60]", "(60,70]", "(70,80]", "(80,90]",
           "(90,100)", "100"]


def hand_result(*, lib2=0.641, lib3=0.518) -> LiberationResult:
    """A small, internally consistent result for spodumene ore (4 particles, 5 section particles)."""
    minerals = spodumene_ore()
    names = minerals.names
    counts = np.array([[100, 0, 0, 0], [50, 50, 0, 0], [0, 20, 70, 10], [10, 10, 10, 70]], dtype=np.int64)
    vox = 1000.0
    particles = pd.DataFrame({
        "particle_id": [1, 2, 3, 4],
        "voxels": counts.sum(1),
        "volume_um3": counts.sum(1) * vox,
        "esd_um": np.cbrt(6 * counts.sum(1) * vox / np.pi),
        "touches_border": [False, False, True, False],
        "excluded": [False, False, False, False],
        "size_class": ["<63", ">=63", ">=63", ">=63"],
    })
    for j, n in enumerate(names):
        particles[f"voxels_{n}"] = counts[:, j]
    for j, n in enumerate(names):
        particles[f"grade_{n}"] = counts[:, j] / counts.sum(1)
    sec_counts = np.array([[20, 0, 0, 0], [10, 0, 0, 0], [0, 10, 0, 0], [0, 4, 14, 2], [2, 2, 2, 14]])
    sections = pd.DataFrame({"axis": ["z"] * 5, "position": [5, 5, 15, 15, 15], "particle_id": [1, 2, 2, 3, 4],
                             "pixels": sec_counts.sum(1), "area_um2": sec_counts.sum(1) * 100.0,
                             "ecd_um": np.sqrt(4 * sec_counts.sum(1) * 100.0 / np.pi), "excluded": [False] * 5,
                             "size_class": ["<63", ">=63", ">=63", ">=63", ">=63"]})
    for j, n in enumerate(names):
        sections[f"pixels_{n}"] = sec_counts[:, j]
    for j, n in enumerate(names):
        sections[f"grade_{n}"] = sec_counts[:, j] / sec_counts.sum(1)
    vol = counts.sum(0)
    modal = pd.DataFrame({"mineral": names, "phase_id": minerals.ids, "density_g_cm3": [m.density for m in minerals],
                          "voxels": vol, "volume_percent": 100 * vol / vol.sum(),
                          "mass_percent": 100 * vol * minerals.density_lut()[1:] / (vol * minerals.density_lut()[1:]).sum()})
    lib_rows, cum_rows, gr_rows, surf_rows, lock_rows = [], [], [], [], []
    rng = np.random.default_rng(0)
    for dim in ("3D", "2D"):
        for sc in ("all", "<63", ">=63"):
            for n in names:
                share = rng.dirichlet(np.ones(len(CLASSES)))
                for c, s in zip(CLASSES, share):
                    lib_rows.append({"dimension": dim, "basis": "volume", "size_class": sc, "mineral": n, "class": c,
                                     "n_particles": 1, "mineral_share": s})
                    if dim == "3D":
                        surf_rows.append({"dimension": dim, "basis": "volume", "size_class": sc, "mineral": n,
                                          "class": c, "n_particles": 1, "mineral_share": s})
                g = np.arange(0, 101.0)
                for gi in g:
                    cum_rows.append({"dimension": dim, "basis": "volume", "size_class": sc, "mineral": n,
                                     "grade_percent": gi, "cumulative_share": 1 - (gi / 100) ** 2})
                if sc == "all":
                    for gi in g[::-1]:
                        rec = 1 - (gi / 100) ** 1.5
                        gr_rows.append({"dimension": dim, "basis": "volume", "mineral": n, "min_grade_percent": gi,
                                        "recovery": rec, "grade": max(gi / 100, 0.25)})
                    for lock, partner in (("liberated", ""), ("binary", "quartz"), ("ternary+", "")):
                        lock_rows.append({"dimension": dim, "basis": "volume", "size_class": sc, "mineral": n,
                                          "locking": lock, "partner": partner, "mineral_share": 1 / 3})
    assoc_rows = []
    for n in names:
        shares = rng.dirichlet(np.ones(len(names) + 1))
        for k, other in enumerate([*names, "void"]):
            assoc_rows.append({"size_class": "all", "mineral": n, "neighbour": other, "share": shares[k]})
    comparison = pd.DataFrame({"basis": "volume", "size_class": ["all", "<63", ">=63"], "mineral": "spodumene",
                               "liberated_fraction_3d": [lib3, 1.0, 0.3], "liberated_fraction_2d": [lib2, 1.0, 0.45]})
    grains = pd.DataFrame({"grain_id": np.arange(1, 9), "particle_id": [1, 2, 2, 3, 3, 3, 4, 4],
                           "mineral": ["spodumene", "spodumene", "quartz", "quartz", "albite", "muscovite",
                                       "muscovite", "albite"], "esd_um": [57.6, 45.7, 45.7, 33.7, 51.1, 21.2, 51.1, 26.7]})
    summary = {
        "n_particles": 4, "voxel_size_um": [10.0, 10.0, 10.0], "minerals": names,
        "modal_volume_percent": dict(zip(names, modal["volume_percent"])),
        "liberated_fraction_3d": {"spodumene": lib3, "quartz": 0.2, "albite": 0.0, "muscovite": float("nan")},
        "liberated_fraction_2d": {"spodumene": lib2, "quartz": 0.33, "albite": 0.0, "muscovite": 0.5},
        "liberation_threshold": 0.9, "version": "0.1.0",
        "parameters": {"target": "spodumene", "threshold": 0.9, "section_axes": ["z"], "section_spacing": 10},
    }
    return LiberationResult(
        minerals=minerals, voxel_size_um=(10.0, 10.0, 10.0), target="spodumene", threshold=0.9,
        size_classes_um=(63.0,), particles=particles, sections=sections, modal=modal,
        liberation=pd.DataFrame(lib_rows), surface_liberation=pd.DataFrame(surf_rows),
        association=pd.DataFrame(assoc_rows), locking=pd.DataFrame(lock_rows), grain_sizes=grains,
        grade_recovery=pd.DataFrame(gr_rows), comparison=comparison, cumulative_yield=pd.DataFrame(cum_rows),
        size_distribution=pd.DataFrame({"esd_um": [10.0, 100.0], "cumulative_volume": [0.0, 1.0]}),
        excluded_particle_ids=[], summary=summary,
    )


def hand_slices():
    ct = np.tile(np.linspace(0, 1000, 32), (32, 1)).astype(np.uint16)
    phases = np.zeros((32, 32), np.uint8)
    phases[4:12, 4:12] = 1
    phases[16:28, 10:20] = 2
    phases[20:24, 22:30] = 4
    return {"z = 8": (ct, phases), "z = 16 (labels only)": (None, phases)}


def _img_srcs(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)


# ---------------------------------------------------------------------------- sentence
def test_bias_sentence_over_and_under():
    s = bias_sentence("spodumene", 0.641, 0.518)
    assert s == ("2D sections overestimate the liberated fraction of spodumene by 12.3 percentage points "
                 "(2D 64.1 % vs 3D 51.8 %).")
    s = bias_sentence("quartz", 0.40, 0.45)
    assert s.startswith("2D sections underestimate the liberated fraction of quartz by 5.0 percentage points")
    assert "agree" in bias_sentence("albite", 0.5, 0.5)
    assert "undefined" in bias_sentence("albite", float("nan"), 0.5)
    assert "could not be computed" in bias_sentence("albite", None, None)


def test_bias_sentence_with_interval():
    s = bias_sentence("spodumene", 0.641, 0.518, ci95=(0.041, 0.202), basis="mass")
    assert s == ("By mass, 2D sections overestimate the liberated fraction of spodumene by 12.3 percentage points "
                 "(95 % interval +4.1 to +20.2 pct. points; 2D 64.1 % vs 3D 51.8 %).")
    # the demo case: -0.8 pp with an interval of -8.9 to +8.5 pp is not a finding
    s = bias_sentence("spodumene", 0.410, 0.418, ci95=(-0.089, 0.085), basis="volume")
    assert s.startswith("By volume, the 2D and 3D liberated fractions of spodumene do not differ significantly "
                        "at this sample size")
    assert "underestimate" not in s and "-0.8 pct. points" in s


# ------------------------------------------------------------------------------- plots
@pytest.mark.parametrize("make", [
    lambda: P.plot_modal(["a", "b"], [60, 40], [55, 45], colors=["#ff0000", "#00ff00"]),
    lambda: P.plot_liberation_classes(CLASSES, np.full(12, 1 / 12), np.full(12, 1 / 12), mineral="a"),
    lambda: P.plot_cumulative_yield([0, 0.5, 1], [1, 0.6, 0.2], [0, 0.5, 1], [1, 0.7, 0.3], threshold=0.9),
    lambda: P.plot_association(np.eye(2), ["a", "b"], ["a", "b"]),
    lambda: P.plot_grade_recovery([0, 0.5, 1], [1, 0.8, 0.3], feed_grade=0.3),
    lambda: P.plot_size_distribution([50, 100, 200], ecd_um=[40, 80], size_classes_um=[63, 100]),
    lambda: P.plot_grain_sizes({"a": [10, 20, 30], "b": []}, colors={"a": "#ff0000"}),
    lambda: P.plot_slices(hand_slices(), colors={1: "#ff0000", 2: "#00ff00", 4: "#0000ff"},
                          names={1: "a", 2: "b", 4: "d"}, pixel_size_um=10.0),
    lambda: P.plot_bias_by_size(["<63", ">=63"], [0.5, np.nan], [0.6, 0.2]),
    # empty inputs still give a figure (a "no data" panel), never an exception
    lambda: P.plot_modal([], []),
    lambda: P.plot_liberation_classes([], []),
    lambda: P.plot_size_distribution([]),
    lambda: P.plot_grain_sizes({}),
    lambda: P.plot_slices({}, colors={}, names={}),
])
def test_plot_functions_return_figures_that_render(make):
    from matplotlib.figure import Figure

    fig = make()
    assert isinstance(fig, Figure)
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(PNG_MAGIC)


def test_slice_overlay_uses_mineral_colours():
    phases = np.zeros((20, 20), np.uint8)
    phases[:, 10:] = 1
    fig = P.plot_slices({"s": (None, phases)}, colors={1: "#ff0000"}, names={1: "red"}, alpha=1.0)
    overlay = fig.axes[0].images[-1].get_array()
    assert np.allclose(overlay[0, 15], [1, 0, 0, 1]) and overlay[0, 5, 3] == 0
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["red"]


def test_cumulative_passing_known_answer():
    fig = P.plot_size_distribution([1.0, 2.0], weights=[1.0, 3.0])
    line = fig.axes[0].lines[0]
    assert np.allclose(line.get_xdata(), [1, 2]) and np.allclose(line.get_ydata(), [25, 100])
    assert fig.axes[0].get_xscale() == "log"


def test_make_figures_names():
    figs = make_figures(hand_result(), slices=hand_slices())
    assert set(figs) == {"modal", "liberation_classes", "cumulative_yield", "bias_by_size", "association",
                         "grade_recovery", "size_distribution", "grain_sizes", "slices", "modal_by_size"}


# -------------------------------------------------------------------------------- html
@pytest.mark.slow
def test_html_self_contained_and_sentence():
    result = hand_result()
    figs = make_figures(result, slices=hand_slices())
    import io

    images = {}
    for name, fig in figs.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        images[name] = buf.getvalue()
    page = build_html(result, images, sample_info={"store": "x.zarr", "shape": [30, 30, 30]})
    assert "2D sections overestimate the liberated fraction of spodumene by 12.3 percentage points" in page
    srcs = _img_srcs(page)
    assert len(srcs) == len(images)
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    # nothing external: no scripts, no stylesheets, no http(s) references
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    assert "30 × 30 × 30 voxels" in page


def test_html_escapes_names():
    result = hand_result()
    page = build_html(result, {}, sample_info={"store": "<b>evil</b>.zarr"}, title="a < b")
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page and "<title>a &lt; b</title>" in page


# ------------------------------------------------------------------------------ writer
@pytest.mark.slow
def test_write_report_files(tmp_path):
    result = hand_result()
    out = write_report(result, tmp_path / "rep", slices=hand_slices(), sample_info={"store": "x.zarr"})
    assert out == (tmp_path / "rep").absolute()
    files = {p.name for p in out.iterdir()}
    for name in ("particles.csv", "sections_2d.csv", "liberation.csv", "association.csv", "modal.csv",
                 "grade_recovery.csv", "summary.json", "report.html", "modal.png", "slices.png"):
        assert name in files, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["liberated_fraction_3d"]["muscovite"] is None  # NaN -> null, valid JSON
    assert summary["sample"] == {"store": "x.zarr"}
    assert pd.read_csv(out / "particles.csv")["particle_id"].tolist() == [1, 2, 3, 4]
    for png in out.glob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC)
    # no temporary folders left beside it
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


@pytest.fixture
def no_figures(monkeypatch):
    """Skip the (slow) plot rendering in writer tests that are about files, not plots."""
    import liberation.report.figures as F

    monkeypatch.setattr(F, "make_figures", lambda result, slices=None: {})


@pytest.mark.slow
def test_write_report_refuses_existing_and_leaves_it(tmp_path, no_figures):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(OverwriteError, match="rep"):
        write_report(hand_result(), out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]
    # --overwrite never replaces a folder that liberation did not write (issue 15)
    with pytest.raises(OverwriteError, match="not written by liberation"):
        write_report(hand_result(), out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "old"
    (out / "keep.txt").unlink()
    out.rmdir()
    write_report(hand_result(), out)
    (out / "keep.txt").write_text("old")
    write_report(hand_result(), out, overwrite=True)  # liberation's own report is replaced
    assert not (out / "keep.txt").exists() and (out / "report.html").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_write_report_refuses_a_file(tmp_path, no_figures):
    target = tmp_path / "rep"
    target.write_text("x")
    # the one overwrite wording (liberation._atomic.overwrite_message): a user's file is never replaced
    with pytest.raises(OverwriteError, match="rep already exists and was not written by liberation"):
        write_report(hand_result(), target, overwrite=True)
    assert target.read_text() == "x"


def test_write_report_failure_leaves_nothing(tmp_path, monkeypatch, no_figures):
    import liberation._atomic as A

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(A, "replace_path", boom)
    with pytest.raises(RuntimeError):
        write_report(hand_result(), tmp_path / "rep")
    assert list(tmp_path.iterdir()) == []


def test_html_without_sections_says_so():
    result = hand_result()
    result.sections = result.sections.iloc[0:0]
    result.summary["liberated_fraction_2d"] = {n: None for n in result.minerals.names}
    page = build_html(result, {})
    assert "No virtual 2D sections were computed" in page and "3D liberated fraction of spodumene: 51.8 %" in page
    assert "overestimate" not in page


def test_facts_name_excluded_border_particles():
    from liberation.report.tables import sample_facts

    result = hand_result()
    facts = dict(sample_facts(result, {}))
    assert facts["Particles excluded"].startswith("none; 1 particle touches the volume border")
    result.excluded_particle_ids = [3]
    facts = dict(sample_facts(result, {}))
    assert facts["Particles analysed"] == "3"
    assert facts["Particles excluded"].startswith("1: they touch the volume border")
