"""Dual-tower CNN for dual-energy XRT ore/waste classification (torch; import lazily).

After Guo et al. (2025, Minerals 15, 1150): one tower per energy built from improved residual
blocks with channel and spatial attention, the two energies fused at the data, feature or
decision level or in a hybrid way, and a classifier head that is an MLP or a Kolmogorov-Arnold
network (KAN) whose edges are Chebyshev polynomials, with 2, 4 or 6 layers.

Input: transmission images ``I / I0`` of shape ``(n, 2, y, x)``, channel 0 = high energy,
channel 1 = low energy; the network takes ``-ln(T)`` itself, so an exported model eats detector
images directly. Output: one logit per image (ore if ``sigmoid(logit) >= 0.5``).

Fusion modes (``fusion=``):

``data``
    one tower on the 2-channel stack (fusion before any convolution).
``feature``
    two towers; their pooled features are concatenated before the head.
``decision``
    two towers, each with its own head; the logits are averaged.
``hybrid`` (default)
    two towers exchanging information pixel by pixel after the first stage (a 1x1 convolution
    over both towers' maps is added back to each), then feature-level fusion. This lets the
    network form per-pixel ratios of the two energies, as the R-value does, and still keep a
    tower per energy.
``high`` / ``low``
    single-energy ablations: one tower on one channel.

The default configuration (widths 24-48-96-176, hybrid fusion, 6-layer Chebyshev-KAN head)
has about 1.33 M parameters, like the paper's 1.32 M.
"""

from __future__ import annotations

import torch
from torch import nn

from liberation.errors import InputError

__all__ = [
    "FUSIONS",
    "HEADS",
    "DEFAULT_CONFIG",
    "ChannelAttention",
    "SpatialAttention",
    "AttentionResidualBlock",
    "Tower",
    "ChebyKANLayer",
    "make_head",
    "DualEnergyNet",
    "build_dual_energy_net",
    "count_parameters",
]

FUSIONS = ("data", "feature", "decision", "hybrid", "high", "low")
HEADS = ("mlp", "kan")
DEFAULT_CONFIG = {
    "fusion": "hybrid",
    "head": "kan",
    "head_layers": 6,
    "widths": (24, 48, 96, 176),
    "hidden": 32,
    "kan_degree": 3,
}


class ChannelAttention(nn.Module):
    """Channel attention (CBAM): shared MLP on average- and max-pooled channels, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        mid = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, mid, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Conv2d(mid, channels, 1, bias=False))

    def forward(self, x):
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """Spatial attention (CBAM): a 7x7 convolution over the channel mean and max, sigmoid gate."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(s))


class AttentionResidualBlock(nn.Module):
    """Improved residual block: conv-BN-ReLU-conv-BN, channel then spatial attention, projection shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.ca = ChannelAttention(out_ch)
        self.sa = SpatialAttention()
        if stride != 1 or in_ch != out_ch:
            self.short = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        else:
            self.short = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.sa(self.ca(self.body(x))) + self.short(x))


class Tower(nn.Module):
    """One energy's feature extractor: a 3x3 stem and one attention residual block per width.

    The first stage keeps the resolution; each later stage halves it. ``forward_stem`` /
    ``forward_rest`` split it after the first stage for the hybrid exchange.
    """

    def __init__(self, in_ch: int, widths=(24, 48, 96, 176)):
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(nn.Conv2d(in_ch, w0, 3, padding=1, bias=False), nn.BatchNorm2d(w0),
                                  nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        prev = w0
        for i, w in enumerate(widths):
            self.stages.append(AttentionResidualBlock(prev, w, stride=1 if i == 0 else 2))
            prev = w
        self.out_features = prev

    def forward_stem(self, x):
        return self.stages[0](self.stem(x))

    def forward_rest(self, x):
        for stage in self.stages[1:]:
            x = stage(x)
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self.forward_rest(self.forward_stem(x))


class ChebyKANLayer(nn.Module):
    """KAN layer with Chebyshev-polynomial edges.

    Each input is squashed to [-1, 1] by ``tanh`` and expanded into ``T_0 .. T_degree``; every
    edge (input i, output j) is the learned function ``sum_k c_ijk T_k(tanh x_i)``, and output j
    sums its edges. Written as one matrix product so it exports to ONNX.
    """

    def __init__(self, in_features: int, out_features: int, degree: int = 3):
        super().__init__()
        if degree < 1:
            raise InputError(f"kan_degree={degree!r}; expected an integer >= 1")
        self.in_features, self.out_features, self.degree = in_features, out_features, degree
        self.coeffs = nn.Parameter(torch.empty(in_features * (degree + 1), out_features))
        nn.init.normal_(self.coeffs, std=1.0 / (in_features * (degree + 1)) ** 0.5)

    def forward(self, x):
        x = torch.tanh(x)
        terms = [torch.ones_like(x), x]
        for _ in range(2, self.degree + 1):
            terms.append(2 * x * terms[-1] - terms[-2])
        t = torch.stack(terms[: self.degree + 1], dim=-1)  # (batch, in, degree+1)
        return t.flatten(1) @ self.coeffs


def make_head(in_features: int, *, kind: str = "kan", layers: int = 2, hidden: int = 32, degree: int = 3,
              out_features: int = 1) -> nn.Module:
    """Classifier head: ``layers`` MLP (Linear+ReLU) or Chebyshev-KAN layers (LayerNorm between)."""
    if kind not in HEADS:
        raise InputError(f"head={kind!r}; expected one of {HEADS}")
    if int(layers) < 1:
        raise InputError(f"head_layers={layers!r}; expected a positive integer (the paper uses 2, 4 or 6)")
    dims = [in_features] + [hidden] * (int(layers) - 1) + [out_features]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        if kind == "mlp":
            mods.append(nn.Linear(a, b))
            if not last:
                mods.append(nn.ReLU(inplace=True))
        else:
            mods.append(ChebyKANLayer(a, b, degree))
            if not last:
                mods.append(nn.LayerNorm(b))
    return nn.Sequential(*mods)


class DualEnergyNet(nn.Module):
    """Dual-tower dual-energy classifier; see the module docstring for the fusion modes."""

    def __init__(self, *, fusion: str = "hybrid", head: str = "kan", head_layers: int = 6,
                 widths=(24, 48, 96, 176), hidden: int = 32, kan_degree: int = 3):
        super().__init__()
        if fusion not in FUSIONS:
            raise InputError(f"fusion={fusion!r}; expected one of {FUSIONS}")
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 4:
            raise InputError(f"widths={widths!r}; expected one or more channel counts >= 4")
        self.fusion = fusion
        self.config = {"fusion": fusion, "head": head, "head_layers": int(head_layers), "widths": widths,
                       "hidden": int(hidden), "kan_degree": int(kan_degree)}
        hk = {"kind": head, "layers": head_layers, "hidden": hidden, "degree": kan_degree}
        if fusion in ("data", "high", "low"):
            self.tower = Tower(2 if fusion == "data" else 1, widths)
            self.head = make_head(self.tower.out_features, **hk)
        else:
            self.tower_high = Tower(1, widths)
            self.tower_low = Tower(1, widths)
            f = self.tower_high.out_features
            if fusion == "decision":
                self.head_high = make_head(f, **hk)
                self.head_low = make_head(f, **hk)
            else:
                self.head = make_head(2 * f, **hk)
            if fusion == "hybrid":
                w0 = widths[0]
                self.exchange = nn.Sequential(nn.Conv2d(2 * w0, 2 * w0, 1, bias=False), nn.BatchNorm2d(2 * w0))

    def forward(self, x):
        """``x``: transmission ``(n, 2, y, x)`` (high, low) -> logits ``(n,)``."""
        a = -torch.log(torch.clamp(x, 1e-4, 1.0))
        if self.fusion == "data":
            return self.head(self.tower(a)).squeeze(1)
        if self.fusion in ("high", "low"):
            ch = 0 if self.fusion == "high" else 1
            return self.head(self.tower(a[:, ch : ch + 1])).squeeze(1)
        ah, al = a[:, 0:1], a[:, 1:2]
        if self.fusion == "hybrid":
            h = self.tower_high.forward_stem(ah)
            lo = self.tower_low.forward_stem(al)
            mix = self.exchange(torch.cat([h, lo], dim=1))
            w0 = h.shape[1]
            h = h + mix[:, :w0]
            lo = lo + mix[:, w0:]
            fh, fl = self.tower_high.forward_rest(h), self.tower_low.forward_rest(lo)
        else:
            fh, fl = self.tower_high(ah), self.tower_low(al)
        if self.fusion == "decision":
            return 0.5 * (self.head_high(fh) + self.head_low(fl)).squeeze(1)
        return self.head(torch.cat([fh, fl], dim=1)).squeeze(1)


def build_dual_energy_net(**config) -> DualEnergyNet:
    """Build a :class:`DualEnergyNet` from :data:`DEFAULT_CONFIG` updated with ``config``."""
    unknown = set(config) - set(DEFAULT_CONFIG)
    if unknown:
        raise InputError(f"unknown model options {sorted(unknown)}; expected some of {sorted(DEFAULT_CONFIG)}")
    return DualEnergyNet(**{**DEFAULT_CONFIG, **config})


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
