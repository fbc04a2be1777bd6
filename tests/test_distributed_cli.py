"""``liberation report`` on Dask distributed (``--workers`` / ``--scheduler``), issue 22; the option errors.

Truth: the local run of the same command. The report folders must be byte-identical (every
CSV, PNG, report.html and summary.json) but for the time stamps (the folder marker's and the
"Generated" line of report.html). A worker killed mid-run must not change the result.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from _stats_phantoms import random_particles

from liberation.cli import main
from liberation.io import create_store
from liberation.minerals import spodumene_ore

distributed = pytest.importorskip("distributed")

REPORT_ARGS = ["--no-pdf", "--bootstrap", "100", "--section-spacing", "6", "--size-classes", "60,120",
               "--allow-unassigned"]


def make_store(path: Path) -> Path:
    """Touching irregular particles of 3 phases in a 40 x 48 x 44 volume, chunks of 16 (27 blocks per pass)."""
    pid, ph = random_particles(seed=6)
    ct = (ph.astype(np.uint16) * 1000 + 100).astype(np.uint16)
    store = create_store(path, ct, voxel_size_um=10.0, chunks=16)
    store.write_label("phases", ph, minerals=spodumene_ore())
    store.write_label("particles", pid)
    return path


GENERATED = re.compile(rb"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a report folder; the time stamps (folder marker, 'Generated ...' in report.html) taken out."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    marker = json.loads(files.pop(".liberation-output.json"))
    assert marker.pop("time")
    files[".liberation-output.json"] = json.dumps(marker, sort_keys=True).encode()
    html, n = GENERATED.subn(b"Generated (time)", files["report.html"])
    assert n == 1
    files["report.html"] = html
    return files


def assert_same_report(got: Path, ref: Path) -> None:
    a, b = folder_bytes(got), folder_bytes(ref)
    assert sorted(a) == sorted(b)
    assert {"particles.csv", "grain_sizes.csv", "association.csv", "report.html", "summary.json"} <= set(a)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"differ from the local run: {differ}"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("dist") / "sample.zarr")


@pytest.fixture(scope="module")
def local_report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "report"
    assert main(["-q", "report", str(store), "--out", str(out), *REPORT_ARGS]) == 0
    return out


@pytest.fixture
def thread_cluster():
    """An in-process cluster (2 workers of 1 thread, no processes) on TCP: quick, for the --scheduler path."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ report
@pytest.mark.slow
def test_report_on_a_running_scheduler_is_identical(store, local_report, thread_cluster, tmp_path):
    out = tmp_path / "report"
    assert main(["-q", "report", str(store), "--out", str(out), *REPORT_ARGS,
                 "--scheduler", thread_cluster.scheduler_address]) == 0
    assert_same_report(out, local_report)
    assert thread_cluster.scheduler_address.startswith("tcp://")
    assert thread_cluster.scheduler.transition_counter > 0  # the block tasks ran on the cluster


@pytest.mark.slow
def test_report_workers_is_identical(store, local_report, tmp_path):
    """``--workers 2``: a local cluster of 2 processes, opened and closed by the command (~10 s)."""
    out = tmp_path / "report"
    assert main(["-q", "report", str(store), "--out", str(out), *REPORT_ARGS, "--workers", "2"]) == 0
    assert_same_report(out, local_report)


class KillOneWorker(distributed.diagnostics.plugin.SchedulerPlugin):
    """Kill the process of one worker (SIGKILL) as soon as the first task result is in memory."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.killed: str | None = None
        self.removed: list[str] = []
        self.done_after_kill = 0

    def transition(self, key, start, finish, *args, **kwargs):
        if finish != "memory":
            return
        if self.killed is None:
            self.killed = next(iter(self.pids))
            os.kill(self.pids[self.killed], signal.SIGKILL)
        else:
            self.done_after_kill += 1

    def remove_worker(self, scheduler, worker, **kwargs):
        self.removed.append(worker)


@pytest.mark.slow
def test_report_survives_a_killed_worker(store, local_report, tmp_path):
    """2 worker processes, one killed (SIGKILL) after the first task: the run completes, same report (~15 s)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        with distributed.Client(c) as client:
            pids = client.run(os.getpid)
        plugin = KillOneWorker(pids)
        c.scheduler.add_plugin(plugin)
        out = tmp_path / "report"
        assert main(["-q", "report", str(store), "--out", str(out), *REPORT_ARGS,
                     "--scheduler", c.scheduler_address]) == 0
    assert plugin.killed is not None and plugin.killed in plugin.removed
    assert plugin.done_after_kill > 0  # the run went on after the kill
    assert_same_report(out, local_report)


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("args, words", [
    (["--workers", "0"], ["--workers", "0"]),
    (["--workers", "-2"], ["--workers", "-2"]),
    (["--workers", "two"], ["--workers", "two"]),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], ["--workers", "--scheduler", "one of them"]),
    (["--scheduler", " "], ["--scheduler", "address"]),
])
@pytest.mark.parametrize("command", ["report", "segment"])
def test_bad_cluster_options_are_one_line_errors(command, args, words, store, tmp_path, capsys):
    extra = ["--out", str(tmp_path / "r")] if command == "report" else ["--model", str(tmp_path)]
    assert main([command, str(store), *extra, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "r").exists()


def test_unreachable_scheduler_fails_fast(store, tmp_path, capsys, monkeypatch):
    import liberation.workflows.cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.perf_counter()
    assert main(["report", str(store), "--out", str(tmp_path / "r"), "--no-pdf", "--scheduler", address]) == 2
    assert time.perf_counter() - start < 4.0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --scheduler='{address}': no Dask scheduler answered within 1 s") and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_missing_distributed_extra_is_named(store, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["report", str(store), "--out", str(tmp_path / "r"), "--no-pdf", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'distributed' is required" in err and "pip install 'liberation[distributed]'" in err


def test_classical_segment_refuses_cluster_options(store, capsys):
    assert main(["segment", str(store), "--classical", "--classes", "2", "--workers", "2"]) == 2
    assert "--workers/--scheduler" in capsys.readouterr().err


def test_dask_client_closes_what_it_opened_and_keeps_the_callers(thread_cluster):
    from liberation.errors import InputError
    from liberation.workflows.cluster import dask_client

    with dask_client() as none:
        assert none is None
    with distributed.Client(thread_cluster) as own:
        with dask_client(own) as got:
            assert got is own
        assert own.status == "running"  # not closed: the caller's
        with pytest.raises(InputError, match="client= was given together with workers="):
            with dask_client(own, workers=2):
                pass
    with dask_client(scheduler=thread_cluster.scheduler_address) as client:
        assert client.submit(sum, [1, 2]).result() == 3
    assert client.status == "closed"
