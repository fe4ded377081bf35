"""DPGM — the degradation-prior-guided module, with its two branches (paper §III-C, Fig. 3).

* :class:`SPIM` (semantic prior integration; the official code calls it SPMM):
  cross-attention from the pixel tokens (queries) to the semantic prior tokens
  (keys/values), with a residual. Deviation recorded from the code: the scale is
  the fixed ``(C/h)^-1/2``; the paper says learnable.
* :class:`DPMM` (degradation prior modulation): the pixels' global average picks a
  soft mixture of the Pd tokens, whose LN + linear map gives a FiLM (α, β):
  ``Conv3×3(α ⊙ x + β)`` — a plain FiLM, not (1 + α), and no residual.
* :class:`ChannelCrossAttention`: merges the two branches. The paper writes a
  cross-attention; the code uses a Restormer-style *channel* (transposed)
  cross-attention with queries from SPIM and keys/values from DPMM, one shared LN,
  and a residual on the SPIM branch.
* :class:`DPGM` = merge(SPIM(x), DPMM(x)). Encoder levels follow it with
  Restormer blocks (:class:`PriorGuidedLevel`); decoder levels have SPIM only.
"""
from __future__ import annotations

import torch
from torch import nn

from .common import LayerNorm
from .restormer import TransformerBlock, transposed_attention
from .tile_statistics import current


class SPIM(nn.Module):
    """x ``[B,C,H,W]``, Ps ``[B,N,C_s]`` → ``[B,C,H,W]``."""

    def __init__(self, dim: int, prior_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.norm_x = LayerNorm(dim)
        self.norm_prior = LayerNorm(prior_dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(prior_dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n, d = prior.shape[1], c // self.heads
        t = x.flatten(2).transpose(1, 2)  # [B, HW, C]
        q = self.q(self.norm_x(t)).reshape(b, h * w, self.heads, d).transpose(1, 2)
        k, v = self.kv(self.norm_prior(prior)).reshape(b, n, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)  # [B, h, HW, N]
        out = (attn @ v).transpose(1, 2).reshape(b, h * w, c)
        return (t + self.proj(out)).transpose(1, 2).reshape(b, c, h, w)


class DPMM(nn.Module):
    """x ``[B,C,H,W]``, Pd ``[B,N,C_d]`` → ``[B,C,H,W]``."""

    def __init__(self, dim: int, prior_dim: int, tokens: int) -> None:
        super().__init__()
        self.token_weights = nn.Linear(dim, tokens)
        self.norm_prior = LayerNorm(prior_dim)
        self.film = nn.Linear(prior_dim, 2 * dim, bias=False)
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        stats = current()  # tiled inference: the whole image's mean
        w = self.token_weights(x.mean(dim=(2, 3)) if stats is None else stats.mean(x)).softmax(dim=-1)  # [B, N]
        p = (w.unsqueeze(-1) * prior).sum(dim=1)  # [B, C_d]
        alpha, beta = self.film(self.norm_prior(p)).chunk(2, dim=-1)
        return self.conv(alpha[..., None, None] * x + beta[..., None, None])


class ChannelCrossAttention(nn.Module):
    """q from ``x`` (SPIM branch), k/v from ``y`` (DPMM branch), both ``[B,C,H,W]``; returns x + attn."""

    def __init__(self, dim: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.norm = LayerNorm(dim)
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.kv = nn.Conv2d(dim, 2 * dim, 1, bias=bias)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.kv_dwconv = nn.Conv2d(2 * dim, 2 * dim, 3, padding=1, groups=2 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q = self.q_dwconv(self.q(self.norm(x)))
        k, v = self.kv_dwconv(self.kv(self.norm(y))).chunk(2, dim=1)
        return x + self.project_out(transposed_attention(q, k, v, self.heads, self.temperature))


class DPGM(nn.Module):
    """merge(SPIM(x, Ps), DPMM(x, Pd)). ``[B,C,H,W]`` → ``[B,C,H,W]``."""

    def __init__(self, dim: int, heads: int, sem_dim: int, deg_dim: int, deg_tokens: int, bias: bool = False) -> None:
        super().__init__()
        self.spim = SPIM(dim, sem_dim, heads)
        self.dpmm = DPMM(dim, deg_dim, deg_tokens)
        self.merge = ChannelCrossAttention(dim, heads, bias)

    def forward(self, x: torch.Tensor, sem: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        return self.merge(self.spim(x, sem), self.dpmm(x, deg))


def _blocks(dim: int, heads: int, n: int, expansion: float, bias: bool) -> nn.Sequential:
    return nn.Sequential(*[TransformerBlock(dim, heads, expansion, bias) for _ in range(n)])


class PriorGuidedLevel(nn.Module):
    """One encoder level: DPGM (both priors) then ``n`` Restormer blocks."""

    def __init__(self, dim: int, heads: int, n: int, expansion: float, bias: bool, sem_dim: int, deg_dim: int, deg_tokens: int) -> None:
        super().__init__()
        self.dpgm = DPGM(dim, heads, sem_dim, deg_dim, deg_tokens, bias)
        self.blocks = _blocks(dim, heads, n, expansion, bias)

    def forward(self, x: torch.Tensor, sem: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.dpgm(x, sem, deg))


class SemanticGuidedLevel(nn.Module):
    """One decoder / refinement level: SPIM (semantic prior only) then ``n`` Restormer blocks."""

    def __init__(self, dim: int, heads: int, n: int, expansion: float, bias: bool, sem_dim: int) -> None:
        super().__init__()
        self.spim = SPIM(dim, sem_dim, heads)
        self.blocks = _blocks(dim, heads, n, expansion, bias)

    def forward(self, x: torch.Tensor, sem: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.spim(x, sem))
