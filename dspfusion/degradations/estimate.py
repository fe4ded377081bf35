"""Estimate degradation parameters from a (degraded, clean) pair, in the units of the degradation functions.

These estimators serve two purposes: property tests (does ``vi_rn`` with sigma=10 really add sigma-10 noise?)
and checking that the real DSPFusion sample pairs fall inside our documented ranges
(benchmarks/fit_sample_degradations.py, tests/test_degradations.py). Their accuracy on our own synthetic output is
tested, and :data:`TOLERANCE` holds the margin used when comparing a real-sample estimate to a range.

All functions take uint8 (or 0–255 float) arrays, HxW or HxWx3, degraded first, clean second.
"""
from __future__ import annotations

import cv2
import numpy as np

from .ranges import BLUR_KERNEL, HAZE_D0, HAZE_FRAME, HAZE_SLOPE

# allowed excess of an estimate beyond its documented range (about 2x the estimator's error on synthetic data)
TOLERANCE: dict[str, dict[str, float]] = {
    "vi_Blur": {"sigma": 0.25},
    "vi_Rain": {"alpha": 0.01, "angle": 4.0},
    "vi_LL": {"gamma": 0.1, "gain": 0.08, "noise": 0.5},
    "vi_OE": {"lift": 10.0, "clip_level": 12.0},
    "vi_RN": {"sigma": 1.5, "photons": 15.0},
    "vi_haze": {"beta": 0.015, "airlight": 0.04, "center_y": 0.05, "center_x": 0.05},
    "ir_LC": {"scale": 0.06, "low": 20.0, "gamma": 0.25, "field_std": 1.5},
    "ir_RN": {"sigma": 1.5, "photons": 35.0, "salt": 1.5e-4, "pepper": 3e-4},
    "ir_SN": {"sigma": 0.6, "stripe": 0.8},
}


def luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma (float64 HxW, 0–255) of an RGB image; a grey image is returned as float64."""
    x = np.asarray(img, dtype=np.float64)
    if x.ndim == 3 and x.shape[2] == 3:
        return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    return x.reshape(x.shape[0], x.shape[1])


def _channels(img: np.ndarray) -> np.ndarray:
    x = np.asarray(img, dtype=np.float64)
    return x[:, :, None] if x.ndim == 2 else x


# ---------------------------------------------------------------------------------------------- blur
def blur_sigma(lq: np.ndarray, clean: np.ndarray, border: int = 10) -> float:
    """Gaussian sigma (21x21 kernel) whose blur of ``clean`` best matches ``lq`` in RMSE (luma, bounded search
    in [0.1, 8]); a pair with no blur gives about 0.1-0.2."""
    from scipy.optimize import minimize_scalar

    a = luma(lq).astype(np.float32)
    b = luma(clean).astype(np.float32)
    inner = (slice(border, -border or None), slice(border, -border or None))

    def err(s: float) -> float:
        bb = cv2.GaussianBlur(b, (BLUR_KERNEL, BLUR_KERNEL), s, borderType=cv2.BORDER_REFLECT_101)
        return float(np.mean((bb[inner] - a[inner]) ** 2))

    res = minimize_scalar(err, bounds=(0.1, 8.0), method="bounded", options={"xatol": 0.01})
    return float(res.x)


def high_frequency_ratio(lq: np.ndarray, clean: np.ndarray) -> float:
    """Energy of the Laplacian of ``lq`` over that of ``clean`` (luma): < 1 when detail was removed."""
    la = cv2.Laplacian(luma(lq).astype(np.float32), cv2.CV_32F)
    lb = cv2.Laplacian(luma(clean).astype(np.float32), cv2.CV_32F)
    return float(np.mean(la.astype(np.float64) ** 2) / max(np.mean(lb.astype(np.float64) ** 2), 1e-12))


# ---------------------------------------------------------------------------------------------- rain
def orientation(residual: np.ndarray) -> tuple[float, float]:
    """(angle of the dominant linear structure in degrees from vertical, clockwise-positive on screen — the
    convention of ``vi_rain``'s ``angle``; coherence in [0, 1]) from the structure tensor of ``residual``."""
    r = np.asarray(residual, dtype=np.float32)
    gx = cv2.Sobel(r, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(r, cv2.CV_64F, 0, 1, ksize=3)
    jxx, jyy, jxy = float(np.mean(gx * gx)), float(np.mean(gy * gy)), float(np.mean(gx * gy))
    theta = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # gradient direction from the x axis
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / max(jxx + jyy, 1e-12)
    # lines run perpendicular to the gradient; measured from vertical that is theta itself, sign flipped so
    # that a streak leaning like "\" (top-left to bottom-right) is positive, as the EMS kernel at +45 is
    return float(-theta), float(coherence)


def rain_params(lq: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """alpha and offset of lq ≈ alpha*clean + offset + streaks (least squares over unsaturated pixels), the streak
    angle and coherence, and the std of the streak residual."""
    a = _channels(lq)
    b = _channels(clean)
    keep = np.all(a < 254, axis=2)
    x, y = b[keep].ravel(), a[keep].ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    (alpha, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = luma(a) - alpha * luma(b)
    angle, coherence = orientation(resid)
    return {
        "alpha": float(alpha),
        "offset": float(offset),
        "angle": angle,
        "coherence": coherence,
        "streak_std": float(resid.std()),
    }


# ---------------------------------------------------------------------------------------------- noise
def noise_model(
    lq: np.ndarray, clean: np.ndarray, lo: float = 40, hi: float = 192, width: float = 8, min_count: int = 500
) -> dict[str, float]:
    """Fit var(lq - clean | clean = I) = sigma^2 + I*255/photons over intensity bins in [lo, hi) (all channels
    pooled, each against its own clean channel). Returns sigma, photons (inf if no intensity dependence),
    the residual std in range, and the number of bins used (NaNs when fewer than 3 bins have data)."""
    a, b = _channels(lq), _channels(clean)
    r = a - b
    xs, vs = [], []
    for s in np.arange(lo, hi, width):
        m = (b >= s) & (b < s + width) & (a > 0) & (a < 255)
        if m.sum() < min_count:
            continue
        xs.append(b[m].mean())
        vs.append(r[m].var())
    out = {"sigma": float("nan"), "photons": float("nan"), "residual_std": float("nan"), "bins": len(xs)}
    if len(xs) < 3:
        return out
    xs_a, vs_a = np.array(xs), np.array(vs)
    (s2, k), *_ = np.linalg.lstsq(np.stack([np.ones_like(xs_a), xs_a], 1), vs_a, rcond=None)
    out["sigma"] = float(np.sqrt(max(s2, 0.0)))
    out["photons"] = float(255.0 / k) if k > 1e-9 else float("inf")
    out["residual_std"] = float(np.sqrt(vs_a.mean()))
    return out


def impulse_rates(lq: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Salt rate: fraction of pixels with clean < 150 that became 255; pepper: clean > 90 that became 0
    (Gaussian/Poisson noise of the RN strengths cannot reach those values; NaN when too few such pixels)."""
    a, b = _channels(lq), _channels(clean)
    dark, bright = b < 150, b > 90
    salt = float(((a >= 255) & dark).sum() / dark.sum()) if dark.sum() >= 20000 else float("nan")
    pepper = float(((a <= 0) & bright).sum() / bright.sum()) if bright.sum() >= 20000 else float("nan")
    return {"salt": salt, "pepper": pepper}


def stripe_params(
    lq: np.ndarray, clean: np.ndarray, lo: float = 20, hi: float = 235, min_rows: int = 24
) -> dict[str, float]:
    """Column-offset std ("stripe") and within-column noise std ("sigma") of lq - clean, over pixels far from
    clipping; the variance of the column means is corrected for the noise left in each mean."""
    a, b = luma(lq), luma(clean)
    m = (b >= lo) & (b <= hi) & (a > 0) & (a < 255)
    r = np.where(m, a - b, np.nan)
    n = m.sum(axis=0)
    keep = n >= min_rows
    if keep.sum() < 8:
        return {"stripe": float("nan"), "sigma": float("nan"), "columns": int(keep.sum())}
    col_means = np.nanmean(r[:, keep], axis=0)
    within = float(np.nanstd(r[:, keep] - col_means))
    var_cols = float(np.var(col_means) - np.mean(within**2 / n[keep]))
    return {"stripe": float(np.sqrt(max(var_cols, 0.0))), "sigma": within, "columns": int(keep.sum())}


def column_mean_variance(img: np.ndarray) -> float:
    """Variance across columns of the column means (luma): stripe noise raises it."""
    return float(np.var(luma(img).mean(axis=0)))


# ---------------------------------------------------------------------------------------------- tone
def tone_curve(lq: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Fit lq ≈ low + 255*scale*(clean/255)**gamma (luma; per-level means weighted by pixel count, gamma on a
    0.02 grid in [0.2, 2.5]) and describe the residual: field_std is the std of its smooth part (Gaussian
    sigma 4), noise_std that of the rest, field_corr32 its autocorrelation at a 32-pixel horizontal lag."""
    a, b = luma(lq), luma(clean)
    idx = np.clip(np.rint(b), 0, 255).astype(np.int64).ravel()
    n = np.bincount(idx, minlength=256).astype(np.float64)
    sy = np.bincount(idx, a.ravel(), minlength=256)
    ok = n > 0
    xm = np.arange(256)[ok] / 255.0
    ym = sy[ok] / n[ok]
    w = np.sqrt(n[ok])
    best = None
    for g in np.arange(0.2, 2.5001, 0.02):
        design = np.stack([np.ones_like(xm), 255.0 * xm**g], axis=1)
        coef, *_ = np.linalg.lstsq(design * w[:, None], ym * w, rcond=None)
        e = float(np.sum(n[ok] * (design @ coef - ym) ** 2))
        if best is None or e < best[0]:
            best = (e, float(g), coef)
    _, gamma, (low, scale) = best
    resid = (a - (low + 255.0 * scale * (b / 255.0) ** gamma)).astype(np.float32)
    smooth = cv2.GaussianBlur(resid, (0, 0), 4).astype(np.float64)
    sm = smooth - smooth.mean()
    lag = min(32, sm.shape[1] // 2)
    corr = float(np.mean(sm[:, lag:] * sm[:, :-lag]) / max(sm.var(), 1e-12))
    return {
        "low": float(low),
        "scale": float(scale),
        "gamma": gamma,
        "field_std": float(smooth.std()),
        "noise_std": float((resid - smooth).std()),
        "field_corr32": corr,
    }


def dynamic_range_ratio(lq: np.ndarray, clean: np.ndarray) -> float:
    """(p99 - p1) of lq over that of clean (luma): < 1 when the histogram was compressed."""
    pa = np.percentile(luma(lq), [1, 99])
    pb = np.percentile(luma(clean), [1, 99])
    return float((pa[1] - pa[0]) / max(pb[1] - pb[0], 1e-9))


def ll_params(lq: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Fit lq ≈ 255*gain*(clean/255)**gamma per channel value (all channels pooled; log-log least squares over
    values in (10, 250)), the mean-luminance ratio, and the noise std added beyond the darkened clean image
    (wavelet estimate on luma)."""
    from skimage.restoration import estimate_sigma

    a, b = _channels(lq), _channels(clean)
    m = (a > 10) & (b > 10) & (a < 250) & (b < 250)  # away from 0 (quantisation biases the log) and clipping
    g, lk = np.polyfit(np.log(b[m] / 255.0), np.log(a[m] / 255.0), 1)
    gain = float(np.exp(lk))
    predicted = 255.0 * gain * (b / 255.0) ** g
    extra = estimate_sigma(luma(a)) ** 2 - estimate_sigma(luma(predicted)) ** 2
    return {
        "gamma": float(g),
        "gain": gain,
        "luma_ratio": float(luma(a).mean() / max(luma(b).mean(), 1e-9)),
        "noise": float(np.sqrt(max(extra, 0.0))),
    }


def oe_params(lq: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Fit lq ≈ lift + gain*clean on luma where no channel of lq reaches 245; report lift, the input level
    reaching white (clip_level = (255 - lift)/gain) and the added fraction of saturated (>= 250) pixels."""
    a, b = luma(lq), luma(clean)
    m = _channels(lq).max(axis=2) < 245  # no channel clipped, so the luma map is still affine
    gain, lift = np.polyfit(b[m], a[m], 1)
    return {
        "lift": float(lift),
        "gain": float(gain),
        "clip_level": float((255.0 - lift) / gain) if gain > 1e-9 else float("inf"),
        "saturated": float(np.mean(a >= 250) - np.mean(b >= 250)),
    }


# ---------------------------------------------------------------------------------------------- haze
def block_transmission(lq: np.ndarray, clean: np.ndarray, block: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per block (luma), the slope t and intercept c of lq ≈ t*clean + c (NaN in flat blocks)."""
    a, b = luma(lq), luma(clean)
    gh, gw = a.shape[0] // block, a.shape[1] // block
    t = np.full((gh, gw), np.nan)
    c = np.full((gh, gw), np.nan)
    for i in range(gh):
        for j in range(gw):
            x = b[i * block:(i + 1) * block, j * block:(j + 1) * block].ravel()
            y = a[i * block:(i + 1) * block, j * block:(j + 1) * block].ravel()
            if x.std() < 8 or np.mean(y >= 254) > 0.05:
                continue
            t[i, j], c[i, j] = np.polyfit(x, y, 1)
    return t, c


def haze_params(lq: np.ndarray, clean: np.ndarray, block: int = 32, ref_size: float | None = None) -> dict[str, float]:
    """Fit the radial haze model of ``vi_haze`` to block-wise transmissions: airlight A from the block
    intercepts, then centre (as fractions of H, W) and beta by least squares of log t on the depth proxy."""
    t, c = block_transmission(lq, clean, block)
    h, w = np.asarray(lq).shape[:2]
    ref = float(ref_size or max(h, w))
    use = np.isfinite(t) & (t > 0.05) & (t < 0.9)
    if use.sum() < 6:
        return {k: float("nan") for k in ("airlight", "beta", "center_y", "center_x", "t_min")}
    airlight = float(np.median(c[use] / (1 - t[use])) / 255.0)
    ii, jj = np.nonzero(use)
    py, px = (ii + 0.5) * block, (jj + 0.5) * block
    logt = np.log(t[use])
    best = None
    for cy in np.linspace(0, h, 41):
        for cx in np.linspace(0, w, 41):
            r = np.hypot(py - cy, px - cx) * HAZE_FRAME / ref
            d = np.maximum(HAZE_D0 - HAZE_SLOPE * r, 0)
            beta = float(-(logt @ d) / max(d @ d, 1e-12))
            e = float(np.sum((logt + beta * d) ** 2))
            if best is None or e < best[0]:
                best = (e, beta, cy, cx)
    _, beta, cy, cx = best
    return {
        "airlight": airlight,
        "beta": beta,
        "center_y": float(cy / h),
        "center_x": float(cx / w),
        "t_min": float(np.nanmin(t[use])),
    }


def local_contrast_ratio(lq: np.ndarray, clean: np.ndarray, mask: np.ndarray, size: int = 9) -> float:
    """Mean local std (size x size box, luma) of lq over that of clean, within ``mask``."""

    def local_std(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        m = cv2.blur(x, (size, size))
        v = cv2.blur(x * x, (size, size)) - m * m
        return np.sqrt(np.maximum(v, 0))

    sa, sb = local_std(luma(lq)), local_std(luma(clean))
    return float(sa[mask].mean() / max(sb[mask].mean(), 1e-9))


# ---------------------------------------------------------------------------------------------- dispatch
def estimate_params(key: str, lq: np.ndarray, clean: np.ndarray, ref_size: float | None = None) -> dict[str, float]:
    """Estimates for degradation ``key`` ("vi_Blur", ..., "ir_SN"): the range-checked parameters (named as in
    :mod:`.ranges`) plus descriptive extras. NaN where the pair has too little usable signal. ``ref_size`` is
    passed to :func:`haze_params` (use 640 for EMS data, whose haze constants are absolute pixels)."""
    if key == "vi_Blur":
        return {"sigma": blur_sigma(lq, clean), "hf_ratio": high_frequency_ratio(lq, clean)}
    if key == "vi_Rain":
        return rain_params(lq, clean)
    if key == "vi_LL":
        return ll_params(lq, clean)
    if key == "vi_OE":
        return oe_params(lq, clean)
    if key == "vi_RN":
        return noise_model(lq, clean)
    if key == "vi_haze":
        return haze_params(lq, clean, ref_size=ref_size)
    if key == "ir_LC":
        return {**tone_curve(lq, clean), "range_ratio": dynamic_range_ratio(lq, clean)}
    if key == "ir_RN":
        return {**noise_model(lq, clean), **impulse_rates(lq, clean)}
    if key == "ir_SN":
        return {**stripe_params(lq, clean), "colmean_var_ratio": column_mean_variance(lq) / max(
            column_mean_variance(clean), 1e-12)}
    raise ValueError(f"no estimator for {key!r}")


def range_check(key: str, estimates: dict[str, float]) -> dict[str, bool | None]:
    """For each parameter of ``key`` with a tolerance: is the estimate inside the documented range widened by
    :data:`TOLERANCE`? None when the estimate is NaN (not measurable on this pair)."""
    from .ranges import IR_RANGES, VI_RANGES

    modality, _, kind = key.partition("_")
    ranges = (VI_RANGES if modality == "vi" else IR_RANGES)[kind]
    out: dict[str, bool | None] = {}
    for name, tol in TOLERANCE[key].items():
        value = estimates.get(name, float("nan"))
        lo, hi = ranges[name]
        out[name] = None if not np.isfinite(value) else bool(lo - tol <= value <= hi + tol)
    return out
