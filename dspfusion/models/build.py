"""Builder: a frozen :class:`~dspfusion.config.DSPFusionConfig` → a composed :class:`DSPFusion`."""
from __future__ import annotations

from ..config import DSPFusionConfig, get_preset
from .degradation_prior import DegradationPriorEncoder
from .degradation_probe import DegradationProbe
from .dspfusion import DSPFusion
from .fusion_net import FusionNet
from .prior_diffusion import DiffusionSchedule, Denoiser, PriorDiffusion
from .semantic_prior import SemanticPriorEncoder
from .semantic_scale import SemanticScaleGate


def build_model(config: DSPFusionConfig | str) -> DSPFusion:
    cfg = get_preset(config) if isinstance(config, str) else config
    return DSPFusion(
        cfg,
        semantic=SemanticPriorEncoder(cfg.semantic),
        degradation=DegradationPriorEncoder(cfg.degradation),
        diffusion=PriorDiffusion(Denoiser(cfg.denoiser), DiffusionSchedule(cfg.diffusion)),
        fusion=FusionNet(cfg.fusion),
        probe=DegradationProbe(cfg.fusion.deg_dim * len(cfg.probe_scales), cfg.probe_hidden) if cfg.with_probe else None,
        sem_gate=SemanticScaleGate(cfg.fusion.deg_dim) if cfg.sem_copy_side else None,
    )


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
