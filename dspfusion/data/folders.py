"""Finding training pairs on disk: clean ``ir/`` + ``vi/`` folders, and the official DSPFusion layout.

* Clean pairs: any folder with ``ir/`` + ``vi/`` (or ``Infrared/`` + ``Visible/``, any case) whose files are matched
  by stem (:func:`dspfusion.io.pair_folders`). :func:`find_pair_roots` collects every such folder one level
  below a base (the default is ``../shared/data/train``), skipping official-layout folders.
* Official layout (DSPFUSION.md §1.1): ``IR/<scene>_<TYPE>.<ext>`` and ``VI/<scene>_<TYPE>.<ext>`` hold the
  degraded inputs (``Norm`` = no degradation), ``IR_enhanced/<scene>.<ext>`` and ``VI_enhanced/<scene>.<ext>``
  the clean targets. :func:`scan_official` reads it; ``Norm`` becomes our label "clean".
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..degradations.registry import canonical_type
from ..errors import UserError
from ..io import find_pair_folders, is_image_file, pair_folders

SHARED_TRAIN_ENV = "DSPFUSION_TRAIN_DATA"


@dataclass(frozen=True)
class Pair:
    """A registered clean pair."""

    name: str  # "<root folder name>/<stem>", unique across roots
    ir: Path
    vi: Path


@dataclass
class OfficialScene:
    """One scene of the official layout: degraded files per canonical type, and the clean targets."""

    name: str
    ir: dict[str, Path] = field(default_factory=dict)
    vi: dict[str, Path] = field(default_factory=dict)
    gt_ir: Path | None = None
    gt_vi: Path | None = None


def default_train_root() -> Path:
    """``$DSPFUSION_TRAIN_DATA`` if set, else ``../shared/data/train`` next to the repository."""
    env = os.environ.get(SHARED_TRAIN_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "train"


def is_official_layout(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
    return {"IR", "VI", "IR_enhanced", "VI_enhanced"} <= names


def find_pair_roots(base: str | Path) -> list[Path]:
    """``base`` itself if it holds ir/+vi/, else its sub-folders that do (official-layout folders skipped)."""
    base = Path(base)
    if not base.is_dir():
        raise UserError(f"{base}: folder not found; pass the folder(s) holding ir/ + vi/ sub-folders")
    try:
        find_pair_folders(base)
        return [base]
    except UserError:
        pass
    roots = []
    for child in sorted(p for p in base.iterdir() if p.is_dir()):
        if is_official_layout(child) or any(is_official_layout(c) for c in child.iterdir() if c.is_dir()):
            continue
        try:
            find_pair_folders(child)
            roots.append(child)
        except UserError:
            continue
    if not roots:
        raise UserError(f"{base}: no ir/ + vi/ (or Infrared/ + Visible/) folders in it or one level below")
    return roots


def scan_pairs(roots: list[str | Path] | None = None) -> list[Pair]:
    """All stem-matched pairs under ``roots`` (each a folder with ir/+vi/, or a base of such folders).
    Unmatched files are reported in one warning per folder."""
    bases = [default_train_root()] if roots is None else [Path(r) for r in roots]
    pairs: list[Pair] = []
    for base in bases:
        for root in find_pair_roots(base):
            ir_dir, vi_dir = find_pair_folders(root)
            found = pair_folders(ir_dir, vi_dir)
            report = found.report()
            if report:
                warnings.warn(f"{root}: {report}", stacklevel=2)
            pairs += [Pair(f"{root.name}/{stem}", ir, vi) for stem, ir, vi in found.pairs]
    if not pairs:
        raise UserError(f"no IR/VI pairs found under {', '.join(map(str, bases))}")
    return pairs


def official_roots(root: str | Path, split: str | None = None) -> Path:
    """Resolve the folder holding IR/, VI/, IR_enhanced/, VI_enhanced/ (``root/split`` when split is given)."""
    root = Path(root)
    folder = root / split if split else root
    if is_official_layout(folder):
        return folder
    subs = sorted(p.name for p in folder.iterdir() if p.is_dir() and is_official_layout(p)) if folder.is_dir() else []
    hint = f"; it has {', '.join(subs)}: pass split=... or that folder" if subs else ""
    raise UserError(f"{folder}: not the official layout (IR/, VI/, IR_enhanced/, VI_enhanced/){hint}")


def _index_enhanced(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if is_image_file(p)}


def scan_official(folder: str | Path) -> list[OfficialScene]:
    """Scenes of an official-layout folder that have both clean targets, sorted by name. Files with an unknown
    type suffix and scenes without targets are skipped with one warning."""
    folder = Path(folder)
    scenes: dict[str, OfficialScene] = {}
    skipped: list[str] = []
    for modality, sub in (("ir", "IR"), ("vi", "VI")):
        for p in sorted((folder / sub).iterdir()):
            if not is_image_file(p):
                continue
            scene, sep, kind = p.stem.rpartition("_")
            if not sep:
                skipped.append(f"{sub}/{p.name} (no _<TYPE> suffix)")
                continue
            try:
                name = canonical_type(modality, kind)
            except ValueError:
                skipped.append(f"{sub}/{p.name} (unknown type {kind!r})")
                continue
            getattr(scenes.setdefault(scene, OfficialScene(scene)), modality)[name] = p
    gt_ir, gt_vi = _index_enhanced(folder / "IR_enhanced"), _index_enhanced(folder / "VI_enhanced")
    out = []
    for name in sorted(scenes):
        s = scenes[name]
        s.gt_ir, s.gt_vi = gt_ir.get(name), gt_vi.get(name)
        if s.gt_ir is None or s.gt_vi is None or not s.ir or not s.vi:
            skipped.append(f"scene {name} (missing target or inputs)")
            continue
        out.append(s)
    if skipped:
        warnings.warn(f"{folder}: skipped {len(skipped)}: " + "; ".join(skipped[:10]), stacklevel=2)
    if not out:
        raise UserError(f"{folder}: no complete scenes (need IR/, VI/ inputs and IR_enhanced/, VI_enhanced/ targets)")
    return out
