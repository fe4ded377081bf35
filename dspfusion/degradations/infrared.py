"""Infrared degradations of the DSPFusion / EMS vocabulary: LC (low contrast), RN (random noise), SN (stripe noise).

Sources (docs/DEGRADATIONS.md has the comparison and the measured sample statistics):

* SN: per-image Gaussian noise plus per-column offsets constant down each column (DSPFusion
  ``utils/IR_degraded.py``, EMS, ControlFusion). The paper's strengths (sigma 10-15, stripes 20-30) are about
  3x what the real sample shows; our ranges follow the sample (noise 5.7-9.6, stripes 5.4-7.9).
* RN: Gaussian then Poisson (EMS/ControlFusion chain) plus salt and pepper impulses. The sample fits
  sigma 12.6-15.8, photons 64-120 and salt ~1e-3 per pixel (EMS's 3e-6 and CF's 1e-7 do not match the data).
* LC: ControlFusion's only recipe is the affine |0.5*I + 90|. The real sample is not affine: a compressive
  tone curve low + 255*scale*(I/255)**gamma plus a smooth, spatially varying offset (residual autocorrelation
  above 0.5 at 32 px). We synthesise exactly that, with ranges covering the 23 PNG sample scenes.

IR images are single-channel; an HxWx3 input (grey replicated) is reduced to its channel mean, degraded, and
replicated back, so the output keeps three equal channels.
"""
from __future__ import annotations

import cv2
import numpy as np

from ._util import Spec, check_rng, draw, from_work, gaussian_poisson, to_grey_work, to_work
from .ranges import IR_RANGES


def _grey(img: np.ndarray) -> tuple[np.ndarray, Spec]:
    work, spec = to_work(img)
    return to_grey_work(work), spec


def _back(grey: np.ndarray, spec: Spec) -> np.ndarray:
    if spec.channels == 3:
        grey = np.repeat(grey, 3, axis=2)
    return from_work(grey, spec)


def smooth_field(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """A zero-mean, unit-std random field (HxW float32) smooth over about ``scale`` pixels: white noise on a
    grid with one node every ``scale`` pixels, bicubically upsampled."""
    h, w = shape
    step = max(float(scale), 2.0)
    gh, gw = int(np.ceil(h / step)) + 2, int(np.ceil(w / step)) + 2
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(round(gw * step)), int(round(gh * step))), interpolation=cv2.INTER_CUBIC)
    field = big[:h, :w]
    field = field - field.mean()
    sd = float(field.std())
    return field / sd if sd > 1e-6 else np.zeros_like(field)


def ir_lc(
    img: np.ndarray,
    rng: np.random.Generator,
    scale: float | None = None,
    low: float | None = None,
    gamma: float | None = None,
    field_std: float | None = None,
    field_scale: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Low contrast: I' = low + 255*scale*(I/255)**gamma + field_std*F, F a smooth unit field.

    scale: output span as a fraction of 255, range [0.2, 0.8]. low: output level of black, range [0, 150],
    drawn at most 255*(1 - scale) so that white stays below 255. gamma: range [0.3, 1.25]. field_std: std of
    the smooth offset field, range [3, 10]. field_scale: its smoothness in pixels, range [48, 160]. The whole
    0-255 input range is compressed into [low, low + 255*scale] (plus the field). Sample fits (23 PNG scenes):
    scale 0.24-0.77, low -5-144, gamma 0.28-1.22, field std 3.6-10.2. ControlFusion's |0.5*I + 90| is the
    special case scale=0.5, low=90, gamma=1, field_std=0.
    """
    check_rng(rng)
    work, spec = _grey(img)
    r = IR_RANGES["LC"]
    s = draw(rng, scale, "scale", r["scale"])
    if low is None:
        lo_max = max(r["low"][0], min(r["low"][1], 255.0 * (1.0 - s)))
        b = float(rng.uniform(r["low"][0], lo_max))
    else:
        b = draw(rng, low, "low", r["low"])
    g = draw(rng, gamma, "gamma", r["gamma"])
    fs = draw(rng, field_std, "field_std", r["field_std"])
    fl = draw(rng, field_scale, "field_scale", r["field_scale"])
    if s < 0 or g <= 0 or fs < 0 or fl <= 0:
        raise ValueError(f"need scale >= 0, gamma > 0, field_std >= 0, field_scale > 0; got {s}, {g}, {fs}, {fl}")
    out = np.float32(b) + np.float32(255.0 * s) * np.power(work * np.float32(1 / 255.0), np.float32(g))
    if fs > 0:
        out = out + np.float32(fs) * smooth_field(work.shape[:2], rng, fl)[:, :, None]
    return _back(out, spec), {"scale": s, "low": b, "gamma": g, "field_std": fs, "field_scale": fl}


def ir_rn(
    img: np.ndarray,
    rng: np.random.Generator,
    sigma: float | None = None,
    photons: float | None = None,
    salt: float | None = None,
    pepper: float | None = None,
) -> tuple[np.ndarray, dict]:
    """Random noise: Gaussian N(0, sigma^2), clip, Poisson with ``photons`` counts at white, then impulses.

    sigma: range [12, 18] (ControlFusion 14, EMS 20; sample fits 12.6-15.8). photons: range [70, 110] (EMS 80,
    CF 70-90; sample 64-120, the extremes on dark MSRS frames with few usable intensity levels). salt:
    probability of a white pixel, range [3e-4, 1.5e-3]; pepper: of a black pixel, range [0, 1e-3] (sample:
    salt 8e-4-1.1e-3 on PNGs, 3-4e-4 on JPEGs; pepper 0-1.3e-3).
    """
    check_rng(rng)
    work, spec = _grey(img)
    r = IR_RANGES["RN"]
    s = draw(rng, sigma, "sigma", r["sigma"])
    v = draw(rng, photons, "photons", r["photons"])
    ps = draw(rng, salt, "salt", r["salt"])
    pp = draw(rng, pepper, "pepper", r["pepper"])
    if s < 0 or v <= 0 or not 0 <= ps <= 1 or not 0 <= pp <= 1:
        raise ValueError(f"need sigma >= 0, photons > 0, salt/pepper in [0, 1]; got {s}, {v}, {ps}, {pp}")
    out = gaussian_poisson(work, rng, s, v)
    u = rng.random(out.shape)
    out[u < ps] = 255.0
    out[u > 1.0 - pp] = 0.0
    return _back(out, spec), {"sigma": s, "photons": v, "salt": ps, "pepper": pp}


def ir_sn(
    img: np.ndarray, rng: np.random.Generator, sigma: float | None = None, stripe: float | None = None
) -> tuple[np.ndarray, dict]:
    """Stripe noise: I' = I + N(0, sigma^2) per pixel + s_x per column, s_x ~ N(0, stripe^2) constant down
    column x (vertical stripes, as in DSPF utils, EMS and ControlFusion).

    sigma: range [4, 10]; stripe: range [4, 9] (sample fits: noise 5.7-9.6, stripes 5.4-7.9; EMS 3-5 / 3-8,
    DSPF utils 10-15 / 8, paper 10-15 / 20-30).
    """
    check_rng(rng)
    work, spec = _grey(img)
    r = IR_RANGES["SN"]
    s = draw(rng, sigma, "sigma", r["sigma"])
    b = draw(rng, stripe, "stripe", r["stripe"])
    if s < 0 or b < 0:
        raise ValueError(f"need sigma >= 0 and stripe >= 0; got {s}, {b}")
    h, w = work.shape[:2]
    noise = rng.normal(0.0, s, size=(h, w, 1)).astype(np.float32)
    cols = rng.normal(0.0, b, size=(1, w, 1)).astype(np.float32)
    return _back(work + noise + cols, spec), {"sigma": s, "stripe": b}
