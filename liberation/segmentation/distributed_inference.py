"""Sliding-window inference on a Dask distributed cluster: one task per z slab of the volume. Imports torch.

:func:`predict_volume` of :mod:`liberation.segmentation.inference` runs one grid of windows over
the whole volume. Here the volume is cut into z slabs; the task of slab ``z0:z1`` runs the
windows of that same grid that reach planes ``z0:z1`` (those crossing a slab boundary run in
both neighbours) and blends them as the whole-volume run does, so the labels of every slab are
those of :func:`~liberation.segmentation.inference.predict_volume` and the probabilities agree
within float rounding (the windows are batched differently). The client writes the slabs into
``out`` in z order, at most two tasks per worker in flight. A task whose worker dies is run
again on another worker (Dask reschedules it); the network and an in-memory volume are copied
to every worker first, so losing one worker loses no data.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from liberation._progress import progress
from liberation.errors import InputError
from liberation.segmentation.inference import (
    _EDGES,
    _check_choice,
    _edge_reflect,
    _sliding_stream,
    _volume_shape,
    class_labels,
    resolve_backend,
)

__all__ = ["predict_planes", "predict_volume_distributed", "slab_bounds"]


def _stream_planes(image, network, card, z0: int, z1: int, emit, *, device, overlap: float, sw_batch_size: int,
                   mirror: bool, edge: str, blend: str, backend: str = "torch") -> None:
    """Run the windows of the whole-volume grid that reach planes ``z0:z1``; ``emit(a, b, probs)`` gets those planes."""
    shape = _volume_shape(image)
    _check_choice("edge", edge, _EDGES)
    nz = shape[0]
    if not 0 <= z0 < z1 <= nz:
        raise InputError(f"planes {z0}:{z1}; expected 0 <= z0 < z1 <= {nz}")
    pz = int(card.patch_size[0])

    def keep(a, b, probs):
        probs = probs.numpy() if hasattr(probs, "numpy") else probs  # a torch tensor from _sliding_stream
        lo, hi = max(a, z0), min(b, z1)
        if lo < hi:
            emit(lo, hi, probs[:, lo - a:hi - a])

    # planes next to z0:z1 that only some windows (or mirror grids) reach are emitted with a zero
    # weight sum (0 / 0) and dropped by ``keep``
    with np.errstate(invalid="ignore", divide="ignore"):
        _sliding_stream(lambda a, b: np.asarray(image[a:b]), shape, network, card, keep, normalized=False,
                        device=device, overlap=overlap, sw_batch_size=sw_batch_size,
                        reflect=_edge_reflect(edge), mirror=mirror, blend=blend,
                        slab=min(z1 - z0, 2 * pz), planes=(z0, z1), backend=backend)


def predict_planes(image, network, card, z0: int, z1: int, *, device: str | None = "auto", overlap: float = 0.5,
                   sw_batch_size: int = 2, mirror: bool = False, edge: str = "reflect",
                   blend: str = "gaussian", backend: str = "torch") -> np.ndarray:
    """Class probabilities of planes ``z0:z1`` as the whole-volume sliding-window pass gives them.

    Only the windows that reach those planes are run (read: about one patch depth of planes on
    either side), so slabs can be computed independently, e.g. on the workers of a cluster.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        The whole CT volume (numpy or zarr; only the planes the windows need are read).
    network : torch.nn.Module
    card : ModelCard
    z0, z1 : int
        The planes, ``0 <= z0 < z1 <= z``.
    device, overlap, sw_batch_size, mirror, edge, blend, backend
        As in :func:`liberation.segmentation.inference.predict_volume`.

    Returns
    -------
    ndarray of float32, shape (n_classes, z1 - z0, y, x)
        Equal to ``predict_probabilities(image, ..., edge=edge)[:, z0:z1]`` within float rounding.
    """
    z0, z1 = int(z0), int(z1)
    result = None

    def emit(a, b, probs):
        nonlocal result
        if result is None:
            result = np.zeros((probs.shape[0], z1 - z0, *probs.shape[2:]), np.float32)
        result[:, a - z0:b - z0] = probs

    _stream_planes(image, network, card, z0, z1, emit, device=device, overlap=overlap, sw_batch_size=sw_batch_size,
                   mirror=mirror, edge=edge, blend=blend, backend=backend)
    return result


def _slab_task(model, image, z0: int, z1: int, options: dict, threads: int | None, with_probs: bool):
    """One task: labels (uint8, ``(z1 - z0, y, x)``) and optionally probabilities 0..255 of planes ``z0:z1``."""
    network, card = model
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    shape = _volume_shape(image)
    labels = np.zeros((z1 - z0, *shape[1:]), np.uint8)
    probs_u8 = np.zeros((len(card.class_ids), z1 - z0, *shape[1:]), np.uint8) if with_probs else None

    def emit(a, b, probs):  # as predict_volume writes them
        labels[a - z0:b - z0] = class_labels(probs, card.class_ids)
        if probs_u8 is not None:
            probs_u8[:, a - z0:b - z0] = np.round(probs * 255.0).astype(np.uint8)

    _stream_planes(image, network, card, z0, z1, emit, **options)
    return labels, probs_u8


def slab_bounds(depth: int, patch_depth: int, n_workers: int, slab: int | None = None) -> list[tuple[int, int]]:
    """The z slabs of the tasks.

    Parameters
    ----------
    depth : int
        Planes of the volume.
    patch_depth : int
        z size of a window.
    n_workers : int
        Workers of the cluster.
    slab : int, optional
        Planes per slab; default about ``depth / (2 n_workers)`` (two tasks per worker),
        at least one and at most four patch depths (windows crossing a slab boundary run twice:
        about one window row in ``slab / (patch_depth * (1 - overlap))``).

    Returns
    -------
    list of (z0, z1)
    """
    if slab is None:
        slab = min(max(math.ceil(depth / (2 * max(int(n_workers), 1))), int(patch_depth)), 4 * int(patch_depth))
    slab = int(slab)
    if slab < 1:
        raise InputError(f"slab={slab}; expected slab >= 1")
    return [(z, min(z + slab, depth)) for z in range(0, depth, slab)]


def predict_volume_distributed(image, network, card, *, client, out=None, prob_out=None, slab: int | None = None,
                               device: str | None = "auto", overlap: float = 0.5, sw_batch_size: int = 2,
                               mirror: bool = False, edge: str = "reflect", blend: str = "gaussian",
                               threads: int | None = None, show_progress: bool = True, backend: str = "torch"):
    """:func:`~liberation.segmentation.inference.predict_volume` with the z slabs run on a Dask cluster.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values: a zarr array (the workers read their planes themselves: a remote
        cluster must see its path) or a numpy array (copied to every worker).
    network : torch.nn.Module
    card : ModelCard
    client : distributed.Client
        The cluster.
    out : array-like of uint8, shape (z, y, x), optional
        Where the label values are written; default a new numpy array.
    prob_out : array-like of uint8, shape (n_classes, z, y, x), optional
        Where the class probabilities are written, 0..255.
    slab : int, optional
        Planes per task (:func:`slab_bounds`).
    device, overlap, sw_batch_size, mirror, edge, blend, backend
        As in :func:`~liberation.segmentation.inference.predict_volume` (``backend="onnxruntime"``:
        each task exports the network once and checks it against torch).
    threads : int, optional
        torch threads in each task (default the worker's: 1 with ``--workers``, whose nanny sets
        ``OMP_NUM_THREADS=1``).
    show_progress : bool

    Returns
    -------
    out
        Equal to what :func:`~liberation.segmentation.inference.predict_volume` writes.

    Notes
    -----
    Memory of a worker: the network, its slab's labels (and probabilities), and what
    ``predict_volume`` holds for a slab of ``min(slab, 2 patch depths)`` planes. The client
    holds at most two slab results per worker.
    """
    shape = _volume_shape(image)
    _check_choice("edge", edge, _EDGES)
    if out is None:
        out = np.zeros(shape, dtype=np.uint8)
    elif tuple(out.shape) != shape:
        raise InputError(f"out has shape {tuple(out.shape)}; expected {shape}")
    n_classes = len(card.class_ids)
    if prob_out is not None and tuple(prob_out.shape) != (n_classes, *shape):
        raise InputError(f"prob_out has shape {tuple(prob_out.shape)}; expected {(n_classes, *shape)}")
    if not 0 <= overlap < 1:
        raise InputError(f"overlap={overlap}; expected 0 <= overlap < 1")
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # pragma: no cover - depends on the client
        n_workers = 2
    bounds = slab_bounds(shape[0], int(card.patch_size[0]), n_workers, slab)
    options = {"device": device, "overlap": overlap, "sw_batch_size": sw_batch_size, "mirror": mirror, "edge": edge,
               "blend": blend, "backend": resolve_backend(backend, device)}
    if any(t.device.type != "cpu" for t in network.parameters()):
        import copy

        network = copy.deepcopy(network).cpu()  # the workers may have no GPU; the caller's stays where it is
    network = network.eval()
    # replicated on every worker: a worker that dies takes no only copy with it
    [model] = client.scatter([(network, card)], broadcast=True, hash=False)
    source = image
    if isinstance(image, np.ndarray):
        [source] = client.scatter([image], broadcast=True, hash=False)
    window = 2 * n_workers
    futures: deque = deque()
    try:
        for z0, z1 in progress(bounds, desc="segment (distributed)", unit="slab",
                               enabled=None if show_progress else False):
            futures.append((z0, z1, client.submit(_slab_task, model, source, z0, z1, options, threads,
                                                  prob_out is not None, pure=False)))
            while len(futures) >= window or (futures and z1 == shape[0]):
                a, b, f = futures.popleft()
                labels, probs = f.result()
                f.release()
                out[a:b] = labels
                if prob_out is not None:
                    prob_out[:, a:b] = probs
    finally:
        for *_, f in futures:
            f.cancel()
        model.release()
        if source is not image:
            source.release()
    return out
