"""Expected time of the ``gpu`` preset on a 1e9-voxel scan (issue 18), an ESTIMATE: no GPU
was available. Measures on the CPU, for the gpu preset's network: floating-point operations
(``torch.utils.flop_counter``) and seconds of one training step (batch x patch, forward +
backward) and of one inference window (forward), then extrapolates

* training: the preset's defined work (epochs x steps) x FLOPs per step,
* inference: the sliding windows over a 1000^3 volume (overlap 0.5) x FLOPs per window,

to the CPU time measured here, and to a GPU at an assumed sustained rate (``--gpu-tflops``,
default 20 TFLOP/s: mixed-precision 3D convolutions, a fraction of an A100/H100's peak; an
assumption, say so when quoting). Short: a few steps.

    PYTHONPATH=. python benchmarks/bench_segmentation_gpu_estimate.py --threads 2 --steps 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--voxels", type=float, default=1e9)
    parser.add_argument("--gpu-tflops", type=float, default=20.0)
    parser.add_argument("--preset", default="gpu")
    parser.add_argument("--json", default=None)
    parser.add_argument("--host", action="store_true",
                        help="also time the host-side work: patch reading + augmentation per batch, and "
                             "the sliding-window bookkeeping of predict_volume with a minimal network")
    args = parser.parse_args(argv)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from liberation.segmentation.config import get_preset
    from liberation.segmentation.inference import window_grid
    from liberation.segmentation.losses import masked_loss
    from liberation.segmentation.model import build_network, network_params

    torch.set_num_threads(args.threads)
    cfg = get_preset(args.preset)
    net = build_network(network_params(cfg, in_channels=1, out_channels=4))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    patch = tuple(cfg.patch_size)
    x = torch.rand((cfg.batch_size, 1) + patch)
    y = torch.randint(0, 4, (cfg.batch_size,) + patch)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = masked_loss(net(x), y, dice_weight=cfg.dice_weight)
        loss.backward()
        opt.step()

    net.train()
    with FlopCounterMode(display=False) as fc:
        step()
    train_flops = fc.get_total_flops()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    train_s = (time.perf_counter() - t0) / args.steps
    net.eval()
    xw = torch.rand((cfg.sw_batch_size, 1) + patch)
    with torch.no_grad():
        with FlopCounterMode(display=False) as fc:
            net(xw)
        window_flops = fc.get_total_flops() / cfg.sw_batch_size
        t0 = time.perf_counter()
        for _ in range(args.steps):
            net(xw)
        window_s = (time.perf_counter() - t0) / args.steps / cfg.sw_batch_size
    side = round(args.voxels ** (1 / 3))
    windows = len(window_grid((side, side, side), patch, overlap=0.5))
    steps = cfg.total_steps
    gpu = args.gpu_tflops * 1e12
    out = {
        "preset": args.preset, "patch": list(patch), "batch": cfg.batch_size, "threads": args.threads,
        "load": os.getloadavg()[0],
        "train_gflop_per_step": train_flops / 1e9, "train_cpu_s_per_step": train_s,
        "cpu_gflops_train": train_flops / train_s / 1e9,
        "window_gflop": window_flops / 1e9, "window_cpu_s": window_s,
        "steps": steps, "volume": [side] * 3, "windows": windows,
        "estimate_train_cpu_h": steps * train_s / 3600, "estimate_infer_cpu_h": windows * window_s / 3600,
        "assumed_gpu_tflops": args.gpu_tflops,
        "estimate_train_gpu_min": steps * train_flops / gpu / 60,
        "estimate_infer_gpu_min": windows * window_flops / gpu / 60,
    }
    out["estimate_total_gpu_min"] = out["estimate_train_gpu_min"] + out["estimate_infer_gpu_min"]
    if args.host:
        out.update(_host_side(cfg, args))
        out["estimate_train_host_min"] = steps * out["host_s_per_batch"] / 60
        out["estimate_infer_host_min"] = args.voxels / out["host_infer_voxels_per_s"] / 60
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    assert math.isfinite(out["estimate_total_gpu_min"])
    return out


def _host_side(cfg, args) -> dict:
    """Seconds of the host-side work that a GPU does not speed up (measured on this CPU)."""
    import numpy as np
    import torch

    from liberation.segmentation.augment import augment_batch
    from liberation.segmentation.inference import predict_volume
    from liberation.segmentation.patches import sample_patch_origins
    from liberation.segmentation.train import _batch, train_model

    rng = np.random.default_rng(0)
    patch = tuple(cfg.patch_size)
    vol = rng.normal(1000, 50, (128, 256, 256)).astype(np.float32)
    labels = np.full(vol.shape, 255, np.uint8)
    labels[0] = rng.integers(0, 3, vol.shape[1:])
    coords = np.argwhere(labels != 255)
    norm = {"value_low": 800.0, "value_high": 1200.0}
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    n = 3
    for _ in range(n):
        origins = sample_patch_origins(None, patch, cfg.batch_size, seed=rng, coords=coords)
        bx, by = _batch(vol, labels, origins, patch, norm)
        augment_batch(torch.from_numpy(bx), torch.from_numpy(by.astype(np.int64)), generator=gen,
                      **dict(cfg.extra.get("augment", {})))
    per_batch = (time.perf_counter() - t0) / n
    # sliding-window bookkeeping: a minimal network (tiny preset) at the preset's patch and window batch
    tiny = dict(max_epochs=1, steps_per_epoch=1, patch_size=patch, batch_size=1, val_patches=1,
                sw_batch_size=cfg.sw_batch_size, channels=(2, 2), strides=(2,))
    from liberation.segmentation.config import get_preset

    small = vol[:96].copy()
    sp = np.full(small.shape, 255, np.uint8)
    sp[0] = labels[0]
    sp[-1] = labels[0]
    r = train_model(small, sp, voxel_size_um=1.0, config=get_preset("tiny", **tiny), device="cpu",
                    show_progress=False, baseline=False)
    t0 = time.perf_counter()
    predict_volume(small, r.network, r.card, show_progress=False)
    infer_s = time.perf_counter() - t0
    return {"host_s_per_batch": per_batch, "host_infer_voxels_per_s": small.size / infer_s,
            "host_infer_note": "predict_volume with a 2-channel network (an upper bound of the bookkeeping)"}


if __name__ == "__main__":
    main()
