"""Frozen configuration dataclasses and the table of named presets.

A :class:`DSPFusionConfig` fully describes a model: the builder
(:func:`dspfusion.models.build.build_model`) turns it into modules, checkpoints
store it (``config.to_dict()``), and the official-checkpoint loader infers it
from tensor shapes (:mod:`dspfusion.checkpoint`).

Names follow the paper (arXiv 2503.23355): the *semantic prior* Ps has
``sem_tokens`` tokens of ``sem_dim`` channels (paper: N_s=16, C_s=256); the
*degradation prior* Pd has ``deg_tokens`` tokens of ``deg_dim`` channels
(16 × 128). The official constructor arguments relate as
``sem_dim = 4 · embed_dim`` and ``deg_dim = 4 · type_embed_dim``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class PriorEncoderConfig:
    """SPEN / DPEN (paper §III-B, Fig. 2): conv stem, residual blocks, pooled tokens, one mixer block.

    ``in_chans`` 6 for SPEN (cat of IR and VI), 3 for DPEN. ``stem_dim`` is the
    width of the stride-4 7×7 stem conv (official: 16 · in_chans).
    """

    in_chans: int
    embed_dim: int
    num_blocks: int
    out_dim: int
    stem_dim: int
    grid: int = 4  # adaptive pooling to grid × grid tokens
    token_hidden: int = 8  # token-mixing hidden width (official: patch_expansion 0.5 × 16 tokens)
    channel_expansion: int = 4
    type_head: bool = False  # DPEN only: the degradation "type" vector for the contrastive loss

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid


@dataclass(frozen=True)
class FusionNetConfig:
    """The restoration-and-fusion network (paper §III-C; Restormer-style U-Net with DPGM/SPIM/PGFM)."""

    dim: int = 32  # channels at level 1; levels double: dim, 2dim, 4dim, 8dim
    num_blocks: tuple[int, int, int, int] = (2, 2, 4, 4)
    num_refinement_blocks: int = 1
    heads: tuple[int, int, int, int] = (1, 1, 2, 2)
    ffn_expansion: float = 2.66
    bias: bool = False
    sem_dim: int = 256
    deg_dim: int = 128
    prior_tokens: int = 16  # tokens of Ps and Pd at level 1
    pyramid_tokens: int = 4  # tokens at levels 2-4 (after the token-down blocks)
    in_chans: int = 3
    out_chans: int = 3
    # Ours, for CPU presets: 2 runs the whole U-Net at half resolution (pixel-unshuffle stem,
    # pixel-shuffle head; the VI residual stays at full resolution). 1 = official.
    stem_stride: int = 1
    # Ours, for CPU presets: channels of the full-resolution detail head (models/detail_head.py); 0 = none (official).
    detail_channels: int = 0
    # Ours: residual 3x3 blocks inside the detail head (wider receptive field at full resolution); 0 = the
    # three-convolution head of lite <= lite8.
    detail_blocks: int = 0
    # Ours: a per-pixel IR mixing weight beside the VI residual (models/fusion_net.py); False = official.
    ir_mix: bool = False
    # Ours: per-pixel weights on the fine detail band of IR and of VI beside the residuals (models/fusion_net.py);
    # False = official.
    band_mix: bool = False
    # Ours: the IR residual of ir_mix replaces the VI's luma only, keeping its chroma (models/fusion_net.py); no
    # parameters. False = the RGB residual of lite <= lite50.
    mix_luma: bool = False
    # Ours: segments of a per-image tone curve for each source, predicted from its DPEN prior (models/fusion_net.py);
    # 0 = none (official).
    tone_curve: int = 0
    # Ours: a per-image gate, predicted from the IR prior, on the subtraction of the IR input's column offsets (vertical
    # stripe noise; models/fusion_net.py); False = none (official).
    destripe: bool = False
    # Ours: a per-image unsharp mask on the VI input over three fine bands, its gains predicted from the VI prior
    # (models/fusion_net.py); False = none (official).
    sharpen: bool = False

    @property
    def pad_multiple(self) -> int:
        """Input sides must be multiples of this (three 2× downsamplings × the stem stride)."""
        return 8 * self.stem_stride


@dataclass(frozen=True)
class DenoiserConfig:
    """The SPDM denoiser (token MLP-Mixer predicting x0), official ``ldm`` ``denoising`` network."""

    dim: int = 256  # channels of the semantic prior being restored (= sem_dim)
    cond_dim: int = 512  # Ps_lq | Pd_ir | Pd_vi
    inner_dim: int = 512
    num_blocks: int = 4  # mixer blocks (official block_num minus 2)
    tokens: int = 16
    token_hidden: int = 8
    channel_expansion: int = 2
    # ours, not in the paper: a per-token, per-channel weight g in [0, 1] read off the last hidden layer lets the
    # x0 estimate copy the degraded pair's prior (the first ``dim`` channels of cond): x̂0 = D + g·(Ps_lq − D). Where a
    # degradation leaves SPEN's prior nearly unchanged (visible blur) the official denoiser, which must rebuild the
    # prior from noise, lands further from the clean prior than Ps_lq itself. g starts at zero (zero weights and
    # bias), so weights trained without it compute what they computed (docs/EXPERIMENTS.md, "Where the restored
    # semantic prior costs")
    copy_gate: bool = False


@dataclass(frozen=True)
class DiffusionConfig:
    """SPDM schedule: LDM "linear" betas = linspace(sqrt(start), sqrt(end), T)^2, x0-parameterised."""

    timesteps: int = 10
    linear_start: float = 0.1
    linear_end: float = 0.99


@dataclass(frozen=True)
class DSPFusionConfig:
    fusion: FusionNetConfig = field(default_factory=FusionNetConfig)
    semantic: PriorEncoderConfig = field(
        default_factory=lambda: PriorEncoderConfig(in_chans=6, embed_dim=64, num_blocks=6, out_dim=256, stem_dim=96)
    )
    degradation: PriorEncoderConfig = field(
        default_factory=lambda: PriorEncoderConfig(
            in_chans=3, embed_dim=32, num_blocks=4, out_dim=128, stem_dim=48, type_head=True
        )
    )
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    sampling_steps: int = 10  # default number of reverse steps at inference (≤ timesteps)
    with_probe: bool = False  # ours: a degradation-diagnosis probe on DPEN's type vectors
    probe_hidden: int = 0  # ours: hidden width of the probe's heads (0 = linear, as trained in Stage I)
    # ours: 0 = the probe reads DPEN's type vector of the whole image; N > 0 = the mean type vector of N×N tiles
    # covering the image (DPEN is trained on crops; set by benchmarks/fit_probe.py when it refits the probe)
    probe_tile: int = 0
    # ours: the image scales the probe reads, each giving one type vector (as probe_tile says), concatenated in this
    # order: (1.0,) = the image as given; (1.0, 0.5) = also the image downscaled 2x (area), whose tiles each cover
    # four times the scene: global degradations (over-exposure, haze) are recognised better there, local ones (rain,
    # noise) at full size (benchmarks/results/probe_experiments/probe_pooling.md)
    probe_scales: tuple[float, ...] = (1.0,)
    # False = the no-prior ablation (paper Table 5): DPEN/SPEN/SPDM outputs are replaced by zeros,
    # so SPIM/DPMM/PGFM see constant priors and act as learned constant modulations.
    use_priors: bool = True
    # ours: > 0 = the semantic prior is also computed on a copy of the pair shrunk to this long side, and a gate on the
    # DPEN priors mixes the two (models/semantic_scale.py; fitted by benchmarks/fit_sem_gate.py); 0 = one scale
    sem_copy_side: int = 0

    def __post_init__(self) -> None:
        f, s, d, dn = self.fusion, self.semantic, self.degradation, self.denoiser
        problems = []
        if s.out_dim != f.sem_dim:
            problems.append(f"semantic.out_dim {s.out_dim} != fusion.sem_dim {f.sem_dim}")
        if d.out_dim != f.deg_dim:
            problems.append(f"degradation.out_dim {d.out_dim} != fusion.deg_dim {f.deg_dim}")
        if s.num_tokens != f.prior_tokens or d.num_tokens != f.prior_tokens:
            problems.append("prior encoders must produce fusion.prior_tokens tokens")
        if dn.dim != f.sem_dim:
            problems.append(f"denoiser.dim {dn.dim} != fusion.sem_dim {f.sem_dim}")
        if dn.cond_dim != f.sem_dim + 2 * f.deg_dim:
            problems.append(f"denoiser.cond_dim {dn.cond_dim} != sem_dim + 2·deg_dim")
        if not 1 <= self.sampling_steps <= self.diffusion.timesteps:
            problems.append(f"sampling_steps must be in 1..{self.diffusion.timesteps}")
        for level, (h, mult) in enumerate(zip(f.heads, (1, 2, 4, 8)), 1):
            if (f.dim * mult) % h:
                problems.append(f"level {level}: {f.dim * mult} channels not divisible by {h} heads")
        if self.probe_hidden < 0:
            problems.append(f"probe_hidden must be >= 0, got {self.probe_hidden}")
        if self.probe_tile < 0 or 0 < self.probe_tile < 16:
            problems.append(f"probe_tile must be 0 (whole image) or >= 16, got {self.probe_tile}")
        if not self.probe_scales or any(not 0 < float(x) <= 1 for x in self.probe_scales) \
                or len(set(self.probe_scales)) != len(self.probe_scales):
            problems.append(f"probe_scales must be distinct numbers in (0, 1], got {self.probe_scales}")
        if self.sem_copy_side < 0 or 0 < self.sem_copy_side < 32:
            problems.append(f"sem_copy_side must be 0 (off) or >= 32, got {self.sem_copy_side}")
        if self.sem_copy_side and not self.use_priors:
            problems.append("sem_copy_side needs the priors (use_priors=True)")
        if problems:
            raise ValueError("inconsistent DSPFusionConfig: " + "; ".join(problems))

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DSPFusionConfig":
        fu = dict(d["fusion"])
        fu["num_blocks"] = tuple(fu["num_blocks"])
        fu["heads"] = tuple(fu["heads"])
        return cls(
            fusion=FusionNetConfig(**fu),
            semantic=PriorEncoderConfig(**d["semantic"]),
            degradation=PriorEncoderConfig(**d["degradation"]),
            denoiser=DenoiserConfig(**d["denoiser"]),
            diffusion=DiffusionConfig(**d["diffusion"]),
            sampling_steps=int(d.get("sampling_steps", 10)),
            with_probe=bool(d.get("with_probe", False)),
            probe_hidden=int(d.get("probe_hidden", 0)),
            probe_tile=int(d.get("probe_tile", 0)),
            probe_scales=tuple(float(x) for x in d.get("probe_scales", (1.0,))),
            use_priors=bool(d.get("use_priors", True)),
            sem_copy_side=int(d.get("sem_copy_side", 0)),
        )

    def replace(self, **changes: Any) -> "DSPFusionConfig":
        return replace(self, **changes)

    def probe_layout(self) -> dict[str, Any]:
        """The degradation probe's layout fields (:data:`PROBE_LAYOUT`): what a post-hoc refit
        (benchmarks/fit_probe.py) may change without touching any other weight."""
        return {k: getattr(self, k) for k in PROBE_LAYOUT}


PROBE_LAYOUT = ("probe_hidden", "probe_tile", "probe_scales")


def make_config(
    dim: int,
    num_blocks: tuple[int, int, int, int],
    num_refinement_blocks: int,
    heads: tuple[int, int, int, int] = (1, 1, 2, 2),
    sem_embed: int = 64,
    sem_blocks: int = 6,
    deg_embed: int = 32,
    deg_blocks: int = 4,
    denoiser_inner: int | None = None,
    denoiser_blocks: int = 4,
    denoiser_channel_expansion: int = 2,
    ffn_expansion: float = 2.66,
    sampling_steps: int = 10,
    stem_stride: int = 1,
    sem_stem: int = 96,
    deg_stem: int = 48,
    with_probe: bool = False,
    detail_channels: int = 0,
    detail_blocks: int = 0,
    ir_mix: bool = False,
    band_mix: bool = False,
    tone_curve: int = 0,
    destripe: bool = False,
    sharpen: bool = False,
    deg_dim: int | None = None,
) -> DSPFusionConfig:
    """Build a consistent config from the official constructor arguments' degrees of freedom.

    ``deg_dim`` (ours): the degradation prior's channels, which the official code ties to 4 × ``deg_embed`` (the
    default); set, it decouples them, so a DPEN can grow without widening every module that reads its prior.
    """
    sem_dim = 4 * sem_embed
    deg_dim = 4 * deg_embed if deg_dim is None else deg_dim
    return DSPFusionConfig(
        fusion=FusionNetConfig(
            dim=dim,
            num_blocks=tuple(num_blocks),
            num_refinement_blocks=num_refinement_blocks,
            heads=tuple(heads),
            ffn_expansion=ffn_expansion,
            sem_dim=sem_dim,
            deg_dim=deg_dim,
            stem_stride=stem_stride,
            detail_channels=detail_channels,
            detail_blocks=detail_blocks,
            ir_mix=ir_mix,
            band_mix=band_mix,
            tone_curve=tone_curve,
            destripe=destripe,
            sharpen=sharpen,
        ),
        semantic=PriorEncoderConfig(in_chans=6, embed_dim=sem_embed, num_blocks=sem_blocks, out_dim=sem_dim, stem_dim=sem_stem),
        degradation=PriorEncoderConfig(
            in_chans=3, embed_dim=deg_embed, num_blocks=deg_blocks, out_dim=deg_dim, stem_dim=deg_stem, type_head=True
        ),
        denoiser=DenoiserConfig(
            dim=sem_dim,
            cond_dim=sem_dim + 2 * deg_dim,
            inner_dim=denoiser_inner if denoiser_inner is not None else 2 * sem_dim,
            num_blocks=denoiser_blocks,
            channel_expansion=denoiser_channel_expansion,
        ),
        sampling_steps=sampling_steps,
        with_probe=with_probe,
    )


# Named presets: data, not code. "paper" is the official configuration
# (options/*/DSPF_S*.yml; 14,012,189 parameters). "tiny-official" is the layout of
# the golden interoperability checkpoint. "lite" is the CPU preset we train and ship.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(
        config=make_config(dim=32, num_blocks=(2, 2, 4, 4), num_refinement_blocks=1),
        description="Official DSPFusion configuration (Tang et al. 2026), 14.0M parameters; loads the authors' weights.",
    ),
    "lite": dict(
        config=make_config(
            dim=16,
            num_blocks=(1, 1, 1, 1),
            num_refinement_blocks=1,
            sem_embed=32,
            sem_blocks=2,
            sem_stem=32,
            deg_embed=32,  # the paper's DPEN size, with the 64 prior channels of the smaller DPEN (16 / 2 / 24) that
            deg_blocks=4,  # the shipped weights had until lite48 (docs/TRAINING.md, item 20)
            deg_stem=48,
            deg_dim=64,
            denoiser_blocks=2,
            stem_stride=2,
            with_probe=True,
            detail_channels=16,
            ir_mix=True,
            band_mix=True,
            tone_curve=8,
            destripe=True,
            sharpen=True,
        ),
        weights="dspfusion-lite.safetensors",
        description="CPU preset (ours): same modules, half width, one block per level (DPEN at the paper's size), U-Net "
        "at half resolution (stem_stride 2) plus a full-resolution detail head, a per-pixel IR residual weight, per-pixel weights "
        "on each source's fine detail band, a per-image tone curve for each source, a per-image destriping gate on IR "
        "and per-image sharpening gains on VI; under 1 s per "
        "640x480 pair on 2 CPU cores.",
    ),
    "tiny-official": dict(
        config=make_config(
            dim=8,
            num_blocks=(1, 2, 2, 1),
            num_refinement_blocks=2,
            sem_embed=16,
            sem_blocks=2,
            deg_embed=8,
            deg_blocks=2,
            denoiser_inner=128,
            denoiser_blocks=2,
        ),
        description="The small layout of the golden official-format checkpoint (tests only).",
    ),
}


def get_preset(name: str) -> DSPFusionConfig:
    try:
        return PRESETS[name]["config"]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(sorted(PRESETS))}") from None
