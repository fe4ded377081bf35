"""The top-level DSPFusion model: its parts are injected, not built here.

``DSPFusion(semantic, degradation, diffusion, fusion)`` composes SPEN, DPEN, SPDM
and the fusion network (paper Fig. 2). Inference (§III-D, Stage II / test):

1. Pd_ir, Pd_vi = DPEN(IR), DPEN(VI)  (one shared DPEN)
2. cond = [SPEN(IR, VI) | Pd_ir | Pd_vi]  (SPEN on the *degraded* pair)
3. P̂s = SPDM.sample(x_T ~ N(0, I), cond)
4. I_f = FusionNet(IR, VI, Pd_ir, Pd_vi, P̂s)

Inputs are RGB ``[B, 3, H, W]`` floats in [0, 1] with H, W multiples of 8 (IR
replicated to 3 channels); padding, colour and file handling belong to
:mod:`dspfusion.inference`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import DSPFusionConfig
from .degradation_prior import DegradationPriorEncoder
from .degradation_probe import IR_CLASSES, VI_CLASSES, DegradationProbe
from .fusion_net import FusionNet
from .prior_diffusion import PriorDiffusion
from .semantic_prior import SemanticPriorEncoder
from .semantic_scale import SemanticScaleGate, mix_semantic_priors


def _tile_grid(img: torch.Tensor, size: int) -> torch.Tensor:
    """``[C,H,W]`` → ``[T,C,size,size]``: ceil(H/size) × ceil(W/size) tiles at evenly spaced offsets covering the image."""
    h, w = img.shape[-2:]
    if h < size or w < size:
        img = F.pad(img[None], (0, max(0, size - w), 0, max(0, size - h)), mode="replicate")[0]
        h, w = img.shape[-2:]
    ys = torch.linspace(0, h - size, -(-h // size)).round().long().tolist()
    xs = torch.linspace(0, w - size, -(-w // size)).round().long().tolist()
    return torch.stack([img[:, y:y + size, x:x + size] for y in ys for x in xs])


def downscale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``[B,C,H,W]`` → ``[B,C,round(H·scale),round(W·scale)]`` (at least 1 pixel a side) by area averaging."""
    h, w = x.shape[-2:]
    return F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")


@dataclass
class Priors:
    """Everything the fusion network needs besides the images (all ``[B, N, C]``)."""

    deg_ir: torch.Tensor
    deg_vi: torch.Tensor
    type_ir: torch.Tensor
    type_vi: torch.Tensor
    sem_lq: torch.Tensor
    sem: torch.Tensor  # the prior actually used: restored by SPDM (or given)


class DSPFusion(nn.Module):
    def __init__(
        self,
        config: DSPFusionConfig,
        semantic: SemanticPriorEncoder,
        degradation: DegradationPriorEncoder,
        diffusion: PriorDiffusion,
        fusion: FusionNet,
        probe: DegradationProbe | None = None,
        sem_gate: SemanticScaleGate | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.semantic = semantic
        self.degradation = degradation
        self.diffusion = diffusion
        self.fusion = fusion
        self.probe = probe
        self.sem_gate = sem_gate

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def sem_shape(self, batch: int) -> tuple[int, int, int]:
        return (batch, self.config.fusion.prior_tokens, self.config.fusion.sem_dim)

    def initial_noise(self, batch: int, seed: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_T as the official pipeline draws it: ``torch.randn(shape, generator=Generator().manual_seed(seed))`` on CPU."""
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        return torch.randn(self.sem_shape(batch), generator=generator).to(self.device)

    def compute_priors(
        self,
        ir: torch.Tensor,
        vi: torch.Tensor,
        steps: int | None = None,
        noise: torch.Tensor | None = None,
        sem_override: torch.Tensor | None = None,
    ) -> Priors:
        if not self.config.use_priors:  # no-prior ablation: constant (zero) priors
            b, f = ir.shape[0], self.config.fusion
            zd = ir.new_zeros(b, f.prior_tokens, f.deg_dim)
            zs = ir.new_zeros(b, f.prior_tokens, f.sem_dim)
            return Priors(zd, zd, zd[:, 0], zd[:, 0], zs, zs)
        deg_ir, type_ir = self.degradation(ir)
        deg_vi, type_vi = self.degradation(vi)
        sem_lq = self.semantic(ir, vi)
        if sem_override is not None:
            sem = sem_override
        else:
            if noise is None:
                noise = torch.randn(self.sem_shape(ir.shape[0]), device=ir.device, dtype=ir.dtype)
            sem = self.restore_semantic_prior(noise, sem_lq, deg_ir, deg_vi, steps or self.config.sampling_steps)
            long_side, side = max(ir.shape[-2:]), self.config.sem_copy_side
            if self.sem_gate is not None and long_side > side:
                g = self.sem_gate(deg_ir, deg_vi, long_side, side)
                if bool(g.any()):  # a shut gate (most degradations) needs no copy: the mix would be the full prior
                    sem = mix_semantic_priors(sem, self.semantic_prior_of_copy(ir, vi, steps, noise), g)
        return Priors(deg_ir, deg_vi, type_ir, type_vi, sem_lq, sem)

    def semantic_prior_of_copy(self, ir: torch.Tensor, vi: torch.Tensor, steps: int | None,
                               noise: torch.Tensor) -> torch.Tensor:
        """The restored semantic prior ``[B,N,C_s]`` of the pair shrunk (area averaging) to a long side of
        ``config.sem_copy_side`` and padded to the fusion network's multiple: SPEN and SPDM under the copy's own DPEN
        priors, from the same starting noise (models/semantic_scale.py)."""
        s = self.config.sem_copy_side / max(ir.shape[-2:])
        m = self.config.fusion.pad_multiple
        small = []
        for x in (ir, vi):
            x = downscale(x, s)
            ph, pw = (-x.shape[-2]) % m, (-x.shape[-1]) % m
            small.append(F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x)
        deg_ir, _ = self.degradation(small[0])
        deg_vi, _ = self.degradation(small[1])
        return self.restore_semantic_prior(noise, self.semantic(*small), deg_ir, deg_vi,
                                           steps or self.config.sampling_steps)

    def restore_semantic_prior(self, x_T: torch.Tensor, sem_lq: torch.Tensor, deg_ir: torch.Tensor,
                               deg_vi: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """SPDM: the clean semantic prior ``[B,N,C_s]`` restored from ``x_T`` under the condition
        ``[SPEN(LQ) | Pd_ir | Pd_vi]`` (paper Eq. 9-12); ``steps`` None = the schedule's T. Keeps gradients (Stage II
        trains through it)."""
        return self.diffusion.sample(x_T, torch.cat([sem_lq, deg_ir, deg_vi], dim=-1), steps)

    def fuse_with_priors(self, ir: torch.Tensor, vi: torch.Tensor, priors: Priors, prepared: bool = False) -> torch.Tensor:
        """``prepared``: the inputs already went through ``fusion.prepare_inputs`` (tiled inference)."""
        return self.fusion(ir, vi, priors.deg_ir, priors.deg_vi, priors.sem, prepared)

    @torch.no_grad()
    def diagnosis_features(self, x: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """What the probe reads for one modality ``[B,3,H,W]`` (the padded image): ``[B, C_d · S]`` for the S
        entries of ``config.probe_scales``, one DPEN type-vector feature per scale, concatenated in that order.

        Scale 1 is the image as given; scale s < 1 the image downscaled by s (area averaging). At each scale,
        ``config.probe_tile`` 0: the type vector of the whole image; N > 0: the mean type vector of the N×N tiles of
        an evenly spaced grid covering the image (overlapping where N does not divide a side; an image smaller than
        a tile is edge-padded), DPEN run on ``chunk`` tiles at a time.
        """
        return torch.cat([self._scale_features(x if s == 1 else downscale(x, s), chunk)
                          for s in self.config.probe_scales], dim=-1)

    def _scale_features(self, x: torch.Tensor, chunk: int) -> torch.Tensor:
        size = self.config.probe_tile
        if not size:
            return self.degradation(x)[1]
        return torch.stack([self.tile_type_vectors(img, size, chunk).mean(0) for img in x])

    @torch.no_grad()
    def tile_type_vectors(self, img: torch.Tensor, size: int, chunk: int = 32) -> torch.Tensor:
        """One image ``[3,H,W]`` → the DPEN type vector of each ``size``×``size`` tile of the grid
        :meth:`diagnosis_features` averages, ``[T, C_d]`` (DPEN run on ``chunk`` tiles at a time)."""
        tiles = _tile_grid(img, size)
        return torch.cat([self.degradation(tiles[i:i + chunk])[1] for i in range(0, len(tiles), chunk)])

    @torch.no_grad()
    def diagnose(self, ir: torch.Tensor, vi: torch.Tensor) -> dict[str, dict[str, float]]:
        """Degradation probabilities for one pair ``[1,3,H,W]`` each (needs the probe)."""
        if self.probe is None:
            raise RuntimeError("this model has no degradation probe (trained without one)")
        out = {}
        for name, x, classes in (("ir", ir, IR_CLASSES), ("vi", vi, VI_CLASSES)):
            p = self.probe(self.diagnosis_features(x), name).softmax(-1)[0]
            out[name] = {c: float(v) for c, v in zip(classes, p)}
        return out

    def forward(
        self, ir: torch.Tensor, vi: torch.Tensor, steps: int | None = None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ir, vi ``[B,3,H,W]`` in [0,1], H, W multiples of 8 → fused ``[B,3,H,W]`` in (0,1)."""
        return self.fuse_with_priors(ir, vi, self.compute_priors(ir, vi, steps, noise))
