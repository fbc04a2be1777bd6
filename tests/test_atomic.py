import pytest

from liberation._atomic import MARKER_NAME, atomic_dir, atomic_file
from liberation.errors import OverwriteError


def test_atomic_dir_moves_into_place_and_refuses_overwrite(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "1"
    with pytest.raises(OverwriteError, match="already exists"):
        with atomic_dir(out):
            pass
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [MARKER_NAME, "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_keeps_the_old_result(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    (out / MARKER_NAME).write_text('{"format": "liberation-output"}')
    with pytest.raises(RuntimeError):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in out.iterdir()) == [MARKER_NAME, "old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_file(tmp_path):
    path = tmp_path / "t.json"
    with atomic_file(path) as tmp:
        tmp.write_text("{}")
    assert path.read_text() == "{}"
    with pytest.raises(RuntimeError):
        with atomic_file(path, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert path.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.json.liberation-output.json", "t.json"]
