"""Liberation, locking, association, modal, grade-recovery, yield: exact answers on box phantoms."""

from __future__ import annotations

import numpy as np
import pytest
from _stats_phantoms import boxes, two_minerals

from liberation.errors import InputError
from liberation.stats import (
    analyse,
    association,
    cumulative_liberation_yield,
    grade_recovery,
    liberated_fraction,
    liberation_classes,
    locking,
    modal_mineralogy,
    particle_table,
)

M = two_minerals()


@pytest.fixture(scope="module")
def table():
    pid, ph = boxes()
    return particle_table(pid, ph, voxel_size_um=1.0, minerals=M)


def test_liberated_fraction(table):
    assert liberated_fraction(table, minerals=M) == pytest.approx({"ore": 120 / 152, "gangue": 180 / 212})
    assert liberated_fraction(table, minerals=M, by="mass", target="ore") == pytest.approx({"ore": 120 / 152})
    assert liberated_fraction(table, minerals=M, threshold=0.5)["ore"] == pytest.approx(1.0)


def test_classes(table):
    c = liberation_classes(table, minerals=M, target="ore")
    c = c[c["size_class"] == "all"].set_index("class")
    assert list(c.index) == ["0", "(0,10]", "(10,20]", "(20,30]", "(30,40]", "(40,50]", "(50,60]", "(60,70]",
                             "(70,80]", "(80,90]", "(90,100)", "100"]
    assert c.loc["100", "mineral_share"] == pytest.approx(120 / 152)
    assert c.loc["(40,50]", "mineral_share"] == pytest.approx(32 / 152)
    assert c.loc["0", "n_particles"] == 1 and c.loc["0", "mineral_share"] == 0
    assert c["mineral_share"].sum() == pytest.approx(1.0)
    assert c["particle_fraction"].sum() == pytest.approx(1.0)
    coarse = liberation_classes(table, minerals=M, target="ore", classes=(0, 50, 100), by="mass")
    coarse = coarse.set_index("class")
    # mass grade of ore in particle 2 is 4/6 -> (50,100)
    assert coarse.loc["(50,100)", "mineral_share"] == pytest.approx(32 / 152)


def test_locking(table):
    lk = locking(table, minerals=M, target="ore").set_index(["locking", "partner"])
    assert lk.loc[("liberated", ""), "mineral_share"] == pytest.approx(120 / 152)
    assert lk.loc[("binary", "gangue"), "mineral_share"] == pytest.approx(32 / 152)
    assert lk.loc[("ternary+", ""), "n_particles"] == 0


def test_association_exact():
    pid, ph = boxes()
    a = association(pid, ph, voxel_size_um=1.0, minerals=M).set_index(["mineral", "neighbour"])
    # box 1 (4x5x6) all ore: 148 outer faces; half box of particle 2: 48 outer + 16 contact faces
    assert a.loc[("ore", "gangue"), "faces"] == 16
    assert a.loc[("ore", "void"), "faces"] == 148 + 48
    assert a.loc[("ore", "gangue"), "share"] == pytest.approx(16 / 212)
    # gangue: box 3 (3x6x10) = 2*(18+30+60) = 216 faces + 48
    assert a.loc[("gangue", "void"), "faces"] == 216 + 48
    b = association(pid, ph, voxel_size_um=(1.0, 2.0, 3.0), minerals=M).set_index(["mineral", "neighbour"])
    assert b.loc[("ore", "gangue"), "area_um2"] == pytest.approx(16 * 1.0 * 2.0)  # x-normal faces: sz*sy


def test_modal_and_assay(table):
    mod = modal_mineralogy(table, minerals=M).set_index("mineral")
    assert mod.loc["ore", "volume_percent"] == pytest.approx(100 * 152 / 364)
    assert mod.loc["ore", "mass_percent"] == pytest.approx(100 * 152 * 4 / (152 * 4 + 212 * 2))


def test_grade_recovery_and_yield(table):
    gr = grade_recovery(table, minerals=M, target="ore").set_index("min_grade_percent")
    assert gr.loc[100.0, "recovery"] == pytest.approx(120 / 152)
    assert gr.loc[100.0, "grade"] == pytest.approx(1.0)
    assert gr.loc[100.0, "yield_fraction"] == pytest.approx(120 / 364)
    assert gr.loc[50.0, "recovery"] == pytest.approx(1.0)
    assert gr.loc[50.0, "grade"] == pytest.approx(152 / 184)
    assert gr.loc[0.0, "yield_fraction"] == pytest.approx(1.0)
    y = cumulative_liberation_yield(table, minerals=M, target="ore").set_index("grade_percent")
    assert y.loc[50.0, "cumulative_share"] == pytest.approx(1.0)
    assert y.loc[51.0, "cumulative_share"] == pytest.approx(120 / 152)
    assert y.loc[100.0, "cumulative_share"] == pytest.approx(120 / 152)


def test_analyse_exclude_border_and_bias():
    pid, ph = boxes()
    r = analyse(pid, ph, voxel_size_um=1.0, minerals=M, exclude_border=True, section_axes=("x",), section_spacing=1)
    assert r.excluded_particle_ids == [3]
    assert r.summary["n_particles"] == 2
    assert r.summary["liberated_fraction_3d"]["gangue"] == pytest.approx(0.0)
    assert r.summary["liberated_fraction_3d"]["ore"] == pytest.approx(120 / 152)
    # x-normal sections cut the half/half box into pure pieces: 2D sees all ore liberated
    assert r.summary["liberated_fraction_2d"]["ore"] == pytest.approx(1.0)
    cmp = r.comparison.set_index(["size_class", "mineral"])
    assert cmp.loc[("all", "ore"), "liberated_fraction_bias"] == pytest.approx(32 / 152)
    for key in ("n_particles", "voxel_size_um", "minerals", "modal_volume_percent", "liberated_fraction_3d",
                "liberated_fraction_2d", "liberation_threshold", "version", "parameters"):
        assert key in r.summary
    assert set(r.tables()) >= {"particles.csv", "sections_2d.csv", "liberation.csv", "association.csv",
                               "modal.csv", "grade_recovery.csv"}
    lib = r.liberation
    assert set(lib["dimension"]) == {"3D", "2D"} and set(lib["basis"]) == {"volume", "mass"}
    import json

    json.dumps(r.summary)  # JSON-ready


def test_bad_parameters(table):
    with pytest.raises(InputError, match="target"):
        liberated_fraction(table, minerals=M, target="gold")
    with pytest.raises(InputError, match="threshold"):
        liberated_fraction(table, minerals=M, threshold=1.5)
    with pytest.raises(InputError, match="classes"):
        liberation_classes(table, minerals=M, classes=(0, 50, 90))
    with pytest.raises(InputError, match="by"):
        liberated_fraction(table, minerals=M, by="weight")
    pid, ph = boxes()
    with pytest.raises(InputError, match="target"):
        analyse(pid, ph, voxel_size_um=1.0, minerals=M, target="gold")
    with pytest.raises(InputError, match="voxel_size_um"):
        analyse(pid, ph, voxel_size_um=-1.0, minerals=M)


def test_surface_liberation_classes(table):
    from liberation.stats import surface_liberation

    s = surface_liberation(table, minerals=M, target="ore").set_index("class")
    # particle 1 fully exposed ore (100), particle 2 exposes ore on half its surface ((40,50])
    assert s.loc["100", "mineral_share"] == pytest.approx(120 / 152)
    assert s.loc["(40,50]", "mineral_share"] == pytest.approx(32 / 152)
    assert np.isclose(s["mineral_share"].sum(), 1.0)
