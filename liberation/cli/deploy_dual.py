"""CLI: ``liberation deploy dual-energy train|evaluate|export`` and ``liberation deploy fragments``.

Plain click objects (``dual_energy``, a group, and ``fragments``, a command) that the ``deploy``
group loads lazily. Torch is imported only inside the dual-energy subcommands; ``fragments``
needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from liberation._atomic import atomic_dir, atomic_file, check_new_output
from liberation.errors import InputError

__all__ = ["dual_energy", "fragments"]


def _load_data(data: str | None, synthetic: int | None, size: int, seed: int):
    """Images (n, 2, y, x), labels (n,) from a folder or the synthetic generator."""
    if (data is None) == (synthetic is None):
        raise InputError("give exactly one of --data DIR or --synthetic N")
    if data is not None:
        from liberation.deploy.dual_energy.io import read_dual_energy_folder

        images, labels, _ = read_dual_energy_folder(data, size=(size, size))
        return images, labels
    if synthetic < 4:
        raise InputError(f"--synthetic {synthetic}; expected at least 4 fragments")
    from liberation.deploy.dual_energy.synthetic import make_dual_energy_set

    s = make_dual_energy_set(int(synthetic), size=size, seed=seed)
    return s.stack(), s.label


def _baseline(images, labels, threshold=None):
    from liberation.deploy.dual_energy.baseline import RValueClassifier

    clf = RValueClassifier()
    if threshold is None:
        clf.fit(images[:, 0], images[:, 1], labels)
    else:
        clf.threshold, clf.direction = float(threshold[0]), int(threshold[1])
    return clf


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
        click.option("--synthetic", type=int, default=None, help="Use N synthetic fragments instead of a folder."),
        click.option("--size", type=int, default=64, show_default=True,
                     help="Image size (pixels) the pairs are resized to."),
        click.option("--seed", type=int, default=seed_default, show_default=True, help=seed_help),
    ]


def _with(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


@dual_energy.command("train")
@_with(_data_opts(0, "Seed of the training run (and of the synthetic data)."))
@click.option("--fusion", type=click.Choice(["hybrid", "feature", "decision", "data", "high", "low"]), default="hybrid",
              show_default=True, help="Where the two energies meet (high/low: single-energy ablation).")
@click.option("--head", type=click.Choice(["kan", "mlp"]), default="kan", show_default=True)
@click.option("--head-layers", type=int, default=6, show_default=True, help="Classifier layers (paper: 2, 4 or 6).")
@click.option("--widths", default="24,48,96,176", show_default=True, help="Channels of the tower stages.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--val-fraction", type=float, default=0.2, show_default=True, help="Held-out share for validation.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def train(data, synthetic, size, seed, fusion, head, head_layers, widths, epochs, batch_size, lr, val_fraction, out,
          overwrite):
    """Train the classifier; writes OUT/model.pt, OUT/metrics.json and OUT/history.csv."""
    try:
        widths_t = tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise InputError(f"--widths {widths!r}; expected comma-separated channel counts like 24,48,96,176") from None
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"--val-fraction {val_fraction}; expected a fraction between 0 and 1")
    check_new_output(out, overwrite=overwrite, what="output folder")
    from liberation.errors import require

    require("torch", "deploy")
    import pandas as pd

    from liberation.deploy.dual_energy.export import save_checkpoint
    from liberation.deploy.dual_energy.train import evaluate_model, train_dual_energy

    images, labels = _load_data(data, synthetic, size, seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    n_val = max(1, int(round(val_fraction * len(labels))))
    val, tr = order[:n_val], order[n_val:]
    if tr.size < 2:
        raise InputError(f"only {tr.size} training pairs after the validation split; need more data")
    res = train_dual_energy(images[tr], labels[tr], config={"fusion": fusion, "head": head, "head_layers": head_layers,
                                                                     "widths": widths_t},
                            epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                            val_images=images[val], val_labels=labels[val])
    model_m = evaluate_model(res.model, images[val], labels[val])
    base = _baseline(images[tr], labels[tr])
    base_m = base.evaluate(images[val, 0], images[val, 1], labels[val])
    metrics = {"model": model_m, "r_value_baseline": base_m, "n_parameters": res.n_parameters, "config": res.config,
               "n_train": int(tr.size), "n_val": int(val.size), "train_seconds": res.seconds}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save_checkpoint(tmp / "model.pt", res.model, metadata={
            "r_value_threshold": base.threshold, "r_value_direction": base.direction, "image_size": size,
            "val_metrics": {k: float(v) for k, v in model_m.items()}})
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
        pd.DataFrame(res.history).to_csv(tmp / "history.csv", index=False)
    click.echo(f"model ({res.n_parameters} parameters): {_fmt(model_m)}")
    click.echo(f"R-value baseline:        {_fmt(base_m)}")
    click.echo(f"wrote {out}")


@dual_energy.command("evaluate")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=True))
@_with(_data_opts(1, "Seed of the synthetic test data (use another seed than for training)."))
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Write the metrics as JSON here.")
@click.option("--overwrite", is_flag=True, help="Replace an existing metrics file.")
def evaluate(model_path, data, synthetic, size, seed, out, overwrite):
    """Evaluate a trained model (MODEL_PATH: model.pt or its folder) next to the R-value baseline."""
    from liberation.errors import require

    require("torch", "deploy")
    from liberation.deploy.dual_energy.export import load_checkpoint
    from liberation.deploy.dual_energy.train import evaluate_model

    p = Path(model_path)
    if p.is_dir():
        p = p / "model.pt"
    model, meta = load_checkpoint(p)
    if out is not None:
        check_new_output(out, overwrite=overwrite, what="metrics file")
    images, labels = _load_data(data, synthetic, size, seed)
    model_m = evaluate_model(model, images, labels)
    thr = meta.get("r_value_threshold")
    base = _baseline(images, labels, None if thr is None else (thr, meta.get("r_value_direction", 1)))
    base_m = base.evaluate(images[:, 0], images[:, 1], labels)
    click.echo(f"model:            {_fmt(model_m)}")
    click.echo(f"R-value baseline: {_fmt(base_m)}" + ("" if thr is not None else " (threshold fitted on this data)"))
    if out is not None:
        with atomic_file(out, overwrite=overwrite, what="metrics file") as tmp:
            tmp.write_text(json.dumps({"model": model_m, "r_value_baseline": base_m}, indent=2, default=float))


@dual_energy.command("export")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=True))
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="ONNX file to write.")
@click.option("--size", type=int, default=64, show_default=True, help="Example image size for tracing.")
@click.option("--opset", type=int, default=17, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def export(model_path, out, size, opset, overwrite):
    """Export a trained model to ONNX and verify it against torch with onnxruntime."""
    from liberation.errors import require

    require("torch", "deploy")
    from liberation.deploy.dual_energy.export import export_onnx, load_checkpoint, verify_onnx

    p = Path(model_path)
    if p.is_dir():
        p = p / "model.pt"
    model, _ = load_checkpoint(p)
    path = export_onnx(model, out, image_size=(size, size), opset=opset, overwrite=overwrite)
    x = np.random.default_rng(0).uniform(0.05, 1.0, size=(4, 2, size, size)).astype(np.float32)
    diff = verify_onnx(model, path, x)
    click.echo(f"wrote {path} (onnxruntime vs torch: max |dp| = {diff:.2e})")


def _parse_ruler(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 5:
        raise InputError(f"--ruler {text!r}; expected X0,Y0,X1,Y1,LENGTH_CM (pixel end points and length in cm)")
    return vals


def _read_input(path: Path) -> np.ndarray:
    from liberation.deploy.dual_energy.io import _read_image

    return _read_image(path)


@click.command("fragments")
@click.argument("image_or_mask", type=click.Path(exists=True, dir_okay=False))
@click.option("--ruler", default=None, help="X0,Y0,X1,Y1,LENGTH_CM: ruler end points (px) and its length (cm).")
@click.option("--pixel-size", "pixel_size_mm", type=float, default=None, help="Pixel size in mm (instead of --ruler).")
@click.option("--boxes", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of detection boxes (columns x0,y0,x1,y1 in px): size by S = T*W*H*k instead of masks.")
@click.option("--k", "k", type=float, default=0.86, show_default=True, help="Box-to-fragment area factor (OIR).")
@click.option("--input", "input_kind", type=click.Choice(["auto", "labels", "mask", "image"]), default="auto",
              show_default=True, help="How to read IMAGE_OR_MASK (auto: guess from dtype and content).")
@click.option("--dark", is_flag=True, help="Grey image: fragments are darker than the belt.")
@click.option("--min-area", type=int, default=20, show_default=True, help="Smallest fragment (pixels) kept.")
@click.option("--weights", type=click.Choice(["volume", "area", "number"]), default="volume", show_default=True,
              help="Weighting of the passing curve.")
@click.option("--oversize", type=float, default=None, help="Oversize limit (cm, on ECD); adds the alarm.")
@click.option("--max-oversize", type=float, default=0.0, show_default=True,
              help="Tolerated oversize weight fraction before the alarm.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
def fragments(image_or_mask, ruler, pixel_size_mm, boxes, k, input_kind, dark, min_area, weights, oversize, max_oversize, out,
              overwrite):
    """Fragment sizes and size distribution from an image, a mask or a label image.

    IMAGE_OR_MASK: a label image (integer ids), a binary mask, or a grey image (segmented by
    Otsu + watershed). Writes OUT/fragments.csv (area_cm2, ecd_cm, length_cm, width_cm per
    fragment), OUT/distribution.csv (passing curve), OUT/summary.json and OUT/distribution.png.
    """
    import pandas as pd

    from liberation.deploy.fragments.sizing import (
        box_sizes,
        drop_ruler,
        fragment_sizes,
        pixel_size_from_ruler,
        segment_fragments,
    )
    from liberation.deploy.fragments.distribution import plot_size_distribution, size_distribution

    if (ruler is None) == (pixel_size_mm is None):
        raise InputError("give exactly one of --ruler X0,Y0,X1,Y1,LENGTH_CM or --pixel-size MM")
    check_new_output(out, overwrite=overwrite, what="output folder")
    ruler_vals = _parse_ruler(ruler) if ruler is not None else None
    if ruler_vals is not None:
        pixel_size_um = pixel_size_from_ruler(*ruler_vals)
    else:
        if not pixel_size_mm > 0:
            raise InputError(f"--pixel-size {pixel_size_mm}; expected a positive pixel size in mm")
        pixel_size_um = pixel_size_mm * 1000.0
    if boxes is not None:
        table = pd.read_csv(boxes)
        missing = {"x0", "y0", "x1", "y1"} - set(table.columns)
        if missing:
            raise InputError(f"--boxes {boxes} lacks columns {sorted(missing)}; expected x0,y0,x1,y1 (pixels)")
        df = box_sizes(table[["x0", "y0", "x1", "y1"]].to_numpy(), pixel_size_um=pixel_size_um, k=k)
        source = "boxes"
    else:
        arr = _read_input(Path(image_or_mask))
        kind = _guess_kind(arr) if input_kind == "auto" else input_kind
        if kind in ("labels", "mask") and arr.dtype.kind not in "uib":
            raise InputError(f"{image_or_mask} has dtype {arr.dtype}; --input {kind} needs integer values")
        if kind == "mask":
            labels = arr > 0
            source = "mask"
        elif kind == "labels":
            labels = arr.astype(np.int64)
            source = "labels"
        else:
            labels = segment_fragments(arr, bright=not dark, min_area_px=min_area)
            source = "grey image (Otsu + watershed)"
        if ruler_vals is not None and source.startswith("grey"):
            labels = drop_ruler(labels, ruler=ruler_vals)
        df = fragment_sizes(labels, pixel_size_um=pixel_size_um, min_area_px=min_area)
    if len(df) == 0:
        raise InputError(f"no fragments found in {image_or_mask} (source: {source}, min area {min_area} px)")
    dist = size_distribution(df["ecd_cm"].to_numpy(), weights=weights, oversize_limit=oversize,
                             max_oversize_fraction=max_oversize)
    summary = {"source": source, "pixel_size_um": pixel_size_um, "size_measure": "ecd_cm", **dist.summary()}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        df.to_csv(tmp / "fragments.csv", index=False)
        dist.curve.rename(columns={"size": "ecd_cm"}).to_csv(tmp / "distribution.csv", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
        fig = plot_size_distribution(dist, title=Path(image_or_mask).name)
        fig.savefig(tmp / "distribution.png", dpi=120)
        import matplotlib.pyplot as plt

        plt.close(fig)
    click.echo(f"{len(df)} fragments ({source}); P50={dist.p50:.3g} cm P80={dist.p80:.3g} cm "
               f"(ECD, {weights}-weighted); wrote {out}")
    if dist.oversize is not None and dist.oversize["alarm"]:
        click.echo(f"OVERSIZE ALARM: {dist.oversize['fraction']:.1%} above {oversize} cm", err=True)


def _guess_kind(arr: np.ndarray) -> str:
    """``mask``, ``labels`` or ``image``: an integer image with two values is a mask; one whose
    non-zero pixels nearly all share their value with their right and lower neighbours
    (piecewise-constant regions) is a label image; anything else is a grey image."""
    if arr.dtype == bool:
        return "mask"
    if arr.dtype.kind not in "ui":
        return "image"
    if np.unique(arr).size <= 2:
        return "mask"
    nz_x = (arr[:, 1:] > 0) | (arr[:, :-1] > 0)
    nz_y = (arr[1:, :] > 0) | (arr[:-1, :] > 0)
    same = (arr[:, 1:] == arr[:, :-1])[nz_x].sum() + (arr[1:, :] == arr[:-1, :])[nz_y].sum()
    total = nz_x.sum() + nz_y.sum()
    return "labels" if total and same / total > 0.9 else "image"
