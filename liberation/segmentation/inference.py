"""Sliding-window inference (MONAI, Gaussian blending), slab by slab with bounded memory. Imports torch."""

from __future__ import annotations

import numpy as np

from liberation._progress import progress
from liberation.errors import InputError, require
from liberation.segmentation.normalize import apply_normalization
from liberation.segmentation.targets import decode_classes

__all__ = ["predict_probabilities", "predict_volume", "predict_face_matched", "predict_slices_2d", "segment_phases",
           "segment_particles"]


def _device(device):
    from liberation.segmentation.train import resolve_device

    return resolve_device(device)


def _pad_to(block: np.ndarray, roi) -> tuple[np.ndarray, tuple]:
    pads = [(0, max(0, int(r) - s)) for r, s in zip(roi, block.shape)]
    if any(p[1] for p in pads):
        block = np.pad(block, pads, mode="reflect" if min(block.shape) > 1 else "edge")
    return block, tuple(slice(0, s) for s in block.shape)


def _reflect_pad(x: np.ndarray, margins) -> np.ndarray:
    """Pad by reflection without repeating the edge voxel (as :func:`reflect_index`), any margin size."""
    from liberation.segmentation.patches import reflect_index

    if not any(a or b for a, b in margins):
        return x
    index = [reflect_index(np.arange(-a, s + b), s) for (a, b), s in zip(margins, x.shape)]
    return np.ascontiguousarray(x[np.ix_(*index)])


def _volume_shape(image) -> tuple:
    shape = tuple(image.shape)
    if len(shape) != 3:
        raise InputError(f"image has shape {shape}; expected (z, y, x)")
    return shape


def predict_probabilities(block, network, card, *, device: str | None = "auto", overlap: float = 0.5,
                          sw_batch_size: int = 2, normalized: bool = False, reflect=None,
                          mirror: bool = False) -> np.ndarray:
    """Class probabilities of a block held in memory.

    Parameters
    ----------
    block : ndarray, shape (z, y, x)
        CT grey values (normalised with the card unless ``normalized``).
    network : torch.nn.Module
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
        are built by :func:`liberation.segmentation.patches.extract_patch`). Default: all ends.
    mirror : bool
        Test-time augmentation: average the class probabilities over the 8 mirror images
        of the block (flips of z, y and x; as nnU-Net's mirroring). 8x the cost.

    Returns
    -------
    ndarray of float32, shape (n_classes, z, y, x)
    """
    torch = require("torch", "ml")
    inferers = require("monai.inferers", "ml")
    dev = _device(device)
    x = np.asarray(block, dtype=np.float32) if normalized else apply_normalization(block, card.normalization)
    shape = x.shape
    roi = tuple(int(p) for p in card.patch_size)
    if reflect is None:
        reflect = ((True, True),) * 3
    # context beyond the volume ends is reflected, exactly as training patches see it
    # (see extract_patch): a labelled end face sits inside its windows, not at their border
    margins = [(p // 2 if lo else 0, p // 2 if hi else 0) for p, (lo, hi) in zip(roi, reflect)]
    x = _reflect_pad(x, margins)
    x, _ = _pad_to(x, roi)
    network = network.to(dev).eval()
    use_amp = dev.startswith("cuda")
    flips = [()]
    if mirror:
        flips = [tuple(axis for axis, bit in zip((2, 3, 4), bits) if bit)
                 for bits in np.ndindex(2, 2, 2)]
    tensor = torch.from_numpy(np.ascontiguousarray(x))[None, None]
    probs = 0.0
    with torch.no_grad(), torch.autocast(device_type="cuda" if use_amp else "cpu", enabled=use_amp):
        for axes in flips:
            flipped = torch.flip(tensor, axes) if axes else tensor
            logits = inferers.sliding_window_inference(
                flipped.to(dev), roi_size=roi, sw_batch_size=sw_batch_size,
                predictor=network, overlap=overlap, mode="gaussian", padding_mode="replicate", sw_device=dev,
                device="cpu",
            )
            p = torch.softmax(logits.float(), dim=1)
            probs = probs + (torch.flip(p, axes) if axes else p)
        probs = (probs / len(flips))[0].numpy()
    return probs[:, margins[0][0]: margins[0][0] + shape[0], margins[1][0]: margins[1][0] + shape[1],
                 margins[2][0]: margins[2][0] + shape[2]]


def predict_volume(image, network, card, *, out=None, prob_out=None, slab: int | None = None,
                   halo: int | None = None, device: str | None = "auto", overlap: float = 0.5,
                   sw_batch_size: int = 2, mirror: bool = False, show_progress: bool = True):
    """Segment a whole volume slab by slab along z (bounded memory), stitching on the CPU.

    Each slab of ``slab`` planes is read with ``halo`` planes of context above and below,
    predicted by sliding windows with Gaussian blending, cropped to the slab and written to
    ``out``. Memory holds one slab with halos (times the number of classes).

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
        Planes per slab; default two patch depths.
    halo : int, optional
        Context planes on each side; default half a patch depth.
    device : {"auto", "cpu", "cuda"}
    overlap, sw_batch_size : float, int
        Sliding-window settings.
    mirror : bool
        Mirror test-time augmentation (see :func:`predict_probabilities`), 8x the cost.
    show_progress : bool

    Returns
    -------
    out
    """
    shape = _volume_shape(image)
    pz = int(card.patch_size[0])
    slab = int(slab or 2 * pz)
    halo = int(pz // 2 if halo is None else halo)
    if slab < 1 or halo < 0:
        raise InputError(f"slab={slab}, halo={halo}; expected slab >= 1 and halo >= 0")
    if out is None:
        out = np.zeros(shape, dtype=np.uint8)
    elif tuple(out.shape) != shape:
        raise InputError(f"out has shape {tuple(out.shape)}; expected {shape}")
    n_classes = len(card.class_ids)
    if prob_out is not None and tuple(prob_out.shape) != (n_classes, *shape):
        raise InputError(f"prob_out has shape {tuple(prob_out.shape)}; expected {(n_classes, *shape)}")
    starts = list(range(0, shape[0], slab))
    for z0 in progress(starts, desc="segment", total=len(starts), unit="slab", enabled=None if show_progress else False):
        z1 = min(z0 + slab, shape[0])
        a = max(0, z0 - halo)
        b = min(shape[0], z1 + halo)
        block = np.asarray(image[a:b])
        probs = predict_probabilities(block, network, card, device=device, overlap=overlap,
                                      sw_batch_size=sw_batch_size, mirror=mirror,
                                      reflect=((a == 0, b == shape[0]), (True, True), (True, True)))
        core = probs[:, z0 - a: z0 - a + (z1 - z0)]
        out[z0:z1] = decode_classes(core.argmax(0), card.class_ids)
        if prob_out is not None:
            prob_out[:, z0:z1] = np.round(core * 255.0).astype(np.uint8)
    return out


def predict_face_matched(image, network, card, *, z_indices=None, out=None, prob_out=None,
                         device: str | None = "auto", overlap: float = 0.5, sw_batch_size: int = 2,
                         mirror: bool = False, show_progress: bool = True):
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
    device, overlap, sw_batch_size, mirror, show_progress
        As in :func:`predict_volume`.

    Returns
    -------
    out
    """
    from liberation.segmentation.patches import reflect_index

    shape = _volume_shape(image)
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
                                          sw_batch_size=sw_batch_size, reflect=in_plane, mirror=mirror)
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
    (:func:`predict_face_matched`; ``slab`` and ``halo`` do not apply).
    """
    if card.task != "phases":
        raise InputError(f"the model's task is {card.task!r}; segment_phases needs a 'phases' model")
    if context == "face-matched":
        kwargs.pop("slab", None)
        kwargs.pop("halo", None)
        return predict_face_matched(image, network, card, **kwargs)
    if context != "volume":
        raise InputError(f"context={context!r}; expected 'volume' or 'face-matched'")
    return predict_volume(image, network, card, **kwargs)


def segment_particles(image, network, card, *, voxel_size_um=None, min_size_voxels: int = 30, seeds: str = "core",
                      min_seed_voxels: int = 3, h: float = 2.0, out=None, **kwargs) -> np.ndarray:
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
    seeds, min_seed_voxels, h
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
                                     h=h)
