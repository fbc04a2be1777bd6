"""Train a 3D U-Net on the sparse labels of a store, and segment a store with it (``liberation train``, ``segment``).

Extra ``ml`` (torch, MONAI): imported inside the functions only.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liberation._atomic import check_new_output, overwrite_error
from liberation.errors import FileFormatError, InputError, StoreError
from liberation.workflows._torch import set_threads

logger = logging.getLogger(__name__)

PARTICLE_CLASSES = ([0, 1, 2], ["outside", "particle", "contact"])
#: Largest relative difference between the model's and the store's voxel size that ``segment`` accepts.
VOXEL_SIZE_TOLERANCE = 0.10


@dataclass(frozen=True)
class TrainRun:
    """What :func:`train_store_model` made.

    Attributes
    ----------
    path : Path
        The model folder (checkpoint + model card, metrics.csv, learning_curve.png).
    result : TrainResult
        The trained network, its card and the training history.
    notes : tuple of str
        Warnings, one line each (stopped by ``max_time`` before the preset's work was done;
        a model that does not beat the classical baseline on the validation voxels).
    """

    path: Path
    result: Any
    notes: tuple = ()


@dataclass(frozen=True)
class SegmentRun:
    """What :func:`segment_store` wrote.

    Attributes
    ----------
    store_path : Path
        The store.
    task : {"phases", "particles"}
        ``labels/<task>`` was written (and ``labels/<task>_prob_<class>`` with probabilities).
    """

    store_path: Path
    task: str


def train_store_model(
    store: str | os.PathLike,
    *,
    out: str | os.PathLike,
    task: str = "phases",
    preset: str = "cpu",
    epochs: int | None = None,
    max_time: float | None = None,
    patch_size: Sequence[int] | None = None,
    channels: Sequence[int] | None = None,
    lr: float | None = None,
    optimizer: str | None = None,
    val_planes: Sequence[int] | None = None,
    bootstrap: bool = True,
    bootstrap_planes: int | None = None,
    deliver: str = "best",
    input_features: str = "preset",
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
    overwrite: bool = False,
) -> TrainRun:
    """Train a 3D U-Net on ``labels/sparse`` of a store (255 = unlabelled) and save the model folder.

    Parameters
    ----------
    store : str or Path
        The sample store (read only).
    out : str or Path
        Model folder to write.
    task : {"phases", "particles"}
        Mineral phases, or particles (outside / particle / contact targets from the sparse labels).
    preset : {"cpu", "gpu", "deep-xfct", "tiny"}
        Training preset (:func:`liberation.segmentation.config.get_preset`); the options below override it.
    epochs : int, optional
        Number of epochs (default: the preset's). The work is epochs x the preset's steps
        per epoch, the same on any machine.
    max_time : float, optional
        Also stop training after this many seconds (default: no limit). The model then
        depends on the machine's speed; the card records ``stopped_by="max_time"`` and a
        note warns.
    patch_size : (3,) sequence of int, optional
        Patch size z, y, x in voxels.
    channels : sequence of int, optional
        Feature channels per level (strides 2 at each level except for the ``gpu`` preset).
    lr : float, optional
        Learning rate.
    optimizer : {"adamw", "adadelta"}, optional
    val_planes : sequence of int, optional
        Labelled z planes kept for validation (default automatic).
    bootstrap : bool
        Classical bootstrap: particles, contact zones from threshold + watershed; phases, extra
        labelled planes from a pixel classifier.
    bootstrap_planes : int, optional
        Extra z planes labelled by the bootstrap (default: the preset's for phases, 0 for particles).
    deliver : {"best", "network", "pixel-classifier"}
        phases: the method the model folder delivers to ``segment``; ``best`` = the network,
        the pixel classifier or the grey-value GMM, whichever has the best validation mIoU
        (then accuracy) on the same validation voxels
        (:func:`liberation.segmentation.train.choose_delivered`). The card records it
        (``metrics.delivered``, ``metrics.delivery``), and the folder then holds the
        classifier (or the GMM, stored as one) too.
    input_features : {"preset", "none", "classifier"}
        Fixed filter channels computed inside the network before the U-Net
        (:mod:`liberation.segmentation.features`): the preset's stem, none, or the pixel
        classifier's 16 filter features (Gaussian, local standard deviation, gradient
        magnitude, Laplacian at sigma 0.7, 1, 1.6, 2.5). Inside the network, so ``segment``
        computes the same features; the card records the choice
        (``training.input_features``) and the feature names (``architecture``).
    seed : int
    device : {"auto", "cpu", "cuda"}
    threads : int, optional
        CPU threads for torch (with the seed they make a CPU training reproducible).
    overwrite : bool
        Replace an existing model folder.

    Returns
    -------
    TrainRun
        With the training's notes (warnings); the card holds the validation metrics of the
        model and of the classical baseline, and the work done (``training["work"]``).
    """
    from liberation.io import open_store
    from liberation.segmentation.config import get_preset

    check_new_output(out, overwrite=overwrite, what="model folder", inputs=[store])
    set_threads(threads)
    from liberation.segmentation.checkpoint import save_model
    from liberation.segmentation.train import train_model

    s = open_store(store, mode="r")
    if not s.has_label("sparse"):
        raise StoreError(f"{store} has no labels/sparse; add labelled planes first (liberation register --labels)")
    overrides = {"max_epochs": epochs, "max_time_s": max_time, "lr": lr, "optimizer": optimizer,
                 "patch_size": None if patch_size is None else list(patch_size),
                 "channels": None if channels is None else list(channels)}
    if overrides["channels"] is not None and preset != "gpu":
        overrides["strides"] = [2] * (len(overrides["channels"]) - 1)
    if task == "phases":
        overrides["bootstrap_planes"] = (0 if not bootstrap else bootstrap_planes)
    from liberation.segmentation.features import resolve_input_features

    overrides["input_features"] = resolve_input_features(input_features, get_preset(preset).input_features)
    config = get_preset(preset, **overrides)
    image = s.image()  # zarr: patches are read as needed
    sparse = np.asarray(s.label("sparse")[...])
    kwargs = {}
    if task == "particles":
        image = np.asarray(image[...])
        from liberation.segmentation.particles import bootstrap_particles, particle_targets

        instances = bootstrap_particles(image, voxel_size_um=s.voxel_size_um) if bootstrap else None
        sparse = particle_targets(sparse, instances=instances,
                                  bootstrap_planes=(bootstrap_planes or 0) if bootstrap else 0)
        kwargs["class_ids"], kwargs["class_names"] = (list(v) for v in PARTICLE_CLASSES)
    named = _sparse_classes(s, sparse) if task == "phases" else None
    if named is not None:
        kwargs["class_ids"], kwargs["class_names"] = named[0], named[1]
    result = train_model(image, sparse, voxel_size_um=s.voxel_size_um, task=task, config=config,
                         minerals=s.minerals if task == "phases" and named is None else None,
                         val_planes=None if val_planes is None else list(val_planes),
                         seed=seed, device=device, deliver=deliver, **kwargs)
    if named is not None:
        result.card.minerals = named[2]
    result.card.training["input_features"] = {"choice": input_features, "features": list(config.input_features)}
    if task == "particles":
        result.card.training["bootstrap"] = {"classical": bool(bootstrap), "bootstrap_planes": int(bootstrap_planes or 0)}
    path = save_model(result, out, overwrite=overwrite)
    return TrainRun(path=Path(path), result=result, notes=tuple(result.notes))


def _sparse_classes(store, sparse) -> tuple[list[int], list[str], list[dict]] | None:
    """Class ids, names and mineral properties of the phases in ``labels/sparse`` (from its
    ``image-label`` properties, written by ``register --labels``); None when it has none."""
    from liberation.segmentation.targets import phase_classes

    properties = store.label_properties("sparse")
    if not properties:
        return None
    by_id = {int(p["label-value"]): p for p in properties if "label-value" in p and "name" in p}
    ids, names = phase_classes(sparse)
    names = [str(by_id[i]["name"]) if i in by_id else n for i, n in zip(ids, names)]
    return ids, names, [dict(by_id[i]) for i in ids if i in by_id]


def check_voxel_size(card_voxel_size_um, store_voxel_size_um, *, model, store, ignore: bool = False,
                     tolerance: float = VOXEL_SIZE_TOLERANCE) -> float:
    """Refuse a model trained at another voxel size than the store's (relative difference above ``tolerance``).

    Parameters
    ----------
    card_voxel_size_um, store_voxel_size_um : sequence of 3 float
        Voxel sizes (z, y, x) in µm of the model card and of the store.
    model, store : str or Path
        Named in the error.
    ignore : bool
        Only return the difference (``--ignore-voxel-size``).
    tolerance : float
        Largest relative difference on any axis.

    Returns
    -------
    float
        The largest relative difference over the axes.

    Raises
    ------
    InputError
        The difference is above ``tolerance`` and ``ignore`` is false.
    """
    card = np.asarray([float(v) for v in card_voxel_size_um], dtype=float)
    here = np.asarray([float(v) for v in store_voxel_size_um], dtype=float)
    diff = float(np.max(np.abs(card - here) / here))
    if diff > tolerance and not ignore:
        def fmt(v):
            return " x ".join(f"{x:g}" for x in v) + " µm"

        raise InputError(f"the model in {model} was trained at voxel size {fmt(card)} but {store} has {fmt(here)} "
                         f"({100 * diff:.0f} % apart, more than {100 * tolerance:.0f} %); train a model at this "
                         "voxel size, or pass --ignore-voxel-size to apply it anyway")
    return diff


def _temp_array(store_path: Path, shape, dtype, chunks):
    import zarr

    tmp = Path(tempfile.mkdtemp(prefix=".segment-", dir=store_path.parent))
    return tmp, zarr.open_array(str(tmp / "a.zarr"), mode="w", shape=shape, dtype=dtype, chunks=chunks)


def segment_store(
    store: str | os.PathLike,
    *,
    model: str | os.PathLike,
    task: str | None = None,
    probabilities: bool = False,
    slab: int | None = None,
    overlap: float = 0.5,
    min_size: int = 30,
    seeds: str = "relative",
    device: str = "auto",
    threads: int | None = None,
    context: str = "volume",
    mirror: bool = False,
    ignore_voxel_size: bool = False,
    overwrite: bool = False,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    edge: str = "z-ends",
    backend: str = "auto",
) -> SegmentRun:
    """Segment a store with a trained model folder; write ``labels/phases`` or ``labels/particles``.

    The prediction is written slab by slab into a temporary zarr array beside the store, so
    memory stays bounded, then moved into the store.

    The method is the one the model folder delivers (``metrics.delivered`` of its card):
    the network, or for phases the pixel classifier (or the grey-value GMM, stored as one)
    beside it when that validated better (applied slab by slab, :func:`~liberation.segmentation.pixel_classifier.predict_pixel_classifier_volume`;
    ``overlap``, ``context``, ``mirror`` and ``device`` then do not apply). The labels'
    provenance names the method (``parameters.method``).

    Parameters
    ----------
    store : str or Path
        The sample store (opened read-write).
    model : str or Path
        Model folder (:func:`liberation.segmentation.checkpoint.save_model`).
    task : {"phases", "particles"}, optional
        Default the model's task; must match it.
    probabilities : bool
        Also write class probabilities (0..255) as ``labels/<task>_prob_<class>``.
    slab : int, optional
        z planes per slab (memory bound).
    overlap : float
        Sliding-window overlap, in [0, 1).
    min_size : int
        particles: smallest instance in voxels.
    seeds : {"relative", "core", "distance"}
        particles: how touching particles are split
        (:func:`liberation.segmentation.particles.instances_from_prediction`): the relative-dynamic
        merge on the distance map with predicted contacts cut, the connected particle cores, or
        the distance-map maxima.
    device : {"auto", "cpu", "cuda"}
    threads : int, optional
        CPU threads for torch.
    context : {"volume", "face-matched"}
        phases: sliding windows, or each plane with mirrored z context (slower).
    mirror : bool
        Test-time augmentation over the 8 mirror images of each slab (8x slower).
    ignore_voxel_size : bool
        Apply a model trained at a voxel size more than 10 % away from the store's
        (:func:`check_voxel_size`; refused otherwise).
    overwrite : bool
        Replace existing labels.
    client : distributed.Client, optional
        Run the sliding windows of the network on this Dask cluster, one task per z slab of
        ``slab`` planes (:func:`~liberation.segmentation.distributed_inference.predict_volume_distributed`;
        the labels are those of the local run). The workers read the store's CT by its path. Not
        distributed: ``context="face-matched"``, the pixel classifier and the particle watershed
        (they run here, with a warning for the first two).
    workers, scheduler : int or str, optional
        Instead of ``client``: a local cluster of ``workers`` processes, or the running cluster of
        the scheduler at this address (:func:`liberation.workflows.cluster.dask_client`), opened
        after the inputs are checked and closed at the end.
    edge : {"z-ends", "reflect", "inside"}
        Window placement at the volume ends (:func:`~liberation.segmentation.inference.predict_probabilities`):
        MONAI's windows plus one layer with reflected context centred on each z end plane (as
        training patches saw labelled end faces), half a patch of reflected context beyond every
        end, or MONAI's windows inside the volume only.
    backend : {"auto", "torch", "onnxruntime"}
        What runs the network (:func:`~liberation.segmentation.inference.resolve_backend`;
        ``auto``: torch).

    Returns
    -------
    SegmentRun
        ``labels/phases`` carries the model card's minerals (names, colours, densities) as
        ``image-label`` properties.
    """
    from liberation.io import open_store
    from liberation.segmentation.checkpoint import load_model
    from liberation.workflows.cluster import check_cluster_options, dask_client

    check_cluster_options(workers, scheduler)
    distributed = client is not None or workers is not None or scheduler is not None
    set_threads(threads)
    network, card = load_model(model)
    task = task or card.task
    if task != card.task:
        raise InputError(f"--task {task} but the model in {model} was trained for {card.task!r}")
    if context == "face-matched" and task != "phases":
        raise InputError(f"--context face-matched applies to phase models; the model in {model} is for {task!r}")
    # workers of a cluster open the CT by its path: absolute, whatever their working folder
    s = open_store(Path(store).resolve() if distributed else store, mode="r+")
    check_voxel_size(card.voxel_size_um, s.voxel_size_um, model=model, store=store, ignore=ignore_voxel_size)
    if s.has_label(task) and not overwrite:
        raise overwrite_error(f"{store}/labels/{task}", what="label image")
    image = s.image()
    chunks = image.chunks
    tmp, out = _temp_array(Path(s.path), s.shape, np.uint8, chunks)
    try:
        prob = None
        if probabilities:
            import zarr

            prob = zarr.open_array(str(tmp / "p.zarr"), mode="w", shape=(len(card.class_ids), *s.shape),
                                   dtype=np.uint8, chunks=(1, *chunks))
        method = card.validation.get("delivered", "network") if task == "phases" else "network"
        if distributed and (method != "network" or context != "volume"):
            what = "the pixel classifier" if method != "network" else "--context face-matched"
            logger.warning("%s is not distributed: it runs here, not on the Dask cluster", what)
            distributed = False
        if method in ("pixel-classifier", "grey-gmm"):
            # the grey-value GMM is stored as a pixel classifier on the grey value
            from liberation.segmentation.pixel_classifier import (
                load_pixel_classifier,
                predict_pixel_classifier_volume,
            )

            classifier = load_pixel_classifier(model)
            predict_pixel_classifier_volume(image, classifier, out=out, prob_out=prob, prob_ids=card.class_ids,
                                            slab=slab)
            validated = card.validation.get("baseline" if method == "pixel-classifier" else "grey_gmm") or {}
            params = {"model": str(Path(model).resolve()), "task": task, "method": method,
                      "delivery": card.validation.get("delivery"),
                      "model_validation": {k: validated.get(k) for k in ("accuracy", "miou")}}
        elif method == "network":
            from liberation.segmentation.inference import predict_volume, resolve_backend, segment_phases

            backend = resolve_backend(backend, device)
            if distributed:
                from liberation.segmentation.distributed_inference import predict_volume_distributed

                with dask_client(client, workers=workers, scheduler=scheduler) as cluster:
                    predict_volume_distributed(image, network, card, client=cluster, out=out, prob_out=prob,
                                               slab=slab, overlap=overlap, device=device, mirror=mirror,
                                               threads=threads, edge=edge, backend=backend)
            else:
                predict = segment_phases if task == "phases" else predict_volume
                options = {"context": context} if task == "phases" else {}
                predict(image, network, card, out=out, prob_out=prob, slab=slab, overlap=overlap, device=device,
                        mirror=mirror, edge=edge, backend=backend, **options)
            params = {"model": str(Path(model).resolve()), "task": task, "method": method, "overlap": overlap,
                      "context": context, "mirror": mirror, "seeds": seeds, "edge": edge, "backend": backend,
                      "model_validation": {k: card.validation.get(k) for k in ("accuracy", "miou")}}
        else:
            raise FileFormatError(f"the card of {model} delivers {method!r}; expected 'network', 'pixel-classifier' or 'grey-gmm'")
        if task == "phases":
            from liberation.workflows._minerals import phase_properties

            s.write_label("phases", out, properties=phase_properties(card.minerals, card.class_ids),
                          overwrite=overwrite, step="segment", parameters=params)
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
    return SegmentRun(store_path=Path(s.path), task=task)
