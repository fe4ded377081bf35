"""Paired crops, the 8 dihedral transforms and tensor conversion, applied identically to every image of a sample.

As in the official loader (DSPFUSION.md §1.3): one crop position shared by LQ/GT IR/VI and the negatives, one
dihedral mode (identity, rotations by 90/180/270, each with or without a flip) for every image of the sample.
Deviation: images smaller than the crop are reflect-padded at the bottom/right (the official loader errors).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

Box = tuple[int, int]  # (top, left)


def pad_to(img: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad bottom/right so that both sides are at least ``size``."""
    h, w = img.shape[:2]
    if h >= size and w >= size:
        return img
    dh, dw = max(0, size - h), max(0, size - w)
    if dh >= h or dw >= w:  # reflection cannot cover more than the image itself
        return cv2.copyMakeBorder(np.ascontiguousarray(img), 0, dh, 0, dw, cv2.BORDER_WRAP)
    return cv2.copyMakeBorder(np.ascontiguousarray(img), 0, dh, 0, dw, cv2.BORDER_REFLECT_101)


def random_box(shape: tuple[int, ...], size: int, rng: np.random.Generator) -> Box:
    h, w = shape[:2]
    return int(rng.integers(0, max(h - size, 0) + 1)), int(rng.integers(0, max(w - size, 0) + 1))


def center_box(shape: tuple[int, ...], size: int) -> Box:
    h, w = shape[:2]
    return max(h - size, 0) // 2, max(w - size, 0) // 2


def crop(img: np.ndarray, box: Box, size: int | None) -> np.ndarray:
    """``size`` x ``size`` window at ``box`` of the (padded if needed) image; ``size=None`` keeps the image."""
    if size is None:
        return img
    img = pad_to(img, size)
    y, x = box
    return img[y:y + size, x:x + size]


def dihedral(img: np.ndarray, mode: int) -> np.ndarray:
    """One of the 8 symmetries of the square: rotate by 90*(mode % 4) degrees, then flip vertically if mode >= 4."""
    out = np.rot90(img, k=mode % 4, axes=(0, 1))
    if mode >= 4:
        out = out[::-1]
    return out


def _chw(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.broadcast_to(img, img.shape[:2] + (3,))
    return img.transpose(2, 0, 1)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxW (grey, replicated) or HxWx3 → float32 [3, H, W] in [0, 1].

    The conversion is done in numpy: per-image torch ops are slow here when torch's and OpenCV's thread pools
    compete for the cores (measured 10 ms per 128x128 image in the main process on 2 cores)."""
    out = np.empty((3,) + img.shape[:2], dtype=np.float32)
    np.multiply(_chw(img), np.float32(1 / 255.0), out=out, dtype=np.float32)
    return torch.from_numpy(out)


def to_tensor_stack(imgs: list[np.ndarray]) -> torch.Tensor:
    """A list of same-size images → float32 [N, 3, H, W]."""
    h, w = imgs[0].shape[:2]
    out = np.empty((len(imgs), 3, h, w), dtype=np.float32)
    for k, im in enumerate(imgs):
        np.multiply(_chw(im), np.float32(1 / 255.0), out=out[k], dtype=np.float32)
    return torch.from_numpy(out)
