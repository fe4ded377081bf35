"""Visible-image degradations of the DSPFusion / EMS vocabulary: Blur, Rain, LL, OE, RN, haze.

Sources (see docs/DEGRADATIONS.md for the full comparison and the measured sample statistics):

* Blur: isotropic Gaussian, 21x21 kernel, sigma ~ U(0.2, 4.0) as in DSPFusion ``utils/IR_degraded.py``
  ("random" mode). The paper's fixed sigma=2.6 is inside the range.
* Rain: the EMS/ControlFusion streak model (sparse seeds, a rotated line kernel made with cv2.warpAffine,
  composite alpha*I + (1-alpha)*R + 0.8).
* RN: EMS Gaussian (sigma=10) then Poisson (v in [70, 90]) chain, independent per channel.
* haze: EMS atmospheric scattering with a radial depth proxy around a "vanishing point"
  (t = exp(-beta*(17 - 0.04*r)), A = 0.8). The centre is drawn at random here instead of fixed at (100, 300).
* LL and OE: no synthesis code exists anywhere (they are real captures in the DSPFusion data). Our models are
  fitted to the real sample pairs: LL is a power law gain*x**gamma (the design brief's assumption, with the
  range moved to what the samples show); OE is an affine lift with clipping, not the brief's gain > 1.

Deviations from the sources: no uint8 truncation between noise stages (we clip, and round only at the end for
uint8 input); haze transmission is clamped to t <= 1 (EMS lets it exceed 1 far from the centre, which
sharpens the corners); all parameters are drawn per image from documented ranges.

Every function is pure given (image, rng, parameters): it returns ``(degraded, params)`` with the same dtype
and shape convention as the input and the JSON-serialisable parameters it used.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from ._util import check_rng, distance_field, draw, from_work, gaussian_poisson, to_work
from .ranges import (
    BLUR_KERNEL,
    HAZE_D0,
    HAZE_FRAME,
    HAZE_SLOPE,
    RAIN_LENGTH,
    RAIN_OFFSET,
    RAIN_STREAK_BLUR,
    VI_RANGES,
)

# EMS seed filter: 8 at the centre, 0.1 at the four edge neighbours, 0 at the corners
_SEED_KERNEL = np.array([[0.0, 0.1, 0.0], [0.1, 8.0, 0.1], [0.0, 0.1, 0.0]], dtype=np.float32)


def vi_blur(img: np.ndarray, rng: np.random.Generator, sigma: float | None = None) -> tuple[np.ndarray, dict]:
    """Isotropic Gaussian blur, 21x21 kernel, reflected border.

    sigma: standard deviation in pixels, range [0.2, 4.0] (DSPF utils random mode; best fits on the real
    sample span 0.2-3.7).
    """
    check_rng(rng)
    work, spec = to_work(img)
    s = draw(rng, sigma, "sigma", VI_RANGES["Blur"]["sigma"])
    if s <= 0:
        raise ValueError(f"sigma must be > 0, got {s}")
    out = cv2.GaussianBlur(work, (BLUR_KERNEL, BLUR_KERNEL), s, borderType=cv2.BORDER_REFLECT_101)
    return from_work(out.reshape(work.shape), spec), {"sigma": s}


@functools.lru_cache(maxsize=256)
def _streak_kernel(angle: float, length: int) -> np.ndarray:
    """EMS streak kernel: an LxL identity (a 45-degree line), rotated by (angle - 45) degrees about its centre
    and scaled by (1 - L/100) with cv2.warpAffine, then Gaussian-blurred (width 3). angle=0 is vertical."""
    line = np.eye(length, dtype=np.float32)
    rot = cv2.getRotationMatrix2D((length / 2.0, length / 2.0), angle - 45.0, 1.0 - length / 100.0)
    k = cv2.warpAffine(line, rot, (length, length))
    k = cv2.GaussianBlur(k, (RAIN_STREAK_BLUR, RAIN_STREAK_BLUR), 0)
    k.setflags(write=False)
    return k


def rain_layer(shape: tuple[int, int], rng: np.random.Generator, angle: float, density: float) -> np.ndarray:
    """The streak layer R (HxW float32, min-max scaled to 0-255): seeds of the given density, spread by the
    3x3 EMS seed filter, smeared along ``angle`` (degrees from vertical) by the streak kernel."""
    seeds = (rng.random(shape) < density).astype(np.float32)
    seeds = cv2.filter2D(seeds, -1, _SEED_KERNEL)
    kernel = _streak_kernel(round(float(angle), 3), RAIN_LENGTH)
    streaks = cv2.filter2D(seeds, -1, kernel)
    lo, hi = float(streaks.min()), float(streaks.max())
    if hi - lo < 1e-6:
        return np.zeros(shape, np.float32)
    return (streaks - lo) * np.float32(255.0 / (hi - lo))


def vi_rain(
    img: np.ndarray,
    rng: np.random.Generator,
    alpha: float | None = None,
    angle: float | None = None,
    density: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Rain streaks composited as alpha*I + (1-alpha)*R + 0.8 (EMS), R from :func:`rain_layer`.

    alpha: weight of the clean image, range [0.85, 0.92] (EMS 0.9, ControlFusion 0.85; sample fits 0.89-0.90).
    angle: streak direction in degrees from vertical, range [-45, 45] (EMS; the sample uses one fixed
    angle, -28.5 by our estimator, i.e. ControlFusion's -30).
    density: fraction of pixels that seed a streak, range [0.015, 0.025] (EMS value=500 gives 0.0195).
    Streak kernel size 50 (fixed, EMS). The same streaks are added to every channel.
    """
    check_rng(rng)
    work, spec = to_work(img)
    r = VI_RANGES["Rain"]
    a = draw(rng, alpha, "alpha", r["alpha"])
    ang = draw(rng, angle, "angle", r["angle"])
    dens = draw(rng, density, "density", r["density"])
    if not 0 <= a <= 1 or not 0 <= dens <= 1:
        raise ValueError(f"alpha and density must lie in [0, 1], got alpha={a}, density={dens}")
    layer = rain_layer(work.shape[:2], rng, ang, dens)
    out = a * work + (1.0 - a) * layer[:, :, None] + RAIN_OFFSET
    return from_work(out, spec), {"alpha": a, "angle": ang, "density": dens}


def vi_ll(
    img: np.ndarray,
    rng: np.random.Generator,
    gamma: float | None = None,
    gain: float | None = None,
    noise: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Low light: 255*gain*(I/255)**gamma per channel, plus Gaussian noise of std ``noise`` (0-255 scale).

    gamma: range [1.0, 2.2]; gain: range [0.3, 0.8] (fits to the 12 real LL/enhanced sample pairs, channels
    pooled: gamma 1.08-2.20, gain 0.34-0.73, mean-luminance ratio 0.25-0.45). noise: range [0, 1.5] (the real
    LL images carry at most 0.6 more noise than the darkened target predicts). Monotone when noise=0. Our
    assumption, not a published recipe (none exists).
    """
    check_rng(rng)
    work, spec = to_work(img)
    r = VI_RANGES["LL"]
    g = draw(rng, gamma, "gamma", r["gamma"])
    k = draw(rng, gain, "gain", r["gain"])
    n = draw(rng, noise, "noise", r["noise"])
    if g <= 0 or k < 0 or n < 0:
        raise ValueError(f"need gamma > 0, gain >= 0, noise >= 0; got {g}, {k}, {n}")
    out = np.float32(255.0 * k) * np.power(work * np.float32(1 / 255.0), np.float32(g))
    if n > 0:
        out = out + rng.normal(0.0, n, size=out.shape).astype(np.float32)
    return from_work(out, spec), {"gamma": g, "gain": k, "noise": n}


def vi_oe(
    img: np.ndarray, rng: np.random.Generator, lift: float | None = None, clip_level: float | None = None
) -> tuple[np.ndarray, dict]:
    """Over-exposure: an affine washed-out tone map that lifts the blacks and clips the highlights,
    I' = clip(lift + (255 - lift)/clip_level * I).

    lift: output level of black, range [40, 130]; clip_level: input level that reaches white, range
    [180, 255] (the two real OE sample pairs fit lift 62/115, clip_level 252/200). Our assumption, not a
    published recipe (none exists); it replaces the brief's clip(k*I + b), k in [1.3, 2.5], which the real
    samples do not show (their gain is 0.70-0.77).
    """
    check_rng(rng)
    work, spec = to_work(img)
    r = VI_RANGES["OE"]
    b = draw(rng, lift, "lift", r["lift"])
    c = draw(rng, clip_level, "clip_level", r["clip_level"])
    if c <= 0 or not 0 <= b < 255:
        raise ValueError(f"need clip_level > 0 and 0 <= lift < 255; got {c}, {b}")
    out = np.float32(b) + np.float32((255.0 - b) / c) * work
    return from_work(out, spec), {"lift": b, "clip_level": c}


def vi_rn(
    img: np.ndarray, rng: np.random.Generator, sigma: float | None = None, photons: float | None = None
) -> tuple[np.ndarray, dict]:
    """Random noise: Gaussian N(0, sigma^2), clip, then Poisson with ``photons`` counts at white (EMS chain).

    sigma: range [8, 12] (EMS/paper 10; sample fits 8.1-12.5). photons: range [65, 100] (EMS randint 70-90;
    sample fits 63-95 on PNG scenes; ~200 on the two JPEG ones, which JPEG 4:2:0 re-encoding explains).
    Output variance at intensity I is about sigma^2 + I*255/photons.
    """
    check_rng(rng)
    work, spec = to_work(img)
    r = VI_RANGES["RN"]
    s = draw(rng, sigma, "sigma", r["sigma"])
    v = draw(rng, photons, "photons", r["photons"])
    if s < 0 or v <= 0:
        raise ValueError(f"need sigma >= 0 and photons > 0; got {s}, {v}")
    return from_work(gaussian_poisson(work, rng, s, v), spec), {"sigma": s, "photons": v}


def haze_transmission(
    shape: tuple[int, int], beta: float, center: tuple[float, float], ref_size: float
) -> np.ndarray:
    """t(y, x) = exp(-beta * max(d, 0)), d = 17 - 0.04 * r * 640/ref_size, r = distance (pixels) from
    ``center``: the EMS radial depth proxy, with its pixel constants rescaled from a 640-pixel frame."""
    r = distance_field(shape, center) * np.float32(HAZE_FRAME / ref_size)
    depth = np.maximum(np.float32(HAZE_D0) - np.float32(HAZE_SLOPE) * r, 0.0)
    return np.exp(-np.float32(beta) * depth)


def vi_haze(
    img: np.ndarray,
    rng: np.random.Generator,
    beta: float | None = None,
    airlight: float | None = None,
    center: tuple[float, float] | None = None,
    ref_size: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Haze by atmospheric scattering, I' = I*t + 255*A*(1 - t), with a radial depth proxy.

    The depth is largest at ``center`` (the far field, e.g. a vanishing point near the horizon) and falls off
    linearly with distance: t = exp(-beta*max(17 - 0.04*r', 0)), r' = distance in pixels rescaled to a
    640-pixel frame (r' = r*640/ref_size). So the far field loses the most contrast.

    beta: range [0.08, 0.16] (EMS 0.12; sample fit 0.12-0.134). airlight A (fraction of white): range
    [0.7, 0.9] (EMS 0.8; sample 0.74-0.80). center: (row, col) in pixels of this image; drawn with row in
    [0.1, 0.35]*H and col in [0.25, 0.85]*W (EMS fixes it at pixel (100, 300): 0.21*H, 0.47*W of a 640x480
    frame, 0.30*H, 0.81*W of the 371x331 sample). ref_size:
    longest side of the full frame (default: this image's); pass the full image's when hazing a crop,
    together with the centre in crop coordinates, so a crop gets the haze of its place in the frame.
    """
    check_rng(rng)
    work, spec = to_work(img)
    h, w = work.shape[:2]
    r = VI_RANGES["haze"]
    b = draw(rng, beta, "beta", r["beta"])
    a = draw(rng, airlight, "airlight", r["airlight"])
    if center is None:
        cy = float(rng.uniform(*r["center_y"])) * h
        cx = float(rng.uniform(*r["center_x"])) * w
    else:
        cy, cx = float(center[0]), float(center[1])
    ref = float(ref_size) if ref_size is not None else float(max(h, w))
    if b < 0 or not 0 <= a <= 1 or ref <= 0:
        raise ValueError(f"need beta >= 0, 0 <= airlight <= 1, ref_size > 0; got {b}, {a}, {ref}")
    t = haze_transmission((h, w), b, (cy, cx), ref)[:, :, None]
    out = work * t + np.float32(255.0 * a) * (1.0 - t)
    return from_work(out, spec), {"beta": b, "airlight": a, "center": [cy, cx], "ref_size": ref}
