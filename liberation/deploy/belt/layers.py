"""Layers of the belt segmenter.

Convolution blocks (conv-BN-act, separable conv, MobileNetV4 universal inverted
bottleneck), atrous spatial pyramid pooling (plain DeepLabV3+ ASPP and the gated,
cascaded S-ASPP) and cross-shaped window self-attention.

Cross-shaped window attention (CSWin style): half of the heads attend inside horizontal stripes (``stripe`` rows by ``length``
columns), the other half inside vertical stripes (``length`` rows by ``stripe``
columns), in parallel; the two halves are concatenated, as in the CSWin Transformer.
Positions are encoded by a depthwise conv on the values (LePE). Feature maps of any
size are handled by padding to whole windows and masking the padded keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ASPP", "ConvBNAct", "CrossShapedWindowAttention", "SeparableConv", "UniversalInvertedBottleneck"]


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + optional ReLU6."""

    def __init__(self, cin: int, cout: int, k: int = 3, *, stride: int = 1, groups: int = 1, dilation: int = 1,
                 act: bool = True):
        pad = dilation * (k - 1) // 2
        layers = [nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 (optionally dilated) then pointwise conv, each with BN + ReLU6 (atrous separable conv)."""

    def __init__(self, cin: int, cout: int, *, dilation: int = 1):
        super().__init__(ConvBNAct(cin, cin, 3, groups=cin, dilation=dilation), ConvBNAct(cin, cout, 1))


class UniversalInvertedBottleneck(nn.Module):
    """MobileNetV4 universal inverted bottleneck (UIB).

    ``[start depthwise k1] -> 1x1 expand -> [middle depthwise k2, stride] -> 1x1 project``;
    with both depthwise convs it is the *ExtraDW* block, with only the middle one the
    classic inverted bottleneck (IB), with only the start one *ConvNext*-like, with none
    an FFN. Residual when stride is 1 and channels match.

    Parameters
    ----------
    cin, cout : int
        Channels in and out.
    start_k, mid_k : int
        Kernel sizes of the optional depthwise convs (0 = absent).
    expand : float
        Expansion ratio of the hidden channels.
    stride : int
        Stride (applied by the middle depthwise conv, else by the start one).
    dilation : int
        Dilation of the middle depthwise conv.
    """

    def __init__(self, cin: int, cout: int, *, start_k: int = 3, mid_k: int = 3, expand: float = 4.0,
                 stride: int = 1, dilation: int = 1):
        super().__init__()
        hidden = max(8, int(round(cin * expand / 8.0)) * 8)
        start_stride = stride if not mid_k else 1
        self.start = ConvBNAct(cin, cin, start_k, stride=start_stride, groups=cin, act=False) if start_k else nn.Identity()
        self.expand = ConvBNAct(cin, hidden, 1)
        self.mid = (ConvBNAct(hidden, hidden, mid_k, stride=stride, groups=hidden, dilation=dilation)
                    if mid_k else nn.Identity())
        self.project = ConvBNAct(hidden, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.mid(self.expand(self.start(x))))
        return x + y if self.residual else y



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



def _attend(q, k, v, scale: float, key_bias):
    attn = torch.softmax((q * scale) @ k.transpose(-2, -1) + key_bias, dim=-1)
    return attn @ v


class CrossShapedWindowAttention(nn.Module):
    """CSWin block: BN -> cross-shaped stripe attention (+ LePE) -> residual -> BN -> MLP -> residual.

    Parameters
    ----------
    dim : int
        Channels (a multiple of ``heads``).
    heads : int
        Heads (even; half per direction).
    stripe : int
        Stripe width in feature-map pixels.
    length : int or None
        Stripe segment length; None = full row/column.
    mlp_ratio : float
        Hidden expansion of the MLP.
    """

    def __init__(self, dim: int, *, heads: int = 4, stripe: int = 2, length: int | None = None, mlp_ratio: float = 2.0):
        super().__init__()
        self.dim, self.heads, self.stripe, self.length = dim, heads, stripe, length
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.norm1 = nn.BatchNorm2d(dim)
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        half = dim // 2
        self.lepe_h = nn.Conv2d(half, half, 3, padding=1, groups=half)
        self.lepe_v = nn.Conv2d(half, half, 3, padding=1, groups=half)
        self.proj = nn.Conv2d(dim, dim, 1)
        hidden = int(dim * mlp_ratio)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def _stripes(self, q, k, v, wh: int | None, ww: int | None, heads: int):
        """Attention inside non-overlapping windows of wh x ww pixels; q, k, v are (B, c, H, W).

        ``None`` = the whole height / width. Maps that are not a multiple of the window are
        zero-padded at the bottom / right and the padded keys are masked out, so every
        query attends exactly to the valid pixels of its window, whatever the frame size.
        All sizes are shape arithmetic (no Python branching on the input size), so the
        ONNX export keeps the same windows at every frame size.
        """
        b, c, h, w = q.shape
        d = c // heads
        wh = h if wh is None else wh
        ww = w if ww is None else ww
        pad_h = (wh - h % wh) % wh
        pad_w = (ww - w % ww) % ww
        hp, wp = h + pad_h, w + pad_w
        valid = F.pad(torch.ones_like(q[:1, :1]), (0, pad_w, 0, pad_h))
        q, k, v = (F.pad(t, (0, pad_w, 0, pad_h)) for t in (q, k, v))

        def split(t, n_heads, depth):
            t = t.reshape(t.shape[0], n_heads, depth, hp // wh, wh, wp // ww, ww)
            return t.permute(0, 3, 5, 1, 4, 6, 2).reshape(-1, n_heads, wh * ww, depth)

        key_bias = (split(valid, 1, 1).transpose(-2, -1) - 1.0) * 1.0e4  # (windows, 1, 1, wh*ww)
        key_bias = key_bias.repeat(b, 1, 1, 1)
        out = _attend(split(q, heads, d), split(k, heads, d), split(v, heads, d), self.scale, key_bias)
        out = out.reshape(b, hp // wh, wp // ww, heads, wh, ww, d).permute(0, 3, 6, 1, 4, 2, 5)
        return out.reshape(b, c, hp, wp)[:, :, :h, :w]

    def forward(self, x):
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=1)
        half = self.dim // 2
        hh = self.heads // 2
        length = self.length
        out_h = self._stripes(q[:, :half], k[:, :half], v[:, :half], self.stripe, length, hh) + self.lepe_h(v[:, :half])
        out_v = self._stripes(q[:, half:], k[:, half:], v[:, half:], length, self.stripe, hh) + self.lepe_v(v[:, half:])
        x = x + self.proj(torch.cat([out_h, out_v], dim=1))
        return x + self.mlp(self.norm2(x))
