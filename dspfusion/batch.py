"""Folder jobs: fuse many pairs, skip the bad ones, finish, and summarise."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .io import write_image


@dataclass
class BatchResult:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{len(self.written)} fused, {len(self.skipped)} skipped, {len(self.failed)} failed"]
        for name, why in self.skipped:
            lines.append(f"  skipped {name}: {why}")
        for name, why in self.failed:
            lines.append(f"  FAILED  {name}: {why}")
        return "\n".join(lines)


def fuse_pairs(
    fuser,
    pairs: list[tuple[str, Path, Path]],
    out_dir: Path,
    overwrite: bool = False,
    progress: bool = True,
    **fuse_kwargs,
) -> BatchResult:
    """Fuse ``(stem, ir, vi)`` pairs into ``out_dir/<stem>.png``."""
    from tqdm import tqdm

    res = BatchResult()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem, ir, vi in tqdm(pairs, desc="fusing", unit="pair", disable=not progress):
        dst = out_dir / f"{stem}.png"
        if dst.exists() and not overwrite:
            res.skipped.append((stem, f"{dst} exists (pass --overwrite to replace it)"))
            continue
        try:
            write_image(dst, fuser.fuse(ir, vi, **fuse_kwargs), overwrite=overwrite)
        except UserError as exc:
            res.failed.append((stem, str(exc)))
            continue
        res.written.append(dst)
    return res
