"""Restormer components used as the backbone of the fusion network.

Zamir et al., "Restormer: Efficient Transformer for High-Resolution Image
Restoration", CVPR 2022: multi-Dconv head transposed attention (MDTA, attention
across channels, so cost is linear in H·W), gated-Dconv feed-forward network
(GDFN), and the down/up-sampling used by DSPFusion (§III-C, Fig. 2).

DSPFusion's code carries an optional prior-FiLM inside these blocks that its
released configuration never activates; we do not implement it
(DSPFUSION.md §3.4, §6.1.7). All convolutions are bias-free as in the paper config.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm, cosine_from_gram, squared_norms
from .tile_statistics import current


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, C, H, W]`` → ``[B, heads, C/heads, H·W]``."""
    b, c, h, w = x.shape
    return x.reshape(b, heads, c // heads, h * w)


def transposed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, temperature: torch.Tensor) -> torch.Tensor:
    """Channel ("transposed") attention. q, k, v: ``[B, C, H, W]`` → ``[B, C, H, W]``.

    Per head, q and k are L2-normalised over H·W, A = softmax(τ · q kᵀ) is (C/h)×(C/h).
    Computed as q kᵀ divided by the outer product of the norms, which equals normalising first
    (``F.normalize``, floor 1e-12) up to float rounding but never writes normalised copies of q and k.
    Inside tiled inference the norms and q kᵀ are the whole image's (:mod:`.tile_statistics`).
    """
    b, c, h, w = q.shape
    stats = current()
    if stats is None:
        gram = _heads(q, heads) @ _heads(k, heads).transpose(-2, -1)
        cos = cosine_from_gram(gram, squared_norms(q, heads), squared_norms(k, heads))
    else:
        cos = stats.cosine(q, k, heads)
    out = (cos * temperature).softmax(dim=-1) @ _heads(v, heads)
    return out.reshape(b, c, h, w)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention. ``[B,C,H,W]`` → ``[B,C,H,W]``."""

    def __init__(self, dim: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        return self.project_out(transposed_attention(q, k, v, self.heads, self.temperature))


class GDFN(nn.Module):
    """Gated-Dconv feed-forward: 1×1 → DW3×3 → GELU(a)·b → 1×1, hidden = int(dim · expansion)."""

    def __init__(self, dim: int, expansion: float, bias: bool = False) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class TransformerBlock(nn.Module):
    """x + MDTA(LN x), then x + GDFN(LN x)."""

    def __init__(self, dim: int, heads: int, expansion: float, bias: bool = False) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim)
        self.attn = MDTA(dim, heads, bias)
        self.norm2 = LayerNorm(dim)
        self.ffn = GDFN(dim, expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Downsample(nn.Module):
    """``[B,C,H,W]`` → ``[B,2C,H/2,W/2]``: 3×3 conv to C/2, then pixel-unshuffle."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim // 2, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(self.conv(x), 2)


class Upsample(nn.Module):
    """``[B,C,H,W]`` → ``[B,C/2,2H,2W]``: 3×3 conv, bilinear ×2 (align_corners=True), 3×3 conv with bias."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim // 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(dim // 2, dim // 2, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        stats = current()  # tiled inference: sample on the whole image's grid
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True) if stats is None else stats.upsample2x(x)
        return self.conv2(x)
