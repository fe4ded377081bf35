"""A semantic prior read at two scales, mixed by a gate on the degradation priors (ours; not in the paper).

The paper computes the semantic prior once, on the pair as given (§III-B, SPEN; §III-C, SPDM). Our CPU model is
trained on 96-px crops, most of them from MSRS pairs stored at 171×128, while the MSRS test pairs are 640×480: at
test time SPEN sees objects about 3.7 times larger than in most of training. Computed on a copy shrunk to a long side
of 256 px, the semantic prior lifts the day frames under haze and low light, but it loses the blur that shrinking
removes, so under vi_Blur it costs (docs/EXPERIMENTS.md, "The heavy losers and the scale the priors are computed at"
and "A semantic prior read at two scales without training"). Which scale to trust depends on the degradation, which
is what DPEN's priors describe; so a small gate reads them and mixes the two priors::

    g = clamp(MLP([LN(mean Pd_ir) | LN(mean Pd_vi) | log2(L / S)]), 0, 1)          g ``[B, 1]``
    P̂s = P̂s(full) + g · (P̂s(copy) − P̂s(full))                                      ``[B, N, C_s]``

L the long side of the pair, S the copy's (``DSPFusionConfig.sem_copy_side``); the copy's P̂s comes from the same
SPEN → SPDM path on the pair shrunk by area averaging, under the copy's own DPEN priors, with the same starting noise.
Pairs whose long side is at most S are not copied (g = 0). The last layer starts at zero, so g = 0 and a model
with an untrained gate fuses exactly as without one. The gate is fitted after training with every other part frozen
(``benchmarks/fit_sem_gate.py``), with a straight-through clamp: with a plain clamp, the conditions that want g = 0
(most of them) push the output below 0 for every input within a few hundred steps, and no gradient comes back.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class SemanticScaleGate(nn.Module):
    """``(deg_ir, deg_vi [B,N,C_d], long_side, copy_side)`` → g ``[B, 1]`` in [0, 1]."""

    def __init__(self, deg_dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.norm_ir = nn.LayerNorm(deg_dim)
        self.norm_vi = nn.LayerNorm(deg_dim)
        self.mlp = nn.Sequential(nn.Linear(2 * deg_dim + 1, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, deg_ir: torch.Tensor, deg_vi: torch.Tensor, long_side: int, copy_side: int,
                straight_through: bool = False) -> torch.Tensor:
        """``straight_through`` (for fitting): the same value, but the gradient passes the clamp as if it were
        not there, so a gate pushed below 0 (or above 1) for some inputs can still come back for others."""
        scale = deg_ir.new_full((deg_ir.shape[0], 1), math.log2(long_side / copy_side))
        x = torch.cat([self.norm_ir(deg_ir.mean(1)), self.norm_vi(deg_vi.mean(1)), scale], dim=-1)
        z = self.mlp(x)
        g = z.clamp(0.0, 1.0)  # a clamp, not a sigmoid: exactly 0 at initialisation
        return z + (g - z).detach() if straight_through else g


def mix_semantic_priors(sem_full: torch.Tensor, sem_copy: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``[B,N,C_s]`` × 2, g ``[B,1]`` → the gated mix ``[B,N,C_s]``."""
    return sem_full + g[:, :, None] * (sem_copy - sem_full)
