"""PGFM — the prior-guided fusion module (paper §III-C, Eq. 6-8), one per level.

Fuses the IR and VI features of a level under the semantic prior:

* channel weights: a linear map over the prior tokens (N → 1) then channels
  (C_s → 2C), split into w_ir, w_vi ``[B, C]`` (no activation in between);
* spatial weights: ``s_x = Conv7×7([mean_C F_x ; max_C F_x])`` with **one conv
  shared by both modalities**;
* ``W_x = σ(w_x ⊙ s_x)`` (not normalised to sum to one) and
  ``F = Conv1×1(W_ir ⊙ F_ir + W_vi ⊙ F_vi)``.
"""
from __future__ import annotations

import torch
from torch import nn


class PGFM(nn.Module):
    """F_ir, F_vi ``[B,C,H,W]``, Ps ``[B,N,C_s]`` → fused ``[B,C,H,W]``."""

    def __init__(self, dim: int, sem_dim: int, tokens: int, bias: bool = False) -> None:
        super().__init__()
        self.token_proj = nn.Linear(tokens, 1)
        self.channel_proj = nn.Linear(sem_dim, 2 * dim)
        self.spatial_conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def _spatial(self, f: torch.Tensor) -> torch.Tensor:
        return self.spatial_conv(torch.cat([f.mean(dim=1, keepdim=True), f.amax(dim=1, keepdim=True)], dim=1))

    def forward(self, f_ir: torch.Tensor, f_vi: torch.Tensor, sem: torch.Tensor) -> torch.Tensor:
        w = self.channel_proj(self.token_proj(sem.transpose(1, 2)).squeeze(-1))  # [B, 2C]
        w_ir, w_vi = (c[..., None, None] for c in w.chunk(2, dim=-1))
        weight_ir = torch.sigmoid(w_ir * self._spatial(f_ir))
        weight_vi = torch.sigmoid(w_vi * self._spatial(f_vi))
        return self.project_out(weight_ir * f_ir + weight_vi * f_vi)
