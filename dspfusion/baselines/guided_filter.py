"""The guided filter (edge-preserving smoothing steered by a guidance image).

Reference: K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 and IEEE TPAMI 35(6), 2013,
Algorithm 1. With guidance I, input p, a (2r+1)x(2r+1) box window and regulariser eps:

    a = cov(I, p) / (var(I) + eps),   b = mean(p) - a * mean(I),   q = mean(a) * I + mean(b)

for a grey guidance image (the only form needed here: colour images are filtered on their luma).
Used here by guided-filter fusion (Li et al. 2013), dark-channel dehazing (He et al. 2009/2011, as
the fast replacement for soft matting) and the illumination-map refinement of the low-light
enhancer. Box means use OpenCV's normalised ``boxFilter`` with reflected borders (the paper's
reference divides by the number of pixels actually inside the window; reflection differs only in a
band of ``r`` pixels at the border).
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["guided_filter"]


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, ddepth=-1, ksize=(2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Filter ``src`` (float ``HxW``) with the guided filter of He et al. (TPAMI 2013).

    Args:
        guide: guidance image, float32 ``HxW`` on the same scale as ``eps`` (here [0, 1]).
        src: image to filter, float32 ``HxW``.
        r: window radius in pixels (window is ``2r+1`` wide).
        eps: regulariser; larger values smooth more (edges with variance << eps are smoothed away).

    Returns:
        The filtered image, float32 ``HxW``.
    """
    guide = guide.astype(np.float32, copy=False)
    src = src.astype(np.float32, copy=False)
    if guide.shape != src.shape or guide.ndim != 2:
        raise ValueError(f"guided_filter needs two HxW images of one size, got {guide.shape} and {src.shape}")
    mean_i = _box(guide, r)
    mean_p = _box(src, r)
    cov_ip = _box(guide * src, r) - mean_i * mean_p
    # E[I^2] - E[I]^2 can dip below 0 by float32 cancellation; a variance cannot
    var_i = np.maximum(_box(guide * guide, r) - mean_i * mean_i, 0.0)
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, r) * guide + _box(b, r)
