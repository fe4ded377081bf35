"""Reuse a method's fused images from one benchmark cache in another, when they are provably the same computation.

A candidate checked in an experiment's benchmark copy (e.g. runs/benchmarks/msrs_scale, whose degraded inputs are
hard links to runs/benchmarks/degraded's) has already fused every degraded input the main benchmark would give it.
Once the candidate is installed under another method name (DSPFusion-lite, lite-noprior), `dspfusion benchmark
--recompute-changed` would fuse them all again. This script hard-links the results instead, after checking that
they are the same computation:

* the source method's recorded identity and the target method's identity (from the target config, computed now)
  agree on everything but the checkpoint's name and path (type, seed, steps, stretch; a classical baseline's fusion
  rule and pre-enhancement), and, for a model, the weights files hold the same fusion tensors and model config (the
  diagnosis probe's tensors and fields may differ: a probe refit does not change the fused image), and the source's
  file is still the one its results were made with;
* every input the results were made from is the same file (same inode) in both caches, so the seeded degradations
  are identical.

It then replaces the target's results/<method> with hard links to the source's, copies the source's metric records
with their result paths rewritten (the stamps' size and mtime are those of the same inode, so the metrics already
computed stay valid and only the missing ones are computed), and writes the target's methods/<method>.json. Nothing
is written if a check fails. The benchmark itself is then run as usual and computes whatever metrics are missing.

    PYTHONPATH=. python benchmarks/reuse_results.py --config configs/benchmarks/degraded.yaml \
        --source runs/benchmarks/msrs_scale --map lite65h=DSPFusion-lite noprior60h=lite-noprior
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from dspfusion.benchmark.config import load_config
from dspfusion.benchmark.methods import make_method, weights_identity

# identity fields that may differ between the two caches: the checkpoint string names the weights, which are compared
# by their fusion tensors instead; every other field (seed, steps, a baseline's fusion rule and pre-enhancement ...)
# must be equal
_NAMES_WEIGHTS = ("checkpoint", "weights")


def _fusion_digest(ident: dict) -> str | None:
    """The weights' ``fusion_sha256`` (dspfusion.benchmark.methods.fusion_sha256: every tensor but the diagnosis
    probe's and the model config without its probe fields) of a method identity. A record written before identities
    carried that field is computed from its file, and only if the file is still the one recorded (the recorded sha256
    hashes the file's name and bytes); None otherwise."""
    w = ident.get("weights") or {}
    if "fusion_sha256" in w:
        return w["fusion_sha256"]
    path = Path(w["path"]) if w.get("path") else None
    if path is None or not path.is_file():
        return None
    now = weights_identity(str(path))
    return now["fusion_sha256"] if now["sha256"] == w.get("sha256") else None


def _inputs_same(source: Path, target: Path, dataset: str) -> tuple[int, list[str]]:
    """Count the input files of one dataset shared (same inode) by the two caches; list those that differ."""
    src, dst = source / "inputs" / dataset, target / "inputs" / dataset
    n, bad = 0, []
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        g = dst / f.relative_to(src)
        if not g.is_file() or os.stat(f).st_ino != os.stat(g).st_ino:
            bad.append(str(g))
        n += 1
    return n, bad


def reuse(config: Path, source: Path, pairs: list[tuple[str, str]], dry_run: bool = False) -> None:
    cfg = load_config(config)
    target = cfg.output
    methods = {s.name: s for s in cfg.methods}
    plans = []
    for src_name, dst_name in pairs:
        if dst_name not in methods:
            sys.exit(f"reuse_results: {config} has no method {dst_name!r} (it has {sorted(methods)})")
        record = source / "methods" / f"{src_name}.json"
        if not record.is_file():
            sys.exit(f"reuse_results: {record} does not exist: {source} holds no results of a method {src_name!r}")
        have = json.loads(record.read_text(encoding="utf-8"))
        ident = json.loads(json.dumps(make_method(methods[dst_name]).identity()))
        diff = [k for k in sorted(set(have) | set(ident)) if k not in _NAMES_WEIGHTS and have.get(k) != ident.get(k)]
        if have.get("weights") or ident.get("weights"):  # a classical baseline has no weights to compare
            digest = _fusion_digest(have)
            if digest is None or digest != _fusion_digest(ident):
                diff.append("weights (fusion tensors and config)")
        if diff:
            sys.exit(f"reuse_results: {source}/methods/{src_name}.json and {dst_name} in {config} differ in "
                     f"{diff}: {have} against {ident}; the results cannot be reused")
        res = source / "results" / src_name
        if not res.is_dir():
            sys.exit(f"reuse_results: {res} does not exist")
        plans.append((src_name, dst_name, ident))
    for ds in sorted({p.parent.name for src_name, _ in pairs for p in (source / "results" / src_name).glob("*/*")}):
        n, bad = _inputs_same(source, target, ds)
        if bad:
            sys.exit(f"reuse_results: {len(bad)} of {n} {ds} inputs differ between {source} and {target} "
                     f"(e.g. {bad[0]}); the results were made from other inputs and cannot be reused")
        print(f"{ds}: {n} inputs are the same files in both caches")
    for src_name, dst_name, ident in plans:
        files = sorted(p for p in (source / "results" / src_name).rglob("*.png"))
        print(f"{src_name} -> {dst_name}: {len(files)} results" + (" (dry run)" if dry_run else ""))
        if dry_run:
            continue
        for sub in ("results", "metrics"):
            d = target / sub / dst_name
            if d.exists():
                shutil.rmtree(d)
        for f in files:
            g = target / "results" / dst_name / f.relative_to(source / "results" / src_name)
            g.parent.mkdir(parents=True, exist_ok=True)
            os.link(f, g)
        old = str((source / "results" / src_name).resolve())
        new = str((target / "results" / dst_name).resolve())
        for led in sorted((source / "metrics" / src_name).rglob("*.jsonl")):
            out = target / "metrics" / dst_name / led.relative_to(source / "metrics" / src_name)
            out.parent.mkdir(parents=True, exist_ok=True)
            lines = []
            for line in led.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                p = str(Path(rec["result"]["path"]).resolve())
                if p.startswith(old):
                    rec["result"]["path"] = new + p[len(old):]
                lines.append(json.dumps(rec, sort_keys=True))
            out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (target / "methods").mkdir(parents=True, exist_ok=True)
        tmp = target / "methods" / f".{dst_name}.json.tmp"
        tmp.write_text(json.dumps(ident, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, target / "methods" / f"{dst_name}.json")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, required=True, help="the benchmark config whose cache receives the results")
    ap.add_argument("--source", type=Path, required=True, help="the benchmark output folder the results come from")
    ap.add_argument("--map", nargs="+", required=True, metavar="SOURCE=TARGET",
                    help="method names: the source cache's name = the target config's name")
    ap.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    a = ap.parse_args(argv)
    pairs = []
    for m in a.map:
        if "=" not in m:
            ap.error(f"--map {m!r}: expected SOURCE=TARGET")
        s, t = m.split("=", 1)
        pairs.append((s, t))
    reuse(a.config, a.source, pairs, a.dry_run)


if __name__ == "__main__":
    main()
