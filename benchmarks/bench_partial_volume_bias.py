"""Population bias of the soft volumes per radius (noise-free or noisy): hard, the rule of session 4, the defaults.

    PYTHONPATH=. python benchmarks/bench_partial_volume_bias.py 0.5,0.7,1.0 0.01,0.02 1,2 [--cache DIR]

Arguments: blurs, noises, seeds (comma-separated); ``--cache DIR`` keeps the phantoms (pickles) between runs, e.g.
to time another checkout of the library on the same phantoms. Phantom: inclusions and free grains of radius 2, 3,
4, 8 of each per phantom, oracle labels. Prints per kind and radius the population error (sum / truth - 1) and the
per-object mean |error| (see docs/partial_volume.md and bench_partial_volume_truth.py for the noise floor), then
per method the mean |grade error| of the particles holding an inclusion and the liberated fraction (grade >= 0.9)
of the target against the truth.
"""

import argparse
import os
import pickle
import time

import numpy as np

from liberation.stats import measure
from liberation.stats import partial_volume as pv
from liberation.synthetic.pv_phantom import partial_volume_phantom


def phantom(seed, blur, noise, per, cache):
    path = os.path.join(cache, f"pvbias_{seed}_{blur}_{noise}_{per}.pkl") if cache else None
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    ph = partial_volume_phantom(seed=seed, blur_sigma_vox=blur, noise=noise, inclusion_radii=(2, 3, 4),
                                per_radius=per, rims=(), grain_radii=(2, 3, 4))
    if path:
        with open(path, "wb") as f:
            pickle.dump(ph, f)
    return ph


def run(seed, blur, noise, settings, per=8, cache=None):
    t = time.perf_counter()
    ph = phantom(seed, blur, noise, per, cache)
    t1 = time.perf_counter() - t
    tid = ph.minerals[ph.params["target"]].id
    m = measure(ph.particles, ph.phases, voxel_size_um=2.0, minerals=ph.minerals)
    model = pv.estimate_model(ph.ct, ph.phases, n_phases=5)
    true = ph.truth["true_counts"][m.ids]
    obj = ph.truth["objects"].set_index("particle_id").loc[m.ids]
    out = {"hard": m.counts.astype(float)}
    for name, kw in settings.items():
        out[name] = pv.soft_counts(ph.particles, ph.phases, ph.ct, model=model, ids=m.ids, hard_counts=m.counts, **kw)
    return obj, true, out, model, t1, tid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("blurs")
    ap.add_argument("noises")
    ap.add_argument("seeds")
    ap.add_argument("--cache", default=None, help="a folder to keep the phantoms in")
    args = ap.parse_args()
    settings = {"old": {"radius": 1, "clip": True}, "new": {}}
    methods = ["hard"] + list(settings)
    for blur in [float(b) for b in args.blurs.split(",")]:
        for noise in [float(b) for b in args.noises.split(",")]:
            acc, grade, lib = {}, {}, {}
            for seed in [int(s) for s in args.seeds.split(",")]:
                obj, true, out, model, t1, tid = run(seed, blur, noise, settings, cache=args.cache)
                kind, rad = obj.kind.to_numpy(), obj.radius_vox.to_numpy()
                for k, counts in list(out.items()) + [("true", true)]:
                    g = counts[:, tid] / counts[:, 1:].sum(axis=1)
                    grade.setdefault(k, []).append(g[kind == "inclusion"])
                    a = lib.setdefault(k, np.zeros(2))
                    a += (counts[:, tid][g >= 0.9].sum(), counts[:, tid].sum())
                    if k == "true":
                        continue
                    for kd in ("inclusion", "grain"):
                        for r in (2., 3., 4.):
                            sel = (kind == kd) & (rad == r)
                            acc.setdefault((kd, r, k), []).append((counts[sel, tid], true[sel, tid]))
            print(f"blur {blur} noise {noise} edge_sigma {model.edge_sigma_vox:.3f} phantom {t1:.1f}s "
                  f"load {os.getloadavg()[0]:.1f}")
            for kd in ("inclusion", "grain"):
                for r in (2., 3., 4.):
                    line = f"  {kd:9s} r{r:.0f}"
                    for k in methods:
                        v = np.concatenate([a for a, _ in acc[(kd, r, k)]])
                        t = np.concatenate([b for _, b in acc[(kd, r, k)]])
                        line += f"  {k} pop {v.sum() / t.sum() - 1:+.3f} |e| {np.abs(v / t - 1).mean():.3f}"
                    print(line, flush=True)
            gt = np.concatenate(grade["true"])
            ft = lib["true"][0] / lib["true"][1]
            line = "  inclusion particles: mean |grade error|"
            for k in methods:
                line += f"  {k} {np.abs(np.concatenate(grade[k]) - gt).mean():.5f}"
            line += f";  liberated fraction truth {ft:.4f}"
            for k in methods:
                line += f"  {k} {lib[k][0] / lib[k][1]:.4f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
