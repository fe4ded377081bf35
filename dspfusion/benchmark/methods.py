"""Method adapters: one interface over DSPFusion models, classical baselines and folders of precomputed results.

* :class:`DSPFusionMethod` wraps :func:`dspfusion.load` (a preset, an official folder, a .safetensors or .pt
  file). ``torch.manual_seed(seed)`` runs before loading, so even a preset without trained weights is the same
  random model on every run — and the harness says it is untrained wherever its numbers appear.
* :class:`BaselineMethod` runs :func:`dspfusion.baselines.fuse_classical`, or with ``pre_enhance``
  :func:`~dspfusion.baselines.pre_enhance_then_fuse` with the condition's known degradation types (the oracle
  types, as in the paper's "restore each input with a dedicated method, then fuse" protocol).
* :class:`FolderMethod` reads results someone else computed (another paper's outputs, a GPU run), by file stem.

``identity()`` describes what produced the outputs (for weights: a SHA-256 of the files, and ``fusion_sha256``, a
SHA-256 of only what the fused image depends on); the runner stores it next to the cached results and refuses to mix
results of two different identities under one method name. Two identities that differ only in the weights file's
bytes, not in its ``fusion_sha256`` (a diagnosis probe refit: ``benchmarks/fit_probe.py --install``), made the same
fused images, and the runner keeps the cache (``runner._same_fusion``).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .config import MethodSpec


class MissingResult(UserError):
    """A folder method has no result for an image."""


class MethodError(UserError):
    """A method cannot run at all (its checkpoint does not load, its device is absent): the run stops."""


def _sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode("utf-8"))
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def fusion_sha256(path: Path) -> str:
    """SHA-256 of what a weights file gives the fused image.

    For a ``.safetensors`` file: every tensor except the diagnosis probe's (``probe.*``; names, dtypes, shapes and
    bytes) and the model config stored in its metadata without its probe fields; the probe only classifies the inputs
    for ``diagnose``, so refitting it leaves this digest unchanged while the file's bytes change. Any other file
    (the official ``net_*.pth``, a ``.pt`` training checkpoint, which hold no refit probe) is hashed whole, as
    :func:`_sha256` does.
    """
    if path.suffix != ".safetensors":
        return _sha256([path])
    import json

    import torch
    from safetensors import safe_open

    h = hashlib.sha256()
    with safe_open(str(path), framework="pt") as f:
        config = json.loads((f.metadata() or {}).get("config", "{}"))
        h.update(json.dumps({k: v for k, v in config.items() if "probe" not in k}, sort_keys=True).encode())
        for key in sorted(k for k in f.keys() if not k.startswith("probe.")):
            t = f.get_tensor(key).contiguous()
            h.update(f"{key} {t.dtype} {tuple(t.shape)}".encode())
            h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _digests(paths: list[Path]) -> tuple[str, str]:
    """(``sha256``, ``fusion_sha256``) of the weights files of one checkpoint. A single file that is not
    ``.safetensors`` is read once: its fusion digest is its whole-file digest. Several files (an official folder)
    combine each file's name with its own fusion digest."""
    sha = _sha256(paths)
    if len(paths) == 1:
        return sha, (sha if paths[0].suffix != ".safetensors" else fusion_sha256(paths[0]))
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode("utf-8") + fusion_sha256(p).encode())
    return sha, h.hexdigest()


def _weights(kind: str, path: Path, files: list[Path]) -> dict[str, Any]:
    sha, fusion = _digests(files)
    return {"kind": kind, "path": str(path), "sha256": sha, "fusion_sha256": fusion}


def weights_identity(checkpoint: str) -> dict[str, Any]:
    """What a checkpoint argument points at: {"kind", "path", "sha256", "fusion_sha256"} (the two digests None for an
    untrained preset). ``sha256`` hashes the files' names and bytes; ``fusion_sha256`` only what the fused image
    depends on (:func:`fusion_sha256`)."""
    from ..checkpoint import shipped_weights
    from ..config import PRESETS

    path = Path(checkpoint)
    if checkpoint in PRESETS and not path.exists():
        w = shipped_weights(checkpoint)
        if w is None:
            return {"kind": "untrained preset", "path": None, "sha256": None, "fusion_sha256": None}
        return _weights("preset weights", w, [w])
    if path.is_dir():
        files = sorted(path.glob("net_*.pth")) or sorted(path.glob("model.safetensors"))
        if not files:
            raise UserError(f"{path}: folder holds no checkpoint (net_*.pth or model.safetensors)")
        return _weights("folder", path, files)
    if path.is_file():
        return _weights("file", path, [path])
    raise UserError(f"{checkpoint}: no such checkpoint file, folder or preset; presets: {', '.join(sorted(PRESETS))}")


class Method:
    """Base adapter. ``fuse(ir, vi, condition)`` → uint8 result; ``precomputed()`` → a file or None."""

    spec: MethodSpec
    trained: bool | None = None  # None: not a learned method

    def __init__(self, spec: MethodSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def identity(self) -> dict[str, Any]:
        return self.spec.fingerprint()

    def describe(self) -> str:
        raise NotImplementedError

    def prepare(self) -> None:
        """Load what the method needs (imports, weights), so that timing ``fuse`` measures fusion only."""

    def precomputed(self, dataset: str, condition: str, stem: str) -> Path | None:
        return None

    def fuse(self, ir: np.ndarray, vi: np.ndarray, condition: str) -> np.ndarray:
        raise NotImplementedError


class DSPFusionMethod(Method):
    def __init__(self, spec: MethodSpec) -> None:
        from ..inference import resolve_device

        super().__init__(spec)
        self._fuser = None
        try:
            resolve_device(spec.device)
            self._weights = weights_identity(spec.checkpoint or "")
        except UserError as exc:
            raise MethodError(f"method {spec.name}: {exc}") from None
        self.trained = self._weights["kind"] != "untrained preset"

    @property
    def fuser(self):
        if self._fuser is None:
            import torch

            from .. import load
            from ..checkpoint import UntrainedModelWarning

            torch.manual_seed(self.spec.seed)  # an untrained preset is the same random model on every run
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UntrainedModelWarning)  # reported in every table instead
                    self._fuser = load(self.spec.checkpoint, device=self.spec.device, steps=self.spec.steps,
                                       seed=self.spec.seed)
            except UserError as exc:
                raise MethodError(f"method {self.name}: {exc}") from None
            self.trained = bool(self._fuser.info.get("trained", True))
        return self._fuser

    def prepare(self) -> None:
        _ = self.fuser

    def identity(self) -> dict[str, Any]:
        return {**self.spec.fingerprint(), "weights": self._weights}

    def describe(self) -> str:
        s = self.spec
        w = self._weights
        shown = s.checkpoint
        if shown and Path(shown).is_absolute():  # show files under the working directory by their relative path
            try:
                shown = str(Path(shown).relative_to(Path.cwd().resolve()))
            except ValueError:
                pass
        src = f"`{shown}`" + (f" (sha256 {w['sha256'][:12]})" if w["sha256"] else "")
        steps = f", {s.steps} SPDM steps" if s.steps else ""
        text = f"DSPFusion {src}, seed {s.seed}{steps}{', min–max stretch' if s.stretch else ''}"
        if not self.trained:
            text += " — **untrained: random weights, not a real fusion**"
        return text

    def fuse(self, ir: np.ndarray, vi: np.ndarray, condition: str) -> np.ndarray:
        return self.fuser.fuse(ir, vi, seed=self.spec.seed, steps=self.spec.steps, stretch=self.spec.stretch)


class BaselineMethod(Method):
    def prepare(self) -> None:
        import dspfusion.baselines  # noqa: F401  (OpenCV, scikit-image, PyWavelets)

    def describe(self) -> str:
        s = self.spec
        text = f"classical `{s.fusion}` fusion"
        if s.pre_enhance:
            text = "classical pre-enhancement for the known degradation types, then " + text
        return text

    def fuse(self, ir: np.ndarray, vi: np.ndarray, condition: str) -> np.ndarray:
        from ..baselines import fuse_classical, pre_enhance_then_fuse
        from ..degradations import parse_condition

        if not self.spec.pre_enhance:
            return fuse_classical(ir, vi, self.spec.fusion or "max")
        vi_type, ir_type = parse_condition(condition)
        return pre_enhance_then_fuse(ir, vi, fusion=self.spec.fusion or "max",
                                     ir_type=None if ir_type == "clean" else ir_type,
                                     vi_type=None if vi_type == "clean" else vi_type)


class FolderMethod(Method):
    def folder(self, dataset: str, condition: str) -> Path:
        return Path((self.spec.path or "").format(dataset=dataset, condition=condition, method=self.name))

    def describe(self) -> str:
        return f"precomputed results from `{self.spec.path}`"  # made from OUTPUT/inputs for degraded conditions

    def precomputed(self, dataset: str, condition: str, stem: str) -> Path:
        from ..io import IMAGE_EXTENSIONS

        folder = self.folder(dataset, condition)
        if not folder.is_dir():
            raise MissingResult(f"{self.name}: results folder {folder} not found")
        found = [p for p in sorted(folder.glob(f"{stem}.*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not found:
            raise MissingResult(f"{self.name}: no result for {stem!r} in {folder}")
        if len(found) > 1:
            raise MissingResult(f"{self.name}: several results for {stem!r} in {folder} "
                                f"({', '.join(p.name for p in found)}); keep one")
        return found[0]


def make_method(spec: MethodSpec) -> Method:
    return {"dspfusion": DSPFusionMethod, "baseline": BaselineMethod, "folder": FolderMethod}[spec.type](spec)


__all__ = ["Method", "DSPFusionMethod", "BaselineMethod", "FolderMethod", "MissingResult", "MethodError",
           "make_method",
           "weights_identity", "fusion_sha256"]
