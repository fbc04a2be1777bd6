"""Type stub of liberation.segmentation: the public names, resolved lazily at run time (lazy_loader.attach_stub).

The ML functions (model, losses, augment, train, inference, checkpoint) import torch / MONAI when called.
"""

from .baseline import GreyGMM, fit_grey_gmm, grey_gmm_classifier, grey_value_baseline
from .card import ModelCard
from .checkpoint import load_model, save_model
from .classical import SEPARATION_METHODS, classical_phases, separate_particles
from .config import PRESETS, TrainConfig, get_preset
from .distributed_inference import predict_volume_distributed
from .evaluate import evaluate_planes
from .inference import (
    predict_face_matched,
    predict_probabilities,
    predict_slices_2d,
    predict_volume,
    segment_particles,
    segment_phases,
)
from .losses import masked_loss
from .metrics import confusion_matrix, instance_metrics, interslice_consistency, phase_metrics
from .model import build_network
from .normalize import apply_normalization, robust_percentiles
from .particles import bootstrap_particles, classical_particles, instances_from_prediction, particle_targets
from .patches import extract_patch, labelled_planes, labelled_sheets, sample_patch_origins, split_validation
from .pixel_classifier import (
    PixelClassifier,
    bootstrap_phase_labels,
    classify_labelled_voxels,
    filter_features,
    load_pixel_classifier,
    predict_pixel_classifier,
    predict_pixel_classifier_volume,
    save_pixel_classifier,
    train_pixel_classifier,
)
from .plots import plot_confusion_matrix, plot_learning_curve
from .targets import encode_targets, phase_classes
from .train import TrainResult, train_model

__all__ = [
    "GreyGMM",
    "ModelCard",
    "PRESETS",
    "PixelClassifier",
    "SEPARATION_METHODS",
    "TrainConfig",
    "TrainResult",
    "apply_normalization",
    "bootstrap_particles",
    "bootstrap_phase_labels",
    "build_network",
    "classical_particles",
    "classical_phases",
    "classify_labelled_voxels",
    "confusion_matrix",
    "encode_targets",
    "evaluate_planes",
    "extract_patch",
    "filter_features",
    "fit_grey_gmm",
    "get_preset",
    "grey_gmm_classifier",
    "grey_value_baseline",
    "instance_metrics",
    "instances_from_prediction",
    "interslice_consistency",
    "labelled_planes",
    "labelled_sheets",
    "load_model",
    "masked_loss",
    "particle_targets",
    "phase_classes",
    "phase_metrics",
    "plot_confusion_matrix",
    "plot_learning_curve",
    "predict_face_matched",
    "load_pixel_classifier",
    "predict_pixel_classifier",
    "predict_pixel_classifier_volume",
    "save_pixel_classifier",
    "predict_probabilities",
    "predict_slices_2d",
    "predict_volume",
    "predict_volume_distributed",
    "robust_percentiles",
    "sample_patch_origins",
    "save_model",
    "segment_particles",
    "segment_phases",
    "separate_particles",
    "split_validation",
    "train_model",
    "train_pixel_classifier",
]
