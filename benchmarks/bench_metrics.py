"""Speed of dspfusion.metrics on one CPU core, per 640×480 image.

Budget (issue 4): EN, SD, SF, AG, MI, SCD, VIF, Qabf and SSIM together in at most 0.3 s per 640×480 image on
one core. The process is pinned to one core and every thread pool (OpenMP/BLAS, OpenCV) is limited to one
thread before the libraries load. Each measurement is the median of ``--runs`` runs after ``--warmup`` runs;
wall-clock time and the process's CPU time are both reported (on a shared machine the CPU time is the better
estimate of the cost on an idle core; the load average is recorded).

    python benchmarks/bench_metrics.py            # writes benchmarks/results/metrics_speed.{csv,md}
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(0)  # OpenCV: no threading at all

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dspfusion.metrics import CONVENTIONS, METRICS, evaluate, get_convention, load_grey  # noqa: E402

BUDGET_SET = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM")
BUDGET_S = 0.3
SHARED = REPO.parent / "shared"


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def test_images() -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """A real 640×480 TNO triple from ../shared when available, else smooth synthetic scenes."""
    fused_dir = SHARED / "golden" / "metrics" / "tno42_fused" / "IFCNN"
    src = SHARED / "data" / "test" / "tno42"
    if fused_dir.is_dir():
        for p in sorted(fused_dir.glob("*.png")):
            f = load_grey(p)
            if f.shape == (480, 640):
                return f, load_grey(src / "ir" / p.name), load_grey(src / "vi" / p.name), f"TNO {p.name} (IFCNN)"
    rng = np.random.default_rng(0)

    def scene() -> np.ndarray:
        x = cv2.GaussianBlur(rng.uniform(0, 255, (480, 640)), (0, 0), 4)
        return np.round((x - x.min()) / (x.max() - x.min()) * 255)

    a, b = scene(), scene()
    return np.round((a + b) / 2), a, b, "synthetic 640×480"


def measure(fn, runs: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()

    pinning = pin_to_one_core()
    f, a, b, source = test_images()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = []
    for conv_name in ("tang", "cddfuse", "tang2022"):
        conv = get_convention(conv_name)
        for name, metric in METRICS.items():
            wall, cpu = measure(lambda: metric.compute(f, a, b, conv), args.runs, args.warmup)
            rows.append({"convention": conv_name, "what": name, "wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3})
        for label, names in (("budget set via evaluate()", list(BUDGET_SET)),
                             ("13 fusion metrics via evaluate()", None)):
            wall, cpu = measure(lambda: evaluate(f, a, b, metrics=names, convention=conv), args.runs, args.warmup)
            rows.append({"convention": conv_name, "what": label, "wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3})
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "metrics_speed.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["convention", "what", "wall_ms", "cpu_ms"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "wall_ms": f"{r['wall_ms']:.2f}", "cpu_ms": f"{r['cpu_ms']:.2f}"})

    def get(conv: str, what: str) -> dict:
        return next(r for r in rows if r["convention"] == conv and r["what"] == what)

    cpu_name = platform.processor() or platform.machine()
    try:
        cpu_name = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        pass
    lines = [
        "# dspfusion.metrics speed (one CPU core, 640×480)",
        "",
        f"Image: {source}. {pinning}; OMP/BLAS threads = 1, cv2.setNumThreads(0). Median of {args.runs} runs after "
        f"{args.warmup} warm-up runs. CPU: {cpu_name}; Python {platform.python_version()}, numpy {np.__version__}, "
        f"OpenCV {cv2.__version__}. Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(wall time is inflated when the machine is shared; CPU time is the process's own).",
        "",
        f"Budget: {', '.join(BUDGET_SET)} together ≤ {BUDGET_S} s per image.",
        "",
        "| convention | budget set: wall ms | budget set: CPU ms | within budget (CPU) | 13 fusion metrics: wall ms |",
        "|---|---|---|---|---|",
    ]
    for conv in CONVENTIONS:
        bs, full = get(conv, "budget set via evaluate()"), get(conv, "13 fusion metrics via evaluate()")
        ok = "yes" if bs["cpu_ms"] <= BUDGET_S * 1e3 else "**no**"
        lines.append(f"| {conv} | {bs['wall_ms']:.1f} | {bs['cpu_ms']:.1f} | {ok} | {full['wall_ms']:.1f} |")
    lines += ["", "Per metric (ms per image, wall / CPU):", "",
              "| metric | " + " | ".join(CONVENTIONS) + " |", "|---|" + "---|" * len(CONVENTIONS)]
    for name in METRICS:
        cells = [f"{get(c, name)['wall_ms']:.1f} / {get(c, name)['cpu_ms']:.1f}" for c in CONVENTIONS]
        lines.append(f"| {name} {METRICS[name].arrow} | " + " | ".join(cells) + " |")
    (args.out / "metrics_speed.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
