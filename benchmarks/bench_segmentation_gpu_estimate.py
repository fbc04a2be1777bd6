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
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    assert math.isfinite(out["estimate_total_gpu_min"])
    return out


if __name__ == "__main__":
    main()
