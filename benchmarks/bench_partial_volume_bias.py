"""Population bias of the soft volumes per radius (noise-free or noisy): hard, the rule of session 4, the defaults.

    PYTHONPATH=. python benchmarks/bench_partial_volume_bias.py 0.5,0.7,1.0 0.01,0.02 1,2

Arguments: blurs, noises, seeds (comma-separated). Phantom: inclusions and free grains of radius 2, 3, 4, 8 of
each per phantom, oracle labels. Prints per kind and radius the population error (sum / truth - 1) and the
per-object mean |error| (see docs/partial_volume.md and bench_partial_volume_truth.py for the noise floor).
"""

import os
import sys
import time

import numpy as np

from liberation.stats import measure
from liberation.stats import partial_volume as pv
from liberation.synthetic.pv_phantom import partial_volume_phantom


def run(seed, blur, noise, settings, per=8):
    t=time.perf_counter()
    ph = partial_volume_phantom(seed=seed, blur_sigma_vox=blur, noise=noise, inclusion_radii=(2,3,4), per_radius=per, rims=(), grain_radii=(2,3,4))
    t1=time.perf_counter()-t
    tid = ph.minerals[ph.params["target"]].id
    m = measure(ph.particles, ph.phases, voxel_size_um=2.0, minerals=ph.minerals)
    model = pv.estimate_model(ph.ct, ph.phases, n_phases=5)
    true = ph.truth["true_counts"][m.ids]
    obj = ph.truth["objects"].set_index("particle_id").loc[m.ids]
    out = {"hard": m.counts[:, tid].astype(float)}
    for name, kw in settings.items():
        s = pv.soft_counts(ph.particles, ph.phases, ph.ct, model=model, ids=m.ids, hard_counts=m.counts, **kw)
        out[name] = s[:, tid]
    return obj, true[:, tid], out, model, t1

settings = {"old": {"radius": 1, "clip": True}, "new": {}}
blurs = [float(b) for b in sys.argv[1].split(",")]
noises = [float(b) for b in sys.argv[2].split(",")]
seeds = [int(s) for s in sys.argv[3].split(",")]
for blur in blurs:
    for noise in noises:
        acc = {}
        for seed in seeds:
            obj, tt, out, model, t1 = run(seed, blur, noise, settings)
            for k, v in out.items():
                for kind in ("inclusion", "grain"):
                    for r in (2., 3., 4.):
                        sel = (obj.kind.to_numpy() == kind) & (obj.radius_vox.to_numpy() == r)
                        acc.setdefault((kind, r, k), []).append((v[sel], tt[sel]))
        print(f"blur {blur} noise {noise} edge_sigma {model.edge_sigma_vox:.3f} phantom {t1:.1f}s load {os.getloadavg()[0]:.1f}")
        for kind in ("inclusion", "grain"):
            for r in (2., 3., 4.):
                line = f"  {kind:9s} r{r:.0f}"
                for k in ["hard"] + list(settings):
                    v = np.concatenate([a for a, _ in acc[(kind, r, k)]])
                    t = np.concatenate([b for _, b in acc[(kind, r, k)]])
                    line += f"  {k} pop {v.sum()/t.sum()-1:+.3f} |e| {np.abs(v/t-1).mean():.3f}"
                print(line, flush=True)
