"""The report drawn in a worker process (liberation.report._render) gives the same files as inline."""

from __future__ import annotations

import pytest

from tests.test_report_gallery import minerals, phantom


@pytest.mark.slow
def test_worker_process_writes_the_same_report(tmp_path, monkeypatch):
    from liberation.report._render import Renderer
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
    names = sorted(p.name for p in inline.iterdir() if not p.name.startswith("."))  # not the output marker
    assert names == sorted(p.name for p in worker.iterdir() if not p.name.startswith("."))
    assert "report.pdf" in names and sum(n.startswith("gallery_") and n.endswith(".png") for n in names) == 8
    for name in names:
        a, b = (inline / name).read_bytes(), (worker / name).read_bytes()
        assert a == b, name


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
