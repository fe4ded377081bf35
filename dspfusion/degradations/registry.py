"""Names of the degradations and conditions, and the two dispatchers :func:`degrade` and :func:`apply_condition`.

Vocabulary of the DSPFusion training data and the EMS test sets (DSPFUSION.md §1.1, §1.5): VI Blur, Rain, LL,
OE, RN, haze; IR LC, RN, SN; the test conditions ``vi_<T>``, ``ir_<T>`` and three mixed ones (VI type, IR type).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._util import check_rng
from .infrared import ir_lc, ir_rn, ir_sn
from .visible import vi_blur, vi_haze, vi_ll, vi_oe, vi_rain, vi_rn

VI_TYPES: tuple[str, ...] = ("Blur", "Rain", "LL", "OE", "RN", "haze")
IR_TYPES: tuple[str, ...] = ("LC", "RN", "SN")
MIXED: dict[str, tuple[str, str]] = {"LL_LC": ("LL", "LC"), "LL_SN": ("LL", "SN"), "Rain_SN": ("Rain", "SN")}

# class labels of the degradation classifier / DPEN: index 0 is "no degradation" (the official "Norm")
VI_LABELS: tuple[str, ...] = ("clean",) + VI_TYPES
IR_LABELS: tuple[str, ...] = ("clean",) + IR_TYPES

# every condition name apply_condition understands, in the order of the official test layout
CONDITIONS: tuple[str, ...] = (
    ("clean",) + tuple(f"vi_{t}" for t in VI_TYPES) + tuple(f"ir_{t}" for t in IR_TYPES) + tuple(MIXED)
)

Degradation = Callable[..., tuple[np.ndarray, dict]]

FUNCTIONS: dict[str, dict[str, Degradation]] = {
    "vi": {"Blur": vi_blur, "Rain": vi_rain, "LL": vi_ll, "OE": vi_oe, "RN": vi_rn, "haze": vi_haze},
    "ir": {"LC": ir_lc, "RN": ir_rn, "SN": ir_sn},
}

_ALIASES = {"norm": "clean", "clean": "clean", "none": "clean"}


def canonical_type(modality: str, kind: str) -> str:
    """Official or loose spelling → our name ("Norm" → "clean", "hazy"/"Haze" → "haze", "blur" → "Blur")."""
    if modality not in FUNCTIONS:
        raise ValueError(f"modality must be 'ir' or 'vi', got {modality!r}")
    low = kind.strip().lower()
    if low in _ALIASES:
        return "clean"
    if low == "hazy":
        low = "haze"
    for name in FUNCTIONS[modality]:
        if name.lower() == low:
            return name
    valid = ", ".join(("clean",) + tuple(FUNCTIONS[modality]))
    raise ValueError(f"unknown {modality.upper()} degradation {kind!r}; valid: {valid}")


def degrade(
    image: np.ndarray, modality: str, kind: str, rng: np.random.Generator, **params
) -> tuple[np.ndarray, dict]:
    """Apply the ``kind`` degradation of ``modality`` ("ir" or "vi") to ``image``.

    Returns (degraded image in the input's dtype/shape convention, the parameters used). ``kind`` "clean"
    returns a copy and ``{}``. Unspecified parameters are drawn from their documented ranges with ``rng``.
    """
    check_rng(rng)
    name = canonical_type(modality, kind)
    if name == "clean":
        if params:
            raise ValueError(f"'clean' takes no parameters, got {sorted(params)}")
        return image.copy(), {}
    return FUNCTIONS[modality][name](image, rng, **params)


def parse_condition(condition: str) -> tuple[str, str]:
    """Condition name → (VI type, IR type), "clean" for an undegraded modality."""
    if condition == "clean":
        return "clean", "clean"
    if condition in MIXED:
        return MIXED[condition]
    prefix, _, kind = condition.partition("_")
    if prefix == "vi" and kind in VI_TYPES:
        return kind, "clean"
    if prefix == "ir" and kind in IR_TYPES:
        return "clean", kind
    raise ValueError(f"unknown condition {condition!r}; valid: {', '.join(CONDITIONS)}")


def condition_name(vi_type: str, ir_type: str) -> str:
    """Inverse of :func:`parse_condition` for the named conditions; other pairs are spelled ``<VI>+<IR>``."""
    if vi_type == "clean" and ir_type == "clean":
        return "clean"
    if ir_type == "clean":
        return f"vi_{vi_type}"
    if vi_type == "clean":
        return f"ir_{ir_type}"
    for name, pair in MIXED.items():
        if pair == (vi_type, ir_type):
            return name
    return f"{vi_type}+{ir_type}"


def apply_condition(
    ir: np.ndarray, vi: np.ndarray, condition: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Degrade a registered pair for one test condition ("clean", "vi_<T>", "ir_<T>" or a MIXED name).

    The VI image is degraded first, then the IR image, both from ``rng``. Returns (ir_deg, vi_deg, params) with
    params = {"condition": ..., "vi": {"type": T, ...its parameters}, "ir": {"type": T, ...}}.
    """
    vi_type, ir_type = parse_condition(condition)
    vi_out, vi_params = degrade(vi, "vi", vi_type, rng)
    ir_out, ir_params = degrade(ir, "ir", ir_type, rng)
    return ir_out, vi_out, {
        "condition": condition,
        "vi": {"type": vi_type, **vi_params},
        "ir": {"type": ir_type, **ir_params},
    }
