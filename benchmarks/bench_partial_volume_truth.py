"""Sub-voxel volumes against exact truth: hard labels, the library's soft volumes and a histogram-peak method.

    PYTHONPATH=. python benchmarks/bench_partial_volume_truth.py --blur 0.5 0.7 1.0 --noise 0.01 0.02 --seeds 1 2 \
        --per-radius 8 --radii 2 3 4 --labels oracle

Phantom: :func:`liberation.synthetic.pv_phantom.partial_volume_phantom` (quartz hosts with one spodumene
inclusion of radius 1-6 voxels each, free spodumene grains of radius 2-4, drawn 4x finer, blurred with
the given PSF sigma, block-averaged, noised), so the true spodumene volume of every particle is exact.
The particle masks are the phantom's (hard, majority) particles for every method.

Two kinds of hard labels, each the input of the soft method:

- ``oracle``: the majority phase of every voxel (from the fine truth; no classifier can do better voxel by
  voxel, it is not available on real data);
- ``threshold``: the grey value cut half-way between the phase levels (what a per-voxel classifier of the
  blurred CT gives); particles = the phantom's cells (one particle per cell, as a separation would give).

Methods per particle (spodumene = target): ``hard`` (voxel counts), ``soft`` (the library's default:
:func:`liberation.stats.partial_volume.soft_counts`, model estimated from the data with blur-corrected levels,
unclipped, neighbourhood from the fitted blur), ``soft3c`` (the rule up to session 4: 3x3x3, clipped, partner
by the residual; same model), ``soft5`` (5x5x5, unclipped) and ``hist``: a histogram-peak method in the style of MSPaCMAn
(Gupta et al. 2025, Tomography of Materials and Structures 7, 100050), written here from its
description, not from its code: the histogram of the whole volume gives the background peak (its most
prominent), the histogram of the particles' inner voxels the host and target peaks (its two most
prominent); every particle's voxels are
split into *inner* (the particle eroded by one voxel), *surface* (the rest of the particle) and *outer*
(the one-voxel shell around it); inner voxels count as host/target mixtures (target weight
``clip((g - L_host) / (L_target - L_host), 0, 1)``), surface and outer voxels as background/mineral
mixtures (mineral weight ``clip((g - L_bg) / (L_host - L_bg), 0, 1)``, target only above the host peak,
with the host/target weight). The per-particle histograms are summed bin by bin with these weights
(done here per voxel and summed by particle: the same sum).

Prints, per radius and object kind, the *population* relative error of the target volume (sum of the estimates
over the objects of that radius and kind / sum of the truths - 1: what modal and grade statistics depend on) and
the mean |relative error| per object, next to the closed-form noise floor of a one-parameter fit of each
object's radius (Cramer-Rao: ``sd(V)/V = 3 sd(dr)/r``, ``var(dr) = s^2 2 sigma sqrt(pi) / (4 pi r^2)``,
``s`` = noise / contrast of the object against its surroundings, ``sigma`` = the model's edge blur; per object
mean |error| ``sqrt(2/pi) sd``, population ``sd / sqrt(n)``); then the mean |error| of the particle's target
grade (volume fraction), and the liberated fraction (grade >= 0.9) of the target held in the free grains and
inclusions together, for truth and every method.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import ndimage, signal


def threshold_labels(ct, levels, cells_pid):
    """Hard labels from grey cuts half-way between the sorted phase levels; particles = cells where phase > 0."""
    order = np.argsort(levels)
    lv = levels[order]
    cuts = (lv[:-1] + lv[1:]) / 2
    phases = order[np.searchsorted(cuts, ct.astype(np.float64))].astype(np.uint8)
    particles = np.where(phases > 0, cells_pid, 0).astype(np.uint32)
    return phases, particles


def cell_ids(ph):
    """The particle id of the phantom's cell of every voxel (one particle per cell)."""
    pid = ph.particles
    lab = ndimage.grey_dilation(pid, size=(5, 5, 5))
    return np.where(pid > 0, pid, lab).astype(np.uint32)


def _peaks(values, n):
    """The ``n`` most prominent peaks of a smoothed log histogram (512 bins over 0..65535), increasing."""
    hist, edges = np.histogram(values, bins=512, range=(0, 65536))
    sm = ndimage.gaussian_filter1d(hist.astype(float), 2)
    peaks, props = signal.find_peaks(np.log1p(sm), prominence=0.05)
    top = peaks[np.argsort(props["prominences"])[::-1][:n]]
    return np.sort(((edges[:-1] + edges[1:]) / 2)[top])


def histogram_peaks(ct, particles):
    """Background peak (the most prominent of the whole histogram) and the host and target peaks (the two most
    prominent of the particles' inner voxels), increasing."""
    inside = particles > 0
    inner = ndimage.binary_erosion(inside, structure=np.ones((3, 3, 3)))
    bg = _peaks(ct.ravel(), 1)
    minerals = _peaks(ct[inner], 2)
    if len(minerals) < 2:
        raise SystemExit("the histogram of the particles' inner voxels shows fewer than two peaks")
    return np.concatenate([bg, minerals])


def histogram_peak_volumes(ct, particles, peaks, n_ids, *, clip=True):
    """Per particle: target and mineral volume (voxels) from histogram-peak weights (see module docstring).

    The particle's own phase is the peak (host or target) nearest the median grey value of its inner voxels
    (of all its voxels when it has no inner voxel); surface and outer voxels are mixtures of the background
    and that phase. ``clip``: weights clipped to [0, 1] voxel by voxel (voxels beyond a peak count fully as
    that phase); otherwise the unclipped linear weights (unbiased under symmetric noise).
    """
    lb, lh, lt = (float(v) for v in peaks)
    g = ct.astype(np.float64)
    inside = particles > 0
    inner = ndimage.binary_erosion(inside, structure=np.ones((3, 3, 3)), border_value=0) & inside
    owner = ndimage.grey_dilation(particles, size=(3, 3, 3))
    outer = ~inside & (owner > 0)
    pid = np.where(inside, particles, owner).astype(np.int64)
    med = np.full(n_ids, np.nan)
    for sel in (inside, inner):  # inner medians replace the all-voxel ones where a particle has inner voxels
        ids = pid[sel]
        order = np.lexsort((g[sel], ids))
        ids_s, g_s = ids[order], g[sel][order]
        starts = np.searchsorted(ids_s, np.arange(n_ids))
        ends = np.searchsorted(ids_s, np.arange(n_ids), side="right")
        has = ends > starts
        med[has] = g_s[(starts[has] + ends[has] - 1) // 2]
    own_is_target = np.abs(med - lt) < np.abs(med - lh)
    main = np.where(own_is_target, lt, lh)[pid]

    def w(x):
        return np.clip(x, 0.0, 1.0) if clip else x

    ht = w((g - lh) / (lt - lh))  # host -> target
    mineral = w((g - lb) / (main - lb))  # background -> the particle's phase
    edge = ~inner
    target = np.where(inner, ht, np.where(own_is_target[pid], mineral, np.where(g > lh, ht, 0.0)))
    total = np.where(edge, mineral, 1.0)
    sel = inside | outer
    tv = np.bincount(pid[sel], weights=target[sel], minlength=n_ids)
    tot = np.bincount(pid[sel], weights=total[sel], minlength=n_ids)
    return tv, tot


def run_case(seed, blur, noise, per_radius=3, radii=(1, 2, 3, 4, 5, 6), label_kinds=("oracle", "threshold")):
    from liberation.stats import measure
    from liberation.stats import partial_volume as pv
    from liberation.synthetic.pv_phantom import partial_volume_phantom

    ph = partial_volume_phantom(seed=seed, blur_sigma_vox=blur, noise=noise, inclusion_radii=tuple(radii),
                                per_radius=per_radius, rims=(), grain_radii=(2, 3, 4))
    tid = ph.minerals[ph.params["target"]].id
    hid = ph.minerals[ph.params["host"]].id
    objs = ph.truth["objects"].set_index("particle_id")
    n_ids = len(objs) + 1
    true = ph.truth["true_counts"]
    true_t = true[1:, tid]
    true_tot = true[1:, 1:].sum(axis=1)
    rows = {"truth": (true_t, true_tot)}
    peaks = histogram_peaks(ph.ct, ph.particles)
    for name, clip in (("hist", True), ("hist_lin", False)):
        tv, tot = histogram_peak_volumes(ph.ct, ph.particles, peaks, n_ids, clip=clip)
        rows[name] = (tv[1:], tot[1:])
    out = {}
    floor = {}
    for labels in label_kinds:
        if labels == "oracle":
            phases, particles = ph.phases, ph.particles
        else:  # cuts half-way between the histogram peaks (background, host, target)
            phases, particles = threshold_labels(ph.ct, peaks, cell_ids(ph))
            phases = np.array([0, hid, tid], np.uint8)[phases]
        m = measure(particles, phases, voxel_size_um=2.0, minerals=ph.minerals)
        model = pv.estimate_model(ph.ct, phases, n_phases=5)
        hard = np.zeros((n_ids, 5))
        hard[m.ids] = m.counts
        res = dict(rows)
        res["hard"] = (hard[1:, tid], hard[1:, 1:].sum(axis=1))
        if labels == "oracle":
            s_noise = ph.params["noise_grey"]
            sig = model.edge_sigma_vox
            for kind, lv_out in (("inclusion", model.levels[hid]), ("grain", model.levels[0])):
                s_rel = s_noise / abs(model.levels[tid] - lv_out)
                floor[kind] = (s_rel, sig)
        for name, kw in (("soft", {}), ("soft3c", {"radius": 1, "clip": True}), ("soft5", {"radius": 2, "clip": False})):
            s = np.zeros((n_ids, 5))
            s[m.ids] = pv.soft_counts(particles, phases, ph.ct, model=model, ids=m.ids, hard_counts=m.counts, **kw)
            res[name] = (s[1:, tid], s[1:, 1:].sum(axis=1))
        out[labels] = res
    return objs, out, peaks, floor


def noise_floor(s_rel, sigma, r):
    """Cramer-Rao sd of the relative volume of a sphere of radius ``r`` from a one-parameter fit of its radius."""
    var_dr = s_rel**2 * 2 * sigma * np.sqrt(np.pi) / (4 * np.pi * r**2)
    return 3 * np.sqrt(var_dr) / r


def summarise(cases, methods=("hard", "soft", "soft3c", "soft5", "hist", "hist_lin")):
    import pandas as pd

    recs = []
    for objs, out, _peaks, _floor, key in cases:
        for labels, res in out.items():
            tt, ttot = res["truth"]
            tgrade = tt / ttot
            for mth in methods:
                v, tot = res[mth]
                grade = np.where(tot > 0, v / np.maximum(tot, 1e-9), 0)
                for i, (kind, r) in enumerate(zip(objs["kind"], objs["radius_vox"])):
                    recs.append({**key, "labels": labels, "method": mth, "kind": kind, "radius": r,
                                 "vol_err": abs(v[i] / tt[i] - 1), "signed": v[i] / tt[i] - 1, "grade_err": abs(grade[i] - tgrade[i]),
                                 "target": v[i], "true_target": tt[i], "grade": grade[i], "true_grade": tgrade[i]})
    return pd.DataFrame(recs)


def liberated(df):
    """Target volume share in particles with grade >= 0.9, per method, vs truth (same particles)."""
    out = {}
    for (labels, mth), d in df.groupby(["labels", "method"]):
        lib = d["target"][d["grade"] >= 0.9].sum() / d["target"].sum()
        tlib = d["true_target"][d["true_grade"] >= 0.9].sum() / d["true_target"].sum()
        out[(labels, mth)] = (lib, tlib)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blur", type=float, nargs="+", default=[0.5, 0.7, 1.0])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.02])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--per-radius", type=int, default=3, help="inclusions (and free grains) per radius per phantom")
    ap.add_argument("--radii", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6], help="inclusion radii (voxels)")
    ap.add_argument("--labels", nargs="+", default=["oracle", "threshold"], choices=["oracle", "threshold"])
    args = ap.parse_args()
    t0 = time.perf_counter()
    cases = []
    for blur in args.blur:
        for noise in args.noise:
            for seed in args.seeds:
                objs, out, peaks, floor = run_case(seed, blur, noise, args.per_radius, args.radii, args.labels)
                cases.append((objs, out, peaks, floor, {"blur": blur, "noise": noise, "seed": seed}))
    df = summarise(cases)
    print(f"{len(cases)} phantoms in {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f}; "
          f"histogram peaks of the last: {np.round(cases[-1][2])}")
    import pandas as pd

    pd.set_option("display.width", 200)
    floors = {}
    for _o, _out, _p, floor, key in cases:
        floors.setdefault((key["blur"], key["noise"]), []).append(floor)
    for (blur, noise), d in df.groupby(["blur", "noise"]):
        print(f"\n== blur sigma {blur} voxel, noise {noise}: target volume per radius, population error "
              "(sum est / sum truth - 1) and per-object mean |error|")
        fl = floors[(blur, noise)]
        for labels, dl in d.groupby("labels"):
            rows = []
            for (kind, r), dk in dl.groupby(["kind", "radius"]):
                row = {"labels": labels, "kind": kind, "radius": r}
                for mth, dm in dk.groupby("method", sort=False):
                    row[f"{mth} pop"] = dm["target"].sum() / dm["true_target"].sum() - 1
                    row[f"{mth} |e|"] = dm["vol_err"].mean()
                n = len(dk) // dk["method"].nunique()
                s_rel, sig = np.mean([f[kind][0] for f in fl if kind in f]), np.mean([f[kind][1] for f in fl if kind in f])
                sd = noise_floor(s_rel, sig, r)
                row["floor |e|"] = np.sqrt(2 / np.pi) * sd
                row["floor pop sd"] = sd / np.sqrt(n)
                row["n"] = n
                rows.append(row)
            print(pd.DataFrame(rows).round(3).to_string(index=False))
        g = d.pivot_table(index=["labels", "kind"], columns="method", values="grade_err", aggfunc="mean")
        print("mean |grade error| of the particles (target volume fraction of the particle's minerals):")
        print(g.round(4).to_string())
        lib = liberated(d)
        print("liberated fraction of the target (grade >= 0.9): " + "; ".join(
            f"{lab}/{m}: {a:.3f} (truth {t:.3f})" for (lab, m), (a, t) in lib.items()))


if __name__ == "__main__":
    main()
