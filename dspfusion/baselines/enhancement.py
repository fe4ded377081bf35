"""Classical pre-enhancement, one per degradation type of the DSPFusion vocabulary (design §2).

Each public function takes one image under the baselines contract (uint8 or float in [0, 1]; grey
``HxW`` or RGB ``HxWx3``) and returns ``uint8`` with the same channels. Everything is deterministic.
Together with :mod:`dspfusion.baselines.fusion` they run the paper's "pre-enhance, then fuse"
comparison protocol without GPUs or learned weights.

| type (modality) | function              | method                                                          |
|-----------------|-----------------------|-----------------------------------------------------------------|
| RN (IR, VI)     | ``denoise``           | non-local means (Buades et al. 2005), MAD noise estimate        |
| SN (IR)         | ``destripe``          | robust column-offset equalisation (after Gadallah et al. 2000)  |
| Blur (VI)       | ``deblur``            | re-blur sigma estimate (Zhuo & Sim 2011) + Richardson-Lucy      |
| LL (VI)         | ``enhance_low_light`` | LIME illumination-map correction (Guo et al. 2017)              |
| OE (VI)         | ``correct_exposure``  | black-point stretch + mean-targeting exposure gain              |
| haze (VI)       | ``dehaze``            | dark channel prior (He et al. 2009) + guided-filter refinement  |
| Rain (VI)       | ``derain``            | oriented thin-bright-structure subtraction (after Kim et al. 2013) |
| LC (IR)         | ``enhance_contrast``  | black-point/peak stretch (+ optional CLAHE, Zuiderveld 1994)    |

Deviations from the papers are listed in each docstring.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d
from skimage.restoration import estimate_sigma

from ._image import merge_luma, on_luma, split_luma, to_float, to_uint8
from .guided_filter import guided_filter

__all__ = [
    "estimate_blur_sigma",
    "denoise",
    "destripe",
    "deblur",
    "enhance_low_light",
    "correct_exposure",
    "dehaze",
    "derain",
    "enhance_contrast",
]


# ---------------------------------------------------------------------------------------------
# noise (RN) and stripes (SN)


def _noise_sigma(y: np.ndarray) -> float:
    """Noise standard deviation of a grey image on the 0..255 scale (wavelet MAD estimate)."""
    return 255.0 * float(estimate_sigma(y))


def _nl_means(
    x: np.ndarray, h: float | None, strength: float, patch: int, search: int, chroma_sigma: float = 2.0
) -> np.ndarray:
    """Non-local means on the luma (strength from its noise estimate), Gaussian on the chroma."""
    y, chroma = split_luma(x)
    if h is None:
        h = strength * _noise_sigma(y)
    if h <= 0.5:  # nothing measurable to remove
        return x
    y_out = cv2.fastNlMeansDenoising(to_uint8(y), None, h=h, templateWindowSize=patch, searchWindowSize=search)
    if chroma is not None and chroma_sigma > 0:
        chroma = cv2.GaussianBlur(chroma, (0, 0), chroma_sigma, borderType=cv2.BORDER_REFLECT)
    return merge_luma(y_out.astype(np.float32) / 255.0, chroma)


def denoise(
    img: np.ndarray,
    *,
    h: float | None = None,
    strength: float = 1.0,
    patch: int = 7,
    search: int = 21,
    chroma_sigma: float = 2.0,
) -> np.ndarray:
    """Non-local means denoising (A. Buades, B. Coll, J.-M. Morel, "A non-local algorithm for image
    denoising", CVPR 2005), OpenCV's ``fastNlMeansDenoising``.

    Args:
        h: filter strength on the 0..255 scale; by default ``strength`` times the luma noise sigma
            estimated by the wavelet median-absolute-deviation rule (D. L. Donoho, I. M. Johnstone,
            Biometrika 81(3), 1994; ``skimage.restoration.estimate_sigma``), so a clean image is
            left almost untouched.
        strength: multiplier for the estimated sigma (1.0 was best on MSRS with sigma 15 noise).
        patch: side of the compared patches (odd); ``search``: side of the search window (odd).
        chroma_sigma: Gaussian smoothing (pixels) of the chroma of an RGB image.

    RGB images: non-local means on the luma, Gaussian smoothing of the chroma (Cr, Cb). Deviation:
    OpenCV's ``fastNlMeansDenoisingColored`` (CIELAB) scored 2-7 dB lower on MSRS with per-channel
    noise and took about twice as long; chroma carries little detail, so a plain low-pass suffices.
    """
    return to_uint8(_nl_means(to_float(img), h, strength, patch, search, chroma_sigma))


def _column_offsets(y: np.ndarray, smooth: float) -> np.ndarray:
    """Per-column offset (length W) of a stripe pattern that is constant down each column."""
    # median over rows of the step between neighbouring columns: a real vertical edge crosses only
    # a few rows, a stripe offset all of them, so the median sees the stripe step alone
    steps = np.median(np.diff(y, axis=1), axis=0)
    profile = np.concatenate([[0.0], np.cumsum(steps)])
    # keep only the high-pass part: slow left-to-right brightness changes belong to the scene
    return profile - gaussian_filter1d(profile, smooth, mode="reflect")


def destripe(img: np.ndarray, *, smooth: float = 5.0, denoise_after: bool = True) -> np.ndarray:
    """Remove column (vertical) stripe noise of a thermal image, then residual random noise.

    Stripe (fixed-pattern) noise adds an offset ``s_x`` to every pixel of column ``x`` (design §2,
    IR SN). Column-statistics destriping equalises the columns (moment matching: F. L. Gadallah,
    F. Csillag, E. J. M. Smith, "Destriping multisensor imagery with moment matching", Int. J.
    Remote Sensing 21(12), 2000; for adjacent columns: Y. Tendero, S. Landeau, J. Gilles,
    "Non-uniformity correction of infrared images by midway equalization", IPOL 2, 2012). We use
    an offset-only, robust variant: the step ``s_{x+1} - s_x`` is the median over rows of the
    difference between neighbouring columns, the offsets are its running sum, and only their
    high-pass part (the profile minus a Gaussian-smoothed copy, ``smooth`` columns wide) is
    subtracted, so horizontal scene gradients survive. Because the paper's stripe model also
    carries Gaussian noise, :func:`denoise` runs afterwards (``denoise_after``); its strength
    follows the estimated noise, so it does little on a stripe-only image.

    Deviation: the issue suggested Münch et al.'s wavelet-FFT filter (Optics Express 17(10), 2009);
    the best wavelet, depth and damping we tried scored below this filter by 0.3 dB PSNR on the
    DSPFusion SN sample (25 pairs) and by 4 dB on MSRS with synthetic N(0, 6^2) column offsets.
    An RGB input is destriped on its luma.
    """

    def _fn(y: np.ndarray) -> np.ndarray:
        return (y - _column_offsets(y.astype(np.float64), smooth)[None, :]).astype(np.float32)

    out = on_luma(to_float(img), _fn)
    if denoise_after:
        out = _nl_means(out, None, 1.0, 7, 21)
    return to_uint8(out)


# ---------------------------------------------------------------------------------------------
# blur


def estimate_blur_sigma(y: np.ndarray, reblur: float = 1.0, edge_fraction: float = 0.02) -> float:
    """Standard deviation (pixels) of a global Gaussian blur, from the re-blur gradient ratio.

    S. Zhuo, T. Sim, "Defocus map estimation from a single image", Pattern Recognition 44(9), 2011:
    for a step edge blurred by sigma, re-blurring by ``reblur`` divides the gradient maximum by
    ``R = sqrt(sigma^2 + reblur^2) / sigma``, so ``sigma = reblur / sqrt(R^2 - 1)``. We take the
    median over the ``edge_fraction`` strongest gradient pixels instead of the paper's Canny edges
    and per-pixel defocus map (a single global blur is assumed). Returns a value in [0.3, 6].
    """
    y = y.astype(np.float32, copy=False)

    def grad(a: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
        gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
        return np.hypot(gx, gy)

    g = grad(y)
    g_r = grad(cv2.GaussianBlur(y, (0, 0), reblur, borderType=cv2.BORDER_REFLECT))
    g, g_r = g[4:-4, 4:-4], g_r[4:-4, 4:-4]  # ignore the border
    thresh = np.quantile(g, 1.0 - edge_fraction)
    sel = (g >= thresh) & (g > 1e-3)
    if sel.sum() < 20:
        return 0.3
    ratio = g[sel] / np.maximum(g_r[sel], 1e-6)
    ratio = ratio[ratio > 1.0 + 1e-3]
    if ratio.size < 20:
        return 6.0
    sigma = float(np.median(reblur / np.sqrt(ratio**2 - 1.0)))
    return float(np.clip(sigma, 0.3, 6.0))


def _richardson_lucy(y: np.ndarray, sigma: float, iterations: int) -> np.ndarray:
    """RL iterations ``u <- u * K^T(d / K u)`` for a Gaussian K (symmetric, so K^T = K)."""
    ksize = 2 * int(np.ceil(3.0 * sigma)) + 1

    def blur(a: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(a, (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT)

    d = y.astype(np.float32) + 1e-3  # keep the ratio finite on black pixels
    u = d.copy()
    for _ in range(iterations):
        u *= blur(d / np.maximum(blur(u), 1e-6))
    return u - 1e-3


def deblur(
    img: np.ndarray,
    *,
    sigma: float | None = None,
    iterations: int = 15,
    intrinsic_sigma: float = 0.9,
    min_sigma: float = 0.5,
) -> np.ndarray:
    """Non-blind Richardson-Lucy deconvolution with an estimated Gaussian PSF.

    W. H. Richardson, JOSA 62(1), 1972; L. B. Lucy, Astron. J. 79, 1974. The PSF is an isotropic
    Gaussian (the VI Blur model, design §2). Unless ``sigma`` is given it is estimated by
    :func:`estimate_blur_sigma`, minus (in quadrature) the ``intrinsic_sigma`` that the estimator
    already reports on sharp camera images (0.8-1.4 px on MSRS), so sharp images are left alone.
    The iterations use OpenCV's separable ``GaussianBlur`` with reflected borders rather than
    ``skimage.restoration.richardson_lucy`` (FFT convolution, about 10x slower here and
    wrap-around at the borders unless padded).

    Args:
        sigma: Gaussian blur sigma in pixels; estimated when None.
        iterations: RL iterations (more sharpens more and amplifies more noise).
        intrinsic_sigma: blur of a sharp image as seen by the estimator (ignored if ``sigma`` is given).
        min_sigma: below this blur sigma the image is returned unchanged.

    An RGB input is deconvolved on its luma; chroma is kept.
    """
    x = to_float(img)
    y, chroma = split_luma(x)
    if sigma is None:
        s = float(np.sqrt(max(estimate_blur_sigma(y) ** 2 - intrinsic_sigma**2, 0.0)))
    else:
        s = float(sigma)
    if s < min_sigma:
        return to_uint8(x)
    return to_uint8(merge_luma(_richardson_lucy(y, s, iterations), chroma))


# ---------------------------------------------------------------------------------------------
# illumination: low light (LL), over-exposure (OE), IR low contrast (LC)


def enhance_low_light(
    img: np.ndarray, *, gamma: float = 0.8, radius: int = 15, eps: float = 1e-3, denoise_after: bool = True
) -> np.ndarray:
    """LIME-style low-light enhancement (X. Guo, Y. Li, H. Ling, "LIME: Low-light image enhancement
    via illumination map estimation", IEEE TIP 26(2), 2017).

    Initial illumination ``T = max over colour channels`` (LIME Eq. 2); ``T`` is smoothed while
    keeping structure; the result is ``I / T**gamma`` per channel (LIME's gamma correction of the
    illumination, Eq. 20-21; gamma 0.8 as in the paper). Deviation: the structure-aware refinement of
    LIME (a weighted-TV problem) is replaced by a self-guided guided filter (``radius``, ``eps``),
    and LIME's BM3D denoise-and-recompose by non-local means recomposed with weight ``T``
    (``denoise_after``), so bright regions keep their detail and dark, amplified regions are cleaned.
    """
    x = to_float(img)
    t0 = x if x.ndim == 2 else x.max(axis=2)
    t = np.clip(guided_filter(t0, t0, radius, eps), 1e-3, 1.0)
    # smoothing lowers T next to bright edges, which would blow I / T**gamma up to white there
    t = np.maximum(t, 0.5 * t0)
    gain = 1.0 / t**gamma
    out = np.clip(x * (gain if x.ndim == 2 else gain[:, :, None]), 0.0, 1.0)
    if denoise_after:
        den = _nl_means(out, None, 1.0, 7, 21)
        w = t if x.ndim == 2 else t[:, :, None]
        out = out * w + den * (1.0 - w)
    return to_uint8(out)


def correct_exposure(img: np.ndarray, *, target_mean: float = 0.45, black_percentile: float = 0.5) -> np.ndarray:
    """Over-exposure correction: black-point stretch, then an exposure gain that brings the mean down.

    Over-exposure is modelled as ``clip(k*I + b)`` with ``k > 1`` (design §2, OE), which lifts the
    black level by ``b`` and scales the image by ``k``. The classical correction inverts the two
    global parameters (tone correction, R. C. Gonzalez, R. E. Woods, "Digital Image Processing",
    4th ed., §3.2). Only when the mean luma is above ``target_mean`` (otherwise the image is
    returned unchanged): the luma's ``black_percentile`` point is mapped back to 0 (this assumes the
    scene has some near-black pixels, e.g. shadows, as natural scenes do), then the luma
    is scaled so that its mean becomes ``target_mean``. A gain on RGB scales the colour differences
    too, so the chroma's distance from grey is scaled by the same overall factor. Saturated pixels
    carry no information and become a flat mid-tone. A mean-targeting gamma (``Y**g``) was tried
    first: it scored lower (MSRS day scenes with clip(1.8 I + 30): 12.1 vs 17.6 dB; DSPFusion OE
    sample: 21.2 vs 22.5 dB) because it exaggerates contrast.
    """
    x = to_float(img)
    y, chroma = split_luma(x)
    if float(y.mean()) <= target_mean:
        return to_uint8(x)
    lo = float(np.percentile(y, black_percentile))
    stretch = 1.0 / max(1.0 - lo, 1e-3)
    y = np.clip((y - lo) * stretch, 0.0, 1.0)
    gain = target_mean / max(float(y.mean()), target_mean)
    if chroma is not None:
        chroma = 0.5 + (chroma - 0.5) * min(1.0, stretch * gain)
    return to_uint8(merge_luma(y * gain, chroma))


def enhance_contrast(
    img: np.ndarray, *, black_percentile: float = 0.5, clip_limit: float | None = None, tiles: int = 8
) -> np.ndarray:
    """Low-contrast (LC) correction for thermal images: linear stretch, optionally CLAHE.

    The LC model compresses intensities affinely, ``a*I + b`` with ``a < 1``, ``b > 0`` (design §2).
    The luma's ``black_percentile`` point is mapped to 0 and its brightest structure (the maximum
    after a 3x3 median, so single hot pixels do not count) to 1: in thermal images the hottest
    object is usually near full scale, so this undoes the compression. With ``clip_limit`` set,
    contrast-limited adaptive histogram equalisation (K. Zuiderveld, Graphics Gems IV, 1994;
    OpenCV ``createCLAHE``, ``tiles x tiles`` grid) follows for extra local contrast; it is off by
    default because on the DSPFusion LC sample it lowered PSNR/SSIM to the clean targets (stretch
    only: 14.4 -> 20.1 dB mean PSNR over 25 pairs; with CLAHE clip 2: -> 17.9 dB). RGB: on the luma.
    """

    def _fn(y: np.ndarray) -> np.ndarray:
        lo = float(np.percentile(y, black_percentile))
        hi = float(cv2.medianBlur(to_uint8(y), 3).max()) / 255.0
        if hi - lo > 1e-3:
            y = np.clip((y - lo) / (hi - lo), 0.0, 1.0)
        if clip_limit:
            clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
            y = clahe.apply(to_uint8(y)).astype(np.float32) / 255.0
        return y

    return to_uint8(on_luma(to_float(img), _fn))


# ---------------------------------------------------------------------------------------------
# haze


def dehaze(
    img: np.ndarray,
    *,
    patch: int = 15,
    omega: float = 0.9,
    t_min: float = 0.1,
    top_fraction: float = 0.001,
    radius: int = 60,
    eps: float = 1e-4,
) -> np.ndarray:
    """Dark channel prior dehazing (K. He, J. Sun, X. Tang, "Single image haze removal using dark
    channel prior", CVPR 2009 / IEEE TPAMI 33(12), 2011), with guided-filter refinement (He et al.,
    TPAMI 2013, §4.4, which replaces the soft matting of the 2009 paper).

    Dark channel = min over colour channels and a ``patch x patch`` window. Atmospheric light A =
    the brightest input pixel among the ``top_fraction`` of pixels with the brightest dark channel.
    Transmission ``t = 1 - omega * dark(I / A)``, refined by a guided filter (grey guide, ``radius``,
    ``eps``), floored at ``t_min``; radiance ``J = (I - A) / t + A``. Grey images use the grey value
    as the single channel. Deviation: ``omega`` defaults to 0.9 instead of the paper's 0.95 (keeps a
    little more haze; on the DSPFusion haze sample 18.6 vs 17.8 dB PSNR, and no synthetic-haze MSRS
    image got worse, against 2 of 12 with 0.95).
    """
    x = to_float(img)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))

    def dark(a: np.ndarray) -> np.ndarray:
        m = a if a.ndim == 2 else a.min(axis=2)
        return cv2.erode(m, kernel, borderType=cv2.BORDER_REFLECT)

    dc = dark(x)
    n = max(1, int(round(top_fraction * dc.size)))
    idx = np.argpartition(dc.ravel(), -n)[-n:]
    flat = x.reshape(dc.size, -1)
    a = flat[idx[np.argmax(flat[idx].sum(axis=1))]]  # shape (C,)
    a = np.maximum(a, 1e-3).astype(np.float32)
    if x.ndim == 2:
        a = a[0]
    t = 1.0 - omega * dark(np.clip(x / a, 0.0, 1.0))
    guide = x if x.ndim == 2 else cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
    t = np.maximum(guided_filter(guide, t.astype(np.float32), radius, eps), t_min)
    if x.ndim == 3:
        t = t[:, :, None]
    return to_uint8((x - a) / t + a)


# ---------------------------------------------------------------------------------------------
# rain


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2.0
    th = np.deg2rad(angle_deg)
    for s in np.linspace(-c, c, 4 * length):
        k[int(round(c - s * np.sin(th))), int(round(c + s * np.cos(th)))] = 1.0
    return k / k.sum()


def _dominant_angle(responses: np.ndarray, tiles: int) -> int:
    """Index of the orientation that wins the most tiles (by mean squared line response).

    A tile vote instead of a global energy maximum: rain covers the whole frame, while strong
    scene lines (windows, kerbs) dominate the energy of a few tiles only.
    """
    n, h, w = responses.shape
    votes = np.zeros(n)
    for i in range(tiles):
        for j in range(tiles):
            t = responses[:, i * h // tiles : (i + 1) * h // tiles, j * w // tiles : (j + 1) * w // tiles]
            energy = (t * t).reshape(n, -1).mean(axis=1)
            if energy.max() > 0:
                votes[int(np.argmax(energy))] += 1
    return int(np.argmax(votes))


def derain(
    img: np.ndarray,
    *,
    width: int = 5,
    length: int = 21,
    angles: int = 24,
    tiles: int = 8,
    anisotropy: float = 2.0,
) -> np.ndarray:
    """Rain-streak removal: subtract thin, bright structures elongated along the rain direction.

    Rain streaks are thin, bright, long and share one orientation per image (the observation behind
    J.-H. Kim, C. Lee, J.-Y. Sim, C.-S. Kim, "Single-image deraining using an adaptive nonlocal means
    filter", ICIP 2013, which finds streaks by elongated, consistently oriented local kernels).
    On the luma: (1) the white top-hat ``T = Y - opening(Y)`` with a ``width``-pixel disk keeps
    bright structures thinner than ``width``; (2) ``T`` is averaged along ``length``-pixel lines at
    ``angles`` orientations; the rain direction is the orientation that wins most of the
    ``tiles x tiles`` tiles; (3) the streak layer is the line response along the rain direction
    minus ``anisotropy`` times the response across it (isotropic texture cancels, a streak does
    not), clipped to ``[0, T]``; (4) it is subtracted. Deviation: Kim et al. estimate orientation
    per pixel and fill streak pixels by non-local means; this global-direction, subtractive
    version needs no per-pixel weights and is fast. RGB: on the luma, chroma kept.

    Limitation: it helps on sparse, distinct streaks (MSRS with 120 synthetic streaks: +2 to +4 dB
    PSNR) but not on the dense, low-amplitude rain of the DSPFusion sample (EMS recipe, 25 pairs:
    PSNR 30.2 -> 30.1 dB, SSIM 0.881 -> 0.885), where most of the error is the recipe's global
    contrast loss rather than the streaks.
    """

    def _fn(y: np.ndarray) -> np.ndarray:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
        tophat = y - cv2.morphologyEx(y, cv2.MORPH_OPEN, disk, borderType=cv2.BORDER_REFLECT)
        responses = np.stack(
            [
                cv2.filter2D(tophat, -1, _line_kernel(length, a), borderType=cv2.BORDER_REFLECT)
                for a in np.arange(angles) * (180.0 / angles)
            ]
        )
        best = _dominant_angle(responses, tiles)
        streaks = responses[best] - anisotropy * responses[(best + angles // 2) % angles]
        return y - np.clip(streaks, 0.0, tophat)

    return to_uint8(on_luma(to_float(img), _fn))
