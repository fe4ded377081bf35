"""A built-in example pair, made procedurally (no third-party images may ship).

The scene is a night road: a dark, noisy, low-contrast visible image in which a
pedestrian and a car are nearly invisible, and an infrared image in which both
are warm (bright) against a cool background but the texture (road markings,
building windows, foliage) is missing. A good fusion keeps the warm targets and
the visible texture. Deterministic for a given seed.
"""
from __future__ import annotations

import numpy as np


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    import cv2

    small = rng.random((max(2, h // scale), max(2, w // scale))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def make_example_pair(height: int = 240, width: int = 320, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """→ (ir uint8 HxW, vi uint8 HxWx3)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = int(0.45 * h)

    # --- visible scene in daylight colours (later darkened) ---
    vi = np.zeros((h, w, 3), np.float32)
    sky = np.clip(0.55 + 0.3 * (1 - yy / horizon), 0, 1)[..., None] * np.array([0.45, 0.55, 0.8], np.float32)
    vi[:horizon] = sky[:horizon]
    road = (0.35 + 0.08 * _smooth_noise(rng, h, w, 8))[..., None] * np.array([1.0, 1.0, 1.0], np.float32)
    vi[horizon:] = road[horizon:]
    # buildings with lit windows
    x = 0
    while x < w:
        bw = int(rng.integers(w // 10, w // 5))
        bh = int(rng.integers(h // 6, horizon - 5))
        col = np.array(rng.uniform(0.25, 0.55, 3), np.float32)
        vi[horizon - bh:horizon, x:x + bw] = col
        for wy in range(horizon - bh + 6, horizon - 6, 10):
            for wx in range(x + 4, x + bw - 6, 9):
                if rng.random() < 0.45:
                    vi[wy:wy + 5, wx:wx + 4] = (0.95, 0.85, 0.5)
        x += bw + int(rng.integers(2, 10))
    # lane markings (visible texture that IR lacks)
    for i in range(6):
        y0 = horizon + 8 + i * (h - horizon) // 6
        half = int(2 + (y0 - horizon) * 0.03)
        cv2.rectangle(vi, (w // 2 - half, y0), (w // 2 + half, y0 + (h - horizon) // 14), (0.9, 0.9, 0.85), -1)
    cv2.line(vi, (0, h - 1), (int(0.35 * w), horizon), (0.85, 0.85, 0.8), 2)
    cv2.line(vi, (w - 1, h - 1), (int(0.65 * w), horizon), (0.85, 0.85, 0.8), 2)
    # pedestrian and car: dark clothes / dark paint -> low visible contrast
    px, py = int(0.28 * w), int(0.72 * h)
    ped = np.zeros((h, w), np.float32)
    cv2.ellipse(ped, (px, py - int(0.16 * h)), (int(0.018 * w), int(0.028 * h)), 0, 0, 360, 1.0, -1)
    cv2.rectangle(ped, (px - int(0.025 * w), py - int(0.13 * h)), (px + int(0.025 * w), py), 1.0, -1)
    car = np.zeros((h, w), np.float32)
    cx, cy = int(0.68 * w), int(0.7 * h)
    cv2.rectangle(car, (cx - int(0.09 * w), cy - int(0.06 * h)), (cx + int(0.09 * w), cy + int(0.04 * h)), 1.0, -1)
    cv2.rectangle(car, (cx - int(0.05 * w), cy - int(0.11 * h)), (cx + int(0.05 * w), cy - int(0.06 * h)), 1.0, -1)
    for m, colour in ((ped, (0.3, 0.28, 0.3)), (car, (0.28, 0.3, 0.33))):
        vi = vi * (1 - m[..., None]) + m[..., None] * np.array(colour, np.float32)
    # night: dark, gamma-compressed, noisy
    vi = 0.22 * vi ** 1.6
    vi = vi + rng.normal(0, 0.03, vi.shape).astype(np.float32)
    vi_u8 = np.clip(vi * 255 + 0.5, 0, 255).astype(np.uint8)

    # --- infrared: temperature field ---
    ir = 0.25 + 0.1 * (yy / h) + 0.06 * _smooth_noise(rng, h, w, 16)
    ir[:horizon] -= 0.1 * (1 - yy[:horizon] / horizon)  # cold sky
    ped_b = cv2.GaussianBlur(ped, (0, 0), 1.2)
    car_b = cv2.GaussianBlur(car, (0, 0), 1.5)
    ir = ir * (1 - ped_b) + ped_b * 0.92
    ir = ir * (1 - 0.7 * car_b) + car_b * 0.7 * 0.75
    engine = np.exp(-(((xx - cx - 0.06 * w) / (0.03 * w)) ** 2 + ((yy - cy) / (0.03 * h)) ** 2))
    ir = ir + 0.2 * engine
    ir = cv2.GaussianBlur(ir.astype(np.float32), (0, 0), 0.8) + rng.normal(0, 0.01, (h, w)).astype(np.float32)
    ir_u8 = np.clip(ir * 255 + 0.5, 0, 255).astype(np.uint8)
    return ir_u8, vi_u8
