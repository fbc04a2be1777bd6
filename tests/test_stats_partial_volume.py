"""Sub-voxel (soft) quantification: model estimation, unmixing, chunking, truth comparison, analyse/CLI."""

from __future__ import annotations

import numpy as np
import pytest

from liberation.errors import InputError
from liberation.stats import measure
from liberation.stats import partial_volume as pv
from liberation.synthetic.ct import attenuation_lut
from liberation.synthetic.pv_phantom import partial_volume_phantom


@pytest.fixture(scope="module")
def phantom():
    return partial_volume_phantom(seed=1, blur_sigma_vox=0.7, inclusion_radii=(2, 3), per_radius=2, rims=(1.0,),
                                  grain_radii=(2, 3))


def _true_levels(minerals):
    lut = attenuation_lut(minerals)
    return 8000 + (lut - lut.min()) * 40000 / (lut.max() - lut.min())


def test_model_from_the_data(phantom):
    model = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5)
    true = _true_levels(phantom.minerals)
    for pid in (0, phantom.minerals["quartz"].id, phantom.minerals["spodumene"].id):
        assert abs(model.levels[pid] - true[pid]) < 0.01 * 40000, (pid, model.levels[pid], true[pid])
        assert abs(model.noise[pid] / phantom.params["noise_grey"] - 1) < 0.1
    assert model.level_source[phantom.minerals["albite"].id] == "absent"
    # effective edge blur: PSF sigma plus the voxel box (1/12) and the hard boundary's quantisation (1/12)
    s = phantom.params["blur_sigma_vox"]
    assert s - 0.05 < model.edge_sigma_vox < np.sqrt(s**2 + 1 / 6) + 0.1
    d = model.to_dict(phantom.minerals)
    assert d["levels"]["void"] == pytest.approx(model.levels[0])


def test_half_space_exact_without_noise():
    # a plane at a sub-voxel position, no blur: the boundary voxel's grey is the exact mixture
    shape = (6, 8, 10)
    x_edge = 4.3  # void for x < 4.3, phase 1 beyond
    frac1 = np.clip(np.arange(shape[2]) + 1 - x_edge, 0, 1)
    image = np.broadcast_to(1000 + 9000 * frac1, shape).astype(np.float64).copy()
    phases = np.broadcast_to((frac1 >= 0.5).astype(np.uint8), shape).copy()
    particles = phases.astype(np.uint32)
    model = pv.PartialVolumeModel.from_levels([1000.0, 10000.0])
    fr = pv.phase_fractions(image, phases, particles, model=model)
    vol = fr.volume_of(phases, 1)
    assert vol.sum() == pytest.approx(frac1.sum() * shape[0] * shape[1], rel=1e-6)
    m = measure(particles, phases, voxel_size_um=1.0, minerals=_two_minerals())
    counts = pv.soft_counts(particles, phases, image, model=model, ids=m.ids, hard_counts=m.counts)
    assert counts[0, 1] == pytest.approx(frac1.sum() * shape[0] * shape[1], rel=1e-9)
    assert m.counts[0, 1] != pytest.approx(counts[0, 1])  # the hard count is off by 0.3 of a voxel per row


def _two_minerals():
    from liberation.minerals import Mineral, MineralList

    return MineralList([Mineral(id=1, name="bright", density=3.0)])


def test_chunked_equals_whole_volume(phantom):
    model = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5)
    whole = pv.phase_fractions(phantom.ct, phantom.phases, phantom.particles, model=model)
    for chunks in ((7, 13, 50), (16, 40, 40)):
        part = pv.phase_fractions(phantom.ct, phantom.phases, phantom.particles, model=model, chunks=chunks)
        assert np.array_equal(whole.fraction, part.fraction)
        assert np.array_equal(whole.partner, part.partner)
        assert np.array_equal(whole.owner, part.owner)
    m = measure(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals)
    a = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, model=model, ids=m.ids, hard_counts=m.counts)
    b = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, model=model, ids=m.ids, hard_counts=m.counts,
                       chunks=(7, 13, 50), workers=2)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    # per-voxel fractions summed by particle = the streaming soft counts
    tid = phantom.minerals["spodumene"].id
    vol = whole.volume_of(phantom.phases, tid)
    # (every target voxel lies in a particle, and every partner share of target goes to the particle next to it)
    assert a[:, tid].sum() == pytest.approx(float(vol.sum(dtype=np.float64)), rel=1e-6)


def test_constant_box_kernels_agree():
    """The plane-streaming numba box test equals min == max filters (scipy), with and without a halo."""
    from scipy import ndimage

    from liberation.stats import partial_volume_kernels as k

    if not k.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    for r in (1, 2):
        ph = ndimage.maximum_filter((rng.random((19, 23, 29)) < 0.02).astype(np.uint8), size=(3, 2, 4))
        ph = ph + (rng.random(ph.shape) < 0.002) * 2
        for lo, hi in (((0, 0, 0), ph.shape), ((r, r, r), tuple(n - r for n in ph.shape)), ((3, 1, 5), (15, 22, 20))):
            a = k.constant_box(ph, r, lo=lo, hi=hi, engine="numba")
            b = k.constant_box(ph, r, lo=lo, hi=hi, engine="numpy")
            assert a.shape == tuple(h - low for low, h in zip(lo, hi)) and 0 < a.sum() < a.size
            assert np.array_equal(a, b), (r, lo, hi)
        g = rng.normal(1000, 10, ph.shape)
        # phases < 8: packed box counts in y strips; 3 phases given for ids up to 3: a bad id is reported
        for n_phases in (3, 4):
            for lo, hi in ((None, None), ((0, 0, 0), ph.shape), ((3, 1, 5), (15, 22, 20))):
                na = k.interior_sums(g, ph, r, n_phases, 0.0, lo=lo, hi=hi, engine="numba")
                nb = k.interior_sums(g, ph, r, n_phases, 0.0, lo=lo, hi=hi, engine="numpy")
                assert (na[3] >= n_phases) == (nb[3] >= n_phases)
                if nb[3] >= 0:
                    continue
                np.testing.assert_array_equal(na[0], nb[0])
                np.testing.assert_allclose(na[1], nb[1], rtol=1e-12)
                np.testing.assert_allclose(na[2], nb[2], rtol=1e-12)


@pytest.mark.parametrize(("radius", "clip"), [(1, True), (1, False), (2, False)])
def test_numba_soft_counts_equal_numpy_reference(phantom, radius, clip):
    """The fused numba unmixing (packed box counts, no gathering) equals the numpy reference voxel for voxel."""
    from liberation.stats import partial_volume_kernels as k

    if not k.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    m = measure(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals)
    model = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5)
    kw = {"model": model, "ids": m.ids, "hard_counts": m.counts, "radius": radius, "clip": clip}
    a = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, engine="numba", **kw)
    b = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, engine="numpy", **kw)
    c = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, engine="numba", chunks=(7, 13, 50), workers=2,
                       **kw)
    assert np.abs(a - m.counts).max() > 10  # voxels were moved
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a, c, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("n_phases", "id_offset", "radius"), [(5, 0, 1), (5, 0, 2), (8, 0, 1), (5, 2**31, 1)])
def test_owner_shortcut_equals_reference_on_awkward_labels(n_phases, id_offset, radius):
    """The partner's particle from the box's ids (one id besides the background, void exactly where the
    background is) equals the scan of the neighbours of the numpy reference where the shortcut does not apply:
    touching particles, pores (void inside a particle), mineral voxels outside the particles, 8 phases (no free
    field for the flag) and ids beyond int32 (per-block local ids), at the volume border and inside."""
    from scipy import ndimage

    from liberation.stats import partial_volume_kernels as k

    if not k.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(7)
    shape = (23, 29, 31)
    zz, yy, xx = np.indices(shape)
    particles = np.zeros(shape, np.int64)
    for i in range(1, 13):  # overlapping balls: later ones cut into earlier ones (touching particles)
        c, rad = rng.uniform(0, 1, 3) * shape, rng.uniform(3, 7)
        particles[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < rad**2] = i
    phases = np.where(particles > 0, 1 + ndimage.zoom(rng.integers(0, n_phases - 1, (4, 5, 6)), np.array(shape) /
                                                      (4, 5, 6), order=0)[: shape[0], : shape[1], : shape[2]], 0)
    phases[(particles > 0) & (rng.random(shape) < 0.03)] = 0  # pores
    phases[(particles == 0) & (rng.random(shape) < 0.02)] = n_phases - 1  # minerals outside the particles
    phases = phases.astype(np.uint8)
    levels = np.linspace(8000.0, 48000.0, n_phases)
    grey = ndimage.gaussian_filter(levels[phases], 0.7) + rng.normal(0, 300, shape)
    ids = np.unique(particles)[1:]
    particles = np.where(particles > 0, particles + id_offset, 0).astype(np.uint64 if id_offset else np.uint32)
    ids = ids + id_offset
    model = pv.PartialVolumeModel(levels=levels, noise=np.full(n_phases, 300.0), interior_voxels=np.ones(n_phases,
                                                                                                           np.int64))
    hard = np.zeros((ids.size, n_phases), np.int64)
    for clip in (True, False):  # the residual rule and the unclipped rule (three phases split by the blur)
        kw = {"model": model, "ids": ids, "hard_counts": hard, "radius": radius, "clip": clip}
        a = pv.soft_counts(particles, phases, grey, engine="numba", chunks=(9, 29, 31), **kw)
        b = pv.soft_counts(particles, phases, grey, engine="numpy", **kw)
        assert np.abs(a).sum() > 100  # voxels were moved
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_unclipped_soft_counts_are_linear_in_the_grey_values(phantom):
    """The unclipped rule selects the voxels, partners and predicted shares from the hard labels and the model only:
    with the model fixed, soft counts of ``g0 + z`` and ``g0 - z`` average to those of ``g0`` exactly (no selection
    by the noise, hence no noise-induced bias: the mean over noise draws is the noise-free result), at radius 1
    (face neighbours measured, the rest of the 5x5x5 box predicted) and 2."""
    from scipy import ndimage

    from liberation.stats import partial_volume_kernels as k

    m = measure(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals)
    model = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5)
    g0 = ndimage.gaussian_filter(model.levels[phantom.phases], 0.7)  # a noise-free image of the same labels
    z = np.random.default_rng(5).normal(0, 1200, g0.shape)
    # the numba kernel (the numpy reference where numba is missing; they agree to 1e-9: tests above)
    engine = "numba" if k.HAVE_NUMBA else "numpy"
    for radius in (1, 2):
        kw = {"model": model, "ids": m.ids, "hard_counts": m.counts, "radius": radius, "engine": engine}
        mid = pv.soft_counts(phantom.particles, phantom.phases, g0, **kw)
        up = pv.soft_counts(phantom.particles, phantom.phases, g0 + z, **kw)
        down = pv.soft_counts(phantom.particles, phantom.phases, g0 - z, **kw)
        assert np.abs(up - mid).max() > 1  # the noise moves volume
        np.testing.assert_allclose((up + down) / 2, mid, rtol=0, atol=1e-8)


def test_class_tables_partition_the_box():
    """The distance classes of the blur shares: every offset of the box in exactly one class, whose blur is the
    box's blur at each of its offsets (the model's blur is separable and the same along the three axes)."""
    from liberation.stats import partial_volume_kernels as k
    from liberation.stats.partial_volume_blocks import offsets
    from liberation.stats.partial_volume_unmix import box_weights, measured_mask

    for R, n3 in ((2, 10), (3, 20)):
        W = box_weights(0.9, R)
        terms, map3, W3 = k.class_tables(R, W)
        assert W3.size == n3 and map3.shape == (R + 1, (R + 1) * (R + 2) // 2)
        pairs = [(j, kk) for j in range(R + 1) for kk in range(j, R + 1)]  # the 2D classes, in order
        size = np.zeros(n3, np.int64)
        for (dz, dy, dx), w in zip(offsets(R), W):
            c = map3[abs(dz), pairs.index((min(abs(dy), abs(dx)), max(abs(dy), abs(dx))))]
            assert W3[c] == pytest.approx(w, rel=1e-12)
            size[c] += 1
        assert size.sum() == (2 * R + 1) ** 3
        assert float(W3 @ size) == pytest.approx(1.0, rel=1e-12)
        # every 2D class sums the rows of its (|dy|, |dx|) pairs: 4 or 8 voxels off the axes, 2 or 4 on them, 1 centre
        n2 = np.bincount(terms[:, 0], weights=np.where(terms[:, 1] == 0, 1, 2))
        assert n2.sum() == (2 * R + 1) ** 2
        # the unclipped rule's measured neighbourhood (taxicab ball of r < R) as (plane, 2D class) rows: the voxels
        # of measured_mask, each once
        for r in range(1, R):
            rows = k.taxi_terms(R, r)
            want = np.zeros((2 * R + 1, len(pairs)), np.int64)
            for (dz, dy, dx), inside in zip(offsets(R), measured_mask(offsets(R), r, False)):
                if inside:
                    want[dz + R, pairs.index((min(abs(dy), abs(dx)), max(abs(dy), abs(dx))))] += 1
            # each class of a plane lies wholly inside or outside the ball: 1, 4 or 8 voxels of (|dy|, |dx|) = (j, k)
            size2 = np.array([1 if kk == 0 else 4 if j in (0, kk) else 8 for j, kk in pairs])
            assert {(int(d), int(c)) for d, c in rows} == set(zip(*np.nonzero(want)))
            assert np.all(want[rows[:, 0], rows[:, 1]] == size2[rows[:, 1]])
            assert want.sum() == int(measured_mask(offsets(R), r, False).sum())


@pytest.mark.parametrize("radius", [1, 2])
def test_class_shares_equal_gather_on_a_multi_mineral_sample(radius):
    """The unclipped rule's blur shares from the class plane sums equal the gather of the box's neighbours and the
    numpy reference on make_sample's multi-mineral particles (three and more phases per box, ring partners)."""
    from liberation.stats import partial_volume_kernels as k
    from liberation.stats import partial_volume_unmix as unmix
    from liberation.synthetic import make_sample

    if not k.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    s = make_sample(shape=(28, 36, 40), seed=3)
    m = measure(s.particles, s.phases, voxel_size_um=2.0, minerals=s.minerals)
    model = pv.estimate_model(s.ct, s.phases, n_phases=m.n_phases)
    kw = {"model": model, "ids": m.ids, "hard_counts": m.counts, "radius": radius, "clip": False}
    a = pv.soft_counts(s.particles, s.phases, s.ct, engine="numba", chunks=(10, 36, 40), **kw)
    b = pv.soft_counts(s.particles, s.phases, s.ct, engine="numpy", **kw)
    ext = unmix.halo(radius, False)
    g, ph, pid = (np.pad(v, ext, mode="edge") for v in (s.ct, s.phases, s.particles))
    lut = unmix._global_lut(m.ids)
    args = (g, ph, pid, lut, m.ids.size + 1, radius, np.asarray(model.levels, float), model.noise_sigma,
            model.min_contrast, False)
    d1, moved1, _ = k.soft_deltas(*args, sigma_eff=model.edge_sigma_vox)
    d2, moved2, _ = k.soft_deltas(*args, sigma_eff=model.edge_sigma_vox, class_path=False)
    assert moved1 == moved2 > 1000 and np.abs(a - m.counts).max() > 5
    np.testing.assert_allclose(d1, d2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_soft_counts_id_lookup_and_subset_of_ids(phantom, monkeypatch):
    """One lookup of all the ids (the default) equals the per-block local ids; ids left out are dropped."""
    from liberation.stats import partial_volume_kernels as k
    from liberation.stats import partial_volume_unmix as unmix

    if not k.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    m = measure(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals)
    model = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5)
    assert unmix._global_lut(m.ids) is not None
    for sel in (slice(None), slice(None, None, 2)):
        kw = {"model": model, "ids": m.ids[sel], "hard_counts": m.counts[sel], "chunks": (9, 20, 31), "workers": 2}
        a = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, engine="numba", **kw)
        b = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, engine="numpy", **kw)
        with monkeypatch.context() as mp:
            mp.setattr(unmix, "_global_lut", lambda ids: None)
            c = pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, engine="numba", **kw)
        assert a.shape == m.counts[sel].shape and np.abs(a - m.counts[sel]).max() > 10
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a, c, rtol=0, atol=1e-9)
    assert unmix._global_lut(np.array([3, 1 << 40])) is None  # too sparse for a dense lookup


def test_model_sample_equals_whole_on_a_uniform_volume(phantom):
    """Levels measured on evenly spaced slabs agree with the whole volume; absent phases cost no pass."""
    whole = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5, sample_voxels=None, edge=False)
    part = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5, sample_voxels=phantom.ct.size // 3, edge=False)
    for pid in (0, phantom.minerals["quartz"].id):
        assert part.interior_voxels[pid] < whole.interior_voxels[pid]
        assert abs(part.levels[pid] - whole.levels[pid]) < 4 * whole.noise[pid] / np.sqrt(part.interior_voxels[pid])
    # spodumene has fewer than min_interior interior voxels in the slabs: measured on the whole volume
    sp = phantom.minerals["spodumene"].id
    assert part.interior_voxels[sp] == whole.interior_voxels[sp] and part.levels[sp] == whole.levels[sp]
    counts = np.bincount(phantom.phases.ravel(), minlength=5)
    given = pv.estimate_model(phantom.ct, phantom.phases, n_phases=5, phase_voxels=counts, edge=False)
    assert given.level_source[phantom.minerals["albite"].id] == "absent"
    with pytest.raises(InputError, match="sample_voxels"):
        pv.estimate_model(phantom.ct, phantom.phases, sample_voxels=0)


def test_tail_ring_next_to_the_void(monkeypatch):
    """Noise-free, blur 1 voxel: inclusions of radius 4 and 6 within 1.5-6 voxels of their host's surface. The void's
    blur from beyond the 5x5x5 box, given to quartz, cost them 1.6 % of their volume (2.8 % on the phantom of the
    population test); the unclipped rule's tail ring predicts it (docs/partial_volume.md, third round)."""
    from liberation.stats import partial_volume_unmix as unmix

    ph = partial_volume_phantom(seed=1, blur_sigma_vox=1.0, noise=0.0, inclusion_radii=(4, 6), per_radius=3, rims=(),
                                grain_radii=())
    m = measure(ph.particles, ph.phases, voxel_size_um=2.0, minerals=ph.minerals)
    model = pv.estimate_model(ph.ct, ph.phases, n_phases=5)
    assert 1.0 < model.edge_sigma_vox < 1.08  # the model's blur of a 1-voxel PSF (edge-spread fit: 0.99)
    tid = ph.minerals["spodumene"].id
    true = ph.truth["true_counts"][m.ids, tid].sum()
    soft = pv.soft_counts(ph.particles, ph.phases, ph.ct, model=model, ids=m.ids, hard_counts=m.counts)[:, tid]
    assert abs(soft.sum() / true - 1) < 0.008, soft.sum() / true - 1
    monkeypatch.setattr(unmix, "halo", lambda radius, clip: int(radius))  # no ring: the rule of the second round
    no_ring = pv.soft_counts(ph.particles, ph.phases, ph.ct, model=model, ids=m.ids, hard_counts=m.counts)[:, tid]
    assert no_ring.sum() / true - 1 < -0.012, no_ring.sum() / true - 1


def _errors(ph, radius=1, clip=True):
    m = measure(ph.particles, ph.phases, voxel_size_um=2.0, minerals=ph.minerals)
    model = pv.estimate_model(ph.ct, ph.phases, n_phases=5)
    soft = pv.soft_counts(ph.particles, ph.phases, ph.ct, model=model, ids=m.ids, hard_counts=m.counts,
                          radius=radius, clip=clip)
    tid = ph.minerals[ph.params["target"]].id
    true = ph.truth["true_counts"][m.ids]
    obj = ph.truth["objects"].set_index("particle_id").loc[m.ids]
    hard_e = np.abs(m.counts[:, tid] / true[:, tid] - 1)
    soft_e = np.abs(soft[:, tid] / true[:, tid] - 1)
    return obj, hard_e, soft_e, m, soft, true


@pytest.mark.slow
def test_against_exact_truth(capsys):
    """Per-radius volume errors of hard (majority-voxel) labels and soft fractions vs the exact fine-grid truth."""
    rows = {}
    for seed in (1, 2):
        ph = partial_volume_phantom(seed=seed, blur_sigma_vox=0.7)
        for name, kw in (("3x3x3 clipped", {"radius": 1, "clip": True}), ("r2 unclipped", {"radius": 2, "clip": False})):
            obj, he, se, m, soft, true = _errors(ph, **kw)
            for kind in ("grain", "inclusion"):
                for r in (2.0, 3.0, 4.0):
                    sel = (obj["kind"].to_numpy() == kind) & (obj["radius_vox"].to_numpy() == r)
                    rows.setdefault((name, kind, r), []).append((he[sel], se[sel]))
    with capsys.disabled():
        print("\nmethod          kind       radius  hard |err|  soft |err|")
        for (name, kind, r), parts in rows.items():
            h = np.concatenate([p[0] for p in parts]).mean()
            s = np.concatenate([p[1] for p in parts]).mean()
            print(f"{name:15s} {kind:10s} {r:5.0f}  {h:10.3f}  {s:10.3f}")
    mean = {k: (np.concatenate([p[0] for p in v]).mean(), np.concatenate([p[1] for p in v]).mean())
            for k, v in rows.items()}
    # free target grains of radius 2-4: the soft volume is within 5 % of the truth and closer than hard
    for r in (2.0, 3.0, 4.0):
        for name in ("3x3x3 clipped", "r2 unclipped"):
            h, s = mean[(name, "grain", r)]
            assert s < 0.05 and s < h, (name, r, h, s)
    # inclusions of radius 3-4 inside a host: soft within 5 % with the unclipped radius-2 rule (taxicab ball measured)
    for r in (3.0, 4.0):
        assert mean[("r2 unclipped", "inclusion", r)][1] < 0.05


@pytest.mark.slow
@pytest.mark.parametrize(("blur", "noise"), [(0.7, 0.01)])
def test_must_show_inclusions_grades_liberation(capsys, blur, noise):
    """Issue 24's "must show" at noise 0.01 (620 grey, contrast spodumene-quartz 13.6 noise deviations), blur 0.7:
    the soft volume of inclusions of radius 2-4 within 5 % of the exact truth where the hard labels are off by
    more, per radius; their particles' grades closer; the liberated fraction of the target (free grains of
    radius 2-4 against inclusions of radius 1-6) closer. Not general: with inclusions of radius 2-4 only, the
    hard labels' errors cancel in the liberated fraction (hard 0.4987, soft 0.4948, truth 0.5000; the soft
    volume of free grains is 1-4 % low). benchmarks/bench_partial_volume_truth.py prints other blurs and noises.
    Per object this holds at (0.7, 0.01) only; other blurs and noises: the population test below."""
    vol, grade, lib = {}, {}, {"hard": [], "soft": [], "true": []}
    for seed in (1, 2):
        ph = partial_volume_phantom(seed=seed, blur_sigma_vox=blur, noise=noise, rims=())
        obj, he, se, m, soft, true = _errors(ph)
        tid = ph.minerals[ph.params["target"]].id
        for name, counts in (("hard", m.counts.astype(float)), ("soft", soft), ("true", true)):
            g = counts[:, tid] / counts[:, 1:].sum(axis=1)
            lib[name].append((counts[:, tid][g >= 0.9].sum(), counts[:, tid].sum()))
            grade.setdefault(name, []).append(g)
        for r in (2.0, 3.0, 4.0):
            sel = (obj["kind"].to_numpy() == "inclusion") & (obj["radius_vox"].to_numpy() == r)
            vol.setdefault(r, []).append((he[sel], se[sel], sel))
    with capsys.disabled():
        print(f"\nblur {blur}, noise {noise}\ninclusion radius  hard |err|  soft |err|  hard |grade err|  "
              "soft |grade err|")
        for r, parts in vol.items():
            h = np.concatenate([p[0] for p in parts]).mean()
            s = np.concatenate([p[1] for p in parts]).mean()
            gh = np.concatenate([np.abs(grade["hard"][i] - grade["true"][i])[p[2]] for i, p in enumerate(parts)])
            gs = np.concatenate([np.abs(grade["soft"][i] - grade["true"][i])[p[2]] for i, p in enumerate(parts)])
            print(f"{r:16.0f}  {h:10.3f}  {s:10.3f}  {gh.mean():16.5f}  {gs.mean():16.5f}")
            assert s < 0.05 and s < h, (r, h, s)
            assert gs.mean() < gh.mean(), (r, gh.mean(), gs.mean())
        frac = {k: sum(a for a, _ in v) / sum(b for _, b in v) for k, v in lib.items()}
        print(f"liberated fraction of the target: truth {frac['true']:.4f} hard {frac['hard']:.4f} "
              f"soft {frac['soft']:.4f}")
    assert abs(frac["soft"] - frac["true"]) < abs(frac["hard"] - frac["true"])


_OPEN = "issue 24 open on this phantom (radius 1-6, 5 per radius): {} (docs/partial_volume.md)"


@pytest.mark.slow
@pytest.mark.parametrize(("blur", "noise"), [
    (0.5, 0.01),
    (0.7, 0.01),
    (1.0, 0.01),
    (0.5, 0.02),
    (0.7, 0.02),
    pytest.param(1.0, 0.02, marks=pytest.mark.xfail(strict=True, reason=_OPEN.format(
        "volumes pass (radius 2 / 3 / 4: +1.9 / -0.1 / -0.4 %); mean |grade error| soft 0.00082 vs hard 0.00076: "
        "the per-object noise of the radius-2 measured neighbourhood that a blur of 1 voxel needs"))),
])
def test_must_show_population_per_radius(capsys, blur, noise):
    """Issue 24's "must show" per radius as the volume of the *population* of inclusions of that radius (what
    grade and modal statistics depend on): sum of the soft volumes / sum of the truths - 1 within 5 % for
    inclusions of radius 2-4 where the hard (majority) labels are off by more, and at least as close where they
    are within 5 %; the particles' grades (mean |grade error|) and the liberated fraction of the target closer.
    Per object, noise 0.02 on a radius-2 object has a floor of ~5 % mean |error| for any estimator
    (docs/partial_volume.md), so the per-object criterion is the test above at (0.7, 0.01) only."""
    pop, grade, lib = {}, {"hard": [], "soft": [], "true": []}, {"hard": [], "soft": [], "true": []}
    for seed in (1, 2):
        ph = partial_volume_phantom(seed=seed, blur_sigma_vox=blur, noise=noise, inclusion_radii=(1, 2, 3, 4, 6),
                                    per_radius=5, rims=(), grain_radii=(2, 3, 4))
        obj, _he, _se, m, soft, true = _errors(ph, radius="auto", clip=False)  # the defaults of soft_counts
        tid = ph.minerals[ph.params["target"]].id
        for name, counts in (("hard", m.counts.astype(float)), ("soft", soft), ("true", true)):
            g = counts[:, tid] / counts[:, 1:].sum(axis=1)
            lib[name].append((counts[:, tid][g >= 0.9].sum(), counts[:, tid].sum()))
            incl = (obj["kind"].to_numpy() == "inclusion") & np.isin(obj["radius_vox"].to_numpy(), (2.0, 3.0, 4.0))
            grade[name].append(g[incl])
        for r in (2.0, 3.0, 4.0):
            sel = (obj["kind"].to_numpy() == "inclusion") & (obj["radius_vox"].to_numpy() == r)
            acc = pop.setdefault(r, np.zeros(3))
            acc += (m.counts[sel, tid].sum(), soft[sel, tid].sum(), true[sel, tid].sum())
    gh = np.abs(np.concatenate(grade["hard"]) - np.concatenate(grade["true"])).mean()
    gs = np.abs(np.concatenate(grade["soft"]) - np.concatenate(grade["true"])).mean()
    frac = {k: sum(a for a, _ in v) / sum(b for _, b in v) for k, v in lib.items()}
    with capsys.disabled():
        print(f"\nblur {blur}, noise {noise}: inclusion radius, population error hard / soft (10 inclusions each)")
        for r, (h, s, t) in pop.items():
            print(f"  {r:.0f}: {h / t - 1:+.4f} / {s / t - 1:+.4f}")
        print(f"  mean |grade error| hard {gh:.5f} soft {gs:.5f}; liberated fraction truth {frac['true']:.4f} "
              f"hard {frac['hard']:.4f} soft {frac['soft']:.4f}")
    for r, (h, s, t) in pop.items():
        eh, es = abs(h / t - 1), abs(s / t - 1)
        assert es < 0.05 and (es < eh if eh > 0.05 else es <= eh), (r, h / t - 1, s / t - 1)
    assert gs < gh, (gh, gs)
    assert abs(frac["soft"] - frac["true"]) < abs(frac["hard"] - frac["true"])


def test_soft_statistics_and_analyse(phantom):
    from liberation.stats import analyse

    res = analyse(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals,
                  image=phantom.ct, quantification="both", bootstrap=0, shapes=False, grains=False,
                  section_axes=(), exclude_border=False)
    assert res.particles_soft is not None and len(res.particles_soft) == len(res.particles)
    q = res.quantification
    assert set(q["quantity"]) >= {"volume_um3", "modal_percent", "mean_grade", "liberated_fraction"}
    row = q[(q["mineral"] == "spodumene") & (q["quantity"] == "volume_um3") & (q["basis"] == "volume")].iloc[0]
    true_vol = phantom.truth["true_counts"][1:, phantom.minerals["spodumene"].id].sum() * 8.0
    assert abs(row["soft"] - true_vol) < abs(row["hard"] - true_vol) + 0.01 * true_vol
    assert res.summary["quantification"] == "both"
    assert "levels" in res.summary["partial_volume_model"]
    assert "quantification.csv" in res.tables()
    from liberation.report.html import build_html

    page = build_html(res, {})
    assert "Hard labels vs sub-voxel (soft) quantification" in page  # side by side in the report page
    assert "soft_minus_hard" in page and "liberated_fraction" in page
    soft_only = analyse(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals,
                        image=phantom.ct, quantification="soft", bootstrap=0, shapes=False, grains=False,
                        section_axes=(), exclude_border=False)
    np.testing.assert_allclose(soft_only.particles["voxels_spodumene"], res.particles_soft["voxels_spodumene"])
    assert soft_only.particles_soft is None


def test_bad_inputs(phantom):
    from liberation.stats import analyse

    with pytest.raises(InputError, match="quantification"):
        analyse(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals,
                quantification="fuzzy", bootstrap=0)
    with pytest.raises(InputError, match="needs the CT image"):
        analyse(phantom.particles, phantom.phases, voxel_size_um=2.0, minerals=phantom.minerals,
                quantification="soft", bootstrap=0)
    with pytest.raises(InputError, match="image has shape"):
        pv.estimate_model(phantom.ct[:-1], phantom.phases)
    with pytest.raises(InputError, match="erosion"):
        pv.estimate_model(phantom.ct, phantom.phases, erosion=0)
    model = pv.PartialVolumeModel.from_levels([0.0, 1.0])
    with pytest.raises(InputError, match="radius"):
        pv.phase_fractions(phantom.ct, phantom.phases, model=model, radius=5)
    with pytest.raises(InputError, match="model"):
        pv.phase_fractions(phantom.ct, phantom.phases, model={"levels": [0, 1]})
    with pytest.raises(InputError, match="engine"):
        pv.soft_counts(phantom.particles, phantom.phases, phantom.ct, model=model, ids=np.array([1]),
                       hard_counts=np.zeros((1, 2)), engine="cuda")
