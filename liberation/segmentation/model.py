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
    }


def build_network(params: dict):
    """Build the network described by ``params`` (see :func:`network_params`).

    With ``params["input_features"]`` the U-Net is preceded by the fixed filter stem of
    :func:`liberation.segmentation.features.build_feature_stem` (one input channel).

    Returns
    -------
    torch.nn.Module
        Maps ``(batch, in_channels, z, y, x)`` to logits ``(batch, out_channels, z, y, x)``.
    """
    torch = require("torch", "ml")
    features = list(params.get("input_features") or [])
    if not features:
        return _build_unet(params, int(params["in_channels"]))
    if int(params["in_channels"]) != 1:
        raise InputError(f"input_features={features!r} need one input channel, not {params['in_channels']}")
    from liberation.segmentation.features import build_feature_stem

    return torch.nn.Sequential(build_feature_stem(features), _build_unet(params, 1 + len(features)))


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
