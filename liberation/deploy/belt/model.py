"""Mineral-DeepLabV3+-style belt segmenter: MobileNetV4-style backbone, (S-)ASPP, CSWin attention, V3+ decoder.

Input: ``(N, in_channels, H, W)`` float32 log attenuation with H and W multiples of 32
(:class:`~liberation.deploy.belt.runtime.BeltRuntime` pads frames). Output: logits
``(N, num_classes, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liberation.deploy.belt.config import BeltSegmenterConfig
from liberation.deploy.belt.layers import ASPP, ConvBNAct, CrossShapedWindowAttention, SeparableConv
from liberation.deploy.belt.layers import UniversalInvertedBottleneck as UIB

__all__ = ["BeltBackbone", "BeltSegmenter", "build_belt_segmenter", "count_parameters"]

#: Spatial sizes of the input must be multiples of this.
BELT_SIZE_MULTIPLE = 32


class BeltBackbone(nn.Module):
    """MobileNetV4-conv-small-like feature extractor with output stride 16.

    Returns ``(low, high)``: stride-4 features (``widths[1]`` channels) and stride-16
    features (``widths[4]`` channels; the last stage is dilated instead of strided).
    """

    def __init__(self, in_channels: int, widths):
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.stem = ConvBNAct(in_channels, w0, 3, stride=2)
        # stride 4: fused inverted bottleneck (full 3x3 expand conv), then an ExtraDW UIB
        self.stage1 = nn.Sequential(
            ConvBNAct(w0, 2 * w0, 3, stride=2), ConvBNAct(2 * w0, w1, 1, act=False),
            UIB(w1, w1, start_k=3, mid_k=3, expand=2.0),
        )
        self.stage2 = nn.Sequential(
            UIB(w1, w2, start_k=3, mid_k=5, expand=4.0, stride=2),
            UIB(w2, w2, start_k=0, mid_k=3, expand=3.0),
        )
        self.stage3 = nn.Sequential(
            UIB(w2, w3, start_k=3, mid_k=5, expand=4.0, stride=2),
            UIB(w3, w3, start_k=5, mid_k=3, expand=3.0),
            UIB(w3, w3, start_k=3, mid_k=0, expand=3.0),
            UIB(w3, w3, start_k=0, mid_k=0, expand=2.0),
        )
        self.stage4 = nn.Sequential(
            UIB(w3, w4, start_k=3, mid_k=5, expand=4.0, dilation=2),
            UIB(w4, w4, start_k=5, mid_k=3, expand=3.0, dilation=2),
            UIB(w4, w4, start_k=0, mid_k=3, expand=3.0, dilation=4),
        )

    def forward(self, x):
        low = self.stage1(self.stem(x))
        high = self.stage4(self.stage3(self.stage2(low)))
        return low, high


class BeltSegmenter(nn.Module):
    """DeepLabV3+ with switchable S-ASPP / ASPP and CSWin attention (see :class:`BeltSegmenterConfig`)."""

    def __init__(self, config: BeltSegmenterConfig):
        super().__init__()
        self.config = config
        c = config
        self.backbone = BeltBackbone(c.in_channels, c.widths)
        if c.aspp == "none":
            self.aspp = ConvBNAct(c.widths[4], c.aspp_channels, 1)
        else:
            s = c.aspp == "s-aspp"
            self.aspp = ASPP(c.widths[4], c.aspp_channels, rates=c.rates, gated=s, cascade=s)
        lengths = c.stripe_length or (None, None)
        self.attn_deep = (CrossShapedWindowAttention(c.aspp_channels, heads=c.heads, stripe=c.stripe[0],
                                                     length=lengths[0])
                          if c.attention in ("both", "deep") else nn.Identity())
        self.low = ConvBNAct(c.widths[1], c.low_level_channels, 1)
        self.attn_shallow = (CrossShapedWindowAttention(c.low_level_channels, heads=c.heads, stripe=c.stripe[1],
                                                        length=lengths[1])
                             if c.attention in ("both", "shallow") else nn.Identity())
        self.decoder = nn.Sequential(
            SeparableConv(c.aspp_channels + c.low_level_channels, c.decoder_channels),
            SeparableConv(c.decoder_channels, c.decoder_channels),
        )
        self.classifier = nn.Conv2d(c.decoder_channels, c.num_classes, 1)

    def forward(self, x):
        low, high = self.backbone(x)
        deep = self.attn_deep(self.aspp(high))
        deep = F.interpolate(deep, scale_factor=4.0, mode="bilinear", align_corners=False)
        low = self.attn_shallow(self.low(low))
        y = self.classifier(self.decoder(torch.cat([deep, low], dim=1)))
        return F.interpolate(y, scale_factor=4.0, mode="bilinear", align_corners=False)


def build_belt_segmenter(config: BeltSegmenterConfig | None = None, *, seed: int | None = 0) -> BeltSegmenter:
    """Build the segmenter with deterministic initial weights.

    Parameters
    ----------
    config : BeltSegmenterConfig, optional
        Architecture; default the ``"small"`` preset.
    seed : int, optional
        Seed of the weight initialisation (a local generator; global state is restored).
    """
    config = config or BeltSegmenterConfig()
    if seed is None:
        return BeltSegmenter(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return BeltSegmenter(config)


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``model``."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))
