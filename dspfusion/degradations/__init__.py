"""Seeded degradation synthesis for infrared/visible pairs (the DSPFusion / EMS vocabulary).

    import numpy as np
    from dspfusion.degradations import degrade, apply_condition, vi_blur

    rng = np.random.default_rng(0)
    blurred, params = degrade(vi, "vi", "Blur", rng)          # params == {"sigma": ...}
    ir_d, vi_d, params = apply_condition(ir, vi, "LL_SN", rng)  # VI low light + IR stripe noise
    out, p = vi_blur(vi, rng, sigma=2.6)                         # one public function per type

Every function is pure given (image, rng, parameters): the same seed gives the same bytes. Images are uint8
(returned as uint8) or float in [0, 1] (returned as the same float dtype), HxW, HxWx1 or HxWx3. Parameter ranges
live in :mod:`dspfusion.degradations.ranges`; docs/DEGRADATIONS.md says where each comes from and shows the
statistics of the real DSPFusion sample data that justify them (benchmarks/fit_sample_degradations.py).
Estimators of every parameter from a (degraded, clean) pair are in :mod:`dspfusion.degradations.estimate`.

Reference: Tang et al., DSPFusion (arXiv 2503.23355), §IV-A and its code's ``utils/IR_degraded.py``; the EMS
degradation scripts (Yi et al.) and ControlFusion's ``genDateset``; no code is copied.
"""
from __future__ import annotations

from .infrared import ir_lc, ir_rn, ir_sn
from .ranges import IR_RANGES, VI_RANGES
from .registry import (
    CONDITIONS,
    FUNCTIONS,
    IR_LABELS,
    IR_TYPES,
    MIXED,
    VI_LABELS,
    VI_TYPES,
    apply_condition,
    canonical_type,
    condition_name,
    degrade,
    parse_condition,
)
from .visible import vi_blur, vi_haze, vi_ll, vi_oe, vi_rain, vi_rn

__all__ = [
    "VI_TYPES",
    "IR_TYPES",
    "MIXED",
    "VI_LABELS",
    "IR_LABELS",
    "CONDITIONS",
    "FUNCTIONS",
    "VI_RANGES",
    "IR_RANGES",
    "degrade",
    "apply_condition",
    "parse_condition",
    "condition_name",
    "canonical_type",
    "vi_blur",
    "vi_rain",
    "vi_ll",
    "vi_oe",
    "vi_rn",
    "vi_haze",
    "ir_lc",
    "ir_rn",
    "ir_sn",
]
