"""Configuration of the belt XRT segmenter (no torch here: readable by the CLI and model cards)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from liberation.errors import InputError

__all__ = ["BELT_PRESETS", "DEPRECATED_PRESETS", "BeltSegmenterConfig", "belt_config_preset"]

_ASPP = ("s-aspp", "aspp", "none")
_ATTN = ("both", "deep", "shallow", "none")


@dataclass
class BeltSegmenterConfig:
    """Architecture of the Mineral-DeepLabV3+-style belt segmenter; every module switchable.

    Attributes
    ----------
    in_channels : int
        Image channels (1 for single-energy XRT attenuation).
    class_names : tuple of str
        Output classes; index 0 is the background (belt).
    widths : tuple of 5 int
        Backbone channels: stem (stride 2), stride 4 (low-level features), stride 8,
        stride 16 (two stages).
    aspp : str
        ``"s-aspp"`` (gated, cascaded atrous branches), ``"aspp"`` (plain DeepLabV3+ ASPP)
        or ``"none"`` (a 1x1 projection).
    rates : tuple of int or None
        Dilation rates; default (3, 9, 15) for S-ASPP and (6, 12, 18) for ASPP.
    aspp_channels : int
        Channels of every ASPP branch and of its output.
    attention : str
        Cross-shaped window self-attention placement: ``"both"`` (after ASPP and on the
        shallow features), ``"deep"``, ``"shallow"`` or ``"none"``.
    heads : int
        Attention heads (even; half attend along rows, half along columns).
    stripe : tuple of 2 int
        Stripe widths (deep, shallow), pixels of the feature map.
    stripe_length : tuple of 2 int or None
        Longest stripe segment (deep, shallow); None = the whole row/column.
    low_level_channels : int
        Channels of the projected low-level features in the decoder.
    decoder_channels : int
        Channels of the decoder convolutions.
    """

    in_channels: int = 1
    class_names: tuple = ("background", "ore", "waste")
    widths: tuple = (16, 24, 48, 80, 128)
    aspp: str = "s-aspp"
    rates: tuple | None = None
    aspp_channels: int = 96
    attention: str = "both"
    heads: int = 4
    stripe: tuple = (2, 2)
    stripe_length: tuple | None = (None, 16)
    low_level_channels: int = 32
    decoder_channels: int = 64
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.class_names = tuple(str(c) for c in self.class_names)
        self.widths = tuple(int(w) for w in self.widths)
        self.stripe = tuple(int(s) for s in self.stripe)
        if self.stripe_length is not None:
            self.stripe_length = tuple(None if s is None else int(s) for s in self.stripe_length)
        if self.rates is None:
            self.rates = (3, 9, 15) if self.aspp == "s-aspp" else (6, 12, 18)
        self.rates = tuple(int(r) for r in self.rates)
        if self.aspp not in _ASPP:
            raise InputError(f"aspp={self.aspp!r} is not known; expected one of {_ASPP}")
        if self.attention not in _ATTN:
            raise InputError(f"attention={self.attention!r} is not known; expected one of {_ATTN}")
        if len(self.class_names) < 2:
            raise InputError(f"class_names={self.class_names!r} needs at least 2 classes (background first)")
        if len(self.widths) != 5 or min(self.widths) < 4:
            raise InputError(f"widths={self.widths!r} must be 5 channel counts of at least 4")
        if self.heads < 2 or self.heads % 2:
            raise InputError(f"heads={self.heads!r} must be an even number of at least 2")
        for name in ("aspp_channels", "low_level_channels"):
            if getattr(self, name) % self.heads:
                raise InputError(f"{name}={getattr(self, name)!r} must be a multiple of heads={self.heads}")
        if not self.rates or min(self.rates) < 1:
            raise InputError(f"rates={self.rates!r} must be positive dilation rates")

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return len(self.class_names)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BeltSegmenterConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"segmenter config has unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**data)


#: Architecture presets, named for what they are for (parameters with the default 3 classes).
BELT_PRESETS: dict[str, dict] = {
    # unit tests and smoke runs: 32 k parameters
    "test": dict(widths=(8, 8, 16, 16, 16), aspp_channels=16, heads=2, low_level_channels=8, decoder_channels=16),
    # CPU training and CPU inference (default): 0.67 M
    "cpu": dict(),
    # an edge GPU (Jetson Orin) at belt frame rates: 2.6 M
    "edge": dict(widths=(24, 48, 96, 160, 256), aspp_channels=192, heads=8, low_level_channels=48,
                 decoder_channels=192),
    # the paper's scale (Mineral-DeepLabV3+, 30.5 M): 30.0 M; GPU training only
    "paper": dict(widths=(80, 160, 320, 640, 960), aspp_channels=512, heads=8, low_level_channels=96,
                  decoder_channels=320),
}
#: Old preset names, still accepted with a DeprecationWarning.
DEPRECATED_PRESETS = {"tiny": "test", "small": "cpu", "base": "edge"}


def belt_config_preset(name: str = "cpu", **overrides) -> BeltSegmenterConfig:
    """Named architectures: ``"test"`` (32 k parameters, tests), ``"cpu"`` (0.67 M, default),
    ``"edge"`` (2.6 M, Jetson Orin class GPUs), ``"paper"`` (30 M, the paper's scale; GPU training only).

    The old names ``tiny``, ``small`` and ``base`` are deprecated aliases of ``test``,
    ``cpu`` and ``edge``.

    Parameters
    ----------
    name : str
        Preset name.
    **overrides
        Fields replaced after the preset (e.g. ``aspp="aspp"``, ``attention="none"``).
    """
    if name in DEPRECATED_PRESETS:
        import warnings

        new = DEPRECATED_PRESETS[name]
        warnings.warn(f"belt preset {name!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=2)
        name = new
    if name not in BELT_PRESETS:
        raise InputError(f"preset={name!r} is not known; expected one of {sorted(BELT_PRESETS)}")
    return BeltSegmenterConfig(**{**BELT_PRESETS[name], **overrides})
