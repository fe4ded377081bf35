"""Two-stage DSPFusion training (paper §III-E; DSPFUSION.md §4), single process or DDP.

Stage I trains SPEN (on the clean pair), DPEN (on the degraded inputs, plus the
contrastive set) and the fusion network jointly with the fusion loss against the
clean targets and the contrastive loss; our degradation probe is trained on the
detached DPEN type vectors at the same time. With ``probe_dpen_weight`` > 0 (ours)
the probe's cross-entropy also trains DPEN, through a detached copy of the probe,
and ``dpen_lr_scale`` gives DPEN its own learning rate; ``dpen_init`` starts DPEN from a file (e.g. one
pretrained for classification) and ``freeze_dpen`` keeps it fixed. With ``restored_prior`` p > 0 (ours) each
Stage I sample reads, with probability p, the semantic prior the frozen SPDM restores from the degraded pair (what
the network reads at inference) instead of SPEN's prior of the clean pair. Stage II freezes them and trains only
the SPDM denoiser, back-propagating through the whole unrolled sampler and the
frozen fusion network: fusion loss + 10 · L1(P̂s, SPEN(clean pair)).

Both stages: AdamW, linear warm-up then cosine decay to ``lr_min``, gradient
clipping (official max-norm 0.01), checkpoints every ``ckpt_every`` steps that
describe themselves (model config, training config, stage, step, version,
optimizer, scheduler, RNG) and resume exactly: the data order and every sample's
randomness are functions of (seed, epoch, index), so a resumed run draws the same
batches as an uninterrupted one. Logs go to ``out_dir/log.csv``; validation on a
fixed held-out subset to ``out_dir/val.csv``.

Distributed: under ``torchrun`` (``WORLD_SIZE`` set) each process takes its share of
every epoch's permutation and the trained modules are wrapped in
DistributedDataParallel (gloo on CPU, NCCL on GPUs).
"""
from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from ..checkpoint import save_model
from ..config import DSPFusionConfig, FusionNetConfig, get_preset
from ..models import DSPFusion, build_model
from ..models.dspfusion import downscale
from ..official import safe_torch_load
from ..version import __version__
from .config import TrainConfig
from .losses import FusionLossWeights, contrastive_loss, fusion_loss

TRAIN_FORMAT = "dspfusion-train"


# ---------------------------------------------------------------------------------------------
# data order: a pure function of (seed, epoch), sharded by rank, resumable at any step
# ---------------------------------------------------------------------------------------------
class EpochKeyed(Dataset):
    """Wraps a dataset so that sample ``key = epoch · N + i`` draws its randomness from (seed, epoch, i)."""

    def __init__(self, ds: Dataset, seed: int) -> None:
        self.ds, self.seed, self.n = ds, seed, len(ds)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int):
        epoch, i = divmod(int(key), self.n)
        return self.ds.sample(i, np.random.default_rng([self.seed, 0x5EED, epoch, i]))


class ResumableSampler(Sampler[int]):
    """Yields keys of the epochs' permutations, this rank's share, starting after ``start`` samples."""

    def __init__(self, n: int, seed: int, rank: int, world: int, start: int = 0) -> None:
        self.n, self.seed, self.rank, self.world, self.start = n, seed, rank, world, start

    def __iter__(self) -> Iterator[int]:
        per_epoch = self.n // self.world
        k = self.start
        while True:
            epoch, pos = divmod(k, per_epoch)
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g)[self.rank :: self.world][:per_epoch]
            for i in perm[pos:].tolist():
                yield epoch * self.n + i
            k = (epoch + 1) * per_epoch

    def __len__(self) -> int:  # infinite stream; DataLoader only needs it for bookkeeping
        return 2**62


def _worker_init(_: int) -> None:
    # Only torch's pool is limited here: calling cv2.setNumThreads inside a forked
    # DataLoader worker can deadlock OpenCV's thread pool.
    torch.set_num_threads(1)


def degraded_samples(b: dict) -> torch.Tensor | None:
    """``[B]`` (or ``[]`` for one sample) bool: the samples whose IR or VI input was degraded (label > 0, "clean" is
    label 0); None when the batch has no labels."""
    if "label_ir" not in b or "label_vi" not in b:
        return None
    return (b["label_ir"] > 0) | (b["label_vi"] > 0)


# ---------------------------------------------------------------------------------------------
# stage modules (what DDP wraps): forward returns (loss, logs)
# ---------------------------------------------------------------------------------------------
class Stage1(nn.Module):
    def __init__(self, model: DSPFusion, cfg: TrainConfig, weights: FusionLossWeights) -> None:
        super().__init__()
        self.semantic, self.degradation, self.fusion, self.probe = model.semantic, model.degradation, model.fusion, model.probe
        self.cfg, self.w, self.use_priors = cfg, weights, model.config.use_priors
        self.model = [model]  # not a submodule: keeps the diffusion out of DDP

    def probe_frozen(self, type_vec: torch.Tensor, modality: str) -> torch.Tensor:
        """The probe's logits with its parameters detached: gradients reach only ``type_vec`` (DPEN)."""
        assert self.probe is not None
        params = {k: v.detach() for k, v in self.probe.named_parameters()}
        return torch.func.functional_call(self.probe, params, (type_vec, modality))

    def probe_features(self, type_vec: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
        """What the probe reads for a batch of crops ``lq`` ``[B,3,h,w]`` whose DPEN type vectors are ``type_vec``
        ``[B,C_d]``: for each of ``probe_scales`` the type vector of the crop at that scale (scale 1: ``type_vec``
        itself, with its gradient; the others computed here without one), concatenated as
        ``DSPFusion.diagnosis_features`` does. In training each crop is one tile."""
        feats = []
        for s in self.model[0].config.probe_scales:
            if s == 1:
                feats.append(type_vec)
            else:
                with torch.no_grad():
                    feats.append(self.degradation(downscale(lq, s))[1])
        return torch.cat(feats, dim=-1)

    def mix_restored_prior(self, sem: torch.Tensor, lq_ir: torch.Tensor, lq_vi: torch.Tensor, deg_ir: torch.Tensor,
                           deg_vi: torch.Tensor, step: int) -> torch.Tensor:
        """``restored_prior`` (ours): for each sample with that probability, replace SPEN's prior of the clean pair
        ``sem`` ``[B,N,C_s]`` by the prior the frozen SPDM restores from the degraded pair (``[SPEN(LQ) | Pd_ir |
        Pd_vi]``, x_T drawn from a generator seeded by the step, as Stage II draws it), computed without gradients:
        what the fusion network reads at inference. The choice and x_T are functions of (seed, step): resumable."""
        m = self.model[0]
        g = torch.Generator().manual_seed(self.cfg.seed * 7919 + 104_729 + step)
        use = torch.rand(sem.shape[0], generator=g) < self.cfg.restored_prior
        if not bool(use.any()):
            return sem
        with torch.no_grad():
            noise = torch.randn(sem.shape, generator=g).to(sem.device, sem.dtype)
            restored = m.restore_semantic_prior(noise, self.semantic(lq_ir, lq_vi), deg_ir, deg_vi,
                                                m.config.sampling_steps)
        return torch.where(use.to(sem.device)[:, None, None], restored, sem)

    def tone_term(self, b: dict, deg_ir: torch.Tensor, deg_vi: torch.Tensor) -> torch.Tensor:
        """``tone_weight`` (ours): mean L1 between each degraded input after the fusion network's own input steps
        (destriping, sharpening) and its per-image tone curve, and the clean target: the curves, which read the DPEN
        priors ``deg_*`` ``[B,N,C_d]`` (zeros in the no-prior ablation, whose curves are then one fixed curve), learn
        to restore global tone. Only the curves (and DPEN through them, unless frozen) get its gradient: the input
        steps run without one, so destriping and sharpening are trained by the fusion loss alone, as before."""
        f = self.fusion
        with torch.no_grad():
            ir, vi = f.prepare_inputs(b["lq_ir"], b["lq_vi"], deg_ir, deg_vi)
        return (F.l1_loss(f.tone(ir, deg_ir, f.curve_ir), b["gt_ir"])
                + F.l1_loss(f.tone(vi, deg_vi, f.curve_vi), b["gt_vi"]))

    def forward(self, b: dict, step: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        lq_ir, lq_vi = b["lq_ir"], b["lq_vi"]
        B = lq_ir.shape[0]
        logs: dict[str, float] = {}
        tone = self.cfg.tone_weight > 0 and self.fusion.curve_ir is not None
        if not self.use_priors:
            pri = self.model[0].compute_priors(lq_ir, lq_vi)
            fused = self.fusion(lq_ir, lq_vi, pri.deg_ir, pri.deg_vi, pri.sem)
            loss, logs = fusion_loss(fused, b["gt_ir"], b["gt_vi"], self.w, degraded_samples(b))
            if tone:
                l_tone = self.cfg.tone_weight * self.tone_term(b, pri.deg_ir, pri.deg_vi)
                loss = loss + l_tone
                logs["tone"] = float(l_tone.detach())
            return loss, logs
        sem = self.semantic(b["gt_ir"], b["gt_vi"])
        parts = [lq_ir, lq_vi]
        contrastive = "pos_ir" in b
        if contrastive:
            K, M = b["pos_ir"].shape[1], b["neg"].shape[1]
            parts += [b["pos_ir"].flatten(0, 1), b["pos_vi"].flatten(0, 1), b["neg"].flatten(0, 1)]
        deg, types = self.degradation(torch.cat(parts))
        deg_ir, deg_vi = deg[:B], deg[B : 2 * B]
        t_ir, t_vi = types[:B], types[B : 2 * B]
        if self.cfg.restored_prior > 0:
            sem = self.mix_restored_prior(sem, lq_ir, lq_vi, deg_ir, deg_vi, step)
        fused = self.fusion(lq_ir, lq_vi, deg_ir, deg_vi, sem)
        loss, logs = fusion_loss(fused, b["gt_ir"], b["gt_vi"], self.w, degraded_samples(b))
        if tone:
            l_tone = self.cfg.tone_weight * self.tone_term(b, deg_ir, deg_vi)
            loss = loss + l_tone
            logs["tone"] = float(l_tone.detach())
        if contrastive:
            o = 2 * B
            p_ir = types[o : o + B * K].reshape(B, K, -1)
            p_vi = types[o + B * K : o + 2 * B * K].reshape(B, K, -1)
            neg = types[o + 2 * B * K :].reshape(B, M, -1)
            l_cl = self.cfg.contrastive_weight * contrastive_loss(t_ir, t_vi, p_ir, p_vi, neg, self.cfg.contrastive_tau)
            loss = loss + l_cl
            logs["contrast"] = float(l_cl.detach())
        if self.probe is not None:
            t_ir, t_vi = self.probe_features(t_ir, lq_ir), self.probe_features(t_vi, lq_vi)
            l_ir = F.cross_entropy(self.probe(t_ir.detach(), "ir"), b["label_ir"])
            l_vi = F.cross_entropy(self.probe(t_vi.detach(), "vi"), b["label_vi"])
            loss = loss + l_ir + l_vi
            logs["probe"] = float((l_ir + l_vi).detach())
            if self.cfg.probe_dpen_weight > 0:
                # the same cross-entropy, now reaching DPEN (the probe's own update comes from the detached copy above)
                l_dpen = F.cross_entropy(self.probe_frozen(t_ir, "ir"), b["label_ir"]) + F.cross_entropy(
                    self.probe_frozen(t_vi, "vi"), b["label_vi"])
                loss = loss + self.cfg.probe_dpen_weight * l_dpen
                logs["probe_dpen"] = float(l_dpen.detach())
        return loss, logs


class Stage2(nn.Module):
    def __init__(self, model: DSPFusion, cfg: TrainConfig, weights: FusionLossWeights) -> None:
        super().__init__()
        self.denoiser = model.diffusion.denoiser
        self.model = [model]
        self.cfg, self.w = cfg, weights

    def forward(self, b: dict, step: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        m = self.model[0]
        lq_ir, lq_vi = b["lq_ir"], b["lq_vi"]
        with torch.no_grad():
            sem_gt = m.semantic(b["gt_ir"], b["gt_vi"])
            sem_lq = m.semantic(lq_ir, lq_vi)
            deg, _ = m.degradation(torch.cat([lq_ir, lq_vi]))
            deg_ir, deg_vi = deg.chunk(2)
        g = torch.Generator().manual_seed(self.cfg.seed * 7919 + step)  # a function of the step: resumable
        noise = torch.randn(sem_gt.shape, generator=g).to(sem_gt.device)
        x_t = m.diffusion.schedule.q_sample(sem_gt, noise)
        sem_hat = m.restore_semantic_prior(x_t, sem_lq, deg_ir, deg_vi)
        fused = m.fusion(lq_ir, lq_vi, deg_ir, deg_vi, sem_hat)
        loss, logs = fusion_loss(fused, b["gt_ir"], b["gt_vi"], self.w, degraded_samples(b))
        l_prior = self.cfg.prior_weight * F.l1_loss(sem_hat, sem_gt)
        logs["prior"] = float(l_prior.detach())
        return loss + l_prior, logs


# ---------------------------------------------------------------------------------------------
@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return DistInfo(rank, world, device)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay from ``lr`` to ``lr_min`` (step is 0-based)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * min(1.0, p)))


def _model_config(cfg: TrainConfig) -> DSPFusionConfig:
    base = get_preset(cfg.model) if isinstance(cfg.model, str) else DSPFusionConfig.from_dict(cfg.model)
    return base.replace(use_priors=cfg.use_priors)


def _same_but_probe(a: DSPFusionConfig, b: DSPFusionConfig) -> bool:
    """True when two model configs differ at most in the degradation probe's layout (hidden width, tile, scales)."""
    default = DSPFusionConfig().probe_layout()
    return a.replace(**default) == b.replace(**default)


# State-dict prefixes of the parts _config_from_init may add to an init_from model (they start as zero output).
_GROWN_PREFIXES = (
    "fusion.detail.", "fusion.mix.", "fusion.band.", "fusion.curve_ir.", "fusion.curve_vi.", "fusion.destripe_gate.",
    "fusion.sharpen_gain.", "diffusion.denoiser.copy_gate.",
)


# State-dict prefixes of the parts dpen_init replaces (a DPEN of another size than init_from's, with its probe).
_DPEN_PREFIXES = ("degradation.", "probe.")


def _grown_blocks(init_f: FusionNetConfig, model_f: FusionNetConfig) -> list[str]:
    """State-dict prefixes of the fusion network's Restormer blocks that ``model_f`` has beyond ``init_f``'s
    (``num_blocks`` per level, ``num_refinement_blocks``), e.g. ``fusion.encoders.1.blocks.1.``; empty when the
    model has no more blocks anywhere. Encoder level i and the decoder at level i both have ``num_blocks[i]``
    blocks (decoder1 ``num_blocks[0]``)."""
    levels = [(f"fusion.encoders.{i}.", i) for i in range(4)] + [(f"fusion.decoder{i}.", i - 1) for i in (3, 2, 1)]
    out = []
    for prefix, i in levels:
        out += [f"{prefix}blocks.{k}." for k in range(init_f.num_blocks[i], model_f.num_blocks[i])]
    out += [f"fusion.refinement.blocks.{k}." for k in range(init_f.num_refinement_blocks, model_f.num_refinement_blocks)]
    return out


def _zero_block_outputs(model: nn.Module, prefixes: list[str]) -> None:
    """Zero the output projections of the attention and feed-forward parts of the blocks named by ``prefixes``, so
    each block (x + MDTA(LN x), then x + GDFN(LN x)) starts as the identity and the grown model computes what the
    init computed."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for prefix in prefixes:
            for part in ("attn", "ffn"):
                for name in ("weight", "bias"):
                    p = params.get(f"{prefix}{part}.project_out.{name}")
                    if p is not None:
                        p.zero_()


def _config_from_init(init_cfg: DSPFusionConfig, model_cfg: DSPFusionConfig,
                      dpen_elsewhere: bool = False) -> DSPFusionConfig | None:
    """The config to build when training ``model_cfg`` from weights of ``init_cfg``, or None if they do not fit.

    ``dpen_elsewhere`` (the run has ``dpen_init``): the DPEN comes from that file, so its size (``degradation``) may
    differ from the init's; the prior's channels the fusion network reads (``deg_dim``) must still match.

    Three kinds of difference are allowed: the init's probe layout (refit post hoc: probe_hidden/probe_tile/
    probe_scales) is
    kept; a detail head, detail-head blocks, the IR mixing weight, the band mixing weights, the tone curves, the
    destriping gate, the VI sharpening gains or the SPDM's copy gate the init lacks are added (they start as zero output / identity, so
    the init's behaviour is unchanged), and the ``mix_luma`` switch (no parameters) may differ, which changes the
    output wherever the init's IR mixing weight is not zero; and the fusion network may have more Restormer blocks per level
    (``num_blocks``, ``num_refinement_blocks``; appended after the init's, starting as the identity:
    :func:`_grown_blocks`)."""
    if dpen_elsewhere:
        init_cfg = init_cfg.replace(degradation=model_cfg.degradation)
    init_f, model_f = init_cfg.fusion, model_cfg.fusion
    if all(a <= b for a, b in zip(init_f.num_blocks, model_f.num_blocks)) and (
        init_f.num_refinement_blocks <= model_f.num_refinement_blocks
    ):
        init_f = dc_replace(init_f, num_blocks=model_f.num_blocks, num_refinement_blocks=model_f.num_refinement_blocks)
    if init_f.detail_channels == 0 and model_f.detail_channels > 0:
        init_f = dc_replace(init_f, detail_channels=model_f.detail_channels)
    if init_f.detail_channels == model_f.detail_channels and init_f.detail_blocks < model_f.detail_blocks:
        init_f = dc_replace(init_f, detail_blocks=model_f.detail_blocks)
    if model_f.ir_mix and not init_f.ir_mix:
        init_f = dc_replace(init_f, ir_mix=True)
    if model_f.band_mix and not init_f.band_mix:
        init_f = dc_replace(init_f, band_mix=True)
    if model_f.mix_luma != init_f.mix_luma:  # a switch without parameters: the weights load either way
        init_f = dc_replace(init_f, mix_luma=model_f.mix_luma)
    if model_f.tone_curve and not init_f.tone_curve:
        init_f = dc_replace(init_f, tone_curve=model_f.tone_curve)
    if model_f.destripe and not init_f.destripe:
        init_f = dc_replace(init_f, destripe=True)
    if model_f.sharpen and not init_f.sharpen:
        init_f = dc_replace(init_f, sharpen=True)
    init_cfg = init_cfg.replace(fusion=init_f)
    if model_cfg.denoiser.copy_gate and not init_cfg.denoiser.copy_gate:  # starts at zero: the init's SPDM unchanged
        init_cfg = init_cfg.replace(denoiser=dc_replace(init_cfg.denoiser, copy_gate=True))
    return init_cfg if _same_but_probe(init_cfg, model_cfg) else None


def _lr_groups(trained: list[nn.Parameter], scaled: list[tuple[list[nn.Module], float]]) -> list[dict]:
    """Optimizer groups: the trained parameters outside ``scaled`` at rate scale 1, then one group per
    (modules, scale) entry with the trained parameters of those modules."""
    groups: list[dict] = []
    taken: set[int] = set()
    for modules, scale in scaled:
        ids = {id(p) for m in modules for p in m.parameters()} - taken
        groups.append({"params": [p for p in trained if id(p) in ids], "lr_scale": scale})
        taken |= ids
    return [{"params": [p for p in trained if id(p) not in taken], "lr_scale": 1.0}] + groups


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = True, progress: bool = True) -> None:
        self.cfg = cfg
        self.d = init_distributed()
        self.out = Path(cfg.out_dir)
        self.progress = progress and self.d.main
        torch.manual_seed(cfg.seed)
        model_cfg = _model_config(cfg)
        self.weights = FusionLossWeights(**{k: float(v) for k, v in (cfg.loss_weights or {}).items()})
        self.stage, self.step = 1, 0
        self.init_step = 0  # steps the init_from weights had already been trained for
        self._opt_state = None
        ckpt = self.out / "last.pt"
        state, init, info = None, None, {}
        if resume and ckpt.is_file():
            state = safe_torch_load(ckpt)
            if isinstance(state, dict) and isinstance(state.get("config"), dict):
                # checkpoints describe themselves: a continued run may carry a refit probe layout
                saved = DSPFusionConfig.from_dict(state["config"])
                if _same_but_probe(saved, model_cfg):
                    model_cfg = saved
        elif cfg.init_from:
            from ..checkpoint import load_model

            init, info = load_model(cfg.init_from)
            fitted = _config_from_init(init.config, model_cfg, dpen_elsewhere=bool(cfg.dpen_init))
            if fitted is None:
                other_dpen = init.config.degradation != model_cfg.degradation and not cfg.dpen_init
                raise ValueError(f"init_from {cfg.init_from}: its configuration differs from the training model's"
                                 + (" (a DPEN of another size needs dpen_init)" if other_dpen else ""))
            grown_blocks = _grown_blocks(init.config.fusion, fitted.fusion)
            model_cfg = fitted
        self.model = build_model(model_cfg).to(self.d.device)
        if state is not None:
            self._load(ckpt, state)
        elif init is not None:
            init_state = init.state_dict()
            if cfg.dpen_init:  # DPEN (and probe) tensors of another size come from dpen_init below, not from init_from
                own = self.model.state_dict()
                init_state = {k: v for k, v in init_state.items() if not (
                    k.startswith(_DPEN_PREFIXES) and (k not in own or own[k].shape != v.shape))}
            missing, unexpected = self.model.load_state_dict(init_state, strict=False)
            grown = _GROWN_PREFIXES + tuple(grown_blocks) + (_DPEN_PREFIXES if cfg.dpen_init else ())
            if unexpected or any(not k.startswith(grown) for k in missing):
                raise ValueError(f"init_from {cfg.init_from}: missing {missing}, unexpected {unexpected}")
            _zero_block_outputs(self.model, grown_blocks)
            from_dpen = [k for k in missing if cfg.dpen_init and k.startswith(_DPEN_PREFIXES)]
            new = sorted(set(missing) - set(from_dpen))
            if new and self.d.main:
                print(f"init_from: {len(new)} new tensors (grown parts start as zero output or the identity): {new}")
            if from_dpen and self.d.main:
                print(f"init_from: {len(from_dpen)} DPEN / probe tensors of another size, taken from dpen_init")
            self.init_step = int(info.get("step") or 0)
            if self.d.main:
                print(f"initialised from {cfg.init_from} (step {info['step']})")
        if state is None and cfg.dpen_init:
            self._load_dpen(cfg.dpen_init)
        # before the optimizer and DDP see the parameters: .to(memory_format) replaces their storage
        self.channels_last = bool(cfg.channels_last) and self.d.device.type == "cpu"
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.d.main:
            self.out.mkdir(parents=True, exist_ok=True)

    def _load_dpen(self, path: str) -> None:
        """DPEN (and the probe, when its tensors fit) from a safetensors file's ``degradation.*`` / ``probe.*``."""
        from ..checkpoint import load_parts

        loaded = load_parts(self.model, path, "degradation", ("probe",), label="dpen_init",
                            hint="train it with the model's deg_embed / deg_blocks / deg_stem")
        if self.d.main:
            print(f"dpen_init: {' and '.join(loaded)} from {path}")

    # -- data ----------------------------------------------------------------------------------
    def _datasets(self):
        from ..data import SyntheticPairDataset, default_train_root, find_pair_roots, scan_pairs

        cfg = self.cfg
        val_roots = [str(Path(r)) for r in cfg.val_roots or []]
        train_roots = cfg.train_roots
        if train_roots is None and val_roots:
            held = {Path(r).resolve() for r in val_roots}
            train_roots = [str(p) for p in find_pair_roots(default_train_root()) if Path(p).resolve() not in held]
        val = None
        held_out: set[str] = set()
        if val_roots:
            val = SyntheticPairDataset(val_roots, crop=cfg.val_crop, contrastive=False, seed=cfg.seed + 1,
                                       deterministic=True, max_items=cfg.val_items, max_side=cfg.max_side)
            if cfg.hold_out_val and train_roots is not None:
                # the validation pairs' files, where a training folder has them too, stay out of training
                val_files = {val.pairs[j].ir.resolve() for j in val.index}
                held_out = {p.name for p in scan_pairs(train_roots) if p.ir.resolve() in val_files}
        # the contrastive loss trains only DPEN: a frozen DPEN needs no contrastive sets
        contrastive = self.stage == 1 and cfg.use_priors and not cfg.freeze_dpen
        train = SyntheticPairDataset(train_roots, crop=cfg.crop, proportions=cfg.proportions, contrastive=contrastive,
                                     seed=cfg.seed, max_side=cfg.max_side, negatives=cfg.negatives,
                                     root_repeat=cfg.root_repeat, type_weights=cfg.type_weights,
                                     grey_vi=cfg.grey_vi, grey_vi_except=tuple(cfg.grey_vi_except or ()),
                                     grey_vi_min_luma=cfg.grey_vi_min_luma, sensor_noise=cfg.sensor_noise,
                                     sensor_noise_sigma=tuple(cfg.sensor_noise_sigma), exclude=held_out)
        if held_out and self.d.main:
            print(f"hold_out_val: {len(held_out)} validation pair(s) left out of training")
        return train, val

    def _loader(self, ds: Dataset, start_step: int) -> DataLoader:
        bs = self.cfg.batch_size
        sampler = ResumableSampler(len(ds), self.cfg.seed + 17 * self.stage, self.d.rank, self.d.world, start=start_step * bs)
        return DataLoader(EpochKeyed(ds, self.cfg.seed + 17 * self.stage), batch_size=bs, sampler=sampler,
                          num_workers=self.cfg.workers, worker_init_fn=_worker_init, drop_last=True,
                          generator=torch.Generator().manual_seed(self.cfg.seed),
                          persistent_workers=self.cfg.workers > 0, prefetch_factor=4 if self.cfg.workers > 0 else None)

    # -- checkpoints ---------------------------------------------------------------------------
    def _state(self, opt, extra: dict | None = None) -> dict:
        return {
            "format": TRAIN_FORMAT,
            "version": __version__,
            "config": self.model.config.to_dict(),
            "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.cfg.to_dict().items()},
            "model": self.model.state_dict(),
            "optimizer": opt.state_dict() if opt is not None else None,
            "stage": self.stage,
            "step": self.step,
            "init_step": self.init_step,
            "rng_torch": torch.get_rng_state(),
            **(extra or {}),
        }

    def _save(self, opt, name: str = "last.pt") -> None:
        if not self.d.main:
            return
        tmp = self.out / f".{name}.tmp"
        torch.save(self._state(opt), tmp)
        os.replace(tmp, self.out / name)

    def _load(self, path: Path, obj: dict | None = None) -> None:
        obj = safe_torch_load(path) if obj is None else obj
        if not isinstance(obj, dict) or obj.get("format") != TRAIN_FORMAT:
            raise ValueError(f"{path}: not a dspfusion training checkpoint")
        self.model.load_state_dict(obj["model"])
        self.stage, self.step = int(obj["stage"]), int(obj["step"])
        self.init_step = int(obj.get("init_step", 0))
        self._opt_state = obj.get("optimizer")
        torch.set_rng_state(obj["rng_torch"])
        if self.d.main:
            print(f"resumed {path}: stage {self.stage}, step {self.step}")

    # -- loop ----------------------------------------------------------------------------------
    def run(self) -> Path:
        if self.stage == 1:
            self._run_stage(1, self.cfg.stage1_iters)
            self.stage, self.step, self._opt_state = 2, 0, None
            self._save(None)
        if self.stage == 2 and self.cfg.use_priors:
            self._run_stage(2, self.cfg.stage2_iters)
        path = self.out / "model.safetensors"
        if self.d.main:
            save_model(self.model.eval(), path, step=self.init_step + self.cfg.stage1_iters + (self.cfg.stage2_iters if self.cfg.use_priors else 0),
                       extra={"train_name": self.cfg.name})
            print(f"wrote {path}")
        if dist.is_initialized():
            dist.barrier()
        return path

    def _run_stage(self, stage: int, total: int) -> None:
        from tqdm import tqdm

        cfg = self.cfg
        model = self.model
        for p in model.parameters():
            p.requires_grad_(False)
        module: nn.Module = Stage1(model, cfg, self.weights) if stage == 1 else Stage2(model, cfg, self.weights)
        trained = [p for p in module.parameters()]
        if stage == 1 and cfg.freeze_dpen:
            frozen = {id(p) for p in model.degradation.parameters()}
            trained = [p for p in trained if id(p) not in frozen]
        for p in trained:
            p.requires_grad_(True)
        model.train()
        if stage == 2:
            model.eval()
            model.diffusion.denoiser.train()
        runner = module
        if dist.is_initialized():
            runner = nn.parallel.DistributedDataParallel(module, device_ids=[self.d.device.index] if self.d.device.type == "cuda" else None)
        # parts with their own Stage I rate; a group is made only for a rate other than 1, since an optimizer state
        # saved with another number of groups cannot be loaded (older runs have one)
        scaled: list[tuple[list[nn.Module], float]] = []
        if stage == 1 and cfg.dpen_lr_scale != 1.0 and not cfg.freeze_dpen:
            scaled.append(([model.degradation], cfg.dpen_lr_scale))
        if stage == 1 and cfg.curve_lr_scale != 1.0 and model.fusion.curve_ir is not None:
            scaled.append(([model.fusion.curve_ir, model.fusion.curve_vi], cfg.curve_lr_scale))
        opt = torch.optim.AdamW(_lr_groups(trained, scaled), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        if self._opt_state is not None:
            opt.load_state_dict(self._opt_state)
            self._opt_state = None
        train_ds, val_ds = self._datasets()
        loader = iter(self._loader(train_ds, self.step))
        clip_params = [p for n, p in module.named_parameters() if not n.startswith("probe.")]
        log_path = self.out / "log.csv"
        bar = tqdm(total=total, initial=self.step, desc=f"stage {stage}", disable=not self.progress, dynamic_ncols=True)
        t_last = time.perf_counter()
        while self.step < total:
            batch = next(loader)
            batch = {k: (v.to(self.d.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
            if self.channels_last:
                batch = {k: (v.contiguous(memory_format=torch.channels_last) if torch.is_tensor(v) and v.dim() == 4 else v)
                         for k, v in batch.items()}
            lr = lr_at(self.step, total, cfg)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_scale", 1.0)
            loss, logs = runner(batch, self.step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(clip_params, cfg.grad_clip)
            opt.step()
            self.step += 1
            bar.update(1)
            if self.d.main and (self.step % cfg.log_every == 0 or self.step == total):
                now = time.perf_counter()
                row = {"stage": stage, "step": self.step, "lr": f"{lr:.3g}", "loss": f"{float(loss.detach()):.5f}",
                       "grad_norm": f"{float(gnorm):.4g}", "s_per_step": f"{(now - t_last) / cfg.log_every:.3f}",
                       **{k: f"{v:.5f}" for k, v in logs.items()}}
                t_last = now
                _append_csv(log_path, row)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            if self.step % cfg.ckpt_every == 0 or self.step == total:
                self._save(opt)
            if val_ds is not None and self.d.main and (self.step % cfg.val_every == 0 or self.step == total):
                self._validate(stage, val_ds)
                module.train() if stage == 1 else model.diffusion.denoiser.train()
        bar.close()
        if self.d.main:
            self._save(opt, f"stage{stage}.pt")
        self._check_sync(module)

    @torch.no_grad()
    def _validate(self, stage: int, ds) -> dict[str, float]:
        m = self.model.eval()
        sums: dict[str, float] = {}
        correct = {"ir": 0, "vi": 0}
        g = torch.Generator().manual_seed(1234)
        for i in range(len(ds)):
            b = ds[i]
            ir, vi = b["lq_ir"][None].to(self.d.device), b["lq_vi"][None].to(self.d.device)
            noise = torch.randn(m.sem_shape(1), generator=g).to(self.d.device)
            if stage == 1:  # official Stage-I validation feeds the clean prior
                sem_gt = m.semantic(b["gt_ir"][None].to(self.d.device), b["gt_vi"][None].to(self.d.device)) if m.config.use_priors else None
                pri = m.compute_priors(ir, vi, noise=noise, sem_override=sem_gt)
            else:
                pri = m.compute_priors(ir, vi, noise=noise)
            fused = m.fuse_with_priors(ir, vi, pri)
            deg = degraded_samples(b)
            loss, logs = fusion_loss(fused, b["gt_ir"][None].to(self.d.device), b["gt_vi"][None].to(self.d.device), self.weights,
                                     None if deg is None else deg.view(1).to(self.d.device))
            logs["loss"] = float(loss)
            logs["psnr_vs_gt_vi_luma"] = float(-10 * torch.log10(F.mse_loss(fused.mean(1), b["gt_vi"][None].to(self.d.device).mean(1))))
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            if m.probe is not None and m.config.use_priors:
                # what `dspfusion diagnose` feeds the probe (probe_tile, probe_scales), not the crop's own type vector
                correct["ir"] += int(m.probe(m.diagnosis_features(ir), "ir").argmax(-1).item() == int(b["label_ir"]))
                correct["vi"] += int(m.probe(m.diagnosis_features(vi), "vi").argmax(-1).item() == int(b["label_vi"]))
        row = {"stage": stage, "step": self.step, **{k: f"{v / len(ds):.5f}" for k, v in sums.items()}}
        if m.probe is not None and m.config.use_priors:
            row.update({f"probe_acc_{k}": f"{v / len(ds):.3f}" for k, v in correct.items()})
        _append_csv(self.out / "val.csv", row)
        return row

    def _check_sync(self, module: nn.Module) -> None:
        """Under DDP, assert every rank holds identical trained parameters; record the checksum."""
        vec = torch.cat([p.detach().flatten().double() for p in module.parameters()])
        checksum = torch.stack([vec.sum(), vec.abs().sum(), (vec * torch.arange(vec.numel(), dtype=torch.float64, device=vec.device)).sum()])
        if dist.is_initialized():
            gathered = [torch.zeros_like(checksum) for _ in range(self.d.world)]
            dist.all_gather(gathered, checksum)
            same = all(torch.equal(gathered[0], g) for g in gathered)
            if self.d.main:
                (self.out / f"sync_stage{self.stage}.txt").write_text(
                    f"world={self.d.world} in_sync={same}\n" + "\n".join(str(g.tolist()) for g in gathered) + "\n")
            if not same:
                raise RuntimeError("DDP ranks diverged: trained parameters differ across processes")


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    if not new:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if set(row) - set(header):  # new columns: rewrite with a wider header
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
            header = header + [k for k in row if k not in header]
            with open(path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=header)
                w.writeheader()
                w.writerows(rows)
    else:
        header = list(row)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        if new:
            w.writeheader()
        w.writerow(row)
