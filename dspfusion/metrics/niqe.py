"""NIQE: Natural Image Quality Evaluator (no-reference; lower is better).

Reference: A. Mittal, R. Soundararajan and A. C. Bovik, "Making a 'completely blind' image quality analyzer",
IEEE Signal Processing Letters 20(3), 2013; official MATLAB release ``niqe_release`` (``computequality.m``,
``computefeature.m``, ``estimateaggdparam.m``), re-implemented here from that description:

1. Grey levels (MATLAB ``rgb2gray``), cropped to whole 96×96 blocks.
2. Two scales (the second after MATLAB ``imresize(im, 0.5)``, bicubic with antialiasing). At each scale the
   MSCN map (I - μ)/(σ + 1), μ and σ from a 7×7 Gaussian (σ = 7/6, replicate padding), is cut into blocks
   (96×96, then 48×48) and each block gives 18 features: the AGGD fit (α, (βl+βr)/2) of the coefficients and,
   for the products with their neighbours shifted circularly by (0,1), (1,0), (1,1), (1,-1), the AGGD fit
   (α, (βr-βl)·Γ(2/α)/Γ(1/α), βl, βr). The AGGD shape α is the table value (0.2:0.001:10) nearest to the
   moment ratio, as ``estimateaggdparam.m`` does.
3. Multivariate Gaussian of the 36-D block features (NaN-aware mean; covariance over rows without NaN) and
   NIQE = sqrt((μp - μd) · pinv((Σp + Σd)/2) · (μp - μd)ᵀ).

Pristine model μp (1×36), Σp (36×36): the parameters of the official MATLAB release (``modelparameters.mat``),
as shipped in ``basicsr/metrics/niqe_pris_params.npz`` of the BasicSR 1.4.2 source distribution on PyPI
(https://github.com/XPixelGroup/BasicSR, Apache-2.0; file unchanged here, sha256 2a7c182a…c4296).
Calibrated against the official MATLAB values of pyiqa's ResultsCalibra images (``../shared/golden/nr_iqa``).
Deviation: images smaller than two 96×96 blocks are refused (the covariance needs at least two blocks).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import gamma as gamma_fn

from ..errors import UserError
from ._matlab import filter_same, gaussian_kernel_1d, imresize

BLOCK = 96
_PARAMS = Path(__file__).with_name("data") / "niqe_pris_params.npz"
_GAM = 0.2 + 0.001 * np.arange(9801)  # MATLAB 0.2:0.001:10
_R_GAM = gamma_fn(2.0 / _GAM) ** 2 / (gamma_fn(1.0 / _GAM) * gamma_fn(3.0 / _GAM))
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@lru_cache(maxsize=1)
def pristine_params() -> tuple[np.ndarray, np.ndarray]:
    """(mu_pris 36, cov_pris 36×36) of the official NIQE release (see module docstring for provenance)."""
    with np.load(_PARAMS) as d:
        return d["mu_pris_param"].reshape(36).astype(np.float64), d["cov_pris_param"].astype(np.float64)


def mscn(img: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients (I - μ)/(σ + 1) with a 7×7 Gaussian, σ = 7/6."""
    k = gaussian_kernel_1d(7, 7.0 / 6.0)
    mu = filter_same(img, k, border="replicate")
    sigma = np.sqrt(np.abs(filter_same(img * img, k, border="replicate") - mu * mu))
    return (img - mu) / (sigma + 1.0)


def _aggd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise AGGD fit of ``x`` (n, m) -> (alpha, beta_l, beta_r), as ``estimateaggdparam.m``."""
    sq = x * x
    neg, pos = x < 0, x > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((sq * neg).sum(1) / neg.sum(1))
        right = np.sqrt((sq * pos).sum(1) / pos.sum(1))
        ghat = left / right
        rhat = np.abs(x).mean(1) ** 2 / sq.mean(1)
        rnorm = rhat * (ghat ** 3 + 1) * (ghat + 1) / (ghat ** 2 + 1) ** 2
    idx = np.argmin((_R_GAM[None, :] - rnorm[:, None]) ** 2, axis=1)
    alpha = _GAM[idx]
    const = np.sqrt(gamma_fn(1.0 / alpha) / gamma_fn(3.0 / alpha))
    return alpha, left * const, right * const


def _block_features(blocks: np.ndarray) -> np.ndarray:
    """18 NIQE features for each block of ``blocks`` (n, b, b) -> (n, 18)."""
    n = blocks.shape[0]
    a, bl, br = _aggd(blocks.reshape(n, -1))
    cols = [a, (bl + br) / 2]
    for shift in _SHIFTS:
        pair = blocks * np.roll(blocks, shift, axis=(1, 2))
        a, bl, br = _aggd(pair.reshape(n, -1))
        cols += [a, (br - bl) * gamma_fn(2.0 / a) / gamma_fn(1.0 / a), bl, br]
    return np.stack(cols, axis=1)


def _blocks(x: np.ndarray, size: int) -> np.ndarray:
    h, w = x.shape
    return x.reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3).reshape(-1, size, size)


def niqe(img: np.ndarray) -> float:
    """NIQE of a grey image (float64 grey levels 0-255, e.g. from ``images.load_grey``).

    Formula: distance between the multivariate Gaussian of 36 natural-scene-statistics features of 96×96
    blocks (two scales) and the pristine model (see the module docstring).
    Reference: official MATLAB ``computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam)``.
    Scale: 0-255 grey levels. Typical values 2-10 (I03 of pyiqa's set: 15.75).
    Direction: lower is better (↓).
    """
    x = np.asarray(img, np.float64)
    if x.ndim != 2:
        raise ValueError(f"NIQE expects a 2-D grey image, got shape {x.shape}")
    nh, nw = x.shape[0] // BLOCK, x.shape[1] // BLOCK
    if nh * nw < 2:
        raise UserError(f"NIQE needs an image of at least two 96×96 blocks (192×96); got {x.shape[1]}×{x.shape[0]}")
    x = x[:nh * BLOCK, :nw * BLOCK]
    feats = []
    for scale in (1, 2):
        feats.append(_block_features(_blocks(mscn(x), BLOCK // scale)))
        if scale == 1:
            x = imresize(x, 0.5)
    feat = np.concatenate(feats, axis=1)
    mu_p, cov_p = pristine_params()
    mu_d = np.nanmean(feat, axis=0)
    complete = feat[~np.isnan(feat).any(axis=1)]
    cov_d = np.cov(complete, rowvar=False)
    d = mu_p - mu_d
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov_d) / 2.0) @ d))
