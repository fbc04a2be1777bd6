"""Data-loss cases of issue 15 at the library level: the overwrite rule, input/output overlap,
stale temporaries of interrupted (SIGKILLed) writers. Each case failed on the code before."""

import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from liberation._atomic import (
    MARKER_NAME,
    atomic_dir,
    atomic_file,
    check_new_output,
    check_output_not_input,
    find_temporaries,
    is_liberation_output,
    overwrite_message,
    remove_stale_temporaries,
    temp_sibling,
)
from liberation.errors import InputError, OutputOverlapError, OverwriteError, StoreError
from liberation.io import create_store, open_store


def tree_hash(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def scan(tmp_path):
    """A user's scan folder: scan/slices/ with 4 TIFF slices and scan/README.txt."""
    root = tmp_path / "scan"
    (root / "slices").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(4):
        tifffile.imwrite(root / "slices" / f"s_{i:03d}.tif", rng.integers(0, 4000, (16, 16), dtype=np.uint16))
    (root / "README.txt").write_text("my notes")
    return root


# ------------------------------------------------------------------------ overwrite rule
def test_overwrite_refuses_a_user_folder(scan):
    before = tree_hash(scan)
    with pytest.raises(OverwriteError, match="not written by liberation") as err:
        with atomic_dir(scan, overwrite=True) as tmp:
            (tmp / "x").write_text("1")
    assert str(scan) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(OverwriteError, match="not written by liberation"):
        create_store(scan, np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0, overwrite=True)
    assert tree_hash(scan) == before
    assert sorted(p.name for p in scan.parent.iterdir()) == ["scan"]  # no temporary left


def test_overwrite_refuses_a_user_file(tmp_path):
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.ones((3, 8, 8), np.uint16), photometric="minisblack")
    data = stack.read_bytes()
    with pytest.raises(OverwriteError, match="not written by liberation"):
        with atomic_file(stack, overwrite=True) as tmp:
            tmp.write_bytes(b"x")
    with pytest.raises(OverwriteError, match="not written by liberation"):
        create_store(stack, np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0, overwrite=True)
    assert stack.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]


def test_overwrite_replaces_liberation_outputs(tmp_path):
    out = tmp_path / "rep"
    with atomic_dir(out, kind="report folder") as tmp:
        (tmp / "a.txt").write_text("1")
    assert is_liberation_output(out) and (out / MARKER_NAME).is_file()
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [MARKER_NAME, "b.txt"]

    store = tmp_path / "s.zarr"
    create_store(store, np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0)
    assert is_liberation_output(store)
    create_store(store, np.ones((4, 4, 4), np.uint8), voxel_size_um=1.0, overwrite=True)
    assert open_store(store).image()[0, 0, 0] == 1

    card = tmp_path / "model.json"
    with atomic_file(card) as tmp:
        tmp.write_text("{}")
    assert is_liberation_output(card)
    with atomic_file(card, overwrite=True) as tmp:
        tmp.write_text('{"a": 1}')
    assert card.read_text() == '{"a": 1}'
    card.write_text("the user's own text, written over liberation's file")
    assert not is_liberation_output(card)
    with pytest.raises(OverwriteError, match="not written by liberation"):
        with atomic_file(card, overwrite=True) as tmp:
            tmp.write_text("{}")


def test_empty_folder_may_be_replaced_symlink_not(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OverwriteError, match="already exists; pass --overwrite"):
        check_new_output(empty, overwrite=False)
    with atomic_dir(empty, overwrite=True) as tmp:
        (tmp / "a").write_text("1")
    link = tmp_path / "link"
    link.symlink_to(empty)
    with pytest.raises(OverwriteError, match="symbolic link"):
        check_new_output(link, overwrite=True)


def test_one_wording_for_the_overwrite_error(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "keep.txt").write_text("x")
    messages = []
    for call in (
        lambda: check_new_output(user, overwrite=True, what="--out"),
        lambda: atomic_dir(user, overwrite=True, what="--out").__enter__(),
        lambda: atomic_file(user, overwrite=True, what="--out").__enter__(),
    ):
        with pytest.raises(OverwriteError) as err:
            call()
        messages.append(str(err.value))
    assert set(messages) == {overwrite_message(user, what="--out", reason="foreign")}
    store = create_store(tmp_path / "s.zarr", np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0)
    store.write_label("phases", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(OverwriteError) as err:
        store.write_label("phases", np.zeros((4, 4, 4), np.uint8))
    assert str(err.value) == overwrite_message(store.path / "labels" / "phases", what="label image")
    with pytest.raises(OverwriteError) as err:
        create_store(store.path, np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0)
    assert str(err.value) == overwrite_message(store.path, what="sample store")


# ------------------------------------------------------------------------ input/output overlap
def test_output_that_is_contains_or_lies_inside_an_input_is_refused(scan, tmp_path):
    slices = scan / "slices"
    before = tree_hash(scan)
    for out, word in ((slices, "is the input"), (scan, "contains the input"), (slices / "out", "lies inside"),
                      (tmp_path, "contains the input")):
        with pytest.raises(OutputOverlapError, match=word):
            check_output_not_input(out, [slices])
        with pytest.raises(OutputOverlapError, match=word):
            with atomic_dir(out, overwrite=True, inputs=[slices]):
                pass
        with pytest.raises(InputError, match=word):  # OutputOverlapError is an InputError
            create_store(out, np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0, overwrite=True, inputs=slices)
    link = tmp_path / "alias"
    link.symlink_to(scan)
    with pytest.raises(OutputOverlapError, match="contains the input"):
        check_output_not_input(link, [slices / "s_000.tif"])
    with pytest.raises(OutputOverlapError, match="is the input"):
        check_output_not_input(tmp_path / "stack.tif", tmp_path / "stack.tif")
    # a report next to its store, not inside and not around it
    check_output_not_input(tmp_path / "report", [tmp_path / "s.zarr"])
    assert tree_hash(scan) == before


def test_output_under_a_file_is_a_one_line_store_error(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StoreError, match="cannot write output folder") as err:
        with atomic_dir(tmp_path / "file.txt" / "out"):
            pass
    assert "\n" not in str(err.value)
    with pytest.raises(StoreError, match="cannot write sample store"):
        create_store(tmp_path / "file.txt" / "s.zarr", np.zeros((4, 4, 4), np.uint8), voxel_size_um=1.0)


# ------------------------------------------------------------------------ stale temporaries
def _writer(code: str) -> subprocess.Popen:
    """Start ``code`` in a python subprocess; return when it printed 'ready'."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    line = proc.stdout.readline()
    assert line.strip() == "ready", line
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def _hidden(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}.tmp-"))


def test_killed_writer_leaves_a_temporary_that_the_next_run_removes(tmp_path, caplog):
    out = tmp_path / "out"
    proc = _writer(f"""
        import time
        from liberation._atomic import atomic_dir
        with atomic_dir({str(out)!r}) as tmp:
            (tmp / "big.bin").write_bytes(b"0" * 100000)
            print("ready", flush=True)
            time.sleep(120)
    """)
    _kill(proc)
    assert not out.exists() and len(_hidden(tmp_path, "out")) == 1
    with caplog.at_level(logging.WARNING, logger="liberation"):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("1")
    assert _hidden(tmp_path, "out") == [] and (out / "a.txt").read_text() == "1"
    lines = [r.getMessage() for r in caplog.records if "stale temporary" in r.getMessage()]
    assert len(lines) == 1 and f"(pid {proc.pid})" in lines[0] and "interrupted run" in lines[0]


def test_temporary_of_a_running_writer_is_kept(tmp_path):
    out = tmp_path / "out"
    proc = _writer(f"""
        import time
        from liberation._atomic import atomic_dir
        with atomic_dir({str(out)!r}) as tmp:
            print("ready", flush=True)
            time.sleep(120)
    """)
    try:
        live = _hidden(tmp_path, "out")
        assert len(live) == 1
        assert remove_stale_temporaries(out) == []
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("1")
        assert _hidden(tmp_path, "out") == live  # the running writer's temporary is untouched
    finally:
        _kill(proc)
    assert [p.name for p in remove_stale_temporaries(out)] == live


def test_killed_create_store_and_write_label_are_cleaned_by_the_rerun(tmp_path, caplog):
    path = tmp_path / "s.zarr"
    proc = _writer(f"""
        import time
        import numpy as np
        from liberation.io import create_store
        def blocks():
            yield 0, np.ones((4, 16, 16), np.uint16)
            print("ready", flush=True)
            time.sleep(120)
        create_store({str(path)!r}, None, voxel_size_um=1.0, chunks=4, blocks=((8, 16, 16), np.uint16, blocks()))
    """)
    _kill(proc)
    assert not path.exists() and len(_hidden(tmp_path, "s.zarr")) == 1
    store = create_store(path, np.ones((8, 16, 16), np.uint16), voxel_size_um=1.0, chunks=4)
    assert _hidden(tmp_path, "s.zarr") == []

    proc = _writer(f"""
        import time
        import numpy as np
        import liberation.io.store as S
        original = S._write_array
        def slow(*a, **k):
            arr = original(*a, **k)
            print("ready", flush=True)
            time.sleep(120)
        S._write_array = slow
        S.open_store({str(path)!r}, mode="r+").write_label("phases", np.ones((8, 16, 16), np.uint8))
    """)
    _kill(proc)
    labels = path / "labels"
    assert len(_hidden(labels, "phases")) == 1
    with caplog.at_level(logging.WARNING, logger="liberation"):
        store = open_store(path, mode="r+")
        store.write_label("phases", np.full((8, 16, 16), 2, np.uint8))
    assert _hidden(labels, "phases") == [] and store.label_names == ["phases"]
    assert any("stale temporary" in r.getMessage() for r in caplog.records)


def test_moved_aside_output_is_restored_after_an_interruption(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("old")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)
    # killed between 'move the old output aside' and 'move the new one in'
    aside = temp_sibling(out, "old")
    aside = aside.with_name(aside.name.replace(f"-{os.getpid()}-", f"-{pid}-"))
    os.replace(out, aside)
    assert [t[1:] for t in find_temporaries(out)] == [("old", aside.name.split("-")[1], pid)]
    remove_stale_temporaries(out)
    assert (out / "a.txt").read_text() == "old" and find_temporaries(out) == []


def test_temporary_of_an_older_version_is_left_alone(tmp_path, caplog):
    legacy = tmp_path / ".out.tmp-0123abcd"
    legacy.mkdir()
    with caplog.at_level(logging.WARNING, logger="liberation"):
        assert remove_stale_temporaries(tmp_path / "out") == []
    assert legacy.is_dir() and "no writer recorded" in caplog.text
