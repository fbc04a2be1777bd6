"""Mesh surface area and sphericity (<= 1, known shapes), principal-axis shape, internal pores,
border particles and the mass basis, against closed forms and hand counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from liberation.minerals import Mineral, MineralList
from liberation.stats import analyse, particle_table
from liberation.stats.analyse import resolve_basis
from liberation.stats.shape import mesh_area_volume, principal_axes, sphericity
from tests._stats_phantoms import two_minerals

CUBE_SPHERICITY = np.pi ** (1 / 3) * 6 ** (2 / 3) / 6  # 0.8060


def _grid(n):
    c = (n - 1) / 2
    z, y, x = np.mgrid[:n, :n, :n].astype(float) - c
    return z, y, x


def test_cube_sphericity():
    for side, tol in ((40, 0.03), (20, 0.05 * CUBE_SPHERICITY)):
        a, v = mesh_area_volume(np.ones((side, side, side), bool))
        assert sphericity(a, v) == pytest.approx(CUBE_SPHERICITY, abs=tol)
        assert a == pytest.approx(6 * side**2, rel=0.05)


def test_sphere_radius_10():
    z, y, x = _grid(25)
    a, v = mesh_area_volume(x**2 + y**2 + z**2 <= 100)
    assert sphericity(a, v) == pytest.approx(1.0, abs=0.05)
    assert sphericity(a, v) <= 1.0
    assert a == pytest.approx(4 * np.pi * 100, rel=0.05)


def test_ellipsoid_and_rotated_box():
    z, y, x = _grid(31)
    aa, bb, cc = 12.0, 8.0, 5.0
    p = 1.6075  # Thomsen's formula, error < 1.1 %
    area = 4 * np.pi * (((aa * bb) ** p + (aa * cc) ** p + (bb * cc) ** p) / 3) ** (1 / p)
    a, v = mesh_area_volume((x / aa) ** 2 + (y / bb) ** 2 + (z / cc) ** 2 <= 1)
    assert a == pytest.approx(area, rel=0.05)
    assert sphericity(a, v) == pytest.approx(sphericity(area, 4 / 3 * np.pi * aa * bb * cc), rel=0.05)
    # a 32 x 20 x 12 box rotated by 30 degrees about z and 20 about y
    box = np.zeros((64, 64, 64), float)
    box[16:48, 22:42, 26:38] = 1.0
    rot = ndimage.rotate(ndimage.rotate(box, 30, axes=(1, 2), reshape=False, order=1), 20, axes=(0, 2),
                         reshape=False, order=1) > 0.5
    a, v = mesh_area_volume(rot)
    true_area = 2 * (32 * 20 + 32 * 12 + 20 * 12)
    assert a == pytest.approx(true_area, rel=0.05)
    assert sphericity(a, v) == pytest.approx(sphericity(true_area, 32 * 20 * 12), rel=0.05)
    assert sphericity(a, v) <= 1.0


def test_principal_axes():
    box = np.zeros((30, 30, 30), bool)
    box[5:25, 10:20, 13:18] = True  # 20 x 10 x 5 -> elongation 0.5, flatness 0.5
    el, fl = principal_axes(box)
    assert el == pytest.approx(0.5, abs=1e-9)
    assert fl == pytest.approx(0.5, abs=1e-9)


def test_no_sphericity_above_one_on_demo_like_particles():
    from tests._stats_phantoms import random_particles

    pid, ph = random_particles()
    t = particle_table(pid, ph, voxel_size_um=1.0, minerals=MineralList(
        [Mineral(1, "a", 3.0), Mineral(2, "b", 2.7), Mineral(3, "c", 2.6)]))
    assert np.all(t["sphericity"] <= 1.0)
    assert np.all(t["sphericity"] > 0.5)


def test_internal_pore():
    """A 12^3 cube of ore with a 4^3 enclosed pore and a 2-voxel notch open to the outside."""
    pid = np.zeros((20, 20, 20), np.uint16)
    pid[4:16, 4:16, 4:16] = 1
    pid[8:12, 8:12, 8:12] = 0  # enclosed pore: 64 voxels, 6 * 16 = 96 faces
    pid[4:6, 9:11, 9:11] = 0  # notch open at the z = 4 face: not a pore
    ph = (pid > 0).astype(np.uint8)
    mins = two_minerals()
    t = particle_table(pid, ph, voxel_size_um=1.0, minerals=mins)
    assert t["pore_voxels"].iloc[0] == 64
    assert t["porosity"].iloc[0] == pytest.approx(64 / (12**3 - 8))
    assert t["pore_surface_um2"].iloc[0] == pytest.approx(96 * 2 / 3)
    # association: the 96 pore faces are the neighbour "pore", the other outer faces "void"
    from liberation.stats import measure
    from liberation.stats.association import association_from_measurements
    from liberation.stats.particles import add_shapes

    m, _ = add_shapes(measure(pid, ph, voxel_size_um=1.0, minerals=mins), pid, ph)
    ore = association_from_measurements(m)
    ore = ore[ore["mineral"] == "ore"].set_index("neighbour")
    total_outside = int(m.faces[0, 1, -1].sum())  # every face to a non-particle voxel, pore included
    assert total_outside == 6 * 144 + 96 + 4 * 2 * 2 + 4 - 4  # cube, pore, notch walls (bottom replaces top)
    assert ore.loc["pore", "faces"] == 96
    assert ore.loc["void", "faces"] == total_outside - 96
    assert ore.loc["pore", "share"] == pytest.approx(96 / total_outside)
    # free surface excludes the pore: the whole free surface is ore's
    assert t["surface_ore"].iloc[0] == pytest.approx(1.0)


def test_border_particles_excluded_by_default():
    pid = np.zeros((20, 20, 20), np.uint16)
    pid[5:10, 5:10, 5:10] = 1  # inside: 125 voxels
    pid[0:4, 12:16, 12:16] = 2  # touches z = 0: 64 voxels
    pid[14:20, 2:5, 2:5] = 3  # touches z = 19: 54 voxels
    ph = (pid > 0).astype(np.uint8)
    r = analyse(pid, ph, voxel_size_um=1.0, minerals=two_minerals(), section_axes=(), bootstrap=0, grains=False)
    assert r.summary["n_particles"] == 1
    assert r.summary["n_excluded"] == 2
    assert sorted(r.excluded_particle_ids) == [2, 3]
    assert r.summary["excluded_volume_fraction"] == pytest.approx((64 + 54) / (125 + 64 + 54))
    r2 = analyse(pid, ph, voxel_size_um=1.0, minerals=two_minerals(), section_axes=(), bootstrap=0, grains=False,
                 exclude_border=False)
    assert r2.summary["n_particles"] == 3 and r2.summary["n_excluded"] == 0


def test_mass_basis_closed_form():
    """Two-mineral particles: A = 60 ore + 40 gangue voxels, B = 100 ore, C = 100 gangue (ore 4.0,
    gangue 2.0 g/cm³). By volume ore grade of A is 0.6; by mass 240 / 320 = 0.75."""
    pid = np.zeros((10, 40, 40), np.uint16)
    ph = np.zeros_like(pid, np.uint8)
    pid[2:6, 2:7, 2:7] = 1  # 100 voxels
    ph[2:6, 2:7, 2:7] = 2
    ph[2:6, 2:7, 2:5] = 1  # 60 ore
    pid[2:6, 12:17, 12:17] = 2
    ph[2:6, 12:17, 12:17] = 1
    pid[2:6, 25:30, 25:30] = 3
    ph[2:6, 25:30, 25:30] = 2
    mins = two_minerals()
    kw = dict(voxel_size_um=1.0, minerals=mins, section_axes=(), bootstrap=0, grains=False, target="ore",
              threshold=0.7)
    rm = analyse(pid, ph, **kw)  # auto -> mass
    rv = analyse(pid, ph, by="volume", **kw)
    assert rm.summary["basis"] == "mass" and rv.summary["basis"] == "volume"
    # liberated at >= 0.7: by mass A (0.75) and B count: ore mass 240 + 400 of 640 -> 1.0;
    # by volume only B: 100 / 160
    assert rm.summary["liberated_fraction_3d"]["ore"] == pytest.approx(1.0)
    assert rv.summary["liberated_fraction_3d"]["ore"] == pytest.approx(100 / 160)
    gr = rm.grade_recovery.set_index("min_grade_percent")
    # cut 75 %: B and A accepted: grade = 640 / (400 + 320), yield = 720 / (720 + 200)
    assert gr.loc[75.0, "grade"] == pytest.approx(640 / 720)
    assert gr.loc[75.0, "yield_fraction"] == pytest.approx(720 / 920)
    assert rm.summary["modal_mass_percent"]["ore"] == pytest.approx(100 * 640 / 920)


def test_resolve_basis_without_density():
    class Bare:
        def __init__(self, name, density):
            self.name, self.density = name, density

    assert resolve_basis("auto", two_minerals()) == ("mass", None)
    basis, note = resolve_basis("auto", [Bare("ore", 4.0), Bare("mystery", float("nan"))])
    assert basis == "volume" and "mystery" in note


def _moment_truth(pid, ids, vs):
    from liberation.stats.sieve import intermediate_axis_length

    rows = []
    for i in ids:
        mask = pid == i
        rows.append((*principal_axes(mask, vs), intermediate_axis_length(mask, vs)))
    return np.array(rows)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("chunked", [False, True])
def test_vectorised_moments_equal_per_particle(engine, chunked, monkeypatch):
    """The vectorised elongation / flatness / intermediate axis (block by block, all particles at once)
    equal the per-particle functions on each mask, with anisotropic voxels and blocks cutting particles."""
    import zarr

    from liberation.stats import measure
    from liberation.stats import shape as S
    from tests._stats_phantoms import random_particles

    if engine == "numpy":
        monkeypatch.setattr(S, "_HAVE_NB", False)
    pid, ph = random_particles()
    vs = (2.0, 1.0, 0.5)
    m = measure(pid, ph, voxel_size_um=vs, minerals=MineralList(
        [Mineral(1, "a", 3.0), Mineral(2, "b", 2.7), Mineral(3, "c", 2.6)]))
    src = pid
    if chunked:  # zarr chunks of 7 voxels: most particles span several blocks
        src = zarr.create_array(store={}, shape=pid.shape, chunks=(7, 7, 7), dtype=pid.dtype)
        src[:] = pid
    got = S.particle_moments_table(src, m.ids, m.bbox, voxel_size_um=vs, workers=2)
    want = _moment_truth(pid, m.ids, vs)
    assert len(m.ids) > 5
    np.testing.assert_allclose(got[list(S.FAST_COLUMNS)].to_numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("chunks", [None, 7, (5, 9, 30)])
def test_measure_pass_moments_equal_own_pass(engine, chunks):
    """The coordinate sums summed in measure_pass's tables pass (``moments=True``, blocks cutting most
    particles, sums about each block's corner moved to the bounding box's) are the integers of the moments'
    own pass over the labels, so the shape table made from them is the same bit for bit."""
    import zarr

    from liberation.stats import shape as S
    from liberation.stats.measure import measure_pass
    from tests._stats_phantoms import random_particles

    pid, ph = random_particles()
    vs = (2.0, 1.0, 0.5)
    mins = MineralList([Mineral(1, "a", 3.0), Mineral(2, "b", 2.7), Mineral(3, "c", 2.6)])
    src_p, src_q = pid, ph
    if chunks == 7:  # zarr chunks: each decoded once, in threads
        src_p = zarr.create_array(store={}, shape=pid.shape, chunks=(7, 7, 7), dtype=pid.dtype)
        src_p[:] = pid
        src_q = zarr.create_array(store={}, shape=ph.shape, chunks=(7, 7, 7), dtype=ph.dtype)
        src_q[:] = ph
    m = measure_pass(src_p, src_q, voxel_size_um=vs, minerals=mins, chunks=None if chunks == 7 else chunks,
                     engine=engine, moments=True, workers=2)[0]
    plain = measure_pass(pid, ph, voxel_size_um=vs, minerals=mins, engine=engine)[0]
    assert plain.moments is None
    np.testing.assert_array_equal(m.counts, plain.counts)
    lo = np.ascontiguousarray(m.bbox[:, :3])
    own = np.zeros((len(m.ids), 10), dtype=np.int64)
    S._np_moments(np.where(np.isin(pid, m.ids), pid, 0), _dense_rows(m.ids), 0, 0, 0, lo, own)
    assert m.moments.dtype == np.int64 and len(m.ids) > 5
    np.testing.assert_array_equal(m.moments, own)
    np.testing.assert_array_equal(m.moments[:, 0], m.counts.sum(axis=1))
    got = S.particle_moments_table(pid, m.ids, m.bbox, voxel_size_um=vs, sums=m.moments)
    want = S.particle_moments_table(pid, m.ids, m.bbox, voxel_size_um=vs)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


@pytest.mark.skipif(not __import__("liberation.stats.shape", fromlist=["_HAVE_NB"])._HAVE_NB, reason="numba")
def test_projection_numba_equals_numpy():
    """The numba projection's extremes are the floats of the numpy projection, bit for bit (runs along x,
    negative, zero and tiny vector components, an id not listed)."""
    from liberation.stats import shape as S

    rng = np.random.default_rng(5)
    pid = np.repeat(rng.integers(0, 6, (9, 10, 8)), 7, axis=2).astype(np.uint32)  # runs of up to 7+ along x
    pid[rng.random(pid.shape) < 0.05] = 3
    rows = np.array([-1, 0, 1, 2, 3, -1], dtype=np.int64)  # id 5: not listed
    lo = rng.integers(0, 4, (4, 3)).astype(np.int64)
    vec = rng.normal(size=(4, 3))
    vec[1, 2] = 0.0
    vec[2, 2] = -1e-300
    vec[3] = (0.1, -0.7, 1.0 / 3.0)
    got = (np.full(4, -np.inf), np.full(4, np.inf))
    want = (np.full(4, -np.inf), np.full(4, np.inf))
    S._nb_project(pid, rows, 3, 1, 2, lo, vec, *got)
    S._np_project(pid, rows, 3, 1, 2, lo, vec, *want)
    for g, w in zip(got, want):
        assert g.tobytes() == w.tobytes()


def _dense_rows(ids):
    rows = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    rows[ids] = np.arange(len(ids))
    return rows


def test_shift_moments_closed_form():
    """Moving every coordinate by d: Σ(a + da)(b + db) = Σab + db Σa + da Σb + n da db (checked on points)."""
    from liberation.stats._kernels import block_moments, shift_moments

    rng = np.random.default_rng(3)
    rows = rng.integers(0, 4, size=(6, 5, 7))
    sums = block_moments(rows, 4)
    d = np.array([[0, 0, 0], [3, -2, 5], [-7, 1, 0], [1000, 2000, -3000]])
    z, y, x = np.nonzero(rows >= 0)
    for r in range(1, 4):
        sel = rows[z, y, x] == r
        c = np.stack([z[sel], y[sel], x[sel]], axis=1).astype(np.int64) + d[r]
        want = [len(c), *c.sum(axis=0)] + [int((c[:, a] * c[:, b]).sum())
                                           for a, b in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))]
        assert shift_moments(sums, d)[r].tolist() == want
    assert sums[0].tolist() == [0] * 10  # row 0 (outside particles) is left out


def test_vectorised_moments_large_ids_and_single_voxel():
    """Ids beyond the dense lookup table are matched by search; a 1-voxel particle has NaN axes."""
    from liberation.stats import shape as S

    pid = np.zeros((12, 12, 12), np.int64)
    pid[1:9, 2:6, 3:5] = 2**40  # 8 x 4 x 2 box: elongation 0.5, flatness 0.5, intermediate axis 4
    pid[10, 10, 10] = 7
    ids = np.array([7, 2**40])
    bbox = np.array([[10, 10, 10, 11, 11, 11], [1, 2, 3, 9, 6, 5]])
    got = S.particle_moments_table(pid, ids, bbox, voxel_size_um=(1.0, 1.0, 1.0))
    assert np.isnan(got["elongation"].iloc[0]) and np.isnan(got["flatness"].iloc[0])
    assert got["intermediate_axis_um"].iloc[0] == pytest.approx(1.0)
    assert got["elongation"].iloc[1] == pytest.approx(0.5, abs=1e-12)
    assert got["flatness"].iloc[1] == pytest.approx(0.5, abs=1e-12)
    assert got["intermediate_axis_um"].iloc[1] == pytest.approx(4.0, abs=1e-9)


def test_shapes_modes_in_analyse():
    """shapes='fast' gives the same principal axes as 'full', corrected-face surface, no mesh/Feret/pores;
    'off' none; a bad mode is refused."""
    from liberation.errors import InputError
    from tests._stats_phantoms import random_particles

    pid, ph = random_particles()
    mins = MineralList([Mineral(1, "a", 3.0), Mineral(2, "b", 2.7), Mineral(3, "c", 2.6)])
    kw = dict(voxel_size_um=1.0, minerals=mins, section_axes=(), bootstrap=0, grains=False, exclude_border=False)
    full = analyse(pid, ph, shapes="full", **kw)
    fast = analyse(pid, ph, shapes="fast", **kw)
    off = analyse(pid, ph, shapes=False, **kw)
    for col in ("elongation", "flatness", "intermediate_axis_um"):
        np.testing.assert_array_equal(fast.particles[col].to_numpy(), full.particles[col].to_numpy())
    assert fast.particles["feret_max_um"].isna().all() and "pore_voxels" not in fast.particles
    assert full.particles["feret_max_um"].notna().all() and "pore_voxels" in full.particles
    # fast: surface from the corrected voxel faces, as with no shapes at all
    np.testing.assert_array_equal(fast.particles["surface_area_um2"].to_numpy(),
                                  off.particles["surface_area_um2"].to_numpy())
    assert fast.summary["parameters"]["shapes"] == "fast"
    assert fast.summary["parameters"]["surface_method"] == "corrected_voxel_faces"
    assert full.summary["parameters"]["surface_method"] == "mesh"
    assert "elongation" not in off.particles
    with pytest.raises(InputError, match="shapes='round'"):
        analyse(pid, ph, shapes="round", **kw)
