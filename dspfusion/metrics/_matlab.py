"""MATLAB-faithful numeric helpers shared by the metrics (rounding, ``fspecial``, filtering, ``imresize``).

The reference implementations of the fusion metrics are MATLAB code (L. Tang's Evaluation-for-Image-Fusion,
H. R. Sheikh's ``vifp_mscale``, A. Mittal's NIQE release, MATLAB's ``ssim`` / ``piqe``). These helpers
reproduce the MATLAB building blocks they use, written from the MATLAB documentation:

* ``round_half_away``: MATLAB ``round`` and the rounding of a double to ``uint8`` (halves away from zero).
* ``gaussian_kernel_1d``: the 1-D factor of ``fspecial('gaussian', N, sigma)``. The 2-D kernel is the outer
  product of this normalised vector; ``fspecial`` also zeroes entries below ``eps * max``, which never
  happens for the sizes used here (checked, an error otherwise).
* ``filter_same`` / ``filter_valid``: separable correlation (``imfilter`` / ``filter2``) with OpenCV's
  ``sepFilter2D`` in float64. Separable filtering of integer-valued data with these kernels agrees with
  MATLAB's direct 2-D sums to ~1e-13 relative.
* ``imresize``: MATLAB ``imresize`` with the default bicubic kernel (a = -0.5) and antialiasing when
  shrinking, as weight matrices (the same contributions/weights construction as MATLAB's
  ``contributions`` sub-function, with symmetric index mirroring at the borders).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

_BORDERS = {
    "constant": cv2.BORDER_CONSTANT,  # zero padding (conv2 'same')
    "replicate": cv2.BORDER_REPLICATE,  # imfilter(..., 'replicate'), imgaussfilt default
    "mirror": cv2.BORDER_REFLECT_101,  # reflection without repeating the edge pixel
    "symmetric": cv2.BORDER_REFLECT,  # padarray(..., 'symmetric')
}


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: halves go away from zero (numpy's ``round`` goes to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D factor of ``fspecial('gaussian', size, sigma)`` (float64)."""
    half = (size - 1) / 2.0
    x = np.arange(size, dtype=np.float64) - half
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    # fspecial zeroes 2-D entries below eps*max; the smallest 2-D entry is g.min()**2 (max is 1).
    if g.min() ** 2 < np.finfo(np.float64).eps:
        raise ValueError(f"gaussian {size}x{size}, sigma={sigma}: fspecial would truncate; not separable")
    return g / g.sum()


def filter_same(img: np.ndarray, kx: np.ndarray, ky: np.ndarray | None = None, border: str = "replicate") -> np.ndarray:
    """Correlate ``img`` with the separable kernel ``outer(ky, kx)``; output has the input's size.

    ``kx`` filters along columns (x, horizontal), ``ky`` along rows (y, vertical); ``ky`` defaults to ``kx``.
    """
    ky = kx if ky is None else ky
    src = np.ascontiguousarray(img, dtype=np.float64)
    return cv2.sepFilter2D(src, cv2.CV_64F, np.asarray(kx, np.float64), np.asarray(ky, np.float64),
                           borderType=_BORDERS[border])


def filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``filter2(outer(k, k), img, 'valid')`` for a symmetric odd-length kernel ``k``."""
    r = (len(k) - 1) // 2
    h, w = img.shape
    if h < len(k) or w < len(k):
        raise ValueError(f"image {h}x{w} is smaller than the {len(k)}x{len(k)} filter window")
    out = filter_same(img, k, k, border="constant")
    return out[r:h - r, r:w - r]


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2)))


def _resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len x in_len) weight matrix of MATLAB's bicubic ``imresize`` along one axis."""
    width = 4.0
    if scale < 1:  # antialiasing: stretch the kernel
        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * x)
        width = width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    weights = kernel(u[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])  # symmetric extension
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), taps), cols.ravel()), weights.ravel())
    return mat


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing) for a 2-D float64 image; no rounding."""
    h, w = img.shape
    out_h, out_w = int(math.ceil(h * scale)), int(math.ceil(w * scale))
    rows = _resize_matrix(h, out_h, scale)
    cols = _resize_matrix(w, out_w, scale)
    # MATLAB resizes the dimension with the smaller scale first (rows on ties); the maths is linear.
    return (rows @ np.asarray(img, np.float64)) @ cols.T
