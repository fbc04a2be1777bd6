"""Particle gallery: the chosen ids follow the rule on a phantom with known classes; crops, images, CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.minerals import Mineral, MineralList
from liberation.report.gallery import GALLERY_COLUMNS, choose_gallery, particle_crops, surface_view

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def minerals() -> MineralList:
    return MineralList([Mineral(1, "ore", 4.0, "#2ca02c"), Mineral(2, "quartz", 2.65, "#d9d9d9"),
                        Mineral(3, "mica", 2.8, "#ff7f0e")])


def phantom():
    """Cube particles in a row; edge e, ore share s (ore in the low-x slab), partner quartz or mica.

    Known classes (by volume, bounds 0, 10, ..., 100):
    - 100 (liberated): ids 1 (e=4), 2 (e=6), 3 (e=8)       -> largest 3, median of others: e=6 -> 2
    - (40,50]: ids 4 (e=4, half ore/quartz), 5 (e=6, half), 6 (e=10, half, mica) -> largest 6; median 5
    - 0: id 7 (e=6, quartz only)                            -> one particle
    - ternary+: id 8 (e=8, ore/quartz/mica thirds), grade class (30,40]
    """
    spec = [  # id, edge, [(phase, x share)]
        (1, 4, [(1, 1.0)]), (2, 6, [(1, 1.0)]), (3, 8, [(1, 1.0)]),
        (4, 4, [(1, 0.5), (2, 0.5)]), (5, 6, [(1, 0.5), (2, 0.5)]), (6, 10, [(1, 0.5), (3, 0.5)]),
        (7, 6, [(2, 1.0)]), (8, 9, [(1, 1 / 3), (2, 1 / 3), (3, 1 / 3)]),
    ]
    shape = (14, 14, 14 * len(spec))
    pid = np.zeros(shape, np.uint16)
    ph = np.zeros(shape, np.uint8)
    rows = []
    for k, (i, e, parts) in enumerate(spec):
        x0 = 14 * k + 2
        pid[2:2 + e, 2:2 + e, x0:x0 + e] = i
        x = x0
        for phase, share in parts:
            w = int(round(share * e))
            ph[2:2 + e, 2:2 + e, x:x + w] = phase
            x += w
        ph[2:2 + e, 2:2 + e, x:x0 + e] = parts[-1][0]
        vox = e**3
        counts = {p: int((ph[pid == i] == p).sum()) for p in (1, 2, 3)}
        rows.append({"particle_id": i, "voxels": vox, "volume_um3": vox * 1000.0,
                     "esd_um": np.cbrt(6 * vox * 1000.0 / np.pi), "excluded": False,
                     "bbox_z0": 2, "bbox_y0": 2, "bbox_x0": x0, "bbox_z1": 2 + e, "bbox_y1": 2 + e, "bbox_x1": x0 + e,
                     "voxels_ore": counts[1], "voxels_quartz": counts[2], "voxels_mica": counts[3]})
    return pid, ph, pd.DataFrame(rows)


def chosen(table, group):
    rows = table[table["group"] == group]
    return dict(zip(rows["particle_id"].astype(int), rows["reason"]))


def test_choice_follows_the_rule_on_known_classes():
    pid, ph, table = phantom()
    g = choose_gallery(table, minerals=minerals(), mineral="ore", threshold=0.9, seed=0)
    assert list(g.columns) == GALLERY_COLUMNS
    assert chosen(g, "100") == {2: "median size", 3: "largest"}
    assert chosen(g, "(40,50]") == {5: "median size", 6: "largest"}
    assert chosen(g, "0") == {7: "median size and largest"}
    assert chosen(g, "(30,40]") == {8: "median size and largest"}
    assert chosen(g, "liberated") == {2: "median size", 3: "largest"}
    assert chosen(g, "binary with quartz") == {5: "median size", 4: "largest"} or \
        chosen(g, "binary with quartz") == {4: "median size", 5: "largest"}
    assert chosen(g, "binary with quartz")[5] == "largest"
    assert chosen(g, "binary with mica") == {6: "median size and largest"}
    assert chosen(g, "ternary+") == {8: "median size and largest"}
    # empty classes get no row; every chosen id is a real particle of its class
    groups = set(g["group"])
    assert "(10,20]" not in groups and "(90,100)" not in groups
    n_in = g.groupby("group")["n_in_group"].first()
    assert n_in["100"] == 3 and n_in["(40,50]"] == 3 and n_in["liberated"] == 3 and n_in["binary with quartz"] == 2
    assert np.allclose(g.loc[g["group"] == "100", "grade_percent"], 100.0)
    # excluded particles are never chosen
    t2 = table.assign(excluded=table["particle_id"] == 3)
    g2 = choose_gallery(t2, minerals=minerals(), mineral="ore", seed=0)
    assert 3 not in set(g2["particle_id"]) and chosen(g2, "100") == {1: "median size", 2: "largest"}


def test_ties_are_broken_by_the_seed():
    # five equal particles: the largest and the median are ties; the seed decides, reproducibly
    table = pd.DataFrame({"particle_id": np.arange(1, 6), "voxels": 10, "esd_um": np.full(5, 50.0), "excluded": False,
                          "voxels_ore": 10, "voxels_quartz": 0, "voxels_mica": 0})
    picks = {s: tuple(choose_gallery(table, minerals=minerals(), mineral="ore", seed=s)["particle_id"][:2])
             for s in range(8)}
    assert all(a != b for a, b in picks.values())
    assert len(set(picks.values())) > 1
    again = tuple(choose_gallery(table, minerals=minerals(), mineral="ore", seed=3)["particle_id"][:2])
    assert again == picks[3]


def test_crops_are_the_particles_only():
    pid, ph, table = phantom()
    crops = particle_crops(pid, ph, table, [6, 8], margin=1)
    for i in (6, 8):
        crop = crops[i]
        assert (crop > 0).sum() == (pid == i).sum()
        assert np.array_equal(np.bincount(crop[crop > 0], minlength=4), np.bincount(ph[pid == i], minlength=4))
    # particle 6 is an edge-10 cube: its crop is the box plus the margin
    assert crops[6].shape == (12, 12, 12)


def test_surface_view_of_a_step():
    crop = np.zeros((6, 4, 5), np.uint8)
    crop[2:, :, :2] = 1  # low column, phase 1
    crop[4:, :, 2:] = 2  # lower step, phase 2
    phase, shade = surface_view(crop, 0)
    assert np.array_equal(phase, np.array([[1, 1, 2, 2, 2]] * 4))
    assert shade.min() >= 0.35 and shade.max() <= 1.0
    # flat tops facing the viewer share one shade; the step edge is shaded differently
    assert np.isclose(shade[0, 0], shade[0, 4]) and not np.isclose(shade[0, 1], shade[0, 0])


@pytest.mark.slow
def test_gallery_panels_and_page():
    from liberation.report.figures import make_gallery
    from liberation.report.html import build_html
    from liberation.report.writer import _figure_png
    from liberation.stats import analyse

    pid, ph, _ = phantom()
    result = analyse(pid, ph, voxel_size_um=10.0, minerals=minerals(), target="ore", bootstrap=0, grains=False,
                     shapes=False, exclude_border=False, by="volume")
    g, panels = make_gallery(result, pid, ph, seed=0)
    assert list(g.columns) == GALLERY_COLUMNS
    assert chosen(g, "100") == {2: "median size", 3: "largest"}
    assert chosen(g, "(40,50]") == {5: "median size", 6: "largest"}
    n_groups = g[["group_kind", "group"]].drop_duplicates().shape[0]
    assert len(panels) == n_groups == 8
    images = {name: _figure_png(fig) for name, _, _, fig in panels}
    assert all(data.startswith(PNG_MAGIC) and len(data) > 5000 for data in images.values())
    page = build_html(result, images, gallery=(g, [(n, t, a) for n, t, a, _ in panels]))
    assert page.count('id="fig-gallery_') == n_groups
    assert 'alt="Gallery, ore grade class 100 %: 3 particles. particle 2 (median size' in page
    assert "particle 3 (largest" in page and "scale bar" in page
    import re

    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) == n_groups
    assert all(re.search(r'\balt="[^"]{20,}"', tag) for tag in imgs)  # every image has real alt text
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)  # nothing external


@pytest.mark.parametrize("size", [(2.0, 1.6), (4.0, 3.0), (9.0, 6.0)])
def test_scale_bar_round_and_inside(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from liberation.report.plots import add_scale_bar

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    bars = []
    for ax, (width, px) in zip(axes, ((37, 7.3), (512, 0.65))):
        ax.imshow(np.zeros((width, width)))
        bars.append(add_scale_bar(ax, px, width))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax, bar, (width, px) in zip(axes, bars, ((37, 7.3), (512, 0.65))):
        length = bar.size_bar_um
        mant = length / 10 ** np.floor(np.log10(length))
        assert np.isclose(mant, [1, 2, 5]).any() and length <= 0.3 * width * px
        a = ax.get_window_extent(renderer)
        for artist in (bar, bar.txt_label):
            b = artist.get_window_extent(renderer)
            assert a.x0 - 0.5 <= b.x0 and b.x1 <= a.x1 + 0.5 and a.y0 - 0.5 <= b.y0 and b.y1 <= a.y1 + 0.5
        assert bar.txt_label.get_children()[0].get_fontsize() >= 7
