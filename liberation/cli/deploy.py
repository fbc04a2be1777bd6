"""CLI: ``liberation deploy train|evaluate|export|benchmark|segment|simulate`` (belt XRT sorter).

``dual-energy`` and ``fragments`` are loaded lazily from ``deploy_dual.py``. Torch,
onnx and onnxruntime are imported only inside the subcommands that need them.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation.cli import LazyGroup
from liberation.errors import InputError

__all__ = ["deploy"]

_LAZY = {
    "dual-energy": ("deploy_dual", "dual_energy", "Dual-energy XRT ore/waste classifier: train, evaluate, export."),
    "fragments": ("deploy_dual", "fragments", "Fragment size distribution from belt masks or detections."),
}
_SYNTH_I0 = 4000.0


def _load(data, synthetic, size, seed, i0):
    """(images, masks, i0) from a labelled folder or the synthetic generator."""
    if (data is None) == (synthetic is None):
        raise InputError("give exactly one of --data DIR (images/ and masks/) or --synthetic N")
    if synthetic is not None:
        from liberation.deploy.belt.synthetic import make_belt_dataset

        if synthetic < 2 or size % 32:
            raise InputError(f"--synthetic {synthetic} --size {size}: need at least 2 frames and a size multiple of 32")
        images, masks = make_belt_dataset(int(synthetic), (size, size), i0=_SYNTH_I0, seed=seed)
        return images, masks, _SYNTH_I0
    from liberation.deploy.belt.io import read_labelled_folder

    _, images, masks = read_labelled_folder(data)
    if i0 is None:
        i0 = float(np.percentile(images, 99.9))
    return images, masks, i0


def _fmt(m: dict) -> str:
    return f"Accuracy {m['accuracy']:.4f}  mPA {m['mpa']:.4f}  mIoU {m['miou']:.4f}"


@click.group("deploy", cls=LazyGroup, lazy_commands=_LAZY)
def deploy() -> None:
    """Belt XRT sorting: segmenter (train, evaluate, export, benchmark, segment), sorting simulation,
    dual-energy classification and fragment sizing (extra 'deploy')."""


_data_opts = [
    click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
                 help="Folder with images/ and masks/ (PNG/TIFF pairs, same stems)."),
    click.option("--synthetic", type=int, default=None, help="Use N synthetic belt frames instead of --data."),
    click.option("--size", type=int, default=128, show_default=True, help="Synthetic frame size (multiple of 32)."),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--i0", type=float, default=None, help="Open-beam counts of --data (default: 99.9th percentile)."),
]


def _with(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


@deploy.command("train", short_help="Train the belt segmenter (checkpoint + model card).")
@_with(_data_opts)
@click.option("--preset", type=click.Choice(["tiny", "small", "base"]), default="small", show_default=True,
              help="Architecture width.")
@click.option("--aspp", type=click.Choice(["s-aspp", "aspp", "none"]), default="s-aspp", show_default=True)
@click.option("--attention", type=click.Choice(["both", "deep", "shallow", "none"]), default="both", show_default=True)
@click.option("--classes", default="background,ore,waste", show_default=True, help="Class names, background first.")
@click.option("--train-preset", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True,
              help="paper: SGD lr 0.01 momentum 0.937 wd 5e-4 batch 16, 100 epochs.")
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--max-steps", type=int, default=None, help="Stop after this many steps (smoke runs).")
@click.option("--val-fraction", type=float, default=0.1, show_default=True)
@click.option("--pixel-size-um", type=float, default=500.0, show_default=True, help="Belt pixel size (model card).")
@click.option("--threads", type=int, default=None, help="Torch CPU threads.")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="Checkpoint file (.pt).")
@click.option("--overwrite", is_flag=True)
def train(data, synthetic, size, seed, i0, preset, aspp, attention, classes, train_preset, epochs, batch_size, lr,
          max_steps, val_fraction, pixel_size_um, threads, out, overwrite):
    """Train the belt segmenter; writes OUT (state_dict) and OUT.json (model card)."""
    from liberation.deploy.belt.config import belt_config_preset
    from liberation.deploy.belt.io import card_path, save_belt_checkpoint
    from liberation.deploy.belt.model import count_parameters
    from liberation.deploy.belt.train import evaluate_belt_segmenter, prepare_belt_inputs, train_belt_segmenter

    out = check_new_output(out, overwrite=overwrite, what="checkpoint")
    check_new_output(card_path(out), overwrite=overwrite, what="model card")
    if not (0 < val_fraction < 0.9):
        raise InputError(f"--val-fraction {val_fraction} must be in (0, 0.9)")
    images, masks, i0 = _load(data, synthetic, size, seed, i0)
    config = belt_config_preset(preset, aspp=aspp, attention=attention, class_names=tuple(classes.split(",")))
    n_val = max(1, int(round(len(images) * val_fraction)))
    order = np.random.default_rng(seed).permutation(len(images))
    va, tr = order[:n_val], order[n_val:]
    res = train_belt_segmenter(images[tr], masks[tr], config=config, preset=train_preset, i0=i0, epochs=epochs,
                               batch_size=batch_size, lr=lr, max_steps=max_steps, seed=seed, threads=threads)
    metrics = evaluate_belt_segmenter(res.model, prepare_belt_inputs(images[va], i0=i0), masks[va],
                                      class_names=config.class_names)
    card = {"class_names": list(config.class_names), "parameters": count_parameters(res.model),
            "input": {"kind": "log_attenuation", "i0": i0, "size_multiple": 32, "pixel_size_um": pixel_size_um},
            "train": res.train_params, "history": res.history,
            "metrics": {"validation": {k: metrics[k] for k in ("accuracy", "mpa", "miou", "iou", "pa")},
                        "n_validation": int(n_val)},
            "data": {"source": str(data) if data else f"synthetic:{synthetic}x{size} seed {seed}"}}
    save_belt_checkpoint(out, res.model, card, overwrite=overwrite)
    click.echo(f"parameters {card['parameters']}  steps {res.train_params['steps']}  {res.seconds:.1f} s")
    click.echo(f"validation: {_fmt(metrics)}")
    click.echo(f"wrote {out} and {card_path(out)}")


@deploy.command("evaluate", short_help="Accuracy, mPA, mIoU on labelled frames.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@_with(_data_opts)
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Metrics JSON.")
@click.option("--overwrite", is_flag=True)
def evaluate(model_path, data, synthetic, size, seed, i0, backend, out, overwrite):
    """Accuracy, mPA and mIoU of MODEL_PATH (.pt/.onnx/.engine) on labelled frames."""
    from liberation.deploy.belt.metrics import confusion_matrix, segmentation_metrics
    from liberation.deploy.belt.runtime import BeltRuntime

    if out:
        check_new_output(out, overwrite=overwrite, what="metrics file")
    rt = BeltRuntime(model_path, backend=backend)
    from liberation.deploy.belt.synthetic import belt_attenuation

    # synthetic evaluation frames come from another seed than training (held out)
    images, masks, i0 = _load(data, synthetic, size, seed + 7919, i0 or rt.i0)
    pred = rt.segment(belt_attenuation(images, i0=i0), counts=False)
    m = segmentation_metrics(confusion_matrix(masks, pred, num_classes=len(rt.class_names)),
                             class_names=rt.class_names)
    click.echo(f"{rt.backend}: {_fmt(m)}")
    click.echo("IoU per class: " + ", ".join(f"{k} {v:.4f}" for k, v in m["iou"].items()))
    if out:
        Path(out).write_text(json.dumps({"model": str(model_path), "backend": rt.backend, **m}, indent=2))


@deploy.command("export", short_help="Export to ONNX and check parity with onnxruntime.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="ONNX file.")
@click.option("--opset", type=int, default=17, show_default=True)
@click.option("--fp16", is_flag=True, help="Store weights as float16 (see docs/deploy.md).")
@click.option("--check-size", type=int, default=64, show_default=True, help="Frame size of the parity check.")
@click.option("--overwrite", is_flag=True)
def export(model_path, out, opset, fp16, check_size, overwrite):
    """Export a .pt checkpoint to ONNX (dynamic batch/size) and check it against PyTorch with onnxruntime."""
    from liberation.deploy.belt.export import export_belt_onnx, verify_belt_onnx
    from liberation.deploy.belt.io import card_path, load_belt_checkpoint, write_model_card

    check_new_output(out, overwrite=overwrite, what="ONNX file")
    check_new_output(card_path(out), overwrite=overwrite, what="model card")
    model, card = load_belt_checkpoint(model_path)
    export_belt_onnx(model, out, opset=opset, fp16=fp16, overwrite=overwrite)
    parity = verify_belt_onnx(model, out, shape=(2, 1, check_size, check_size))
    card = {k: v for k, v in card.items() if k not in ("format", "library_version", "created")}
    card["export"] = {"from": str(model_path), "opset": opset, "fp16_weights": fp16, "parity": parity}
    write_model_card(out, card, overwrite=True)
    click.echo(f"wrote {out} (opset {opset}, {'fp16' if fp16 else 'fp32'} weights)")
    click.echo(f"onnxruntime vs torch: max abs diff {parity['max_abs_diff']:.3g}, "
               f"mean {parity['mean_abs_diff']:.3g}, argmax agreement {parity['argmax_agreement']:.6f}")


@deploy.command("benchmark", short_help="ms per frame and FPS on this machine.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True)
@click.option("--size", type=int, default=512, show_default=True, help="Frame size (square, multiple of 32).")
@click.option("--batch", type=int, default=1, show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads (onnxruntime/torch).")
@click.option("--repeats", type=int, default=20, show_default=True)
@click.option("--warmup", type=int, default=3, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Result JSON.")
def benchmark(model_path, backend, size, batch, threads, repeats, warmup, out):
    """Milliseconds per frame and frames per second of MODEL_PATH on this machine."""
    from liberation.deploy.belt.runtime import BeltRuntime

    rt = BeltRuntime(model_path, backend=backend, threads=threads)
    r = rt.benchmark(shape=(size, size), batch=batch, repeats=repeats, warmup=warmup)
    click.echo(f"{r['backend']}: {size}x{size} batch {batch}: {r['ms_per_frame']:.2f} ms/frame "
               f"(p90 {r['ms_p90']:.2f}), {r['fps']:.1f} FPS, threads {threads}")
    if out:
        Path(out).write_text(json.dumps({"model": str(model_path), **r}, indent=2))


@deploy.command("segment", short_help="Mask PNG per image + per-fragment sorting table.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("images_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True)
@click.option("--pixel-size-um", type=float, default=None, help="Belt pixel size (default: model card).")
@click.option("--threshold", type=float, default=0.5, show_default=True, help="Ore share to accept a fragment.")
@click.option("--eject", type=click.Choice(["waste", "ore"]), default="waste", show_default=True)
@click.option("--overwrite", is_flag=True)
def segment(model_path, images_dir, out, backend, pixel_size_um, threshold, eject, overwrite):
    """Segment every PNG/TIFF in IMAGES_DIR: one mask PNG per image (0 = background, 1.. classes) and fragments.csv."""
    import pandas as pd

    from liberation.deploy.belt.io import read_image, write_mask_png
    from liberation.deploy.belt.runtime import BeltRuntime
    from liberation.deploy.belt.sorting import fragment_decisions
    from liberation.errors import FileFormatError

    paths = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in (".png", ".tif", ".tiff"))
    if not paths:
        raise FileFormatError(f"no PNG/TIFF images in {images_dir}")
    rt = BeltRuntime(model_path, backend=backend)
    px = pixel_size_um or (rt.card.get("input") or {}).get("pixel_size_um") or 500.0
    ore = [i for i, n in enumerate(rt.class_names) if n == "ore"] or [1]
    rows = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for p in paths:
            mask = rt.segment(read_image(p))
            write_mask_png(tmp / f"{p.stem}.png", mask)
            frag = fragment_decisions(mask, pixel_size_um=px, ore_classes=ore, threshold=threshold, eject=eject)
            for i in range(len(frag["id"])):
                rows.append({"image": p.name, **{k: v[i].item() for k, v in frag.items()}})
        pd.DataFrame(rows).to_csv(tmp / "fragments.csv", index=False)
    click.echo(f"{rt.backend}: wrote {len(paths)} masks and fragments.csv ({len(rows)} fragments) to {out}")


@deploy.command("simulate", short_help="Belt simulation of the paper's trial series.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--model-card", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Take mIoU from this model card (<model>.json).")
@click.option("--miou", type=float, default=None, help="Segmenter mIoU (default: model card, else 0.95).")
@click.option("--fps", type=float, default=25.0, show_default=True, help="Segmenter frames per second.")
@click.option("--series", default="size,feed,speed", show_default=True)
@click.option("--fragments", "n_fragments", type=int, default=20000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True)
def simulate(out, model_card, miou, fps, series, n_fragments, seed, overwrite):
    """Belt simulation of the paper's three trial series: trials.csv, trials.png, summary.json."""
    from liberation.deploy.belt.simulation import default_profiles, plot_trials, simulate_paper_trials

    if miou is None and model_card:
        card = json.loads(Path(model_card).read_text())
        ms = card.get("metrics", {})
        m = ms.get("held_out_synthetic") or ms.get("validation") or {}
        miou = m.get("miou")
    miou = 0.95 if miou is None else float(miou)
    profiles = default_profiles(miou=miou, fps=fps)
    table = simulate_paper_trials(profiles, series=tuple(s.strip() for s in series.split(",")),
                                  n_fragments=n_fragments, seed=seed)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        table.to_csv(tmp / "trials.csv", index=False)
        fig = plot_trials(table)
        fig.savefig(tmp / "trials.png", dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
        (tmp / "summary.json").write_text(json.dumps({"profiles": table.attrs.get("profiles"), "seed": seed,
                                                      "n_fragments": n_fragments}, indent=2))
    best = table.loc[table["concentrate_grade"].idxmax()]
    click.echo(f"{len(table)} operating points; best concentrate {best['concentrate_grade']:.2f} % Li2O "
               f"({best['profile']}, {best['series']}); max gamma {table['gamma'].max():.2f}; wrote {out}")
