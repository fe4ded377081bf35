"""Full-reference similarity metrics used as fusion metrics: SSIM, MSE and PSNR (averaged/summed over sources).

References
----------
* SSIM: Z. Wang, A. C. Bovik, H. R. Sheikh and E. P. Simoncelli, "Image quality assessment: from error
  visibility to structural similarity", IEEE TIP 13(4), 2004.
  - ``kind="matlab"`` (Tang T2): MATLAB ``ssim(F, X)`` on double 0-255 data: Gaussian σ = 1.5 on an 11×11
    support (2·ceil(3σ)+1; replicate padding, same-size map averaged over all pixels), exponents 1, and
    the constants of MATLAB's default DynamicRange for double input (L = 1: C1 = 1e-4, C2 = 9e-4), which are
    negligible on 0-255 data. Fusion value: 0.5·SSIM(F,A) + 0.5·SSIM(F,B).
  - ``kind="skimage"`` (CDDFuse): ``skimage.metrics.structural_similarity(F, X)`` with its defaults (7×7
    uniform window, sample covariance, K1 = 0.01, K2 = 0.03) and data_range = 2, which the pinned
    scikit-image 0.19 used silently for float input. Fusion value: SSIM(F,A) + SSIM(F,B) (≤ 2).
* MSE / PSNR: Tang's ``MSE_evaluation.m`` / ``PSNR_evaluation.m``; CDDFuse ``Evaluator.MSE`` / ``PSNR``.

Deviation: the MATLAB SSIM convention has no golden values here (the 2022 spreadsheet has no SSIM column), so
``kind="matlab"`` is checked against scikit-image's Gaussian SSIM on the image interior only (tests).
"""
from __future__ import annotations

import math

import numpy as np

from ._matlab import filter_same

_MATLAB_SSIM_SIGMA = 1.5


def _gauss_1d(sigma: float) -> np.ndarray:
    radius = math.ceil(3 * sigma)  # MATLAB ssim: FilterSize = 2*ceil(3*Radius)+1 -> 11
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def _moments(x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = filter_same(x, k)
    return mu, filter_same(x * x, k) - mu * mu


def _ssim_map_matlab(f: np.ndarray, r: np.ndarray, dynamic_range: float = 1.0,
                     f_moments: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Same-size SSIM map of MATLAB ``ssim(f, r)`` (``f_moments`` lets the fused image's be shared)."""
    k = _gauss_1d(_MATLAB_SSIM_SIGMA)
    c1 = (0.01 * dynamic_range) ** 2
    c2 = (0.03 * dynamic_range) ** 2
    f = np.asarray(f, np.float64)
    r = np.asarray(r, np.float64)
    mu_f, var_f = f_moments if f_moments is not None else _moments(f, k)
    mu_r, var_r = _moments(r, k)
    cov = filter_same(f * r, k) - mu_f * mu_r
    num = (2 * mu_f * mu_r + c1) * (2 * cov + c2)
    den = (mu_f * mu_f + mu_r * mu_r + c1) * (var_f + var_r + c2)
    return num / den


def _ssim_matlab_many(fused: np.ndarray, refs: list[np.ndarray], dynamic_range: float) -> list[float]:
    f = np.asarray(fused, np.float64)
    f_moments = _moments(f, _gauss_1d(_MATLAB_SSIM_SIGMA))
    return [float(_ssim_map_matlab(f, r, dynamic_range, f_moments).mean()) for r in refs]


def _ssim_skimage(fused: np.ndarray, ref: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    # float32 as CDDFuse passes it (cv2 images as float32): in flat regions float32 round-off of E[x²] - μ²
    # (~4e-3) is comparable to C2 = 0.0036, which moves the value by up to ~2e-4 versus float64.
    return float(structural_similarity(np.asarray(fused, np.float32), np.asarray(ref, np.float32), data_range=2))


def ssim(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, kind: str = "matlab", reduce: str = "mean",
         dynamic_range: float = 1.0) -> float:
    """SSIM of the fused image against each source, averaged (Tang) or summed (CDDFuse) over the sources.

    Formula: SSIM(x,y) = mean over the map of ((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)),
    C1 = (0.01L)², C2 = (0.03L)². ``kind="matlab"``: Gaussian σ=1.5 11×11 window, replicate padding,
    L = ``dynamic_range`` (1, MATLAB's default for double data). ``kind="skimage"``: 7×7 uniform window,
    sample covariance, valid-region mean, L = 2, float32 data (CDDFuse under scikit-image 0.19).
    Reference: MATLAB ``ssim`` as called by Tang's toolbox (T2, ``reduce="mean"``); CDDFuse
    ``Evaluator.SSIM`` (``kind="skimage"``, ``reduce="sum"``).
    Scale: 0-255 grey levels. Range ≤ 1 (mean) or ≤ 2 (sum).
    Direction: higher is better (↑).
    """
    if kind == "matlab":
        vals = _ssim_matlab_many(fused, [ir, vi], dynamic_range)
    elif kind == "skimage":
        vals = [_ssim_skimage(fused, ir), _ssim_skimage(fused, vi)]
    else:
        raise ValueError(f"SSIM kind must be 'matlab' or 'skimage', got {kind!r}")
    if reduce == "mean":
        return 0.5 * (vals[0] + vals[1])
    if reduce == "sum":
        return vals[0] + vals[1]
    raise ValueError(f"SSIM reduce must be 'mean' or 'sum', got {reduce!r}")


def _mse255(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    f = np.asarray(fused, np.float64)
    return 0.5 * float(((f - np.asarray(ir, np.float64)) ** 2).mean()) + \
        0.5 * float(((f - np.asarray(vi, np.float64)) ** 2).mean())


def mse(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, scale: str = "unit") -> float:
    """MSE: mean of the two per-source mean squared errors.

    Formula: MSE = (mean((F-A)²) + mean((F-B)²)) / 2, on [0,1] data (``scale="unit"``, Tang: values ~0.01-0.1)
    or on 0-255 data (``scale="255"``, CDDFuse: values ~500-5000).
    Reference: Tang's ``MSE_evaluation.m``; CDDFuse ``Evaluator.MSE``.
    Scale: inputs 0-255 grey levels. Direction: lower is better (↓).
    """
    m = _mse255(fused, ir, vi)
    if scale == "unit":
        return m / (255.0 * 255.0)
    if scale == "255":
        return m
    raise ValueError(f"MSE scale must be 'unit' or '255', got {scale!r}")


def psnr(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, kind: str = "tang") -> float:
    """PSNR of the fused image against the two sources (from the mean MSE).

    Formula: ``kind="tang"``: 20·log10(255 / sqrt(MSE on [0,1])), which mixes scales, so it equals the true
    PSNR + 20·log10(255) = +48.13 dB (typical TNO values 58-67). ``kind="cddfuse"``:
    10·log10(max(F)² / MSE on 0-255), peak = the fused image's maximum (typical 11-18 dB).
    Never compare PSNR numbers across conventions.
    Reference: Tang's ``PSNR_evaluation.m``; CDDFuse ``Evaluator.PSNR``.
    Scale: inputs 0-255 grey levels. Direction: higher is better (↑). +inf when F equals both sources.
    """
    m = _mse255(fused, ir, vi)
    with np.errstate(divide="ignore"):
        if kind == "tang":
            return float(20.0 * np.log10(255.0 / np.sqrt(m / (255.0 * 255.0))))
        if kind == "cddfuse":
            peak = float(np.max(fused))
            return float(10.0 * np.log10(peak * peak / np.float64(m)))
    raise ValueError(f"PSNR kind must be 'tang' or 'cddfuse', got {kind!r}")
