"""Input features of the phase network (issue 18): the preset's stem vs the pixel classifier's
16 filter features vs no stem, against the pixel classifier itself, on the same validation
voxels and on the interior planes of the texture phantom (quartz / albite of equal grey
value, albite lamellae). Short runs: a cut-down cpu preset (``--epochs``, ``--steps``).

    PYTHONPATH=. python benchmarks/bench_segmentation_input_features.py --size 64 --epochs 6 --steps 20 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--choices", default="preset,classifier,none")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import torch

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.features import resolve_input_features
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.metrics import confusion_matrix, phase_metrics
    from liberation.segmentation.targets import encode_targets
    from liberation.segmentation.train import train_model
    from liberation.synthetic.seg_phantom import make_texture_phantom

    torch.set_num_threads(args.threads)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        sample = make_texture_phantom((args.size,) * 3, seed=seed)
        ct, phases = np.asarray(sample.ct), np.asarray(sample.phases)
        n = args.size
        sparse = np.full(ct.shape, 255, np.uint8)
        sparse[0], sparse[-1] = phases[0], phases[-1]
        interior = [n // 4, n // 2, 3 * n // 4]
        for choice in args.choices.split(","):
            base = get_preset("cpu")
            cfg = get_preset("cpu", max_epochs=args.epochs, steps_per_epoch=args.steps,
                             patch_size=(16, min(64, n), min(64, n)),
                             input_features=resolve_input_features(choice, base.input_features))
            t0 = time.perf_counter()
            r = train_model(ct, sparse, voxel_size_um=sample.voxel_size_um, config=cfg, minerals=sample.minerals,
                            seed=seed, device="cpu", show_progress=False)
            seconds = time.perf_counter() - t0
            pred = np.asarray(predict_volume(ct, r.network, r.card, show_progress=False))
            ids = r.card.class_ids
            truth = encode_targets(phases[interior], ids)
            got = encode_targets(pred[interior], ids)
            m = phase_metrics(confusion_matrix(truth, got, class_ids=range(len(ids)), mask=truth != 255),
                              class_names=r.card.class_names, void_index=0)
            v = r.card.validation
            row = {"seed": seed, "input_features": choice, "n_features": len(cfg.input_features),
                   "val_accuracy": v["accuracy"], "val_miou": v["miou"],
                   "classifier_val_accuracy": v["baseline"].get("accuracy"), "classifier_val_miou": v["baseline"].get("miou"),
                   "interior_accuracy": m["accuracy"], "interior_miou": m["miou"], "train_s": seconds,
                   "steps": r.card.training["work"]["steps"], "load": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return {"rows": rows}


if __name__ == "__main__":
    main()
