"""The report drawn in a worker process (liberation.report._render) gives the same files as inline."""

from __future__ import annotations

import pytest

from tests.test_report_gallery import minerals, phantom


@pytest.mark.slow
def test_worker_process_writes_the_same_report(tmp_path, monkeypatch):
    from liberation.report._render import Renderer, render_gallery
    from liberation.report.figures import gallery_specs
    from liberation.report.writer import write_report
    from liberation.stats import analyse

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the page's and the PDF's time (the worker inherits it)
    pid, ph, _ = phantom()
    result = analyse(pid, ph, voxel_size_um=10.0, minerals=minerals(), target="ore", bootstrap=0, grains=True,
                     shapes=False, exclude_border=False, by="volume")
    slices = {"z = 3": (ph[3].astype(float), ph[3])}
    inline = write_report(result, tmp_path / "inline", slices=slices, volumes=(pid, ph))
    with Renderer(processes=1) as renderer:
        assert renderer.parallel
        worker = write_report(result, tmp_path / "worker", slices=slices, volumes=(pid, ph), renderer=renderer)
        assert renderer.parallel  # the worker did the drawing (it did not die and fall back)
        # the gallery handed to the worker first (as run_report does before the bootstrap), the plots drawn here
        table, specs = gallery_specs(result, pid, ph)
        job = renderer.submit(render_gallery, specs)
        early = write_report(result, tmp_path / "early", slices=slices, renderer=renderer,
                             prepared_gallery=(table, specs, job))
        assert renderer.parallel
    names = sorted(p.name for p in inline.iterdir() if not p.name.startswith("."))  # not the output marker
    assert names == sorted(p.name for p in worker.iterdir() if not p.name.startswith("."))
    assert names == sorted(p.name for p in early.iterdir() if not p.name.startswith("."))
    assert "report.pdf" in names and sum(n.startswith("gallery_") and n.endswith(".png") for n in names) == 8
    for name in names:
        a, b, c = (inline / name).read_bytes(), (worker / name).read_bytes(), (early / name).read_bytes()
        assert a == b, name
        assert a == c, name


@pytest.mark.slow
def test_early_drawing_writes_the_same_report(tmp_path, monkeypatch):
    """The gallery and the plots without intervals queued before the bootstrap (from the result without its
    intervals), the PDF built in this process taking images back, the CSV formatted by the worker: the same bytes
    as drawing everything inline after the bootstrap; with a worker and inline, and whoever draws what."""
    from liberation.report._render import EarlyDrawing, Renderer
    from liberation.report.figures import gallery_specs
    from liberation.report.writer import write_report
    from liberation.stats import analyse

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    pid, ph, _ = phantom()
    kw = dict(voxel_size_um=10.0, minerals=minerals(), target="ore", bootstrap=100, grains=True, shapes=False,
              exclude_border=False, by="volume", section_spacing=4)
    slices = {"z = 3": (ph[3].astype(float), ph[3])}
    reference = write_report(analyse(pid, ph, **kw), tmp_path / "inline", slices=slices, volumes=(pid, ph))
    folders = {}
    import liberation.report.writer as writer

    for processes, steal, csv_max in ((1, False, None), (1, True, None), (0, False, None), (1, False, 0)):
        # csv_max 0: the tables are "large", this process writes the CSV (memory bound at 1024^3)
        monkeypatch.setattr(writer, "WORKER_CSV_MAX_PARTICLES", 20_000 if csv_max is None else csv_max)
        with Renderer(processes=processes) as renderer:
            early = {}

            def hook(partial, renderer=renderer, early=early, steal=steal):
                assert not [c for c in partial.grade_recovery.columns if "ci95" in c]  # before the intervals
                early["e"] = EarlyDrawing(renderer, partial, slices, gallery=gallery_specs(partial, pid, ph))
                if steal:  # this process takes back every job the worker has not started
                    early["e"].results()

            result = analyse(pid, ph, on_tables=hook, **kw)
            assert [c for c in result.grade_recovery.columns if "ci95" in c]
            out = tmp_path / f"early{processes}{steal}{csv_max}"
            folders[out] = write_report(result, out, slices=slices, renderer=renderer, early=early["e"])
            assert renderer.parallel == bool(processes)  # no fallback
    names = sorted(p.name for p in reference.iterdir() if not p.name.startswith("."))
    assert "report.pdf" in names and "grade_recovery.png" in names and "bias_by_size.png" in names
    assert sum(n.startswith("gallery_") and n.endswith(".png") for n in names) == 8
    for folder in folders.values():
        assert names == sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        for name in names:
            assert (reference / name).read_bytes() == (folder / name).read_bytes(), (folder.name, name)


@pytest.mark.slow
def test_run_report_with_a_worker_writes_the_same_report(tmp_path, monkeypatch):
    """run_report with the drawing worker (the early drawing from analyse(on_tables=...)) and without it."""
    import numpy as np

    from liberation.io import create_store
    from liberation.workflows.report_store import run_report

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    pid, ph, _ = phantom()
    store = create_store(tmp_path / "s.zarr", ph.astype(np.uint16) * 1000 + 100, voxel_size_um=10.0)
    store.write_label("phases", ph.astype(np.uint8), minerals=minerals())
    store.write_label("particles", pid.astype(np.uint32))
    kw = dict(target="ore", size_classes_um=(60.0,), exclude_border=False, bootstrap=100, section_spacing=4)
    inline = run_report(tmp_path / "s.zarr", tmp_path / "inline", render_process=False, **kw).folder
    worker = run_report(tmp_path / "s.zarr", tmp_path / "worker", render_process=True, **kw).folder
    names = sorted(p.name for p in inline.iterdir() if not p.name.startswith("."))
    assert names == sorted(p.name for p in worker.iterdir() if not p.name.startswith("."))
    assert {"report.pdf", "gallery_01.png", "grade_recovery.png", "slices.png", "modal.png"} <= set(names)
    for name in names:
        assert (inline / name).read_bytes() == (worker / name).read_bytes(), name


@pytest.mark.slow
def test_plots_without_intervals_do_not_change_with_them():
    """The plots drawn before the bootstrap (not in INTERVAL_PLOTS) are the same with and without the intervals;
    the interval plots differ (they show them)."""
    from liberation.report._render import render_figures
    from liberation.report.figures import INTERVAL_PLOTS, PLOT_ORDER
    from liberation.stats import analyse

    pid, ph, _ = phantom()
    kw = dict(voxel_size_um=10.0, minerals=minerals(), target="ore", grains=True, shapes=False,
              exclude_border=False, by="volume", size_classes_um=(40.0,), section_spacing=4)
    plain = render_figures(analyse(pid, ph, bootstrap=0, **kw))
    with_ci = render_figures(analyse(pid, ph, bootstrap=100, **kw))
    assert list(plain) == [n for n in PLOT_ORDER if n in plain] and list(with_ci) == list(plain)
    assert INTERVAL_PLOTS <= set(plain)
    for name in plain:
        assert (plain[name][0] == with_ci[name][0]) == (name not in INTERVAL_PLOTS), name
    some = [n for n in PLOT_ORDER if n not in INTERVAL_PLOTS][:3]
    assert list(render_figures(analyse(pid, ph, bootstrap=0, **kw), names=some)) == [n for n in some if n in plain]


def test_job_take_runs_a_pending_job_here_once():
    from liberation.report._render import Renderer

    calls = []

    def f(x):
        calls.append(x)
        return x * 2

    with Renderer(processes=0) as renderer:
        job = renderer.submit(f, 3)
        assert job.take() and job.take() and job.result() == 6 and calls == [3]


def test_on_tables_sees_the_result_before_its_intervals():
    """analyse(on_tables=...) gets the returned object before the bootstrap: no intervals yet, then added in
    place; the result equals the one without the hook."""
    import json

    import numpy as np

    from liberation.stats import analyse

    pid, ph, _ = phantom()
    kw = dict(voxel_size_um=10.0, minerals=minerals(), target="ore", bootstrap=100, grains=False, shapes=False,
              exclude_border=False, by="volume")
    seen = {}

    def hook(partial):
        seen["result"] = partial
        seen["ci_columns"] = [c for c in partial.grade_recovery.columns if "ci95" in c]
        seen["n_boot"] = partial.summary["n_boot"]
        seen["lib_ci"] = dict(partial.summary["liberated_fraction_3d_ci95"])

    result = analyse(pid, ph, on_tables=hook, **kw)
    plain = analyse(pid, ph, **kw)
    assert seen["result"] is result
    assert seen["ci_columns"] == [] and seen["n_boot"] == 0 and seen["lib_ci"] == {"ore": None}
    assert result.summary["n_boot"] == 100 and result.summary["liberated_fraction_3d_ci95"]["ore"] is not None
    assert json.dumps(result.summary, default=str) == json.dumps(plain.summary, default=str)  # same keys, order
    for name, table in plain.tables().items():
        other = result.tables()[name]
        if table is None:
            assert other is None
            continue
        assert list(other.columns) == list(table.columns), name
        for col in table.columns:
            a, b = table[col].to_numpy(), other[col].to_numpy()
            assert np.array_equal(a, b) or np.allclose(a.astype(float), b.astype(float), equal_nan=True,
                                                       rtol=0, atol=0), (name, col)


@pytest.mark.slow
def test_dead_worker_falls_back_to_this_process():
    from concurrent.futures import wait

    from liberation.report._render import Renderer, render_gallery

    with Renderer(processes=1) as renderer:
        job = renderer.submit(_kill_self)  # never .result(): inline, it would kill this process
        wait([job._future])
        out = renderer.submit(render_gallery, []).result()
        assert out == {} and not renderer.parallel


def _kill_self():
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
