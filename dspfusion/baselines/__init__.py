"""Classical baselines: fusion rules and per-degradation pre-enhancement, on the CPU, without weights.

The paper's comparison protocol for degraded inputs is "restore each input with a dedicated method,
then fuse"; :func:`pre_enhance_then_fuse` runs it with classical methods (OpenCV, scikit-image,
PyWavelets), :func:`fuse_classical` fuses clean inputs.

    >>> from dspfusion.baselines import pre_enhance_then_fuse
    >>> fused = pre_enhance_then_fuse(ir, vi, fusion="guided", ir_type="SN", vi_type="haze")

Registries:
    ``FUSION_METHODS``: name -> ``fn(ir, vi) -> uint8`` (``average``, ``max``, ``laplacian``, ``dwt``,
    ``guided``), see :mod:`.fusion`.
    ``ENHANCERS``: ``(modality, type)`` -> ``fn(img) -> uint8`` for the degradation vocabulary of
    design §2 (IR: LC, RN, SN; VI: Blur, Rain, LL, OE, RN, haze), see :mod:`.enhancement`.

Inputs: IR grey ``HxW`` (``HxWx3`` is reduced to grey), VI grey ``HxW`` or RGB ``HxWx3``; uint8 or
float in [0, 1]. Output: uint8 with the VI's channels (an RGB VI is fused on its luma, chroma kept).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import UserError
from ._image import check_pair
from .enhancement import (
    correct_exposure,
    deblur,
    dehaze,
    denoise,
    derain,
    destripe,
    enhance_contrast,
    enhance_low_light,
)
from .fusion import fuse_average, fuse_dwt, fuse_guided, fuse_laplacian, fuse_max

__all__ = [
    "FUSION_METHODS",
    "ENHANCERS",
    "IR_TYPES",
    "VI_TYPES",
    "fuse_classical",
    "pre_enhance_then_fuse",
]

FUSION_METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "average": fuse_average,
    "max": fuse_max,
    "laplacian": fuse_laplacian,
    "dwt": fuse_dwt,
    "guided": fuse_guided,
}

ENHANCERS: dict[tuple[str, str], Callable[[np.ndarray], np.ndarray]] = {
    ("ir", "LC"): enhance_contrast,
    ("ir", "RN"): denoise,
    ("ir", "SN"): destripe,
    ("vi", "Blur"): deblur,
    ("vi", "Rain"): derain,
    ("vi", "LL"): enhance_low_light,
    ("vi", "OE"): correct_exposure,
    ("vi", "RN"): denoise,
    ("vi", "haze"): dehaze,
}

IR_TYPES: tuple[str, ...] = tuple(t for m, t in ENHANCERS if m == "ir")
VI_TYPES: tuple[str, ...] = tuple(t for m, t in ENHANCERS if m == "vi")

# the datasets name the clean condition "Norm"; treat it like None
_CLEAN = (None, "Norm")


def fuse_classical(ir: np.ndarray, vi: np.ndarray, method: str = "guided") -> np.ndarray:
    """Fuse a registered IR/VI pair with the classical rule ``method`` (a key of ``FUSION_METHODS``)."""
    if method not in FUSION_METHODS:
        raise UserError(
            f"unknown fusion method {method!r}; choose one of {', '.join(FUSION_METHODS)}"
        )
    return FUSION_METHODS[method](ir, vi)


def _enhancer(modality: str, kind: str | None) -> Callable[[np.ndarray], np.ndarray] | None:
    if kind in _CLEAN:
        return None
    if (modality, kind) not in ENHANCERS:
        allowed = IR_TYPES if modality == "ir" else VI_TYPES
        raise UserError(
            f"unknown {modality}_type {kind!r}; choose None (clean) or one of {', '.join(allowed)}"
        )
    return ENHANCERS[(modality, kind)]


def pre_enhance_then_fuse(
    ir: np.ndarray,
    vi: np.ndarray,
    fusion: str = "guided",
    ir_type: str | None = None,
    vi_type: str | None = None,
) -> np.ndarray:
    """Restore each input with the classical enhancer for its degradation, then fuse.

    Args:
        ir: infrared image (grey; uint8 or float in [0, 1]).
        vi: visible image (grey or RGB; same height and width as ``ir``).
        fusion: a key of ``FUSION_METHODS``.
        ir_type: None (clean) or one of ``"LC"``, ``"RN"``, ``"SN"``.
        vi_type: None (clean) or one of ``"Blur"``, ``"Rain"``, ``"LL"``, ``"OE"``, ``"RN"``, ``"haze"``.

    Returns:
        The fused image, uint8, ``HxW`` for a grey VI or ``HxWx3`` RGB for an RGB VI.
    """
    if fusion not in FUSION_METHODS:  # fail before spending time on enhancement
        raise UserError(f"unknown fusion method {fusion!r}; choose one of {', '.join(FUSION_METHODS)}")
    enhance_ir, enhance_vi = _enhancer("ir", ir_type), _enhancer("vi", vi_type)
    ir_f, vi_f = check_pair(ir, vi)
    ir_out = enhance_ir(ir_f) if enhance_ir else ir_f
    vi_out = enhance_vi(vi_f) if enhance_vi else vi_f
    return FUSION_METHODS[fusion](ir_out, vi_out)
