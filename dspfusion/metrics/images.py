"""Image loading and grey conversion exactly as the reference metric implementations do it.

Every reference toolbox evaluates IVIF on one grey channel of 8-bit images (``../shared/design/METRICS.md`` §0.1):

* ``"matlab"`` (Tang's toolbox): MATLAB ``imread`` then ``rgb2gray`` on uint8, i.e. BT.601 luma with the
  coefficients of the inverse NTSC matrix (0.298936, 0.587043, 0.114021), rounded to uint8 with halves away
  from zero.
* ``"opencv"`` (CDDFuse ``image_read_cv2(path, 'GRAY')``): ``cv2.imread`` as float32 BGR, ``COLOR_BGR2GRAY``
  (0.299, 0.587, 0.114 in float32), then ``np.round`` (halves to even).

Grey images pass through unchanged in both modes (the TNO files with R = G = B too). Arrays are RGB (not BGR),
uint8 or float on the 0-255 scale; float arrays are rounded (halves away from zero) and clipped to 0-255 per
channel first, as saving them to an 8-bit PNG would (values beyond [-1, 256] are refused rather than clipped).
The result is a float64 array of integer grey levels.
Deviation: 16-bit images are refused (the toolboxes assume 8-bit levels; convert them first).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from ..errors import UserError
from ._matlab import round_half_away
from .conventions import GreyMode

ImageInput = Union[str, "os.PathLike[str]", np.ndarray]

#: MATLAB rgb2gray weights: first row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703])
MATLAB_GREY_WEIGHTS = np.linalg.inv(np.array([[1.0, 0.956, 0.621],
                                              [1.0, -0.272, -0.647],
                                              [1.0, -1.106, 1.703]]))[0]


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit image file as uint8, (H, W) grey or (H, W, 3) RGB; alpha is dropped (as MATLAB imread)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such image file. Fix: check the path.")
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f"{p}: cannot be decoded as an image. Fix: use an 8-bit PNG, BMP, JPEG or TIFF file.")
    if img.dtype != np.uint8:
        raise UserError(f"{p}: {img.dtype} image; the metrics are defined on 8-bit grey levels. "
                        "Fix: convert it to 8 bits (e.g. normalise and save as uint8 PNG).")
    if img.ndim == 3:
        if img.shape[2] == 1:
            img = img[:, :, 0]
        elif img.shape[2] in (3, 4):
            img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
        else:
            raise UserError(f"{p}: {img.shape[2]} channels; expected grey or RGB. Fix: save it as grey or RGB.")
    return img


def _as_uint8(img: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise UserError(f"{name}: expected a file path or a numpy array, got {type(img).__name__}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise UserError(f"{name}: array of shape {img.shape}; expected (H, W) grey or (H, W, 3) RGB")
    if img.dtype == np.uint8:
        return img
    if img.dtype == bool or not (np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)):
        raise UserError(f"{name}: unsupported dtype {img.dtype}; pass uint8 or float on the 0-255 scale")
    data = img.astype(np.float64)
    if not np.all(np.isfinite(data)):
        raise UserError(f"{name}: contains NaN or infinite values")
    lo, hi = float(data.min()), float(data.max())
    if np.issubdtype(img.dtype, np.integer) and (lo < 0 or hi > 255):
        raise UserError(f"{name}: {img.dtype} values {lo:g}..{hi:g} outside 0-255; the metrics are defined on "
                        "8-bit grey levels. Fix: convert to 8 bits first.")
    if np.issubdtype(img.dtype, np.floating):
        if hi <= 1.0 and np.any(data != np.round(data)):
            raise UserError(f"{name}: float values within [0, 1]; the metrics expect the 0-255 scale. "
                            "Fix: multiply by 255 (or pass uint8).")
        if lo < -1.0 or hi > 256.0:
            raise UserError(f"{name}: float values {lo:g}..{hi:g} far outside 0-255. "
                            "Fix: clip or rescale to 0-255 first.")
    return np.clip(round_half_away(data), 0, 255).astype(np.uint8)


def to_grey(img: np.ndarray, mode: GreyMode = "matlab", name: str = "image") -> np.ndarray:
    """Grey levels (float64, integer-valued 0-255) of an RGB or grey array, as the given toolbox computes them."""
    u8 = _as_uint8(img, name)
    if u8.ndim == 2:
        return u8.astype(np.float64)
    if mode == "matlab":
        rgb = u8.astype(np.float64)
        w = MATLAB_GREY_WEIGHTS
        grey = w[0] * rgb[..., 0] + w[1] * rgb[..., 1] + w[2] * rgb[..., 2]
        return np.clip(round_half_away(grey), 0, 255)
    if mode == "opencv":
        grey = cv2.cvtColor(u8.astype(np.float32), cv2.COLOR_RGB2GRAY)
        return np.round(grey).astype(np.float64)
    raise ValueError(f"unknown grey mode {mode!r}; choose 'matlab' or 'opencv'")


def load_grey(src: ImageInput, mode: GreyMode = "matlab", name: str = "image") -> np.ndarray:
    """File path or array -> float64 grey levels (see :func:`to_grey`)."""
    if isinstance(src, (str, os.PathLike)):
        return to_grey(read_image(src), mode, name=str(src))
    return to_grey(src, mode, name=name)
