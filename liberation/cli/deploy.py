"""CLI: ``liberation deploy train|evaluate|export|benchmark|segment|simulate`` (belt XRT sorter).

Thin commands: parse, call :mod:`liberation.deploy.belt.workflow`, print. ``dual-energy``
and ``fragments`` are loaded lazily from ``deploy_dual.py``. Torch, onnx and onnxruntime
are imported only inside the steps that need them.
"""

from __future__ import annotations

import contextlib
import warnings

import click

from liberation.cli import LazyGroup
from liberation.cli._options import (
    CLOSED_FRACTION,
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    overwrite_option,
    seed_option,
    stack_options,
    threads_option,
)

__all__ = ["deploy"]

_LAZY = {
    "dual-energy": ("deploy_dual", "dual_energy", "Dual-energy XRT ore/waste classifier: train, evaluate, export."),
    "fragments": ("deploy_dual", "fragments", "Fragment size distribution from belt masks or detections."),
}
def _fmt(m: dict) -> str:
    return f"Accuracy {m['accuracy']:.4f}  mPA {m['mpa']:.4f}  mIoU {m['miou']:.4f}"


@click.group("deploy", cls=LazyGroup, lazy_commands=_LAZY)
def deploy() -> None:
    """Belt XRT sorting: segmenter (train, evaluate, export, benchmark, segment), sorting simulation,
    dual-energy classification and fragment sizing (extra 'deploy')."""


_data_opts = [
    click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
                 help="Folder with images/ and masks/ (PNG/TIFF pairs, same stems)."),
    click.option("--synthetic", type=POSITIVE_INT, default=None, help="Use N synthetic belt frames instead of --data."),
    click.option("--size", type=POSITIVE_INT, default=128, show_default=True, help="Synthetic frame size (multiple of 32)."),
    click.option("--seed", type=NON_NEGATIVE_INT, default=0, show_default=True),
    click.option("--i0", default="auto", show_default=True,
                 help="Open beam of the frames: 'auto' (estimated per frame from the bare belt, any bit depth or "
                      "gain) or a count."),
]

_I0_OPT = click.option("--i0", default="auto", show_default=True,
                       help="Open beam of the frames: 'auto' (estimated per frame from the bare belt, any bit depth "
                            "or gain) or a fixed count.")
_SPLIT_HELP = "Seeded train:val:test split of --data, stratified by each frame's dominant class (e.g. 7:2:1)."


def _i0(value):
    """``--i0``: 'auto' or a count (an InputError naming the value otherwise: one error line, exit 2)."""
    from liberation.deploy.belt.preprocess import parse_i0

    return parse_i0(value)


@contextlib.contextmanager
def _belt_warnings():
    """Collect BeltInputWarnings of the block and print each as one ``warning: ...`` line."""
    from liberation.deploy.belt.runtime import BeltInputWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BeltInputWarning)
        yield
    for w in caught:
        if issubclass(w.category, BeltInputWarning):
            click.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)



@deploy.command("train", short_help="Train the belt segmenter (model folder).")
@stack_options(_data_opts)
@click.option("--preset", type=click.Choice(["test", "cpu", "edge", "paper", "tiny", "small", "base"]),
              default="cpu", show_default=True,
              help="Architecture: test (32 k parameters), cpu (0.67 M), edge (2.6 M, Jetson Orin), paper (30 M, the "
                   "paper's scale; GPU training only). tiny/small/base are deprecated names of test/cpu/edge.")
@click.option("--aspp", type=click.Choice(["s-aspp", "aspp", "none"]), default="s-aspp", show_default=True)
@click.option("--attention", type=click.Choice(["both", "deep", "shallow", "none"]), default="both", show_default=True)
@click.option("--classes", default="background,ore,waste", show_default=True, help="Class names, background first.")
@click.option("--train-preset", type=click.Choice(["cpu", "paper"]), default="cpu", show_default=True,
              help="paper: SGD lr 0.01 momentum 0.937 wd 5e-4 batch 16, 100 epochs.")
@click.option("--epochs", type=POSITIVE_INT, default=None)
@click.option("--batch-size", type=POSITIVE_INT, default=None)
@click.option("--lr", type=POSITIVE_FLOAT, default=None)
@click.option("--max-steps", type=POSITIVE_INT, default=None, help="Stop after this many steps (smoke runs).")
@click.option("--val-fraction", type=OPEN_FRACTION, default=0.1, show_default=True,
              help="Random validation share when no --split is given.")
@click.option("--split", default=None, help=_SPLIT_HELP + " The test part is evaluated once at the end.")
@click.option("--no-domain", is_flag=True,
              help="Train without detector randomisation (gain, offset, gamma, noise, blur, 8/12/16 bits, belt "
                   "texture, dust); the model then needs a fixed --i0 at run time.")
@click.option("--pixel-size-um", type=POSITIVE_FLOAT, default=500.0, show_default=True, help="Belt pixel size (model card).")
@threads_option("Torch CPU threads.")
@click.option("--out", "out", type=click.Path(), required=True, help="Model folder to write.")
@overwrite_option(None)
def train(data, synthetic, size, seed, i0, preset, aspp, attention, classes, train_preset, epochs, batch_size, lr,
          max_steps, val_fraction, split, no_domain, pixel_size_um, threads, out, overwrite):
    """Train the belt segmenter on --data (images/ + masks/ label PNGs, or LabelMe JSON) or --synthetic frames;
    writes the model folder OUT (model.pt + model_card.json)."""
    from liberation.deploy.belt.workflow import train_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        r = train_model(out, data=data, synthetic=synthetic, size=size, seed=seed, i0=_i0(i0), preset=preset,
                        aspp=aspp, attention=attention, class_names=tuple(classes.split(",")),
                        train_preset=train_preset, epochs=epochs, batch_size=batch_size, lr=lr, max_steps=max_steps,
                        val_fraction=val_fraction, split=split, domain=not no_domain, pixel_size_um=pixel_size_um,
                        threads=threads, overwrite=overwrite)
    click.echo(f"parameters {r['parameters']}  steps {r['steps']}  {r['seconds']:.1f} s  "
               f"split train/val/test {r['split'][0]}/{r['split'][1]}/{r['split'][2]}")
    click.echo(f"validation: {_fmt(r['metrics'])}")
    if r["test"]:
        click.echo(f"test ({r['n_test']} frames): {_fmt(r['test'])}")
        click.echo("test IoU per class: " + ", ".join(f"{k} {v:.4f}" for k, v in r["test"]["iou"].items()))
        click.echo("test PA per class: " + ", ".join(f"{k} {v:.4f}" for k, v in r["test"]["pa"].items()))
    click.echo(f"wrote model folder {r['out']}")


@deploy.command("evaluate", short_help="Accuracy, mPA, mIoU on labelled frames.")
@click.argument("model_path", type=click.Path(exists=True))
@stack_options(_data_opts)
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True)
@click.option("--split", default=None, help=_SPLIT_HELP + " Only its test part is evaluated (same --seed as train).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Metrics JSON.")
@overwrite_option(None)
def evaluate(model_path, data, synthetic, size, seed, i0, split, backend, out, overwrite):
    """Accuracy, mPA and mIoU (and IoU and PA per class) of MODEL_PATH (model folder, .onnx or .engine) on
    labelled frames."""
    from liberation.deploy.belt.workflow import evaluate_model

    with _belt_warnings():
        m = evaluate_model(model_path, data=data, synthetic=synthetic, size=size, seed=seed, i0=_i0(i0), split=split,
                           backend=backend, out=out, overwrite=overwrite)
    click.echo(f"{m['backend']} ({m['n_frames']} frames): {_fmt(m)}")
    click.echo("IoU per class: " + ", ".join(f"{k} {v:.4f}" for k, v in m["iou"].items()))
    click.echo("PA per class: " + ", ".join(f"{k} {v:.4f}" for k, v in m["pa"].items()))



@deploy.command("export", short_help="Export to ONNX and check parity with onnxruntime.",
                epilog="Jetson scope: the default export (opset 17) is for TensorRT >= 8.6, i.e. Jetson Orin with "
                       "JetPack 6 (or 5.1.2); the Python runtime for .engine files needs TensorRT >= 8.5. The "
                       "paper's Jetson Nano (JetPack 4.x, TensorRT 8.0/8.2) parses opset <= 13: --opset 13 writes "
                       "that graph (onnxruntime parity checked), untested on a Nano. See docs/deploy.md.")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="ONNX file.")
@click.option("--opset", type=POSITIVE_INT, default=17, show_default=True,
              help="ONNX opset: 17 for Jetson Orin / TensorRT >= 8.6; 13 for older TensorRT (Jetson Nano, untested).")
@click.option("--fp16", is_flag=True, help="Store weights as float16 (see docs/deploy.md).")
@click.option("--check-size", type=POSITIVE_INT, default=64, show_default=True, help="Frame size of the parity check.")
@overwrite_option(None)
def export(model_path, out, opset, fp16, check_size, overwrite):
    """Export a model folder to ONNX (dynamic batch/size, opset >= 17) and check it against PyTorch with
    onnxruntime. Opset 17 targets Jetson Orin / JetPack 6 (TensorRT >= 8.6); --opset 13 the Jetson Nano
    (TensorRT 8.0/8.2; untested there)."""
    from liberation.deploy.belt.workflow import export_model

    r = export_model(model_path, out, opset=opset, fp16=fp16, check_size=check_size, overwrite=overwrite)
    parity = r["parity"]
    click.echo(f"wrote {r['out']} and {r['card']} (opset {opset}, {'fp16' if fp16 else 'fp32'} weights)")
    click.echo(f"onnxruntime vs torch: max abs diff {parity['max_abs_diff']:.3g}, "
               f"mean {parity['mean_abs_diff']:.3g}, argmax agreement {parity['argmax_agreement']:.6f}")


@deploy.command("benchmark", short_help="ms per frame and FPS on this machine.")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True)
@click.option("--size", type=POSITIVE_INT, default=512, show_default=True, help="Frame size (square, multiple of 32).")
@click.option("--batch", type=POSITIVE_INT, default=1, show_default=True)
@threads_option("CPU threads (onnxruntime/torch).")
@click.option("--repeats", type=POSITIVE_INT, default=20, show_default=True)
@click.option("--warmup", type=NON_NEGATIVE_INT, default=3, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Result JSON.")
def benchmark(model_path, backend, size, batch, threads, repeats, warmup, out):
    """Milliseconds per frame and frames per second of MODEL_PATH on this machine."""
    from liberation.deploy.belt.workflow import benchmark_model

    r = benchmark_model(model_path, backend=backend, size=size, batch=batch, threads=threads, repeats=repeats,
                        warmup=warmup, out=out)
    click.echo(f"{r['backend']}: {size}x{size} batch {batch}: {r['ms_per_frame']:.2f} ms/frame "
               f"(p90 {r['ms_p90']:.2f}), {r['fps']:.1f} FPS, threads {threads}")


@deploy.command("segment", short_help="Mask PNG per image + per-fragment sorting table.")
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("images_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--backend", type=click.Choice(["auto", "tensorrt", "onnxruntime", "torch"]), default="auto",
              show_default=True)
@click.option("--pixel-size-um", type=POSITIVE_FLOAT, default=None, help="Belt pixel size (default: model card).")
@click.option("--threshold", type=CLOSED_FRACTION, default=0.5, show_default=True, help="Ore share to accept a fragment.")
@click.option("--eject", type=click.Choice(["waste", "ore"]), default="waste", show_default=True)
@_I0_OPT
@click.option("--decision", type=click.Choice(["auto", "hybrid", "features", "fragment", "pixel"]), default="auto",
              show_default=True,
              help="Ore/waste per predicted fragment (touching fragments split) from its thickness-free texture "
                   "and size features plus the network's vote (hybrid), the features alone, or the network's "
                   "mean class probability (fragment); or per pixel. auto: hybrid for belt/ore/waste models, "
                   "else fragment.")
@overwrite_option(None)
def segment(model_path, images_dir, out, backend, pixel_size_um, threshold, eject, i0, decision, overwrite):
    """Segment every PNG/TIFF in IMAGES_DIR: one mask PNG per image (0 = background, 1.. classes) and fragments.csv.

    Prints one warning line when frames look unlike the training data (scale, dtype, range, or an implausible
    predicted foreground share)."""
    from liberation.deploy.belt.workflow import segment_folder

    with _belt_warnings():
        r = segment_folder(model_path, images_dir, out, backend=backend, pixel_size_um=pixel_size_um,
                           threshold=threshold, eject=eject, i0=_i0(i0), decision=decision, overwrite=overwrite)
    click.echo(f"{r['backend']}: wrote {r['n_images']} masks and fragments.csv ({r['n_fragments']} fragments) to {out}")


@deploy.command("simulate", short_help="Belt simulation of the paper's trial series.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--model-card", type=click.Path(exists=True), default=None,
              help="Take mIoU from this model card (model_card.json, <model>.onnx.json) or model folder.")
@click.option("--miou", type=CLOSED_FRACTION, default=None, help="Segmenter mIoU (default: model card, else 0.95).")
@click.option("--fps", type=POSITIVE_FLOAT, default=25.0, show_default=True, help="Segmenter frames per second.")
@click.option("--series", default="size,feed,speed", show_default=True)
@click.option("--fragments", "n_fragments", type=POSITIVE_INT, default=20000, show_default=True)
@seed_option()
@overwrite_option(None)
def simulate(out, model_card, miou, fps, series, n_fragments, seed, overwrite):
    """Belt simulation of the paper's three trial series: trials.csv, trials.png, summary.json."""
    from liberation.deploy.belt.workflow import simulate_trials

    r = simulate_trials(out, model_card=model_card, miou=miou, fps=fps,
                        series=tuple(s.strip() for s in series.split(",")), n_fragments=n_fragments, seed=seed,
                        overwrite=overwrite)
    table, best = r["table"], r["best"]
    click.echo(f"{len(table)} operating points; best concentrate {best['concentrate_grade']:.2f} % Li2O "
               f"({best['profile']}, {best['series']}); max gamma {table['gamma'].max():.2f}; wrote {out}")
