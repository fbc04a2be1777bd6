"""Element deportment: the share of each element carried by each mineral, against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from liberation.minerals import Mineral, MineralList
from liberation.stats import element_deportment


def _minerals():
    return MineralList([
        Mineral(id=1, name="spodumene", density=3.15, elements={"Li": 3.73, "Si": 30.2}, oxides={"Li2O": 8.03}),
        Mineral(id=2, name="quartz", density=2.65, elements={"Si": 46.7}),
        Mineral(id=3, name="albite", density=2.62, elements={"Si": 32.1, "Na": 8.77}),
    ])


def test_deportment_by_hand():
    modal = pd.DataFrame({"mineral": ["spodumene", "quartz", "albite"], "mass_percent": [20.0, 50.0, 30.0]})
    table = element_deportment(modal, minerals=_minerals())
    assert list(table.columns) == ["mineral", "Li", "Si", "Na", "Li2O"]
    table = table.set_index("mineral")
    # Li and Li2O only in spodumene; Na only in albite
    assert table.loc["spodumene", "Li"] == pytest.approx(100.0)
    assert table.loc["spodumene", "Li2O"] == pytest.approx(100.0)
    assert table.loc["albite", "Na"] == pytest.approx(100.0)
    assert table.loc["quartz", "Li"] == 0.0
    # Si: 20 x 30.2 = 604, 50 x 46.7 = 2335, 30 x 32.1 = 963 -> total 3902
    expected = np.array([604.0, 2335.0, 963.0]) / 3902.0 * 100
    np.testing.assert_allclose(table["Si"].to_numpy(), expected)
    np.testing.assert_allclose(table.sum(axis=0).to_numpy(), 100.0)


def test_component_absent_from_the_sample_is_nan():
    modal = pd.DataFrame({"mineral": ["spodumene", "quartz", "albite"], "mass_percent": [0.0, 60.0, 40.0]})
    table = element_deportment(modal, minerals=_minerals()).set_index("mineral")
    assert table["Li"].isna().all()
    assert table.loc["quartz", "Si"] == pytest.approx(100 * 60 * 46.7 / (60 * 46.7 + 40 * 32.1))


def test_no_contents_gives_only_the_mineral_column():
    minerals = MineralList([Mineral(id=1, name="a", density=2.0), Mineral(id=2, name="b", density=3.0)])
    modal = pd.DataFrame({"mineral": ["a", "b"], "mass_percent": [40.0, 60.0]})
    assert list(element_deportment(modal, minerals=minerals).columns) == ["mineral"]


def test_analyse_writes_the_deportment_table():
    from liberation.stats import analyse
    from liberation.synthetic import make_sample

    sample = make_sample(shape=(40, 40, 40), voxel_size_um=10.0, seed=3)
    result = analyse(sample.particles, sample.phases, voxel_size_um=10.0, minerals=sample.minerals,
                     bootstrap=0, shapes=False)
    if not any(m.elements or m.oxides for m in sample.minerals):
        assert result.deportment is None
        return
    dep = result.deportment.set_index("mineral")
    sums = dep.sum(axis=0, skipna=True)
    np.testing.assert_allclose(sums[dep.notna().any()].to_numpy(), 100.0)
    assert "deportment.csv" in result.tables()
