"""``liberation train``, ``liberation segment`` and ``liberation evaluate`` (extra ``ml``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click
import numpy as np

from liberation._atomic import atomic_dir, check_new_output
from liberation.errors import InputError, OverwriteError, StoreError


def _ints(text: str | None, name: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(f"{name}={text!r}; expected comma-separated integers such as 0,127") from None


def _threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def _open(path, mode="r"):
    from liberation.io import open_store

    return open_store(path, mode=mode)


@click.command("train")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--task", type=click.Choice(["phases", "particles"]), default="phases", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(), help="Model folder to write.")
@click.option("--preset", type=click.Choice(["cpu", "gpu", "deep-xfct", "tiny"]), default="cpu", show_default=True)
@click.option("--epochs", type=int, default=None, help="Maximum number of epochs.")
@click.option("--max-time", type=float, default=None, help="Stop training after this many seconds.")
@click.option("--patch", default=None, help="Patch size z,y,x (e.g. 48,48,48).")
@click.option("--channels", default=None, help="Feature channels per level (e.g. 8,16,32).")
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(["adamw", "adadelta"]), default=None)
@click.option("--val-planes", default=None, help="Labelled z planes kept for validation (default automatic).")
@click.option("--bootstrap/--no-bootstrap", default=True, show_default=True,
              help="Use a classical bootstrap: particles: contact zones from threshold + watershed; "
                   "phases: extra labelled planes from a pixel classifier (see --bootstrap-planes).")
@click.option("--bootstrap-planes", type=int, default=None,
              help="Extra z planes labelled by the bootstrap. phases: pixel classifier on filter features, "
                   "confident voxels only (default: the preset's, cpu 8); particles: classical threshold + "
                   "watershed (default 0).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--overwrite", is_flag=True, help="Replace an existing model folder.")
def train(store, task, out, preset, epochs, max_time, patch, channels, lr, optimizer, val_planes, bootstrap,
          bootstrap_planes, seed, device, threads, overwrite):
    """Train a 3D U-Net on the sparse labels (labels/sparse, 255 = unlabelled) of STORE."""
    from liberation.segmentation.config import get_preset

    if Path(out).exists() and not overwrite:
        raise OverwriteError(f"model folder {out} already exists; pass --overwrite to replace it")
    _threads(threads)
    from liberation.segmentation.checkpoint import save_model
    from liberation.segmentation.train import train_model

    s = _open(store)
    if not s.has_label("sparse"):
        raise StoreError(f"{store} has no labels/sparse; add labelled planes first (liberation register --labels)")
    overrides = {"max_epochs": epochs, "max_time_s": max_time, "lr": lr, "optimizer": optimizer,
                 "patch_size": _ints(patch, "--patch"), "channels": _ints(channels, "--channels")}
    if overrides["channels"] is not None and preset != "gpu":
        overrides["strides"] = [2] * (len(overrides["channels"]) - 1)
    if task == "phases":
        overrides["bootstrap_planes"] = (0 if not bootstrap else bootstrap_planes)
    config = get_preset(preset, **overrides)
    image = s.image()  # zarr: patches are read as needed
    sparse = np.asarray(s.label("sparse")[...])
    kwargs = {}
    if task == "particles":
        image = np.asarray(image[...])
        from liberation.segmentation.particles import classical_particles, particle_targets

        instances = classical_particles(image, voxel_size_um=s.voxel_size_um) if bootstrap else None
        sparse = particle_targets(sparse, instances=instances,
                                  bootstrap_planes=(bootstrap_planes or 0) if bootstrap else 0)
        kwargs["class_ids"] = [0, 1, 2]
        kwargs["class_names"] = ["outside", "particle", "contact"]
    result = train_model(image, sparse, voxel_size_um=s.voxel_size_um, task=task, config=config,
                         minerals=s.minerals if task == "phases" else None, val_planes=_ints(val_planes, "--val-planes"),
                         seed=seed, device=device, **kwargs)
    if task == "particles":
        result.card.training["bootstrap"] = {"classical": bool(bootstrap), "bootstrap_planes": int(bootstrap_planes or 0)}
    path = save_model(result, out, overwrite=overwrite)
    v = result.card.validation
    click.echo(f"model written to {path} (best epoch {result.best_epoch}, validation accuracy {v['accuracy']:.3f}, "
               f"mIoU {v['miou']:.3f})")


def _temp_array(store_path: Path, shape, dtype, chunks):
    import zarr

    tmp = Path(tempfile.mkdtemp(prefix=".segment-", dir=store_path.parent))
    return tmp, zarr.open_array(str(tmp / "a.zarr"), mode="w", shape=shape, dtype=dtype, chunks=chunks)


@click.command("segment")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--model", "model", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--task", type=click.Choice(["phases", "particles"]), default=None, help="Default: the model's task.")
@click.option("--probabilities", is_flag=True, help="Also write class probabilities (0..255) as labels/<task>_prob_<class>.")
@click.option("--slab", type=int, default=None, help="z planes per slab (memory bound).")
@click.option("--overlap", type=float, default=0.5, show_default=True)
@click.option("--min-size", type=int, default=30, show_default=True, help="particles: smallest instance (voxels).")
@click.option("--seeds", type=click.Choice(["core", "distance"]), default="core", show_default=True,
              help="particles: watershed seeds are the connected particle cores (between predicted contacts) "
                   "or the maxima of their distance map.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=None)
@click.option("--context", type=click.Choice(["volume", "face-matched"]), default="volume", show_default=True,
              help="face-matched: predict each plane with mirrored z context, as a model trained on end "
                   "faces saw it (slower, ~2x patch depth).")
@click.option("--mirror", is_flag=True,
              help="Test-time augmentation: average over the 8 mirror images of each slab (8x slower).")
@click.option("--overwrite", is_flag=True, help="Replace existing labels.")
def segment(store, model, task, probabilities, slab, overlap, min_size, seeds, device, threads, context, mirror,
            overwrite):
    """Segment STORE with a trained MODEL folder; write labels/phases or labels/particles."""
    from liberation.segmentation.checkpoint import load_model

    _threads(threads)
    network, card = load_model(model)
    task = task or card.task
    if task != card.task:
        raise InputError(f"--task {task} but the model in {model} was trained for {card.task!r}")
    if context == "face-matched" and task != "phases":
        raise InputError(f"--context face-matched applies to phase models; the model in {model} is for {task!r}")
    s = _open(store, mode="r+")
    if s.has_label(task) and not overwrite:
        raise OverwriteError(f"{store}/labels/{task} already exists; pass --overwrite to replace it")
    image = s.image()
    chunks = image.chunks
    tmp, out = _temp_array(Path(s.path), s.shape, np.uint8, chunks)
    try:
        prob = None
        if probabilities:
            import zarr

            prob = zarr.open_array(str(tmp / "p.zarr"), mode="w", shape=(len(card.class_ids), *s.shape),
                                   dtype=np.uint8, chunks=(1, *chunks))
        from liberation.segmentation.inference import predict_volume, segment_phases

        predict = segment_phases if task == "phases" else predict_volume
        options = {"context": context} if task == "phases" else {}
        predict(image, network, card, out=out, prob_out=prob, slab=slab, overlap=overlap, device=device,
                mirror=mirror, **options)
        params = {"model": str(Path(model).resolve()), "task": task, "overlap": overlap, "context": context,
                  "mirror": mirror, "seeds": seeds,
                  "model_validation": {k: card.validation.get(k) for k in ("accuracy", "miou")}}
        if task == "phases":
            minerals = card.mineral_list()
            s.write_label("phases", out, minerals=minerals, overwrite=overwrite, step="segment", parameters=params)
        else:
            from liberation.segmentation.particles import instances_from_prediction

            inst = instances_from_prediction(np.asarray(out[...]), voxel_size_um=s.voxel_size_um,
                                             min_size_voxels=min_size, seeds=seeds)
            s.write_label("particles", inst, overwrite=overwrite, step="segment", parameters=params)
        if prob is not None:
            for i, name in enumerate(card.class_names):
                s.write_label(f"{task}_prob_{name}", prob[i], overwrite=overwrite, step="segment", parameters=params)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    click.echo(f"labels/{task} written to {s.path}")


@click.command("evaluate")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--model", "model", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--truth", default="sparse", show_default=True,
              help="Label image of STORE holding the reference (255 = unknown), e.g. held-out planes.")
@click.option("--planes", default=None, help="z planes to evaluate (default: every labelled plane of --truth).")
@click.option("--out", "out", required=True, type=click.Path(), help="Folder for metrics.json and plots.")
@click.option("--compare-2d/--no-compare-2d", default=True, show_default=True,
              help="Also apply the network slice by slice (2D) and measure inter-slice consistency.")
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="Grey-value GMM baseline.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=None)
@click.option("--overwrite", is_flag=True)
def evaluate(store, model, truth, planes, out, compare_2d, baseline, device, threads, overwrite):
    """Evaluate a phase MODEL on labelled planes of STORE (accuracy without void, mIoU, confusion matrix)."""
    from liberation.segmentation.checkpoint import load_model
    from liberation.segmentation.evaluate import evaluate_planes
    from liberation.segmentation.inference import predict_slices_2d, predict_volume
    from liberation.segmentation.metrics import interslice_consistency
    from liberation.segmentation.plots import plot_confusion_matrix

    out = check_new_output(out, overwrite=overwrite, what="output folder")
    _threads(threads)
    network, card = load_model(model)
    if card.task != "phases":
        raise InputError(f"evaluate needs a 'phases' model; {model} was trained for {card.task!r}")
    s = _open(store)
    if not s.has_label(truth):
        raise StoreError(f"{store} has no labels/{truth}; expected the reference labels")
    ref = np.asarray(s.label(truth)[...])
    z_planes = _ints(planes, "--planes") or [int(z) for z in range(ref.shape[0]) if (ref[z] != 255).any()]
    if not z_planes:
        raise InputError(f"labels/{truth} holds no labelled plane to evaluate")
    image = s.image()
    pz = int(card.patch_size[0])
    result: dict = {"model": str(model), "truth": truth, "planes": z_planes}
    pred_planes = []
    consistency = []
    for z in z_planes:
        a, b = max(0, z - pz), min(s.shape[0], z + pz + 1)
        pred = predict_volume(image[a:b], network, card, device=device, show_progress=False)
        pred_planes.append(pred[z - a])
        if compare_2d:
            lo, hi = max(0, z - 3), min(s.shape[0], z + 4)
            p2 = predict_slices_2d(image, network, card, range(lo, hi), device=device)
            consistency.append((interslice_consistency(pred[lo - a:hi - a]), interslice_consistency(p2),
                                p2[z - lo]))
    pred_planes = np.stack(pred_planes)
    truth_planes = ref[z_planes]
    ids, names = card.class_ids, card.class_names
    result["3d"] = evaluate_planes(pred_planes, truth_planes, class_ids=ids, class_names=names,
                                   planes=range(len(z_planes)))
    if compare_2d:
        p2 = np.stack([c[2] for c in consistency])
        result["2d"] = evaluate_planes(p2, truth_planes, class_ids=ids, class_names=names, planes=range(len(z_planes)))
        result["interslice_consistency"] = {"3d": float(np.mean([c[0] for c in consistency])),
                                            "2d": float(np.mean([c[1] for c in consistency]))}
    if baseline:
        from liberation.segmentation.baseline import grey_value_baseline

        sparse = np.asarray(s.label("sparse")[...]) if s.has_label("sparse") else ref
        gb = grey_value_baseline(np.asarray(image[...]), sparse)
        result["grey_baseline"] = evaluate_planes(gb[z_planes], truth_planes, class_ids=ids, class_names=names,
                                                  planes=range(len(z_planes)))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(result, indent=2, default=float))
        import matplotlib.pyplot as plt

        for key in ("3d", "2d", "grey_baseline"):
            if key in result:
                fig = plot_confusion_matrix(result[key]["confusion_normalized"], names, title=f"{key}: confusion")
                fig.savefig(tmp / f"confusion_{key}.png", dpi=100)
                plt.close(fig)
    line = f"3D: accuracy {result['3d']['accuracy']:.3f}, mIoU {result['3d']['miou']:.3f}"
    if compare_2d:
        line += f"; 2D slice-by-slice: accuracy {result['2d']['accuracy']:.3f}, mIoU {result['2d']['miou']:.3f}"
    if baseline:
        line += f"; grey-value GMM: accuracy {result['grey_baseline']['accuracy']:.3f}"
    click.echo(line)
    click.echo(f"metrics written to {out}")
