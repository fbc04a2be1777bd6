"""SEM/MLA readers: mineral lists (CSV/YAML) and classified images (RGB, palette, ids)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from liberation.errors import FileFormatError
from liberation.io.sem import read_mineral_list, read_sem_map, write_mineral_list
from liberation.minerals import lithium_slag
from liberation.synthetic.xrf import make_face, make_sem_map


def test_mineral_list_csv_round_trip(tmp_path):
    path = write_mineral_list(tmp_path / "list.csv", lithium_slag())
    back = read_mineral_list(path)
    assert back.names == lithium_slag().names
    assert [m.color for m in back] == [m.color for m in lithium_slag()]
    assert back["LiAlO2"].density == 2.55
    assert back["LiAlO2"].elements["Li"] == pytest.approx(10.53)


def test_mineral_list_yaml_rgb_columns_and_known_density(tmp_path):
    (tmp_path / "list.yaml").write_text(
        "minerals:\n"
        "  - {name: quartz, color: '200,200,200'}\n"
        "  - {name: slag, color: '#102030', density: 3.1, elements: {Ca: 20}}\n"
    )
    minerals = read_mineral_list(tmp_path / "list.yaml")
    assert minerals["quartz"].density == 2.65 and minerals["quartz"].color == "#c8c8c8"
    assert minerals["slag"].elements == {"Ca": 20}
    (tmp_path / "rgb.csv").write_text("Mineral;R;G;B;Density;SiO2\nquartz;1;2;3;2.65;100\n")
    m = read_mineral_list(tmp_path / "rgb.csv")
    assert m["quartz"].color == "#010203" and m["quartz"].oxides == {"SiO2": 100.0}


def test_mineral_list_errors(tmp_path):
    (tmp_path / "clash.csv").write_text("name,color,density\na,#ff0000,2.6\nb,#FF0000,2.7\n")
    with pytest.raises(FileFormatError, match="colour clash.*'b'.*'a'.*#ff0000"):
        read_mineral_list(tmp_path / "clash.csv")
    (tmp_path / "nodens.csv").write_text("name,color\nunobtainium,#ff0000\n")
    with pytest.raises(FileFormatError, match="no density"):
        read_mineral_list(tmp_path / "nodens.csv")
    (tmp_path / "badcol.csv").write_text("name,color,density\na,purple,2.6\n")
    with pytest.raises(FileFormatError, match="line 2: colour 'purple'"):
        read_mineral_list(tmp_path / "badcol.csv")


@pytest.fixture
def sem_case():
    phases = make_face((64, 80), abundances=[1, 2, 1], grain_size_px=12, seed=2)
    return phases, make_sem_map(phases, lithium_slag(), unknown_fraction=0.01, seed=3)


def test_rgb_png_round_trip_with_unknown_colours(tmp_path, sem_case, caplog):
    phases, sem = sem_case
    Image.fromarray(sem.rgb).save(tmp_path / "mla.png")
    result = read_sem_map(tmp_path / "mla.png", lithium_slag(), pixel_size_um=1.5)
    np.testing.assert_array_equal(result.labels[~sem.unknown], phases[~sem.unknown])
    np.testing.assert_array_equal(result.unknown_mask, sem.unknown)
    assert result.unknown["color"].tolist() == ["#ff00ff"]
    assert "match no mineral" in caplog.text
    with pytest.raises(FileFormatError, match="#ff00ff"):
        read_sem_map(tmp_path / "mla.png", lithium_slag(), unknown="error")


def test_palette_png_and_indexed_tiff(tmp_path, sem_case):
    phases, _ = sem_case
    palette = [0, 0, 0]
    for m in lithium_slag():
        palette += [int(m.color[i:i + 2], 16) for i in (1, 3, 5)]
    img = Image.fromarray(phases, mode="P")
    img.putpalette(palette + [0] * (768 - len(palette)))
    img.save(tmp_path / "indexed.png")
    path_list = write_mineral_list(tmp_path / "list.csv", lithium_slag())
    result = read_sem_map(tmp_path / "indexed.png", path_list)
    np.testing.assert_array_equal(result.labels, phases)
    cmap = np.zeros((3, 256), np.uint16)
    cmap[:, : len(palette) // 3] = np.array(palette, np.uint16).reshape(-1, 3).T * 257
    tifffile.imwrite(tmp_path / "indexed.tif", phases, photometric="palette", colormap=cmap)
    np.testing.assert_array_equal(read_sem_map(tmp_path / "indexed.tif", lithium_slag()).labels, phases)


def test_id_image(tmp_path, sem_case):
    phases, _ = sem_case
    ids = phases.copy()
    ids[0, 0] = 7
    tifffile.imwrite(tmp_path / "ids.tif", ids)
    result = read_sem_map(tmp_path / "ids.tif", lithium_slag())
    assert result.labels[0, 0] == 0 and result.unknown["value"].tolist() == [7]
    np.testing.assert_array_equal(result.labels[1:], phases[1:])
    with pytest.raises(FileFormatError, match="does not exist"):
        read_sem_map(tmp_path / "nope.png", lithium_slag())
