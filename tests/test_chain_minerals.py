"""Mineral names along the chain (labels folder -> labels/sparse -> card -> labels/phases -> report) and the
report's refusals: minerals without a density, particle volume without a phase, model voxel size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.io import create_store, open_store
from liberation.metrics import IGNORE


def _minerals_csv(folder, rows):
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "minerals.csv", index=False)
    return folder / "labels.tif"


def test_label_minerals_merge_by_name_and_unnamed_clusters(tmp_path):
    from liberation.workflows._minerals import merge_properties, read_label_minerals, relabel

    # two K-means runs number the same minerals differently; the second has a cluster no reference named
    top = _minerals_csv(tmp_path / "top", [
        {"id": 1, "name": "spodumene", "color": "#2ca02c", "density": 3.15, "clusters": "1",
         "elements": json.dumps({"Si": 30.18})},
        {"id": 2, "name": "quartz", "color": "#d9d9d9", "density": 2.65, "clusters": "2"}])
    bottom = _minerals_csv(tmp_path / "bottom", [
        {"id": 1, "name": "quartz", "color": "#aaaaaa", "density": 2.65, "clusters": "1"},
        {"id": 2, "name": "cluster 2", "color": "#ffe119", "density": None, "clusters": "2"},
        {"id": 3, "name": "mystery", "color": "#4363d8", "density": None, "clusters": "3"},
        {"id": 4, "name": "spodumene", "color": "#2ca02c", "density": 3.15, "clusters": "4"}])
    props_top, unnamed_top = read_label_minerals(top)
    assert unnamed_top == [] and props_top[0]["elements"] == {"Si": 30.18} and props_top[0]["density"] == 3.15
    merged, remap = merge_properties([], props_top)
    assert remap == {1: 1, 2: 2}
    props_bottom, unnamed = read_label_minerals(bottom)
    assert unnamed == [2]
    assert "density" not in next(p for p in props_bottom if p["name"] == "mystery")
    merged, remap = merge_properties(merged, props_bottom)
    assert remap == {1: 2, 4: 1, 3: 3}  # by name; the new mineral keeps its free id
    assert [(p["label-value"], p["name"]) for p in merged] == [(1, "spodumene"), (2, "quartz"), (3, "mystery")]
    assert merged[1]["color"] == "#d9d9d9"  # the store's entry is kept
    label_map = np.array([[0, 1, 2], [3, 4, 9]], np.uint8)
    out, unknown = relabel(label_map, remap, unnamed=unnamed)
    assert out.tolist() == [[0, 2, IGNORE], [3, 1, IGNORE]]  # the unnamed cluster is no class: 255
    assert unknown == [9]
    # one name, two densities: refused
    with pytest.raises(InputError, match="quartz.*2.7"):
        merge_properties(merged, [{"label-value": 1, "name": "quartz", "density": 2.7}])
    assert read_label_minerals(tmp_path / "none" / "labels.tif") is None


def test_minerals_for_report_stand_in_density():
    from liberation.workflows._minerals import minerals_for_report

    props = [{"label-value": 1, "name": "a", "density": 3.0}, {"label-value": 2, "name": "b"},
             {"label-value": 3, "name": "c", "density": 2.0}]
    minerals, missing, stand_in = minerals_for_report(props)
    assert missing == ["b"] and stand_in == pytest.approx(2.5) and minerals["b"].density == pytest.approx(2.5)
    minerals, missing, stand_in = minerals_for_report([{"label-value": 1, "name": "x"}, {"label-value": 2, "name": "y"}])
    assert missing == ["x", "y"] and stand_in == 1.0
    assert minerals_for_report(props[:1])[1:] == ([], None)


def _store(path, *, hole: int, properties):
    """Two cubic particles of phases 1 and 2; ``hole`` voxels of phase 0 inside particle 1."""
    phases = np.zeros((24, 24, 24), np.uint8)
    part = np.zeros((24, 24, 24), np.uint32)
    phases[4:12, 4:12, 4:12], part[4:12, 4:12, 4:12] = 1, 1
    phases[14:20, 12:20, 12:20], part[14:20, 12:20, 12:20] = 2, 2
    phases.reshape(-1)[np.flatnonzero(part.reshape(-1) == 1)[:hole]] = 0
    store = create_store(path, phases.astype(np.uint16) * 1000 + 100, voxel_size_um=10.0)
    store = open_store(path, mode="r+")
    store.write_label("phases", phases, properties=properties)
    store.write_label("particles", part)
    return path, int((part > 0).sum())


PROPS = [{"label-value": 1, "name": "spodumene", "density": 3.15, "color": "#2ca02c"},
         {"label-value": 2, "name": "quartz", "density": 2.65, "color": "#d9d9d9"}]


def test_report_refuses_over_ten_percent_unassigned(tmp_path):
    from liberation.workflows.report_store import run_report

    path, _ = _store(tmp_path / "c.zarr", hole=100, properties=PROPS)  # 100 of 896 voxels: 11.2 %
    with pytest.raises(InputError, match=r"11.2 % of the particle volume.*--allow-unassigned"):
        run_report(path, tmp_path / "rc")
    assert not (tmp_path / "rc").exists()


@pytest.mark.slow
def test_report_states_unassigned_particle_volume(tmp_path):
    from liberation.cli import main
    from liberation.workflows.report_store import run_report

    # 512 + 384 = 896 particle voxels; 5 unassigned (0.56 %): stated, no warning
    path, total = _store(tmp_path / "a.zarr", hole=5, properties=PROPS)
    run = run_report(path, tmp_path / "ra")
    sample = json.loads((tmp_path / "ra" / "summary.json").read_text())["sample"]
    assert sample["unassigned_particle_volume"] == {"voxels": 5, "particle_voxels": total, "fraction": 5 / total}
    assert run.warnings == ()
    assert "Particle volume without a phase" in (tmp_path / "ra" / "report.html").read_text()
    # 45 voxels (5.0 %): a warning line
    path, total = _store(tmp_path / "b.zarr", hole=45, properties=PROPS)
    run = run_report(path, tmp_path / "rb")
    assert len(run.warnings) == 1 and "5.0 % of the particle volume" in run.warnings[0]
    # 100 voxels (11.2 %): refused unless --allow-unassigned; nothing written
    path, total = _store(tmp_path / "c.zarr", hole=100, properties=PROPS)
    with pytest.raises(InputError, match=r"11.2 % of the particle volume.*--allow-unassigned"):
        run_report(path, tmp_path / "rc")
    assert not (tmp_path / "rc").exists()
    assert main(["-q", "report", str(path), "--out", str(tmp_path / "rc")]) == 2
    assert main(["-q", "report", str(path), "--out", str(tmp_path / "rc"), "--allow-unassigned"]) == 0
    sample = json.loads((tmp_path / "rc" / "summary.json").read_text())["sample"]
    assert sample["unassigned_particle_volume"]["voxels"] == 100


@pytest.mark.slow
def test_report_mineral_without_density_uses_stand_in(tmp_path, capsys):
    from liberation.cli import main

    props = [PROPS[0], {"label-value": 2, "name": "mystery", "color": "#4363d8"}]
    path, _ = _store(tmp_path / "s.zarr", hole=0, properties=props)
    assert main(["report", str(path), "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "no density for mystery" in err and "3.15 g/cm³" in err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["sample"]["minerals_without_density"] == ["mystery"]
    modal = __import__("pandas").read_csv(tmp_path / "r" / "modal.csv").set_index("mineral")
    # equal (stand-in) densities: mass % = volume % (512 vs 384 voxels)
    assert modal.loc["mystery", "volume_percent"] == pytest.approx(100 * 384 / 896)
    assert modal.loc["mystery", "mass_percent"] == pytest.approx(100 * 384 / 896)
    # no names at all: refused with a command-line hint, not a Python one
    path, _ = _store(tmp_path / "n.zarr", hole=0, properties=None)
    assert main(["report", str(path), "--out", str(tmp_path / "rn")]) == 2
    err = capsys.readouterr().err
    assert "register --labels" in err and "minerals=" not in err


def test_check_voxel_size():
    from liberation.workflows.segment import check_voxel_size

    assert check_voxel_size([10, 10, 10], [10.5, 10.5, 10.5], model="m", store="s") == pytest.approx(0.5 / 10.5)
    with pytest.raises(InputError, match=r"trained at voxel size 10 x 10 x 10 µm but s.zarr has 2.296 x 2.296 x "
                                         r"2.296 µm.*--ignore-voxel-size"):
        check_voxel_size([10, 10, 10], [2.296] * 3, model="model/", store="s.zarr")
    assert check_voxel_size([10, 10, 10], [2.296] * 3, model="m", store="s", ignore=True) > 3
