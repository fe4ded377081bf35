"""Training configuration: one frozen dataclass, read from YAML, overridable with ``--set key=value``."""
from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import UserError


@dataclass(frozen=True)
class TrainConfig:
    name: str = "lite"
    model: Any = "lite"  # preset name or a DSPFusionConfig dict
    init_from: str | None = None  # start from these weights (.safetensors/.pt; e.g. to continue across sessions)
    out_dir: str = "runs/lite"
    # data
    train_roots: list[str] | None = None  # clean ir/+vi/ folders; None = every folder under ../shared/data/train
    # validation folders: left out of training when train_roots is None, else see hold_out_val
    val_roots: list[str] | None = None
    val_items: int = 12
    val_crop: int = 256
    # a validation folder that is also among train_roots gives training all its pairs except the val_items it
    # validates on; False trains on them too (as lite39 and lite40 did, so their validation was not held out)
    hold_out_val: bool = True
    crop: int = 128
    max_side: int | None = 640  # images are downscaled on load so their long side is at most this
    # ours: pair-folder name -> integer repeat per epoch, e.g. {roadscene171: 4, llvip32: 8} draws the few sharp,
    # full-resolution pairs more often than the 1,083 small (171x128) MSRS ones; None = every pair once
    root_repeat: dict[str, int] | None = None
    # ours: relative weight of each degradation type within its modality, e.g. {vi_Blur: 2, vi_LL: 0.5, ir_LC: 2};
    # types not named weigh 1; None = uniform (the official random choice)
    type_weights: dict[str, float] | None = None
    # ours: probability that a training sample's visible image is made grey before it is degraded (TNO and many
    # surveillance/NIR cameras give grey VI; the training sets are colour); 0 = never
    grey_vi: float = 0.0
    grey_vi_except: list[str] | None = None  # ours: VI types whose samples stay colour when drawn grey, e.g. [LL]
    grey_vi_min_luma: float = 0.0  # ours: only scenes whose VI mean luma (0-1) reaches this are drawn grey
    # ours: probability, per modality, that a clean training crop gets Gaussian sensor noise of sigma drawn from
    # sensor_noise_sigma (grey levels) before it is degraded; the target is then that noisy frame; 0 = never
    sensor_noise: float = 0.0
    sensor_noise_sigma: list[float] = field(default_factory=lambda: [0.5, 3.0])
    proportions: dict[str, float] = field(default_factory=lambda: {"clean": 0.1, "vi": 0.35, "ir": 0.25, "both": 0.3})
    batch_size: int = 4  # per process
    workers: int = 2
    # schedule (per stage)
    stage1_iters: int = 4000
    stage2_iters: int = 1000
    lr: float = 4e-4
    lr_min: float = 1e-6
    warmup: int = 100
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 0.01  # official max-norm (DSPFUSION.md §4.3)
    contrastive_weight: float = 1.0
    contrastive_tau: float = 0.1
    negatives: str = "official"  # contrastive negatives: "official" candidate order, or "shuffled" VI types (ours)
    # ours, not in the paper: the degradation probe's cross-entropy (weighted) also trains DPEN, so its type vectors
    # separate the degradation classes (the contrastive loss alone left VI types mixed: docs/EXPERIMENTS.md); 0 keeps
    # the probe on detached type vectors, as before
    probe_dpen_weight: float = 0.0
    dpen_lr_scale: float = 1.0  # Stage I learning rate of DPEN relative to ``lr`` (ours; 1 = the official single rate)
    # ours: Stage I learning rate of the fusion network's tone-curve MLPs (tone_curve > 0) relative to ``lr``
    curve_lr_scale: float = 1.0
    # ours: weight of an L1 term between each tone-curved degraded input (the fusion network's per-image curves,
    # tone_curve > 0) and its clean target, so that the curves, which read the DPEN priors, restore global tone (over-
    # and under-exposure, low contrast) themselves; 0 = off (no such term, as before)
    tone_weight: float = 0.0
    # ours: start DPEN (and the probe, where its layout matches) from this file's ``degradation.*`` / ``probe.*``
    # tensors, e.g. a DPEN pretrained for classification by benchmarks/dpen_capacity.py --save-dir; applied after
    # init_from, only when a run starts (a resumed run has them in its checkpoint)
    dpen_init: str | None = None
    freeze_dpen: bool = False  # ours: Stage I leaves DPEN (and so its type vectors) as they are
    prior_weight: float = 10.0  # Stage II L1 to the clean semantic prior
    # ours, not in the paper: probability, per Stage I sample, that the fusion network reads the semantic prior the
    # (frozen) SPDM restores from the degraded pair, as at inference, instead of SPEN's prior of the clean pair; the
    # official Stage I always gives it the clean pair's prior, so the network never sees the restored prior's errors
    # (docs/EXPERIMENTS.md, "Where the restored semantic prior costs"); 0 = official
    restored_prior: float = 0.0
    # fusion-loss term weights that differ from the official ones (losses.FusionLossWeights: intensity 15,
    # gradient 10, ssim 2, color 20, consistency 1; and terms of ours, 0 = off: grad_vector, pyramid, undershoot,
    # undershoot_degraded, undershoot_signed, base, qabf; and
    # pyramid_window, the odd window of the pyramid term's source choice, 1 = per pixel), e.g.
    # {gradient: 25, pyramid: 150, intensity: 5} (the shipped lite14 and lite15b runs); None = the official weights
    loss_weights: dict[str, float] | None = None
    # ours: on the CPU, keep the weights and the batches in the channels-last memory layout, which oneDNN's CPU
    # convolutions run faster (Stage I step 0.38 -> 0.34 s on 2 cores: benchmarks/results/train_step_layout.md);
    # equal to the default layout up to float rounding; ignored on GPUs
    channels_last: bool = True
    # bookkeeping
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 200
    seed: int = 0
    use_priors: bool = True  # False trains the no-prior ablation

    @classmethod
    def load(cls, path: str | Path | None, overrides: list[str] | None = None) -> "TrainConfig":
        import yaml

        data: dict[str, Any] = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise UserError(f"{path}: training config not found")
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise UserError(f"{path}: invalid YAML ({exc})") from None
            if not isinstance(data, dict):
                raise UserError(f"{path}: expected a mapping of option: value")
        known = {f.name for f in fields(cls)}
        for item in overrides or []:
            if "=" not in item:
                raise UserError(f"--set {item!r}: expected key=value")
            k, v = item.split("=", 1)
            try:
                data[k] = ast.literal_eval(v)
            except (ValueError, SyntaxError):
                data[k] = v
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown training option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        from ..data.contrastive import ORDERS

        if data.get("negatives", "official") not in ORDERS:
            raise UserError(f"negatives: expected 'official' or 'shuffled', got {data['negatives']!r}")
        rp = data.get("restored_prior", 0.0)
        if not isinstance(rp, (int, float)) or isinstance(rp, bool) or not 0.0 <= rp <= 1.0:
            raise UserError(f"restored_prior: expected a probability in [0, 1], got {rp!r}")
        for key, lowest, what in (("probe_dpen_weight", 0.0, "a number >= 0"), ("dpen_lr_scale", 1e-12, "a number > 0"),
                                   ("curve_lr_scale", 1e-12, "a number > 0"),
                                   ("tone_weight", 0.0, "a number >= 0")):
            value = data.get(key, 1.0)
            if not isinstance(value, (int, float)) or value < lowest:
                raise UserError(f"{key}: expected {what}, got {value!r}")
        for key in ("freeze_dpen", "channels_last", "hold_out_val"):
            if not isinstance(data.get(key, False), bool):
                raise UserError(f"{key}: expected true or false, got {data[key]!r}")
        if data.get("dpen_init") is not None and not isinstance(data["dpen_init"], str):
            raise UserError(f"dpen_init: expected a path to a .safetensors file, got {data['dpen_init']!r}")
        lw = data.get("loss_weights")
        if lw is not None:
            from .losses import FusionLossWeights

            terms = {f.name for f in fields(FusionLossWeights)}
            if not isinstance(lw, dict) or not all(
                k in terms and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for k, v in lw.items()
            ):
                raise UserError(f"loss_weights: expected a mapping of {' / '.join(sorted(terms))}: number >= 0, got {lw!r}")
            win = lw.get("pyramid_window", 1)
            if win != int(win) or int(win) % 2 == 0:
                raise UserError(f"loss_weights: pyramid_window must be an odd whole number (1 = per pixel, 3, 5 ...), got {win!r}")
        repeat = data.get("root_repeat")
        if repeat is not None and (
            not isinstance(repeat, dict)
            or not all(isinstance(k, str) and type(v) is int and v >= 1 for k, v in repeat.items())
        ):
            raise UserError(f"root_repeat: expected a mapping of folder name: integer >= 1, got {repeat!r}")
        from ..data.datasets import (  # the dataset's own checks, read at load time
            check_grey_vi,
            check_sensor_noise,
            check_type_weights,
        )

        try:
            check_type_weights(data.get("type_weights"))
            check_grey_vi(data.get("grey_vi", 0.0), data.get("grey_vi_except") or (), data.get("grey_vi_min_luma", 0.0))
            check_sensor_noise(data.get("sensor_noise", 0.0), data.get("sensor_noise_sigma", (0.5, 3.0)))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **kw: Any) -> "TrainConfig":
        return replace(self, **kw)
