"""SPEN — the semantic prior embedding network (paper §III-B).

Maps the concatenated pair ``cat(IR, VI)`` ``[B, 6, H, W]`` to the semantic prior
Ps ``[B, 16, 256]`` (paper: N_s = 16 tokens, C_s = 256). In Stage I it sees the
clean (GT) pair and its output guides the fusion network directly; at test time
its output on the degraded pair is only the *condition* of SPDM, which restores
the clean prior (§III-D).
"""
from __future__ import annotations

import torch

from ..config import PriorEncoderConfig
from .prior_encoder import PriorEncoder


class SemanticPriorEncoder(PriorEncoder):
    """``ir, vi: [B, 3, H, W]`` → Ps ``[B, N, C_s]``."""

    def __init__(self, cfg: PriorEncoderConfig) -> None:
        assert cfg.in_chans == 6 and not cfg.type_head, "SPEN reads cat(IR, VI) and has no type head"
        super().__init__(cfg)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.tokens(torch.cat([ir, vi], dim=1))
