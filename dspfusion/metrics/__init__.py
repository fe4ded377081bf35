"""Calibrated image-fusion metrics: a fused image against its infrared (A) and visible (B) sources.

    >>> from dspfusion.metrics import evaluate, METRICS
    >>> scores = evaluate("fused/01.png", "ir/01.png", "vi/01.png")            # Tang's MATLAB toolbox (T2)
    >>> scores = evaluate(f, a, b, convention="cddfuse", metrics=["MI", "SSIM"])  # CDDFuse's Python Evaluator
    >>> METRICS["Nabf"].higher_is_better
    False

Every metric reproduces a named reference implementation (``conventions.py``; details and calibration results
in ``docs/METRICS.md``); the calibration tests hold them to golden per-image values of Tang's MATLAB toolbox
and of the CDDFuse Evaluator (``tests/test_metrics_calibration.py``). Images are converted to grey exactly as
the selected reference does (``images.py``). No-reference NIQE and PIQE are computed on the fused image.

With ``ref_ir`` / ``ref_vi`` (clean sources of a degraded pair), the full-reference metrics (MI, CC, SCD, VIF,
Qabf, Nabf, SSIM, PSNR, MSE) compare the fused image with those clean images instead of the inputs: how much
of the clean scene survived the degradation. A missing ``ref_*`` falls back to the corresponding input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np

from ..errors import UserError
from .conventions import CONVENTIONS, Convention, get_convention
from .images import ImageInput, load_grey
from .information import entropy, mutual_information
from .niqe import niqe
from .piqe import piqe
from .qabf import nabf, qabf
from .statistics import average_gradient, correlation_coefficient, scd, spatial_frequency, standard_deviation
from .structural import mse, psnr, ssim
from .vif import vif, vifp

Array = np.ndarray


@dataclass(frozen=True)
class Metric:
    """One registry entry: how to compute a metric under a convention, and how to read it."""

    name: str
    compute: Callable[[Array, Optional[Array], Optional[Array], Convention], float]
    higher_is_better: bool
    needs_sources: bool
    scale: str
    reference: str
    description: str
    #: the :class:`Convention` fields this metric reads (besides the grey conversion)
    options: tuple[str, ...] = ()

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def function(self) -> Callable[..., float]:
        """The public function that implements it (its docstring has formula, reference, scale, direction)."""
        return _FUNCTIONS[self.name]


_FUNCTIONS: dict[str, Callable[..., float]] = {
    "EN": entropy, "SD": standard_deviation, "SF": spatial_frequency, "AG": average_gradient,
    "MI": mutual_information, "CC": correlation_coefficient, "SCD": scd, "VIF": vif, "Qabf": qabf,
    "Nabf": nabf, "SSIM": ssim, "PSNR": psnr, "MSE": mse, "NIQE": niqe, "PIQE": piqe,
}

_TANG = "Tang Evaluation-for-Image-Fusion (MATLAB)"
_C = "CDDFuse utils/Evaluator.py"

#: name -> Metric, in the order of the tables (fusion metrics first, then no-reference IQA)
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("EN", lambda f, a, b, c: entropy(f), True, False, "bits; 256 grey levels",
           f"{_TANG} entropy(); {_C}.EN", "Shannon entropy of the fused image"),
    Metric("SD", lambda f, a, b, c: standard_deviation(f, uint8_saturate=c.sd_uint8_saturate), True, False,
           "0-255 grey levels", f"{_TANG} SD_evaluation.m; {_C}.SD", "standard deviation (contrast)",
           ("sd_uint8_saturate",)),
    Metric("SF", lambda f, a, b, c: spatial_frequency(f, unit_scale=c.sf_unit_scale), True, False,
           "0-255 grey levels ([0,1] in tang2022)", f"{_TANG} SF_evaluation.m; {_C}.SF", "spatial frequency",
           ("sf_unit_scale",)),
    Metric("AG", lambda f, a, b, c: average_gradient(f, normalisation=c.ag_normalisation), True, False,
           "0-255 grey levels", f"{_TANG} AG_evaluation.m; {_C}.AG", "average gradient (sharpness)",
           ("ag_normalisation",)),
    Metric("MI", lambda f, a, b, c: mutual_information(f, a, b, log_base=c.mi_log_base,
                                                       merge_254_255=c.mi_merge_254_255), True, True,
           "bits (nats in cddfuse); sum over sources", f"{_TANG} MI_evaluation.m; {_C}.MI",
           "mutual information with the sources", ("mi_log_base", "mi_merge_254_255")),
    Metric("CC", lambda f, a, b, c: correlation_coefficient(f, a, b), True, True, "scale-invariant",
           f"{_TANG} CC_evaluation.m; {_C}.CC", "mean correlation coefficient"),
    Metric("SCD", lambda f, a, b, c: scd(f, a, b), True, True, "scale-invariant",
           f"{_TANG} analysis_SCD.m; {_C}.SCD", "sum of the correlations of differences"),
    Metric("VIF", lambda f, a, b, c: vif(f, a, b, uint8_saturate=c.vif_uint8_saturate), True, True,
           "0-255 grey levels; VIFp summed over sources", f"{_TANG} vifp_mscale.m; {_C}.VIFF",
           "visual information fidelity (Sheikh-Bovik VIFp, A→F + B→F)", ("vif_uint8_saturate",)),
    Metric("Qabf", lambda f, a, b, c: qabf(f, a, b, unit_scale=c.qabf_unit_scale), True, True,
           "0-255 grey levels ([0,1] in tang2022)", f"{_TANG} analysis_Qabf.m; {_C}.Qabf",
           "Xydeas-Petrovic edge preservation", ("qabf_unit_scale",)),
    Metric("Nabf", lambda f, a, b, c: nabf(f, a, b), False, True, "0-255 grey levels",
           f"{_TANG} analysis_nabf.m (0-255, documented argument order)", "fusion artefacts (Shreyamsha Kumar)"),
    Metric("SSIM", lambda f, a, b, c: ssim(f, a, b, kind=c.ssim_kind, reduce=c.ssim_reduce), True, True,
           "0-255 grey levels; mean (tang) or sum (cddfuse) over sources",
           "MATLAB ssim (Tang); skimage structural_similarity data_range=2 (CDDFuse)", "structural similarity",
           ("ssim_kind", "ssim_reduce")),
    Metric("PSNR", lambda f, a, b, c: psnr(f, a, b, kind=c.psnr_kind), True, True,
           "dB; tang = true PSNR + 48.13 dB; cddfuse peak = max(F)",
           f"{_TANG} PSNR_evaluation.m; {_C}.PSNR", "peak signal-to-noise ratio vs the sources", ("psnr_kind",)),
    Metric("MSE", lambda f, a, b, c: mse(f, a, b, scale=c.mse_scale), False, True,
           "[0,1] (tang) or 0-255 (cddfuse); mean over sources", f"{_TANG} MSE_evaluation.m; {_C}.MSE",
           "mean squared error vs the sources", ("mse_scale",)),
    Metric("NIQE", lambda f, a, b, c: niqe(f), False, False, "0-255 grey levels",
           "official MATLAB NIQE release (Mittal et al. 2013), pristine model parameters",
           "naturalness (no-reference)"),
    Metric("PIQE", lambda f, a, b, c: piqe(f), False, False, "0-100", "MATLAB piqe (Venkatanath et al. 2015)",
           "perception-based quality (no-reference)"),
)}

#: the fusion metrics computed when ``metrics=None``
DEFAULT_METRICS: tuple[str, ...] = ("EN", "SD", "SF", "AG", "MI", "CC", "SCD", "VIF", "Qabf", "Nabf", "SSIM",
                                    "PSNR", "MSE")
#: no-reference IQA metrics (only with ``metrics="all"`` or by name)
NO_REFERENCE_IQA: tuple[str, ...] = ("NIQE", "PIQE")


def resolve_metrics(metrics: str | Iterable[str] | None) -> list[str]:
    """``None`` -> the 13 fusion metrics; ``"all"`` -> every metric; a comma list or names (case-insensitive)."""
    if metrics is None:
        return list(DEFAULT_METRICS)
    if isinstance(metrics, str):
        if metrics.strip().lower() == "all":
            return list(METRICS)
        metrics = [m for m in metrics.split(",") if m.strip()]
    by_lower = {k.lower(): k for k in METRICS}
    out: list[str] = []
    for m in metrics:
        key = by_lower.get(m.strip().lower())
        if key is None:
            raise ValueError(f"unknown metric {m!r}; known: {', '.join(METRICS)} (or 'all')")
        if key not in out:
            out.append(key)
    return out


def evaluate(fused: ImageInput, ir: ImageInput | None, vi: ImageInput | None,
             metrics: str | Iterable[str] | None = None, convention: str | Convention = "tang",
             ref_ir: ImageInput | None = None, ref_vi: ImageInput | None = None) -> dict[str, float]:
    """Compute fusion metrics for one fused image; returns ``{metric name: value}`` in the requested order.

    Args:
        fused, ir, vi: file paths or numpy arrays (uint8 or float on 0-255, grey (H, W) or RGB (H, W, 3)).
            ``ir``/``vi`` may be ``None`` when only no-reference metrics are requested.
        metrics: ``None`` (the 13 fusion metrics), ``"all"`` (plus NIQE and PIQE), or names / a comma list.
        convention: ``"tang"`` (default), ``"cddfuse"``, ``"tang2022"`` or a :class:`Convention`.
        ref_ir, ref_vi: clean sources; full-reference metrics then compare against them instead of ir/vi.
    """
    conv = get_convention(convention)
    names = resolve_metrics(metrics)
    f = load_grey(fused, conv.grey, "fused")
    a = b = None
    if any(METRICS[n].needs_sources for n in names):
        src_a = ref_ir if ref_ir is not None else ir
        src_b = ref_vi if ref_vi is not None else vi
        if src_a is None or src_b is None:
            raise UserError("full-reference metrics need both sources (ir and vi, or ref_ir and ref_vi)")
        a = load_grey(src_a, conv.grey, "ref_ir" if ref_ir is not None else "ir")
        b = load_grey(src_b, conv.grey, "ref_vi" if ref_vi is not None else "vi")
        for label, img in (("infrared", a), ("visible", b)):
            if img.shape != f.shape:
                raise UserError(f"size mismatch: fused image is {f.shape[1]}×{f.shape[0]}, {label} source is "
                                 f"{img.shape[1]}×{img.shape[0]}; the metrics need registered images of one size")
    return {n: float(METRICS[n].compute(f, a, b, conv)) for n in names}


__all__ = [
    "CONVENTIONS", "Convention", "DEFAULT_METRICS", "METRICS", "Metric", "NO_REFERENCE_IQA", "average_gradient",
    "correlation_coefficient", "entropy", "evaluate", "get_convention", "load_grey", "mse", "mutual_information",
    "nabf", "niqe", "piqe", "psnr", "qabf", "resolve_metrics", "scd", "spatial_frequency", "ssim",
    "standard_deviation", "vif", "vifp",
]
