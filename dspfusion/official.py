"""Interoperability with the official DSPFusion release (Linfeng-Tang/DSPFusion, commit 84129eb).

The authors ship four files, ``net_g.pth`` (fusion network), ``net_dp.pth``
(DPEN), ``net_sp.pth`` (SPEN) and ``net_dm.pth`` (SPDM denoiser), each
``{"params": state_dict}`` with the official module names. Our modules use
readable names; this file holds the one-to-one renaming (ours → official, as
ordered regex rules) and infers a :class:`DSPFusionConfig` from tensor shapes,
so no config file is needed (the official release has none).

Loading is always ``torch.load(..., map_location="cpu", weights_only=True)``:
nothing a user hands us is unpickled.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from .config import DenoiserConfig, DiffusionConfig, DSPFusionConfig, FusionNetConfig, PriorEncoderConfig
from .errors import CheckpointError

# component name in our model → official file stem
COMPONENT_FILES: dict[str, str] = {"fusion": "net_g", "degradation": "net_dp", "semantic": "net_sp", "diffusion": "net_dm"}

_NORM = [(r"\.(\w*norm\w*)\.(weight|bias)$", r".\1.body.\2")]  # Restormer LayerNorm keeps its weights in .body
_SPIM = [
    (r"\.spim\.norm_x\.", ".spmm.norm1."),
    (r"\.spim\.norm_prior\.", ".spmm.norm2."),
    (r"\.spim\.", ".spmm."),
]
_RULES: dict[str, list[tuple[str, str]]] = {
    "fusion": [
        (r"^sem_pyramid\.(\d)\.token_proj\.", lambda m: f"down_{int(m[1]) + 1}.1."),
        (r"^sem_pyramid\.(\d)\.channel_proj\.", lambda m: f"down_{int(m[1]) + 1}.3."),
        (r"^deg_pyramid\.(\d)\.token_proj\.", lambda m: f"type_down_{int(m[1]) + 1}.1."),
        (r"^deg_pyramid\.(\d)\.channel_proj\.", lambda m: f"type_down_{int(m[1]) + 1}.3."),
        (r"^patch_embed\.", "patch_embed.proj."),
        (r"^encoders\.([0-3])\.", lambda m: ("encoder_level1.", "encoder_level2.", "encoder_level3.", "latent.")[int(m[1])]),
        (r"^pgfm\.([0-3])\.", lambda m: ("fusion_level1.", "fusion_level2.", "fusion_level3.", "fusion_latent.")[int(m[1])]),
        (r"\.dpgm\.", "."),
        (r"\.merge\.", ".cross_att."),
        (r"\.dpmm\.token_weights\.", ".dpmm.weight_linear."),
        (r"\.dpmm\.norm_prior\.", ".dpmm.prior_norm."),
        (r"\.dpmm\.film\.", ".dpmm.prior_linear."),
        (r"\.dpmm\.conv\.", ".dpmm.conv3x3."),
        (r"(fusion_\w+)\.token_proj\.", r"\1.ca.1."),
        (r"(fusion_\w+)\.channel_proj\.", r"\1.ca.3."),
        (r"(fusion_\w+)\.spatial_conv\.", r"\1.sa.conv."),
        (r"^downs\.([0-2])\.conv\.", lambda m: ("down1_2", "down2_3", "down3_4")[int(m[1])] + ".body.0."),
        (r"^up([1-3])\.conv1\.", lambda m: {"3": "up4_3", "2": "up3_2", "1": "up2_1"}[m[1]] + ".body.0."),
        (r"^up([1-3])\.conv2\.", lambda m: {"3": "up4_3", "2": "up3_2", "1": "up2_1"}[m[1]] + ".body.2."),
        (r"^reduce([23])\.", r"reduce_chan_level\1."),
        (r"^decoder([1-3])\.", r"decoder_level\1."),
        (r"^head\.", "output."),
        *_SPIM,
        *_NORM,
    ],
    "prior_encoder": [
        (r"^stem\.", "conv1."),
        (r"^blocks\.(\d+)\.conv1\.", r"blocks.\1.0."),
        (r"^blocks\.(\d+)\.conv2\.", r"blocks.\1.2."),
        (r"^conv_out\.", "conv2."),
        (r"^mixer\.token_mlp\.", "mlp.patch_mixer."),
        (r"^mixer\.channel_mlp\.", "mlp.channel_mixer."),
        (r"^mixer\.", "mlp."),
        (r"^head\.", "end."),
        (r"^type_proj\.", "type_mlp.1."),
    ],
    "diffusion": [
        (r"^denoiser\.time_scale$", "time_mlp"),
        (r"^denoiser\.input_proj\.", "first_layer."),
        (r"^denoiser\.output_proj\.", "final_layer."),
        (r"^denoiser\.blocks\.(\d+)\.token_mlp\.", r"blocks.\1.0.patch_mixer."),
        (r"^denoiser\.blocks\.(\d+)\.channel_mlp\.", r"blocks.\1.0.channel_mixer."),
        (r"^denoiser\.blocks\.(\d+)\.", r"blocks.\1.0."),
    ],
}
_RULES["semantic"] = _RULES["degradation"] = _RULES["prior_encoder"]


def official_key(component: str, key: str) -> str:
    """Our state-dict key (within ``component``) → the official key in its ``net_*.pth``."""
    for pattern, repl in _RULES[component]:
        key = re.sub(pattern, repl, key)
    return key


def key_map(model: torch.nn.Module, component: str) -> dict[str, str]:
    """official key → our key for one component of a built model (checked to be one-to-one)."""
    ours = getattr(model, component).state_dict().keys()
    mapping = {official_key(component, k): k for k in ours}
    if len(mapping) != len(ours):  # a renaming rule collapsed two keys: a bug in _RULES
        raise AssertionError(f"official key map for {component} is not one-to-one")
    return mapping


# --------------------------------------------------------------------------------------------
# Loading files
# --------------------------------------------------------------------------------------------
def safe_torch_load(path: str | Path):
    """``torch.load(weights_only=True)`` on CPU; anything else than tensors and primitives is refused."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # weights_only refuses pickled code; corrupt files land here too
        raise CheckpointError(
            f"{path}: cannot be read as a PyTorch weights file ({type(exc).__name__}: {str(exc)[:200]}). "
            "Only plain tensor checkpoints are accepted (torch.load weights_only=True); re-save pickled objects as state dicts."
        ) from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official ``net_*.pth`` (``{"params": sd}``, or a bare state dict) safely."""
    path = Path(path)
    obj = safe_torch_load(path)
    if isinstance(obj, dict) and "params" in obj and isinstance(obj["params"], dict):
        obj = obj["params"]
    elif isinstance(obj, dict) and "params_ema" in obj and isinstance(obj["params_ema"], dict):
        obj = obj["params_ema"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (optionally under 'params'), got {type(obj).__name__}")
    return obj


def read_official_folder(folder: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """Read ``net_g/net_dp/net_sp/net_dm.pth`` from a folder → {component: state dict}."""
    folder = Path(folder)
    missing = [f"{stem}.pth" for stem in COMPONENT_FILES.values() if not (folder / f"{stem}.pth").is_file()]
    if missing:
        raise CheckpointError(
            f"{folder}: not an official DSPFusion checkpoint folder; missing {', '.join(missing)}. "
            "Expected the release layout net_g.pth, net_dp.pth, net_sp.pth, net_dm.pth."
        )
    return {comp: read_state_dict(folder / f"{stem}.pth") for comp, stem in COMPONENT_FILES.items()}


# --------------------------------------------------------------------------------------------
# Config inference from shapes
# --------------------------------------------------------------------------------------------
def _count(sd: dict[str, torch.Tensor], prefix: str) -> int:
    idx = {int(m[1]) for k in sd if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(idx) + 1 if idx else 0


def _shape(sd: dict[str, torch.Tensor], key: str, comp: str) -> torch.Size:
    try:
        return sd[key].shape
    except KeyError:
        raise CheckpointError(f"{COMPONENT_FILES[comp]}.pth: required key {key!r} is missing; this is not a DSPFusion checkpoint") from None


def _prior_encoder_config(sd: dict[str, torch.Tensor], comp: str, type_head: bool) -> PriorEncoderConfig:
    stem = _shape(sd, "conv1.0.weight", comp)
    embed = _shape(sd, "conv1.2.weight", comp)[0]
    tokens = _shape(sd, "mlp.patch_mixer.0.weight", comp)
    grid = int(round(tokens[1] ** 0.5))
    return PriorEncoderConfig(
        in_chans=stem[1],
        embed_dim=embed,
        num_blocks=_count(sd, "blocks."),
        out_dim=_shape(sd, "end.0.weight", comp)[0],
        stem_dim=stem[0],
        grid=grid,
        token_hidden=tokens[0],
        channel_expansion=_shape(sd, "mlp.channel_mixer.0.weight", comp)[0] // embed,
        type_head=type_head,
    )


def infer_config(sds: dict[str, dict[str, torch.Tensor]]) -> DSPFusionConfig:
    """Infer the architecture from the four official state dicts."""
    g, dm = sds["fusion"], sds["diffusion"]
    dim = _shape(g, "patch_embed.proj.weight", "fusion")[0]
    levels = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
    num_blocks = tuple(_count(g, f"{lv}.blocks.") for lv in levels)
    heads = tuple(_shape(g, f"{lv}.cross_att.temperature", "fusion")[0] for lv in levels)
    hidden = _shape(g, "encoder_level1.blocks.0.ffn.project_out.weight", "fusion")[1] if num_blocks[0] else int(dim * 2.66)
    expansion = 2.66 if int(dim * 2.66) == hidden else hidden / dim
    fusion = FusionNetConfig(
        dim=dim,
        num_blocks=num_blocks,  # type: ignore[arg-type]
        num_refinement_blocks=_count(g, "refinement.blocks."),
        heads=heads,  # type: ignore[arg-type]
        ffn_expansion=expansion,
        bias="encoder_level1.blocks.0.attn.qkv.bias" in g,
        sem_dim=_shape(g, "down_1.3.weight", "fusion")[0],
        deg_dim=_shape(g, "type_down_1.3.weight", "fusion")[0],
        prior_tokens=_shape(g, "down_1.1.weight", "fusion")[1],
        pyramid_tokens=_shape(g, "down_1.1.weight", "fusion")[0],
    )
    x_dim = _shape(dm, "final_layer.0.weight", "diffusion")[0]
    first = _shape(dm, "first_layer.0.weight", "diffusion")
    denoiser = DenoiserConfig(
        dim=x_dim,
        cond_dim=first[1] - 2 * x_dim,
        inner_dim=first[0],
        num_blocks=_count(dm, "blocks."),
        tokens=_shape(dm, "blocks.0.0.patch_mixer.0.weight", "diffusion")[1],
        token_hidden=_shape(dm, "blocks.0.0.patch_mixer.0.weight", "diffusion")[0],
        channel_expansion=_shape(dm, "blocks.0.0.channel_mixer.0.weight", "diffusion")[0] // first[0],
    )
    try:
        return DSPFusionConfig(
            fusion=fusion,
            semantic=_prior_encoder_config(sds["semantic"], "semantic", type_head=False),
            degradation=_prior_encoder_config(sds["degradation"], "degradation", type_head=True),
            denoiser=denoiser,
            diffusion=DiffusionConfig(),
        )
    except ValueError as exc:
        raise CheckpointError(f"the four checkpoint files do not fit together: {exc}") from None


def convert_official(model: torch.nn.Module, sds: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Official state dicts → our full state dict for ``model``; a mismatch names the keys that differ."""
    out: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for comp, stem in COMPONENT_FILES.items():
        mapping = key_map(model, comp)
        ours = getattr(model, comp).state_dict()
        sd = sds[comp]
        missing = sorted(set(mapping) - set(sd))
        unexpected = sorted(set(sd) - set(mapping))
        if missing:
            problems.append(f"{stem}.pth is missing {len(missing)} keys: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
        if unexpected:
            problems.append(f"{stem}.pth has {len(unexpected)} unexpected keys: {', '.join(unexpected[:8])}{' …' if len(unexpected) > 8 else ''}")
        for off, k in mapping.items():
            if off not in sd:
                continue
            if sd[off].shape != ours[k].shape:
                problems.append(f"{stem}.pth:{off} has shape {tuple(sd[off].shape)}, expected {tuple(ours[k].shape)}")
                continue
            out[f"{comp}.{k}"] = sd[off]
    if problems:
        raise CheckpointError("checkpoint does not match the model configuration:\n  " + "\n  ".join(problems))
    return out


def export_official(model: torch.nn.Module, folder: str | Path) -> None:
    """Write a model in the official release layout (four ``{"params": sd}`` files)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for comp, stem in COMPONENT_FILES.items():
        sd = getattr(model, comp).state_dict()
        torch.save({"params": {official_key(comp, k): v.detach().cpu().clone() for k, v in sd.items()}}, folder / f"{stem}.pth")
