"""PIQE: Perception-based Image Quality Evaluator (no-reference; lower is better, 0-100).

Reference: N. Venkatanath, D. Praneeth, Bh. M. Chandrasekhar, S. S. Channappayya and S. S. Medasani, "Blind
image quality evaluation using perception based features", NCC 2015; MATLAB ``piqe`` (Image Processing
Toolbox), whose steps are documented by MathWorks and ported to Python by pyiqa (``piqe_arch.py``) and
pypiqe. Re-implemented here from that description:

1. Grey levels, rescaled as round(255·I / max(I)); padded (symmetric, at the bottom/right) to multiples of 16.
2. MSCN map (I - μ)/(σ + 1), μ and σ from a 7×7 Gaussian (σ = 7/6, replicate padding); 16×16 blocks.
3. A block is *active* (spatially prominent) if the sample variance ν of its MSCN values exceeds 0.1.
4. Noticeable distortion (blockiness): some 6-pixel segment (stride 1) of one of its four edges has a sample
   standard deviation below 0.1.
5. Noise: σ_b > 2β, with σ_b = sqrt(ν), β = |σ_b - r|/max(σ_b, r) and r the ratio of the sample standard
   deviations of the block centre (0-based columns 7, 8) and the surround. As in the reference code the
   surround drops 0-based columns 7 and 9 (the second column is removed after the first one, which shifts it);
   r = 0 where undefined.
6. PIQE = 100 · (Σ_active [distorted·(1-ν) + noisy·ν] + 1) / (N_active + 1).

Calibrated against MATLAB ``piqe`` on pyiqa's ResultsCalibra images (``../shared/golden/nr_iqa``).
Deviation: pyiqa pads by (size mod 16) pixels; we pad up to the next multiple of 16, as the method intends.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._matlab import round_half_away
from .niqe import mscn

BLOCK = 16
ACTIVITY_THRESHOLD = 0.1
SEGMENT_THRESHOLD = 0.1
SEGMENT = 6


def _noticeable_distortion(blocks: np.ndarray) -> np.ndarray:
    edges = (blocks[:, 0, :], blocks[:, -1, :], blocks[:, :, 0], blocks[:, :, -1])
    impaired = np.zeros(blocks.shape[0], dtype=bool)
    for edge in edges:
        seg_std = sliding_window_view(edge, SEGMENT, axis=1).std(axis=-1, ddof=1)
        impaired |= (seg_std < SEGMENT_THRESHOLD).any(axis=1)
    return impaired


def _noise(blocks: np.ndarray, var: np.ndarray) -> np.ndarray:
    sigma = np.sqrt(var)
    c1 = BLOCK // 2 - 1  # 0-based 7 for 16x16 blocks
    centre = blocks[:, :, c1:c1 + 2]
    keep = np.ones(BLOCK, dtype=bool)
    keep[[c1, c1 + 2]] = False  # reference quirk: the second removal hits column 9, not 8
    surround = blocks[:, :, keep]
    n = blocks.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = centre.reshape(n, -1).std(axis=1, ddof=1) / surround.reshape(n, -1).std(axis=1, ddof=1)
        ratio = np.nan_to_num(ratio, nan=0.0, posinf=0.0, neginf=0.0)
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
    return sigma > 2 * beta


def piqe(img: np.ndarray) -> float:
    """PIQE of a grey image (float64 grey levels 0-255, e.g. from ``images.load_grey``).

    Formula: 100·(Σ_active [distorted·(1-ν) + noisy·ν] + 1)/(N_active + 1) over 16×16 MSCN blocks
    (see the module docstring for the block criteria).
    Reference: MATLAB ``piqe`` (default block size 16, activity threshold 0.1, segment threshold 0.1).
    Scale: 0-255 grey levels (rescaled to max 255 first). Range 0-100 (0-20 excellent, 81-100 bad).
    Direction: lower is better (↓).
    """
    x = np.asarray(img, np.float64)
    if x.ndim != 2:
        raise ValueError(f"PIQE expects a 2-D grey image, got shape {x.shape}")
    peak = x.max()
    x = round_half_away(255.0 * x / peak) if peak > 0 else x
    h, w = x.shape
    x = np.pad(x, ((0, -h % BLOCK), (0, -w % BLOCK)), mode="symmetric")
    m = mscn(x)
    hh, ww = m.shape
    blocks = m.reshape(hh // BLOCK, BLOCK, ww // BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)
    var = blocks.reshape(blocks.shape[0], -1).var(axis=1, ddof=1)
    active = var > ACTIVITY_THRESHOLD
    distorted = _noticeable_distortion(blocks)
    noisy = _noise(blocks, var)
    scores = active * (distorted * (1.0 - var) + noisy * var)
    return float(100.0 * (scores.sum() + 1.0) / (active.sum() + 1.0))
