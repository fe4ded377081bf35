"""dspfusion — infrared/visible image fusion guided by degradation and semantic priors.

Public API::

    import dspfusion
    dspfusion.list_models()                      # presets, and which have shipped weights
    fuser = dspfusion.load("lite")               # preset, official ckpt folder, .safetensors or .pt
    fused = fuser.fuse("ir.png", "vi.png")       # uint8 HxWx3 (HxW if VI is grey)
    dspfusion.fuse("ir.png", "vi.png")           # one-shot, default model

Paper: L. Tang et al., "Image Fusion via Degradation and Semantic Dual-Prior
Guidance" (DSPFusion), arXiv 2503.23355, IEEE TIP 2026.
"""
from __future__ import annotations

from pathlib import Path

from .version import __version__

__all__ = ["__version__", "list_models", "load", "fuse", "Fuser", "build_model", "load_model", "save_model"]


def list_models() -> dict[str, dict]:
    """Preset name → {description, parameters, weights (path or None)}."""
    from .checkpoint import shipped_weights
    from .config import PRESETS

    out = {}
    for name, entry in PRESETS.items():
        w = shipped_weights(name)
        out[name] = {"description": entry["description"], "weights": str(w) if w else None}
    return out


def load(source: str | Path | None = None, device: str = "auto", steps: int | None = None, seed: int = 0):
    """Load a model (see :func:`dspfusion.checkpoint.load_model`) and wrap it in a :class:`Fuser`."""
    from .checkpoint import load_model
    from .inference import Fuser, resolve_device

    model, info = load_model(source, device=resolve_device(device))
    fuser = Fuser(model, device=device, steps=steps, seed=seed)
    fuser.info = info  # type: ignore[attr-defined]
    return fuser


def fuse(ir, vi, model: str | Path | None = None, **kwargs):
    """One-shot fusion with a freshly loaded model; for many images, :func:`load` once and call ``fuse``."""
    return load(model).fuse(ir, vi, **kwargs)


def __getattr__(name: str):  # lazy re-exports keep ``import dspfusion`` light
    if name == "Fuser":
        from .inference import Fuser

        return Fuser
    if name == "build_model":
        from .models import build_model

        return build_model
    if name in ("load_model", "save_model"):
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(name)
