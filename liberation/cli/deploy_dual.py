"""CLI: ``liberation deploy dual-energy train|evaluate|export`` and ``liberation deploy fragments``.

Plain click objects (``dual_energy``, a group, and ``fragments``, a command) that the ``deploy``
group loads lazily. Thin commands: parse, call :mod:`liberation.deploy.dual_energy.workflow`
or :mod:`liberation.deploy.fragments.workflow`, print. Torch is imported only inside the
dual-energy steps; ``fragments`` needs no torch.
"""

from __future__ import annotations

import click

from liberation.cli._options import (
    CLOSED_FRACTION,
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    overwrite_option,
    stack_options,
)
from liberation.errors import InputError

__all__ = ["dual_energy", "fragments"]


def _fmt(m: dict) -> str:
    return " ".join(f"{k}={m[k]:.4f}" for k in ("auc", "accuracy", "f1", "recall", "precision"))


@click.group("dual-energy")
def dual_energy() -> None:
    """Dual-energy XRT ore/waste classifier: dual-tower CNN with a Chebyshev-KAN head (extra 'deploy').

    Data come from a folder (ore/ and waste/ with NAME_high / NAME_low images) or from the
    synthetic generator (--synthetic N).
    """


def _data_opts(seed_default: int, seed_help: str):
    return [
        click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
                     help="Folder of labelled pairs."),
        click.option("--synthetic", type=POSITIVE_INT, default=None, help="Use N synthetic fragments instead of a folder."),
        click.option("--size", type=POSITIVE_INT, default=64, show_default=True,
                     help="Image size (pixels) the pairs are resized to."),
        click.option("--seed", type=NON_NEGATIVE_INT, default=seed_default, show_default=True, help=seed_help),
    ]



@dual_energy.command("train")
@stack_options(_data_opts(0, "Seed of the training run (and of the synthetic data)."))
@click.option("--fusion", type=click.Choice(["hybrid", "feature", "decision", "data", "high", "low"]), default="hybrid",
              show_default=True, help="Where the two energies meet (high/low: single-energy ablation).")
@click.option("--head", type=click.Choice(["kan", "mlp"]), default="kan", show_default=True)
@click.option("--head-layers", type=POSITIVE_INT, default=6, show_default=True, help="Classifier layers (paper: 2, 4 or 6).")
@click.option("--widths", default="24,48,96,176", show_default=True, help="Channels of the tower stages.")
@click.option("--epochs", type=POSITIVE_INT, default=10, show_default=True)
@click.option("--batch-size", type=POSITIVE_INT, default=32, show_default=True)
@click.option("--lr", type=POSITIVE_FLOAT, default=3e-3, show_default=True)
@click.option("--val-fraction", type=OPEN_FRACTION, default=0.2, show_default=True, help="Held-out share for validation.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@overwrite_option("Replace an existing output folder.")
def train(data, synthetic, size, seed, fusion, head, head_layers, widths, epochs, batch_size, lr, val_fraction, out,
          overwrite):
    """Train the classifier; writes the model folder OUT (model.pt, model_card.json) with metrics.json and history.csv."""
    from liberation.deploy.dual_energy.workflow import train_run

    try:
        widths_t = tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise InputError(f"--widths {widths!r}; expected comma-separated channel counts like 24,48,96,176") from None
    r = train_run(out, data=data, synthetic=synthetic, size=size, seed=seed,
                  config={"fusion": fusion, "head": head, "head_layers": head_layers, "widths": widths_t},
                  epochs=epochs, batch_size=batch_size, lr=lr, val_fraction=val_fraction, overwrite=overwrite)
    click.echo(f"model ({r['n_parameters']} parameters): {_fmt(r['model'])}")
    click.echo(f"R-value baseline:        {_fmt(r['r_value_baseline'])}")
    click.echo(f"wrote {out}")


@dual_energy.command("evaluate")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=True))
@stack_options(_data_opts(1, "Seed of the synthetic test data (use another seed than for training)."))
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Write the metrics as JSON here.")
@overwrite_option("Replace an existing metrics file.")
def evaluate(model_path, data, synthetic, size, seed, out, overwrite):
    """Evaluate a trained model (MODEL_PATH: its folder, or model.pt) next to the R-value baseline."""
    from liberation.deploy.dual_energy.workflow import evaluate_run

    r = evaluate_run(model_path, data=data, synthetic=synthetic, size=size, seed=seed, out=out, overwrite=overwrite)
    click.echo(f"model:            {_fmt(r['model'])}")
    click.echo(f"R-value baseline: {_fmt(r['r_value_baseline'])}"
               + (" (threshold fitted on this data)" if r["threshold_fitted"] else ""))


@dual_energy.command("export")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=True))
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="ONNX file to write.")
@click.option("--size", type=POSITIVE_INT, default=64, show_default=True, help="Example image size for tracing.")
@click.option("--opset", type=POSITIVE_INT, default=17, show_default=True)
@overwrite_option("Replace an existing file.")
def export(model_path, out, size, opset, overwrite):
    """Export a trained model to ONNX and verify it against torch with onnxruntime."""
    from liberation.deploy.dual_energy.workflow import export_run

    r = export_run(model_path, out, size=size, opset=opset, overwrite=overwrite)
    click.echo(f"wrote {r['out']} (onnxruntime vs torch: max |dp| = {r['max_abs_diff']:.2e})")


@click.command("fragments")
@click.argument("image_or_mask", type=click.Path(exists=True, dir_okay=False))
@click.option("--ruler", default=None, help="X0,Y0,X1,Y1,LENGTH_CM: ruler end points (px) and its length (cm).")
@click.option("--pixel-size", "pixel_size_mm", type=POSITIVE_FLOAT, default=None, help="Pixel size in mm (instead of --ruler).")
@click.option("--boxes", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of detection boxes (columns x0,y0,x1,y1 in px): size by S = T*W*H*k instead of masks.")
@click.option("--k", "k", type=POSITIVE_FLOAT, default=0.86, show_default=True, help="Box-to-fragment area factor (OIR).")
@click.option("--input", "input_kind", type=click.Choice(["auto", "labels", "mask", "image"]), default="auto",
              show_default=True, help="How to read IMAGE_OR_MASK (auto: guess from dtype and content).")
@click.option("--dark", is_flag=True, help="Grey image: fragments are darker than the belt.")
@click.option("--min-area", type=NON_NEGATIVE_INT, default=20, show_default=True, help="Smallest fragment (pixels) kept.")
@click.option("--weights", type=click.Choice(["volume", "area", "number"]), default="volume", show_default=True,
              help="Weighting of the passing curve.")
@click.option("--oversize", type=POSITIVE_FLOAT, default=None, help="Oversize limit (cm, on ECD); adds the alarm.")
@click.option("--max-oversize", type=CLOSED_FRACTION, default=0.0, show_default=True,
              help="Tolerated oversize weight fraction before the alarm.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@overwrite_option("Replace an existing output folder.")
def fragments(image_or_mask, ruler, pixel_size_mm, boxes, k, input_kind, dark, min_area, weights, oversize, max_oversize, out,
              overwrite):
    """Fragment sizes and size distribution from an image, a mask or a label image.

    IMAGE_OR_MASK: a label image (integer ids), a binary mask, or a grey image (segmented by
    Otsu + watershed). Writes OUT/fragments.csv (area_cm2, ecd_cm, length_cm, width_cm per
    fragment), OUT/distribution.csv (passing curve), OUT/summary.json and OUT/distribution.png.
    """
    from liberation.deploy.fragments.workflow import measure_fragments, parse_ruler

    r = measure_fragments(image_or_mask, out, ruler=parse_ruler(ruler) if ruler is not None else None,
                          pixel_size_mm=pixel_size_mm, boxes=boxes, k=k, input_kind=input_kind, dark=dark,
                          min_area=min_area, weights=weights, oversize=oversize, max_oversize=max_oversize,
                          overwrite=overwrite)
    dist = r["distribution"]
    click.echo(f"{len(r['fragments'])} fragments ({r['source']}); P50={dist.p50:.3g} cm P80={dist.p80:.3g} cm "
               f"(ECD, {weights}-weighted); wrote {out}")
    if dist.oversize is not None and dist.oversize["alarm"]:
        click.echo(f"OVERSIZE ALARM: {dist.oversize['fraction']:.1%} above {oversize} cm", err=True)
