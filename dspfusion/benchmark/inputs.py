"""Benchmark inputs: the pairs of a dataset, and the seeded degraded copies every method sees.

Degradations come from :func:`dspfusion.degradations.apply_condition` with a generator seeded from
(config seed, condition, file stem) only (:func:`condition_rng`), so the degraded bytes do not depend on the order
of the run, on the other datasets or on ``limit``; an image listed in two datasets is degraded identically.
Degraded pairs are written once as PNG under ``<output>/inputs/<dataset>/<condition>/{ir,vi}/<stem>.png`` (with
their parameters in ``params/<stem>.json``) and read back, so every method — including ones run later, elsewhere,
from those files — gets the same bytes. A ``manifest.json`` records the seed and :func:`generator_fingerprint` (a
hash of what the installed generator makes of a fixed procedural pair under every condition); a cache made with
another seed or by a generator that has changed since is refused rather than mixed.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .config import DatasetSpec

GENERATOR = "dspfusion.degradations.apply_condition, numpy PCG64 seeded by SeedSequence([seed, crc32(condition), crc32(stem)])"


@dataclass(frozen=True)
class Pair:
    stem: str
    ir: Path
    vi: Path


@dataclass
class Inputs:
    """One pair under one condition: what the methods see, and the clean sources."""

    ir: np.ndarray  # uint8 HxW
    vi: np.ndarray  # uint8 HxW or HxWx3
    ir_clean: np.ndarray
    vi_clean: np.ndarray
    ir_path: Path  # the file holding ``ir`` (the source itself for the clean condition)
    vi_path: Path
    params: dict


def read_list(path: Path) -> list[str]:
    """Stems named in a list file: one file name or stem per line; blank lines and '#' comments are ignored."""
    if not path.is_file():
        raise UserError(f"{path}: image list not found")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(Path(line).stem)
    return out


def list_pairs(ds: DatasetSpec, limit: int | None = None) -> tuple[list[Pair], list[str]]:
    """(pairs sorted by stem or in list order, problems). Unmatched files and missing list entries are problems."""
    from ..io import find_pair_folders, pair_folders

    if not ds.root.is_dir():
        raise UserError(f"dataset {ds.name}: folder {ds.root} not found (relative paths in a benchmark config are "
                        f"resolved against the directory it is run from; run from the repository root)")
    ir_dir, vi_dir = find_pair_folders(ds.root)
    pairing = pair_folders(ir_dir, vi_dir)
    problems = [f"dataset {ds.name}: {line}" for line in pairing.report().splitlines() if line]
    by_stem = {s: Pair(s, ir, vi) for s, ir, vi in pairing.pairs}
    if ds.list is not None:
        pairs = []
        for stem in dict.fromkeys(read_list(ds.list)):
            if stem in by_stem:
                pairs.append(by_stem[stem])
            else:
                problems.append(f"dataset {ds.name}: {ds.list.name} names {stem!r}, which has no IR/VI pair in {ds.root}")
    else:
        pairs = [by_stem[s] for s in sorted(by_stem)]
    if not pairs:
        raise UserError(f"dataset {ds.name}: no IR/VI pairs found in {ds.root}" + (f" for {ds.list}" if ds.list else ""))
    return (pairs[:limit] if limit else pairs), problems


def _to_uint8(a: np.ndarray) -> np.ndarray:
    from ..io import to_float

    return a if a.dtype == np.uint8 else np.round(to_float(a) * 255.0).astype(np.uint8)


def load_clean(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """→ (IR uint8 HxW, VI uint8 HxW or HxWx3). A colour-stored IR becomes grey; 16-bit data are min–max scaled."""
    from ..io import read_image

    ir = _to_uint8(read_image(pair.ir))
    vi = _to_uint8(read_image(pair.vi))
    if ir.ndim == 3:
        if np.array_equal(ir[..., 0], ir[..., 1]) and np.array_equal(ir[..., 1], ir[..., 2]):
            ir = np.ascontiguousarray(ir[..., 0])
        else:
            ir = np.round(ir.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    if ir.shape[:2] != vi.shape[:2]:
        raise UserError(f"{pair.ir} is {ir.shape[1]}x{ir.shape[0]} but {pair.vi} is {vi.shape[1]}x{vi.shape[0]}; "
                        "benchmark pairs must be registered images of one size")
    return ir, vi


def condition_rng(seed: int, condition: str, stem: str) -> np.random.Generator:
    """The generator of one (condition, image): independent of run order, datasets and limits."""
    key = [int(seed) & 0xFFFFFFFF, zlib.crc32(condition.encode("utf-8")), zlib.crc32(stem.encode("utf-8"))]
    return np.random.default_rng(np.random.SeedSequence(key))


@functools.lru_cache(maxsize=None)
def generator_fingerprint() -> str:
    """16 hex digits identifying the degradation generator's behaviour: a SHA-256 of its output for the procedural
    example pair under every degraded condition. It changes when any degradation changes what it makes."""
    from ..degradations import CONDITIONS, apply_condition
    from ..example import make_example_pair

    ir, vi = make_example_pair(64, 96, seed=0)
    h = hashlib.sha256()
    for cond in CONDITIONS[1:]:
        ir_d, vi_d, _ = apply_condition(ir, vi, cond, condition_rng(0, cond, "fingerprint"))
        for part in (cond.encode("utf-8"), ir_d.tobytes(), vi_d.tobytes()):
            h.update(part)
    return h.hexdigest()[:16]


def cached_fingerprints(root: Path) -> set[str]:
    """Generator fingerprints recorded by the degraded-input folders under ``root`` (what the results were made of)."""
    out = set()
    for manifest in root.glob("*/*/manifest.json"):
        try:
            out.add(str(json.loads(manifest.read_text(encoding="utf-8")).get("fingerprint")))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


class InputCache:
    """Degraded inputs on disk, generated on first use."""

    def __init__(self, root: Path, seed: int, overwrite: bool = False) -> None:
        self.root = root
        self.seed = seed
        self.overwrite = overwrite
        self._checked: set[Path] = set()

    def folder(self, dataset: str, condition: str) -> Path:
        return self.root / dataset / condition

    def _check_manifest(self, folder: Path, condition: str) -> None:
        if folder in self._checked:
            return
        manifest = folder / "manifest.json"
        want = {"seed": self.seed, "condition": condition, "generator": GENERATOR,
                "fingerprint": generator_fingerprint()}
        if manifest.is_file() and not self.overwrite:
            have = json.loads(manifest.read_text(encoding="utf-8"))
            if have.get("seed") != self.seed:
                raise UserError(f"{folder}: degraded inputs were made with seed {have.get('seed')} (this config: "
                                f"{self.seed}); use another output folder, delete {folder}, or pass --overwrite")
            if {k: have.get(k) for k in want} != want:
                raise UserError(f"{folder}: degraded inputs were made by another version of the degradation "
                                f"generator (fingerprint {have.get('fingerprint')}, now {want['fingerprint']}); "
                                "pass --overwrite to regenerate them and recompute the results, or use another "
                                "output folder")
        else:
            _write_json(manifest, want)
        self._checked.add(folder)

    def get(self, dataset: str, condition: str, pair: Pair) -> Inputs:
        from ..io import read_image, write_image

        ir_c, vi_c = load_clean(pair)
        if condition == "clean":
            return Inputs(ir_c, vi_c, ir_c, vi_c, pair.ir, pair.vi, {"condition": "clean"})
        folder = self.folder(dataset, condition)
        self._check_manifest(folder, condition)
        ir_p, vi_p = folder / "ir" / f"{pair.stem}.png", folder / "vi" / f"{pair.stem}.png"
        par_p = folder / "params" / f"{pair.stem}.json"
        if not self.overwrite and ir_p.is_file() and vi_p.is_file() and par_p.is_file():
            ir_d, vi_d = read_image(ir_p), read_image(vi_p)
            params = json.loads(par_p.read_text(encoding="utf-8"))
            if ir_d.shape != ir_c.shape or vi_d.shape != vi_c.shape:
                raise UserError(f"{ir_p}: cached degraded input does not match its source {pair.ir} in size; "
                                f"delete {folder} or pass --overwrite")
            return Inputs(ir_d, vi_d, ir_c, vi_c, ir_p, vi_p, params)
        from ..degradations import apply_condition

        ir_d, vi_d, params = apply_condition(ir_c, vi_c, condition, condition_rng(self.seed, condition, pair.stem))
        write_image(ir_p, ir_d, overwrite=True)
        write_image(vi_p, vi_d, overwrite=True)
        _write_json(par_p, {**params, "seed": self.seed, "stem": pair.stem, "source_ir": str(pair.ir),
                            "source_vi": str(pair.vi)})
        return Inputs(ir_d, vi_d, ir_c, vi_c, ir_p, vi_p, params)


def written_inputs(root: Path, progress: bool = False):
    """The degraded pairs a benchmark run wrote under ``root`` (its ``<output>/inputs``), read back as the methods
    saw them: yields ``(dataset, condition, stem, ir, vi)`` per pair, data sets, conditions and stems in sorted
    order (IR uint8 HxW, VI uint8 HxW or HxWx3 RGB). For experiments that feed those exact inputs to a variant of a
    method and hand the results back to the harness as a ``folder`` method. ``progress`` prints
    ``<dataset> <condition>`` once the caller has taken that condition's last pair."""
    from ..io import read_image

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no benchmark inputs here; run the benchmark config first (it writes "
                        "<output>/inputs/<dataset>/<condition>/{ir,vi}/<stem>.png)")
    for ds in sorted(p for p in root.iterdir() if p.is_dir()):
        for cond in sorted(p for p in ds.iterdir() if p.is_dir()):
            for vi_p in sorted((cond / "vi").glob("*.png")):
                yield ds.name, cond.name, vi_p.stem, read_image(cond / "ir" / vi_p.name), read_image(vi_p)
            if progress:
                print(ds.name, cond.name, flush=True)


__all__ = ["Pair", "Inputs", "InputCache", "list_pairs", "load_clean", "read_list", "condition_rng", "GENERATOR",
           "generator_fingerprint", "cached_fingerprints", "written_inputs"]
