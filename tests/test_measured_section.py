"""Measured section vs virtual CT section vs 3D (issue 20 A): exact truth on synthetic samples.

- the resampler (``labels_on_map_grid``) equals an independent route (``scipy.ndimage.map_coordinates``
  order 0 at pixel centres computed here from the pose);
- measured-section statistics equal those computed here, piece by piece with ``scipy.ndimage.label``;
- virtual == measured when segmentation and registration are exact; the difference grows with label
  noise and with pose error;
- perimeter exposure and boundary association of closed-form squares, counted by hand.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from liberation.minerals import Mineral, MineralList
from liberation.registration import labels_on_map_grid, pose_matrix
from liberation.stats import (
    association,
    boundary_association,
    compare_measured_section,
    cut_particle_association,
    particle_table,
    section_particles,
)
from liberation.synthetic import make_sample

P = 5.0  # µm pixel of the closed-form cases
TWO = MineralList([Mineral(1, "ore", density=4.0), Mineral(2, "gangue", density=2.5)])


# ----------------------------------------------------------------------------- closed forms
def _square(size=12, lo=2, hi=10, split=4):
    """An 8x8 particle at rows/cols lo..hi-1; columns < split are 'ore' (1), the rest 'gangue' (2)."""
    q = np.zeros((size, size), dtype=np.uint8)
    q[lo:hi, lo:hi] = 2
    q[lo:hi, lo:split] = 1
    return q


def test_perimeter_exposure_of_a_square_quarter_ore():
    # 8x8 square, ore = the left 2 columns: outer edges 32; ore's outer edges 8 (left) + 2 (top) + 2 (bottom)
    sec = section_particles(_square(split=4), pixel_size_um=P, minerals=TWO)
    t = sec.table
    assert len(t) == 1
    row = t.iloc[0]
    assert row["pixels"] == 64 and row["pixels_ore"] == 16 and row["pixels_gangue"] == 48
    assert row["perimeter_edges"] == 32 and row["perimeter_um"] == pytest.approx(32 * P)
    assert row["surface_ore"] == pytest.approx(12 / 32) and row["surface_gangue"] == pytest.approx(20 / 32)
    assert row["grade_ore"] == pytest.approx(0.25)
    assert row["area_um2"] == pytest.approx(64 * P * P)
    assert not row["touches_border"]
    # association by hand: the ore/gangue contact is one vertical line of 8 edges
    a = boundary_association(sec.edges, minerals=TWO, pixel_size_um=P).set_index(["mineral", "neighbour"])
    assert a.loc[("ore", "gangue"), "edges"] == 8 and a.loc[("ore", "void"), "edges"] == 12
    assert a.loc[("ore", "gangue"), "share"] == pytest.approx(8 / 20)
    assert a.loc[("gangue", "ore"), "share"] == pytest.approx(8 / 28)
    assert a.loc[("gangue", "void"), "length_um"] == pytest.approx(20 * P)


def test_perimeter_exposure_of_a_half_square_and_touching_particles():
    half = section_particles(_square(split=6), pixel_size_um=P, minerals=TWO).table.iloc[0]
    assert half["surface_ore"] == pytest.approx(0.5) and half["surface_gangue"] == pytest.approx(0.5)
    # two 4x4 particles side by side (ids 7 and 9): their contact is outside for each, as in 3D
    q = np.zeros((8, 12), dtype=np.uint8)
    q[2:6, 2:10] = 1
    ids = np.zeros_like(q, dtype=np.int64)
    ids[2:6, 2:6], ids[2:6, 6:10] = 7, 9
    t = section_particles(q, ids, pixel_size_um=P, minerals=TWO).table
    assert sorted(t["particle_id"]) == [7, 9]
    assert t["perimeter_edges"].tolist() == [16, 16] and np.allclose(t["surface_ore"], 1.0)
    # one particle id in two separate pieces (a U cut by the plane): two rows, one id
    q2 = np.zeros((8, 12), dtype=np.uint8)
    q2[2:6, 1:4] = 1
    q2[2:6, 7:10] = 2
    t2 = section_particles(q2, np.where(q2 > 0, 5, 0), pixel_size_um=P, minerals=TWO).table
    assert t2["particle_id"].tolist() == [5, 5] and t2["pixels"].tolist() == [12, 12]
    # a piece next to the image edge or to pixels outside the CT touches the border
    valid = np.ones_like(q2, dtype=bool)
    valid[:, 10:] = False
    t3 = section_particles(q2, pixel_size_um=P, minerals=TWO, valid=valid).table
    assert t3["touches_border"].tolist() == [False, True]


def test_section_particles_bad_inputs():
    from liberation.errors import InputError

    with pytest.raises(InputError, match="phases .*without a mineral"):
        section_particles(np.full((4, 4), 7, np.uint8), pixel_size_um=P, minerals=TWO)
    with pytest.raises(InputError, match="expected a 2D integer"):
        section_particles(np.zeros((2, 3, 4), np.uint8), pixel_size_um=P, minerals=TWO)
    with pytest.raises(InputError, match="pixel_size_um"):
        section_particles(np.zeros((4, 4), np.uint8), pixel_size_um=0, minerals=TWO)


# --------------------------------------------------------------------- synthetic sample truth
@pytest.fixture(scope="module")
def phantom():
    s = make_sample((40, 64, 64), voxel_size_um=10.0, esd_range_um=(60.0, 160.0), touching_fraction=0.3, seed=3)
    table = particle_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals,
                           surface="corrected", pores=False, exclude_border=False)
    return s, table


MAP_SHAPE = (56, 56)
PIX = 10.0
POSE = dict(axis=0, centre_um=(193.0, 318.0, 311.0), rotation_deg=23.0, mirror=False, tilt_deg=7.0,
            tilt_direction_deg=40.0)


def _plane_by_map_coordinates(volume, matrix, vs):
    """Independent route: pixel centres from the pose matrix, nearest voxel with map_coordinates(order=0)."""
    r, c = np.meshgrid(np.arange(MAP_SHAPE[0]) * PIX, np.arange(MAP_SHAPE[1]) * PIX, indexing="ij")
    local = np.stack([np.zeros_like(r), r, c, np.ones_like(r)])  # (4, H, W)
    world = np.einsum("ij,jhw->ihw", matrix, local)[:3]
    idx = world / np.asarray(vs)[:, None, None]
    inside = np.all((idx >= -0.5) & (idx <= np.array(volume.shape)[:, None, None] - 0.5), axis=0)
    vals = ndi.map_coordinates(np.asarray(volume), idx, order=0, mode="nearest")
    return np.where(inside, vals, 0), inside


def _truth(s, matrix=None):
    vs = s.voxel_size_um
    m = pose_matrix(map_shape=MAP_SHAPE, pixel_size_um=PIX, **POSE) if matrix is None else matrix
    q, inside = _plane_by_map_coordinates(s.phases, m, vs)
    ids, _ = _plane_by_map_coordinates(s.particles, m, vs)
    return m, q.astype(np.uint8), ids.astype(np.int64), inside


def _expected_pieces(q, ids, inside, minerals):
    """Per-piece counts by a loop over particle ids with ndimage.label (8-connected), edge pieces flagged."""
    rows = []
    out = np.pad(~inside, 1, constant_values=True)
    for pid in np.unique(ids[(q > 0) & inside]):
        lab, n = ndi.label((ids == pid) & (q > 0) & inside, structure=np.ones((3, 3)))
        for k in range(1, n + 1):
            mask = lab == k
            grown = ndi.binary_dilation(np.pad(mask, 1), structure=np.ones((3, 3)))
            row = {"particle_id": int(pid), "pixels": int(mask.sum()), "edge": bool((grown & out).any())}
            for m in minerals:
                row[m.name] = int((q[mask] == m.id).sum())
            rows.append(row)
    return pd.DataFrame(rows)


def _expected_stats(pieces, minerals, threshold=0.9):
    kept = pieces[~pieces["edge"]]
    a = kept[list(minerals.names)].to_numpy(float)
    tot = a.sum(axis=1)
    out = {}
    for j, name in enumerate(minerals.names):
        g = np.where(tot > 0, a[:, j] / np.maximum(tot, 1), 0)
        total = a[:, j].sum()
        has = a[:, j] > 0
        out[name] = {"liberated_fraction": a[g >= threshold, j].sum() / total if total else np.nan,
                     "mean_grade": a[has, j].sum() / tot[has].sum() if has.any() else np.nan,
                     "modal_percent": 100 * total / a.sum(), "n_particles": len(kept),
                     "n_with_mineral": int(has.sum())}
    return out


def test_resampler_equals_map_coordinates(phantom):
    s, _ = phantom
    m, q, ids, inside = _truth(s)
    assert inside.mean() > 0.9 and len(np.unique(ids)) > 5
    got_q, got_in = labels_on_map_grid(s.phases, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE,
                                       pixel_size_um=PIX)
    got_ids, _ = labels_on_map_grid(s.particles, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE,
                                    pixel_size_um=PIX)
    assert np.array_equal(got_in, inside) and np.array_equal(got_q, q) and np.array_equal(got_ids, ids)
    assert got_ids.dtype == s.particles.dtype  # ids copied, no float round trip


def test_measured_statistics_equal_truth_on_the_plane(phantom):
    s, table = phantom
    m, q, ids, inside = _truth(s)
    vq, _ = labels_on_map_grid(s.phases, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    vp, _ = labels_on_map_grid(s.particles, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    c = compare_measured_section(q, vq, vp, pixel_size_um=PIX, minerals=s.minerals, particle_table=table,
                                 valid=inside)
    pieces = _expected_pieces(q, ids, inside, s.minerals)
    got = c.measured.sort_values(["particle_id", "pixels"]).reset_index(drop=True)
    want = pieces.sort_values(["particle_id", "pixels"]).reset_index(drop=True)
    assert got["particle_id"].tolist() == want["particle_id"].tolist()
    assert got["pixels"].tolist() == want["pixels"].tolist()
    for mineral in s.minerals:
        assert got[f"pixels_{mineral.name}"].tolist() == want[mineral.name].tolist()
    assert got["touches_border"].tolist() == want["edge"].tolist()
    assert (~want["edge"]).sum() >= 4
    expected = _expected_stats(pieces, s.minerals)
    rows = c.summary[c.summary["source"] == "measured"].set_index("mineral")
    for name, values in expected.items():
        for key, v in values.items():
            assert rows.loc[name, key] == pytest.approx(v, nan_ok=True), (name, key)
    # 3D: exactly the particles with an included virtual piece, their volumes from the particle table
    cut = sorted(set(want.loc[~want["edge"], "particle_id"]))
    assert sorted(c.particles_3d["particle_id"]) == cut
    t3 = table.set_index("particle_id").loc[cut]
    r3 = c.summary[c.summary["source"] == "3D"].set_index("mineral")
    vox = t3[[f"voxels_{n}" for n in s.minerals.names]].to_numpy(float)
    for j, name in enumerate(s.minerals.names):
        assert r3.loc[name, "modal_percent"] == pytest.approx(100 * vox[:, j].sum() / vox.sum())


def test_per_size_class_equals_truth_of_each_class(phantom):
    """measured / virtual / 3D rows of each size class = the truth of the pieces whose 3D parent is in it."""
    s, _ = phantom
    table = particle_table(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals,
                           surface="corrected", pores=False, exclude_border=False, size_classes_um=(100.0, 130.0))
    m, q, ids, inside = _truth(s)
    vq, _ = labels_on_map_grid(s.phases, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    vp, _ = labels_on_map_grid(s.particles, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    c = compare_measured_section(q, vq, vp, pixel_size_um=PIX, minerals=s.minerals, particle_table=table,
                                 valid=inside)
    pieces = _expected_pieces(q, ids, inside, s.minerals)
    parent_class = table.set_index("particle_id")["size_class"]
    pieces["size_class"] = parent_class.reindex(pieces["particle_id"]).to_numpy()
    b = c.by_size
    assert list(dict.fromkeys(b["size_class"])) == [lab for lab in ("<100", "100-130", ">=130")
                                                    if lab in set(pieces.loc[~pieces["edge"], "size_class"])]
    assert len(set(b["size_class"])) >= 2
    n_total = 0
    for label in dict.fromkeys(b["size_class"]):
        sub = pieces[pieces["size_class"] == label]
        expected = _expected_stats(sub, s.minerals)
        for source in ("measured", "virtual"):  # exact segmentation: virtual pieces = measured pieces
            rows = b[(b["size_class"] == label) & (b["source"] == source)].set_index("mineral")
            for name, values in expected.items():
                for key, v in values.items():
                    assert rows.loc[name, key] == pytest.approx(v, nan_ok=True), (label, source, name, key)
        cut = sorted(set(sub.loc[~sub["edge"], "particle_id"]))
        t3 = table.set_index("particle_id").loc[cut]
        r3 = b[(b["size_class"] == label) & (b["source"] == "3D")].set_index("mineral")
        vox = t3[[f"voxels_{n}" for n in s.minerals.names]].to_numpy(float)
        assert (r3["n_particles"] == len(cut)).all()
        for j, name in enumerate(s.minerals.names):
            assert r3.loc[name, "modal_percent"] == pytest.approx(100 * vox[:, j].sum() / vox.sum())
        n_total += len(cut)
    assert n_total == len(c.particles_3d)  # the classes split the cut particles
    assert "measured_section_by_size.csv" in c.tables()
    from liberation.report.measured_section import by_size_table, html_block

    shown = by_size_table(c)
    assert len(shown) == len(b) // 3
    assert "Per size class" in html_block(c, {})


def test_cut_particle_association_equals_whole_sample_function_on_those_particles(phantom):
    s, table = phantom
    m, q, ids, inside = _truth(s)
    vq, _ = labels_on_map_grid(s.phases, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    vp, _ = labels_on_map_grid(s.particles, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    c = compare_measured_section(q, vq, vp, pixel_size_um=PIX, minerals=s.minerals, particle_table=table,
                                 valid=inside)
    cut = c.particles_3d["particle_id"].to_numpy()
    assert 4 <= len(cut) < len(table)
    want = association(np.where(np.isin(s.particles, cut), s.particles, 0), s.phases, voxel_size_um=s.voxel_size_um,
                       minerals=s.minerals)
    want = want[want["size_class"] == "all"].drop(columns="size_class").reset_index(drop=True)
    for kwargs in ({}, {"particle_table": table}):  # crop by a pass over the labels, or from the table's boxes
        got = cut_particle_association(s.particles, s.phases, cut, voxel_size_um=s.voxel_size_um,
                                       minerals=s.minerals, **kwargs)
        pd.testing.assert_frame_equal(got, want)
    whole = association(s.particles, s.phases, voxel_size_um=s.voxel_size_um, minerals=s.minerals)
    assert not np.allclose(whole[whole["size_class"] == "all"]["share"].to_numpy(), want["share"].to_numpy())
    c3 = compare_measured_section(q, vq, vp, pixel_size_um=PIX, minerals=s.minerals, particle_table=table,
                                  valid=inside, association_3d=want)
    a3 = c3.association[c3.association["source"] == "3D"].reset_index(drop=True)
    np.testing.assert_array_equal(a3["share"].to_numpy(), want["share"].to_numpy())
    assert a3["edges"].tolist() == want["faces"].tolist()


def test_virtual_equals_measured_when_exact(phantom):
    s, table = phantom
    m, q, ids, inside = _truth(s)
    vq, vin = labels_on_map_grid(s.phases, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    vp, _ = labels_on_map_grid(s.particles, m, voxel_size_um=s.voxel_size_um, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    c = compare_measured_section(q, vq, vp, pixel_size_um=PIX, minerals=s.minerals, particle_table=table, valid=vin,
                                 by="mass")
    cols = ["n_particles", "n_with_mineral", "modal_percent", "liberated_fraction", "mean_grade", "exposed_fraction"]
    meas = c.summary[c.summary["source"] == "measured"][cols].to_numpy(float)
    virt = c.summary[c.summary["source"] == "virtual"][cols].to_numpy(float)
    np.testing.assert_array_equal(meas, virt)
    assert c.agreement["pixel_disagreement"] == 0 and c.agreement["modal_l1_percent"] == 0
    assert c.agreement["liberated_abs_diff"] == 0
    pd.testing.assert_frame_equal(c.measured, c.virtual)
    am = c.association[c.association["source"] == "measured"].drop(columns="source").reset_index(drop=True)
    av = c.association[c.association["source"] == "virtual"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(am, av)


def test_difference_grows_with_label_noise_and_pose_error(phantom):
    s, table = phantom
    vs = s.voxel_size_um
    m, q, _, _ = _truth(s)
    vq, vin = labels_on_map_grid(s.phases, m, voxel_size_um=vs, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    vp, _ = labels_on_map_grid(s.particles, m, voxel_size_um=vs, map_shape=MAP_SHAPE, pixel_size_um=PIX)
    rng = np.random.default_rng(0)
    u = rng.random(q.shape)
    shift = rng.integers(1, 4, size=q.shape)
    noisy = []
    for level in (0.0, 0.05, 0.15, 0.3):  # nested noise: a pixel wrong at 5 % stays wrong at 15 %
        meas = np.where((q > 0) & (u < level), (q - 1 + shift) % 4 + 1, q).astype(np.uint8)
        noisy.append(compare_measured_section(meas, vq, vp, pixel_size_um=PIX, minerals=s.minerals,
                                              particle_table=table, valid=vin).agreement)
    dis = [a["pixel_disagreement"] for a in noisy]
    l1 = [a["modal_l1_percent"] for a in noisy]
    lib = [a["liberated_abs_diff"] for a in noisy]
    assert dis[0] == 0 and all(b > a for a, b in zip(dis, dis[1:])), dis
    assert l1[0] == 0 and all(b > a for a, b in zip(l1, l1[1:])), l1
    assert lib[0] == 0 and all(b >= a for a, b in zip(lib, lib[1:])) and lib[-1] > 0.05, lib
    # the measured map is exact, the transform wrong: shift the map along its rows by 0, 1, 3, 6 voxels
    posed = []
    for d in (0.0, 10.0, 30.0, 60.0):
        wrong = m.copy()
        wrong[:3, 3] += d * m[:3, 1]
        wq, win = labels_on_map_grid(s.phases, wrong, voxel_size_um=vs, map_shape=MAP_SHAPE, pixel_size_um=PIX)
        wp, _ = labels_on_map_grid(s.particles, wrong, voxel_size_um=vs, map_shape=MAP_SHAPE, pixel_size_um=PIX)
        posed.append(compare_measured_section(q, wq, wp, pixel_size_um=PIX, minerals=s.minerals,
                                              particle_table=table, valid=win & vin).agreement)
    dis = [a["pixel_disagreement"] for a in posed]
    assert dis[0] == 0 and all(b > a for a, b in zip(dis, dis[1:])), dis
    assert posed[-1]["modal_l1_percent"] > posed[1]["modal_l1_percent"] > 0


# ------------------------------------------------------------------------------ CLI and demo
@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    from liberation.workflows.demo import make_demo_section, make_demo_store

    root = tmp_path_factory.mktemp("msec")
    store = make_demo_store(root, size=32, seed=2)
    section = make_demo_section(store, root / "section", seed=2)
    return root, store, section


def _cli(args, capsys) -> tuple[int, str]:
    from liberation.cli import main

    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


@pytest.mark.slow
def test_cli_report_with_a_measured_section(small_store, capsys):
    root, store, section = small_store
    out = root / "report"
    rc, output = _cli(["-q", "report", store, "--out", out, "--bootstrap", "0", "--no-pdf", "--target", "spodumene",
                       "--section", section / "map_labels.tif", "--transform", section / "transform.json"], capsys)
    assert rc == 0, output
    table = pd.read_csv(out / "measured_section.csv")
    assert table["source"].tolist() == ["measured", "virtual", "3D"] and set(table["mineral"]) == {"spodumene"}
    assert (out / "measured_section.png").stat().st_size > 1000
    assoc = pd.read_csv(out / "measured_section_association.csv")
    assert set(assoc["source"]) == {"measured", "virtual", "3D"}
    assert "3D share %" in (out / "report.html").read_text(encoding="utf-8")
    # the stereological correction checked leave-half-out, and the kernel saved for sister samples
    from liberation.stats.stereology import correct_sections, load_kernel

    st = pd.read_csv(out / "stereology_correction.csv", dtype={"size_class": str})
    assert st["size_class"].iloc[0] == "all" and set(st["mineral"]) == {"spodumene"}
    assert 'id="stereology"' in (out / "report.html").read_text(encoding="utf-8")
    kernel, minerals, extra = load_kernel(out / "stereology_kernel_spodumene.json")
    assert extra["threshold"] == 0.9 and "spodumene" in minerals.names
    sections = pd.read_csv(out / "sections_2d.csv", dtype={"size_class": str})
    table = correct_sections(kernel, sections, minerals=minerals)
    assert table.iloc[0]["liberated_2d"] == pytest.approx(st.iloc[0]["liberated_2d"])
    for name in ("measured_section_by_size.csv", "measured_section_classes.csv", "measured_section_association.csv",
                 "measured_section_particles.csv", "virtual_section_particles.csv"):
        assert (out / name).is_file()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="measured-section"' in page and 'id="fig-measured_section"' in page
    assert "segmentation + registration error" in page and "stereological bias" in page
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    agreement = summary["measured_section"]["agreement"]
    # 3 % label noise on the demo section: a few % of the pixels differ, not more
    assert 0.0 < agreement["pixel_disagreement"] < 0.08


@pytest.mark.parametrize("case", ["missing", "matrix", "minerals", "alone", "shape"])
def test_cli_report_section_bad_inputs(small_store, tmp_path, case, capsys):
    root, store, section = small_store
    labels, transform = section / "map_labels.tif", section / "transform.json"
    expect = {"missing": "--section", "matrix": "4x4", "minerals": "gold", "alone": "go together",
              "shape": "shape"}[case]
    if case == "missing":
        labels = tmp_path / "nope.tif"
    elif case == "matrix":
        data = json.loads(transform.read_text())
        data["matrix"] = np.eye(3).tolist()
        transform = tmp_path / "t.json"
        transform.write_text(json.dumps(data))
    elif case == "minerals":
        import shutil

        labels = tmp_path / "map_labels.tif"
        shutil.copy(section / "map_labels.tif", labels)
        csv = (section / "minerals.csv").read_text().replace("spodumene", "gold")
        (tmp_path / "minerals.csv").write_text(csv)
    elif case == "shape":
        import tifffile

        labels = tmp_path / "small.npy"
        np.save(labels, tifffile.imread(section / "map_labels.tif")[:-2])
    args = ["-q", "report", store, "--out", tmp_path / "r", "--bootstrap", "0", "--no-pdf", "--section", labels]
    if case != "alone":
        args += ["--transform", transform]
    rc, output = _cli(args, capsys)
    assert rc == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], output
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_demo_report_shows_the_measured_section(tmp_path):
    from liberation.workflows.demo import run_demo

    run = run_demo(tmp_path / "demo", size=32)
    assert {p.name for p in run.section_dir.iterdir()} >= {"map_labels.tif", "minerals.csv", "transform.json"}
    page = (run.report.folder / "report.html").read_text(encoding="utf-8")
    assert "Measured section vs virtual section vs 3D" in page and 'id="fig-measured_section"' in page
    table = pd.read_csv(run.report.folder / "measured_section.csv")
    assert table["source"].tolist() == ["measured", "virtual", "3D"]
    assert (run.report.folder / "report.pdf").stat().st_size > 0


def test_empty_section_gives_nan_without_warnings():
    table = pd.DataFrame({"particle_id": [1], "voxels": [8], "voxels_ore": [8], "voxels_gangue": [0],
                          "excluded": [False]})
    empty = np.zeros((6, 6), np.uint8)
    c = compare_measured_section(empty, empty, empty, pixel_size_um=P, minerals=TWO, particle_table=table)
    assert len(c.measured) == len(c.virtual) == len(c.particles_3d) == 0
    assert np.isnan(c.agreement["liberated_abs_diff"]) and np.isnan(c.agreement["pixel_disagreement"])
    assert c.summary["n_particles"].tolist() == [0] * 6
    a3 = cut_particle_association(np.zeros((3, 4, 4), np.int32), np.zeros((3, 4, 4), np.uint8), [], voxel_size_um=1.0,
                                  minerals=TWO)
    assert a3["share"].isna().all() and a3["neighbour"].tolist() == ["gangue", "void", "ore", "void"]
