"""Input checking and colour handling shared by the classical baselines.

Contract of every public baseline function: an infrared (IR) image is grey ``HxW`` (``HxWx1`` and
``HxWx3`` are accepted and reduced to grey), a visible (VI) image is grey ``HxW`` or RGB ``HxWx3``;
either is ``uint8`` (0..255) or floating point in [0, 1]. Outputs are ``uint8``.

Colour policy (the fusion community's convention, e.g. PIAFusion, U2Fusion, DSPFusion): an RGB
visible image is converted to YCrCb (ITU-R BT.601, OpenCV's ``COLOR_RGB2YCrCb``), only the luma Y is
fused with (or enhanced like) a grey image, and the visible chroma Cr/Cb is put back unchanged.

Everything works on ``float32`` in [0, 1] internally.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from ..errors import UserError

__all__ = [
    "to_float",
    "to_grey",
    "to_uint8",
    "check_pair",
    "split_luma",
    "merge_luma",
    "on_luma",
]

# float inputs may overshoot [0, 1] by rounding error; anything further out is a scale mistake
_FLOAT_TOLERANCE = 1e-3


def to_float(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate ``img`` and return it as ``float32`` in [0, 1], shape ``HxW`` or ``HxWx3``.

    ``HxWx1`` is squeezed to ``HxW``. Raises :class:`~dspfusion.errors.UserError` naming ``name``,
    the problem and the fix for anything else (wrong type, shape, dtype, range, NaN, tiny images).
    """
    if not isinstance(img, np.ndarray):
        raise UserError(
            f"{name}: expected a numpy array, got {type(img).__name__}; "
            "load the image first, e.g. with cv2.imread or PIL.Image.open + np.asarray"
        )
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        raise UserError(
            f"{name}: has 4 channels (RGBA); drop the alpha channel, e.g. img[..., :3]"
        )
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise UserError(
            f"{name}: shape {img.shape} is not an image; expected HxW (grey) or HxWx3 (RGB)"
        )
    if min(img.shape[:2]) < 8:
        raise UserError(f"{name}: {img.shape[0]}x{img.shape[1]} is too small; need at least 8x8 pixels")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if np.issubdtype(img.dtype, np.floating):
        out = img.astype(np.float32)
        if not np.isfinite(out).all():
            raise UserError(f"{name}: contains NaN or infinity; clean or re-load the image")
        lo, hi = float(out.min()), float(out.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1.0 + _FLOAT_TOLERANCE:
            raise UserError(
                f"{name}: float values span [{lo:.4g}, {hi:.4g}] but must lie in [0, 1]; "
                "divide 0..255 data by 255 or pass it as uint8"
            )
        return np.clip(out, 0.0, 1.0)
    raise UserError(
        f"{name}: dtype {img.dtype} is not supported; pass uint8 (0..255) or float in [0, 1] "
        "(for 16-bit thermal data, scale to [0, 1] first, e.g. img / 65535.0)"
    )


def to_grey(img: np.ndarray) -> np.ndarray:
    """Grey ``HxW`` float image: the BT.601 luma of an RGB image, or the image itself if grey."""
    if img.ndim == 2:
        return img
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float in [0, 1] (values outside are clipped) to ``uint8`` with rounding."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def check_pair(ir: np.ndarray, vi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate an IR/VI pair; return (grey float IR ``HxW``, float VI ``HxW`` or ``HxWx3``)."""
    ir_f = to_grey(to_float(ir, "ir"))
    vi_f = to_float(vi, "vi")
    if ir_f.shape[:2] != vi_f.shape[:2]:
        raise UserError(
            f"ir is {ir_f.shape[0]}x{ir_f.shape[1]} but vi is {vi_f.shape[0]}x{vi_f.shape[1]} (HxW); "
            "fusion needs registered images of the same size: resize or crop one to match the other"
        )
    return ir_f, vi_f


def split_luma(img: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split a float image into luma Y (``HxW``) and chroma (``HxWx2`` Cr, Cb, or None for grey)."""
    if img.ndim == 2:
        return img, None
    y, cr, cb = cv2.split(cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb))
    return y, cv2.merge([cr, cb])


def merge_luma(y: np.ndarray, chroma: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`split_luma`: rebuild a float RGB image (or return grey ``y``), clipped to [0, 1]."""
    y = np.clip(y, 0.0, 1.0).astype(np.float32)
    if chroma is None:
        return y
    ycrcb = cv2.merge([y, *cv2.split(chroma.astype(np.float32, copy=False))])
    return np.clip(cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


def on_luma(img: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a grey-image operation ``fn`` to the luma of ``img`` and keep its chroma."""
    y, chroma = split_luma(img)
    return merge_luma(fn(y), chroma)
