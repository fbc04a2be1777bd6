"""``convert`` and ``report`` killed with SIGKILL at several moments (issue 15).

Each run is a real subprocess (``python -m liberation``) killed while it writes: when its
hidden temporary appears, and after fixed delays. Checked after each kill: no output under
the final name (or, if the run finished first, a complete one); then the next run removes
the stale temporary (one warning line naming it), succeeds, and leaves no temporary behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.slow

MOMENTS = ("temporary", 0.2, 0.5, 1.0)


def _temporaries(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.tmp-*")) + sorted(final.parent.glob(f".{final.name}.old-*"))


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "liberation", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, LIBERATION_PROGRESS="0"))


def _kill_at(proc: subprocess.Popen, final: Path, moment) -> bool:
    """Kill ``proc`` at ``moment`` (seconds, or when the temporary of ``final`` appears); False if it ended first."""
    deadline = time.monotonic() + 60
    start = time.monotonic()
    while proc.poll() is None and time.monotonic() < deadline:
        if moment == "temporary" and _temporaries(final):
            break
        if moment != "temporary" and time.monotonic() - start >= moment:
            break
        time.sleep(0.005)
    if proc.poll() is not None:
        proc.communicate()
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    return True


def _check_rerun(args: list[str], cwd: Path, final: Path, killed: bool, had_temp: bool) -> None:
    proc = subprocess.run([sys.executable, "-m", "liberation", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, LIBERATION_PROGRESS="0"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    removed = [ln for ln in proc.stderr.splitlines() if "removed stale temporary" in ln]
    if killed and had_temp:
        assert len(removed) == 1 and final.name in removed[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert final.exists() and not _temporaries(final)


@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt") / "slices"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for z in range(96):
        tifffile.imwrite(folder / f"z{z:04d}.tif", rng.integers(0, 60000, (256, 256), dtype=np.uint16))
    return folder


@pytest.mark.parametrize("moment", MOMENTS, ids=[str(m) for m in MOMENTS])
def test_killed_convert(slices, tmp_path, moment):
    final = tmp_path / "s.zarr"
    args = ["convert", str(slices), str(final), "--voxel-size", "10", "--chunks", "32"]
    proc = _start(args, tmp_path)
    killed = _kill_at(proc, final, moment)
    had_temp = bool(_temporaries(final))
    if killed and final.exists() and not had_temp:
        # the kill landed after the atomic rename (the process was exiting): the output must be complete
        from liberation.io import open_store

        assert open_store(final).verify(deep=True)["arrays"]
        return
    if killed:
        assert not final.exists(), "a killed convert left an output under the final name"
    else:
        from liberation.io import open_store

        open_store(final).verify()
        return
    _check_rerun(args, tmp_path, final, killed, had_temp)
    from liberation.io import open_store

    report = open_store(final).verify(deep=True)
    assert report["arrays"]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    from liberation.workflows.demo import make_demo_store

    folder = tmp_path_factory.mktemp("interrupt_store")
    return make_demo_store(folder, size=48, seed=0)


@pytest.mark.parametrize("moment", MOMENTS, ids=[str(m) for m in MOMENTS])
def test_killed_report(demo_store, tmp_path, moment):
    final = tmp_path / "report"
    args = ["report", str(demo_store), "--out", str(final), "--sections", "z"]
    store_files = {p: p.read_bytes() for p in demo_store.rglob("*") if p.is_file()}
    proc = _start(args, tmp_path)
    killed = _kill_at(proc, final, moment)
    had_temp = bool(_temporaries(final))
    if killed:
        assert not final.exists(), "a killed report left an output under the final name"
        _check_rerun(args, tmp_path, final, killed, had_temp)
        assert (final / "report.html").is_file() and (final / "summary.json").is_file()
    else:
        assert (final / "report.html").is_file()
    assert {p: p.read_bytes() for p in demo_store.rglob("*") if p.is_file()} == store_files
