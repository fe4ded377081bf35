"""Put two runs of the degraded benchmark side by side for compare_methods.py: every row of the NEW summary.csv,
plus the rows of the OLD one for the methods named in --rename, under their new names.

    python benchmarks/results/experiments/lite15/merge_summaries.py NEW.csv OLD.csv OUT.csv \\
        --rename DSPFusion-lite=lite14 lite-noprior=noprior14

Used to compare the shipped weights before and after an update on the full sets, where the benchmark keeps only
the newest results of a method name (the images and metric code are the same in both runs).
"""
from __future__ import annotations

import argparse
import csv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("old")
    ap.add_argument("out")
    ap.add_argument("--rename", nargs="+", required=True, help="OLD_NAME=NEW_NAME for the old run's methods to keep")
    args = ap.parse_args()
    rename = dict(item.split("=", 1) for item in args.rename)
    with open(args.new, newline="") as f:
        rows = list(csv.DictReader(f))
    names = {r["method"] for r in rows}
    clash = names & set(rename.values())
    if clash:
        raise SystemExit(f"{args.new} already has method(s) {', '.join(sorted(clash))}: pick other names")
    with open(args.old, newline="") as f:
        for r in csv.DictReader(f):
            if r["method"] in rename:
                rows.append({**r, "method": rename[r["method"]]})
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
