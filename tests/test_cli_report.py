"""``liberation report`` and ``liberation demo`` end to end on small stores with exact truth, and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liberation.cli import main
from liberation.io import create_store
from liberation.minerals import spodumene_ore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAMES = spodumene_ore().names


def phantom():
    """Four box particles, 10 µm voxels, exact truth.

    1: 8³ spodumene (liberated); 2: 16x8x8, spodumene for z < 12 and quartz for z >= 12 (grade 0.5 in 3D,
    but every z section through it holds one mineral only); 3: quartz/albite 50/50; 4: 6³ muscovite.
    Spodumene liberated (>= 90 %): 3D 512 / 1024 = 0.5, 2D (z sections) 1.0.
    """
    particles = np.zeros((40, 40, 40), np.uint32)
    phases = np.zeros((40, 40, 40), np.uint8)
    particles[4:12, 4:12, 4:12] = 1
    phases[4:12, 4:12, 4:12] = 1
    particles[4:20, 20:28, 20:28] = 2
    phases[4:12, 20:28, 20:28] = 1
    phases[12:20, 20:28, 20:28] = 2
    particles[24:32, 4:12, 24:34] = 3
    phases[24:32, 4:12, 24:29] = 2
    phases[24:32, 4:12, 29:34] = 3
    particles[28:34, 26:32, 4:10] = 4
    phases[28:34, 26:32, 4:10] = 4
    ct = (phases.astype(np.uint16) * 1000 + 100).astype(np.uint16)
    return ct, particles, phases


def make_store(path: Path, *, phases=True, particles=True, minerals=None, phase_data=None):
    ct, part, ph = phantom()
    store = create_store(path, ct, voxel_size_um=10.0, chunks=16)
    if phases:
        store.write_label("phases", ph if phase_data is None else phase_data,
                          minerals=spodumene_ore() if minerals is None else minerals)
    if particles:
        store.write_label("particles", part)
    return path


def tree_hash(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def run_cli(args, capsys):
    rc = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store") / "sample.zarr")


@pytest.fixture(scope="module")
def report_run(good_store, tmp_path_factory):
    """One report run on the phantom store: (folder, stdout, store hash before, store hash after)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("rep") / "report"
    before = tree_hash(good_store)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        rc = main(["-q", "report", str(good_store), "--out", str(out), "--target", "spodumene",
                   "--section-spacing", "4", "--size-classes", "80,120", "--no-pdf"])  # PDF: test_report_extras
    assert rc == 0
    return out, buffer.getvalue(), before, tree_hash(good_store)


@pytest.fixture(scope="module")
def report_dir(report_run):
    return report_run[0]


# ------------------------------------------------------------------------------ good runs
def test_report_files_and_columns(report_dir):
    for name in ("particles.csv", "sections_2d.csv", "liberation.csv", "association.csv", "modal.csv",
                 "grade_recovery.csv", "summary.json", "report.html"):
        assert (report_dir / name).is_file(), name
    particles = pd.read_csv(report_dir / "particles.csv")
    required = ["particle_id", "voxels", "volume_um3", "esd_um"]
    required += [f"{p}_{n}" for p in ("voxels", "grade") for n in NAMES]
    assert set(required) <= set(particles.columns)
    assert particles["particle_id"].tolist() == [1, 2, 3, 4]
    assert particles["voxels"].tolist() == [512, 1024, 640, 216]
    assert np.allclose(particles["volume_um3"], particles["voxels"] * 1000.0)
    assert np.allclose(particles["esd_um"], np.cbrt(6 * particles["volume_um3"] / np.pi))
    assert particles.loc[1, "grade_spodumene"] == pytest.approx(0.5)
    sections = pd.read_csv(report_dir / "sections_2d.csv")
    required = ["axis", "position", "particle_id", "pixels", "area_um2", "ecd_um"]
    required += [f"{p}_{n}" for p in ("pixels", "grade") for n in NAMES]
    assert set(required) <= set(sections.columns)
    assert set(sections["position"]) <= {2, 6, 10, 14, 18, 22, 26, 30, 34, 38}
    for name in ("liberation.csv", "association.csv", "modal.csv", "grade_recovery.csv"):
        assert len(pd.read_csv(report_dir / name)) > 0, name
    for png in report_dir.glob("*.png"):
        assert png.read_bytes().startswith(PNG_MAGIC)


def test_summary_keys_and_ranges(report_dir):
    s = json.loads((report_dir / "summary.json").read_text())
    for key in ("n_particles", "voxel_size_um", "minerals", "modal_volume_percent", "liberated_fraction_3d",
                "liberated_fraction_2d", "liberation_threshold", "version", "parameters"):
        assert key in s, key
    assert s["n_particles"] == 4
    assert s["voxel_size_um"] == [10.0, 10.0, 10.0]
    assert s["liberation_threshold"] == 0.9
    assert sum(s["modal_volume_percent"].values()) == pytest.approx(100.0)
    assert s["modal_volume_percent"]["spodumene"] == pytest.approx(100 * 1024 / 2392)
    for key in ("liberated_fraction_3d", "liberated_fraction_2d"):
        assert all(0.0 <= v <= 1.0 for v in s[key].values() if v is not None)
    assert s["liberated_fraction_3d"]["spodumene"] == pytest.approx(0.5)
    assert s["liberated_fraction_2d"]["spodumene"] == pytest.approx(1.0)
    assert s["sample"]["shape"] == [40, 40, 40]


def test_html_images_and_bias_sentence(report_dir):
    page = (report_dir / "report.html").read_text()
    # 4 particles in 3 size classes: the bootstrap interval of the difference still excludes 0 (the 2D
    # sections of spodumene are always pure, the 3D fraction is at most 2/3 in a replicate)
    assert ("By mass, 2D sections overestimate the liberated fraction of spodumene by 50.0 percentage points "
            "(95 % interval +33.3 to +100.0 pct. points; 2D 100.0 % vs 3D 50.0 %).") in page
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["basis"] == "mass" and summary["n_boot"] == 1000
    assert summary["liberated_fraction_3d_ci95"]["spodumene"] == pytest.approx([0.0, 2 / 3])
    assert summary["liberated_fraction_2d_ci95"]["spodumene"] == pytest.approx([1.0, 1.0])
    assert summary["bias_2d_minus_3d_ci95"]["spodumene"] == pytest.approx([1 / 3, 1.0])
    assert summary["small_size_classes"] == ["80-120", "<80", ">=120"]
    srcs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)
    assert len(srcs) >= 8
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_MAGIC)
    pngs = sorted(p.stem for p in report_dir.glob("*.png"))
    assert len(pngs) == len(srcs)
    assert "<script" not in page and "src=\"http" not in page and "<link" not in page


def test_cli_prints_summary(report_run):
    _, out, _, _ = report_run
    assert "report.html" in out and "3D 50.0 %" in out and "2D 100.0 %" in out
    assert "particles: 4 analysed of 4" in out


def test_input_store_untouched(report_run):
    _, _, before, after = report_run
    assert before and before == after


@pytest.mark.slow
def test_existing_output_refused_then_overwritten(good_store, report_dir, tmp_path, capsys):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(report_dir, out)
    (out / "marker.txt").write_text("old")
    report_before = tree_hash(out)
    store_before = tree_hash(good_store)
    rc, _, err = run_cli(["report", good_store, "--out", out], capsys)
    assert rc != 0 and err.startswith("error:") and "already exists" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert tree_hash(out) == report_before
    assert run_cli(["report", good_store, "--out", out, "--overwrite"], capsys)[0] == 0
    assert not (out / "marker.txt").exists() and (out / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary folders left
    assert tree_hash(good_store) == store_before


@pytest.mark.slow
def test_exclude_border_and_derived_particles(tmp_path, capsys):
    ct, part, ph = phantom()
    # particle 1 moved to the border: it is cut, and excluded with --exclude-border
    ph2 = np.roll(ph, -4, axis=0)
    store = create_store(tmp_path / "s.zarr", ct, voxel_size_um=10.0)
    store.write_label("phases", ph2, minerals=spodumene_ore())
    before = tree_hash(tmp_path / "s.zarr")
    rc, out, err = run_cli(["report", tmp_path / "s.zarr", "--out", tmp_path / "r", "--exclude-border"], capsys)
    assert rc == 0, err
    assert "labels/particles is missing" in err and "deriving particles" in err
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["n_particles_total"] >= 4 and s["n_excluded"] >= 1
    assert "derived from labels/phases" in s["sample"]["particles_source"]
    assert "touch the volume border" in (tmp_path / "r" / "report.html").read_text()
    assert tree_hash(tmp_path / "s.zarr") == before


# ------------------------------------------------------------------------------- bad input
def _corrupt_shape(path: Path):
    import zarr

    group = zarr.open_group(str(path / "labels" / "phases"), mode="r+")
    group.create_array("0", shape=(40, 40, 39), dtype=np.uint8, overwrite=True)


def _corrupt_dtype(path: Path):
    import zarr

    group = zarr.open_group(str(path / "labels" / "phases"), mode="r+")
    group.create_array("0", shape=(40, 40, 40), dtype=np.float32, overwrite=True)


def _corrupt_voxel_size(path: Path):
    import zarr

    root = zarr.open_group(str(path), mode="r+")
    ome = dict(root.attrs["ome"])
    ome["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"] = [0.0, 10.0, 10.0]
    root.attrs["ome"] = ome


def _unnamed_phase_id(path: Path):
    ph = phantom()[2].copy()
    ph[28:30, 26:32, 4:10] = 7  # phase id 7 has no mineral
    make_store(path, phase_data=ph)


def _property_without_name(path: Path):
    import zarr

    make_store(path)
    group = zarr.open_group(str(path / "labels" / "phases"), mode="r+")
    ome = dict(group.attrs["ome"])
    del ome["image-label"]["properties"][1]["name"]
    group.attrs["ome"] = ome


BAD = {
    "missing phases": (lambda p: make_store(p, phases=False), [], "no labels/phases"),
    "shape mismatch": (lambda p: (make_store(p), _corrupt_shape(p)), [], "shape (40, 40, 39)"),
    "non-integer labels": (lambda p: (make_store(p), _corrupt_dtype(p)), [], "float32"),
    "voxel size not positive": (lambda p: (make_store(p), _corrupt_voxel_size(p)), [], "voxel size"),
    "phase id without mineral": (_unnamed_phase_id, [], "phase id"),
    "property without name": (_property_without_name, [], "'name'"),
    "unknown target": (make_store, ["--target", "gold"], "spodumene, quartz, albite, muscovite"),
    "bad size classes": (make_store, ["--size-classes", "100,abc"], "--size-classes"),
    "decreasing size classes": (make_store, ["--size-classes", "250,100"], "increasing"),
    "bad section axis": (make_store, ["--sections", "w"], "--sections"),
    "bad threshold": (make_store, ["--liberated-at", "1.5"], "--liberated-at"),
    "threshold not a number": (make_store, ["--liberated-at", "abc"], "--liberated-at"),
    "bad section spacing": (make_store, ["--section-spacing", "0"], "--section-spacing"),
    "missing store": (lambda p: None, [], "does not exist"),
    "out inside store": (make_store, ["--out", "INSIDE"], "overlap"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_error(case, tmp_path, capsys):
    build, extra, expected = BAD[case]
    store = tmp_path / "sample.zarr"
    build(store)
    before = tree_hash(store) if store.exists() else {}
    extra = [str(store / "rep") if a == "INSIDE" else a for a in extra]
    args = ["report", store, *(extra if "--out" in extra else ["--out", tmp_path / "rep", *extra])]
    rc, out, err = run_cli(args, capsys)
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "rep").exists()
    assert (tree_hash(store) if store.exists() else {}) == before


# ---------------------------------------------------------------------------- subprocess
@pytest.mark.slow
def test_report_does_not_import_torch(good_store, tmp_path):
    code = ("import sys; from liberation.cli import main; "
            f"rc = main(['-q', 'report', {str(good_store)!r}, '--out', {str(tmp_path / 'r')!r}]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules and 'monai' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "report.html").is_file()


@pytest.mark.slow
def test_demo_small(tmp_path, capsys):
    out = tmp_path / "demo"
    rc, stdout, err = run_cli(["demo", "--out", out, "--size", "32", "--seed", "3"], capsys)
    assert rc == 0, err
    assert (out / "sample.zarr").is_dir() and (out / "report" / "report.html").is_file()
    assert "report.html" in stdout and "liberated spodumene" in stdout
    from liberation.io import open_store

    store = open_store(out / "sample.zarr")
    assert store.shape == (32, 32, 32) and set(store.label_names) == {"phases", "particles"}
    assert store.minerals.names == NAMES
    s = json.loads((out / "report" / "summary.json").read_text())
    assert s["n_particles"] == int(np.asarray(store.label("particles")).max())
    before = tree_hash(out)
    rc, _, err = run_cli(["demo", "--out", out, "--size", "32"], capsys)
    assert rc != 0 and err.startswith("error:") and "--overwrite" in err
    assert tree_hash(out) == before
    rc, _, err = run_cli(["demo", "--out", out, "--size", "32", "--seed", "4", "--overwrite"], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["report", "sample.zarr", "section"]
