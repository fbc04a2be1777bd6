"""`liberation labels xrf` and `liberation labels sem`: output files, overwrite refusal, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from liberation.cli import main
from liberation.io.sem import write_mineral_list
from liberation.io.xrf import write_xrf_maps
from liberation.labels import pixel_accuracy
from liberation.minerals import lithium_slag
from liberation.synthetic.xrf import (
    deep_xfct_minerals,
    deep_xfct_signatures,
    make_face,
    make_sem_map,
    make_xrf_maps,
)

XRF_FILES = {"labels.tif", "clusters.tif", "minerals.csv", "centroids.csv", "abundance.csv", "assignment.csv",
             "labels.png", "centroids.png", "parameters.json"}


@pytest.fixture(scope="module")
def xrf_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("xrf")
    phases = make_face((256, 256), abundances=[1, 1, 1, 1, 1, 1], grain_size_px=32, seed=4)
    data = make_xrf_maps(phases, deep_xfct_signatures(), minerals=deep_xfct_minerals(), seed=5)
    maps_dir = write_xrf_maps(root / "maps", data.maps, format="tif")
    reference = root / "signatures.csv"
    deep_xfct_signatures().reset_index().to_csv(reference, index=False)
    minerals = write_mineral_list(root / "minerals.csv", deep_xfct_minerals())
    return root, maps_dir, reference, minerals, data


def test_labels_xrf_writes_the_files(xrf_case, capsys):
    root, maps_dir, reference, minerals, data = xrf_case
    out = root / "out"
    rc = main(["-q", "labels", "xrf", str(maps_dir), "--pixel-size", "40", "--clusters", "6", "--reference",
               str(reference), "--minerals", str(minerals), "--denoise", "Na,Mg", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert XRF_FILES <= {p.name for p in out.iterdir()}
    labels = tifffile.imread(out / "labels.tif")
    assert labels.dtype == np.uint8 and labels.shape == data.truth.shape
    assert set(np.unique(labels)) <= set(range(7))
    assert pixel_accuracy(labels, data.truth, mask=data.truth > 0) >= 0.9
    table = pd.read_csv(out / "minerals.csv")
    assert {"id", "name", "color"} <= set(table.columns)
    assert sorted(table["name"]) == sorted(deep_xfct_signatures().index)
    centroids = pd.read_csv(out / "centroids.csv")
    assert {"cluster", "mineral", "Al", "Si", "percent"} <= set(centroids.columns)
    abundance = pd.read_csv(out / "abundance.csv")
    assert abundance["percent"].sum() == pytest.approx(100.0)
    with tifffile.TiffFile(out / "labels.tif") as tif:
        xres = tif.pages[0].tags["XResolution"].value
    assert xres[1] / xres[0] == pytest.approx(40.0)
    assert not [p for p in root.iterdir() if p.name.startswith(".out")]  # no temporary folder left


def test_labels_xrf_refuses_to_overwrite(xrf_case, capsys):
    root, maps_dir, _, _, _ = xrf_case
    out = root / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    args = ["-q", "labels", "xrf", str(maps_dir), "--pixel-size", "40", "--clusters", "3", "--n-init", "1",
            "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--overwrite" in err and "Traceback" not in err
    assert (out / "keep.txt").read_text() == "old"
    # --overwrite never replaces a folder that liberation did not write (issue 15)
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "not written by liberation" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "old"
    (out / "keep.txt").unlink()
    out.rmdir()
    assert main(args) == 0
    (out / "keep.txt").write_text("old")
    assert main([*args, "--overwrite"]) == 0  # liberation's own output is replaced
    assert not (out / "keep.txt").exists() and (out / "labels.tif").exists()
    names = pd.read_csv(out / "minerals.csv")["name"].tolist()
    assert names == ["cluster 1", "cluster 2", "cluster 3"]


def test_labels_xrf_bad_inputs(xrf_case, tmp_path, capsys):
    _, maps_dir, _, _, data = xrf_case
    odd = write_xrf_maps(tmp_path / "odd", {"Fe": data.maps["Fe"], "Si": data.maps["Si"][:-1]}, format="tif")
    assert main(["labels", "xrf", str(odd), "--pixel-size", "40", "--clusters", "3", "--out",
                 str(tmp_path / "o1")]) == 2
    assert "Si.tif (63, 64)" in capsys.readouterr().err
    bad_ref = tmp_path / "bad.csv"
    bad_ref.write_text("mineral,Fe,Unobtainium\na,1,2\nb,3,4\n")
    assert main(["labels", "xrf", str(maps_dir), "--pixel-size", "40", "--clusters", "2", "--reference",
                 str(bad_ref), "--out", str(tmp_path / "o2")]) == 2
    assert "Unobtainium" in capsys.readouterr().err
    assert main(["labels", "xrf", str(maps_dir), "--clusters", "2", "--out", str(tmp_path / "o3")]) == 2
    assert "--pixel-size" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_labels_sem_writes_the_files(tmp_path, capsys):
    phases = make_face((96, 96), abundances=[1, 2, 1], grain_size_px=14, seed=6)
    sem = make_sem_map(phases, lithium_slag(), unknown_fraction=0.01, seed=7)
    Image.fromarray(sem.rgb).save(tmp_path / "mla.png")
    listing = write_mineral_list(tmp_path / "list.csv", lithium_slag())
    out = tmp_path / "sem_out"
    rc = main(["-q", "labels", "sem", str(tmp_path / "mla.png"), "--minerals", str(listing), "--pixel-size", "2.3",
               "--out", str(out)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "match no mineral" in captured.err
    assert {"labels.tif", "minerals.csv", "abundance.csv", "labels.png", "unknown_colours.csv"} <= {
        p.name for p in out.iterdir()}
    labels = tifffile.imread(out / "labels.tif")
    np.testing.assert_array_equal(labels[~sem.unknown], phases[~sem.unknown])
    assert pd.read_csv(out / "unknown_colours.csv")["color"].tolist() == ["#ff00ff"]
    assert main(["labels", "sem", str(tmp_path / "mla.png"), "--minerals", str(listing), "--pixel-size", "2.3",
                 "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    clash = tmp_path / "clash.csv"
    clash.write_text("name,color,density\na,#ff0000,2.6\nb,#ff0000,2.7\n")
    assert main(["labels", "sem", str(tmp_path / "mla.png"), "--minerals", str(clash), "--pixel-size", "2.3",
                 "--out", str(tmp_path / "o")]) == 2
    assert "colour clash" in capsys.readouterr().err


def test_labels_xrf_with_rules(xrf_case):
    root, maps_dir, _, minerals, data = xrf_case
    out = root / "rules_out"
    rules = ("illite: highest K; ankerite: highest Ca; clinochlore: highest Mg; quartz: highest Si; "
             "albite: highest Na; laumontite: remaining")
    assert main(["-q", "labels", "xrf", str(maps_dir), "--pixel-size", "40", "--clusters", "6", "--rules", rules,
                 "--minerals", str(minerals), "--out", str(out)]) == 0
    labels = tifffile.imread(out / "labels.tif")
    assert pixel_accuracy(labels, data.truth, mask=data.truth > 0) >= 0.9
    assignment = pd.read_csv(out / "assignment.csv")
    assert set(assignment["reason"]) >= {"highest K", "remaining"}


def test_labels_xrf_multipage_tiff_and_naming_options(xrf_case, tmp_path, capsys):
    """A multi-page TIFF without page names, named by --elements; 12 clusters for 6 minerals:
    many-to-one naming keeps the accuracy (0.93 here; 0.81 with 6 clusters on this 64 x 64 map of
    8-pixel grains), one-to-one leaves 6 clusters unassigned."""
    root, _, reference, minerals, data = xrf_case
    elements = list(data.maps)
    pages = tmp_path / "eds.tif"
    with tifffile.TiffWriter(pages) as tif:
        for e in elements:
            tif.write(data.maps[e].astype(np.float32))
    common = ["-q", "labels", "xrf", str(pages), "--pixel-size", "40", "--clusters", "12", "--n-init", "2",
              "--reference", str(reference), "--minerals", str(minerals)]
    assert main([*common, "--out", str(tmp_path / "x")]) == 2
    assert "--elements" in capsys.readouterr().err
    assert main([*common, "--elements", ",".join(elements[:-1]), "--out", str(tmp_path / "x")]) == 2
    assert f"{len(elements)} pages without names" in capsys.readouterr().err
    out = tmp_path / "many"
    assert main([*common, "--elements", ",".join(elements), "--naming", "many-to-one", "--out", str(out)]) == 0
    labels = tifffile.imread(out / "labels.tif")
    assert pixel_accuracy(labels, data.truth, mask=data.truth > 0) >= 0.9
    assert json.loads((out / "parameters.json").read_text())["naming"] == "nearest"
    out1 = tmp_path / "one"
    assert main([*common, "--elements", ",".join(elements), "--naming", "one-to-one", "--no-refine",
                 "--out", str(out1)]) == 0
    assignment = pd.read_csv(out1 / "assignment.csv")
    assert assignment["mineral"].isna().sum() == 6
    assert main([*common, "--elements", ",".join(elements), "--max-z", "-1", "--out", str(tmp_path / "z")]) == 2
    assert "--max-z -1.0" in capsys.readouterr().err
