"""Conventions: which reference implementation a metric number reproduces.

IVIF papers compute "the same" metric in incompatible ways (bits vs nats, [0,1] vs 0-255 data, sum vs mean over
the two sources, MATLAB bugs baked into published spreadsheets). A :class:`Convention` is a named bundle of
those choices; see ``docs/METRICS.md`` and ``../shared/design/METRICS.md`` (tags T1, T2, C) for the evidence.

* ``"tang"`` (default, T2): Linfeng Tang's MATLAB toolbox *Evaluation-for-Image-Fusion* at its current HEAD
  (after commit 7849642, 2023-03-03), the DSPFusion authors' own evaluator. SSIM is MATLAB's ``ssim``
  averaged over the two sources; MSE on [0,1]; PSNR = 20·log10(255/√MSE[0,1]) (true PSNR + 48.13 dB).
* ``"cddfuse"`` (C): the CDDFuse ``utils/Evaluator.py`` widely copied into PyTorch fusion repositories: MI in
  nats without the 254/255 merge, AG as a plain mean, SSIM = sum of two scikit-image SSIMs (7×7 uniform
  window, data_range 2 as its pinned scikit-image 0.19 silently used), MSE on 0-255, PSNR with peak max(F).
* ``"tang2022"`` (T1): the same MATLAB toolbox as of 2022-05-02 (commit 5d6c43a), which produced the
  published ``Metric_TNO.xlsx``. Reproduces its quirks: SD in saturating uint8 arithmetic, VIF with the
  scale-1 products saturated at 255, SF and Qabf on [0,1] data. Use it only to compare with that spreadsheet.
  Not reproduced: T1's SSIM (Ma et al.'s MEF-SSIM, not in the spreadsheet) and Nabf (on [0,1] data); this
  convention computes those two as ``"tang"`` does.

Every field can be changed with :func:`dataclasses.replace`, e.g.
``replace(CONVENTIONS["tang"], mi_log_base=math.e)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

GreyMode = Literal["matlab", "opencv"]


@dataclass(frozen=True)
class Convention:
    """Switches that select how each metric is computed (defaults: Tang's current MATLAB toolbox)."""

    name: str = "tang"
    description: str = "L. Tang, Evaluation-for-Image-Fusion (MATLAB), current HEAD"
    #: grey conversion of RGB inputs: MATLAB rgb2gray on uint8 (rounded, halves away from zero) or OpenCV
    #: BGR2GRAY on float32 followed by numpy round (halves to even)
    grey: GreyMode = "matlab"
    #: MI: log base (2 -> bits, e -> nats) and the MATLAB joint-histogram merge of grey levels 254/255
    mi_log_base: float = 2.0
    mi_merge_254_255: bool = True
    #: SD: T1's saturating uint8 arithmetic bug
    sd_uint8_saturate: bool = False
    #: SF: computed on [0,1] data (T1), i.e. the 0-255 value / 255
    sf_unit_scale: bool = False
    #: AG: divide the sum by (H-1)(W-1) ("interior", MATLAB) or take the plain mean over H*W ("mean", CDDFuse)
    ag_normalisation: Literal["interior", "mean"] = "interior"
    #: VIF: T1's uint8 saturation of the scale-1 products
    vif_uint8_saturate: bool = False
    #: Qabf: computed on [0,1] data (T1; numerically unstable, see qabf.py)
    qabf_unit_scale: bool = False
    #: SSIM kernel: MATLAB ssim (Gaussian sigma 1.5, 11x11, replicate padding, dynamic range 1) or
    #: scikit-image defaults as CDDFuse calls them (7x7 uniform, sample covariance, data_range 2)
    ssim_kind: Literal["matlab", "skimage"] = "matlab"
    #: SSIM over the two sources: mean (Tang) or sum (CDDFuse, VIFB)
    ssim_reduce: Literal["mean", "sum"] = "mean"
    #: MSE scale: on [0,1] (Tang) or 0-255 (CDDFuse)
    mse_scale: Literal["unit", "255"] = "unit"
    #: PSNR: "tang" = 20 log10(255/sqrt(MSE on [0,1])); "cddfuse" = 10 log10(max(F)^2 / MSE on 0-255)
    psnr_kind: Literal["tang", "cddfuse"] = "tang"


CONVENTIONS: dict[str, Convention] = {
    "tang": Convention(),
    "cddfuse": Convention(
        name="cddfuse",
        description="CDDFuse utils/Evaluator.py (Python; Zhao et al., CVPR 2023)",
        grey="opencv",
        mi_log_base=math.e,
        mi_merge_254_255=False,
        ag_normalisation="mean",
        ssim_kind="skimage",
        ssim_reduce="sum",
        mse_scale="255",
        psnr_kind="cddfuse",
    ),
    "tang2022": Convention(
        name="tang2022",
        description="L. Tang, Evaluation-for-Image-Fusion (MATLAB) as of 2022-05-02, as in Metric_TNO.xlsx",
        sd_uint8_saturate=True,
        sf_unit_scale=True,
        vif_uint8_saturate=True,
        qabf_unit_scale=True,
    ),
}


def get_convention(convention: str | Convention) -> Convention:
    """Look up a convention by name (``tang``, ``cddfuse``, ``tang2022``) or pass a :class:`Convention` through."""
    if isinstance(convention, Convention):
        return convention
    try:
        return CONVENTIONS[convention]
    except KeyError:
        raise ValueError(f"unknown metric convention {convention!r}; choose one of {', '.join(CONVENTIONS)}") from None
