"""Speed of the classical baselines (dspfusion.baselines) on one 640x480 IR/VI pair, on the CPU.

For every fusion rule, every enhancer and every "enhance, then guided-filter fusion" pipeline,
the wall time of one call is measured ``--repeats`` times after ``--warmup`` untimed calls; the
median (and min/max) in milliseconds goes to ``benchmarks/results/baselines_speed.csv`` and
``.md``. Enhancers get an input carrying their own degradation (the seeded recipes of
tests/test_baselines.py), because several adapt to it (non-local means strength, deblur sigma).

The pair is the first daytime MSRS test scene from ../shared/data/test/msrs91 when present,
otherwise a seeded procedural scene of the same size.

    .venv/bin/python benchmarks/bench_baselines.py [--repeats 7] [--warmup 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dspfusion.baselines import ENHANCERS, FUSION_METHODS, pre_enhance_then_fuse  # noqa: E402
from dspfusion.io import write_csv_atomic, write_text_atomic  # noqa: E402

MSRS = ROOT.parent / "shared" / "data" / "test" / "msrs91"


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def load_pair() -> tuple[np.ndarray, np.ndarray, str]:
    """(IR grey, VI RGB, description): MSRS 00055D when available, else a procedural scene."""
    name = "00055D.png"
    ir = cv2.imread(str(MSRS / "ir" / name), cv2.IMREAD_GRAYSCALE)
    vi = cv2.imread(str(MSRS / "vi" / name), cv2.IMREAD_COLOR)
    if ir is not None and vi is not None and ir.shape == (480, 640):
        return ir, np.ascontiguousarray(vi[:, :, ::-1]), f"MSRS test {name}"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    vi_f = np.empty((480, 640, 3), np.float32)
    vi_f[:] = (0.2 + 0.3 * xx / 640)[:, :, None]
    for _ in range(20):
        y0, x0 = rng.integers(0, 440), rng.integers(0, 600)
        vi_f[y0 : y0 + rng.integers(20, 150), x0 : x0 + rng.integers(20, 200)] = rng.uniform(0.02, 0.8, 3)
    vi_f += 0.05 * np.sin(xx / 3.0)[:, :, None] * (yy > 240)[:, :, None]
    ir_f = 0.15 + 0.1 * yy / 480
    ir_f[(yy - 150) ** 2 + (xx - 450) ** 2 < 900] = 0.95
    return _u8(255 * ir_f), _u8(255 * np.clip(vi_f, 0, 1)), "procedural scene (shared data absent)"


def degrade(kind: str, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The seeded recipes of tests/test_baselines.py (0..255 scale)."""
    f = img.astype(np.float32)
    if kind == "Blur":
        return _u8(cv2.GaussianBlur(f, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT))
    if kind == "RN":
        return _u8(f + rng.normal(0.0, 15.0, img.shape))
    if kind == "SN":
        return _u8(f + rng.normal(0.0, 6.0, img.shape[1])[None, :])
    if kind == "LL":
        return _u8(255.0 * 0.3 * (f / 255.0) ** 2.5)
    if kind == "OE":
        return _u8(1.8 * f + 30.0)
    if kind == "LC":
        return _u8(0.5 * f + 90.0)
    if kind == "haze":
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        t = np.exp(-1.5 * (1.0 - np.hypot(yy - h / 2, xx - w / 2) / np.hypot(h / 2, w / 2)))
        t = t[:, :, None] if img.ndim == 3 else t
        return _u8(255.0 * ((f / 255.0) * t + 0.8 * (1.0 - t)))
    if kind == "Rain":
        h, w = img.shape[:2]
        layer = np.zeros((h, w), np.float32)
        for _ in range(120):
            x0, y0, length = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 45)
            x1, y1 = x0 + length * np.cos(np.deg2rad(70)), y0 + length * np.sin(np.deg2rad(70))
            cv2.line(layer, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, 1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (3, 3), 0.7)
        layer = layer[:, :, None] if img.ndim == 3 else layer
        return _u8(255.0 * (f / 255.0 + 0.35 * layer * (1.0 - f / 255.0)))
    raise ValueError(kind)


def time_ms(fn, warmup: int, repeats: int) -> tuple[float, float, float]:
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(1000.0 * (time.perf_counter() - t0))
    return statistics.median(runs), min(runs), max(runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per entry (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    ir, vi, source = load_pair()
    rng = np.random.default_rng(0)
    jobs = []
    for name, fn in FUSION_METHODS.items():
        jobs.append(("fusion", name, lambda fn=fn: fn(ir, vi)))
    for (modality, kind), fn in ENHANCERS.items():
        img = degrade(kind, ir if modality == "ir" else vi, rng)
        jobs.append(("enhancer", f"{modality}:{kind} ({fn.__name__})", lambda fn=fn, img=img: fn(img)))
    for (modality, kind) in ENHANCERS:
        ir_in = degrade(kind, ir, rng) if modality == "ir" else ir
        vi_in = degrade(kind, vi, rng) if modality == "vi" else vi
        kw = {"ir_type": kind} if modality == "ir" else {"vi_type": kind}
        jobs.append(
            ("pipeline", f"{modality}:{kind} + guided",
             lambda a=ir_in, b=vi_in, kw=kw: pre_enhance_then_fuse(a, b, "guided", **kw))
        )

    rows = []
    for group, name, fn in tqdm(jobs, desc="baselines", unit="entry"):
        med, lo, hi = time_ms(fn, args.warmup, args.repeats)
        rows.append(
            {"group": group, "name": name, "median_ms": round(med, 1), "min_ms": round(lo, 1), "max_ms": round(hi, 1)}
        )

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    info = (
        f"{source}, IR {ir.shape[1]}x{ir.shape[0]} grey, VI RGB; {args.repeats} timed runs after "
        f"{args.warmup} warm-up; {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads, numpy {np.__version__}; "
        f"1-min load average at the end {load:.1f}"
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out_dir / "baselines_speed.csv", rows)
    md = [
        "# Classical baselines: milliseconds per 640x480 pair (CPU)",
        "",
        info + ".",
        "",
        "| group | name | median ms | min ms | max ms |",
        "|---|---|---:|---:|---:|",
    ]
    md += [f"| {r['group']} | {r['name']} | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} |" for r in rows]
    write_text_atomic(args.out_dir / "baselines_speed.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
