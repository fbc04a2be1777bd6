"""Sliding-window inference (Gaussian blending as MONAI), streamed along z with bounded memory. Imports torch.

One grid of windows covers the whole volume (MONAI's placement over the volume, extended by half a
patch of reflected context at the volume ends with ``edge="reflect"``); every window is run once,
batched, and blended into a rolling buffer of planes that is written out as soon as no later
window reaches it. Context outside the volume is gathered per window by reflection; nothing
else is padded and no slab halo is recomputed.
"""

from __future__ import annotations

import numpy as np

from liberation._progress import progress
from liberation.errors import InputError, require
from liberation.segmentation.normalize import apply_normalization
from liberation.segmentation.targets import decode_classes

__all__ = ["BACKENDS", "class_labels", "predict_probabilities", "predict_volume", "predict_face_matched", "predict_slices_2d",
           "resolve_backend", "segment_phases", "window_grid", "segment_particles"]


def _device(device):
    from liberation.segmentation.train import resolve_device

    return resolve_device(device)


_EDGES = ("reflect", "inside", "z-ends")


def _edge_reflect(edge: str) -> tuple:
    """The per-axis ``reflect`` ends of :func:`window_grid` for an ``edge`` mode."""
    _check_choice("edge", edge, _EDGES)
    if edge == "z-ends":
        return (("window", "window"), (False, False), (False, False))
    return ((edge == "reflect",) * 2,) * 3
_BLENDS = ("gaussian", "constant")
#: Engines that run the network's forward pass (see :func:`predict_probabilities`).
BACKENDS = ("torch", "onnxruntime", "auto")


def resolve_backend(backend: str, device: str | None = "auto") -> str:
    """The engine ``backend`` names: ``"auto"`` is torch (the CPU and the GPU).

    On the CPU torch runs the inference form of the network
    (:func:`liberation.segmentation.fast_network.inference_network`: batch norms folded, the
    stem's filters as matrix products, oneDNN's channels-last convolutions): about 2x the windows
    per second of ONNX Runtime on the same export and the same threads (1 thread each, under load;
    docs/performance_segmentation.md, issue 22), whose 3D convolutions are slower.
    ``"onnxruntime"`` stays available.
    """
    _check_choice("backend", backend, BACKENDS)
    if backend != "auto":
        return backend
    return "torch"


def _forward(network, card, *, backend: str, device: str, batch: int):
    """A function ``(batch, 1, z, y, x) float32 CPU tensor -> logits`` (float32 CPU tensor) for ``backend``."""
    from liberation.segmentation.onnx_backend import OnnxNetwork, onnx_network

    torch = require("torch", "ml")
    backend = "onnxruntime" if backend == "auto" and isinstance(network, OnnxNetwork) else resolve_backend(backend, device)
    if backend == "onnxruntime":

        if str(device).startswith("cuda"):
            raise InputError(f"backend='onnxruntime' runs on the CPU; device={device!r} (use backend='torch' on a GPU)")
        net = network if isinstance(network, OnnxNetwork) else onnx_network(network, card)
        return net
    if isinstance(network, OnnxNetwork):
        raise InputError("an ONNX network needs backend='onnxruntime'")
    use_amp = str(device).startswith("cuda")
    if not use_amp and isinstance(network, torch.nn.Module):
        # the same function, faster on the CPU: batch norms folded, the stem's filters as matrix
        # products (checked against the network within 1e-5), oneDNN's channels-last convolutions
        from liberation.segmentation.fast_network import cached_inference_network

        fast = cached_inference_network(network, card.patch_size, channels_last=True)
        return lambda x: fast(x).contiguous()
    network = network.to(device).eval()

    def run(x):
        with torch.autocast(device_type="cuda" if use_amp else "cpu", enabled=use_amp):
            return network(x.to(device)).float().cpu()

    return run


def _volume_shape(image) -> tuple:
    shape = tuple(image.shape)
    if len(shape) != 3:
        raise InputError(f"image has shape {shape}; expected (z, y, x)")
    return shape


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InputError(f"{name}={value!r}; expected one of {list(choices)}")


def _axis_windows(n: int, p: int, overlap: float, lo, hi) -> tuple[list[int], int, int]:
    """Window starts along one axis, in volume coordinates (negative = reflected context).

    The axis is extended by ``p // 2`` reflected voxels at an end flagged ``lo`` / ``hi`` (and at
    its high end up to ``p`` if still shorter); the starts are then MONAI's
    (``monai.data.utils.dense_patch_slices``): ``i * interval``, the last one moved back to end
    at the extended end, ``interval = int(p * (1 - overlap))`` (``p`` when the extent is ``p``).
    ``lo`` / ``hi`` = ``"window"``: MONAI's starts on the axis as it is, plus one window centred
    on that end plane (start ``-(p // 2)`` / ``n - p + p // 2``, its outer half reflected context).

    Returns
    -------
    starts : list of int
    low_margin, extent : int
        Voxels added before the volume, and the extended length.
    """
    extra = (lo == "window", hi == "window")
    if any(extra):
        if not all(extra):
            raise InputError(f"reflect ends ({lo!r}, {hi!r}); 'window' must be on both ends of an axis")
        starts, m_lo, extent = _axis_windows(n, p, overlap, False, False)
        return sorted(set(starts) | {-(p // 2), n - p + p // 2}), m_lo, extent
    m_lo = p // 2 if lo else 0
    extent = n + m_lo + (p // 2 if hi else 0)
    extent = max(extent, p)
    interval = p if extent == p else max(int(p * (1 - overlap)), 1)
    count = next(d for d in range(-(-extent // interval) + 1) if d * interval + p >= extent) + 1
    starts = [min(i * interval, extent - p) - m_lo for i in range(count)]
    return starts, m_lo, extent


def window_grid(shape, patch_size, *, overlap: float = 0.5, reflect=None, mirror: bool = False) -> list[tuple]:
    """All windows of one sliding-window pass over a volume.

    Parameters
    ----------
    shape : tuple of 3 int
        Volume shape (z, y, x).
    patch_size : tuple of 3 int
    overlap : float
    reflect : tuple of 3 (bool or "window", bool or "window"), optional
        Ends of each axis given half a patch of reflected context (default all; see
        :func:`predict_probabilities`); ``"window"`` (both ends of an axis): MONAI's windows
        plus one window centred on each end plane (``edge="z-ends"`` on z).
    mirror : bool
        Windows of the 8 mirror images too (mirrored placement of the grid).

    Returns
    -------
    list of (flip, z0, y0, x0)
        ``flip`` a tuple of flipped axes (0..2); the start of each window in volume
        coordinates (negative or past the end where it reaches into reflected context),
        sorted by ``z0``.
    """
    if reflect is None:
        reflect = ((True, True),) * 3
    axes = [_axis_windows(int(n), int(p), overlap, lo, hi)
            for n, p, (lo, hi) in zip(shape, patch_size, reflect)]
    flips = [()]
    if mirror:
        flips = [tuple(a for a, bit in enumerate(bits) if bit) for bits in np.ndindex(2, 2, 2)]
    windows = []
    for flip in flips:
        per_axis = []
        for a, ((starts, m_lo, extent), p) in enumerate(zip(axes, patch_size)):
            if a in flip:  # the grid of the flipped volume, mapped back: start -> extent - start - p
                starts = [extent - (s + m_lo) - int(p) - m_lo for s in starts]
            per_axis.append(starts)
        windows.extend((flip, z, y, x) for z in per_axis[0] for y in per_axis[1] for x in per_axis[2])
    windows.sort(key=lambda w: w[1])
    return windows


def class_labels(probs, class_ids) -> np.ndarray:
    """The label value of the most probable class of each voxel (``argmax`` over axis 0, the first on ties).

    One pass per class with a running maximum (torch's ``argmax`` over the leading axis of a
    ``(classes, z, y, x)`` tensor is several times slower).

    Parameters
    ----------
    probs : torch.Tensor or ndarray, shape (n_classes, ...)
    class_ids : sequence of int
        Label value of each class (0..255).

    Returns
    -------
    ndarray of uint8, shape ``probs.shape[1:]``
    """
    torch = require("torch", "ml")
    p = probs if isinstance(probs, torch.Tensor) else torch.from_numpy(np.asarray(probs))
    ids = [int(c) for c in class_ids]
    if p.ndim < 1 or p.shape[0] != len(ids):
        raise InputError(f"probabilities have shape {tuple(p.shape)}; expected {len(ids)} classes first")
    labels = torch.full(p.shape[1:], ids[0], dtype=torch.uint8)
    best = p[0].clone()
    for c in range(1, len(ids)):
        higher = p[c] > best
        labels.masked_fill_(higher, ids[c])
        torch.maximum(best, p[c], out=best)
    return labels.numpy()


def _importance_map(patch_size, blend: str) -> np.ndarray:
    from monai.data.utils import compute_importance_map

    torch = require("torch", "ml")
    w = compute_importance_map(tuple(int(p) for p in patch_size), mode=blend, sigma_scale=0.125,
                               device="cpu", dtype=torch.float32)
    return np.asarray(w.cpu().numpy(), dtype=np.float32)


def _sliding_stream(read, shape, network, card, emit, *, normalized: bool, device, overlap: float,
                    sw_batch_size: int, reflect, mirror: bool, blend: str, slab: int, backend: str = "torch",
                    show_progress: bool = False, desc: str = "segment", planes=None) -> int:
    """Run the windows of :func:`window_grid` and emit blended class probabilities plane block by block.

    ``read(z0, z1)`` returns planes ``z0:z1`` of the volume; ``emit(z0, z1, probs)`` receives
    the probabilities of finished planes, in order, as a float32 ``torch.Tensor`` of shape
    ``(n_classes, z1 - z0, y, x)`` (a new tensor each call). Windows are copied into one
    preallocated input batch, run by ``backend`` and blended into preallocated torch buffers
    (multi-threaded like the network). Memory: ``slab + (sw_batch_size + 1)`` patch depths of
    planes of logits, weights and input. Returns the window count. ``planes=(z0, z1)``: only the
    batches of windows that reach planes ``z0:z1``, so these planes get the values of the whole-volume
    run (the planes around them are emitted too, partial: :mod:`liberation.segmentation.distributed_inference`
    keeps ``z0:z1``).
    """
    from liberation.segmentation.patches import reflect_index

    torch = require("torch", "ml")
    require("monai", "ml")
    _check_choice("blend", blend, _BLENDS)
    _check_choice("backend", backend, BACKENDS)
    if sw_batch_size < 1:
        raise InputError(f"sw_batch_size={sw_batch_size}; expected >= 1")
    if not 0 <= overlap < 1:
        raise InputError(f"overlap={overlap}; expected 0 <= overlap < 1")
    dev = _device(device)
    nz, ny, nx = (int(s) for s in shape)
    pz, py, px = (int(p) for p in card.patch_size)
    windows = window_grid(shape, (pz, py, px), overlap=overlap, reflect=reflect, mirror=mirror)
    if planes is not None:  # the windows reaching z0:z1 (a run of the list), in the batches of the whole run
        reach = [i for i, w in enumerate(windows) if max(w[1], 0) < planes[1] and min(w[1] + pz, nz) > planes[0]]
        windows = windows[reach[0] // sw_batch_size * sw_batch_size:-(-(reach[-1] + 1) // sw_batch_size) * sw_batch_size]
    flips = sorted({w[0] for w in windows})
    fidx = {f: i for i, f in enumerate(flips)}
    weight = torch.from_numpy(_importance_map((pz, py, px), blend))
    weights = {f: (torch.flip(weight, f) if f else weight) for f in flips}
    slab = max(int(slab), 1)
    cap = slab + pz * (sw_batch_size + 1)
    num = None  # (flips, classes, cap, y, x), allocated at the first forward pass
    den = torch.zeros((len(flips), cap, ny, nx), dtype=torch.float32)
    inp = torch.empty((min(sw_batch_size, len(windows)), 1, pz, py, px), dtype=torch.float32)
    base = max(windows[0][1], 0)  # 0 unless ``planes`` left the first windows out
    cache, c_lo, c_hi = None, 0, 0

    def load(a: int, b: int) -> np.ndarray:
        raw = read(a, b)
        return np.asarray(raw, dtype=np.float32) if normalized else apply_normalization(raw, card.normalization)

    def planes(lo: int, hi: int) -> np.ndarray:
        """Normalised planes covering ``lo:hi`` (a rolling cache: each plane is read once in z order)."""
        nonlocal cache, c_lo, c_hi
        if cache is not None and c_lo <= lo and hi <= c_hi:
            return cache
        new_hi = min(nz, max(hi, lo + cap))
        if cache is not None and c_lo <= lo < c_hi <= new_hi:
            parts = [cache[lo - c_lo:]] + ([load(c_hi, new_hi)] if new_hi > c_hi else [])
            cache = np.concatenate(parts) if len(parts) > 1 else parts[0]
        else:
            cache = load(lo, new_hi)
        c_lo, c_hi = lo, new_hi
        return cache

    def flush(final: int) -> None:
        nonlocal base, num, den
        k = final - base
        if k <= 0:
            return
        probs = None
        for i in range(len(flips)):
            p = torch.softmax(num[i, :, :k] / den[i, :k], dim=0)
            probs = p if probs is None else probs.add_(p)
        if len(flips) > 1:
            probs.div_(len(flips))
        emit(base, final, probs)
        rest = cap - k  # the planes after ``final`` move to the front of new (zeroed) buffers
        num, former = torch.zeros_like(num), num
        num[:, :, :rest] = former[:, :, k:]
        den, former = torch.zeros_like(den), den
        den[:, :rest] = former[:, k:]
        base = final

    def crop(s: int, p: int, n: int) -> tuple[slice, slice]:
        a, b = max(s, 0), min(s + p, n)
        return slice(a - s, b - s), slice(a, b)

    def along(block, axis: int, s: int, p: int, n: int):
        if 0 <= s and s + p <= n:
            return block.narrow(axis, s, p)
        return block.index_select(axis, torch.from_numpy(reflect_index(np.arange(s, s + p), n)))

    forward = _forward(network, card, backend=backend, device=dev, batch=inp.shape[0])
    batches = [windows[i:i + sw_batch_size] for i in range(0, len(windows), sw_batch_size)]
    blocks: dict = {}
    with torch.inference_mode():
        for batch in progress(batches, desc=desc, unit="batch", enabled=None if show_progress else False):
            # windows are sorted by z: every plane below this batch's first window is final
            final = min(max(batch[0][1], 0), nz)
            if final - base >= slab:
                flush(final)
            for i, (flip, zs, ys, xs) in enumerate(batch):
                if zs not in blocks:
                    blocks.clear()
                    zidx = reflect_index(np.arange(zs, zs + pz), nz)
                    lo, hi = int(zidx.min()), int(zidx.max()) + 1
                    cached = planes(lo, hi)
                    if hi - lo == pz and zidx[0] == lo and zidx[-1] == hi - 1:  # no reflection: a view
                        blocks[zs] = torch.from_numpy(cached[lo - c_lo:hi - c_lo])
                    else:
                        blocks[zs] = torch.from_numpy(np.ascontiguousarray(cached[zidx - c_lo]))
                patch = along(along(blocks[zs], 1, ys, py, ny), 2, xs, px, nx)
                inp[i, 0].copy_(torch.flip(patch, flip) if flip else patch)
            logits = forward(inp[:len(batch)])
            logits = logits.mul_(weight)  # weighted before the flip back: flip(out * w) = flip(out) * flip(w)
            if num is None:
                num = torch.zeros((len(flips), logits.shape[1], cap, ny, nx), dtype=torch.float32)
            for (flip, zs, ys, xs), out in zip(batch, logits):
                f = fidx[flip]
                if flip:
                    out = torch.flip(out, [a + 1 for a in flip])
                zl, zg = crop(zs, pz, nz)
                yl, yg = crop(ys, py, ny)
                xl, xg = crop(xs, px, nx)
                zb = slice(zg.start - base, zg.stop - base)
                num[f, :, zb, yg, xg] += out[:, zl, yl, xl]
                den[f, zb, yg, xg] += weights[flip][zl, yl, xl]
        flush(min(nz, windows[-1][1] + pz))  # nz unless ``planes`` left the last windows out
    return len(windows)


def predict_probabilities(block, network, card, *, device: str | None = "auto", overlap: float = 0.5,
                          sw_batch_size: int = 2, normalized: bool = False, reflect=None,
                          mirror: bool = False, edge: str = "reflect", blend: str = "gaussian",
                          backend: str = "torch") -> np.ndarray:
    """Class probabilities of a block held in memory.

    Parameters
    ----------
    block : ndarray, shape (z, y, x)
        CT grey values (normalised with the card unless ``normalized``).
    network : torch.nn.Module or OnnxNetwork
        The network (an :class:`~liberation.segmentation.onnx_backend.OnnxNetwork` with
        ``backend="onnxruntime"``).
    card : ModelCard
    device : {"auto", "cpu", "cuda"}
    overlap : float
        Sliding-window overlap (0..1).
    sw_batch_size : int
        Windows per forward pass.
    normalized : bool
        ``block`` is already normalised.
    reflect : tuple of 3 (bool, bool), optional
        For each axis, whether the low / high end of ``block`` is an end of the volume,
        beyond which half a patch of context is added by reflection (as training patches
        are built by :func:`liberation.segmentation.patches.extract_patch`). Default: from ``edge``.
    mirror : bool
        Test-time augmentation: average the class probabilities over the 8 mirror images
        of the block (flips of z, y and x; as nnU-Net's mirroring). 8x the cost.
    edge : {"reflect", "inside", "z-ends"}
        Without ``reflect``: ``"reflect"`` gives every end half a patch of reflected context;
        ``"inside"`` places the windows inside the volume as MONAI does (reflection only where the
        volume is shorter than a window), fewer windows; ``"z-ends"``: MONAI's windows plus one
        layer of windows centred on the first and on the last plane (half a patch of reflected
        z context there, as training patches around a labelled end face). With ``"z-ends"``
        the planes at least half a patch depth from both z ends equal ``"inside"`` (and MONAI);
        when the depth is a multiple of the z window step (``int(pz * (1 - overlap))``) the
        whole result equals ``reflect=((True, True), (False, False), (False, False))``.
    blend : {"gaussian", "constant"}
        Window weights (MONAI's importance maps, Gaussian sigma 0.125 of the patch).
    backend : {"torch", "onnxruntime", "auto"}
        What runs the network: torch, or ONNX Runtime on the CPU (the network is exported
        once per call and checked against torch within 1e-4 on random windows; needs ``onnx``
        and ``onnxruntime``, the ``deploy`` extra); ``"auto"``: torch (see :func:`resolve_backend`).
        On the CPU torch runs the network's inference form
        (:func:`~liberation.segmentation.fast_network.inference_network`, checked within 1e-5).

    Returns
    -------
    ndarray of float32, shape (n_classes, z, y, x)
    """
    x = np.asarray(block)
    shape = _volume_shape(x)
    if reflect is None:
        reflect = _edge_reflect(edge)
    result = None

    def emit(z0, z1, probs):
        nonlocal result
        if result is None:
            result = np.zeros((probs.shape[0], *shape), np.float32)
        result[:, z0:z1] = probs.numpy()

    _sliding_stream(lambda a, b: x[a:b], shape, network, card, emit, normalized=normalized, device=device,
                    overlap=overlap, sw_batch_size=sw_batch_size, reflect=reflect, mirror=mirror, blend=blend,
                    slab=shape[0], backend=backend)
    return result


def predict_volume(image, network, card, *, out=None, prob_out=None, slab: int | None = None,
                   device: str | None = "auto", overlap: float = 0.5, sw_batch_size: int = 2,
                   mirror: bool = False, edge: str = "reflect", blend: str = "gaussian",
                   backend: str = "torch", show_progress: bool = True):
    """Segment a whole volume by sliding windows, streamed along z (bounded memory), stitching on the CPU.

    One grid of windows covers the volume (see :func:`window_grid`); each window is predicted
    once, windows are batched ``sw_batch_size`` at a time and blended (Gaussian by default).
    Planes are written to ``out`` ``slab`` at a time, as soon as no later window reaches
    them. The result does not depend on ``slab``: it equals :func:`predict_probabilities` on
    the whole volume. Memory holds ``slab`` + one patch depth planes (times the number of
    classes, float32).

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values (numpy, zarr or dask).
    network : torch.nn.Module
    card : ModelCard
    out : array-like of uint8, shape (z, y, x), optional
        Where the label values (``card.class_ids``) are written (numpy or zarr array);
        default a new numpy array.
    prob_out : array-like of uint8, shape (n_classes, z, y, x), optional
        Where the class probabilities are written, scaled to 0..255.
    slab : int, optional
        Planes written at a time; default two patch depths.
    device : {"auto", "cpu", "cuda"}
    overlap, sw_batch_size : float, int
        Sliding-window settings.
    mirror : bool
        Mirror test-time augmentation (see :func:`predict_probabilities`), 8x the cost.
    edge, blend, backend : str
        Window placement at the volume ends, blending, and what runs the network (see
        :func:`predict_probabilities`).
    show_progress : bool

    Returns
    -------
    out
    """
    torch = require("torch", "ml")
    shape = _volume_shape(image)
    _check_choice("edge", edge, _EDGES)
    pz = int(card.patch_size[0])
    slab = int(slab or 2 * pz)
    if slab < 1:
        raise InputError(f"slab={slab}; expected slab >= 1")
    if out is None:
        out = np.zeros(shape, dtype=np.uint8)
    elif tuple(out.shape) != shape:
        raise InputError(f"out has shape {tuple(out.shape)}; expected {shape}")
    n_classes = len(card.class_ids)
    if prob_out is not None and tuple(prob_out.shape) != (n_classes, *shape):
        raise InputError(f"prob_out has shape {tuple(prob_out.shape)}; expected {(n_classes, *shape)}")

    def emit(z0, z1, probs):
        out[z0:z1] = class_labels(probs, card.class_ids)
        if prob_out is not None:
            prob_out[:, z0:z1] = probs.mul_(255.0).round_().to(torch.uint8).numpy()

    _sliding_stream(lambda a, b: np.asarray(image[a:b]), shape, network, card, emit, normalized=False,
                    device=device, overlap=overlap, sw_batch_size=sw_batch_size,
                    reflect=_edge_reflect(edge), mirror=mirror, blend=blend, slab=slab,
                    backend=backend, show_progress=show_progress)
    return out


def predict_face_matched(image, network, card, *, z_indices=None, out=None, prob_out=None,
                         device: str | None = "auto", overlap: float = 0.5, sw_batch_size: int = 2,
                         mirror: bool = False, backend: str = "torch", show_progress: bool = True):
    """Predict planes with the context a model trained on end faces saw: mirrored along z.

    A model trained only on labelled end faces of the volume saw every labelled voxel with
    real data on one side and its mirror image on the other (the reflection that fills a
    training patch beyond the end of the volume). An interior plane has real, different
    data on both sides: a domain shift. Here each plane ``z`` is predicted twice, once with
    the planes below it mirrored above it (``z + |d|``) and once with the planes above it
    mirrored below (``z - |d|``), ``d`` over half a patch depth; the two class probabilities
    are averaged. The cost is about ``2 x`` patch depth times that of :func:`predict_volume`.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
        CT grey values (numpy or zarr).
    network, card
        From :func:`liberation.segmentation.train.train_model` or ``load_model``.
    z_indices : sequence of int, optional
        Planes to predict; default all. With ``out`` given, the planes are written into it.
    out : array-like of uint8, shape (z, y, x), optional
        Label output (written at ``z_indices``); default a new array of shape
        ``(len(z_indices), y, x)``.
    prob_out : array-like of uint8, shape (n_classes, z, y, x), optional
        Class probabilities, 0..255, written at ``z_indices``.
    device, overlap, sw_batch_size, mirror, backend, show_progress
        As in :func:`predict_volume`.

    Returns
    -------
    out
    """
    from liberation.segmentation.patches import reflect_index

    shape = _volume_shape(image)
    backend = resolve_backend(backend, device)
    if backend == "onnxruntime":  # export once for all planes
        from liberation.segmentation.onnx_backend import OnnxNetwork, onnx_network

        if not isinstance(network, OnnxNetwork):
            network = onnx_network(network, card)
    planes = list(range(shape[0])) if z_indices is None else [int(z) for z in z_indices]
    bad = [z for z in planes if not 0 <= z < shape[0]]
    if bad:
        raise InputError(f"z_indices {bad} are outside the volume (0..{shape[0] - 1})")
    half = int(card.patch_size[0]) // 2
    offsets = np.abs(np.arange(-half, half))
    if out is None:
        out = np.zeros((len(planes), *shape[1:]), dtype=np.uint8)
        rows = list(range(len(planes)))
    else:
        rows = planes
    in_plane = ((False, False), (True, True), (True, True))
    for row, z in progress(list(zip(rows, planes)), desc="segment (face-matched)", unit="plane",
                           enabled=None if show_progress else False):
        total = 0.0
        for side in (1, -1):
            index = reflect_index(z + side * offsets, shape[0])
            lo = int(index.min())
            slab = np.asarray(image[lo: int(index.max()) + 1])
            probs = predict_probabilities(slab[index - lo], network, card, device=device, overlap=overlap,
                                          sw_batch_size=sw_batch_size, reflect=in_plane, mirror=mirror,
                                          backend=backend)
            total = total + probs[:, half]
        total = total / 2.0
        out[row] = decode_classes(total.argmax(0), card.class_ids)
        if prob_out is not None:
            prob_out[:, row] = np.round(total * 255.0).astype(np.uint8)
    return out


def predict_slices_2d(image, network, card, z_indices, *, device: str | None = "auto", overlap: float = 0.5,
                      sw_batch_size: int = 2) -> np.ndarray:
    """Apply the same network slice by slice, as a 2D model would see the data.

    Each z slice is repeated along z to the patch depth, so the network sees no
    information from the neighbouring slices; the middle plane of the output is kept.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
    network, card
    z_indices : sequence of int
        Slices to segment.

    Returns
    -------
    ndarray of uint8, shape (len(z_indices), y, x)
        Label values.
    """
    pz = int(card.patch_size[0])
    result = []
    for z in z_indices:
        plane = np.asarray(image[int(z)])
        stack = np.repeat(plane[None], pz, axis=0)
        probs = predict_probabilities(stack, network, card, device=device, overlap=overlap,
                                      sw_batch_size=sw_batch_size)
        result.append(decode_classes(probs[:, pz // 2].argmax(0), card.class_ids))
    return np.stack(result)


def segment_phases(image, network, card, *, context: str = "volume", **kwargs) -> np.ndarray:
    """Phase ids of the whole volume.

    ``context="volume"``: sliding windows over the volume (:func:`predict_volume`, whose
    options ``kwargs`` are); ``"face-matched"``: every plane with mirrored z context
    (:func:`predict_face_matched`; ``slab``, ``halo`` and ``edge`` do not apply).
    """
    if card.task != "phases":
        raise InputError(f"the model's task is {card.task!r}; segment_phases needs a 'phases' model")
    if context == "face-matched":
        for key in ("slab", "halo", "edge"):
            kwargs.pop(key, None)
        return predict_face_matched(image, network, card, **kwargs)
    if context != "volume":
        raise InputError(f"context={context!r}; expected 'volume' or 'face-matched'")
    return predict_volume(image, network, card, **kwargs)


def segment_particles(image, network, card, *, voxel_size_um=None, min_size_voxels: int = 30, seeds: str = "relative",
                      min_seed_voxels: int = 3, h: float = 2.0, ratio: float = 0.9, out=None,
                      **kwargs) -> np.ndarray:
    """Particle instances: predicted outside/particle/contact classes, then a seeded watershed.

    Parameters
    ----------
    image : array-like, shape (z, y, x)
    network, card
        A ``particles`` model.
    voxel_size_um : float or tuple, optional
        Voxel size for the distance map (default the card's).
    min_size_voxels : int
        Smaller instances are removed.
    seeds, min_seed_voxels, h, ratio
        Seeding (see :func:`liberation.segmentation.particles.instances_from_prediction`).
    out : array-like, optional
        Where the classes are written (see :func:`predict_volume`).
    **kwargs
        Options of :func:`predict_volume`.

    Returns
    -------
    ndarray of uint32, shape (z, y, x)
    """
    from liberation.segmentation.particles import instances_from_prediction

    if card.task != "particles":
        raise InputError(f"the model's task is {card.task!r}; segment_particles needs a 'particles' model")
    classes = predict_volume(image, network, card, out=out, **kwargs)
    return instances_from_prediction(np.asarray(classes), voxel_size_um=voxel_size_um or card.voxel_size_um,
                                     min_size_voxels=min_size_voxels, seeds=seeds, min_seed_voxels=min_seed_voxels,
                                     h=h, ratio=ratio)
