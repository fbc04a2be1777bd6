import subprocess
import sys

import numpy as np

from liberation import __version__
from liberation.cli import main
from liberation.io import create_store
from liberation.io.datasets import get_dataset, load_manifest
from liberation.minerals import spodumene_ore


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("report", "convert", "info", "demo", "data"):
        assert command in out


def test_unknown_command_fails(capsys):
    assert main(["frobnicate"]) != 0


def test_info_json(tmp_path, capsys):
    store = create_store(tmp_path / "s.zarr", np.zeros((4, 5, 6), np.uint16), voxel_size_um=2.0)
    store.write_label("phases", np.ones((4, 5, 6), np.uint8), minerals=spodumene_ore())
    assert main(["info", "--json", str(tmp_path / "s.zarr")]) == 0
    import json

    desc = json.loads(capsys.readouterr().out)
    assert desc["shape"] == [4, 5, 6] and desc["voxel_size_um"] == [2.0, 2.0, 2.0]
    assert desc["minerals"][0]["name"] == "spodumene"


def test_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "liberation", "info", str(tmp_path / "nope.zarr")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error:") and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_manifest(tmp_path, monkeypatch, capsys):
    names = [d.name for d in load_manifest()]
    assert names == ["kirstein-li-slag", "demo"]
    slag = get_dataset("kirstein-li-slag")
    assert slag.extra["voxel_size_um"] == 2.296 and slag.extra["dtype"] == "uint16"
    monkeypatch.setenv("LIBERATION_DATA", str(tmp_path))
    assert main(["data", "where", "kirstein-li-slag"]) == 2
    err = capsys.readouterr().err
    assert "not present" in err and str(tmp_path) in err and "LIBERATION_DATA" in err
    (tmp_path / "kirstein-li-slag").mkdir()
    assert main(["data", "where", "kirstein-li-slag"]) == 0
    assert str(tmp_path / "kirstein-li-slag") in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    assert "present" in capsys.readouterr().out


def test_manifest_demo_matches_generator():
    from liberation.synthetic import DEMO_PARAMETERS

    demo = get_dataset("demo")
    assert demo.present
    params = demo.extra["parameters"]
    for key, value in DEMO_PARAMETERS.items():
        assert params[key] == value
