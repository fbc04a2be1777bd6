"""The model card: everything needed to apply and judge a trained model (JSON, no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from liberation.errors import FileFormatError

__all__ = ["ModelCard", "CARD_VERSION"]

CARD_VERSION = 1


@dataclass
class ModelCard:
    """Description of a trained segmentation model.

    Attributes
    ----------
    task : {"phases", "particles"}
        What the network predicts.
    class_ids : list of int
        Label value of each output channel (phases: 0 void + mineral ids; particles:
        0 outside, 1 particle, 2 contact zone).
    class_names : list of str
    minerals : list of dict or None
        ``image-label`` properties of the minerals (names, densities, colours) for the
        phases written at inference.
    in_channels : int
    patch_size : list of 3 int
        Training patch and sliding-window size (z, y, x).
    voxel_size_um : list of 3 float
        Voxel size the model was trained at (µm).
    normalization : dict
        Robust percentile normalisation (see :func:`robust_percentiles`).
    network : dict
        Network parameters (see :func:`liberation.segmentation.model.network_params`).
    training : dict
        Training configuration, data split, device, time, epochs.
    validation : dict
        Validation metrics of the kept (best) model.
    library_version : str
    """

    task: str
    class_ids: list
    class_names: list
    in_channels: int
    patch_size: list
    voxel_size_um: list
    normalization: dict
    network: dict
    minerals: list | None = None
    training: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    library_version: str = ""
    card_version: int = CARD_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelCard:
        required = ("task", "class_ids", "class_names", "in_channels", "patch_size", "voxel_size_um",
                    "normalization", "network")
        missing = [k for k in required if k not in data]
        if missing:
            raise FileFormatError(f"model card is missing {missing}; expected a liberation model card")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def mineral_list(self):
        """The minerals as a :class:`~liberation.minerals.MineralList`, or None."""
        if not self.minerals:
            return None
        from liberation.minerals import MineralList

        return MineralList.from_properties(self.minerals)
