"""Small building blocks shared by several paper modules.

* :class:`LayerNorm` — layer norm over the channel axis of ``[B, C, H, W]`` maps or
  the last axis of ``[B, N, C]`` tokens (Restormer's "WithBias" variant: population
  variance, eps 1e-5, weight and bias). Numerically this is ``F.layer_norm``.
* :class:`MixerBlock` — one pre-norm MLP-Mixer block (Tolstikhin et al. 2021) on
  ``[B, N, C]`` tokens, used by SPEN/DPEN (§III-B) and the SPDM denoiser (§III-D).
* :class:`TokenDown` — the "token-down" projection that builds the multi-scale
  prior pyramids inside the fusion network: a linear map over the token axis
  followed by a linear map over channels, no activation.
* :func:`squared_norms`, :func:`cosine_from_gram` — the per-head channel norms and cosines
  of transposed attention (:mod:`.restormer`), shared with tiled inference
  (:mod:`.tile_statistics`).
* :func:`luma` — BT.601 luma of an RGB batch, shared by the fusion network (``mix_luma``) and the
  fusion losses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm over channels. ``[B,C,H,W]`` → normalised over C per pixel; ``[B,N,C]`` → over C."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            y = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
            return y.permute(0, 3, 1, 2)
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


class Mlp(nn.Sequential):
    """Linear → GELU → Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class MixerBlock(nn.Module):
    """Pre-norm MLP-Mixer block on ``[B, N, C]``: token mixing over N, then channel mixing over C."""

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = Mlp(tokens, token_hidden)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = Mlp(dim, channel_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class TokenDown(nn.Module):
    """``[B, n_in, C]`` → ``[B, n_out, C]``: Linear over tokens, then Linear over channels (no activation)."""

    def __init__(self, n_in: int, n_out: int, dim: int) -> None:
        super().__init__()
        self.token_proj = nn.Linear(n_in, n_out)
        self.channel_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_proj(self.token_proj(x.transpose(1, 2)).transpose(1, 2))


NORM_EPS = 1e-12  # F.normalize's default floor on the norm


def squared_norms(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Per-channel ``Σ_{H,W} x²`` of ``[B, C, H, W]`` → ``[B, heads, C/heads]``.

    Reduced over the spatial axes of the 4-D map rather than the flattened last axis of the per-head view: with a
    channels-last tensor that axis is strided, and a norm over it is several times slower."""
    b, c = x.shape[:2]
    return x.square().sum(dim=(2, 3)).reshape(b, heads, c // heads)


def cosine_from_gram(gram: torch.Tensor, nq: torch.Tensor, nk: torch.Tensor) -> torch.Tensor:
    """q̂ k̂ᵀ from q kᵀ ``[B,h,c,c]`` and the squared norms ``[B,h,c]``, with F.normalize's floor on each norm."""
    return gram / (nq.sqrt().clamp_min(NORM_EPS)[..., :, None] * nk.sqrt().clamp_min(NORM_EPS)[..., None, :])


def luma(x: torch.Tensor) -> torch.Tensor:
    """RGB ``[B,3,H,W]`` → Y ``[B,1,H,W]`` (BT.601 full range: 0.299R + 0.587G + 0.114B)."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b
