import numpy as np
import pytest

from liberation.cli import main
from liberation.errors import InputError
from liberation.io import create_store
from liberation.minerals import spodumene_ore
from liberation.stats import analyse


def test_volume_without_particles_is_a_clear_error():
    empty = np.zeros((8, 9, 10), np.uint32)
    with pytest.raises(InputError, match="no particle"):
        analyse(empty, empty.astype(np.uint8), voxel_size_um=1.0, minerals=spodumene_ore())


def test_report_on_empty_store_exits_2_with_one_line(tmp_path, capsys):
    store = create_store(tmp_path / "s.zarr", np.zeros((8, 9, 10), np.uint16), voxel_size_um=1.0)
    store.write_label("phases", np.zeros((8, 9, 10), np.uint8), minerals=spodumene_ore())
    store.write_label("particles", np.zeros((8, 9, 10), np.uint32))
    assert main(["-q", "report", str(tmp_path / "s.zarr"), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no particle" in err and err.count("\n") == 1
    assert not (tmp_path / "rep").exists()
