"""``liberation register`` on a synthetic store: transform.json, QA PNGs, labels/sparse, refusals."""

import json

import numpy as np
import pytest
import tifffile

from liberation.cli import main
from liberation.registration import IGNORE, pixel_centre_rms_error
from liberation.synthetic.face import make_face_map, random_face_pose


@pytest.fixture(scope="module")
def sample(tmp_path_factory, face_phantom):
    from liberation.io import create_store

    root = tmp_path_factory.mktemp("reg")
    ph = face_phantom
    store = create_store(root / "s.zarr", ph.ct, voxel_size_um=10.0, pyramid_levels=1)  # CLI reads level 1
    # an older labelled plane far from the new one: must survive the merge
    old = np.full(ph.ct.shape, IGNORE, np.uint8)
    old[2] = 3
    store = type(store)(store.path, mode="r+")
    store.write_label("sparse", old)
    pose = random_face_pose(ph.ct.shape, 10.0, map_shape=(24, 24), pixel_size_um=40.0, axis=0, seed=1)
    pose["centre_um"][0] = 600.0
    fm = make_face_map(ph.phases, 10.0, map_shape=(24, 24), pixel_size_um=40.0, seed=1, **pose)
    tifffile.imwrite(root / "fe.tif", fm.map)
    tifffile.imwrite(root / "labels.tif", fm.labels)
    return root, fm


@pytest.mark.slow
def test_register_cli_writes_transform_qa_and_sparse(sample):
    root, fm = sample
    out = root / "out"
    rc = main(["-q", "register", str(root / "s.zarr"), str(root / "fe.tif"), "--pixel-size", "40", "--axis", "z",
               "--labels", str(root / "labels.tif"), "--out", str(out), "--threads", "1"])
    assert rc == 0
    payload = json.loads((out / "transform.json").read_text())
    matrix = np.array(payload["matrix"])
    assert matrix.shape == (4, 4)
    assert pixel_centre_rms_error(matrix, fm.matrix, (24, 24), 40.0) < 10.0
    for key in ("nmi", "mi", "overlap_area_um2", "poor_quality", "contrast"):
        assert key in payload
    assert payload["poor_quality"] is False
    for name in ("qa.png", "qa_edges.png", "qa_checkerboard.png"):
        assert (out / name).stat().st_size > 1000
    from liberation.io import open_store

    store = open_store(root / "s.zarr")
    sparse = np.asarray(store.label("sparse"))
    assert np.all(sparse[2] == 3)  # the old plane is kept
    new = sparse[3:] != IGNORE
    assert 0.5 * 24 * 24 * 16 < new.sum() < 2 * 24 * 24 * 16  # about one voxel per (4x4 voxel) map pixel area
    assert store.metadata["registrations"][-1]["matrix"] == payload["matrix"]
    # the pose's standard error travels with the quality figures into the store (a finite, sub-voxel value here)
    se = store.metadata["registrations"][-1]["quality"]["pose_se_vox"]
    assert se == payload["pose_se_vox"] and 0.0 <= se < 0.55
    # and the map's structure count (pixels that stand out from its main level): this map shows particles
    structure = store.metadata["registrations"][-1]["quality"]["structure_px"]
    assert structure == payload["structure_px"] and structure >= 25
    assert store.provenance[-1]["step"] == "register"

    # the output folder is not replaced without --overwrite
    rc = main(["-q", "register", str(root / "s.zarr"), str(root / "fe.tif"), "--pixel-size", "40", "--out", str(out)])
    assert rc == 2

    # the store with the merged labels/sparse is still valid OME-NGFF (independent validators)
    pytest.importorskip("ome_zarr_models")
    pytest.importorskip("ome_zarr")
    from _ngff import assert_valid_ngff

    assert set(assert_valid_ngff(root / "s.zarr")["labels"]) == {"sparse"}


def test_register_cli_errors(sample, capsys):
    root, _ = sample
    rc = main(["register", str(root / "s.zarr"), str(root / "fe.tif"), "--out", str(root / "o2")])
    assert rc == 2
    assert "pixel-size is missing" in capsys.readouterr().err
    flat = root / "flat.tif"
    tifffile.imwrite(flat, np.full((20, 20), 5, np.float32))
    rc = main(["register", str(root / "s.zarr"), str(flat), "--pixel-size", "40", "--out", str(root / "o3")])
    err = capsys.readouterr().err
    assert rc == 2 and "zero variance" in err and err.count("\n") == 1
    assert not (root / "o3").exists()


def test_register_workers_is_a_hidden_deprecated_alias_of_threads(sample, capsys, monkeypatch):
    """``register --workers`` (threads) warns and is passed on as --threads; ``report/segment --workers`` are
    Dask processes, so the register option is now ``--threads``."""
    import importlib

    from click.testing import CliRunner

    from liberation.cli import cli

    workflow = importlib.import_module("liberation.workflows.register")

    root, _ = sample
    seen = []
    monkeypatch.setattr(workflow, "register_map_file", lambda *a, **kw: seen.append(kw["workers"]) or 1 / 0)
    base = ["register", str(root / "s.zarr"), str(root / "fe.tif"), "--pixel-size", "40", "--out", str(root / "o4")]
    for extra, threads in ((["--workers", "3"], 3), (["--threads", "2"], 2), ([], None)):
        with pytest.raises(ZeroDivisionError):
            main(["-q", *base, *extra])
        assert seen[-1] == threads
        err = capsys.readouterr().err
        assert ("deprecated" in err and "--threads" in err) == (extra[:1] == ["--workers"])
    rc = main([*base, "--workers", "3", "--threads", "2"])
    assert rc == 2 and "disagree" in capsys.readouterr().err
    helptext = CliRunner().invoke(cli, ["register", "--help"]).output
    assert "--threads" in helptext and "--workers" not in helptext
