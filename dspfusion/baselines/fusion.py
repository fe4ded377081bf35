"""Classical infrared/visible fusion rules: average, max, Laplacian pyramid, DWT, guided filtering.

Every public ``fuse_*`` function takes an IR image and a VI image under the baselines contract
(see :mod:`dspfusion.baselines._image`: uint8 or float in [0, 1]; IR grey, VI grey or RGB) and
returns ``uint8`` with the VI's channels. An RGB visible image is fused on its luma Y (YCrCb) and
its chroma is put back, as the fusion literature does.

References (each function's docstring gives the parameters):
- Laplacian pyramid: P. J. Burt, E. H. Adelson, "The Laplacian pyramid as a compact image code",
  IEEE Trans. Commun. 31(4), 1983; fusion rule ("choose max" on a local salience) from
  P. J. Burt, R. J. Kolczynski, "Enhanced image capture through fusion", ICCV 1993.
- DWT: H. Li, B. S. Manjunath, S. K. Mitra, "Multisensor image fusion using the wavelet transform",
  Graphical Models and Image Processing 57(3), 1995 (area-based max of detail coefficients).
- Guided-filter fusion (GFF): S. Li, X. Kang, J. Hu, "Image Fusion with Guided Filtering",
  IEEE TIP 22(7), 2013.

Deviations: the pyramid/DWT rules use local-activity choose-max without Burt's match measure or
Li's consistency verification; the pyramid/DWT base band is averaged. GFF follows the paper's
default parameters; its weight maps are refined with each grey source as the guide (for an RGB
visible image, its luma rather than its colour channels).
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pywt

from ._image import check_pair, merge_luma, split_luma, to_uint8
from .guided_filter import guided_filter

__all__ = ["fuse_average", "fuse_max", "fuse_laplacian", "fuse_dwt", "fuse_guided", "fuse_luma"]

LumaRule = Callable[[np.ndarray, np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------
# colour wrapper


def fuse_luma(ir: np.ndarray, vi: np.ndarray, rule: LumaRule) -> np.ndarray:
    """Validate the pair, fuse IR with the VI luma by ``rule(ir_y, vi_y) -> fused_y``, restore VI chroma.

    ``rule`` receives two float32 ``HxW`` images in [0, 1] and returns one; the result is ``uint8``
    ``HxW`` for a grey VI or ``HxWx3`` RGB for an RGB VI.
    """
    ir_f, vi_f = check_pair(ir, vi)
    vi_y, chroma = split_luma(vi_f)
    fused_y = rule(ir_f, vi_y).astype(np.float32)
    return to_uint8(merge_luma(fused_y, chroma))


# ---------------------------------------------------------------------------------------------
# helpers


def _local_energy(x: np.ndarray, size: int = 3) -> np.ndarray:
    """Mean of ``x**2`` over a ``size x size`` window: the salience of a band coefficient."""
    x = x.astype(np.float32, copy=False)
    return cv2.blur(x * x, (size, size), borderType=cv2.BORDER_REFLECT)


def _choose_max(a: np.ndarray, b: np.ndarray, window: int = 3) -> np.ndarray:
    """Per coefficient, keep the one of ``a``/``b`` with the larger local energy (ties go to ``a``)."""
    return np.where(_local_energy(a, window) >= _local_energy(b, window), a, b)


def _max_levels(shape: tuple[int, ...], levels: int, min_size: int = 8) -> int:
    """Cap a decomposition depth so the coarsest band is still at least ``min_size`` pixels."""
    n = 0
    h, w = shape[:2]
    while n < levels and min(h, w) // 2 >= min_size:
        h, w = (h + 1) // 2, (w + 1) // 2
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# rules on grey float images


def _average_y(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    return 0.5 * (ir + vi)


def _max_y(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    return np.maximum(ir, vi)


def _laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    gauss = [img]
    for _ in range(levels):
        gauss.append(cv2.pyrDown(gauss[-1], borderType=cv2.BORDER_REFLECT101))
    lap = []
    for fine, coarse in zip(gauss[:-1], gauss[1:]):
        up = cv2.pyrUp(coarse, dstsize=(fine.shape[1], fine.shape[0]), borderType=cv2.BORDER_REFLECT101)
        lap.append(fine - up)
    lap.append(gauss[-1])
    return lap


def _laplacian_y(ir: np.ndarray, vi: np.ndarray, levels: int = 4, window: int = 3) -> np.ndarray:
    levels = _max_levels(ir.shape, levels)
    pa, pb = _laplacian_pyramid(ir, levels), _laplacian_pyramid(vi, levels)
    fused = [_choose_max(a, b, window) for a, b in zip(pa[:-1], pb[:-1])]
    out = 0.5 * (pa[-1] + pb[-1])
    for band in reversed(fused):
        out = cv2.pyrUp(out, dstsize=(band.shape[1], band.shape[0]), borderType=cv2.BORDER_REFLECT101) + band
    return out


def _dwt_y(ir: np.ndarray, vi: np.ndarray, wavelet: str = "db2", levels: int = 4, window: int = 3) -> np.ndarray:
    levels = min(levels, pywt.dwt_max_level(min(ir.shape), pywt.Wavelet(wavelet).dec_len))
    ca = pywt.wavedec2(ir.astype(np.float64), wavelet, mode="symmetric", level=levels)
    cb = pywt.wavedec2(vi.astype(np.float64), wavelet, mode="symmetric", level=levels)
    fused: list = [0.5 * (ca[0] + cb[0])]
    for da, db in zip(ca[1:], cb[1:]):
        fused.append(tuple(_choose_max(a, b, window) for a, b in zip(da, db)))
    out = pywt.waverec2(fused, wavelet, mode="symmetric")
    return out[: ir.shape[0], : ir.shape[1]]


def _guided_y(
    ir: np.ndarray,
    vi: np.ndarray,
    *,
    base_size: int = 31,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
) -> np.ndarray:
    sources = (ir, vi)
    # two-scale decomposition (Li et al. 2013, Eq. 1-2): base = mean filter, detail = rest
    bases = [cv2.blur(s, (base_size, base_size), borderType=cv2.BORDER_REFLECT) for s in sources]
    details = [s - b for s, b in zip(sources, bases)]
    # saliency (Eq. 3): |3x3 Laplacian| smoothed by an 11x11 Gaussian, sigma 5 (r_g = sigma_g = 5)
    saliency = [
        cv2.GaussianBlur(np.abs(cv2.Laplacian(s, cv2.CV_32F, ksize=1)), (11, 11), 5, borderType=cv2.BORDER_REFLECT)
        for s in sources
    ]
    # binary weight maps (Eq. 4), then guided-filter refinement with each source as guide (Eq. 5-6)
    p_ir = (saliency[0] >= saliency[1]).astype(np.float32)
    maps = (p_ir, 1.0 - p_ir)
    w_base = [guided_filter(s, p, r1, eps1) for s, p in zip(sources, maps)]
    w_detail = [guided_filter(s, p, r2, eps2) for s, p in zip(sources, maps)]

    def _blend(weights: list[np.ndarray], layers: list[np.ndarray]) -> np.ndarray:
        w = [np.clip(x, 0.0, None) for x in weights]
        total = w[0] + w[1]
        # where both refined weights vanish fall back to equal weights
        w0 = np.where(total > 1e-6, w[0] / np.maximum(total, 1e-6), 0.5)
        return w0 * layers[0] + (1.0 - w0) * layers[1]

    # Eq. 7-8: weighted average of each layer, then sum of layers
    return _blend(w_base, bases) + _blend(w_detail, details)


# ---------------------------------------------------------------------------------------------
# public API


def fuse_average(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """Pixel-wise mean of IR and the VI luma: ``F = (IR + Y) / 2``. No parameters.

    The simplest baseline in every fusion survey (e.g. Ma et al., "Infrared and visible image fusion
    methods and applications: a survey", Information Fusion 45, 2019). Halves the thermal contrast.
    """
    return fuse_luma(ir, vi, _average_y)


def fuse_max(ir: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """Pixel-wise maximum of intensities: ``F = max(IR, Y)``. No parameters.

    The "max" (absolute-max on non-negative intensities) baseline of the same surveys; keeps every
    hot target at full intensity but hides visible texture wherever IR is brighter.
    """
    return fuse_luma(ir, vi, _max_y)


def fuse_laplacian(ir: np.ndarray, vi: np.ndarray, *, levels: int = 4, window: int = 3) -> np.ndarray:
    """Laplacian-pyramid fusion (Burt & Adelson 1983; rule after Burt & Kolczynski 1993).

    Both images are decomposed into ``levels`` band-pass levels (OpenCV ``pyrDown``/``pyrUp``, 5-tap
    binomial kernel) plus a low-pass residual. Each band-pass coefficient is taken from the source
    with the larger local energy (mean square over a ``window x window`` neighbourhood); the
    low-pass residuals are averaged; the pyramid is collapsed.

    Args:
        levels: number of band-pass levels (capped so the coarsest level keeps >= 8 pixels).
        window: side of the salience window (odd).
    """
    return fuse_luma(ir, vi, lambda a, b: _laplacian_y(a, b, levels, window))


def fuse_dwt(
    ir: np.ndarray, vi: np.ndarray, *, wavelet: str = "db2", levels: int = 4, window: int = 3
) -> np.ndarray:
    """Discrete-wavelet-transform fusion (Li, Manjunath & Mitra 1995), with PyWavelets.

    A ``levels``-level 2-D DWT (``wavelet``, symmetric extension) of both images; detail
    coefficients (H, V, D at each level) are selected by the larger local energy over a
    ``window x window`` area (Li et al.'s area-based maximum selection); the approximation band is
    averaged; the inverse DWT gives the fused image.

    Args:
        wavelet: any PyWavelets discrete wavelet name (default Daubechies-2).
        levels: decomposition depth (capped at ``pywt.dwt_max_level``).
        window: side of the activity window (odd).
    """
    return fuse_luma(ir, vi, lambda a, b: _dwt_y(a, b, wavelet, levels, window))


def fuse_guided(
    ir: np.ndarray,
    vi: np.ndarray,
    *,
    base_size: int = 31,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
) -> np.ndarray:
    """Guided-filter fusion, GFF (S. Li, X. Kang, J. Hu, IEEE TIP 22(7), 2013).

    Two-scale decomposition: base = ``base_size x base_size`` mean filter, detail = image - base.
    Saliency = |3x3 Laplacian| smoothed by an 11x11 Gaussian (sigma 5); binary weight maps pick the
    more salient source per pixel; the maps are refined by guided filtering with the source image as
    guide, ``(r1, eps1)`` for the base layer and ``(r2, eps2)`` for the detail layer, normalised to sum
    to one, and used to average each layer. Defaults are the paper's (r1=45, eps1=0.3, r2=7,
    eps2=1e-6, for images in [0, 1]).
    """
    return fuse_luma(
        ir, vi, lambda a, b: _guided_y(a, b, base_size=base_size, r1=r1, eps1=eps1, r2=r2, eps2=eps2)
    )
