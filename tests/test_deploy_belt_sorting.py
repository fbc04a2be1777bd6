"""Per-fragment decisions and air-jet commands against hand-computed values."""

import numpy as np
import pytest

from liberation.deploy.belt.sorting import air_jet_commands, fragment_decisions
from liberation.errors import InputError


def _frame():
    mask = np.zeros((100, 80), np.uint8)
    mask[10:20, 0:10] = 1  # fragment 1: all ore, 100 px
    mask[60:80, 40:60] = 2  # fragment 2: 400 px, 30 % ore
    mask[60:66, 40:60] = 1  # 120 px ore inside fragment 2
    return mask


def test_fragment_table_by_hand():
    t = fragment_decisions(_frame(), pixel_size_um=500.0, threshold=0.5)
    assert t["area_px"].tolist() == [100, 400]
    assert t["area_mm2"].tolist() == pytest.approx([25.0, 100.0])
    assert t["ore_share"].tolist() == pytest.approx([1.0, 0.3])
    assert t["is_ore"].tolist() == [True, False]
    assert t["eject"].tolist() == [False, True]
    assert t["centroid_row"].tolist() == pytest.approx([14.5, 69.5])
    assert t["row_min"].tolist() == [10, 60] and t["col_max"].tolist() == [9, 59]
    t2 = fragment_decisions(_frame(), pixel_size_um=500.0, threshold=0.25, eject="ore")
    assert t2["eject"].tolist() == [True, True]
    t3 = fragment_decisions(_frame(), pixel_size_um=500.0, threshold=0.5, min_area_mm2=200.0)
    assert not t3["eject"].any()


def test_air_jet_commands_by_hand():
    t = fragment_decisions(_frame(), pixel_size_um=500.0)
    c = air_jet_commands(t, frame_shape=(100, 80), pixel_size_um=500.0, belt_speed_m_s=2.0,
                         valve_distance_mm=100.0, n_valves=8, latency_ms=10.0)
    assert c["id"].tolist() == [2]
    # columns 40..59 at 0.5 mm over a 40 mm belt with 5 mm valves: centre 49.5 -> 25 mm -> valve 5
    assert c["valve"].tolist() == [4 + 1] and c["valve_first"].tolist() == [4] and c["valve_last"].tolist() == [5]
    lead = 100.0 - (99 - 60) * 0.5  # mm still to go for the leading edge
    trail = 100.0 - (99 - 79) * 0.5 + 0.5
    assert c["open_delay_s"][0] == pytest.approx(lead / 2000.0 - 0.010)
    assert c["duration_s"][0] == pytest.approx((trail - lead) / 2000.0)
    assert not c["late"][0]
    late = air_jet_commands(t, frame_shape=(100, 80), pixel_size_um=500.0, belt_speed_m_s=2.0,
                            valve_distance_mm=10.0, n_valves=8, latency_ms=10.0)
    assert late["late"][0] and late["open_delay_s"][0] == 0.0


def test_sorting_errors():
    with pytest.raises(InputError):
        fragment_decisions(np.zeros((4, 4), float), pixel_size_um=1.0)
    with pytest.raises(InputError):
        fragment_decisions(np.zeros((4, 4), np.uint8), pixel_size_um=1.0, eject="both")
    with pytest.raises(InputError):
        air_jet_commands(fragment_decisions(_frame(), pixel_size_um=500.0), frame_shape=(100, 80),
                         pixel_size_um=500.0, belt_speed_m_s=0.0, valve_distance_mm=1.0, n_valves=4)
