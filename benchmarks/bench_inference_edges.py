"""Which window placement at the volume ends (``edge``) keeps accuracy: reflect vs inside vs z-ends.

Trains the ``cpu`` preset network (fewer epochs: ``--epochs``) on the two end faces z = 0 and
z = n - 1 of a texture phantom (``make_texture_phantom``, seed ``--seed``), as
``bench_segmentation.py`` does, then segments that phantom and an unseen one (seed + 1) with
``predict_volume(edge=...)`` for every edge mode and scores regions against the truth:

- ``end planes``: z = 0 and z = n - 1 (on the training phantom these are the training planes),
- ``near ends``: planes 1 .. pz/2 - 1 from either end,
- ``interior``: the planes at least pz/2 from both ends,
- ``yx border``: interior planes, voxels within py/2 of a y or x side (where ``reflect`` also adds
  context and ``z-ends`` / ``inside`` do not), and ``yx core`` the rest of the interior.

Accuracy over all voxels and over the non-void (solid) truth voxels, with the window count and
time of each mode (ratios only; the machine is shared).

    LIBERATION_PROGRESS=0 python benchmarks/bench_inference_edges.py --size 96 --epochs 12 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

EDGES = ("inside", "z-ends", "reflect")


def _scores(pred, truth, mask) -> dict:
    solid = mask & (truth != 0)
    return {"accuracy": float((pred[mask] == truth[mask]).mean()),
            "solid_accuracy": float((pred[solid] == truth[solid]).mean()) if solid.any() else float("nan"),
            "voxels": int(mask.sum())}


def regions(shape, patch) -> dict:
    """Boolean masks of the scored regions (see the module docstring)."""
    nz, ny, nx = shape
    hz, hy, hx = (p // 2 for p in patch)
    z = np.arange(nz)[:, None, None]
    y = np.arange(ny)[None, :, None]
    x = np.arange(nx)[None, None, :]
    full = np.ones(shape, bool)
    ends = full & ((z == 0) | (z == nz - 1))
    near = full & (((z >= 1) & (z < hz)) | ((z <= nz - 2) & (z >= nz - hz)))
    interior = full & (z >= hz) & (z < nz - hz)
    border = interior & ((y < hy) | (y >= ny - hy) | (x < hx) | (x >= nx - hx))
    return {"end planes": ends, "near ends": near, "interior": interior, "yx border": border,
            "yx core": interior & ~border}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from liberation.segmentation import get_preset, predict_volume, train_model
    from liberation.segmentation.inference import _edge_reflect, window_grid
    from liberation.synthetic.seg_phantom import make_texture_phantom

    n = args.size
    res: dict = {"size": n, "epochs": args.epochs, "threads": args.threads, "load_start": os.getloadavg()}
    train = make_texture_phantom((n, n, n), seed=args.seed)
    sparse = np.full(train.phases.shape, 255, np.uint8)
    sparse[0] = train.phases[0]
    sparse[-1] = train.phases[-1]
    t = time.perf_counter()
    r = train_model(train.ct, sparse, voxel_size_um=train.voxel_size_um, config=get_preset("cpu", max_epochs=args.epochs),
                    minerals=train.minerals, seed=args.seed, device="cpu", show_progress=False)
    res["train_s"] = time.perf_counter() - t
    res["validation"] = {k: r.card.validation.get(k) for k in ("accuracy", "miou")}
    print(f"trained {args.epochs} epochs in {res['train_s']:.0f} s, validation {res['validation']}, "
          f"load {os.getloadavg()}", flush=True)
    patch = tuple(int(p) for p in r.card.patch_size)
    masks = regions((n, n, n), patch)
    res["windows"] = {e: len(window_grid((n, n, n), patch, reflect=_edge_reflect(e))) for e in EDGES}
    res["scores"], res["time_s"] = {}, {}
    for name, ph in (("training phantom", train), ("unseen phantom", make_texture_phantom((n, n, n), seed=args.seed + 1))):
        res["scores"][name], res["time_s"][name] = {}, {}
        for e in EDGES:
            t = time.perf_counter()
            pred = predict_volume(ph.ct, r.network, r.card, device="cpu", edge=e, backend=args.backend,
                                  show_progress=False)
            res["time_s"][name][e] = time.perf_counter() - t
            res["scores"][name][e] = {k: _scores(pred, ph.phases, m) for k, m in masks.items()}
            print(f"{name:17s} {e:8s} windows {res['windows'][e]:5d} {res['time_s'][name][e]:6.1f} s  " + "  ".join(
                f"{k} {v['accuracy']:.3f}/{v['solid_accuracy']:.3f}" for k, v in res["scores"][name][e].items()),
                flush=True)
    res["load_end"] = os.getloadavg()
    print(f"(accuracy all voxels / solid voxels; load {res['load_start']} -> {res['load_end']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
