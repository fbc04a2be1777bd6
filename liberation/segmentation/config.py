"""Training configuration and presets (``cpu``, ``gpu``, ``deep-xfct``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from liberation.errors import InputError

__all__ = ["TrainConfig", "PRESETS", "get_preset"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train a 3D U-Net on sparse labels.

    Parameters
    ----------
    architecture : {"unet", "basicunet"}
        MONAI ``UNet`` or ``BasicUNet``.
    channels : tuple of int
        Feature channels per level (``UNet``: one per level; ``BasicUNet``: 6 values).
    strides : tuple of int
        Down-sampling strides between levels (``UNet`` only; ``len(channels) - 1`` values).
    num_res_units : int
        Residual units per block (``UNet``).
    norm : {"batch", "instance", "none"}
        Normalisation layers (``UNet``). Instance norm removes the absolute grey level of
        each patch, which mineral phases are partly told apart by; ``none`` keeps it.
    dropout : float
        Dropout probability.
    input_features : tuple of str
        Fixed filter channels computed inside the network before the U-Net
        (:mod:`liberation.segmentation.features`), e.g. ``("gauss1", "std1", "std2")``: local
        mean and local standard deviation at 1 and 2 voxels, which tell apart minerals of
        equal grey value but different texture.
    head_channels : int
        Channels of a full-resolution per-voxel head after the U-Net (0 = none): the U-Net
        then returns this many features and two 1x1x1 convolutions map them, with the
        stem's filter channels, to the classes. MONAI's ``UNet`` has no full-resolution
        convolution before its last layer; the head adds one, cheaply.
    patch_size : tuple of 3 int
        Training patch (z, y, x) in voxels; also the sliding-window size at inference.
    batch_size : int
        Patches per step.
    steps_per_epoch : int
        Optimiser steps per epoch.
    max_epochs : int
        Epochs to run. The work of a training is ``max_epochs * steps_per_epoch`` optimiser
        steps of ``batch_size`` patches (:attr:`total_steps`): the same on a fast or a slow
        machine, so a preset gives the same model everywhere (for a given seed and CPU
        thread count). Early stopping (``early_stopping``) may end it sooner, also the same
        everywhere.
    max_time_s : float or None
        Optional wall-clock limit: stop after this many seconds of training (checked after
        each step; the epoch is then validated and training ends). None (the default of
        every preset) = no limit. A run stopped by it depends on the machine's speed and is
        recorded as ``stopped_by="max_time"`` with a warning.
    optimizer : {"adamw", "adadelta"}
        Optimiser.
    lr : float
        Learning rate.
    weight_decay : float
        Weight decay (AdamW).
    plateau_patience : int
        Epochs without validation improvement before the learning rate is halved.
    plateau_factor : float
        Learning-rate factor on a plateau.
    early_stopping : int
        Stop after this many epochs without validation improvement.
    keep_best : int
        Number of best checkpoints kept (by validation loss).
    ema_decay : float
        Decay per step of an exponential moving average of the weights and batch-norm
        statistics (0 = off). With it the averaged network is validated, kept and
        returned. The first steps use ``min(ema_decay, (1 + step) / (10 + step))``.
    dice_weight : float
        Weight of the masked Dice term added to the cross-entropy.
    context_margin : float
        The labelled voxel of a patch lies at least this fraction of the patch size from
        the patch border (0.25 keeps it in the central half, with context on both sides).
    val_fraction : float
        Fraction held out for validation: of the labelled planes when there are at least
        three, else of each labelled plane (a band at high x).
    val_patches : int
        Number of fixed validation patches.
    augment : bool
        Flips, in-plane 90° rotations, small zoom/shear, intensity scale/shift and noise.
    amp : bool
        Mixed precision when training on CUDA.
    percentiles : tuple of 2 float
        Robust normalisation percentiles.
    sw_overlap : float
        Sliding-window overlap at inference.
    sw_batch_size : int
        Windows per forward pass at inference.
    bootstrap_planes : int
        Phases only: number of evenly spaced unlabelled z planes given extra training
        labels by a pixel classifier on filter features, trained on the labelled planes
        (:func:`liberation.segmentation.pixel_classifier.bootstrap_phase_labels`); 0 = none.
        The network then also sees interior planes with real context on both sides.
    bootstrap_min_probability : float
        Bootstrap voxels are kept only where the classifier's probability reaches this.
    extra : dict
        Further options; ``extra["augment"]`` is passed to
        :func:`liberation.segmentation.augment.augment_batch` (e.g. ``{"noise": 0.02, "shift": 0.02}``).
    """

    architecture: str = "unet"
    channels: tuple = (8, 16, 32)
    strides: tuple = (2, 2)
    num_res_units: int = 1
    norm: str = "instance"
    dropout: float = 0.0
    input_features: tuple = ()
    head_channels: int = 0
    patch_size: tuple = (24, 64, 64)
    batch_size: int = 2
    steps_per_epoch: int = 20
    max_epochs: int = 60
    max_time_s: float | None = None
    optimizer: str = "adamw"
    lr: float = 5e-3
    weight_decay: float = 1e-4
    plateau_patience: int = 6
    plateau_factor: float = 0.5
    early_stopping: int = 15
    keep_best: int = 3
    ema_decay: float = 0.0
    dice_weight: float = 1.0
    context_margin: float = 0.25
    val_fraction: float = 0.2
    val_patches: int = 6
    augment: bool = True
    amp: bool = True
    percentiles: tuple = (0.5, 99.5)
    sw_overlap: float = 0.5
    sw_batch_size: int = 2
    bootstrap_planes: int = 0
    bootstrap_min_probability: float = 0.8
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ("unet", "basicunet"):
            raise InputError(f"architecture={self.architecture!r}; expected 'unet' or 'basicunet'")
        if self.optimizer not in ("adamw", "adadelta"):
            raise InputError(f"optimizer={self.optimizer!r}; expected 'adamw' or 'adadelta'")
        if len(self.patch_size) != 3 or min(self.patch_size) < 8:
            raise InputError(f"patch_size={self.patch_size!r}; expected 3 sizes >= 8 (z, y, x)")
        if self.architecture == "unet":
            if len(self.channels) < 2 or len(self.strides) != len(self.channels) - 1:
                raise InputError(
                    f"channels={self.channels!r}, strides={self.strides!r}: UNet needs >= 2 channel values "
                    "and len(channels) - 1 strides"
                )
            factor = 1
            for s in self.strides:
                factor *= int(s)
            if any(int(p) % factor for p in self.patch_size):
                raise InputError(f"patch_size={self.patch_size!r} must be divisible by the total stride {factor}")
        elif len(self.channels) != 6:
            raise InputError(f"channels={self.channels!r}; BasicUNet needs 6 feature values")
        from liberation.segmentation.features import parse_feature

        for name in self.input_features:
            parse_feature(name)
        if self.norm not in ("batch", "instance", "none"):
            raise InputError(f"norm={self.norm!r}; expected 'batch', 'instance' or 'none'")
        if not 0.0 <= self.context_margin < 0.5:
            raise InputError(f"context_margin={self.context_margin!r}; expected 0 <= value < 0.5")
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"val_fraction={self.val_fraction!r}; expected 0 < value < 1")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            raise InputError(f"ema_decay={self.ema_decay!r}; expected 0 (off) <= value < 1")
        if int(self.head_channels) < 0:
            raise InputError(f"head_channels={self.head_channels!r}; expected 0 (no head) or a positive number")
        if int(self.bootstrap_planes) < 0:
            raise InputError(f"bootstrap_planes={self.bootstrap_planes!r}; expected 0 (none) or a positive number")
        if not 0.0 <= float(self.bootstrap_min_probability) < 1.0:
            raise InputError(f"bootstrap_min_probability={self.bootstrap_min_probability!r}; expected 0 <= value < 1")
        for name in ("batch_size", "steps_per_epoch", "max_epochs", "keep_best", "val_patches"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name}={getattr(self, name)!r}; expected a positive integer")
        if self.max_time_s is not None and not float(self.max_time_s) > 0:
            raise InputError(f"max_time_s={self.max_time_s!r}; expected a positive number of seconds or None (no limit)")

    @property
    def total_steps(self) -> int:
        """The defined work: ``max_epochs * steps_per_epoch`` optimiser steps."""
        return int(self.max_epochs) * int(self.steps_per_epoch)

    def to_dict(self) -> dict:
        """JSON-friendly dict of all fields."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    def updated(self, **changes) -> TrainConfig:
        """Copy with some fields changed (``None`` values are ignored)."""
        changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in changes.items() if v is not None}
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(self.__dataclass_fields__)}")
        return replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    # trains a 128^3 sample in minutes on 2 CPU cores: texture stem of five filters, batch
    # norm (keeps the absolute grey level, unlike instance norm), thin patches around the
    # labelled planes, 8 extra planes labelled by the pixel-classifier bootstrap, a constant
    # learning rate for the whole run (the validation band of two end faces is a
    # shifted domain: plateau halving and early stopping on it stopped learning far too
    # early), and only exact augmentations (flips, 90-degree rotations): resampling for zoom
    # or shear blurs a 4-voxel lamella texture, and a 3 % intensity shift is three times the
    # quartz / albite grey-value difference. A full-resolution per-voxel head (MONAI's UNet
    # down-samples in its first layer) and a moving average of the weights (the raw weights
    # jitter at a constant learning rate) complete it. The work, 65 epochs x 50 steps, is what
    # the former 480 s budget ran on an idle 2-core machine (2 threads, 128^3 phantom, 0.932
    # interior accuracy; docs/performance_segmentation.md): about 8 minutes there
    "cpu": TrainConfig(channels=(16, 32, 64), input_features=("gauss1", "std0.7", "std1", "std2", "gauss2.5"),
                       head_channels=16, ema_decay=0.995, norm="batch", lr=3e-3,
                       patch_size=(16, 64, 64), steps_per_epoch=50, max_epochs=65, early_stopping=1000,
                       plateau_patience=1000, bootstrap_planes=8,
                       extra={"augment": {"p_affine": 0.0, "scale": 0.0, "shift": 0.0, "noise": 0.0}}),
    # one GPU, sized for real scans (1e9 voxels, e.g. 1000^3): the cpu preset's recipe (texture
    # stem, batch norm, per-voxel head, weight average, constant learning rate, exact
    # augmentations only, 8 bootstrap planes) with a deeper network (4 levels, 2 residual
    # units) and larger patches (48 x 128 x 128: more context across a 1000-voxel face), all
    # of the defined work (200 epochs x 50 steps x batch 4, no early stopping). Training work
    # does not grow with the scan (patches around the labelled planes); inference does
    # (sliding windows over the volume, sw_batch_size windows per forward pass). Expected
    # time on a 1000^3 scan: an ESTIMATE from the network's FLOPs and the CPU throughput
    # measured here (no GPU was available), docs/segmentation.md
    "gpu": TrainConfig(channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2, patch_size=(48, 128, 128),
                       input_features=("gauss1", "std0.7", "std1", "std2", "gauss2.5"), norm="batch",
                       head_channels=16, ema_decay=0.999, lr=1e-3,
                       batch_size=4, steps_per_epoch=50, max_epochs=200, early_stopping=1000,
                       plateau_patience=1000, bootstrap_planes=8, val_patches=16, sw_batch_size=8,
                       extra={"augment": {"p_affine": 0.0, "scale": 0.0, "shift": 0.0, "noise": 0.0}}),
    # the Deep-XFCT recipe: Adadelta lr 1.0, halved after 10 epochs without improvement, 5 best kept
    "deep-xfct": TrainConfig(optimizer="adadelta", lr=1.0, weight_decay=0.0, plateau_patience=10,
                             plateau_factor=0.5, keep_best=5, early_stopping=30, max_epochs=200),
    # for tests: a tiny network
    "tiny": TrainConfig(channels=(4, 8), strides=(2,), num_res_units=0, patch_size=(16, 16, 16), batch_size=2,
                        steps_per_epoch=4, max_epochs=3, val_patches=2, early_stopping=5),
}


def get_preset(name: str, **overrides) -> TrainConfig:
    """Return preset ``name`` (``cpu``, ``gpu``, ``deep-xfct``, ``tiny``) with fields overridden."""
    if name not in PRESETS:
        raise InputError(f"preset={name!r} is unknown; expected one of {sorted(PRESETS)}")
    return PRESETS[name].updated(**overrides)
