"""Atrous spatial pyramid pooling: plain DeepLabV3+ ASPP and the gated, cascaded S-ASPP."""

from __future__ import annotations

import torch
from torch import nn

from liberation.deploy.belt_layers import ConvBNAct, SeparableConv

__all__ = ["ASPP"]


class ASPP(nn.Module):
    """ASPP with optional learned gate and cascade (S-ASPP).

    Branches: a 1x1 conv, one atrous separable 3x3 conv per rate, and global image
    pooling; concatenated and projected by a 1x1 conv.

    With ``gated=True`` a control function (global pooling -> 1x1 -> sigmoid) weights each
    branch per image before fusion; with ``cascade=True`` each atrous branch also sees the
    output of the previous one (denser sampling of the receptive field, feature reuse).
    ``gated=False, cascade=False`` with rates (6, 12, 18) is the DeepLabV3+ ASPP.

    Parameters
    ----------
    cin, cout : int
        Channels in and out (every branch has ``cout`` channels).
    rates : tuple of int
        Dilation rates of the atrous branches.
    gated, cascade : bool
        S-ASPP switches.
    """

    def __init__(self, cin: int, cout: int, *, rates=(3, 9, 15), gated: bool = True, cascade: bool = True):
        super().__init__()
        self.gated, self.cascade = gated, cascade
        self.reduce = ConvBNAct(cin, cout, 1)
        self.atrous = nn.ModuleList(SeparableConv(cout if cascade else cin, cout, dilation=r) for r in rates)
        self.pool = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU6(inplace=True))  # no BN on 1x1 maps
        n = len(rates) + 2
        self.gate = nn.Conv2d(cin, n, 1) if gated else None
        self.project = nn.Sequential(ConvBNAct(n * cout, cout, 1), nn.Dropout(0.1))

    def forward(self, x):
        base = self.reduce(x)
        branches = [base]
        prev = base
        for conv in self.atrous:
            if self.cascade:
                prev = conv(prev + base if prev is not base else base)
            else:
                prev = conv(x)
            branches.append(prev)
        pooled = x.mean(dim=(2, 3), keepdim=True)
        branches.append(self.pool(pooled).expand_as(base))
        if self.gate is not None:
            g = torch.sigmoid(self.gate(pooled))  # (B, n, 1, 1)
            branches = [b * g[:, i : i + 1] for i, b in enumerate(branches)]
        return self.project(torch.cat(branches, dim=1))
