"""DSPFusion networks, one paper concept per file (see each module's docstring)."""
from .build import build_model, count_parameters
from .degradation_prior import DegradationPriorEncoder
from .dspfusion import DSPFusion, Priors
from .fusion_net import FusionNet
from .prior_diffusion import Denoiser, DiffusionSchedule, PriorDiffusion
from .semantic_prior import SemanticPriorEncoder

__all__ = [
    "build_model",
    "count_parameters",
    "DSPFusion",
    "Priors",
    "FusionNet",
    "SemanticPriorEncoder",
    "DegradationPriorEncoder",
    "Denoiser",
    "DiffusionSchedule",
    "PriorDiffusion",
]
