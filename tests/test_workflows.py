"""liberation.workflows: importable without click (and torch), called directly, old CLI names still resolve."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from liberation.errors import InputError, OverwriteError
from liberation.io import create_store, open_store
from liberation.minerals import spodumene_ore

WORKFLOWS = ("demo", "evaluate", "labels", "pipeline", "register", "report_store", "segment", "store")


def test_workflows_import_without_click_or_torch():
    code = ("import sys\n"
            + "".join(f"import liberation.workflows.{name}\n" for name in WORKFLOWS)
            + "print(' '.join(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded = set(proc.stdout.split())
    assert {f"liberation.workflows.{name}" for name in WORKFLOWS} <= loaded
    assert not {m for m in loaded if m == "click" or m.startswith("click.")}
    assert "torch" not in loaded and "monai" not in loaded


def _store(path, *, particles: bool):
    phases = np.zeros((24, 24, 24), np.uint8)
    part = np.zeros((24, 24, 24), np.uint32)
    phases[4:12, 4:12, 4:12], part[4:12, 4:12, 4:12] = 1, 1
    phases[14:20, 12:20, 12:20], part[14:20, 12:20, 12:20] = 2, 2
    store = create_store(path, phases.astype(np.uint16) * 1000 + 100, voxel_size_um=10.0)
    store.write_label("phases", phases, minerals=spodumene_ore())
    if particles:
        store.write_label("particles", part)
    return path


@pytest.mark.slow
def test_run_report_returns_folder_result_and_notes(tmp_path):
    from liberation.workflows.report_store import ReportRun, default_out_dir, run_report, summary_lines

    path = _store(tmp_path / "s.zarr", particles=False)
    run = run_report(path, target="spodumene")
    assert isinstance(run, ReportRun)
    assert run.folder == default_out_dir(path) == tmp_path / "s_report"
    assert (run.folder / "report.html").is_file()
    assert len(run.notes) == 1 and "labels/particles is missing" in run.notes[0]
    summary = json.loads((run.folder / "summary.json").read_text())
    assert summary["n_particles_total"] == 2
    lines = summary_lines(run.folder, run.result)
    assert lines[0] == f"report: {run.folder / 'report.html'}"
    assert any(line.startswith("liberated spodumene: 3D 100.0 %") for line in lines)
    with pytest.raises(OverwriteError):
        run_report(path, target="spodumene")
    with pytest.raises(InputError, match="--target"):
        run_report(path, tmp_path / "r2", target="gold")
    with_particles = run_report(_store(tmp_path / "p.zarr", particles=True), tmp_path / "r3")
    assert with_particles.notes == ()


def test_demo_store_and_refusals(tmp_path):
    from liberation.workflows.demo import make_demo_store, run_demo

    path = make_demo_store(tmp_path, size=16, seed=1)
    assert set(open_store(path).label_names) == {"phases", "particles"}
    with pytest.raises(InputError, match="--size"):
        make_demo_store(tmp_path / "x", size=8)
    with pytest.raises(InputError, match="--seed"):
        run_demo(tmp_path / "d", seed=-1)
    # the one overwrite wording (liberation._atomic.overwrite_message)
    with pytest.raises(OverwriteError, match="sample.zarr already exists; pass --overwrite"):
        run_demo(tmp_path, size=16)
    (tmp_path / "file").write_text("")
    with pytest.raises(OverwriteError, match="file already exists and was not written by liberation"):
        run_demo(tmp_path / "file", size=16)


def test_store_describe_lines(tmp_path):
    from liberation.workflows.store import describe_lines, describe_store

    path = _store(tmp_path / "s.zarr", particles=True)
    lines = describe_lines(describe_store(path))
    assert lines[0].startswith("store        ") and "24 x 24 x 24 (z, y, x)" in lines[1]
    assert sum(line.startswith("label        ") for line in lines) == 2
    assert sum(line.startswith("mineral      ") for line in lines) == len(spodumene_ore())


@pytest.mark.parametrize(("old", "name", "new"), [
    ("liberation.cli.report", "run_report", "liberation.workflows.report_store"),
    ("liberation.cli.report", "pick_slices", "liberation.workflows.report_store"),
    ("liberation.cli.report", "summary_lines", "liberation.workflows.report_store"),
    ("liberation.cli.report", "AXES", "liberation.cli._parse"),
    ("liberation.cli.demo", "make_demo_store", "liberation.workflows.demo"),
    ("liberation.cli.pipeline", "run_pipeline", "liberation.workflows.pipeline"),
])
def test_moved_names_resolve_with_a_deprecation_warning(old, name, new):
    import importlib

    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{name} moved to {new}"):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            module.no_such_name  # noqa: B018


@pytest.mark.ml
@pytest.mark.slow
def test_cli_pipeline_makes_its_report_through_the_workflow(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from liberation.cli import main

    out = tmp_path / "run"
    rc = main(["-q", "pipeline", str(out), "--size", "48", "--preset", "tiny", "--known-pose", "--no-particles",
               "--device", "cpu", "--threads", "1", "--allow-unassigned"])
    stdout = capsys.readouterr().out
    assert rc == 0
    # the summary names the final report folder (not the temporary folder the run was written in)
    assert f"report: {out / 'report' / 'report.html'}" in stdout.splitlines()
    assert (out / "report" / "report.html").is_file() and "report_s" in json.loads(
        (out / "pipeline.json").read_text())["times"]
    assert stdout.splitlines()[-1] == f"written to {out}"
