"""Edge-based fusion metrics: Qabf (Xydeas-Petrovic edge preservation) and Nabf (fusion artefacts).

References
----------
* Qabf: C. S. Xydeas and V. Petrovic, "Objective image fusion performance measure", Electronics Letters
  36(4), 2000. Code: Tang's ``analysis_Qabf.m`` (R. Hong's version) = CDDFuse ``Evaluator.Qabf``; VIFB.
* Nabf: B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel significance using
  discrete cosine harmonic wavelet transform", SIViP 2013 (modified Petrovic artefact measure). Code: Tang's
  ``analysis_nabf.m`` with ``sobel_fn.m`` and ``per_extn_im_fn.m``.

Both follow the reference code including its quirks (listed in the docstrings). Deviations: Nabf is computed
on 0-255 data with the arguments in the documented order (fused, A, B); Tang's T1 passed [0,1] data (all
weights collapse to 0.001) and T2 passes the arguments in the wrong order, so neither is reproduced.
The Sobel responses are separable correlations (OpenCV, float64), exact on integer grey levels.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ._matlab import filter_same

# Xydeas-Petrovic sigmoid parameters (analysis_Qabf.m)
_L, _TG, _KG, _DG, _TA, _KA, _DA = 1, 0.9994, -15.0, 0.5, 0.9879, -22.0, 0.8
# Shreyamsha Kumar / Petrovic artefact parameters (analysis_nabf.m)
_TD, _WT_MIN, _LG, _NRG, _KG_N, _SG, _NRA, _KA_N, _SA = 2.0, 0.001, 1.5, 0.9999, 19.0, 0.5, 0.9995, 22.0, 0.5

_SMOOTH = np.array([1.0, 2.0, 1.0])
_DIFF = np.array([1.0, 0.0, -1.0])  # conv2 flips [-1 0 1], so its correlation kernel is [1 0 -1]


def _sobel_conv2(img: np.ndarray, unit_scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """``conv2(img, h3, 'same')`` and ``conv2(img, h1, 'same')`` (zero padding) -> (sx, sy)."""
    if unit_scale:
        return _sobel_conv2_unit(img / 255.0)
    sx = filter_same(img, _DIFF, _SMOOTH, border="constant")
    sy = filter_same(img, _SMOOTH, -_DIFF, border="constant")
    return sx, sy


_H3 = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])  # analysis_Qabf.m h3 (x)
_H1 = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])  # analysis_Qabf.m h1 (y)


def _sobel_conv2_unit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``conv2(x, h, 'same')`` on [0,1] data with MATLAB's accumulation order.

    On [0,1] data round-off leaves ~1e-17 residues where the exact response is 0, which flips atan(sy/sx)
    between ±π/2 (T1's instability), so the order of the additions matters. Accumulating
    out(r,c) += h(k,l)·x(r+1-k, c+1-l) over the kernel entries in column-major order (l outer, k inner, zero
    padding) reproduces the MATLAB values of ``Metric_TNO.xlsx`` to ~1e-15 (other orders differ by up to 2e-2).
    """
    h, w = x.shape
    p = np.zeros((h + 2, w + 2))
    p[1:-1, 1:-1] = x
    sx = np.zeros((h, w))
    sy = np.zeros((h, w))
    for l in range(3):
        for k in range(3):
            win = p[2 - k:2 - k + h, 2 - l:2 - l + w]
            sx += _H3[k, l] * win
            sy += _H1[k, l] * win
    return sx, sy


def _strength_angle(img: np.ndarray, unit_scale: bool) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = _sobel_conv2(np.asarray(img, np.float64), unit_scale)
    g = np.sqrt(sx * sx + sy * sy)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.arctan(sy / sx)
    a[sx == 0] = math.pi / 2
    return g, a


def _q_xf(g_x: np.ndarray, a_x: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        G = np.minimum(g_x, g_f) / np.maximum(g_x, g_f)
    eq = g_x == g_f
    G[eq] = g_f[eq]  # the reference's quirk: G = g_F (not 1) where the strengths are equal
    A = 1.0 - np.abs(a_x - a_f) / (math.pi / 2)
    # exp via OpenCV (accurate to ~1 ulp in float64, several times faster than numpy's)
    qg = _TG / (1.0 + cv2.exp(_KG * (G - _DG)))
    qa = _TA / (1.0 + cv2.exp(_KA * (A - _DA)))
    return qg * qa


def qabf(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, unit_scale: bool = False) -> float:
    """Qabf: Xydeas-Petrovic gradient-based edge-information preservation.

    Formula: Sobel responses sx, sy (``conv2(·, [-1 0 1;-2 0 2;-1 0 1], 'same')`` and
    ``conv2(·, [1 2 1;0 0 0;-1 -2 -1], 'same')``, zero padding, border pixels included); g = sqrt(sx²+sy²);
    α = atan(sy/sx) (plain atan; π/2 where sx == 0). G_XF = g_F/g_X if g_X > g_F, g_X/g_F if g_X < g_F and
    **g_F itself if g_X == g_F** (the reference code's quirk). A_XF = 1 - |α_X - α_F|/(π/2).
    Q_XF = Tg/(1+exp(kg(G-Dg))) · Ta/(1+exp(ka(A-Da))) with Tg=0.9994, kg=-15, Dg=0.5, Ta=0.9879, ka=-22,
    Da=0.8. Qabf = Σ(Q_AF·g_A + Q_BF·g_B) / Σ(g_A + g_B) (weights g^L, L=1).
    Reference: Tang's ``analysis_Qabf.m`` on double 0-255 (T2) = CDDFuse ``Evaluator.Qabf``.
    ``unit_scale=True`` computes on [0,1] as T1 did; there round-off turns exact zeros of sx into ±1e-17, so
    the value depends on the summation order; MATLAB ``conv2``'s order is reproduced (see ``_sobel_conv2_unit``).
    Scale: 0-255 grey levels. Range [0, 1]; typical IVIF values 0.2-0.75. NaN if both sources are flat.
    Direction: higher is better (↑).
    """
    g_f, a_f = _strength_angle(fused, unit_scale)
    g_a, a_a = _strength_angle(ir, unit_scale)
    g_b, a_b = _strength_angle(vi, unit_scale)
    q_af = _q_xf(g_a, a_a, g_f, a_f)
    q_bf = _q_xf(g_b, a_b, g_f, a_f)
    num = np.einsum("i,i->", q_af.ravel(), g_a.ravel()) + np.einsum("i,i->", q_bf.ravel(), g_b.ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(num / (g_a.sum() + g_b.sum()))


def qabf_terms(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, unit_scale: bool = False) -> dict[str, float]:
    """Qabf split by source (diagnostic; same formula and conventions as :func:`qabf`).

    ``ir`` = Σ Q_AF·g_A / Σ g_A and ``vi`` = Σ Q_BF·g_B / Σ g_B, how well the fused edges keep each source's
    edges; ``ir_weight`` = Σ g_A / Σ (g_A + g_B), so Qabf = ir_weight·ir + (1 − ir_weight)·vi. Higher is better
    for ``ir`` and ``vi``; ``ir_weight`` describes the pair, not the fusion.
    """
    g_f, a_f = _strength_angle(fused, unit_scale)
    g_a, a_a = _strength_angle(ir, unit_scale)
    g_b, a_b = _strength_angle(vi, unit_scale)
    sa, sb = g_a.sum(), g_b.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ir": float((_q_xf(g_a, a_a, g_f, a_f) * g_a).sum() / sa),
            "vi": float((_q_xf(g_b, a_b, g_f, a_f) * g_b).sum() / sb),
            "ir_weight": float(sa / (sa + sb)),
        }


def _nabf_edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sobel_fn.m``: correlation with Sobel/8 on a mirror-extended image -> (strength, angle)."""
    x = np.asarray(img, np.float64)
    gv = filter_same(x, -_DIFF / 8.0, _SMOOTH, border="mirror")  # [-1 0 1;-2 0 2;-1 0 1]/8
    gh = filter_same(x, _SMOOTH, -_DIFF / 8.0, border="mirror")  # [-1 -2 -1;0 0 0;1 2 1]/8
    g = np.sqrt(gh * gh + gv * gv)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where((gv == 0) & (gh == 0), 0.0, np.arctan(gv / gh))
    return g, a


def _nabf_q(g_x: np.ndarray, a_x: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        G = np.minimum(g_x, g_f) / np.maximum(g_x, g_f)
    G[(g_x == 0) | (g_f == 0)] = 0.0
    A = np.abs(np.abs(a_x - a_f) - math.pi / 2) * 2.0 / math.pi
    qg = _NRG / (1.0 + cv2.exp(-_KG_N * (G - _SG)))
    qa = _NRA / (1.0 + cv2.exp(-_KA_N * (A - _SA)))
    return np.sqrt(qg * qa)


def nabf(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """Nabf: Shreyamsha Kumar's modified Petrovic fusion-artefact measure (noise/artefacts added by fusion).

    Formula: Sobel/8 responses gv (x-derivative), gh (y-derivative) on a mirror extension without edge
    repetition; g = sqrt(gh²+gv²); α = atan(gv/gh), 0 where both are 0. G_XF = 0 if g_X or g_F is 0, else
    min/max; A_XF = |(|α_X - α_F| - π/2)|·2/π. Q_XF = sqrt(Qg·Qa), Qg = 0.9999/(1+exp(-19(G-0.5))),
    Qa = 0.9995/(1+exp(-22(A-0.5))). Weights w_X = g_X^1.5 where g_X ≥ 2, else 0.001.
    Nabf = Σ_{g_F > g_A and g_F > g_B} ((1-Q_AF)w_A + (1-Q_BF)w_B) / Σ(w_A + w_B).
    Reference: Tang's ``analysis_nabf.m`` (B. K. Shreyamsha Kumar's code), called with 0-255 data and the
    arguments in its documented order (fused, A, B) (T1 used [0,1] data, T2 swaps the arguments).
    Scale: 0-255 grey levels (the threshold 2 assumes it). Range [0, 1]; typical IVIF values 0.001-0.1.
    Direction: lower is better (↓).
    """
    g_f, a_f = _nabf_edges(fused)
    g_a, a_a = _nabf_edges(ir)
    g_b, a_b = _nabf_edges(vi)
    q_af = _nabf_q(g_a, a_a, g_f, a_f)
    q_bf = _nabf_q(g_b, a_b, g_f, a_f)
    w_a = np.where(g_a >= _TD, g_a ** _LG, _WT_MIN)
    w_b = np.where(g_b >= _TD, g_b ** _LG, _WT_MIN)
    na = (g_f > g_a) & (g_f > g_b)
    return float(np.where(na, (1.0 - q_af) * w_a + (1.0 - q_bf) * w_b, 0.0).sum() / (w_a + w_b).sum())
