"""Training, prediction and evaluation of the belt segmenter (torch; imported lazily)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from liberation._progress import progress
from liberation._validation import check_same_shape, make_rng
from liberation.deploy.belt.config import BeltSegmenterConfig
from liberation.deploy.belt.metrics import segmentation_metrics
from liberation.deploy.belt.preprocess import belt_attenuation, pad_to_multiple, prepare_belt_inputs
from liberation.errors import InputError, require
from liberation.metrics import confusion_matrix

__all__ = ["TRAIN_PRESETS", "BeltTrainResult", "evaluate_belt_segmenter", "pad_to_multiple", "predict_belt",
           "prepare_belt_inputs", "train_belt_segmenter"]

#: ``paper``: Table 2 of the paper (SGD, lr 0.01, momentum 0.937, weight decay 5e-4, batch 16,
#: 100 epochs; poly decay). ``cpu``: AdamW with cosine decay, converges in few epochs on a CPU.
TRAIN_PRESETS: dict[str, dict] = {
    "paper": dict(optimizer="sgd", lr=0.01, momentum=0.937, weight_decay=5e-4, batch_size=16, epochs=100,
                  schedule="poly"),
    "cpu": dict(optimizer="adamw", lr=3e-3, momentum=0.9, weight_decay=1e-4, batch_size=8, epochs=30,
                schedule="cosine"),
}


@dataclass
class BeltTrainResult:
    """Outcome of :func:`train_belt_segmenter`.

    Attributes
    ----------
    model : torch.nn.Module
        Trained model (eval mode, CPU).
    config : BeltSegmenterConfig
    train_params : dict
        Optimiser settings, epochs, steps, seed, i0.
    history : list of dict
        Per epoch: ``epoch``, ``loss`` and, with validation data, ``accuracy``, ``mpa``, ``miou``.
    seconds : float
        Wall-clock training time.
    """

    model: object
    config: BeltSegmenterConfig
    train_params: dict
    history: list = field(default_factory=list)
    seconds: float = 0.0


def predict_belt(model, inputs, *, batch_size: int = 8, return_logits: bool = False) -> np.ndarray:
    """Segment attenuation frames with a torch model.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~liberation.deploy.belt.model.BeltSegmenter`.
    inputs : array_like, (n, y, x) or (y, x) float32
        Network inputs (see :func:`prepare_belt_inputs`); any size, padded internally.
    batch_size : int
        Frames per forward pass.
    return_logits : bool
        Return logits ``(n, K, y, x)`` instead of class masks.

    Returns
    -------
    ndarray
        uint8 masks ``(n, y, x)`` (or ``(y, x)`` for one frame), or float32 logits.
    """
    torch = require("torch", "deploy")
    x = np.asarray(inputs, dtype=np.float32)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"inputs have shape {x.shape}; expected (n, y, x) or (y, x)")
    xp, (h, w) = pad_to_multiple(x)
    model.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(xp), batch_size):
            logits = model(torch.from_numpy(np.ascontiguousarray(xp[s : s + batch_size, None])))
            logits = logits[..., :h, :w]
            outs.append(logits.numpy() if return_logits else logits.argmax(1).to(torch.uint8).numpy())
    out = np.concatenate(outs)
    return out[0] if single else out


def evaluate_belt_segmenter(model, inputs, masks, *, class_names=None, batch_size: int = 8) -> dict:
    """Accuracy, mPA, mIoU (paper formulas) of a model on labelled frames; see :func:`segmentation_metrics`."""
    masks = np.asarray(masks)
    pred = predict_belt(model, inputs, batch_size=batch_size)
    check_same_shape(pred, masks, name_a="predictions", name_b="masks")
    k = len(class_names) if class_names is not None else int(max(masks.max(), pred.max())) + 1
    return segmentation_metrics(confusion_matrix(masks, pred, num_classes=k), class_names=class_names)


def train_belt_segmenter(
    images,
    masks,
    *,
    config: BeltSegmenterConfig | None = None,
    preset: str = "cpu",
    i0: float | str | None = None,
    domain: bool | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_steps: int | None = None,
    augment: bool = True,
    val_images=None,
    val_masks=None,
    seed: int = 0,
    threads: int | None = None,
    callback=None,
    model=None,
) -> BeltTrainResult:
    """Train the belt segmenter on frames and masks (cross-entropy, RailAugment).

    Parameters
    ----------
    images : array_like, (n, y, x)
        Frames: counts with ``i0``, or attenuation with ``i0=None``. Sizes must be multiples of 32.
    masks : array_like, (n, y, x) int
        Class masks, values 0..K-1.
    config : BeltSegmenterConfig, optional
        Architecture (default: small preset; its class count must cover the masks).
    preset : str
        ``"paper"`` or ``"cpu"`` (see :data:`TRAIN_PRESETS`); ``epochs``, ``batch_size``, ``lr`` override it.
    i0 : float, "auto" or None
        Open-beam counts of the frames: a number, ``"auto"`` (estimated per frame from the
        belt background, :func:`~liberation.deploy.belt.preprocess.estimate_open_beam`) or
        None (the frames are attenuation already).
    domain : bool, optional
        Domain randomisation (:func:`~liberation.deploy.belt.augment.detector_augment`):
        every sample is re-rendered as a random detector would record it (gain, offset,
        gamma, noise, blur, 8/12/16 bits, belt texture, dust) and normalised with the
        automatic open beam, as the runtime does with ``i0="auto"``. Default: on when
        ``i0`` is given and ``augment`` is on.
    max_steps : int, optional
        Stop after this many optimiser steps (tests, smoke runs).
    augment : bool
        RailAugment each sample.
    val_images, val_masks : array_like, optional
        Held-out frames evaluated after every epoch.
    seed : int
        Seed of weights, shuffling and augmentation.
    threads : int, optional
        ``torch.set_num_threads`` for the run.
    callback : callable, optional
        Called with each epoch's history dict.
    model : BeltSegmenter, optional
        Continue training this model (fine-tuning) instead of a new one; ``config`` is taken from it.

    Returns
    -------
    BeltTrainResult
    """
    torch = require("torch", "deploy")
    from liberation.deploy.belt.augment import rail_augment
    from liberation.deploy.belt.model import BELT_SIZE_MULTIPLE, build_belt_segmenter

    if preset not in TRAIN_PRESETS:
        raise InputError(f"preset={preset!r} is not known; expected one of {sorted(TRAIN_PRESETS)}")
    hp = dict(TRAIN_PRESETS[preset])
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            hp[key] = value
    from liberation.deploy.belt.augment import detector_augment
    from liberation.deploy.belt.preprocess import estimate_open_beam, parse_i0

    i0 = parse_i0(i0)
    domain = bool(augment and i0 is not None) if domain is None else bool(domain)
    if domain and i0 is None:
        raise InputError("domain=True needs detector counts and their i0 (a number or 'auto'), not attenuation frames")
    if domain:
        counts = np.asarray(images, dtype=np.float32)
        level = estimate_open_beam(counts) if i0 == "auto" else np.full(len(counts), float(i0))
        transmission = np.clip(counts / np.asarray(level, np.float32)[:, None, None], 1e-6, None)
        x = transmission  # the network input is made per sample below
    else:
        x = prepare_belt_inputs(images, i0=i0)
    y = np.asarray(masks)
    if x.ndim != 3:
        raise InputError(f"images have shape {x.shape}; expected (n, y, x)")
    check_same_shape(x, y, name_a="images", name_b="masks")
    if x.shape[1] % BELT_SIZE_MULTIPLE or x.shape[2] % BELT_SIZE_MULTIPLE:
        raise InputError(f"images have frame size {x.shape[1:]}; expected multiples of {BELT_SIZE_MULTIPLE}")
    if model is not None:
        config = model.config
    config = config or BeltSegmenterConfig()
    if int(y.max()) >= config.num_classes or int(y.min()) < 0:
        raise InputError(f"masks hold values {int(y.min())}..{int(y.max())}; config has {config.num_classes} classes")
    if threads:
        torch.set_num_threads(int(threads))
    rng = make_rng(seed)
    if model is None:
        model = build_belt_segmenter(config, seed=seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if hp["optimizer"] == "sgd":
        opt = torch.optim.SGD(params, lr=hp["lr"], momentum=hp["momentum"], weight_decay=hp["weight_decay"],
                              nesterov=True)
    else:
        opt = torch.optim.AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
    n = len(x)
    bs = int(min(hp["batch_size"], n))
    steps_per_epoch = max(1, n // bs)
    total = steps_per_epoch * int(hp["epochs"])
    if max_steps is not None:
        total = min(total, int(max_steps))

    def lr_at(step):
        frac = step / max(total, 1)
        if hp["schedule"] == "poly":
            return hp["lr"] * (1 - frac) ** 0.9
        warm = min(1.0, (step + 1) / max(1, min(100, total // 10)))
        return hp["lr"] * warm * 0.5 * (1 + math.cos(math.pi * frac))

    history = []
    step = 0
    t0 = time.perf_counter()
    epoch = 0
    bar = progress(total=total, desc="train belt segmenter", unit="step")
    while step < total:
        model.train()
        order = rng.permutation(n)
        losses = []
        for s in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[s * bs : (s + 1) * bs]
            if domain:
                pairs = [rail_augment(belt_attenuation(detector_augment(x[i], seed=rng), i0="auto"), y[i], seed=rng)
                         for i in idx]
                xb = np.stack([p[0] for p in pairs])
                yb = np.stack([p[1] for p in pairs])
            elif augment:
                pairs = [rail_augment(x[i], y[i], seed=rng) for i in idx]
                xb = np.stack([p[0] for p in pairs])
                yb = np.stack([p[1] for p in pairs])
            else:
                xb, yb = x[idx], y[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(torch.from_numpy(np.ascontiguousarray(xb[:, None])))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(yb.astype(np.int64)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
        epoch += 1
        entry = {"epoch": epoch, "step": step, "loss": float(np.mean(losses)) if losses else float("nan"),
                 "seconds": time.perf_counter() - t0}
        if val_images is not None and val_masks is not None:
            m = evaluate_belt_segmenter(model, prepare_belt_inputs(val_images, i0="auto" if domain else i0), val_masks,
                                        class_names=config.class_names)
            entry.update(accuracy=m["accuracy"], mpa=m["mpa"], miou=m["miou"])
        history.append(entry)
        if callback is not None:
            callback(entry)
    bar.close()
    model.eval()
    train_params = {"preset": preset, **hp, "steps": step, "epochs_run": epoch, "seed": seed, "augment": augment,
                    "domain": domain, "i0": i0, "runtime_i0": "auto" if domain else i0, "n_train": n, "frame_shape": list(x.shape[1:])}
    return BeltTrainResult(model, config, train_params, history, time.perf_counter() - t0)
