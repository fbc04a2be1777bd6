"""The model card: everything needed to apply and judge a trained model (JSON, no torch).

:class:`ModelCard` is the in-memory form used by training and inference; on disk it is
the package's one model card (:mod:`liberation.model_folder`) of kind ``phases-unet`` or
``particles-unet``. Cards written before that format (the fields of this class at the
top level) are still read.
"""

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

    def _colours(self) -> list | None:
        """Display colour of each class from the minerals (None where unknown), or None without minerals."""
        if not self.minerals:
            return None
        by_id = {int(p["label-value"]): p.get("color") for p in self.minerals if "label-value" in p}
        return [by_id.get(int(i)) for i in self.class_ids]

    def to_model_card(self, *, extra: dict | None = None) -> dict:
        """This card in the package's model card format (see :mod:`liberation.model_folder`).

        Parameters
        ----------
        extra : dict, optional
            More entries for the card's ``extra`` (e.g. the kept checkpoints).
        """
        from liberation.model_folder import make_card, make_classes

        card = make_card(
            f"{self.task}-unet",
            architecture=self.network,
            classes=make_classes(self.class_names, ids=self.class_ids, colours=self._colours()),
            input={"channels": self.in_channels, "voxel_size_um": self.voxel_size_um,
                   "patch_size": self.patch_size, "normalization": self.normalization},
            training=self.training,
            metrics=self.validation,
            extra={"minerals": self.minerals, "card_version": self.card_version, **(extra or {})},
        )
        if self.library_version:
            card["library_version"] = self.library_version
        return card

    @classmethod
    def from_model_card(cls, card: dict) -> ModelCard:
        """The inverse of :meth:`to_model_card` (a card of kind ``phases-unet`` or ``particles-unet``)."""
        kind = card.get("kind")
        if kind not in ("phases-unet", "particles-unet"):
            raise FileFormatError(f"model card of kind {kind!r}; expected a 3D U-Net ('phases-unet' or "
                                  "'particles-unet')")
        inp = card["input"]
        missing = [k for k in ("channels", "voxel_size_um", "patch_size", "normalization") if k not in inp]
        if missing:
            raise FileFormatError(f"model card input lacks {missing}; expected a 3D U-Net card")
        extra = card.get("extra") or {}
        return cls(task=kind.removesuffix("-unet"), class_ids=[int(c["id"]) for c in card["classes"]],
                   class_names=[str(c["name"]) for c in card["classes"]], in_channels=int(inp["channels"]),
                   patch_size=list(inp["patch_size"]), voxel_size_um=list(inp["voxel_size_um"]),
                   normalization=dict(inp["normalization"]), network=dict(card["architecture"]),
                   minerals=extra.get("minerals"), training=dict(card.get("training") or {}),
                   validation=dict(card.get("metrics") or {}), library_version=str(card.get("library_version", "")),
                   card_version=int(extra.get("card_version", CARD_VERSION)))

    @classmethod
    def from_dict(cls, data: dict) -> ModelCard:
        required = ("task", "class_ids", "class_names", "in_channels", "patch_size", "voxel_size_um",
                    "normalization", "network")
        missing = [k for k in required if k not in data]
        if missing:
            raise FileFormatError(f"model card is missing {missing}; expected a liberation model card")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @staticmethod
    def upgrade(data: dict) -> dict:
        """A card of the old shape (this class's fields at the top level) in the current format."""
        old = ModelCard.from_dict(data)
        checkpoints = data.get("checkpoints")
        return old.to_model_card(extra={"checkpoints": checkpoints} if checkpoints is not None else None)

    def mineral_list(self):
        """The minerals as a :class:`~liberation.minerals.MineralList`, or None."""
        if not self.minerals:
            return None
        from liberation.minerals import MineralList

        return MineralList.from_properties(self.minerals)
