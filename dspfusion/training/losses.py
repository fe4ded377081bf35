"""Training losses (paper §III-E; the official ``fusion_loss`` and InfoNCE, DSPFUSION.md §4.1-4.2).

Fusion loss, all terms against the **clean** (GT) sources, RGB in [0, 1],
Y = 0.299R + 0.587G + 0.114B:

* L_int   = 15 · L1(F, M), M = IR at pixels where mean_c(IR) > mean_c(VI), else VI
* L_grad  = 10 · Σ_{d∈x,y} L1(|S_d Y_F|, max(|S_d Y_IR|, |S_d Y_VI|)), 3×3 Sobel, replicate padding
* L_ssim  = 2 · [(1 − SSIM(VI, F)) + (1 − SSIM(Y_IR, Y_F))], 13×13 Gaussian σ 1.5, valid window
* L_color = 20 · [L1(Cb_VI, Cb_F) + L1(Cr_VI, Cr_F)] (BT.601 chroma, no offset)
* L_cons  = ½ [L1(Y_VI, Y_F) + L1(Y_IR, Y_F)] — in the official code, not in the paper
* L_gvec  = 0 (ours, off by default): Σ_{d∈x,y} L1(S_d Y_F, S_d Y_D) with the *signed* Sobel responses, D the
  source whose gradient magnitude is larger at the pixel. L_grad matches |∂x| and |∂y| only; this term also asks
  for the dominant source's edge orientation and polarity, which Qabf (orientation) and max-abs
  pyramid fusion keep.
* L_pyr   = 0 (ours, off by default): Σ_k L1(L_k Y_F, T_k) over the three detail bands k of a 4-level Laplacian
  pyramid (kornia, 5×5 Gaussian), T_k = the band of the source with the larger |L_k| at the pixel: the detail
  bands of max-abs Laplacian-pyramid fusion of the clean sources. L_int asks for the brighter source's
  *intensity* at each pixel, so an IR edge inside a region where VI is brighter is not in its target, and
  L_grad only matches magnitudes at the finest scale; this term asks for every source's edges at every scale,
  as Qabf (edge strength and orientation, both sources) rewards (docs/EXPERIMENTS.md). ``pyramid_window`` w > 1
  (ours, default 1 = per pixel) chooses the source by its local band energy (mean square over a w×w window,
  the salience rule of Burt & Kolczynski 1993 that our Laplacian baseline uses) instead of per pixel |L_k|.
* L_under = 0 (ours, off by default): Σ_k mean(relu(|T_k| − |L_k Y_F|)) over the same detail bands and targets as
  L_pyr: a one-sided term that adds weight where the fused band is weaker than its target and none where it is
  stronger. Under a degraded input (IR low contrast, noise) the symmetric L1 lets the network hedge with weak edges;
  the fused IR edges under ir_LC reached 0.63 of the clean IR's strength, the +enh baselines about 0.8
  (docs/EXPERIMENTS.md). ``undershoot_degraded`` (ours, off by default) is the same term counted only on the samples
  whose IR or VI input was degraded (the batch's degradation labels); on clean TNO25, where the fused edges already
  overshoot, ``undershoot`` cost Qabf. It did not remove that cost (``lite25``, docs/EXPERIMENTS.md): nearly every
  training sample has a degraded input, so the mask changes little.
* L_under± = 0 (ours, off by default; ``undershoot_signed``): Σ_k mean(relu(|T_k| − sign(T_k) · L_k Y_F)), the
  one-sided term measured along the target's sign. L_under compares magnitudes only, so detail of any phase
  satisfies it: where the clean target holds fine grain the degraded input has lost (sensor noise of MSRS night
  frames under VI blur), the network can pay it with invented texture. This variant charges a fused band of the
  wrong sign as more than a flat one (|T| + |L F| instead of |T|) and, like L_under, nothing for a stronger band of
  the right sign.
* L_base  = 0 (ours, off by default): L1(B Y_F, ½ (B Y_IR + B Y_VI)), B the low-pass residual of the same 4-level
  pyramid (1/8 resolution): the base of Laplacian-pyramid fusion, which averages the sources' low-pass residuals.
  L_int's target takes the brighter source at every pixel, so where a bright IR object covers dark visible detail
  (a car's wheels and shadow, RoadScene50) the fused image follows IR and loses the visible structure at coarse
  scales; with L_int lowered or off, this term sets the fused image's coarse brightness as pyramid fusion does.

* L_qabf  = 0 (ours, off by default): 1 − Q̃abf(Y_F; Y_IR, Y_VI), a differentiable version of the Qabf metric
  (dspfusion/metrics/qabf.py: Sobel strength g and plain-atan orientation α, the Xydeas-Petrovic sigmoids of the
  strength ratio and the orientation difference, weighted by the clean sources' strengths), per sample then
  averaged. The smoothing: the strength ratio is (min + ε)/(max + ε), the fused strength sqrt(sx² + sy² + ε²), and
  α = π/2 where |sx| < ε (the metric's rule for sx = 0), ε = 1e-3 on [0, 1] luma; replicate padding, where the
  metric zero-pads (its image border is a strong edge of every image). The pyramid and gradient terms ask
  for every edge of the brighter-edged source; Qabf instead weighs each source's edges by their strength and
  punishes a fused edge that is stronger or turned as well as one that is weaker, so where a degraded input's edge
  cannot be restored it prefers the other source's edge to a partial mix. It trains towards the metric that the
  benchmarks judge by, so it is reported beside metrics it does not train (VIF, MI, NIQE) and by looking.

The paper writes the intensity and gradient terms as one 15·(‖·‖ + 0.75‖∇·‖)
term; we follow the code (weights above), as the weights are configurable.

Contrastive loss on DPEN type vectors (L2-normalised), InfoNCE with τ = 0.1 and
the positive included in the denominator (the code; the paper's formula omits it):
for each modality's anchor and each of its 3 positives, logits
``[a·p, a·n_1..n_6, a·a_other] / τ`` with target 0; summed over positives and
modalities, averaged over the batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

# the Qabf metric's Sobel kernels and sigmoid constants: the loss term follows them, not a copy
from ..metrics.qabf import _DA, _DG, _H1, _H3, _KA, _KG, _TA, _TG
from ..models.common import luma  # shared with the fusion network; benchmarks and tests import it from here too


def chroma(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    return cb, cr


def sobel_xy(y: torch.Tensor, signed: bool = False) -> torch.Tensor:
    """``[B,1,H,W]`` → |∂x|, |∂y| (or ∂x, ∂y with ``signed``) stacked ``[B,1,2,H,W]`` (unnormalised Sobel,
    replicate padding)."""
    g = kornia.filters.spatial_gradient(y, mode="sobel", normalized=False)
    return g if signed else g.abs()


def pyramid_detail_loss(
    y_f: torch.Tensor, y_ir: torch.Tensor, y_vi: torch.Tensor, levels: int = 4, window: int = 1
) -> torch.Tensor:
    """``[B,1,H,W]`` each → Σ over the ``levels − 1`` detail bands of L1(band(F), the band of IR or VI, whichever
    has the larger local energy: |band| per pixel for ``window`` 1, else the mean of band² over window×window).

    kornia reflect-pads a side that is not a multiple of 2^(levels−1), and both sides up to the next power of two when
    neither is one (the 96×96 training crops become 128×128), so the mean includes the reflected border; the three
    pyramids are padded alike."""
    p_f, p_ir, p_vi = _pyramids(y_f, y_ir, y_vi, levels=levels)
    return _detail_term(p_f, _detail_targets(p_ir, p_vi, window))


def _pyramids(*ys: torch.Tensor, levels: int = 4) -> list[list[torch.Tensor]]:
    """One kornia Laplacian pyramid (``levels − 1`` detail bands, then the low-pass residual) per image."""
    return [kornia.geometry.transform.build_laplacian_pyramid(y, levels) for y in ys]


def _local_energy(band: torch.Tensor, window: int) -> torch.Tensor:
    """``[B,1,h,w]`` → |band| for ``window`` 1, else the mean of band² over the window (border windows shrink)."""
    if window == 1:
        return band.abs()
    return F.avg_pool2d(band * band, window, stride=1, padding=window // 2, count_include_pad=False)


def _detail_targets(p_ir: list[torch.Tensor], p_vi: list[torch.Tensor], window: int = 1) -> list[torch.Tensor]:
    """Per detail band, the IR or VI band, whichever has the larger local energy (max-abs pyramid fusion)."""
    return [
        torch.where(_local_energy(b_ir, window) > _local_energy(b_vi, window), b_ir, b_vi)
        for b_ir, b_vi in zip(p_ir[:-1], p_vi[:-1])
    ]


def _detail_term(p_f: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    return sum((F.l1_loss(b_f, t) for b_f, t in zip(p_f, targets)), p_f[0].new_zeros(()))


def _undershoot_term(
    p_f: list[torch.Tensor], targets: list[torch.Tensor], samples: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ over the detail bands of mean(relu(|T_k| − |L_k F|)): only where the fused band is weaker than its target.
    ``samples`` ``[B]`` bool: count only these samples (the mean is still over the whole batch)."""
    loss = p_f[0].new_zeros(())
    for b_f, t in zip(p_f, targets):
        under = (t.abs() - b_f.abs()).clamp_min(0)
        if samples is not None:
            under = under * samples.to(under.device, under.dtype).view(-1, 1, 1, 1)
        loss = loss + under.mean()
    return loss


def _signed_undershoot_term(p_f: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    """Σ over the detail bands of mean(relu(|T_k| − sign(T_k) · L_k F)): the fused band's shortfall along the
    target's sign (a band of the wrong sign counts in full, a stronger one of the right sign not at all)."""
    return sum(((t.abs() - torch.sign(t) * b_f).clamp_min(0).mean() for b_f, t in zip(p_f, targets)),
               p_f[0].new_zeros(()))


def _base_term(p_f: list[torch.Tensor], p_ir: list[torch.Tensor], p_vi: list[torch.Tensor]) -> torch.Tensor:
    return F.l1_loss(p_f[-1], 0.5 * (p_ir[-1] + p_vi[-1]))


def pyramid_base_loss(y_f: torch.Tensor, y_ir: torch.Tensor, y_vi: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """``[B,1,H,W]`` each → L1(low-pass residual of F, mean of the IR and VI low-pass residuals), the same
    ``levels``-level kornia pyramid (and padding) as :func:`pyramid_detail_loss`."""
    return _base_term(*_pyramids(y_f, y_ir, y_vi, levels=levels))


def _metric_sobel(y: torch.Tensor, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B,1,H,W]`` → the Qabf metric's Sobel responses (sx, sy): its ``conv2`` kernels as flipped correlations."""
    k = torch.stack([torch.from_numpy(h).flip(0, 1) for h in (_H3, _H1)]).to(y).unsqueeze(1)  # [2,1,3,3]
    s = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="constant" if padding == "zeros" else "replicate"), k)
    return s[:, :1], s[:, 1:]


def _metric_orientation(sx: torch.Tensor, sy: torch.Tensor, eps: float) -> torch.Tensor:
    """atan(sy / sx), π/2 where |sx| < ε (the metric: where sx == 0)."""
    small = sx.abs() < eps
    angle = torch.atan(sy / torch.where(small, torch.ones_like(sx), sx))
    return torch.where(small, torch.full_like(angle, math.pi / 2), angle)


def soft_qabf(y_f: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, eps: float = 1e-3,
              padding: str = "replicate") -> torch.Tensor:
    """Differentiable Qabf of the fused luma ``y_f`` against the sources ``y_a``, ``y_b`` (``[B,1,H,W]`` each, [0, 1])
    → ``[B]``. The metric's formula (dspfusion/metrics/qabf.py) with the smoothing of the module docstring; the
    sources' strengths and orientations carry no gradient. Strength ratios and orientations are scale-free, so [0, 1]
    luma gives the metric's 0-255 value up to the smoothing. ``padding`` "zeros" is the metric's: the image border
    then becomes a strong edge of every image, fused or source, which the metric counts; "replicate" (the default,
    for training) leaves the border out of it."""
    if padding not in ("zeros", "replicate"):
        raise ValueError(f"padding must be 'zeros' or 'replicate', got {padding!r}")
    sx, sy = _metric_sobel(y_f, padding)
    g_f, a_f = torch.sqrt(sx * sx + sy * sy + eps * eps), _metric_orientation(sx, sy, eps)
    num = y_f.new_zeros(y_f.shape[0])
    den = y_f.new_zeros(y_f.shape[0])
    for y_x in (y_a, y_b):
        with torch.no_grad():  # the sources: plain strengths (the weights) and orientations
            sx, sy = _metric_sobel(y_x, padding)
            g_x, a_x = torch.sqrt(sx * sx + sy * sy), _metric_orientation(sx, sy, eps)
        ratio = (torch.minimum(g_x, g_f) + eps) / (torch.maximum(g_x, g_f) + eps)
        orient = 1.0 - (a_x - a_f).abs() / (math.pi / 2)
        q = (_TG / (1 + torch.exp(_KG * (ratio - _DG)))
             * _TA / (1 + torch.exp(_KA * (orient - _DA))))
        num = num + (q * g_x).flatten(1).sum(1)
        den = den + g_x.flatten(1).sum(1)
    return num / den.clamp_min(1e-12)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM, 13×13 Gaussian window σ 1.5, valid region, per channel, data range 1."""
    return kornia.metrics.ssim(a, b, window_size=13, max_val=1.0, padding="valid").mean()


@dataclass(frozen=True)
class FusionLossWeights:
    intensity: float = 15.0
    gradient: float = 10.0
    ssim: float = 2.0
    color: float = 20.0
    consistency: float = 1.0
    grad_vector: float = 0.0  # ours; 0 = the official loss
    pyramid: float = 0.0  # ours; 0 = the official loss
    base: float = 0.0  # ours; 0 = the official loss
    pyramid_window: float = 1.0  # ours: odd window of the pyramid term's source choice; 1 = per pixel
    undershoot: float = 0.0  # ours; 0 = off: the pyramid detail bands' one-sided term (fused edges weaker than target)
    undershoot_degraded: float = 0.0  # ours; 0 = off: the same term on the samples with a degraded input only
    undershoot_signed: float = 0.0  # ours; 0 = off: the one-sided term along the target's sign (phase-aware)
    qabf: float = 0.0  # ours; 0 = off: 1 − the differentiable Qabf against the clean sources


def fusion_loss(
    fused: torch.Tensor,
    gt_ir: torch.Tensor,
    gt_vi: torch.Tensor,
    w: FusionLossWeights = FusionLossWeights(),
    degraded: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """fused, gt_ir, gt_vi: ``[B,3,H,W]`` in [0,1] → (total loss, per-term values). ``degraded`` ``[B]`` bool marks
    the samples whose IR or VI input was degraded (for ``undershoot_degraded``; None = every sample)."""
    ir_brighter = gt_ir.mean(1, keepdim=True) > gt_vi.mean(1, keepdim=True)
    target = torch.where(ir_brighter, gt_ir, gt_vi)
    l_int = F.l1_loss(fused, target)

    y_f, y_ir, y_vi = luma(fused), luma(gt_ir), luma(gt_vi)
    s_f, s_ir, s_vi = sobel_xy(y_f, True), sobel_xy(y_ir, True), sobel_xy(y_vi, True)
    g_f, g_ir, g_vi = s_f.abs(), s_ir.abs(), s_vi.abs()
    g_max = torch.maximum(g_ir, g_vi)
    l_grad = F.l1_loss(g_f[:, :, 0], g_max[:, :, 0]) + F.l1_loss(g_f[:, :, 1], g_max[:, :, 1])

    l_ssim = (1 - ssim(gt_vi, fused)) + (1 - ssim(y_ir, y_f))
    cb_f, cr_f = chroma(fused)
    cb_v, cr_v = chroma(gt_vi)
    l_color = F.l1_loss(cb_f, cb_v) + F.l1_loss(cr_f, cr_v)
    l_cons = 0.5 * (F.l1_loss(y_f, y_vi) + F.l1_loss(y_f, y_ir))

    terms = {
        "int": w.intensity * l_int,
        "grad": w.gradient * l_grad,
        "ssim": w.ssim * l_ssim,
        "color": w.color * l_color,
        "cons": w.consistency * l_cons,
    }
    if w.grad_vector:
        ir_edge = (s_ir * s_ir).sum(2, keepdim=True) > (s_vi * s_vi).sum(2, keepdim=True)  # [B,1,1,H,W]
        terms["gvec"] = w.grad_vector * 2 * F.l1_loss(s_f, torch.where(ir_edge, s_ir, s_vi))
    if w.pyramid or w.base or w.undershoot or w.undershoot_degraded or w.undershoot_signed:
        pyramids = _pyramids(y_f, y_ir, y_vi)  # built once for all pyramid terms
        if w.pyramid or w.undershoot or w.undershoot_degraded or w.undershoot_signed:
            targets = _detail_targets(pyramids[1], pyramids[2], int(w.pyramid_window))
            if w.pyramid:
                terms["pyr"] = w.pyramid * _detail_term(pyramids[0], targets)
            if w.undershoot:
                terms["under"] = w.undershoot * _undershoot_term(pyramids[0], targets)
            if w.undershoot_degraded:
                terms["under_deg"] = w.undershoot_degraded * _undershoot_term(pyramids[0], targets, degraded)
            if w.undershoot_signed:
                terms["under_sgn"] = w.undershoot_signed * _signed_undershoot_term(pyramids[0], targets)
        if w.base:
            terms["base"] = w.base * _base_term(*pyramids)
    if w.qabf:
        terms["qabf"] = w.qabf * (1 - soft_qabf(y_f, y_ir, y_vi)).mean()
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """anchor, positive ``[B,D]``, negatives ``[B,M,D]`` (all L2-normalised here) → mean InfoNCE."""
    a = F.normalize(anchor, dim=-1)
    p = F.normalize(positive, dim=-1)
    n = F.normalize(negatives, dim=-1)
    logits = torch.cat([(a * p).sum(-1, keepdim=True), torch.einsum("bd,bmd->bm", a, n)], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(a.shape[0], dtype=torch.long, device=a.device))


def contrastive_loss(
    type_ir: torch.Tensor,
    type_vi: torch.Tensor,
    pos_ir: torch.Tensor,
    pos_vi: torch.Tensor,
    neg: torch.Tensor,
    tau: float = 0.1,
) -> torch.Tensor:
    """type_* ``[B,D]`` anchors; pos_* ``[B,K,D]``; neg ``[B,6,D]`` shared → Σ_k NCE(IR) + NCE(VI)."""
    neg_ir = torch.cat([neg, type_vi[:, None]], dim=1)  # the other modality's anchor is the 7th negative
    neg_vi = torch.cat([neg, type_ir[:, None]], dim=1)
    loss = type_ir.new_zeros(())
    for k in range(pos_ir.shape[1]):
        loss = loss + info_nce(type_ir, pos_ir[:, k], neg_ir, tau) + info_nce(type_vi, pos_vi[:, k], neg_vi, tau)
    return loss
