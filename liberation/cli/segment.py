"""``liberation train``, ``liberation segment`` and ``liberation evaluate`` (extra ``ml``).

The work is in :mod:`liberation.workflows.segment` and :mod:`liberation.workflows.evaluate`.
"""

from __future__ import annotations

import click

from liberation.cli._options import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    UNIT_FRACTION,
    cluster_options,
    context_option,
    device_option,
    max_time_option,
    minerals_option,
    model_option,
    out_option,
    overwrite_option,
    preset_option,
    seed_option,
    task_option,
    threads_option,
)
from liberation.cli._parse import parse_nonnegative_ints, parse_positive_ints
from liberation.errors import InputError


@click.command("train")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@task_option(default="phases")
@out_option(required=True, help="Model folder to write.")
@preset_option()
@click.option("--epochs", type=POSITIVE_INT, default=None,
              help="Number of epochs (default: the preset's; cpu 65 x 50 steps). The preset fixes the work, "
                   "so the same command gives the same model on a fast or a slow machine.")
@max_time_option("Also stop training after this many seconds (default: no limit; the model then depends on "
                 "the machine's speed, and a warning says so).")
@click.option("--patch", default=None, help="Patch size z,y,x (e.g. 48,48,48).")
@click.option("--channels", default=None, help="Feature channels per level (e.g. 8,16,32).")
@click.option("--lr", type=POSITIVE_FLOAT, default=None, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(["adamw", "adadelta"]), default=None)
@click.option("--val-planes", default=None, help="Labelled z planes kept for validation (default automatic).")
@click.option("--bootstrap/--no-bootstrap", default=True, show_default=True,
              help="Use a classical bootstrap: particles: contact zones from threshold + watershed; "
                   "phases: extra labelled planes from a pixel classifier (see --bootstrap-planes).")
@click.option("--bootstrap-planes", type=NON_NEGATIVE_INT, default=None,
              help="Extra z planes labelled by the bootstrap. phases: pixel classifier on filter features, "
                   "confident voxels only (default: the preset's, cpu 8); particles: classical threshold + "
                   "watershed (default 0).")
@click.option("--deliver", type=click.Choice(["best", "network", "pixel-classifier"]), default="best",
              show_default=True,
              help="phases: what 'segment' applies. best: the network, the pixel classifier or the grey-value "
                   "GMM, whichever has the best validation mIoU (then accuracy) on the same validation voxels; "
                   "the card says which and why (metrics.delivered).")
@click.option("--input-features", type=click.Choice(["preset", "none", "classifier"]), default="preset",
              show_default=True,
              help="Fixed filter channels computed inside the network before the U-Net: the preset's stem, "
                   "none, or the pixel classifier's 16 filter features (Gaussian, local std, gradient, "
                   "Laplacian at 4 scales); segment computes the same. The card records it.")
@seed_option()
@device_option()
@threads_option("CPU threads for torch.")
@overwrite_option("Replace an existing model folder.")
def train(store, task, out, preset, epochs, max_time, patch, channels, lr, optimizer, val_planes, bootstrap,
          bootstrap_planes, deliver, input_features, seed, device, threads, overwrite):
    """Train a 3D U-Net on the sparse labels (labels/sparse, 255 = unlabelled) of STORE."""
    from liberation.workflows.segment import train_store_model

    run = train_store_model(
        store, out=out, task=task, preset=preset, epochs=epochs, max_time=max_time,
        patch_size=parse_positive_ints(patch, "--patch", count=3),
        channels=parse_positive_ints(channels, "--channels"), lr=lr,
        optimizer=optimizer, val_planes=parse_nonnegative_ints(val_planes, "--val-planes"), bootstrap=bootstrap,
        bootstrap_planes=bootstrap_planes, deliver=deliver, input_features=input_features, seed=seed, device=device,
        threads=threads, overwrite=overwrite,
    )
    card = run.result.card
    v, work = card.validation, card.training["work"]
    click.echo(f"trained {work['epochs']} epochs, {work['steps']} steps in {work['seconds']:.0f} s "
               f"({work['threads']} threads, stopped by {work['stopped_by']})")
    click.echo(f"validation: model accuracy {v['accuracy']:.3f}, mIoU {v['miou']:.3f} (best epoch "
               f"{run.result.best_epoch})" + _baseline_text(v.get("baseline")))
    if "delivered" in v:
        click.echo(f"delivered: {v['delivered']} ({v['delivery']['reason']})")
    for note in run.notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"model written to {run.path}")


def _baseline_text(baseline: dict | None) -> str:
    if not baseline:
        return ""
    if "accuracy" not in baseline:
        return f"; no classical baseline ({baseline.get('skipped', 'skipped')})"
    return f"; classical baseline (pixel classifier) accuracy {baseline['accuracy']:.3f}, mIoU {baseline['miou']:.3f}"


@click.command("segment")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@model_option(required=False, help="Trained model folder (or --classical).")
@click.option("--classical", is_flag=True,
              help="No model: phases by grey value (multi-Otsu / Gaussian mixture) and particles by the classical "
                   "separation; writes labels/phases and labels/particles.")
@click.option("--classes", type=click.IntRange(2, 8), default=None,
              help="--classical: classes including void (2 = void / particles).")
@click.option("--method", type=click.Choice(["multiotsu", "gmm"]), default="multiotsu", show_default=True,
              help="--classical: grey-value thresholds.")
@minerals_option("--classical: mineral list (CSV/YAML) with classes-1 minerals in order of increasing grey value.")
@task_option(default=None, help="Default: the model's task.")
@click.option("--probabilities", is_flag=True, help="Also write class probabilities (0..255) as labels/<task>_prob_<class>.")
@click.option("--slab", type=POSITIVE_INT, default=None, help="z planes per slab (memory bound).")
@click.option("--overlap", type=UNIT_FRACTION, default=0.5, show_default=True,
              help="Overlap of neighbouring windows, a fraction in [0, 1).")
@click.option("--min-size", type=NON_NEGATIVE_INT, default=30, show_default=True, help="particles: smallest instance (voxels).")
@click.option("--seeds", type=click.Choice(["relative", "core", "distance"]), default="relative", show_default=True,
              help="particles: split touching particles by the relative-dynamic merge on the distance map with the "
                   "predicted contacts cut (robust to missed contacts and elongated grains), or seed from the "
                   "connected particle cores (between predicted contacts), or from the maxima of their distance map.")
@device_option()
@threads_option()
@context_option("face-matched: predict each plane with mirrored z context, as a model trained on end "
                "faces saw it (slower, ~2x patch depth).")
@click.option("--mirror", is_flag=True,
              help="Test-time augmentation: average over the 8 mirror images of each slab (8x slower).")
@click.option("--edge", type=click.Choice(["z-ends", "reflect", "inside"]), default="z-ends", show_default=True,
              help="Windows at the volume ends: z-ends = MONAI's windows plus one layer centred on the first and "
                   "the last z plane with mirrored context, as training patches saw labelled end faces (the "
                   "interior equals inside); reflect = half a patch of mirrored context beyond every end of "
                   "every axis (2.8x the windows of z-ends at 128^3, 1.7x at 256^3); inside = MONAI's windows "
                   "only (less accurate on the first and last planes).")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnxruntime"]), default="auto", show_default=True,
              help="What runs the network: torch (on the CPU its inference form: batch norms folded, filters as "
                   "matrix products, checked within 1e-5) or onnxruntime (CPU; the network is exported to ONNX and "
                   "checked against torch, needs the deploy extra); auto = torch (the faster one, measured).")
@click.option("--ignore-voxel-size", is_flag=True,
              help="Apply a model trained at a voxel size more than 10 % away from STORE's (refused otherwise).")
@overwrite_option("Replace existing labels.")
@cluster_options("the sliding windows of the network, one task per z slab of --slab planes,")
def segment(store, model, classical, classes, method, minerals_path, task, probabilities, slab, overlap, min_size,
            seeds, device, threads, context, mirror, edge, backend, ignore_voxel_size, overwrite, workers,
            scheduler):
    """Segment STORE with a trained MODEL folder (labels/phases or labels/particles), or --classical."""
    if classical:
        from liberation.workflows.classical import classical_segment_store

        if model is not None or classes is None:
            raise InputError("--classical takes --classes N (void included) and no --model")
        if workers is not None or scheduler is not None:
            raise InputError("--workers/--scheduler distribute the inference of a --model; --classical runs here")
        run = classical_segment_store(store, classes=classes, minerals=minerals_path, method=method,
                                      overwrite=overwrite)
        click.echo(f"labels/phases ({run.n_phases} classes) and labels/particles ({run.n_particles} particles) "
                   f"written to {run.store_path}")
        return
    if model is None:
        raise InputError("give --model MODEL_FOLDER, or --classical --classes N for a first look without a model")
    from liberation.workflows.segment import segment_store

    run = segment_store(store, model=model, task=task, probabilities=probabilities, slab=slab, overlap=overlap,
                        min_size=min_size, seeds=seeds, device=device, threads=threads, context=context,
                        mirror=mirror, edge=edge, backend=backend, ignore_voxel_size=ignore_voxel_size,
                        overwrite=overwrite, workers=workers, scheduler=scheduler)
    click.echo(f"labels/{run.task} written to {run.store_path}")


@click.command("evaluate")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@model_option()
@click.option("--truth", default="sparse", show_default=True,
              help="Label image of STORE holding the reference (255 = unknown), e.g. held-out planes.")
@click.option("--planes", default=None, help="z planes to evaluate (default: every labelled plane of --truth).")
@out_option(required=True, help="Folder for metrics.json and plots.")
@click.option("--compare-2d/--no-compare-2d", default=True, show_default=True,
              help="Also apply the network slice by slice (2D) and measure inter-slice consistency.")
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="Grey-value GMM baseline.")
@device_option()
@threads_option()
@overwrite_option(None)
def evaluate(store, model, truth, planes, out, compare_2d, baseline, device, threads, overwrite):
    """Evaluate a phase MODEL on labelled planes of STORE (accuracy without void, mIoU, confusion matrix)."""
    from liberation.workflows.evaluate import evaluate_line, evaluate_model

    metrics = evaluate_model(store, model=model, out=out, truth=truth, planes=parse_nonnegative_ints(planes, "--planes"),
                             compare_2d=compare_2d, baseline=baseline, device=device, threads=threads,
                             overwrite=overwrite)
    click.echo(evaluate_line(metrics))
    click.echo(f"metrics written to {out}")
