"""Check that a training does the same work, and gives the same model, on an idle or a busy machine.

Trains the phases model (``cpu`` preset, labels on the two end faces of a textured phantom)
twice with the same seed and thread count: once alone, once beside CPU-heavy processes
(pure-Python busy loops, ``--hogs`` of them), and compares the validation accuracy, mIoU,
the number of steps and the weights. Issue 16 asks for the same validation accuracy within
0.01; with the work fixed by the preset the runs are expected to be identical.

    python benchmarks/check_train_determinism.py --size 128 --threads 2            # the full check (2 x ~8 min idle)
    python benchmarks/check_train_determinism.py --size 128 --threads 2 --epochs 2 # a short version

Prints both runs and the verdict; ``--json FILE`` also writes them as JSON. Exit status 1
when the validation accuracies differ by more than ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np


def _train(ct, sparse, *, voxel_size_um, minerals, config, seed):
    from liberation.segmentation import train_model

    t = time.perf_counter()
    load_start = os.getloadavg()
    r = train_model(ct, sparse, voxel_size_um=voxel_size_um, config=config, minerals=minerals, seed=seed,
                    device="cpu", show_progress=False)
    v, work = r.card.validation, r.card.training["work"]
    return r, {
        "val_accuracy": v["accuracy"], "val_miou": v["miou"],
        "baseline_accuracy": v.get("baseline", {}).get("accuracy"),
        "baseline_miou": v.get("baseline", {}).get("miou"),
        "epochs": work["epochs"], "steps": work["steps"], "stopped_by": work["stopped_by"],
        "train_s": work["seconds"], "total_s": time.perf_counter() - t, "steps_per_s": work["steps_per_s"],
        "threads": work["threads"], "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "notes": list(r.notes),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (a shorter check)")
    ap.add_argument("--hogs", type=int, default=1, help="CPU-heavy processes beside the second run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from liberation.segmentation import get_preset
    from liberation.synthetic.seg_phantom import make_texture_phantom

    n = args.size
    s = make_texture_phantom((n, n, n), seed=args.seed)
    sparse = np.full(s.phases.shape, 255, np.uint8)
    sparse[0] = s.phases[0]
    sparse[-1] = s.phases[-1]
    cfg = get_preset(args.preset, max_epochs=args.epochs)
    print(f"{args.preset} preset: {cfg.max_epochs} epochs x {cfg.steps_per_epoch} steps = {cfg.total_steps} steps "
          f"of batch {cfg.batch_size}, patch {cfg.patch_size}; {n}^3 phantom; {args.threads} thread(s)", flush=True)
    kw = {"voxel_size_um": s.voxel_size_um, "minerals": s.minerals, "config": cfg, "seed": args.seed}

    # a terminated check (e.g. by `timeout`) still ends its CPU hogs (the finally below)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ra, alone = _train(s.ct, sparse, **kw)
    print(f"alone:      {alone}", flush=True)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    try:
        rb, busy = _train(s.ct, sparse, **kw)
    finally:
        for p in hogs:
            p.kill()
            p.wait()
    print(f"beside {args.hogs} hog(s): {busy}", flush=True)
    sa, sb = ra.network.state_dict(), rb.network.state_dict()
    same_weights = all(torch.equal(sa[k], sb[k]) for k in sa)
    diff = abs(alone["val_accuracy"] - busy["val_accuracy"])
    ok = diff <= args.tolerance and alone["steps"] == busy["steps"]
    print(f"validation accuracy {alone['val_accuracy']:.4f} alone vs {busy['val_accuracy']:.4f} beside the hog(s) "
          f"(difference {diff:.4f}, tolerance {args.tolerance}); steps {alone['steps']} vs {busy['steps']}; "
          f"identical weights: {same_weights}; time {alone['train_s']:.0f} s vs {busy['train_s']:.0f} s -> "
          f"{'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "alone": alone, "busy": busy, "identical_weights": same_weights,
                       "difference": diff, "pass": ok}, fh, indent=2, default=float)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
