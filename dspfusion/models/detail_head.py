"""Full-resolution detail head (ours; not in the paper or the official code).

Why: the CPU presets run the whole U-Net at half resolution (``stem_stride = 2``, see
:mod:`.fusion_net`), so fine edges of the output can come only from the 2×2 sub-pixels of a
3×3 head at half resolution, plus the visible input's residual. IR edges and restored edges
come out soft, and edge-based fusion metrics punish softness hard: on the first 15
RoadScene50 pairs, blurring plain max fusion with a Gaussian of σ = 0.7 px drops its Qabf
from 0.557 to 0.458, and a ×2 down-and-up resampling drops it to 0.343
(``benchmarks/qabf_softness.py``, benchmarks/results/qabf_softness.md).

What: three 3×3 convolutions at full resolution that add a correction to the network's
pre-activation output ``z``::

    feat  = pixel_shuffle(refinement features, r)          [B, 2d/r², H, W]
    delta = conv(GELU(conv(GELU(conv([feat, z, IR, VI])))))   [B, 3, H, W]
    z'    = z + delta           (the caller then applies (tanh(z') + 1) / 2)

The last convolution starts at zero, so a model with the head added behaves exactly like the
same weights without it, and training can continue from a checkpoint that lacks the head.
At 640×480 with 16 channels it costs 1.6 GMAC of the ``lite`` fusion network's 12.6
(counted with ``torch.utils.flop_counter.FlopCounterMode``).

``blocks > 0`` inserts residual blocks ``x + conv(GELU(conv(x)))`` after the second convolution,
each widening the receptive field by 4 pixels (3 convolutions: 7×7; 2 blocks: 15×15). Why: the
VI residual carries the input's pixel noise to the output, and a 7×7 head cannot estimate and
cancel heavy noise (our ``vi_RN`` outputs keep visible grain where the pre-enhance baselines
are clean). Each block's second convolution starts at zero, so blocks can be added to trained
weights without changing their output. Each block costs 1.4 GMAC at 640×480 with 16 channels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DetailHead(nn.Module):
    """(z ``[B,3,H,W]``, features ``[B,C_f,H,W]``, IR, VI ``[B,3,H,W]``) → z + delta ``[B,3,H,W]``."""

    def __init__(self, feat_chans: int, channels: int, io_chans: int = 3, blocks: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(feat_chans + 3 * io_chans, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.blocks = nn.ModuleList(_ResidualBlock(channels) for _ in range(blocks))
        self.conv3 = nn.Conv2d(channels, io_chans, 3, padding=1)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, z: torch.Tensor, feat: torch.Tensor, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv1(torch.cat([feat, z, ir, vi], dim=1)))
        x = F.gelu(self.conv2(x))
        for block in self.blocks:
            x = block(x)
        return z + self.conv3(x)


class _ResidualBlock(nn.Module):
    """x ``[B,C,H,W]`` → x + conv(GELU(conv(x))); the second convolution starts at zero (identity)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.gelu(self.conv1(x)))
