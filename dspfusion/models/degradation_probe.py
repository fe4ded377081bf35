"""Degradation diagnosis: a linear probe on DPEN's type vectors (ours, not in the paper).

DPEN is trained contrastively so that its type vectors cluster by degradation
type (paper Fig. 3). This probe turns that into a readable diagnosis: LayerNorm
then one linear classifier per modality over the labels below. It is trained in
Stage I on *detached* type vectors, so it never changes DPEN itself, and can be
refit post hoc on the frozen DPEN (benchmarks/fit_probe.py).
"""
from __future__ import annotations

import torch
from torch import nn

VI_CLASSES = ("clean", "Blur", "Rain", "LL", "OE", "RN", "haze")
IR_CLASSES = ("clean", "LC", "RN", "SN")


class DegradationProbe(nn.Module):
    """type vectors ``[B, C_d]`` → logits ``[B, 7]`` (VI) or ``[B, 4]`` (IR).

    ``deg_dim`` is the width of what the probe reads: C_d, or C_d · S for a model whose ``probe_scales`` name S
    image scales (their type vectors side by side; ``DSPFusion.diagnosis_features``).

    ``hidden`` 0 (default, every preset): one linear layer per modality (keys ``vi.weight``...). ``hidden`` N > 0:
    Linear(C_d → N) → GELU → Linear(N → classes) per modality (keys ``vi.0.weight``, ``vi.2.weight``...), for a
    probe refit post hoc (benchmarks/fit_probe.py); the config field ``probe_hidden`` records it.
    """

    def __init__(self, deg_dim: int, hidden: int = 0) -> None:
        super().__init__()
        if hidden < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.norm = nn.LayerNorm(deg_dim)
        self.vi = self._head(deg_dim, hidden, len(VI_CLASSES))
        self.ir = self._head(deg_dim, hidden, len(IR_CLASSES))

    @staticmethod
    def _head(deg_dim: int, hidden: int, classes: int) -> nn.Module:
        if hidden == 0:
            return nn.Linear(deg_dim, classes)
        return nn.Sequential(nn.Linear(deg_dim, hidden), nn.GELU(), nn.Linear(hidden, classes))

    def forward(self, type_vec: torch.Tensor, modality: str) -> torch.Tensor:
        head = self.vi if modality == "vi" else self.ir
        return head(self.norm(type_vec))
