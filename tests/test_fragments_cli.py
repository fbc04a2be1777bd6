"""CLI ``fragments``: label image / grey image / boxes in, fragments.csv + distribution.csv out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from click.testing import CliRunner

from liberation.cli.deploy_dual import fragments
from liberation.deploy.fragments.sizing import pixel_size_from_ruler
from liberation.deploy.fragments.synthetic import make_fragment_image
from liberation.errors import InputError, OverwriteError


@pytest.fixture(scope="module")
def scene():
    return make_fragment_image((256, 256), n_fragments=15, pixel_size_um=2000.0, x63_cm=5.0, seed=11)


def _ruler_arg(scene):
    return ",".join(f"{v:.6f}" for v in scene.ruler)


def test_labels_with_ruler(tmp_path, scene):
    src = tmp_path / "labels.tif"
    tifffile.imwrite(src, scene.labels.astype(np.uint16))
    out = tmp_path / "out"
    r = CliRunner().invoke(fragments, [str(src), "--ruler", _ruler_arg(scene), "--out", str(out), "--oversize", "8"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "fragments.csv")
    assert {"area_cm2", "ecd_cm", "length_cm", "width_cm"} <= set(df.columns)
    assert len(df) == len(scene.area_cm2)
    np.testing.assert_allclose(df["area_cm2"], scene.area_cm2, rtol=0.05)
    dist = pd.read_csv(out / "distribution.csv")
    assert list(dist.columns) == ["ecd_cm", "passing_pct"] and dist["passing_pct"].iloc[-1] == pytest.approx(100)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "labels" and summary["oversize"]["limit"] == 8.0
    assert summary["pixel_size_um"] == pytest.approx(pixel_size_from_ruler(*scene.ruler))
    assert (out / "distribution.png").stat().st_size > 0
    # existing output folder is refused without --overwrite, then replaced with it
    r2 = CliRunner().invoke(fragments, [str(src), "--pixel-size", "2", "--out", str(out)])
    assert isinstance(r2.exception, OverwriteError)
    r3 = CliRunner().invoke(fragments, [str(src), "--pixel-size", "2", "--out", str(out), "--overwrite"])
    assert r3.exit_code == 0, r3.output
    assert json.loads((out / "summary.json").read_text())["pixel_size_um"] == pytest.approx(2000.0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_grey_image_and_boxes(tmp_path, scene):
    grey = tmp_path / "belt.tif"
    tifffile.imwrite(grey, scene.image)
    out = tmp_path / "g"
    r = CliRunner().invoke(fragments, [str(grey), "--ruler", _ruler_arg(scene), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "fragments.csv")
    assert df["area_cm2"].sum() == pytest.approx(scene.area_cm2.sum(), rel=0.06)
    boxes = tmp_path / "boxes.csv"
    pd.DataFrame(scene.boxes, columns=["x0", "y0", "x1", "y1"]).to_csv(boxes, index=False)
    out2 = tmp_path / "b"
    r = CliRunner().invoke(fragments, [str(grey), "--boxes", str(boxes), "--pixel-size", "2", "--k", "0.75",
                                       "--out", str(out2)])
    assert r.exit_code == 0, r.output
    bd = pd.read_csv(out2 / "fragments.csv")
    w = scene.boxes[:, 2] - scene.boxes[:, 0]
    h = scene.boxes[:, 3] - scene.boxes[:, 1]
    np.testing.assert_allclose(bd["area_cm2"], 0.04 * w * h * 0.75)


def test_bad_arguments(tmp_path, scene):
    src = tmp_path / "labels.tif"
    tifffile.imwrite(src, scene.labels.astype(np.uint16))
    r = CliRunner().invoke(fragments, [str(src), "--out", str(tmp_path / "x")])
    assert isinstance(r.exception, InputError) and "--ruler" in str(r.exception)
    r = CliRunner().invoke(fragments, [str(src), "--ruler", "1,2,3", "--out", str(tmp_path / "x")])
    assert isinstance(r.exception, InputError) and "X0,Y0,X1,Y1,LENGTH_CM" in str(r.exception)


def test_through_liberation_cli(tmp_path, scene, capsys):
    from liberation.cli import cli, main

    deploy = cli.get_command(None, "deploy")
    assert deploy.get_command(None, "fragments") is not None
    src = tmp_path / "labels.tif"
    tifffile.imwrite(src, scene.labels.astype(np.uint16))
    (tmp_path / "o").mkdir()
    rc = main(["deploy", "fragments", str(src), "--pixel-size", "2", "--out", str(tmp_path / "o")])
    assert rc == 2 and "exists" in capsys.readouterr().err


def test_guess_input_kind(scene):
    from liberation.deploy.fragments.workflow import guess_kind as _guess_kind

    assert _guess_kind(scene.labels.astype(np.uint16)) == "labels"
    assert _guess_kind(scene.labels > 0) == "mask"
    assert _guess_kind((scene.labels > 0).astype(np.uint8) * 255) == "mask"
    photo = np.clip(scene.image * 255, 0, 255).astype(np.uint8)  # noisy 8-bit photo with dark pixels
    assert _guess_kind(photo) == "image"
    assert _guess_kind(scene.image) == "image"
