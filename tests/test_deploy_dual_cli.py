"""CLI ``dual-energy train|evaluate|export`` on tiny synthetic data, and the folder reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from liberation.cli.deploy_dual import dual_energy  # noqa: E402
from liberation.deploy.dual_energy.io import read_dual_energy_folder, write_dual_energy_folder  # noqa: E402
from liberation.deploy.dual_energy.synthetic import make_dual_energy_set  # noqa: E402
from liberation.errors import FileFormatError, OverwriteError  # noqa: E402

pytestmark = pytest.mark.deploy


def test_folder_roundtrip(tmp_path):
    s = make_dual_energy_set(6, size=16, seed=0)
    root = write_dual_energy_folder(tmp_path / "pairs", s.stack(), s.label)
    images, labels, names = read_dual_energy_folder(root, size=None)
    assert images.shape == (6, 2, 16, 16) and len(names) == 6
    # same multiset of (label, image) pairs, up to 16-bit quantisation
    got = sorted((int(lab), round(float(im.sum()), 1)) for lab, im in zip(labels, images))
    want = sorted((int(lab), round(float(im.sum()), 1)) for lab, im in zip(s.label, s.stack()))
    assert [g[0] for g in got] == [w[0] for w in want]
    np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], atol=0.2)
    resized, _, _ = read_dual_energy_folder(root, size=8)
    assert resized.shape == (6, 2, 8, 8)
    with pytest.raises(OverwriteError):
        write_dual_energy_folder(root, s.stack(), s.label)
    with pytest.raises(FileFormatError, match="no image pairs"):
        read_dual_energy_folder(tmp_path)


@pytest.mark.slow
def test_train_evaluate_export(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--synthetic", "24", "--size", "16", "--widths", "4,8", "--head-layers", "2", "--epochs", "2",
            "--batch-size", "8", "--out", str(out)]
    r = runner.invoke(dual_energy, args)
    assert r.exit_code == 0, r.output
    assert "R-value baseline" in r.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_val"] == 24 and 0 <= metrics["model"]["auc"] <= 1
    assert (out / "history.csv").read_text().startswith("epoch,loss")
    r = runner.invoke(dual_energy, args)
    assert isinstance(r.exception, OverwriteError)
    # evaluate on a folder written from other synthetic fragments
    s = make_dual_energy_set(10, size=16, seed=9)
    data = write_dual_energy_folder(tmp_path / "pairs", s.stack(), s.label)
    r = runner.invoke(dual_energy, ["evaluate", str(out), "--data", str(data), "--size", "16",
                                    "--out", str(tmp_path / "eval.json")])
    assert r.exit_code == 0, r.output
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["model"]["n"] == 10 and ev["r_value_baseline"]["n"] == 10
    pytest.importorskip("onnxruntime")
    r = runner.invoke(dual_energy, ["export", str(out), "--out", str(tmp_path / "m.onnx"), "--size", "16"])
    assert r.exit_code == 0, r.output
    assert "onnxruntime vs torch" in r.output and (tmp_path / "m.onnx").stat().st_size > 0
