"""The compact prior encoder shared by SPEN and DPEN (paper §III-B, Fig. 2).

Image ``[B, in, H, W]`` → prior tokens ``[B, grid², out_dim]``:

1. stem: Conv7×7 stride 4 (in → stem_dim) → GELU → Conv3×3 (→ embed_dim) → GELU  (H/4 × W/4)
2. ``num_blocks`` residual blocks ``x + Conv3(GELU(Conv3(x)))`` (no activation after the add)
3. Conv3×3, adaptive average pooling to grid × grid, flattened row-major to tokens
4. one MLP-Mixer block, then Linear(embed_dim → out_dim) → GELU

The pooling to a fixed 4×4 grid is what makes the prior size independent of the
image size; the official code calls the grid ``group``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import PriorEncoderConfig
from .common import MixerBlock


class ResidualBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.act = nn.GELU()
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class PriorEncoder(nn.Module):
    """``[B, in_chans, H, W]`` → ``[B, grid², out_dim]`` prior tokens."""

    def __init__(self, cfg: PriorEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.in_chans, cfg.stem_dim, 7, stride=4, padding=3),
            nn.GELU(),
            nn.Conv2d(cfg.stem_dim, cfg.embed_dim, 3, padding=1),
            nn.GELU(),
        )
        self.blocks = nn.Sequential(*[ResidualBlock(cfg.embed_dim) for _ in range(cfg.num_blocks)])
        self.conv_out = nn.Conv2d(cfg.embed_dim, cfg.embed_dim, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(cfg.grid)
        self.mixer = MixerBlock(
            cfg.num_tokens, cfg.embed_dim, cfg.token_hidden, cfg.embed_dim * cfg.channel_expansion
        )
        self.head = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.out_dim), nn.GELU())

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_out(self.blocks(self.stem(x)))
        x = self.pool(x).flatten(2).transpose(1, 2)  # [B, grid², embed_dim]
        return self.head(self.mixer(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x)
