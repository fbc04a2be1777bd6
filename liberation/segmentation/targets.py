"""Class lists and the mapping of label values to network class indices."""

from __future__ import annotations

import numpy as np

from liberation.errors import InputError
from liberation.metrics import IGNORE  # re-exported: the value of unlabelled voxels

__all__ = ["IGNORE", "phase_classes", "encode_targets"]


def phase_classes(sparse, *, minerals=None) -> tuple[list[int], list[str]]:
    """Class ids and names for the phases task: void (0) plus every id present in ``sparse``.

    Parameters
    ----------
    sparse : array-like of uint8, shape (z, y, x)
        Sparse labels, 255 = unlabelled.
    minerals : MineralList, optional
        Names of the ids; without it ids are named ``phase_<id>``.

    Returns
    -------
    ids : list of int
        Label values, class index ``i`` of the network is label value ``ids[i]``.
    names : list of str
    """
    present = set()
    for z in range(sparse.shape[0]):
        plane = np.asarray(sparse[z])
        if (plane != IGNORE).any():
            present.update(int(v) for v in np.unique(plane[plane != IGNORE]))
    if not present:
        raise InputError("sparse labels hold no labelled voxel (all 255); label at least one plane")
    ids = sorted(present | {0})
    names = []
    for i in ids:
        if i == 0:
            names.append("void")
        elif minerals is not None and i in minerals:
            names.append(minerals[i].name)
        else:
            names.append(f"phase_{i}")
    return ids, names


def encode_targets(labels, class_ids) -> np.ndarray:
    """Map label values to class indices 0..n-1 (uint8); 255 and unknown values become 255."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for index, value in enumerate(class_ids):
        lut[int(value)] = index
    labels = np.asarray(labels)
    if labels.dtype.kind not in "ui":
        raise InputError(f"labels have dtype {labels.dtype}; expected integer labels")
    return lut[np.clip(labels, 0, 255).astype(np.uint8)]


def decode_classes(indices, class_ids) -> np.ndarray:
    """Map class indices back to label values (uint8)."""
    lut = np.asarray(list(class_ids), dtype=np.uint8)
    return lut[np.asarray(indices)]
