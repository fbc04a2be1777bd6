"""Particle bootstrap: interval coverage on a population with known truth, and the vectorised
statistics equal a naive loop over replicates that calls the plain statistics functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.errors import InputError
from liberation.stats import (
    cumulative_liberation_yield,
    grade_recovery,
    liberated_fraction,
    liberation_classes,
    modal_mineralogy,
)
from liberation.stats.bootstrap import bootstrap_intervals, bootstrap_weights
from tests._stats_phantoms import two_minerals


def _table(ore: np.ndarray, gangue: np.ndarray, size_class=None) -> pd.DataFrame:
    n = len(ore)
    return pd.DataFrame({
        "particle_id": np.arange(1, n + 1), "voxels": ore + gangue, "voxels_ore": ore, "voxels_gangue": gangue,
        "excluded": np.zeros(n, bool), "size_class": size_class if size_class is not None else np.full(n, "all"),
    })


def test_weights_are_stratified_and_seeded():
    strata = np.array(["a"] * 7 + ["b"] * 3 + ["a"] * 5)
    w = np.concatenate(list(bootstrap_weights(strata, 1000, seed=3, chunk=128)))
    assert w.shape == (1000, 15)
    assert np.all(w[:, strata == "a"].sum(axis=1) == 12)
    assert np.all(w[:, strata == "b"].sum(axis=1) == 3)
    w2 = np.concatenate(list(bootstrap_weights(strata, 1000, seed=3, chunk=1000)))
    assert np.array_equal(w, w2)  # chunking does not change the draws
    # each particle drawn once per replicate on average
    assert np.allclose(w.mean(axis=0), 1.0, atol=0.12)


def test_coverage_on_known_binomial_population():
    """True liberated fraction 0.3 (equal-volume particles, liberated or not): 100 samples of 80
    particles; the 95 % interval must cover 0.3 in 90-99 of 100 repeats."""
    mins = two_minerals()
    rng = np.random.default_rng(11)
    p_true, n, repeats, hits = 0.3, 80, 100, 0
    for r in range(repeats):
        lib = rng.random(n) < p_true
        # liberated particles: 100 voxels of ore; the others: 50 ore + 50 gangue (same ore amount
        # per particle, so the ore share in liberated particles equals the particle fraction)
        ore = np.where(lib, 50, 50)
        gangue = np.where(lib, 0, 50)
        ci = bootstrap_intervals(_table(ore, gangue), None, minerals=mins, target="ore", n_boot=1000, seed=r,
                                 curves=False)
        lo, hi = ci[("lib", "3D", "volume", "all", "ore")]
        hits += bool(lo[0] <= p_true <= hi[0])
    assert 0.90 * repeats <= hits <= 0.99 * repeats, hits


def test_vectorised_equals_naive_loop():
    mins = two_minerals()
    rng = np.random.default_rng(5)
    n = 23
    ore = rng.integers(0, 60, n)
    gangue = rng.integers(0, 60, n)
    ore[:5], gangue[:5] = 40, 0  # some liberated particles
    sizes = np.where(np.arange(n) < 15, "<50", ">=50")
    t = _table(ore, gangue, sizes)
    # two sections per particle with other compositions
    sec = pd.DataFrame({
        "particle_id": np.repeat(t["particle_id"], 2).to_numpy(), "pixels": 0,
        "pixels_ore": rng.integers(0, 20, 2 * n), "pixels_gangue": rng.integers(0, 20, 2 * n),
        "excluded": np.zeros(2 * n, bool), "size_class": np.repeat(sizes, 2),
    })
    sec["pixels"] = sec["pixels_ore"] + sec["pixels_gangue"]
    B, seed = 100, 42
    ci = bootstrap_intervals(t, sec, minerals=mins, target="ore", n_boot=B, seed=seed, by="mass")
    w = np.concatenate(list(bootstrap_weights(sizes, B, seed=seed)))
    naive = {k: [] for k in ("l3", "l2", "l3s", "bias", "cls", "yld", "modal", "gr", "rec")}
    for b in range(B):
        idx = np.repeat(np.arange(n), w[b])
        tb = t.iloc[idx]
        sb = sec.iloc[np.concatenate([2 * idx, 2 * idx + 1])]  # the sections of the drawn particles
        l3 = liberated_fraction(tb, minerals=mins, target="ore")["ore"]
        l2 = liberated_fraction(sb, minerals=mins, target="ore")["ore"]
        naive["l3"].append(l3)
        naive["l2"].append(l2)
        naive["bias"].append(l2 - l3)
        naive["l3s"].append(liberated_fraction(tb[tb["size_class"] == ">=50"], minerals=mins, target="ore",
                                               by="mass")["ore"])
        cl = liberation_classes(tb, minerals=mins, target="ore", by="mass")
        naive["cls"].append(cl[cl["size_class"] == "all"]["mineral_share"].to_numpy())
        cy = cumulative_liberation_yield(tb, minerals=mins, target="ore")
        naive["yld"].append(cy[cy["size_class"] == "all"]["cumulative_share"].to_numpy())
        naive["modal"].append(modal_mineralogy(tb, minerals=mins)["mass_percent"].to_numpy() / 100)
        gr = grade_recovery(tb, minerals=mins, target="ore", by="mass")
        naive["gr"].append(gr["grade"].to_numpy())
        naive["rec"].append(gr["recovery"].to_numpy())

    def pct(x):
        x = np.array(x, dtype=float)
        x = x.reshape(len(x), -1)
        ok = ~np.all(np.isnan(x), axis=0)
        out = np.full((2, x.shape[1]), np.nan)
        out[:, ok] = np.nanpercentile(x[:, ok], [2.5, 97.5], axis=0)
        return out

    def same(key, name):
        np.testing.assert_allclose(np.array(ci[key]), pct(naive[name]), rtol=1e-9, atol=1e-12)

    same(("lib", "3D", "volume", "all", "ore"), "l3")
    same(("lib", "2D", "volume", "all", "ore"), "l2")
    same(("bias", "volume", "all", "ore"), "bias")
    same(("lib", "3D", "mass", ">=50", "ore"), "l3s")
    same(("classes", "3D", "mass", "all", "ore"), "cls")
    same(("yield", "3D", "volume", "all", "ore"), "yld")
    same(("modal", "mass"), "modal")
    same(("gr_grade", "3D", "ore"), "gr")
    same(("gr_recovery", "3D", "ore"), "rec")


def test_n_boot_validated():
    t = _table(np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(InputError, match="bootstrap=50"):
        bootstrap_intervals(t, None, minerals=two_minerals(), n_boot=50)
    assert bootstrap_intervals(t, None, minerals=two_minerals(), n_boot=0)["n_boot"] == 0


def test_held_out_spheres_sample_truth_inside_interval():
    """A sample of 64 spheres (radius 5 voxels) from a known population: each sphere is pure ore
    with probability 0.3, else half ore / half gangue (split by a plane through the centre). The
    population's liberated fraction of ore is 0.3 / (0.3 + 0.7 / 2) = 0.4615; the seed below
    was not used while developing the bootstrap (held out)."""
    from liberation.stats import analyse

    rng = np.random.default_rng(20260419)
    r, step, k = 5, 13, 4
    n = step * k + 4
    pid = np.zeros((n, n, n), np.uint16)
    ph = np.zeros((n, n, n), np.uint8)
    z, y, x = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
    ball = x**2 + y**2 + z**2 <= r * r
    label = 0
    for i in range(k):
        for j in range(k):
            for m in range(k):
                label += 1
                sl = tuple(slice(2 + a * step, 2 + a * step + 2 * r + 1) for a in (i, j, m))
                pid[sl][ball] = label
                phase = np.ones_like(ball, np.uint8)
                if rng.random() >= 0.3:
                    phase[x > 0] = 2  # locked: the ore half holds x <= 0 (half the volume + the centre plane)
                ph[sl][ball] = phase[ball]
    truth = 0.3 / (0.3 + 0.7 * (ball & (x <= 0)).sum() / ball.sum())
    res = analyse(pid, ph, voxel_size_um=1.0, minerals=two_minerals(), target="ore", by="volume",
                  section_axes=(), grains=False, shapes=False, bootstrap=1000, seed=1)
    lo, hi = res.summary["liberated_fraction_3d_ci95"]["ore"]
    assert res.summary["n_particles"] == 64
    assert lo <= truth <= hi, (lo, truth, hi)


def test_streamed_equals_one_matrix_and_chunking(monkeypatch):
    """The statistics built one at a time per chunk of replicates give the numbers of the former
    all-columns-at-once matrices (one product per chunk), whatever the chunk size."""
    from liberation.stats import bootstrap as B

    mins = two_minerals()
    rng = np.random.default_rng(8)
    n = 300
    ore = rng.integers(0, 60, n)
    gangue = rng.integers(0, 60, n)
    ore[:40], gangue[:40] = 50, 0
    sizes = np.where(np.arange(n) < 180, "<50", ">=50")
    t = _table(ore, gangue, sizes)
    sec = pd.DataFrame({"particle_id": np.repeat(t["particle_id"], 2).to_numpy(),
                        "pixels_ore": rng.integers(0, 20, 2 * n), "pixels_gangue": rng.integers(0, 20, 2 * n),
                        "excluded": np.zeros(2 * n, bool), "size_class": np.repeat(sizes, 2)})
    sec["pixels"] = sec["pixels_ore"] + sec["pixels_gangue"]
    kw = dict(minerals=mins, n_boot=200, seed=4, by="mass")
    ci = B.bootstrap_intervals(t, sec, **kw)

    # the former method: every statistic's columns concatenated into two (n, k) matrices
    t3 = t.reset_index(drop=True)
    levels = np.arange(0.0, 100.0 + 1e-9, 1.0)
    gr_cuts = np.arange(100.0, -1e-9, -1.0)
    common = dict(minerals=mins, names=list(mins.names), thr=0.9, bounds=B.check_classes(None), levels=levels,
                  classes=["all", "<50", ">=50"], gr_cuts=gr_cuts, gr_basis="mass", curves=True)
    mats = {}
    for dim, tab in (("3D", t3), ("2D", sec)):
        s = B._Stats(len(tab))
        B._add_table_stats(s, tab, dim, **common)
        cols = [s.columns(make) for _, make in s.recipes]
        cols = [(nm, np.broadcast_to(dn, nm.shape)) for nm, dn in cols]  # the former full denominators
        mats[dim] = ([k for k, _ in s.recipes], [c[0].shape[1] for c in cols],
                     np.concatenate([c[0] for c in cols], axis=1), np.concatenate([c[1] for c in cols], axis=1))
    w = np.concatenate(list(B.bootstrap_weights(sizes, 200, seed=4))).astype(float)
    pos = np.repeat(np.arange(n), 2)
    for dim, ww in (("3D", w), ("2D", w[:, pos])):
        keys, widths, num, den = mats[dim]
        reps = B._ratio(ww, num, den)
        k0 = 0
        for key, width in zip(keys, widths):
            lo, hi = B._ci(reps[:, k0:k0 + width])
            k0 += width
            np.testing.assert_allclose(ci[key][0], lo, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(ci[key][1], hi, rtol=1e-12, atol=1e-15)
    # chunks of 7 replicates and small batches of statistics: the same draws, the same intervals
    monkeypatch.setattr(B, "CHUNK_CELLS", 7 * 3 * n)
    monkeypatch.setattr(B, "COLUMN_CELLS", 50 * n)
    ci7 = B.bootstrap_intervals(t, sec, **kw)
    assert ci7.keys() == ci.keys()
    for key in ci:
        if isinstance(ci[key], tuple):
            np.testing.assert_allclose(ci7[key][0], ci[key][0], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(ci7[key][1], ci[key][1], rtol=1e-12, atol=1e-15)


def test_weights_float_and_row_blocks(monkeypatch):
    """The float weights used inside are the public int64 ones; drawing a stratum in row blocks keeps the stream."""
    import liberation.stats.bootstrap as B

    strata = np.repeat(["a", "b", "c"], [400, 250, 7])
    ref = np.concatenate(list(bootstrap_weights(strata, 150, seed=11, chunk=64)))
    flt = np.concatenate(list(B._weights(strata, 150, seed=11, chunk=64, dtype=float)))
    assert flt.dtype == np.float64 and np.array_equal(flt, ref)
    monkeypatch.setattr(B, "CHUNK_CELLS", 8 * 3 * 400)  # blocks of 3 rows for the largest stratum, 4 for the second
    blk = np.concatenate(list(bootstrap_weights(strata, 150, seed=11, chunk=64)))
    assert np.array_equal(blk, ref)


def test_binned_columns_equal_dense_columns():
    """The binned (one-hot / cumulative) operands give the dense threshold columns' products: grades with
    NaN, exact threshold values, increasing and decreasing thresholds; the kernel's thread split does not
    change a bit."""
    from liberation.stats import _kernels
    from liberation.stats import bootstrap as B

    rng = np.random.default_rng(3)
    n, b = 700, 150
    g = rng.random(n) * 100.0
    g[:20] = np.nan
    g[20:40] = 37.0  # exactly on a level
    g[40:50] = 0.0
    g[50:60] = 100.0
    v = rng.random(n) * 5.0
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(float)
    for thresholds in (np.arange(0.0, 100.0 + 1e-9, 1.0) - 1e-9, np.arange(100.0, -1e-9, -1.0) - 1e-9):
        dense = v[:, None] * (g[:, None] >= thresholds[None, :])
        bins, kind = B._threshold_bins(g, thresholds)
        op = B._Binned(v, bins, len(thresholds), kind)
        sums = _kernels.binned_sums(np.ascontiguousarray(w.T), (bins + 0)[:, None], v[:, None], op.rows)
        np.testing.assert_allclose(op.columns(sums), w @ dense, rtol=1e-12, atol=1e-9)
    cls = rng.integers(0, 11, n)
    op = B._Binned(v, cls, 11, "onehot")
    wt = np.ascontiguousarray(w.T)
    rows = np.stack([cls, 11 + bins], axis=1)
    vals = np.stack([v, 2 * v], axis=1)
    one = _kernels.binned_sums(wt, rows, vals, 11 + 102)
    two = _kernels.binned_sums(wt, rows, vals, 11 + 102, threads=2)
    assert np.array_equal(one, two)
    np.testing.assert_allclose(op.columns(one[:11]), w @ (v[:, None] * np.eye(11)[cls]), rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="rows"):
        _kernels.binned_sums(wt, rows, vals, 11 + 101)  # a row out of range: refused, not written out of bounds
