"""Are two weight files of the same architecture equally fast? Interleaved timing on one machine, one process.

    python benchmarks/results/experiments/lite15/ab_speed.py runs/lite14/model-probe.safetensors \\
        dspfusion/weights/dspfusion-lite.safetensors

The benchmark's speed section measures one model at a time, minutes apart, so a machine that slows down between
two reruns shows up as a slower model. Here the models alternate run by run on the first MSRS91 test pair
(00004N.png, 640x480), after two warm-up runs each; printed: every run's milliseconds and the median.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.inference import Fuser  # noqa: E402
from dspfusion.io import read_image  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pair", default=None, help="IR image (default: the first of ../shared/data/test/msrs91/ir); "
                    "the VI image is the same path with /vi/")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.pair is None:
        args.pair = str(sorted((REPO.parent / "shared/data/test/msrs91/ir").glob("*.png"))[0])
    ir, vi = read_image(args.pair), read_image(args.pair.replace("/ir/", "/vi/"))
    fusers = {w: Fuser(load_model(w)[0], device="cpu") for w in args.weights}
    for f in fusers.values():
        f.fuse(ir, vi), f.fuse(ir, vi)
    times: dict[str, list[float]] = {w: [] for w in fusers}
    for _ in range(args.runs):
        for w, f in fusers.items():
            t0 = time.perf_counter()
            f.fuse(ir, vi)
            times[w].append((time.perf_counter() - t0) * 1000)
    print(f"{Path(args.pair).name} {ir.shape[1]}x{ir.shape[0]}, {args.runs} interleaved runs, 2 threads")
    for w, t in times.items():
        print(f"{w}: median {statistics.median(t):.1f} ms; runs {', '.join(f'{x:.0f}' for x in t)}")


if __name__ == "__main__":
    main()
