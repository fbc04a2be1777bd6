"""Cross-shaped window self-attention (CSWin style) for 2D feature maps.

Half of the heads attend inside horizontal stripes (``stripe`` rows by ``length``
columns), the other half inside vertical stripes (``length`` rows by ``stripe``
columns), in parallel; the two halves are concatenated, as in the CSWin Transformer.
Positions are encoded by a depthwise conv on the values (LePE). Feature maps of any
size are handled by padding to whole windows and masking the padded keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CrossShapedWindowAttention"]


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
