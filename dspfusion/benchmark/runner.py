"""The benchmark loop: datasets × conditions × images × methods → fused results and per-image metrics. Resumable.

Layout under the config's ``output`` folder::

    inputs/<dataset>/<condition>/{ir,vi,params}/<stem>.*   degraded inputs (inputs.py), the bytes every method sees
    results/<method>/<dataset>/<condition>/<stem>.png      fused images (not for folder methods: read in place)
    metrics/<method>/<dataset>/<condition>.jsonl           per-image metric records, appended as they are computed
    methods/<method>.json                                  what produced the method's results (weights SHA-256 ...)
    per_image.csv, skipped.csv, summary.csv, report.md, plots/, grids/, speed.csv, run.json

Resuming: an existing result is not recomputed, and a metric record is reused when it has the metric and was
computed from the same result file (size and mtime), convention and reference. A method whose stored identity
differs from the config's (other weights, other options, same name) is refused instead of mixed (weights that differ
only in the diagnosis probe made the same images and are not a change: ``_same_fusion``); ``overwrite``
recomputes everything. Bad images are skipped, listed in skipped.csv and the report, and the run finishes.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .config import BenchmarkConfig
from .inputs import InputCache, Inputs, Pair, _write_json, list_pairs
from .methods import Method, MethodError, make_method

ROW_KEYS = ("dataset", "condition", "method", "image")


@dataclass
class RunResult:
    """What a run produced: per-image rows, skips and the files written."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # ROW_KEYS + metrics + seconds
    skipped: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # ROW_KEYS + reason
    problems: list[str] = field(default_factory=list)  # dataset-level notes (unmatched files ...)
    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    computed: int = 0  # fused images computed in this run
    evaluated: int = 0  # metric records computed in this run
    speed: list[dict[str, Any]] = field(default_factory=list)
    untrained: list[str] = field(default_factory=list)  # DSPFusion methods without trained weights
    files: list[Path] = field(default_factory=list)


class Ledger:
    """Append-only JSON-lines file of per-image metric records; the last record of an image wins."""

    def __init__(self, path: Path, reset: bool = False) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if reset:
            path.unlink(missing_ok=True)
        elif path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by an interrupted run
                    continue
                if isinstance(rec, dict) and "image" in rec:
                    self.records[rec["image"]] = rec

    def append(self, rec: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[rec["image"]] = rec


def _file_stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _evaluate(fused: Path | np.ndarray, inp: Inputs, names: list[str], cfg: BenchmarkConfig
              ) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics of one result; a metric that cannot be computed is NaN with its reason (all failing → UserError)."""
    from ..metrics import evaluate

    refs = {"ref_ir": inp.ir_clean, "ref_vi": inp.vi_clean} if cfg.reference == "clean" else {}
    try:
        return evaluate(fused, inp.ir, inp.vi, metrics=names, convention=cfg.convention, **refs), {}
    except (UserError, ValueError):
        pass
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for n in names:
        try:
            values.update(evaluate(fused, inp.ir, inp.vi, metrics=[n], convention=cfg.convention, **refs))
        except (UserError, ValueError) as exc:
            values[n], errors[n] = math.nan, str(exc)
    if len(errors) == len(names):
        raise UserError(next(iter(errors.values())))
    return values, errors


def _same_fusion(have: dict[str, Any], ident: dict[str, Any]) -> bool:
    """Whether a cached identity and the config's made the same fused images although they differ: the same method
    options, and weights that differ only in bytes the fused image does not depend on (equal ``fusion_sha256``: a
    probe refit), or only by the ``fusion_sha256`` field itself (a record written before that field existed, for the
    same file)."""
    if {k: v for k, v in have.items() if k != "weights"} != {k: v for k, v in ident.items() if k != "weights"}:
        return False
    a, b = have.get("weights"), ident.get("weights")
    if not isinstance(a, dict) or not isinstance(b, dict) or a.get("kind") != b.get("kind"):
        return False
    if "fusion_sha256" not in a:  # an older record: the same file (name and bytes) as before
        return a.get("sha256") is not None and a == {k: v for k, v in b.items() if k != "fusion_sha256"}
    return a["fusion_sha256"] is not None and a["fusion_sha256"] == b.get("fusion_sha256")


def _check_identity(cfg: BenchmarkConfig, method: Method, overwrite: bool, recompute_changed: bool = False) -> None:
    """Refuse to mix cached results of a method with results of a changed one (other weights, steps, seed...).

    ``recompute_changed`` (``--recompute-changed``) deletes the cached results and metric records of a changed method
    instead, so that it alone is recomputed; the other methods' caches and the degraded inputs are kept.
    """
    path = cfg.output / "methods" / f"{method.name}.json"
    ident = json.loads(json.dumps(method.identity()))
    dirs = [cfg.output / sub / method.name for sub in ("results", "metrics")]
    cached = any(d.exists() for d in dirs)
    if path.is_file() and not overwrite and cached:  # a record with nothing cached under it binds nothing
        have = json.loads(path.read_text(encoding="utf-8"))
        if have == ident:
            return
        if _same_fusion(have, ident):
            if have["weights"].get("sha256") != ident["weights"].get("sha256"):
                print(f"note: method {method.name!r}: its weights file changed, but not the tensors and config the "
                      "fused image depends on (a diagnosis probe refit); keeping its cached results", file=sys.stderr)
            _write_json(path, ident)
            return
        if not recompute_changed:
            raise UserError(
                f"{cfg.output}: the cached results of method {method.name!r} were made by {have}, but the config "
                f"now says {ident}. Rename the method, delete {dirs[0]} and {dirs[1]}, pass --recompute-changed "
                "to recompute the changed methods only, or --overwrite to recompute everything")
        for d in dirs:
            if d.exists():
                shutil.rmtree(d)
        print(f"note: method {method.name!r} changed since its cached results were made; recomputing it "
              f"(deleted {dirs[0]} and {dirs[1]})", file=sys.stderr)
    _write_json(path, ident)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for r in rows:
                w.writerow([f"{v:.10g}" if isinstance(v, float) else ("" if v is None else v) for v in r])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def result_path(cfg: BenchmarkConfig, method: Method, dataset: str, condition: str, stem: str) -> Path:
    return cfg.output / "results" / method.name / dataset / condition / f"{stem}.png"


def run_quality(cfg: BenchmarkConfig, methods: list[Method], *, overwrite: bool = False, progress: bool = True,
                compute: bool = True, recompute_changed: bool = False) -> RunResult:
    """The main loop. ``compute=False`` only collects what is on disk (``--report-only``)."""
    from tqdm import tqdm

    from ..io import write_image

    res = RunResult()
    cache = InputCache(cfg.output / "inputs", cfg.seed, overwrite=overwrite and compute)
    names = list(cfg.metrics)
    for ds in cfg.datasets:
        pairs, problems = list_pairs(ds, cfg.limit)
        res.pairs[ds.name] = pairs
        res.problems += problems
    if compute:
        for m in methods:
            _check_identity(cfg, m, overwrite, recompute_changed)
    total = sum(len(p) for p in res.pairs.values()) * len(cfg.conditions) * len(methods)
    bar = tqdm(total=total, desc=f"benchmark {cfg.name}", unit="result", disable=not progress or not compute,
               dynamic_ncols=True)
    try:
        for ds in cfg.datasets:
            for cond in cfg.conditions:
                bar.set_postfix_str(f"{ds.name}/{cond}")
                ledgers = {m.name: Ledger(cfg.output / "metrics" / m.name / ds.name / f"{cond}.jsonl",
                                          reset=overwrite and compute) for m in methods}
                for pair in res.pairs[ds.name]:
                    box: dict[str, Any] = {}

                    def inputs() -> Inputs:  # loaded once per pair, only when something needs it
                        if "error" in box:
                            raise box["error"]
                        if "inputs" not in box:
                            try:
                                box["inputs"] = cache.get(ds.name, cond, pair)
                            except UserError as exc:
                                box["error"] = exc
                                raise
                        return box["inputs"]

                    for m in methods:
                        bar.update(1)
                        key = (ds.name, cond, m.name, pair.stem)
                        try:
                            row = _one(cfg, m, ds.name, cond, pair, ledgers[m.name], inputs, names, overwrite,
                                       compute, res, write_image)
                        except MethodError:
                            raise  # the method cannot run at all: stop rather than skip every image
                        except UserError as exc:
                            res.skipped.append((*key, str(exc)))
                            continue
                        except Exception as exc:  # one bad item must not end a long run; listed with its error
                            res.skipped.append((*key, f"{type(exc).__name__}: {exc}"))
                            continue
                        if row is not None:
                            res.rows.append(dict(zip(ROW_KEYS, key)) | row)
    finally:
        bar.close()
    return res


def _one(cfg, m: Method, dataset: str, cond: str, pair: Pair, ledger: Ledger, inputs, names: list[str],
         overwrite: bool, compute: bool, res: RunResult, write_image) -> dict[str, Any] | None:
    """Result and metrics of one (method, image): reuse what is valid on disk, compute the rest."""
    fused: Path | np.ndarray
    seconds = None
    pre = m.precomputed(dataset, cond, pair.stem)
    path = pre if pre is not None else result_path(cfg, m, dataset, cond, pair.stem)
    if pre is None and (overwrite or not path.is_file()):
        if not compute:
            return None
        inp = inputs()
        m.prepare()
        t0 = time.perf_counter()
        out = m.fuse(inp.ir, inp.vi, cond)
        seconds = time.perf_counter() - t0
        write_image(path, out, overwrite=True)
        res.computed += 1
        fused = out
    else:
        fused = path
    stamp = _file_stamp(path)
    rec = ledger.records.get(pair.stem)
    valid = (rec is not None and rec.get("result") == stamp and rec.get("convention") == cfg.convention
             and rec.get("reference") == cfg.reference)
    have = dict(rec.get("values", {})) if valid else {}
    errors = dict(rec.get("errors", {})) if valid else {}
    missing = [n for n in names if n not in have]
    if missing:
        if not compute:
            return None
        values, errs = _evaluate(fused, inputs(), missing, cfg)
        have.update(values)
        errors.update(errs)
        res.evaluated += 1
        if seconds is None and valid:
            seconds = rec.get("seconds")
        ledger.append({"image": pair.stem, "result": stamp, "convention": cfg.convention,
                       "reference": cfg.reference, "values": {k: (None if isinstance(v, float) and math.isnan(v)
                                                                  else v) for k, v in have.items()},
                       "errors": errors, "seconds": seconds})
    elif rec is not None:
        seconds = rec.get("seconds")
    for n, why in errors.items():
        if n in names:
            res.skipped.append((dataset, cond, m.name, pair.stem, f"{n} not computed: {why}"))
    vals = {n: (math.nan if have.get(n) is None else float(have[n])) for n in names}
    return {**vals, "seconds": seconds, "result": str(path)}


def prepare_inputs(cfg: BenchmarkConfig, *, overwrite: bool = False, progress: bool = True) -> RunResult:
    """Only write the degraded inputs (for methods run elsewhere, whose results come back as a folder method)."""
    from tqdm import tqdm

    res = RunResult()
    cache = InputCache(cfg.output / "inputs", cfg.seed, overwrite=overwrite)
    for ds in cfg.datasets:
        res.pairs[ds.name], problems = list_pairs(ds, cfg.limit)
        res.problems += problems
    jobs = [(ds.name, c, p) for ds in cfg.datasets for c in cfg.conditions if c != "clean" for p in res.pairs[ds.name]]
    for ds_name, cond, pair in tqdm(jobs, desc=f"inputs {cfg.name}", unit="pair", disable=not progress):
        try:
            cache.get(ds_name, cond, pair)
            res.computed += 1
        except UserError as exc:
            res.skipped.append((ds_name, cond, "-", pair.stem, str(exc)))
    return res


def write_tables(cfg: BenchmarkConfig, res: RunResult) -> list[Path]:
    """per_image.csv (every value) and skipped.csv (every skipped item with its reason)."""
    names = list(cfg.metrics)
    rows = [[r[k] for k in ROW_KEYS] + [r[n] for n in names] + [r["seconds"]] for r in res.rows]
    out = [_write_csv(cfg.output / "per_image.csv", [*ROW_KEYS, *names, "seconds"], rows)]
    out.append(_write_csv(cfg.output / "skipped.csv", [*ROW_KEYS, "reason"], [list(s) for s in res.skipped]))
    return out


def run_benchmark(cfg: BenchmarkConfig, *, command: str, overwrite: bool = False, progress: bool = True,
                  report_only: bool = False, speed: bool = True, quality: bool = True,
                  recompute_changed: bool = False) -> RunResult:
    """Run (or, with ``report_only``, just re-collect) a benchmark and write its CSVs, report, plots and docs.

    ``quality=False`` / ``speed=False`` skip computing that part; what an earlier run left on disk is still reported.
    ``recompute_changed`` recomputes the methods whose identity changed since their cached results were made (new
    weights, say) instead of refusing to run.
    """
    from . import report
    from .provenance import machine

    cfg.output.mkdir(parents=True, exist_ok=True)
    uses_torch = (cfg.speed is not None and speed) or any(s.type == "dspfusion" for s in cfg.methods)
    run_info = {"command": command, "config": str(cfg.source) if cfg.source else None, **machine(uses_torch)}
    stored = cfg.output / "run.json"
    if report_only and stored.is_file():  # the numbers come from the run that computed them: keep its provenance
        run_info = {**json.loads(stored.read_text(encoding="utf-8")), "rebuilt": f"{run_info['date']}: {command}"}
    methods = [make_method(s) for s in cfg.methods]
    res = RunResult()
    # a part that is not run this time is still collected from disk, so the report and docs stay complete
    if cfg.datasets:
        compute = quality and not report_only
        res = run_quality(cfg, methods, overwrite=overwrite and compute, progress=progress, compute=compute,
                          recompute_changed=recompute_changed)
        if compute:
            res.files += write_tables(cfg, res)
    if cfg.speed is not None:
        from .speed import read_speed_csv, run_speed, write_speed_csv

        if speed and not report_only:
            res.speed = run_speed(cfg, progress=progress)
            res.files.append(write_speed_csv(cfg.output / "speed.csv", res.speed))
        elif (cfg.output / "speed.csv").is_file():
            res.speed = read_speed_csv(cfg.output / "speed.csv")
    res.untrained = [m.name for m in methods if m.trained is False]
    if res.untrained:
        run_info["untrained"] = res.untrained
    if not report_only:
        _write_json(stored, run_info)
    res.files += report.write_all(cfg, res, methods, run_info)
    return res


def print_summary(cfg: BenchmarkConfig, res: RunResult, file=sys.stdout) -> None:
    n_pairs = sum(len(p) for p in res.pairs.values())
    print(f"benchmark {cfg.name}: {n_pairs} image pair(s) × {len(cfg.conditions)} condition(s) × "
          f"{len(cfg.methods)} method(s); {res.computed} result(s) computed, {res.evaluated} evaluated now, "
          f"{len(res.rows)} in the tables, {len(res.skipped)} skipped", file=file)
    for p in res.problems:
        print(f"  note: {p}", file=file)
    groups = group_skipped(res.skipped)
    for reason, items in groups[:10]:
        print(f"  skipped {len(items)}× ({'/'.join(items[0])}{', ...' if len(items) > 1 else ''}): {reason}", file=file)
    if len(groups) > 10:
        print(f"  ... and {len(groups) - 10} more reasons", file=file)
    if res.skipped:
        print(f"  every skipped item: {cfg.output / 'skipped.csv'}", file=file)


def group_skipped(skipped: list[tuple[str, ...]]) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Skipped items grouped by reason, most frequent first: [(reason, [(dataset, condition, method, image)])]."""
    groups: dict[str, list[tuple[str, ...]]] = {}
    for s in skipped:
        groups.setdefault(s[4], []).append(tuple(s[:4]))
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))


__all__ = ["RunResult", "Ledger", "run_benchmark", "run_quality", "prepare_inputs", "write_tables", "print_summary", "group_skipped",
           "result_path"]
