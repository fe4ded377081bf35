"""The restoration-and-fusion network (paper §III-C, Fig. 2).

A four-level Restormer U-Net whose encoder is applied to IR and VI with **shared
weights** (the paper's two "parallel" branches are siamese in the official code;
modality-specific behaviour comes only from Pd_ir vs Pd_vi through DPMM). At every
level a DPGM injects both priors and a PGFM fuses the two modalities into the skip
connection; the decoder injects the semantic prior with SPIM.

Shapes (dims = [d, 2d, 4d, 8d], priors Ps ``[B,16,C_s]``, Pd ``[B,16,C_d]``)::

    level 1  H×W     d   Ps1 = Ps            Pd1 = Pd            (16 tokens)
    level 2  H/2     2d  Ps2 = down_a(Ps1)   Pd2 = down_a'(Pd1)  (4 tokens)
    level 3  H/4     4d  Ps3 = down_b(Ps2)   Pd3 = down_b'(Pd2)  (4 tokens)
    latent   H/8     8d  Ps3                 Pd3
    decoder: up + concat skip (+ 1×1 reduce at levels 3, 2) → SPIM + blocks
    refinement at 2d (SPIM(Ps1) + blocks) → 3×3 head

Output: ``I_f = (tanh(head(x) + VI) + 1) / 2`` — a global residual on the
(degraded) visible RGB input, then squashed into (0, 1). Inputs must have H and W
divisible by 8 (the inference wrapper pads).

Deviation (ours, CPU presets only): ``stem_stride = 2`` pixel-unshuffles the
inputs before the patch embedding and pixel-shuffles the head's output, so the
whole U-Net runs at half resolution while the VI residual stays at full
resolution; inputs must then be multiples of 16. The official value is 1.
``detail_channels > 0`` (ours, CPU presets only) adds the full-resolution detail head of
:mod:`.detail_head` before the final squashing; 0 (official) leaves the output as above.

``ir_mix`` (ours, off by default) adds a second, IR residual weighted per pixel:
``z = head(x) + VI + β ⊙ (IR − VI)``, β ``[B,1,H,W]`` from a 3×3 convolution of the refinement
features at half resolution, pixel-shuffled to full resolution. Why: only VI reaches the output
at full resolution; IR edges must be rebuilt by the half-resolution U-Net, and the fused image
keeps much less of them than pyramid fusion does (on the first 25 clean RoadScene50 pairs, Qabf's
IR term 0.48 against the Laplacian pyramid's 0.68; the VI terms 0.48 and 0.47;
benchmarks/results/qabf_terms_lite8.md). β's convolution starts at zero, so weights without it
behave exactly as before. Measured (docs/EXPERIMENTS.md, ``lite11`` against a control of the same
length): it helps most where VI is noisy (RoadScene50 ``vi_RN`` Qabf 0.345 → 0.455 on 10 pairs);
on clean pairs the IR term rose on RoadScene50 and TNO25 only, and stayed far below the pyramid's
(0.51 vs 0.68 on RoadScene50) until the pyramid detail loss of ``training/losses.py`` (``lite14``: 0.62).

``mix_luma`` (ours, off by default; no parameters) makes that IR residual replace the VI's luma only:
``z = head(x) + VI + β ⊙ (IR − Y(VI))``, Y = 0.299R + 0.587G + 0.114B broadcast over the three channels, so at
β = 1 the output's luma is IR's and its chroma (R − Y, B − Y) the VI's, as the classical baselines fuse on the luma
and put the chroma back. Why: with the RGB residual, β → 1 also greys the colour, which the colour loss resists;
under RoadScene50 vi_Blur the trained network kept less of the IR edges than GFF+enh (Qabf's IR term 0.905 against
0.929 on 10 pairs, benchmarks/qabf_terms.py), although copying the IR input outscores every method there
(benchmarks/results/source_copy.md). For a grey VI (three equal channels) Y(VI) = VI and nothing changes. The
tone-curved, sharpened VI is the one mixed; the coefficients sum to 1, so the same holds on any affine scale.

``band_mix`` (ours, off by default) adds per-pixel weights on each source's fine detail band::

    z = head(x) + VI + β ⊙ (IR − VI) + γ_ir ⊙ hp(IR) + γ_vi ⊙ hp(VI)

hp(x) = x − blur(x), blur the 5×5 binomial filter ([1 4 6 4 1]/16 in each direction, reflect padding), the
finest band of a Laplacian pyramid without the downsampling; γ ``[B,2,H,W]`` from a 3×3 convolution of the
refinement features at half resolution, pixel-shuffled like β. Why: β mixes whole pixels, so taking IR's base
(β → 1) also drops VI's fine edges, and keeping VI's edges keeps its noise; max-abs pyramid fusion chooses per band.
With ``lite15b``, Qabf's IR term rose to 0.654 on clean RoadScene50 while the VI term fell to 0.385 (the
pyramid's: 0.676 and 0.471; benchmarks/results/qabf_terms.md). γ's convolution starts at zero, so weights
without it behave exactly as before. Measured (docs/EXPERIMENTS.md, ``lite17`` against a control of the same length,
10 degraded pairs per set): mean Qabf MSRS91 +0.002 (11 of 12 conditions), RoadScene50 equal; the trained
network puts IR's fine band in (γ_ir ≈ 0.5) more than VI's (γ_vi ≈ 0.1), so the visible-edge gap stays.

``tone_curve`` K > 0 (ours, off by default) passes each source through a per-image tone curve before the network
and before every full-resolution path (VI residual, β, hp)::

    x' = x + c₀ + Σ_{k=0}^{K-1} c_{k+1} · relu(x − k/K)        (a piecewise-linear curve with K segments)

c ``[B, K+1]`` from a two-layer MLP of the mean of the source's DPEN prior tokens (one MLP per modality), its last
layer zero-initialised, so weights without it behave exactly as before. Why: LC compresses the IR image's whole
range (scale 0.2–0.8, gamma 0.3–1.25; degradations/infrared.py) and the trained network kept only about 0.6 of the
clean IR's edge strength under ir_LC, where the pre-enhancing baselines keep 0.8
(benchmarks/results/experiments/lite20/qabf_terms_degraded_lite20.md); a fixed stretch before the network helped
RoadScene50 and hurt MSRS91 night frames, so the curve is predicted per image from its degradation prior. The
coefficients depend only on the priors, which the tiled path computes once for the whole image, so the curve is
the same in every tile. Measured (docs/EXPERIMENTS.md, ``lite21`` against a control of the same length, 10 degraded
pairs per set): mean Qabf +0.003 on MSRS91 and RoadScene50 (10 of 12 conditions each). The trained curves move a
degraded input part of the way towards the clean one (after ``lite22``, RoadScene50 ir_LC IR contrast 0.116 → 0.137,
clean 0.229; benchmarks/tone_curves.py), and were still growing when training stopped.

``destripe`` (ours, off by default) subtracts a gated estimate of the IR input's column offsets before everything
else (the tone curve included)::

    ir' = ir − g · o,   o_x = mean_y clip(ir − box₉(ir), ±0.1)        o ``[B,C,1,W]``

box₉ the 1×9 horizontal box mean (replicate padding), g ``[B]`` from a two-layer MLP of the mean of the IR prior
tokens, clamped to [0, 1] (a fraction of the estimate is subtracted, never added), its last layer zero-initialised,
so weights without it behave exactly as before (at 0 the clamp still passes the gradient). Why: stripe noise (SN) adds
an offset constant down each column (degradations/infrared.py), which a half-resolution U-Net with a local receptive
field cannot estimate, and the full-resolution IR paths (β, hp(IR), the detail head) pass it straight to the output;
under ir_SN on RoadScene50 the trained network left faint stripes and leaned on VI, and Qabf trailed the oracle
destriping baselines (0.456 against 0.491). The DPEN prior recognises SN (the probe's IR SN recall is 100 %), so the
gate can open for it and stay shut for clean frames, whose vertical structures (poles, trunks) the estimate would
also catch. The mean runs over the rows of the whole image (tiled inference passes the whole image's column offsets
to :meth:`FusionNet.prepare_inputs` for every tile), and over the crop's rows in training.

``sharpen`` (ours, off by default) passes the VI input through a per-image unsharp mask over three fine bands before
everything else but the destriping (so before the tone curve)::

    vi' = vi + Σ_{k=0}^{2} a_k · (B^{n_k} vi − B^{n_{k+1}} vi),   (n_0, n_1, n_2, n_3) = (0, 1, 2, 4)

B the 5×5 binomial blur of ``band_mix`` (σ = 1; B^n has σ = √n), a ``[B, 3]`` from a two-layer MLP of the mean of
the VI prior tokens, its last layer zero-initialised, so weights without it behave exactly as before. Why: Gaussian
blur (σ up to 4; degradations/visible.py) removes the fine bands the network must rebuild from a half-resolution
U-Net, and the oracle deblurring baselines (Richardson-Lucy) led under vi_Blur on both sets (Qabf MSRS91 0.489 and
RoadScene50 0.652 against the model's 0.448 and 0.606). The DPEN prior recognises blur (the probe's VI Blur recall is
86 %), so the gains can rise for it and stay near zero for noisy inputs, whose noise a sharpening would amplify.
Its reach (8 pixels) crosses tile borders, so tiled inference sharpens each tile on its window grown by 8 pixels of
real context and crops it back (``dspfusion.tiling.prepared_tile``): the same values as sharpening the whole image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import FusionNetConfig
from .common import TokenDown, luma
from .detail_head import DetailHead
from .prior_fusion import PGFM
from .prior_modulation import PriorGuidedLevel, SemanticGuidedLevel
from .restormer import Downsample, Upsample


class FusionNet(nn.Module):
    """F(IR, VI, Pd_ir, Pd_vi, Ps) → fused RGB ``[B, 3, H, W]`` in (0, 1)."""

    def __init__(self, cfg: FusionNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, nb, hd, e, b = cfg.dim, cfg.num_blocks, cfg.heads, cfg.ffn_expansion, cfg.bias
        dims = (d, 2 * d, 4 * d, 8 * d)
        n1, n2 = cfg.prior_tokens, cfg.pyramid_tokens
        deg_tokens = (n1, n2, n2, n2)
        pgfm_tokens = (n1, n2, n2, n2)

        self.sem_pyramid = nn.ModuleList([TokenDown(n1, n2, cfg.sem_dim), TokenDown(n2, n2, cfg.sem_dim)])
        self.deg_pyramid = nn.ModuleList([TokenDown(n1, n2, cfg.deg_dim), TokenDown(n2, n2, cfg.deg_dim)])

        r = cfg.stem_stride
        self.patch_embed = nn.Conv2d(cfg.in_chans * r * r, d, 3, padding=1, bias=b)
        self.encoders = nn.ModuleList(
            [
                PriorGuidedLevel(dims[i], hd[i], nb[i], e, b, cfg.sem_dim, cfg.deg_dim, deg_tokens[i])
                for i in range(4)
            ]
        )
        self.pgfm = nn.ModuleList([PGFM(dims[i], cfg.sem_dim, pgfm_tokens[i], b) for i in range(4)])
        self.downs = nn.ModuleList([Downsample(dims[i]) for i in range(3)])

        self.up3 = Upsample(dims[3])
        self.reduce3 = nn.Conv2d(dims[3], dims[2], 1, bias=b)
        self.decoder3 = SemanticGuidedLevel(dims[2], hd[2], nb[2], e, b, cfg.sem_dim)
        self.up2 = Upsample(dims[2])
        self.reduce2 = nn.Conv2d(dims[2], dims[1], 1, bias=b)
        self.decoder2 = SemanticGuidedLevel(dims[1], hd[1], nb[1], e, b, cfg.sem_dim)
        self.up1 = Upsample(dims[1])
        self.decoder1 = SemanticGuidedLevel(dims[1], hd[0], nb[0], e, b, cfg.sem_dim)
        self.refinement = SemanticGuidedLevel(dims[1], hd[0], cfg.num_refinement_blocks, e, b, cfg.sem_dim)
        self.head = nn.Conv2d(dims[1], cfg.out_chans * r * r, 3, padding=1, bias=b)
        self.detail = None
        if cfg.detail_channels:
            if dims[1] % (r * r):
                raise ValueError(f"detail_channels needs 2*dim ({dims[1]}) divisible by stem_stride² ({r * r})")
            self.detail = DetailHead(dims[1] // (r * r), cfg.detail_channels, cfg.out_chans, cfg.detail_blocks)
        self.mix = None
        if cfg.ir_mix:
            self.mix = nn.Conv2d(dims[1], r * r, 3, padding=1)
            nn.init.zeros_(self.mix.weight)
            nn.init.zeros_(self.mix.bias)
        self.band = None
        if cfg.band_mix:
            self.band = nn.Conv2d(dims[1], 2 * r * r, 3, padding=1)
            nn.init.zeros_(self.band.weight)
            nn.init.zeros_(self.band.bias)
            k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
            self.register_buffer("blur", (k[:, None] * k[None, :]).expand(cfg.in_chans, 1, 5, 5).clone(), persistent=False)
        self.destripe_gate = _prior_mlp(cfg.deg_dim, 1) if cfg.destripe else None
        self.sharpen_gain = _prior_mlp(cfg.deg_dim, 3) if cfg.sharpen else None
        if cfg.sharpen and self.band is None:
            k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
            self.register_buffer("blur", (k[:, None] * k[None, :]).expand(cfg.in_chans, 1, 5, 5).clone(), persistent=False)
        self.curve_ir = self.curve_vi = None
        if cfg.tone_curve:
            self.curve_ir, self.curve_vi = _curve_mlp(cfg.deg_dim, cfg.tone_curve), _curve_mlp(cfg.deg_dim, cfg.tone_curve)

    def tone(self, x: torch.Tensor, deg: torch.Tensor, mlp: nn.Module) -> torch.Tensor:
        """x ``[B,C,H,W]``, deg ``[B,N,C_d]`` → x passed through the per-image piecewise-linear curve, same shape."""
        c = mlp(deg.mean(1))  # [B, K+1]
        k = c.shape[1] - 1
        knots = torch.arange(k, device=x.device, dtype=x.dtype) / k
        out = x + c[:, 0, None, None, None]
        for i in range(k):
            out = out + c[:, i + 1, None, None, None] * F.relu(x - knots[i])
        return out

    @staticmethod
    def column_offsets(x: torch.Tensor, clip: float = 0.1, strip: int | None = None) -> torch.Tensor:
        """``[B,C,H,W]`` → ``[B,C,1,W]``: per column, the mean over the rows of x minus its 1×9 horizontal box mean
        (replicate padding), each difference clipped to ±``clip``; a column offset (stripe) comes out whole.
        ``strip`` N: N rows at a time (the box is horizontal, so the result is the same; less memory)."""
        h = x.shape[-2]
        step = h if not strip else strip
        total = None
        for r0 in range(0, h, step):
            rows = x[..., r0:r0 + step, :]
            box = F.avg_pool2d(F.pad(rows, (4, 4, 0, 0), mode="replicate"), (1, 9), stride=1)
            part = (rows - box).clamp(-clip, clip).sum(2, keepdim=True)
            total = part if total is None else total + part
        return total / h

    def blur5(self, x: torch.Tensor) -> torch.Tensor:
        """``[B,C,H,W]`` → its 5×5 binomial blur (reflect padding), same shape."""
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.blur, groups=x.shape[1])

    def high_pass(self, x: torch.Tensor) -> torch.Tensor:
        """``[B,C,H,W]`` → x − 5×5 binomial blur of x (reflect padding), same shape."""
        return x - self.blur5(x)

    def sharpen(self, x: torch.Tensor, deg: torch.Tensor) -> torch.Tensor:
        """x ``[B,C,H,W]``, deg ``[B,N,C_d]`` → x + a₀(x − B x) + a₁(B x − B² x) + a₂(B² x − B⁴ x), the three fine
        bands weighted by the gains a read from ``deg``, same shape. B⁴ reaches :attr:`input_context` pixels."""
        a = self.sharpen_gain(deg.mean(1))[:, :, None, None, None]  # [B, 3, 1, 1, 1]
        b1 = self.blur5(x)
        b2 = self.blur5(b1)
        b4 = self.blur5(self.blur5(b2))
        return x + a[:, 0] * (x - b1) + a[:, 1] * (b1 - b2) + a[:, 2] * (b2 - b4)

    @property
    def input_context(self) -> int:
        """Pixels of real context :meth:`prepare_inputs` needs around a window to give the window's values of the
        whole prepared image: 8 with sharpening (the radius of B⁴, four 5×5 blurs), else 0."""
        return 8 if self.sharpen_gain is not None else 0

    def image_offsets(self, ir: torch.Tensor, strip: int | None = None) -> torch.Tensor | None:
        """The whole image's column offsets ``[B,3,1,W]`` to pass to :meth:`prepare_inputs` for each window of it
        (tiled inference), ``strip`` rows at a time; None for a model without destriping."""
        return None if self.destripe_gate is None else self.column_offsets(ir, strip=strip)

    def prepare_inputs(
        self, ir: torch.Tensor, vi: torch.Tensor, deg_ir: torch.Tensor, deg_vi: torch.Tensor,
        offsets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The input operations that reach beyond a pixel's neighbourhood, destriping (a mean down every column) and
        sharpening (:attr:`input_context` pixels); unchanged inputs for a model without them. ``offsets``
        ``[B,3,1,W]``: column offsets to subtract instead of ``ir``'s own. Tiled inference passes the whole image's
        (:meth:`image_offsets`), cut to a window of the tile plus :attr:`input_context` pixels, and then runs the
        network with ``prepared=True``, so each tile sees what the untiled network sees."""
        if self.destripe_gate is not None:
            g = self.destripe_gate(deg_ir.mean(1)).clamp(0, 1)  # [B, 1]
            if offsets is None:
                offsets = self.column_offsets(ir)
            ir = ir - g[:, :, None, None] * offsets
        if self.sharpen_gain is not None:
            vi = self.sharpen(vi, deg_vi)
        return ir, vi

    def prior_pyramids(self, sem: torch.Tensor, deg_ir: torch.Tensor, deg_vi: torch.Tensor):
        """Per-level (Ps, Pd_ir, Pd_vi) for levels 1-4."""
        s = [sem]
        di, dv = [deg_ir], [deg_vi]
        for ds, dd in zip(self.sem_pyramid, self.deg_pyramid):
            s.append(ds(s[-1]))
            di.append(dd(di[-1]))
            dv.append(dd(dv[-1]))
        s.append(s[-1])
        di.append(di[-1])
        dv.append(dv[-1])
        return s, di, dv

    def forward(
        self, ir: torch.Tensor, vi: torch.Tensor, deg_ir: torch.Tensor, deg_vi: torch.Tensor, sem: torch.Tensor,
        prepared: bool = False,
    ) -> torch.Tensor:
        """ir, vi ``[B,3,H,W]`` (H, W multiples of 8); deg_* ``[B,16,C_d]``; sem ``[B,16,C_s]``. ``prepared``: the
        inputs already went through :meth:`prepare_inputs` (tiled inference)."""
        if not prepared:
            ir, vi = self.prepare_inputs(ir, vi, deg_ir, deg_vi)
        if self.curve_ir is not None:
            ir, vi = self.tone(ir, deg_ir, self.curve_ir), self.tone(vi, deg_vi, self.curve_vi)
        s, di, dv = self.prior_pyramids(sem, deg_ir, deg_vi)
        r = self.cfg.stem_stride
        x_ir, x_vi = self.patch_embed(F.pixel_unshuffle(ir, r)), self.patch_embed(F.pixel_unshuffle(vi, r))
        fused = []
        for level in range(4):
            if level:
                x_ir, x_vi = self.downs[level - 1](x_ir), self.downs[level - 1](x_vi)
            x_ir = self.encoders[level](x_ir, s[level], di[level])
            x_vi = self.encoders[level](x_vi, s[level], dv[level])
            fused.append(self.pgfm[level](x_ir, x_vi, s[level]))

        x = self.reduce3(torch.cat([self.up3(fused[3]), fused[2]], dim=1))
        x = self.decoder3(x, s[2])
        x = self.reduce2(torch.cat([self.up2(x), fused[1]], dim=1))
        x = self.decoder2(x, s[1])
        x = torch.cat([self.up1(x), fused[0]], dim=1)
        x = self.decoder1(x, s[0])
        x = self.refinement(x, s[0])
        z = F.pixel_shuffle(self.head(x), r) + vi
        if self.mix is not None:
            target = luma(vi) if self.cfg.mix_luma else vi
            z = z + F.pixel_shuffle(self.mix(x), r) * (ir - target)
        if self.band is not None:
            g = F.pixel_shuffle(self.band(x), r)
            z = z + g[:, :1] * self.high_pass(ir) + g[:, 1:] * self.high_pass(vi)
        if self.detail is not None:
            z = self.detail(z, F.pixel_shuffle(x, r), ir, vi)
        return (torch.tanh(z) + 1) / 2


def _curve_mlp(deg_dim: int, knots: int) -> nn.Sequential:
    """The tone curve's coefficients: :func:`_prior_mlp` with knots + 1 outputs (identity curve at initialisation)."""
    return _prior_mlp(deg_dim, knots + 1)


def _prior_mlp(deg_dim: int, outputs: int) -> nn.Sequential:
    """LayerNorm → Linear → GELU → Linear(outputs), the last layer zero (zero output at initialisation)."""
    mlp = nn.Sequential(nn.LayerNorm(deg_dim), nn.Linear(deg_dim, 64), nn.GELU(), nn.Linear(64, outputs))
    nn.init.zeros_(mlp[-1].weight)
    nn.init.zeros_(mlp[-1].bias)
    return mlp
