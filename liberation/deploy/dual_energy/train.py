"""Training, prediction and evaluation of the dual-energy classifier (torch; import lazily).

Images are transmission pairs ``(n, 2, y, x)`` float32 (channel 0 high, 1 low energy) and labels
``(n,)`` with 1 = ore. Training uses AdamW with a one-cycle learning-rate schedule, binary
cross-entropy on one logit, and random flips / 90° rotations (the physics does not change under
them). Seeds are explicit: the weight initialisation runs under a forked torch RNG, the batch
order and the augmentation come from a numpy Generator. No file I/O here (see ``dual_export``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from liberation._progress import progress
from liberation._validation import make_rng
from liberation.deploy.dual_energy.metrics import classification_metrics
from liberation.deploy.dual_energy.model import DualEnergyNet, build_dual_energy_net, count_parameters
from liberation.errors import InputError

__all__ = ["TrainResult", "check_images", "train_dual_energy", "predict_proba", "evaluate_model"]


@dataclass
class TrainResult:
    """Outcome of :func:`train_dual_energy`.

    Attributes
    ----------
    model : DualEnergyNet
        The trained network (eval mode).
    history : list of dict
        One dict per epoch: ``epoch``, ``loss`` (mean training loss) and, with validation data,
        the validation metrics.
    step_losses : list of float
        Training loss of every optimisation step.
    config : dict
        Model configuration (to rebuild it with :func:`build_dual_energy_net`).
    n_parameters : int
    seconds : float
        Wall-clock training time.
    """

    model: DualEnergyNet
    history: list = field(default_factory=list)
    step_losses: list = field(default_factory=list)
    config: dict = field(default_factory=dict)
    n_parameters: int = 0
    seconds: float = 0.0


def check_images(images, labels=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate ``(n, 2, y, x)`` transmission images (and ``(n,)`` 0/1 labels); return float32 / int64 copies."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1] != 2:
        raise InputError(f"images has shape {x.shape}; expected (n, 2, y, x) with channel 0 high and 1 low energy")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise InputError("images has NaN or infinite values; expected transmission values in (0, 1]")
    if labels is None:
        return x, None
    y = np.asarray(labels).ravel()
    if y.shape[0] != x.shape[0]:
        raise InputError(f"labels has {y.shape[0]} values but images has {x.shape[0]}; they must match")
    if not np.isin(y, (0, 1)).all():
        raise InputError(f"labels has values {np.unique(y)[:5]}; expected 0 (waste) and 1 (ore)")
    return x, y.astype(np.int64)


def _augment(xb: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    k = int(rng.integers(4))
    if k:
        xb = torch.rot90(xb, k, dims=(2, 3))
    if rng.random() < 0.5:
        xb = torch.flip(xb, dims=(3,))
    return xb


def train_dual_energy(
    images,
    labels,
    *,
    config: dict | None = None,
    model: DualEnergyNet | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    augment: bool = True,
    val_images=None,
    val_labels=None,
    max_steps: int | None = None,
    seed=0,
    show_progress: bool = True,
) -> TrainResult:
    """Train a :class:`DualEnergyNet` on transmission pairs.

    Parameters
    ----------
    images : ndarray, shape (n, 2, y, x)
        Transmission images ``I / I0`` (channel 0 high, 1 low energy).
    labels : ndarray of {0, 1}, shape (n,)
        1 = ore, 0 = waste.
    config : dict, optional
        Model options for :func:`build_dual_energy_net` (ignored when ``model`` is given).
    model : DualEnergyNet, optional
        A model to continue training.
    epochs : int
        Passes over the data.
    batch_size : int
        Images per step.
    lr, weight_decay : float
        Peak learning rate (one-cycle) and AdamW weight decay.
    augment : bool
        Random flips and 90° rotations.
    val_images, val_labels : optional
        Validation data; its metrics are added to ``history`` each epoch.
    max_steps : int, optional
        Stop after this many steps (quick tests).
    seed : int or numpy.random.Generator
        Seed for the initialisation, batch order and augmentation.
    show_progress : bool
        Show a progress bar over the epochs.
    """
    x, y = check_images(images, labels)
    if int(epochs) < 1 or int(batch_size) < 1:
        raise InputError(f"epochs={epochs!r}, batch_size={batch_size!r}; expected positive integers")
    rng = make_rng(seed)
    torch_seed = int(rng.integers(2**31 - 1))
    if model is None:
        with torch.random.fork_rng():
            torch.manual_seed(torch_seed)
            model = build_dual_energy_net(**(config or {}))
    n = x.shape[0]
    bs = min(int(batch_size), n)
    steps_per_epoch = max(n // bs, 1)
    total = steps_per_epoch * int(epochs)
    if max_steps is not None:
        total = min(total, int(max_steps))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 2), pct_start=0.2)
    loss_fn = nn.BCEWithLogitsLoss()
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype(np.float32))
    result = TrainResult(model=model, config=dict(model.config), n_parameters=count_parameters(model))
    t0 = time.perf_counter()
    step = 0
    for epoch in progress(range(int(epochs)), desc="train dual-energy", total=int(epochs),
                          enabled=None if show_progress else False):
        model.train()
        order = rng.permutation(n)
        losses = []
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = torch.from_numpy(order[b * bs : (b + 1) * bs])
            xb = xt[idx]
            if augment:
                xb = _augment(xb, rng)
            loss = loss_fn(model(xb), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step < total - 1 or total < 2:
                sched.step()
            step += 1
            losses.append(float(loss.detach()))
        result.step_losses.extend(losses)
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan")}
        if val_images is not None and val_labels is not None:
            entry.update({f"val_{k}": v for k, v in evaluate_model(model, val_images, val_labels).items()
                          if k in ("auc", "accuracy", "f1")})
        result.history.append(entry)
        if step >= total:
            break
    model.eval()
    result.seconds = time.perf_counter() - t0
    return result


@torch.no_grad()
def predict_proba(model: nn.Module, images, *, batch_size: int = 256) -> np.ndarray:
    """Ore probabilities ``sigmoid(logit)``, shape (n,), for ``(n, 2, y, x)`` transmission images."""
    x, _ = check_images(images)
    model.eval()
    out = [torch.sigmoid(model(torch.from_numpy(x[i : i + batch_size]))).numpy()
           for i in range(0, x.shape[0], int(batch_size))]
    return np.concatenate(out).astype(np.float64)


def evaluate_model(model: nn.Module, images, labels, *, threshold: float = 0.5, batch_size: int = 256) -> dict:
    """:func:`~liberation.deploy.dual_energy.metrics.classification_metrics` of the model on labelled images."""
    _, y = check_images(images, labels)
    return classification_metrics(y, predict_proba(model, images, batch_size=batch_size), threshold=threshold)
