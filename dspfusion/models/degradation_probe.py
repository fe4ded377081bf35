"""Degradation diagnosis: a linear probe on DPEN's type vectors (ours, not in the paper).

DPEN is trained contrastively so that its type vectors cluster by degradation
type (paper Fig. 3). This probe turns that into a readable diagnosis: LayerNorm
then one linear classifier per modality over the labels below. It is trained in
Stage I on *detached* type vectors, so it never changes DPEN itself.
"""
from __future__ import annotations

import torch
from torch import nn

VI_CLASSES = ("clean", "Blur", "Rain", "LL", "OE", "RN", "haze")
IR_CLASSES = ("clean", "LC", "RN", "SN")


class DegradationProbe(nn.Module):
    """type vectors ``[B, C_d]`` → logits ``[B, 7]`` (VI) or ``[B, 4]`` (IR)."""

    def __init__(self, deg_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(deg_dim)
        self.vi = nn.Linear(deg_dim, len(VI_CLASSES))
        self.ir = nn.Linear(deg_dim, len(IR_CLASSES))

    def forward(self, type_vec: torch.Tensor, modality: str) -> torch.Tensor:
        head = self.vi if modality == "vi" else self.ir
        return head(self.norm(type_vec))
