"""Shared plumbing of the degradation functions: input checks, the 0–255 float working space, parameter draws.

Every degradation works on float32 images on the 0–255 scale, HxWxC with C = 1 or 3, whatever the caller
passed; :func:`to_work` / :func:`from_work` convert in and out so that uint8 in gives uint8 out (rounded, clipped)
and float in [0, 1] gives the same float dtype out (clipped, not quantised).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Spec:
    """How the caller's array looked, so the result can be given back in the same form."""

    dtype: np.dtype
    ndim: int
    channels: int


def to_work(image: np.ndarray) -> tuple[np.ndarray, Spec]:
    """Caller's image → (float32 HxWxC on the 0–255 scale, Spec). Raises ValueError on unsupported input."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        channels = 1
    elif image.ndim == 3 and image.shape[2] in (1, 3):
        channels = image.shape[2]
    else:
        raise ValueError(f"expected an HxW or HxWx1/HxWx3 image, got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"the image has no pixels (shape {image.shape})")
    spec = Spec(image.dtype, image.ndim, channels)
    if image.dtype == np.uint8:
        work = image.astype(np.float32)
    elif np.issubdtype(image.dtype, np.floating):
        hi, lo = float(np.max(image)), float(np.min(image))
        if not (np.isfinite(hi) and np.isfinite(lo)) or lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                f"float images must lie in [0, 1] (got min {lo:.4g}, max {hi:.4g}); divide uint8 data by 255"
            )
        work = image.astype(np.float32) * np.float32(255.0)
    else:
        raise ValueError(f"expected uint8 or float in [0, 1], got dtype {image.dtype}; convert with to_float first")
    return work.reshape(image.shape[0], image.shape[1], channels), spec


def from_work(work: np.ndarray, spec: Spec) -> np.ndarray:
    """float 0–255 HxWxC → the caller's dtype and shape (uint8: round half to even, clip; float: /255, clip)."""
    out = np.clip(work, 0.0, 255.0)
    if spec.dtype == np.uint8:
        out = np.rint(out).astype(np.uint8)
    else:
        out = (out / np.float32(255.0)).astype(spec.dtype)
    if spec.ndim == 2:
        return out[:, :, 0]
    return out


def to_grey_work(work: np.ndarray) -> np.ndarray:
    """HxWx3 → HxWx1 by the channel mean (IR given as replicated RGB has three equal channels)."""
    if work.shape[2] == 1:
        return work
    return work.mean(axis=2, keepdims=True, dtype=np.float32)


def draw(rng: np.random.Generator, value: float | None, name: str, bounds: tuple[float, float]) -> float:
    """``value`` if given (checked finite), else a uniform draw in ``bounds``."""
    if value is None:
        return float(rng.uniform(bounds[0], bounds[1]))
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_rng(rng: np.random.Generator) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def gaussian_poisson(work: np.ndarray, rng: np.random.Generator, sigma: float, photons: float) -> np.ndarray:
    """EMS noise chain on the 0–255 scale: clip(I + N(0, σ²)), then Poisson with ``photons`` counts at white.

    Var of the output at intensity I ≈ σ² + I·255/photons. The Poisson step uses I/255·photons as the rate and
    scales back by 255/photons. Noise is independent per pixel and per channel.
    """
    noisy = work + rng.normal(0.0, sigma, size=work.shape).astype(np.float32)
    np.clip(noisy, 0.0, 255.0, out=noisy)
    counts = rng.poisson(noisy.astype(np.float64) * (photons / 255.0))
    return (counts * (255.0 / photons)).astype(np.float32)


def distance_field(shape: tuple[int, int], center: tuple[float, float]) -> np.ndarray:
    """Euclidean distance in pixels of every pixel from ``center`` = (row, col), float32 HxW."""
    h, w = shape
    yy = (np.arange(h, dtype=np.float32) - np.float32(center[0]))[:, None]
    xx = (np.arange(w, dtype=np.float32) - np.float32(center[1]))[None, :]
    return np.sqrt(yy * yy + xx * xx)
