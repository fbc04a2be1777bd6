"""Network construction (MONAI ``UNet`` / ``BasicUNet``, 3D). Imports torch and MONAI."""

from __future__ import annotations

from liberation.errors import InputError, require

__all__ = ["build_network", "network_params"]


def network_params(config, *, in_channels: int, out_channels: int) -> dict:
    """The network part of a :class:`TrainConfig` as a plain dict (stored in the model card)."""
    return {
        "architecture": config.architecture,
        "spatial_dims": 3,
        "in_channels": int(in_channels),
        "out_channels": int(out_channels),
        "channels": [int(c) for c in config.channels],
        "strides": [int(s) for s in config.strides],
        "num_res_units": int(config.num_res_units),
        "norm": str(config.norm),
        "dropout": float(config.dropout),
        "input_features": [str(f) for f in getattr(config, "input_features", ())],
        "head_channels": int(getattr(config, "head_channels", 0)),
    }


def build_network(params: dict):
    """Build the network described by ``params`` (see :func:`network_params`).

    With ``params["input_features"]`` the U-Net is preceded by the fixed filter stem of
    :func:`liberation.segmentation.features.build_feature_stem` (one input channel).
    With ``params["head_channels"] > 0`` the U-Net returns that many feature channels and a
    full-resolution per-voxel head (1x1x1 convolutions) maps them, concatenated with the
    stem's channels, to the class logits (see :func:`_build_head_network`).

    Returns
    -------
    torch.nn.Module
        Maps ``(batch, in_channels, z, y, x)`` to logits ``(batch, out_channels, z, y, x)``.
    """
    torch = require("torch", "ml")
    features = list(params.get("input_features") or [])
    head = int(params.get("head_channels", 0) or 0)
    if features and int(params["in_channels"]) != 1:
        raise InputError(f"input_features={features!r} need one input channel, not {params['in_channels']}")
    if head > 0:
        return _build_head_network(params, features, head)
    if not features:
        return _build_unet(params, int(params["in_channels"]))
    from liberation.segmentation.features import build_feature_stem

    return torch.nn.Sequential(build_feature_stem(features), _build_unet(params, 1 + len(features)))


def _build_head_network(params: dict, features: list, head: int):
    """Stem -> U-Net features -> per-voxel head on [stem channels, U-Net features].

    MONAI's ``UNet`` down-samples in its very first convolution: the only full-resolution
    layers are its last transposed convolution and residual unit, so a texture of a few
    voxels (and every phase boundary) is rebuilt from half-resolution features. The head
    gives the network a full-resolution, per-voxel path: the filter responses of the voxel
    itself next to the U-Net's context features, mixed by two 1x1x1 convolutions.
    """
    torch = require("torch", "ml")
    nn = torch.nn
    if features:
        from liberation.segmentation.features import build_feature_stem

        stem = build_feature_stem(features)
        stem_channels = 1 + len(features)
    else:
        stem = nn.Identity()
        stem_channels = int(params["in_channels"])
    unet = _build_unet({**params, "out_channels": head}, stem_channels)
    norm = str(params.get("norm", "instance"))

    def normalisation(channels):
        # batch norm is per voxel at inference; instance norm would mix all voxels of a
        # window, so the head of an instance-norm network has no normalisation
        return nn.BatchNorm3d(channels) if norm == "batch" else nn.Identity()

    class HeadNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = stem
            self.unet = unet
            self.head = nn.Sequential(
                nn.Conv3d(stem_channels + head, head, kernel_size=1),
                normalisation(head),
                nn.PReLU(),
                nn.Conv3d(head, int(params["out_channels"]), kernel_size=1),
            )

        def forward(self, x):
            stem_out = self.stem(x)
            return self.head(torch.cat([stem_out, self.unet(stem_out)], dim=1))

    return HeadNetwork()


def _build_unet(params: dict, in_channels: int):
    nets = require("monai.networks.nets", "ml")
    arch = params.get("architecture", "unet")
    if arch == "unet":
        return nets.UNet(
            spatial_dims=3,
            in_channels=in_channels,
            out_channels=int(params["out_channels"]),
            channels=tuple(params["channels"]),
            strides=tuple(params["strides"]),
            num_res_units=int(params.get("num_res_units", 1)),
            dropout=float(params.get("dropout", 0.0)),
            norm=None if str(params.get("norm", "instance")) == "none" else str(params.get("norm", "instance")).upper(),
        )
    if arch == "basicunet":
        return nets.BasicUNet(
            spatial_dims=3,
            in_channels=in_channels,
            out_channels=int(params["out_channels"]),
            features=tuple(params["channels"]),
            dropout=float(params.get("dropout", 0.0)),
        )
    raise InputError(f"architecture={arch!r}; expected 'unet' or 'basicunet'")
