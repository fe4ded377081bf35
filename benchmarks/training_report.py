"""Summarise a training run (log.csv, val.csv) into its generated section of the training docs and copy the logs.

    python benchmarks/training_report.py runs/lite --name lite

Writes docs/training/<name>_log.csv, <name>_val.csv, <name>_loss.png and replaces the section between
``<!-- BEGIN training:<name> -->`` and ``<!-- END training:<name> -->`` in whichever of docs/TRAINING.md,
docs/EXPERIMENTS.md and docs/TRAINING_REPORTS.md holds them (the first that does). A run without a section yet gets
a new one in docs/TRAINING_REPORTS.md, which is ordered newest first: headed ``## `<name>` (<title>)`` (``--title``)
and placed before the first existing ``## `` section, so right after the file's introduction.

    python benchmarks/training_report.py runs/lite50 --name lite50 --title "the shipped lite48 continued; not shipped"
"""
from __future__ import annotations

import argparse
import csv
import platform
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dspfusion.io import write_text_atomic  # noqa: E402


DOCS = ("TRAINING.md", "EXPERIMENTS.md", "TRAINING_REPORTS.md")  # searched for a run's markers, in this order


def report_doc(docs: Path, begin: str, end: str) -> Path:
    """The training doc under ``docs`` that holds both markers, else docs/TRAINING_REPORTS.md (new runs)."""
    for name in DOCS:
        path = docs / name
        if path.exists():
            text = path.read_text()
            if begin in text and end in text:
                return path
    return docs / DOCS[-1]


def place_section(text: str, name: str, body: str, title: str = "") -> str:
    """``text`` with the report ``body`` of run ``name`` in place of its marked section, or, when the markers are
    absent, as a new ``## `` section before the first existing one (the newest-first order of TRAINING_REPORTS.md;
    at the end when the text has none)."""
    b, e = f"<!-- BEGIN training:{name} -->", f"<!-- END training:{name} -->"
    if b in text and e in text:
        return text[: text.index(b)] + body + text[text.index(e) + len(e):]
    heading = f"## `{name}`" + (f" ({title})" if title else "")
    section = f"{heading}\n\n{body}\n"
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("## "):
            return "".join(lines[:i]) + section + "\n" + "".join(lines[i:])
    return text.rstrip() + "\n\n" + section


def read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def stage_seconds(rows: list[dict]) -> float:
    """Wall seconds of one stage's log rows: each row's s_per_step covers the steps since the previous row."""
    prev, secs = 0, 0.0
    for r in rows:
        s = int(r["step"])
        secs += float(r["s_per_step"]) * (s - prev)
        prev = s
    return secs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", default="lite")
    ap.add_argument("--title", default="", help="what the run is, for the heading of a new section "
                    "(ignored when the run's section exists)")
    args = ap.parse_args()
    out = REPO / "docs" / "training"
    out.mkdir(parents=True, exist_ok=True)
    log, val = read(args.run / "log.csv"), read(args.run / "val.csv") if (args.run / "val.csv").exists() else []
    shutil.copy(args.run / "log.csv", out / f"{args.name}_log.csv")
    if val:
        shutil.copy(args.run / "val.csv", out / f"{args.name}_val.csv")

    lines = []
    for stage in ("1", "2"):
        rows = [r for r in log if r["stage"] == stage]
        if not rows:
            continue
        steps = int(rows[-1]["step"])
        secs = stage_seconds(rows)
        first = sum(float(r["loss"]) for r in rows[:5]) / min(5, len(rows))
        last = sum(float(r["loss"]) for r in rows[-5:]) / min(5, len(rows))
        lines.append(f"| {stage} | {steps} | {secs / 60:.1f} | {secs / max(steps, 1):.2f} | {first:.3f} | {last:.3f} |")
    table = ["| stage | steps | wall time (min) | s/step | train loss, first 5 logs | train loss, last 5 logs |",
             "|---|---|---|---|---|---|", *lines]
    vt = []
    if val:
        keys = [k for k in val[0] if k not in ("stage", "step")]
        vt = ["| stage | step | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 2)]
        vt += ["| " + " | ".join([r["stage"], r["step"]] + [r.get(k, "") for k in keys]) + " |" for r in val]

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.2))
        for stage in ("1", "2"):
            rows = [r for r in log if r["stage"] == stage]
            if rows:
                off = 0 if stage == "1" else max((int(r["step"]) for r in log if r["stage"] == "1"), default=0)
                ax.plot([int(r["step"]) + off for r in rows], [float(r["loss"]) for r in rows], lw=0.8, label=f"stage {stage}")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"{args.name}_loss.png", dpi=110)
        plot = f"\n![training loss](training/{args.name}_loss.png)\n"
    except ImportError:
        plot = ""

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    body = "\n".join([
        f"<!-- BEGIN training:{args.name} -->",
        f"Generated by `python benchmarks/training_report.py {args.run} --name {args.name}` on {stamp} "
        f"({platform.machine()}, {__import__('os').cpu_count()} CPU cores). Logs: `docs/training/{args.name}_log.csv`, "
        f"`docs/training/{args.name}_val.csv`.",
        "", *table, "", "Validation (held-out pairs, centre crops; Stage I uses the clean semantic prior as the official "
        "validation does, Stage II the SPDM-restored prior):", "", *vt, plot,
        f"<!-- END training:{args.name} -->",
    ])
    b, e = f"<!-- BEGIN training:{args.name} -->", f"<!-- END training:{args.name} -->"
    doc = report_doc(REPO / "docs", b, e)
    text = doc.read_text() if doc.exists() else "# Training reports\n"
    write_text_atomic(doc, place_section(text, args.name, body, args.title))
    print(f"updated {doc}")


if __name__ == "__main__":
    main()
