"""DPEN — the degradation prior embedding network (paper §III-B, Eq. 1-2).

One network, **shared by both modalities** (as in the official code; the paper
draws two), maps a degraded image ``[B, 3, H, W]`` to

* the degradation prior Pd ``[B, 16, 128]`` that modulates the fusion encoder
  through DPMM at every level, and
* a degradation "type" vector ``[B, 128]`` (a linear map over the 16 tokens +
  GELU) used only by the contrastive loss (§4.2 of DSPFUSION.md) and by our
  degradation-diagnosis probe.

Deviation: the official encoder squeezes the batch axis of the type vector
(``[128]`` for B = 1); we always return ``[B, 128]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PriorEncoderConfig
from .prior_encoder import PriorEncoder


class DegradationPriorEncoder(PriorEncoder):
    """``x: [B, 3, H, W]`` → (Pd ``[B, N, C_d]``, type vector ``[B, C_d]``)."""

    def __init__(self, cfg: PriorEncoderConfig) -> None:
        assert cfg.type_head, "DPEN needs its type head"
        super().__init__(cfg)
        self.type_proj = nn.Linear(cfg.num_tokens, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        prior = self.tokens(x)
        type_vec = F.gelu(self.type_proj(prior.transpose(1, 2))).squeeze(-1)
        return prior, type_vec
