"""`liberation segment --classical`: a first look without a trained model, and the report's
fallback using the same particle separation (issue 16, part 2)."""

import json

import numpy as np
import pytest
import tifffile

from liberation.cli import main
from liberation.io import create_store, open_store
from liberation.segmentation.metrics import instance_metrics
from liberation.synthetic import make_sample, touching_ellipsoids, touching_spheres
from liberation.workflows.classical import derive_store_particles

# seeds other than the one the separation was tuned on (seed 0; see docs/particles_classical.md)
PACKS = {
    "spheres": (touching_spheres, 0.05),
    "ellipsoids": (touching_ellipsoids, 0.10),
}


@pytest.mark.parametrize("kind", sorted(PACKS))
def test_segment_classical_counts_packs_within_target(tmp_path, kind, capsys):
    make, tolerance = PACKS[kind]
    pack = make(shape=(64, 64, 64), n_particles=20, seed=11)
    path = tmp_path / "s.zarr"
    create_store(path, pack.ct, voxel_size_um=pack.voxel_size_um)
    assert main(["segment", str(path), "--classical", "--classes", "2"]) == 0
    assert "labels/particles (" in capsys.readouterr().out
    store = open_store(path)
    found = np.asarray(store.label("particles")[...])
    m = instance_metrics(pack.particles, found)
    assert abs(m["count_error"]) <= tolerance, m
    assert m["f1"] >= 0.9, m
    phases = np.asarray(store.label("phases")[...])
    assert set(np.unique(phases).tolist()) == {0, 1}
    # the solid phase is the particles, up to the blurred boundary
    agreement = ((phases > 0) == (pack.particles > 0)).mean()
    assert agreement > 0.95


@pytest.mark.slow
def test_report_fallback_uses_the_same_separation(tmp_path):
    pack = touching_ellipsoids(shape=(56, 56, 56), n_particles=12, seed=3)
    path = tmp_path / "s.zarr"
    create_store(path, pack.ct, voxel_size_um=pack.voxel_size_um)
    assert main(["segment", str(path), "--classical", "--classes", "2"]) == 0
    store = open_store(path, mode="r+")
    written = np.asarray(store.label("particles")[...])
    derived, params = derive_store_particles(store.label("phases"), voxel_size_um=store.voxel_size_um)
    np.testing.assert_array_equal(derived, written)
    assert params["method"] == "relative_dynamic"
    # a second store with the phases only: the report derives the same particles
    only = tmp_path / "p.zarr"
    create_store(only, pack.ct, voxel_size_um=pack.voxel_size_um)
    open_store(only, mode="r+").write_label("phases", store.label("phases"),
                                            properties=store.label_properties("phases"))
    assert main(["report", str(only), "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["n_particles_total"] == int(written.max())


@pytest.mark.slow
def test_raw_single_phase_ct_convert_segment_report(tmp_path):
    sample = make_sample(shape=(48, 48, 48), voxel_size_um=10.0, seed=4)
    slices = tmp_path / "slices"
    slices.mkdir()
    for z, plane in enumerate(sample.ct):
        tifffile.imwrite(slices / f"slice_{z:04d}.tif", plane)
    store = tmp_path / "s.zarr"
    assert main(["convert", str(slices), str(store), "--voxel-size", "10"]) == 0
    assert main(["segment", str(store), "--classical", "--classes", "2"]) == 0
    assert main(["report", str(store), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").is_file()
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    n_true = int(sample.particles.max())
    assert abs(summary["n_particles_total"] - n_true) <= max(2, 0.15 * n_true)


def test_minerals_name_phases_by_increasing_grey_value(tmp_path):
    sample = make_sample(shape=(40, 40, 40), voxel_size_um=10.0, seed=2)
    path = tmp_path / "s.zarr"
    create_store(path, sample.ct, voxel_size_um=10.0)
    minerals = tmp_path / "minerals.csv"
    minerals.write_text("id,name,density,color\n1,quartz,2.65,#ffd700\n2,spodumene,3.15,#e6194b\n")
    assert main(["segment", str(path), "--classical", "--classes", "3", "--minerals", str(minerals)]) == 0
    store = open_store(path)
    names = {int(p["label-value"]): p["name"] for p in store.label_properties("phases")}
    assert names == {1: "quartz", 2: "spodumene"}
    phases = np.asarray(store.label("phases")[...])
    ct = np.asarray(store.image()[...])
    assert ct[phases == 1].mean() < ct[phases == 2].mean()


@pytest.mark.parametrize("args, message", [
    (["--classical"], "--classes"),
    (["--classical", "--classes", "2", "--model", "."], "no --model"),
    ([], "--model"),
    (["--classical", "--classes", "9"], "--classes"),
])
def test_classical_option_errors(tmp_path, capsys, args, message):
    sample = make_sample(shape=(24, 24, 24), voxel_size_um=10.0, seed=1)
    path = tmp_path / "s.zarr"
    create_store(path, sample.ct, voxel_size_um=10.0)
    assert main(["segment", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not open_store(path).has_label("phases")


def test_wrong_number_of_minerals_is_refused(tmp_path, capsys):
    sample = make_sample(shape=(24, 24, 24), voxel_size_um=10.0, seed=1)
    path = tmp_path / "s.zarr"
    create_store(path, sample.ct, voxel_size_um=10.0)
    minerals = tmp_path / "minerals.csv"
    minerals.write_text("id,name,density,color\n1,quartz,2.65,#ffd700\n")
    assert main(["segment", str(path), "--classical", "--classes", "3", "--minerals", str(minerals)]) == 2
    assert "list exactly 2" in capsys.readouterr().err
