"""What copying one input scores: each degraded input taken as the "fused" image, against the clean sources.

The degraded protocol (docs/BENCHMARKS.md) scores a fused image against the *clean* sources. When only one modality
is degraded, the other input is one of those clean sources, unchanged, and a full-reference metric can reward
handing it back: Qabf weighs each source's edges by their strength, so an image that keeps the clean source's edges
exactly (and drops the degraded one's) collects that source's whole share. This script measures that reference
point, as the max baseline is measured beside the clean benchmark: it reads the degraded inputs a benchmark run
wrote (``<run>/inputs/<dataset>/<condition>/{ir,vi}/<stem>.png``, the bytes every method saw), scores each input
as if it were the fused image with the benchmark's metrics, convention and clean references
(:func:`dspfusion.metrics.evaluate`, as ``dspfusion benchmark`` does), and tabulates the means beside the methods of
the run's ``summary.csv``. No input is changed: "IR input" under a VI condition is the clean IR image itself.

    python benchmarks/source_copy.py --config configs/benchmarks/degraded.yaml --run runs/benchmarks/degraded \\
        --methods DSPFusion-lite lite-noprior GFF+enh Laplacian+enh max+enh --metrics Qabf VIF MI \\
        --out benchmarks/results/source_copy.md

The copies do not depend on any method, so after a model changes only its rows need the new run: ``--copies-from
benchmarks/results/source_copy.csv`` takes the copies' means from the CSV an earlier run wrote (checked to cover the
same data sets and conditions with as many pairs) and reads the methods' rows from the new summary.csv.

Writes Markdown (and the per-condition means as CSV beside it, ``.csv``): per data set and metric, one row per copy
and per method, a column per condition and the mean; then, per condition, whether a copy scores above every fusion
method listed. Higher is better for every metric this accepts (the no-reference NIQE judges an input's own
quality, not a comparison, and is left out).
"""
from __future__ import annotations

import argparse
import csv
import functools
import io
import shlex
import sys
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from dspfusion.benchmark.config import load_config
from dspfusion.benchmark.inputs import Pair, list_pairs, load_clean
from dspfusion.io import read_image, write_text_atomic
from dspfusion.metrics import evaluate

COPIES = {"ir": "IR input (copied)", "vi": "VI input (copied)"}
TITLE = "# What copying one input scores (degraded sets, against the clean sources)"
INTRO = ("Each degraded input scored as if it were the fused image, against the clean sources, with the benchmark's "
         "metrics (means over the images; higher is better); the methods' rows are the run's summary.csv. Under a "
         "condition that degrades one modality only, the other input is a clean source itself, unchanged.")
FULL_REFERENCE = ("Qabf", "VIF", "MI", "SSIM", "SCD", "Nabf")


@functools.lru_cache(maxsize=4)
def _clean(stem: str, ir_path: str, vi_path: str) -> tuple[np.ndarray, np.ndarray]:
    """A clean pair, read once per worker for all its conditions (jobs come ordered by image, then condition)."""
    return load_clean(Pair(stem, Path(ir_path), Path(vi_path)))


def _score(job: tuple) -> tuple[str, str, str, dict[str, dict[str, float]]]:
    """One degraded pair: the metrics of each input taken as the fused image (clean sources as references)."""
    ds, cond, stem, ir_path, vi_path, clean_ir_path, clean_vi_path, metrics, convention = job
    ref_ir, ref_vi = _clean(stem, clean_ir_path, clean_vi_path)
    ir, vi = read_image(ir_path), read_image(vi_path)
    out = {k: evaluate(img, ir, vi, metrics=metrics, convention=convention, ref_ir=ref_ir, ref_vi=ref_vi)
           for k, img in (("ir", ir), ("vi", vi))}
    return ds, cond, stem, out


def jobs(config: Path, run: Path, metrics: list[str], limit: int | None) -> list[tuple]:
    """Every degraded pair the run wrote, with its clean sources found through the config's data sets."""
    cfg = load_config(config)
    out = []
    for spec in cfg.datasets:
        folder = run / "inputs" / spec.name
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no degraded inputs for {spec.name}; run `dspfusion benchmark {config}` "
                             "(or with --inputs-only) first")
        clean = {p.stem: p for p in list_pairs(spec)[0]}
        for cond in sorted(p for p in folder.iterdir() if p.is_dir()):
            stems = sorted(p.stem for p in (cond / "vi").glob("*.png"))[:limit]
            for stem in stems:
                if stem not in clean:
                    raise SystemExit(f"{cond / 'vi' / stem}.png: no clean pair {stem!r} in {spec.root}")
                out.append((spec.name, cond.name, stem, str(cond / "ir" / f"{stem}.png"),
                            str(cond / "vi" / f"{stem}.png"), str(clean[stem].ir), str(clean[stem].vi),
                            metrics, cfg.convention))
    return sorted(out, key=lambda j: (j[0], j[2], j[1]))  # by image, so a worker reuses the clean pair it read


def read_summary(path: Path) -> dict[tuple[str, str, str, str], float]:
    """summary.csv → {(dataset, condition, method, metric): mean}."""
    with open(path, newline="") as f:
        return {(r["dataset"], r["condition"], r["method"], r["metric"]): float(r["mean"])
                for r in csv.DictReader(f) if r["mean"] not in ("", "nan")}


def copy_means(copies: dict[tuple[str, str, str, str], list[float]]) -> dict[tuple[str, str, str, str], tuple[float, int]]:
    """Per-pair scores → {(dataset, condition, "ir"/"vi", metric): (mean, pairs)}."""
    return {k: (float(np.mean(v)), len(v)) for k, v in copies.items()}


def read_copies(path: Path, metrics: list[str]) -> dict[tuple[str, str, str, str], tuple[float, int]]:
    """The copies' means of an earlier output's CSV (``--copies-from``), as :func:`copy_means` gives them."""
    keys = {label: key for key, label in COPIES.items()}
    if not path.is_file():
        raise SystemExit(f"{path}: not found (--copies-from takes the .csv an earlier run of this script wrote)")
    with open(path, newline="") as f:
        out = {(r["dataset"], r["condition"], keys[r["row"]], r["metric"]): (float(r["mean"]), int(r["n"]))
               for r in csv.DictReader(f) if r["row"] in keys}
    have = {k[3] for k in out}
    if set(metrics) - have:
        raise SystemExit(f"{path}: no copies scored with {', '.join(sorted(set(metrics) - have))}; it has "
                         f"{', '.join(sorted(have))} (drop --copies-from to score them)")
    return {k: v for k, v in out.items() if k[3] in metrics}


def check_copies(copies: dict[tuple[str, str, str, str], tuple[float, int]], todo: list[tuple], path: Path) -> None:
    """Exit unless the reused copies cover exactly the run's data sets and conditions, with as many pairs each."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for job in todo:
        counts[job[0], job[1]] += 1
    reused = {(k[0], k[1]): v[1] for k, v in copies.items()}
    if reused != dict(counts):
        diff = sorted(set(reused.items()) ^ set(counts.items()))
        raise SystemExit(f"{path}: its copies do not match the run's inputs (data set, condition, pairs differing: "
                         f"{diff[:4]}); drop --copies-from to score the inputs again")


def report(copies: dict, summary: dict, methods: list[str], metrics: list[str], command: str) -> tuple[str, str]:
    """(markdown, csv) of the copies' means (:func:`copy_means`) beside the methods' means."""
    datasets = list(dict.fromkeys(k[0] for k in copies))  # in the config's order
    lines = [TITLE, "", f"Generated by `{command}`; do not edit by hand. " + INTRO, ""]
    rows_csv = [["dataset", "condition", "row", "metric", "mean", "n"]]
    for ds in datasets:
        conds = sorted({k[1] for k in copies if k[0] == ds})
        n = copies[ds, conds[0], "ir", metrics[0]][1]
        for metric in metrics:
            lines += [f"### {ds} · {metric} ({n} pairs per condition)", "",
                      "| row | " + " | ".join(conds) + " | mean |", "| :-- |" + " --: |" * (len(conds) + 1)]
            table: dict[str, list[float]] = {}
            for key, label in COPIES.items():
                table[label] = [copies[ds, c, key, metric][0] for c in conds]
            for m in methods:
                table[m] = [summary.get((ds, c, m, metric), float("nan")) for c in conds]
            for label, vals in table.items():
                lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {np.mean(vals):.3f} |")
                for c, v in zip(conds, vals):
                    rows_csv.append([ds, c, label, metric, f"{v:.6f}",
                                     str(copies[ds, c, "ir", metric][1]) if label in COPIES.values() else ""])
            lines.append("")
            present = [m for m in methods if all((ds, c, m, metric) in summary for c in conds)]
            for label in COPIES.values():
                above = [c for i, c in enumerate(conds) if all(table[label][i] > table[m][i] for m in present)]
                lines.append(f"* {label} above every method listed ({', '.join(present)}) in {len(above)} of "
                             f"{len(conds)} conditions" + (f": {', '.join(above)}" if above else ""))
            lines.append("")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows_csv)
    return "\n".join(lines), buf.getvalue()


def score_copies(todo: list[tuple], workers: int) -> dict[tuple[str, str, str, str], list[float]]:
    """Score every job's two inputs → {(dataset, condition, "ir"/"vi", metric): per-pair values}."""
    copies: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    pool = Pool(workers) if workers > 1 else None  # 1: in this process (no pickling of _score)
    try:
        results = pool.imap(_score, todo, chunksize=4) if pool else map(_score, todo)
        for i, (ds, cond, _stem, out) in enumerate(results, 1):
            for key, vals in out.items():
                for metric, v in vals.items():
                    copies[ds, cond, key, metric].append(v)
            if i % 200 == 0 or i == len(todo):
                print(f"{i}/{len(todo)} pairs", file=sys.stderr, flush=True)
    finally:
        if pool:
            pool.close()
            pool.join()
    return copies


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=Path("configs/benchmarks/degraded.yaml"))
    ap.add_argument("--run", type=Path, default=Path("runs/benchmarks/degraded"))
    ap.add_argument("--methods", nargs="+", default=["DSPFusion-lite", "GFF+enh", "Laplacian+enh", "max+enh"],
                    help="rows from the run's summary.csv shown beside the copies")
    ap.add_argument("--metrics", nargs="+", default=["Qabf", "VIF", "MI"], choices=FULL_REFERENCE)
    ap.add_argument("--limit", type=int, default=None, help="first N pairs of each condition (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--out", type=Path, default=None, help="Markdown file (CSV beside it); default: print")
    ap.add_argument("--copies-from", type=Path, default=None, metavar="CSV",
                    help="take the copies' means from the CSV an earlier run wrote instead of scoring the inputs again "
                         "(they do not depend on any method: after a model changes, only its rows do); checked to "
                         "cover the same data sets and conditions with as many pairs")
    args = ap.parse_args(argv)
    summary_path = args.run / "summary.csv"
    if not summary_path.is_file():
        raise SystemExit(f"{summary_path}: not found; run `dspfusion benchmark {args.config}` first")
    summary = read_summary(summary_path)
    missing = [m for m in args.methods if not any(k[2] == m for k in summary)]
    if missing:
        raise SystemExit(f"{summary_path}: no method {', '.join(missing)}; methods: "
                         f"{', '.join(sorted({k[2] for k in summary}))}")
    todo = jobs(args.config, args.run, args.metrics, args.limit)
    if args.copies_from is not None:
        means = read_copies(args.copies_from, args.metrics)
        check_copies(means, todo, args.copies_from)
    else:
        means = copy_means(score_copies(todo, args.jobs))
    command = "python benchmarks/source_copy.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    md, table = report(means, summary, args.methods, args.metrics, command)
    if args.out is None:
        print(md)
        return
    write_text_atomic(args.out, md + "\n")
    write_text_atomic(args.out.with_suffix(".csv"), table)
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
