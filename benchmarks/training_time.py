"""Total wall time of a chain of training runs, from their logs copied by training_report.py (docs/training/).

Each log row holds the mean seconds per step since the previous row; the time of a stage is the sum of
s_per_step × steps over its rows (training_report.stage_seconds, as in each run's table).

    python benchmarks/training_time.py lite lite2 lite3 ... lite41
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_report import read, stage_seconds  # noqa: E402  (the per-run tables use the same sum)

LOGS = Path(__file__).resolve().parents[1] / "docs" / "training"


def run_seconds(path: Path) -> tuple[float, int]:
    """(seconds, steps) of one run's log, both stages."""
    rows = read(path)
    secs, steps = 0.0, 0
    for stage in sorted({r["stage"] for r in rows}):
        stage_rows = [r for r in rows if r["stage"] == stage]
        secs += stage_seconds(stage_rows)
        steps += int(stage_rows[-1]["step"])
    return secs, steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run names (docs/training/<name>_log.csv)")
    args = ap.parse_args(argv)
    total_s = total_n = 0
    for name in args.runs:
        path = LOGS / f"{name}_log.csv"
        if not path.is_file():
            raise SystemExit(f"{path}: no such log; copy it with benchmarks/training_report.py runs/{name} --name {name}")
        s, n = run_seconds(path)
        total_s, total_n = total_s + s, total_n + n
        print(f"{name:10s} {n:6d} steps {s / 60:7.1f} min")
    print(f"total      {total_n:6d} steps {total_s / 3600:7.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
