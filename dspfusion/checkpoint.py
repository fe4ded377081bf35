"""Self-describing checkpoints and the one entry point that loads any model source.

Our release format is a single ``.safetensors`` file whose metadata carries
everything needed to rebuild the model (the nanoGPT ``model_args`` idea):
``format``, ``format_version``, ``dspfusion_version``, ``config`` (JSON of
:class:`DSPFusionConfig`) and ``step``. Training checkpoints (``.pt``) are plain
dicts of tensors and primitives read with ``weights_only=True``.

:func:`load_model` accepts: a preset name (``"lite"``, ``"paper"``, ...), an
official release folder (``net_g/net_dp/net_sp/net_dm.pth``), one of our
``.safetensors`` files, or one of our training ``.pt`` checkpoints.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from . import official
from .config import PRESETS, DSPFusionConfig
from .errors import CheckpointError, UserError
from .io import commit_temp
from .models import DSPFusion, build_model
from .version import __version__

FORMAT = "dspfusion"
FORMAT_VERSION = "1"
WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_PRESET = "lite"


class UntrainedModelWarning(UserWarning):
    """Raised (as a warning) when a model with random weights is used for fusion."""


def save_model(model: DSPFusion, path: str | Path, step: int | None = None, extra: dict[str, str] | None = None) -> Path:
    """Write ``model`` as a self-describing safetensors file (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dspfusion_version": __version__,
        "config": json.dumps(model.config.to_dict()),
        "step": str(step if step is not None else -1),
        **(extra or {}),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # unique, as write_text_atomic
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_file(tensors, str(tmp), metadata=meta)
        commit_temp(tmp, path)  # safetensors creates 0600 files; give the usual permissions
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


_OWN_METADATA = ("format", "format_version", "dspfusion_version", "config", "step")


def extra_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a model file that :func:`save_model` does not write itself (``train_name``, ``probe_refit``
    ...): what a file derived from it (a refit, an average, copied parts) carries over as ``extra``."""
    return {k: v for k, v in read_metadata(path).items() if k not in _OWN_METADATA}


def load_parts(model: DSPFusion, path: str | Path, required: str, optional: tuple[str, ...] = (),
               label: str = "weights", hint: str = "") -> list[str]:
    """Load sub-networks of ``model`` from the ``<part>.*`` tensors of a safetensors file; → the parts loaded.

    ``required`` (e.g. ``"degradation"``, DPEN) must be in the file with the model's exact tensor names and
    shapes, else :class:`UserError` naming ``label``, the file and the problem (``hint``: how to fix a size
    mismatch). An ``optional`` part (e.g. ``"probe"``) is loaded only when it is in the file and fits; otherwise
    it stays as it was. Works on whole-model files and on files holding only some parts.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise UserError(f"{label} {path}: file not found")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{label} {path}: not a readable safetensors file ({exc})") from None
    loaded = []
    for prefix in (required, *optional):
        module = getattr(model, prefix, None)
        sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        if module is None or not sub:
            if prefix == required:
                raise UserError(f"{label} {path}: no {prefix}.* tensors in the file")
            continue
        own = module.state_dict()
        if not (set(sub) == set(own) and all(sub[k].shape == own[k].shape for k in own)):
            if prefix == required:
                raise UserError(f"{label} {path}: its {prefix} part does not match the model's (different size or layout)"
                                + (f"; {hint}" if hint else ""))
            continue
        module.load_state_dict(sub)
        loaded.append(prefix)
    return loaded


def _load_safetensors(path: Path) -> tuple[DSPFusion, dict[str, Any]]:
    from safetensors.torch import load_file

    try:
        meta = read_metadata(path)
        state = load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: safetensors file without dspfusion metadata (format/config); was it written by dspfusion?")
    cfg = DSPFusionConfig.from_dict(json.loads(meta["config"]))
    model = build_model(cfg)
    _load_state(model, state, path)
    return model, {"source": str(path), "step": int(meta.get("step", -1)), "version": meta.get("dspfusion_version")}


def _load_state(model: DSPFusion, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys ({', '.join(missing[:6])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({', '.join(unexpected[:6])})")
        if wrong:
            parts.append("shape mismatch: " + ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:6]))
        raise CheckpointError(f"{path}: weights do not fit the stored configuration: " + "; ".join(parts))
    model.load_state_dict(state)


def _load_torch_file(path: Path) -> tuple[DSPFusion, dict[str, Any]]:
    obj = official.safe_torch_load(path)
    if isinstance(obj, dict) and "config" in obj and "model" in obj:
        cfg = DSPFusionConfig.from_dict(obj["config"])
        model = build_model(cfg)
        _load_state(model, obj["model"], path)
        return model, {"source": str(path), "step": int(obj.get("step", -1)), "version": obj.get("version")}
    if isinstance(obj, dict) and ("params" in obj or "params_ema" in obj):
        raise CheckpointError(
            f"{path}: this is one file of an official DSPFusion release; pass the folder that holds "
            "net_g.pth, net_dp.pth, net_sp.pth and net_dm.pth together"
        )
    raise CheckpointError(f"{path}: not a dspfusion checkpoint (expected keys 'config' and 'model')")


def load_official(folder: str | Path) -> tuple[DSPFusion, dict[str, Any]]:
    sds = official.read_official_folder(folder)
    cfg = official.infer_config(sds)
    model = build_model(cfg)
    model.load_state_dict(official.convert_official(model, sds))
    return model, {"source": str(folder), "step": -1, "version": "official"}


def shipped_weights(preset: str) -> Path | None:
    name = PRESETS.get(preset, {}).get("weights")
    if name and (WEIGHTS_DIR / name).is_file():
        return WEIGHTS_DIR / name
    return None


def load_model(source: str | Path | None = None, device: str | torch.device = "cpu") -> tuple[DSPFusion, dict[str, Any]]:
    """Load a model from a preset name, checkpoint file or official folder → (model in eval mode, info dict).

    ``info`` has ``source``, ``step``, ``version`` and ``trained`` (False for a preset without shipped weights, in
    which case an :class:`UntrainedModelWarning` is issued).
    """
    source = DEFAULT_PRESET if source is None else source
    path = Path(source)
    if isinstance(source, str) and source in PRESETS and not path.exists():
        weights = shipped_weights(source)
        if weights is not None:
            model, info = _load_safetensors(weights)
            info["preset"] = source
        else:
            warnings.warn(
                f"preset {source!r} has no trained weights in this installation: the model is RANDOMLY INITIALISED "
                "and its output is meaningless. Pass --checkpoint with trained weights.",
                UntrainedModelWarning,
                stacklevel=2,
            )
            model, info = build_model(source), {"source": f"preset:{source}", "step": 0, "version": __version__, "preset": source}
            info["trained"] = False
    elif path.is_dir():
        if (path / "net_g.pth").exists() or any(path.glob("net_*.pth")):
            model, info = load_official(path)
        elif (path / "model.safetensors").is_file():
            model, info = _load_safetensors(path / "model.safetensors")
        else:
            raise CheckpointError(
                f"{path}: folder holds no checkpoint; expected net_g/net_dp/net_sp/net_dm.pth (official) or model.safetensors"
            )
    elif path.is_file():
        if path.suffix == ".safetensors":
            model, info = _load_safetensors(path)
        elif path.suffix in (".pt", ".pth", ".ckpt"):
            model, info = _load_torch_file(path)
        else:
            raise CheckpointError(f"{path}: unknown checkpoint type {path.suffix!r}; expected .safetensors, .pt/.pth or a folder")
    else:
        raise UserError(
            f"{source}: no such checkpoint file, folder or preset; presets: {', '.join(sorted(PRESETS))}"
        )
    info.setdefault("trained", True)
    return model.to(device).eval(), info
