"""Convolution blocks of the belt segmenter: conv-BN-act, universal inverted bottleneck (MobileNetV4)."""

from __future__ import annotations

from torch import nn

__all__ = ["ConvBNAct", "SeparableConv", "UniversalInvertedBottleneck"]


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
