"""Paired differences between a candidate and other methods, per condition, with bootstrap confidence intervals.

``compare_methods.py`` counts the conditions where a candidate's *mean* is above another method's. A difference of
0.005 in a mean over 50 images may be the images, not the methods. This script reads a benchmark run's
``per_image.csv`` (every method scored on the same degraded inputs), and for each dataset, condition and rival:

* the mean over images of the paired difference d_i = candidate_i − rival_i (positive: candidate better, for a
  metric where higher is better; the sign is flipped for ``--lower-is-better`` metrics so that positive always
  favours the candidate);
* its 95 % percentile bootstrap interval (images resampled with replacement, ``--resamples`` times, seeded);
* the number of images where the candidate is better;
* a verdict: "above" if the whole interval is above 0, "below" if it is below 0, else "unresolved".

The rival ``best:<suffix>`` stands for, in each condition, the method ending in ``<suffix>`` with the best mean
there (e.g. ``best:+enh``: the strongest pre-enhance-then-fuse baseline of that condition, as issue 5's "beats
every baseline" asks). The interval says how sure the comparison is over these test images; it says nothing about
training seeds (a second training run is the check for that).

    python benchmarks/paired_differences.py runs/benchmarks/degraded/per_image.csv --candidate DSPFusion-lite \\
        --against lite-noprior best:+enh --metric Qabf --out benchmarks/results/paired_qabf.md
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from dspfusion.io import write_or_print

Scores = dict[str, dict[str, dict[str, dict[str, float]]]]  # dataset → condition → method → image → value


def load(path: Path, metric: str) -> Scores:
    """per_image.csv → {dataset: {condition: {method: {image: value}}}} for one metric (empty values skipped)."""
    out: Scores = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if metric not in (reader.fieldnames or []):
            raise SystemExit(f"{path}: no column {metric!r}; columns: {', '.join(reader.fieldnames or [])}")
        for r in reader:
            if r[metric] not in ("", "nan"):
                out[r["dataset"]][r["condition"]][r["method"]][r["image"]] = float(r[metric])
    if not out:
        raise SystemExit(f"{path}: no rows with a value of {metric!r}")
    return out


def bootstrap_ci(d: np.ndarray, resamples: int, rng: np.random.Generator, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``d`` (1-D)."""
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    means = d[idx].mean(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return float(lo), float(hi)


def resolve_rival(rival: str, methods: dict[str, dict[str, float]], higher: bool) -> str:
    """The method a rival names in one condition: itself, or for ``best:<suffix>`` the best mean of that suffix."""
    if not rival.startswith("best:"):
        if rival not in methods:
            raise SystemExit(f"no method {rival!r}; methods: {', '.join(sorted(methods))}")
        return rival
    suffix = rival[len("best:"):]
    group = [m for m in methods if m.endswith(suffix)]
    if not group:
        raise SystemExit(f"{rival}: no method ends in {suffix!r}; methods: {', '.join(sorted(methods))}")
    key = (lambda m: np.mean(list(methods[m].values())))
    return max(group, key=key) if higher else min(group, key=key)


def compare(scores: Scores, candidate: str, rivals: list[str], higher: bool = True, resamples: int = 10000,
            seed: int = 0) -> list[dict]:
    """One row per (dataset, condition, rival): the paired difference (positive favours the candidate), its interval,
    the images where the candidate is better, and the verdict."""
    rng = np.random.default_rng(seed)
    sign = 1.0 if higher else -1.0
    rows = []
    for ds in scores:
        for cond in sorted(scores[ds]):
            methods = scores[ds][cond]
            if candidate not in methods:
                raise SystemExit(f"{ds} / {cond}: no method {candidate!r}; methods: {', '.join(sorted(methods))}")
            for rival in rivals:
                other = resolve_rival(rival, {m: v for m, v in methods.items() if m != candidate}, higher)
                images = sorted(set(methods[candidate]) & set(methods[other]))
                if not images:
                    raise SystemExit(f"{ds} / {cond}: {candidate} and {other} share no image")
                d = sign * (np.array([methods[candidate][i] for i in images])
                            - np.array([methods[other][i] for i in images]))
                lo, hi = bootstrap_ci(d, resamples, rng)
                verdict = "above" if lo > 0 else "below" if hi < 0 else "unresolved"
                rows.append({"dataset": ds, "condition": cond, "rival": rival, "method": other, "n": len(images),
                             "diff": float(d.mean()), "lo": lo, "hi": hi, "wins": int((d > 0).sum()),
                             "verdict": verdict})
    return rows


def report(rows: list[dict], candidate: str, metric: str, higher: bool) -> str:
    lines = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        lines += [f"### {ds} · {metric} ({'higher' if higher else 'lower'} is better): {candidate} − rival", "",
                  "| condition | rival | difference | 95 % interval | images better | verdict |",
                  "| :-- | :-- | --: | :-: | --: | :-- |"]
        sub = [r for r in rows if r["dataset"] == ds]
        for r in sub:
            name = r["rival"] if r["rival"] == r["method"] else f"{r['rival']} ({r['method']})"
            lines.append(f"| {r['condition']} | {name} | {r['diff']:+.4f} | [{r['lo']:+.4f}, {r['hi']:+.4f}] | "
                         f"{r['wins']}/{r['n']} | {r['verdict']} |")
        lines.append("")
        for rival in dict.fromkeys(r["rival"] for r in sub):
            rs = [r for r in sub if r["rival"] == rival]
            count = {v: sum(r["verdict"] == v for r in rs) for v in ("above", "unresolved", "below")}
            lines.append(f"* against {rival}: above in {count['above']}, unresolved in {count['unresolved']}, "
                         f"below in {count['below']} of {len(rs)} conditions")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("per_image", type=Path, help="per_image.csv of a dspfusion benchmark run")
    ap.add_argument("--candidate", required=True)
    ap.add_argument("--against", nargs="+", required=True,
                    help="methods, or best:<suffix> for the best method of that suffix in each condition")
    ap.add_argument("--metric", default="Qabf")
    ap.add_argument("--lower-is-better", action="store_true", help="the metric is better when lower (e.g. NIQE)")
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write Markdown here (else print)")
    args = ap.parse_args(argv)
    if not args.per_image.is_file():
        raise SystemExit(f"{args.per_image}: no such file; give the per_image.csv a `dspfusion benchmark` run wrote")
    if args.resamples < 100:
        raise SystemExit(f"--resamples {args.resamples}: use at least 100 (default 10000)")
    higher = not args.lower_is_better
    rows = compare(load(args.per_image, args.metric), args.candidate, args.against, higher, args.resamples, args.seed)
    cmd = " ".join(["python benchmarks/paired_differences.py", str(args.per_image), "--candidate", args.candidate,
                    "--against", *args.against, "--metric", args.metric]
                   + (["--lower-is-better"] if args.lower_is_better else [])
                   + ([f"--resamples {args.resamples}"] if args.resamples != 10000 else [])
                   + ([f"--seed {args.seed}"] if args.seed else [])
                   + (["--out", str(args.out)] if args.out else []))
    title = f"# Paired differences with bootstrap intervals: {args.candidate} against {', '.join(args.against)} ({args.metric})\n\n"
    head = title + (f"Generated by `{cmd}`; do not edit by hand. Paired over the images both methods were scored on; "
            f"difference = mean of (candidate − rival), signed so that positive favours {args.candidate}; 95 % "
            f"percentile bootstrap interval over images ({args.resamples} resamples, seed {args.seed}); verdict "
            "'above' / 'below' when the interval excludes 0. `best:<suffix>` is the method of that suffix with the "
            "best mean in each condition. The interval covers the choice of test images, not of training seeds.\n\n")
    write_or_print(head + report(rows, args.candidate, args.metric, higher), args.out)


if __name__ == "__main__":
    main()
