"""Statistical fusion metrics: SD, SF, AG (fused image alone) and CC, SCD (fused image vs its sources).

References
----------
* SD: Rao, "In-fibre Bragg grating sensors", Meas. Sci. Technol. 1997 (as cited by IVIF surveys).
  Code: Tang's ``SD_evaluation.m``; CDDFuse ``Evaluator.SD`` (``np.std``).
* SF: Eskicioglu & Fisher, "Image quality measures and their performance", IEEE TCOM 1995.
  Code: Tang's ``SF_evaluation.m``; CDDFuse ``Evaluator.SF``.
* AG: Cui et al., "Detail preserved fusion of visible and infrared images using regional saliency
  extraction and multi-scale image decomposition", Opt. Commun. 2015. Code: Tang's ``AG_evaluation.m``
  (MATLAB ``gradient``); CDDFuse ``Evaluator.AG``.
* CC: Deshmukh & Bhosale, "Image fusion and image quality assessment of fused images", IJIP 2010.
  Code: Tang's ``CC_evaluation.m``; CDDFuse ``Evaluator.CC``.
* SCD: Aslantas & Bendes, "A new image quality metric for image fusion: the sum of the correlations of
  differences", AEU 2015. Code: Tang's ``analysis_SCD.m``; CDDFuse ``Evaluator.SCD``.

Inputs are float64 arrays of integer grey levels 0-255. Deviation: none; the T1 switches reproduce bugs.
"""
from __future__ import annotations

import numpy as np

from ._matlab import round_half_away


def standard_deviation(fused: np.ndarray, *, uint8_saturate: bool = False) -> float:
    """SD: population standard deviation of the fused image.

    Formula: SD = sqrt(mean((F - mean(F))^2)) (normalised by N, not N-1).
    Reference: Tang's ``SD_evaluation.m`` on double 0-255 (T2); CDDFuse ``np.std``. With
    ``uint8_saturate=True`` it reproduces T1 (``Metric_TNO.xlsx``), which passed uint8 F: F - mean rounds and
    clips negatives to 0 and the square saturates at 255, giving sqrt(mean(min(255, round(max(F-μ, 0))^2)))
    (values ~8-11; not comparable with any modern SD).
    Scale: 0-255 grey levels. Typical IVIF values 25-60.
    Direction: higher is better (↑).
    """
    f = np.asarray(fused, np.float64)
    mu = f.mean()
    if uint8_saturate:
        d = np.clip(round_half_away(f - mu), 0, 255)
        return float(np.sqrt(np.minimum(d * d, 255).mean()))
    return float(np.sqrt(((f - mu) ** 2).mean()))


def spatial_frequency(fused: np.ndarray, *, unit_scale: bool = False) -> float:
    """SF: spatial frequency.

    Formula: RF^2 = mean over (H-1)W of (F[i+1,j] - F[i,j])^2, CF^2 = mean over H(W-1) of
    (F[i,j+1] - F[i,j])^2, SF = sqrt(RF^2 + CF^2).
    Reference: Tang's ``SF_evaluation.m`` on 0-255 (T2) = CDDFuse ``Evaluator.SF``. ``unit_scale=True``
    computes it on [0,1] data as T1 did (the 0-255 value / 255).
    Scale: 0-255 grey levels. Typical IVIF values 5-20.
    Direction: higher is better (↑).
    """
    f = np.asarray(fused, np.float64)
    if unit_scale:
        f = f / 255.0
    rf2 = np.mean(np.diff(f, axis=0) ** 2)
    cf2 = np.mean(np.diff(f, axis=1) ** 2)
    return float(np.sqrt(rf2 + cf2))


def _gradient(f: np.ndarray, axis: int) -> np.ndarray:
    """MATLAB ``gradient`` along one axis: central differences inside, one-sided at the two borders."""
    g = np.empty_like(f)
    src = np.moveaxis(f, axis, 0)
    dst = np.moveaxis(g, axis, 0)
    np.subtract(src[2:], src[:-2], out=dst[1:-1])
    dst[1:-1] /= 2.0
    dst[0] = src[1] - src[0]
    dst[-1] = src[-1] - src[-2]
    return g


def average_gradient(fused: np.ndarray, *, normalisation: str = "interior") -> float:
    """AG: average gradient.

    Formula: gx, gy by central differences inside and one-sided differences at the borders (MATLAB
    ``gradient``, ``np.gradient``); AG = Σ sqrt((gx^2 + gy^2)/2) / ((H-1)(W-1)) (``"interior"``, Tang/VIFB)
    or the plain mean over H·W (``"mean"``, CDDFuse; smaller by (H-1)(W-1)/(HW)).
    Reference: Tang's ``AG_evaluation.m``; CDDFuse ``Evaluator.AG``.
    Scale: 0-255 grey levels. Typical IVIF values 2-11.
    Direction: higher is better (↑).
    """
    f = np.asarray(fused, np.float64)
    if min(f.shape) < 2:
        raise ValueError(f"AG needs an image of at least 2x2 pixels, got {f.shape}")
    s = np.sqrt((_gradient(f, 1) ** 2 + _gradient(f, 0) ** 2) / 2.0)
    if normalisation == "interior":
        h, w = f.shape
        return float(s.sum() / ((h - 1) * (w - 1)))
    if normalisation == "mean":
        return float(s.mean())
    raise ValueError(f"AG normalisation must be 'interior' or 'mean', got {normalisation!r}")


def _corr2(x: np.ndarray, y: np.ndarray) -> float:
    """MATLAB ``corr2``: 2-D Pearson correlation (NaN when either image is constant)."""
    xc = (x - x.mean()).ravel()
    yc = (y - y.mean()).ravel()
    # einsum, not np.dot: BLAS threads spin badly on busy machines and the sum is memory-bound anyway
    sxy, sxx, syy = np.einsum("i,i->", xc, yc), np.einsum("i,i->", xc, xc), np.einsum("i,i->", yc, yc)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(sxy / np.sqrt(sxx * syy))


def correlation_coefficient(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """CC: mean correlation coefficient between the fused image and each source.

    Formula: CC = (corr(A, F) + corr(B, F)) / 2 with the 2-D Pearson correlation (MATLAB ``corr2``).
    Reference: Tang's ``CC_evaluation.m`` (identical to CDDFuse ``Evaluator.CC``). Scale-invariant.
    Scale: any (0-255 here). Range [-1, 1]; NaN if an image is constant.
    Direction: higher is better (↑).
    """
    f = np.asarray(fused, np.float64)
    return 0.5 * (_corr2(np.asarray(ir, np.float64), f) + _corr2(np.asarray(vi, np.float64), f))


def scd(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray) -> float:
    """SCD: sum of the correlations of differences.

    Formula: SCD = corr(F - B, A) + corr(F - A, B) with the 2-D Pearson correlation.
    Reference: Tang's ``analysis_SCD.m`` (identical to CDDFuse ``Evaluator.SCD``). Scale-invariant.
    Scale: any (0-255 here). Range about [-2, 2]; typical IVIF values 1.4-1.9.
    Direction: higher is better (↑).
    """
    f = np.asarray(fused, np.float64)
    a = np.asarray(ir, np.float64)
    b = np.asarray(vi, np.float64)
    return _corr2(f - b, a) + _corr2(f - a, b)
