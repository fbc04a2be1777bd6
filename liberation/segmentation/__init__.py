"""3D segmentation of mineral phases and particles from sparse labels (MONAI U-Nets; extra ``ml``).

A 3D U-Net is trained on a few labelled planes (``labels/sparse``, 255 = unlabelled),
then applied to the whole CT volume by sliding windows, slab by slab with bounded memory.
Particles are predicted as foreground + contact zones and split into instances by a
seeded watershed. Metrics, a per-voxel grey-value baseline and a 2D slice-by-slice
comparison are included.

Nothing here imports torch or MONAI at package import time: names are resolved lazily,
and only the modules that need torch (``model``, ``losses``, ``augment``, ``train``,
``inference``, ``checkpoint``) import it.
"""

from __future__ import annotations

import importlib

# public name -> module that defines it
_NAMES = {
    "TrainConfig": "config",
    "PRESETS": "config",
    "get_preset": "config",
    "robust_percentiles": "normalize",
    "apply_normalization": "normalize",
    "labelled_planes": "patches",
    "split_validation": "patches",
    "sample_patch_origins": "patches",
    "extract_patch": "patches",
    "phase_classes": "targets",
    "encode_targets": "targets",
    "particle_targets": "particles",
    "classical_particles": "particles",
    "instances_from_prediction": "particles",
    "confusion_matrix": "metrics",
    "phase_metrics": "metrics",
    "instance_metrics": "metrics",
    "interslice_consistency": "metrics",
    "grey_value_baseline": "baseline",
    "PixelClassifier": "pixel_classifier",
    "train_pixel_classifier": "pixel_classifier",
    "predict_pixel_classifier": "pixel_classifier",
    "bootstrap_phase_labels": "pixel_classifier",
    "filter_features": "pixel_classifier",
    "plot_learning_curve": "plots",
    "plot_confusion_matrix": "plots",
    "build_network": "model",
    "masked_loss": "losses",
    "TrainResult": "train",
    "train_model": "train",
    "ModelCard": "card",
    "save_model": "checkpoint",
    "load_model": "checkpoint",
    "predict_probabilities": "inference",
    "predict_volume": "inference",
    "predict_slices_2d": "inference",
    "predict_face_matched": "inference",
    "segment_phases": "inference",
    "segment_particles": "inference",
    "evaluate_planes": "evaluate",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    module_name = _NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
