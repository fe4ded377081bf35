"""Training-data throughput: samples/s of the paired datasets through a torch DataLoader, and ms per degradation.

Target (issue 3): at least 20 samples/s at 128x128 crops with 2 workers, contrastive sets included, so that loading
is not the bottleneck of CPU training. Each configuration is timed ``--repeats`` times over ``--batches`` batches
after ``--warmup`` batches (persistent workers, so the per-worker image caches stay warm between repeats); the
median is reported. "cold" is the very first pass of fresh workers with empty caches (decoding included).

Writes benchmarks/results/dataloader.csv and dataloader.md.

    .venv/bin/python benchmarks/bench_dataloader.py [--workers 2] [--batches 40] [--repeats 3]
"""
from __future__ import annotations

import argparse
import csv
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dspfusion.data import OfficialLayoutDataset, SyntheticPairDataset  # noqa: E402
from dspfusion.degradations import IR_TYPES, VI_TYPES, degrade  # noqa: E402

SAMPLE = REPO.parent / "shared" / "data" / "train" / "dspf_hybrid_sample"


def time_loader(ds, workers: int, batch: int, batches: int, warmup: int, repeats: int) -> dict:
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0)
    it = iter(loader)

    def take(n: int) -> float:
        nonlocal it
        t0 = time.perf_counter()
        for _ in range(n):
            try:
                next(it)
            except StopIteration:
                it = iter(loader)
                next(it)
        return time.perf_counter() - t0

    cold = take(warmup)
    runs = [batches * batch / take(batches) for _ in range(repeats)]
    # shut the persistent workers down before the next configuration forks new ones (forking while the old
    # workers' queue threads run can deadlock the children)
    del it, loader
    gc.collect()
    return {"cold": warmup * batch / cold, "median": statistics.median(runs), "min": min(runs), "max": max(runs)}


def time_degradations(repeats: int = 30) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for size in ((128, 128), (480, 640)):
        vi = (rng.random(size + (3,)) * 255).astype(np.uint8)
        vi = np.ascontiguousarray(np.sort(vi, axis=1))  # some structure, full range
        ir = vi[..., 1].copy()
        for modality, types in (("vi", VI_TYPES), ("ir", IR_TYPES)):
            img = vi if modality == "vi" else ir
            for kind in types:
                for _ in range(3):
                    degrade(img, modality, kind, rng)
                ts = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    degrade(img, modality, kind, rng)
                    ts.append(time.perf_counter() - t0)
                rows.append({"what": f"{modality}_{kind}", "size": f"{size[1]}x{size[0]}",
                             "ms_median": 1000 * statistics.median(ts)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    torch.manual_seed(0)

    configs = [
        ("synthetic, contrastive, lazy cache", lambda: SyntheticPairDataset(crop=args.crop, seed=0)),
        ("synthetic, contrastive, preloaded", lambda: SyntheticPairDataset(crop=args.crop, seed=0, preload=True)),
        ("synthetic, no contrastive (Stage II)", lambda: SyntheticPairDataset(crop=args.crop, seed=0,
                                                                             contrastive=False)),
    ]
    if SAMPLE.is_dir():
        configs.append(("official layout sample, contrastive",
                        lambda: OfficialLayoutDataset(SAMPLE, crop=args.crop, split="train")))
    rows = []
    for name, make in configs:
        t0 = time.perf_counter()
        ds = make()
        setup = time.perf_counter() - t0
        r = time_loader(ds, args.workers, args.batch, args.batches, args.warmup, args.repeats)
        row = {"what": name, "workers": args.workers, "batch": args.batch, "crop": args.crop, "items": len(ds),
               "setup_s": round(setup, 2), "cold_sps": round(r["cold"], 1), "median_sps": round(r["median"], 1),
               "min_sps": round(r["min"], 1), "max_sps": round(r["max"], 1)}
        print(row, flush=True)
        rows.append(row)
    deg = time_degradations()

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "dataloader.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "what", "size_or_items", "workers", "batch", "setup_s", "cold", "median", "min", "max",
                    "unit"])
        for r in rows:
            w.writerow(["loader", r["what"], r["items"], r["workers"], r["batch"], r["setup_s"], r["cold_sps"],
                        r["median_sps"], r["min_sps"], r["max_sps"], "samples/s"])
        for r in deg:
            w.writerow(["degradation", r["what"], r["size"], 1, 1, "", "", round(r["ms_median"], 3), "", "", "ms"])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    host = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"(load average at the end {load}: other jobs share the CPUs)")
    md = [
        "# Training data throughput", "",
        f"`benchmarks/bench_dataloader.py` on {host}; crop {args.crop}, batch {args.batch}, {args.workers} workers, "
        f"median of {args.repeats} runs of {args.batches} batches after {args.warmup} warm-up batches. "
        "Target: >= 20 samples/s with contrastive sets.", "",
        "| dataset | items | setup s | cold samples/s | median samples/s | min | max |",
        "|---|---|---|---|---|---|---|",
    ]
    md += [f"| {r['what']} | {r['items']} | {r['setup_s']} | {r['cold_sps']} | **{r['median_sps']}** | "
           f"{r['min_sps']} | {r['max_sps']} |" for r in rows]
    md += ["", "## Degradations (one call, median of 30, single thread of the calling process)", "",
           "| degradation | 128x128 ms | 640x480 ms |", "|---|---|---|"]
    by = {(r["what"], r["size"]): r["ms_median"] for r in deg}
    for what in dict.fromkeys(r["what"] for r in deg):
        md.append(f"| {what} | {by[(what, '128x128')]:.2f} | {by[(what, '640x480')]:.1f} |")
    (args.out / "dataloader.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
