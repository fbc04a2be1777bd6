import numpy as np
import pytest

from liberation._validation import as_voxel_size, check_label_array, make_rng
from liberation.errors import InputError, LiberationError
from liberation.minerals import Mineral, MineralList, lithium_slag, spodumene_ore


def test_errors_subclass_builtins():
    assert issubclass(InputError, ValueError) and issubclass(InputError, LiberationError)


@pytest.mark.parametrize("value,expected", [(2.5, (2.5, 2.5, 2.5)), ((3, 2, 1), (3.0, 2.0, 1.0)),
                                            (np.float32(1.5), (1.5, 1.5, 1.5))])
def test_voxel_size_accepts(value, expected):
    assert as_voxel_size(value) == expected


@pytest.mark.parametrize("value", [0, -1, None, "a", (1, 2), float("nan"), True])
def test_voxel_size_rejects(value):
    with pytest.raises(InputError, match="voxel_size_um"):
        as_voxel_size(value)


def test_label_check():
    with pytest.raises(InputError, match="phases has dtype float64"):
        check_label_array(np.zeros(3), name="phases")
    check_label_array(np.zeros((2, 2, 2), np.uint8), name="phases", ndim=3)


def test_rng_is_explicit():
    assert make_rng(3).integers(1000) == np.random.default_rng(3).integers(1000)
    g = np.random.default_rng(1)
    assert make_rng(g) is g


def test_mineral_list_lookup_and_properties_round_trip():
    ml = spodumene_ore()
    assert ml.names == ["spodumene", "quartz", "albite", "muscovite"]
    assert ml["albite"].id == 3 and ml[1].name == "spodumene"
    lut = ml.density_lut()
    assert lut[0] == 0 and lut[1] == pytest.approx(3.15)
    again = MineralList.from_properties(ml.to_properties())
    assert again == ml
    assert "quartz" in ml and 9 not in ml
    assert lithium_slag()["LiAlO2"].oxides["Li2O"] == pytest.approx(22.67)


def test_mineral_list_errors():
    with pytest.raises(InputError, match="not unique"):
        MineralList([Mineral(1, "a", 2.0), Mineral(1, "b", 2.0)])
    with pytest.raises(InputError, match="density"):
        Mineral(1, "a", -2.0)
    with pytest.raises(InputError, match="1..254"):
        Mineral(0, "void", 1.0)
    with pytest.raises(InputError, match="colour"):
        Mineral(1, "a", 2.0, color="red")
    with pytest.raises(InputError, match="no mineral with name 'gold'"):
        spodumene_ore()["gold"]
    with pytest.raises(InputError, match="'density'"):
        MineralList.from_properties([{"label-value": 1, "name": "x"}])


def test_from_records_numbers_ids():
    ml = MineralList.from_records([{"name": "a", "density": 2.0}, {"name": "b", "density": 3.0, "color": "#010203"}])
    assert ml.ids == [1, 2] and ml["b"].color == "#010203"
