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


# -- fragment-level class vote -------------------------------------------------------------------

def _probs():
    """(3, 8, 10) probabilities: fragment A (2 x 5, rows 1-2, cols 1-5) and B (2 x 2, rows 3-4, cols 6-7).

    A: 6 pixels (0.1, 0.42, 0.48) -> waste by pixel argmax, renormalised ore share 0.42 / 0.9;
       4 pixels (0.1, 0.88, 0.02) -> ore, renormalised ore share 0.88 / 0.9.
       Mean ore share (6 * 0.4667 + 4 * 0.9778) / 10 = 0.671 -> ore; majority 6 waste : 4 ore -> waste.
    B: 4 pixels (0.2, 0.1, 0.7) -> waste, ore share 0.125. B touches A only diagonally (A's pixel (2, 5)).
       A + B (8-connected): mean ore (6.711 + 0.5) / 14 = 0.515 -> ore; majority 10 waste : 4 ore -> waste.
    """
    p = np.zeros((3, 8, 10))
    p[:] = np.array([0.9, 0.05, 0.05])[:, None, None]
    p[:, 1:3, 1:6] = np.array([0.1, 0.42, 0.48])[:, None, None]
    p[:, 1:3, 4:6] = np.array([0.1, 0.88, 0.02])[:, None, None]
    p[:, 3:5, 6:8] = np.array([0.2, 0.1, 0.7])[:, None, None]
    return p


def test_fragment_vote_closed_form():
    from liberation.deploy.belt.sorting import fragment_class_vote

    p = _probs()
    pixel = p.argmax(0)
    a = np.zeros((8, 10), bool)
    a[1:3, 1:6] = True
    b = np.zeros((8, 10), bool)
    b[3:5, 6:8] = True
    assert (pixel[a] == 2).sum() == 6 and (pixel[a] == 1).sum() == 4
    mean4 = fragment_class_vote(p, rule="mean", connectivity=1)
    assert (mean4[a] == 1).all() and (mean4[b] == 2).all() and (mean4[~(a | b)] == 0).all()
    maj4 = fragment_class_vote(p, rule="majority", connectivity=1)
    assert (maj4[a] == 2).all() and (maj4[b] == 2).all()
    mean8 = fragment_class_vote(p, rule="mean", connectivity=2)
    assert (mean8[a | b] == 1).all() and (mean8[~(a | b)] == 0).all()
    maj8 = fragment_class_vote(p, rule="majority", connectivity=2)
    assert (maj8[a | b] == 2).all()
    # the foreground is the pixel argmax's, always
    for out in (mean4, maj4, mean8, maj8):
        assert ((out > 0) == (pixel > 0)).all() and out.dtype == np.uint8


def test_fragment_vote_instances_batch_and_scale():
    from liberation.deploy.belt.sorting import fragment_class_vote

    p = _probs()
    inst = np.zeros((8, 10), np.int32)
    inst[1:3, 1:4] = 1  # the all-waste part of A alone
    inst[1:3, 4:6] = 2  # the ore part of A
    inst[3:5, 6:8] = 3
    out = fragment_class_vote(p, instances=inst)
    assert (out[1:3, 1:4] == 2).all() and (out[1:3, 4:6] == 1).all() and (out[3:5, 6:8] == 2).all()
    # batches give the frame results; positive scaling of the scores changes nothing
    batch = fragment_class_vote(np.stack([p, p[:, ::-1]]))
    assert (batch[0] == fragment_class_vote(p)).all() and (batch[1] == fragment_class_vote(p[:, ::-1])).all()
    assert (fragment_class_vote(7.5 * p) == fragment_class_vote(p)).all()
    # no fragment at all
    assert not fragment_class_vote(np.stack([np.ones((4, 4)), np.zeros((4, 4))])).any()


@pytest.mark.parametrize("kwargs, match", [
    ({"rule": "median"}, "rule='median'"),
    ({"connectivity": 3}, "connectivity=3"),
    ({"instances": np.zeros((3, 3), np.int32)}, "instances have shape"),
])
def test_fragment_vote_errors(kwargs, match):
    from liberation.deploy.belt.sorting import fragment_class_vote

    with pytest.raises(InputError, match=match):
        fragment_class_vote(_probs(), **kwargs)
    with pytest.raises(InputError, match="probabilities have shape"):
        fragment_class_vote(np.ones((1, 4, 4)))
    with pytest.raises(InputError, match="non-negative"):
        fragment_class_vote(-_probs())


def test_runtime_decisions_match_the_vote(tmp_path):
    """BeltRuntime: ``decision='pixel'`` is the logits' argmax, ``'fragment'`` the vote on their softmax,
    ``'hybrid'`` (the default for belt/ore/waste models) and ``'features'`` classify_fragments on the softmax and
    the attenuation."""
    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.fragment_class import classify_fragments
    from liberation.deploy.belt.io import save_belt_checkpoint
    from liberation.deploy.belt.model import build_belt_segmenter
    from liberation.deploy.belt.preprocess import prepare_belt_inputs
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.deploy.belt.sorting import fragment_class_vote
    from liberation.deploy.belt.synthetic import make_belt_dataset
    from liberation.deploy.belt.workflow import belt_input_spec

    x, y = make_belt_dataset(2, (64, 64), seed=1)
    save_belt_checkpoint(tmp_path / "belt", build_belt_segmenter(belt_config_preset("test"), seed=0),
                         {"input": belt_input_spec(x, y, i0=4000.0)})
    rt = BeltRuntime(tmp_path / "belt", backend="torch", threads=1, i0=4000.0)
    assert rt.decision == "hybrid"
    att = prepare_belt_inputs(x, i0=4000.0)
    logits = rt.logits(att[:, None])
    z = np.exp(logits - logits.max(1, keepdims=True))
    p = z / z.sum(1, keepdims=True)
    assert (rt.segment(x, decision="pixel", warn=False) == logits.argmax(1)).all()
    assert (rt.segment(x, decision="fragment", warn=False) == fragment_class_vote(p)).all()
    assert (rt.segment(x, warn=False) == classify_fragments(p, att, network_weight=1.0)).all()
    assert (rt.segment(x, decision="features", warn=False) == classify_fragments(p, att)).all()
    with pytest.raises(InputError, match="decision='vote'"):
        rt.segment(x, decision="vote")
    with pytest.raises(InputError, match="decision='vote'"):
        BeltRuntime(tmp_path / "belt", backend="torch", decision="vote")


def test_split_touching_fragments_and_vote():
    """Two overlapping discs (r = 10, centres 18 px apart) are one component; the split gives each its own class.

    Disc L is ore with 40 % of its pixels (its right part) painted waste by the pixel classifier, disc R is waste.
    Without the split the merged component takes one class; with it, L is all ore and R all waste.
    """
    from liberation.deploy.belt.sorting import fragment_class_vote, split_fragments

    yy, xx = np.mgrid[:40, :60]
    left = (yy - 20) ** 2 + (xx - 20) ** 2 <= 100
    right = ((yy - 20) ** 2 + (xx - 38) ** 2 <= 100) & ~left
    ids = split_fragments(left | right)
    assert ids.max() == 2 and (ids[~(left | right)] == 0).all()
    assert len(np.unique(ids[20, 11:16])) == 1 and ids[20, 12] != ids[20, 44]
    # each disc's centre region is one id
    assert (ids[18:23, 18:23] == ids[20, 20]).all() and (ids[18:23, 36:41] == ids[20, 38]).all()
    p = np.zeros((3, 40, 60))
    p[0] = 1.0
    p[:, left] = np.array([0.05, 0.9, 0.05])[:, None]
    p[:, left & (xx >= 22)] = np.array([0.05, 0.35, 0.6])[:, None]
    p[:, right] = np.array([0.05, 0.15, 0.8])[:, None]
    out = fragment_class_vote(p)
    core_l = left & (xx <= 17)
    core_r = right & (xx >= 31)
    assert (out[core_l] == 1).all() and (out[core_r] == 2).all()
    merged = fragment_class_vote(p, split=False)
    assert len(np.unique(merged[left | right])) == 1
    # a lone component too thin for a centre keeps one id
    thin = np.zeros((10, 30), bool)
    thin[4:6, 2:28] = True
    assert split_fragments(thin).max() == 1
    assert split_fragments(np.zeros((5, 5), bool)).max() == 0
    with pytest.raises(InputError, match="min_distance=0"):
        split_fragments(thin, min_distance=0)
