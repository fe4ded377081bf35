"""Memory layout and attention arithmetic on the CPU: milliseconds per 640x480 pair for the "lite" model.

Three variants of the same weights, each through ``Fuser.fuse_tensors`` (pad, draw x_T, all networks, crop):

* ``NCHW, normalise-then-multiply``: the code before 2026-12-01 — the default (contiguous) layout, and
  transposed attention that writes L2-normalised copies of q and k (``F.normalize``) before q̂k̂ᵀ;
* ``NCHW``: the default layout with the current attention (q kᵀ divided by the outer product of the norms);
* ``channels-last``: the current attention with the weights and inputs in channels-last layout (what
  :class:`dspfusion.inference.Fuser` does on the CPU by default).

The variants are timed in interleaved rounds (one call of each per round, after ``--warmup`` untimed calls
each), so a machine whose speed drifts affects all three alike. Median, min and max go to
``benchmarks/results/speed_layout.csv`` and ``.md`` with each variant's max absolute difference from the first.

    .venv/bin/python benchmarks/bench_layout.py [--repeats 10] [--warmup 2]
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_baselines import load_pair  # noqa: E402  (same 640x480 pair as the baselines benchmark)


@contextmanager
def normalise_then_multiply():
    """Swap in the earlier transposed attention (normalised copies of q and k, then q̂ k̂ᵀ)."""
    import torch.nn.functional as F

    from dspfusion.models import prior_modulation, restormer

    current = restormer.transposed_attention

    def earlier(q, k, v, heads, temperature):
        b, c, h, w = q.shape
        if restormer.current() is not None:
            return current(q, k, v, heads, temperature)
        cos = F.normalize(restormer._heads(q, heads), dim=-1) @ F.normalize(restormer._heads(k, heads), dim=-1).transpose(-2, -1)
        return ((cos * temperature).softmax(dim=-1) @ restormer._heads(v, heads)).reshape(b, c, h, w)

    restormer.transposed_attention = prior_modulation.transposed_attention = earlier
    try:
        yield
    finally:
        restormer.transposed_attention = prior_modulation.transposed_attention = current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="lite", help="model (default: the lite preset)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per variant before timing")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    from contextlib import nullcontext

    import torch

    from dspfusion.benchmark.provenance import cpu_model
    from dspfusion.checkpoint import load_model
    from dspfusion.inference import Fuser, prepare_pair
    from dspfusion.io import write_csv_atomic, write_text_atomic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = load_model(args.checkpoint)
    ir, vi, source = load_pair()
    inp = prepare_pair(ir, vi)
    variants = [
        ("NCHW, normalise-then-multiply", Fuser(copy.deepcopy(model), device="cpu", channels_last=False), normalise_then_multiply),
        ("NCHW", Fuser(copy.deepcopy(model), device="cpu", channels_last=False), nullcontext),
        ("channels-last", Fuser(copy.deepcopy(model), device="cpu", channels_last=True), nullcontext),
    ]

    def call(fuser, ctx):
        with ctx():
            return fuser.fuse_tensors(inp.ir, inp.vi, seed=0)

    ref = call(variants[0][1], variants[0][2])
    diffs = [float((call(f, c) - ref).abs().max()) for _, f, c in variants]
    for _, f, c in variants:
        for _ in range(args.warmup):
            call(f, c)
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(args.repeats):
        for i, (_, f, c) in enumerate(variants):
            t0 = time.perf_counter()
            call(f, c)
            times[i].append(1000.0 * (time.perf_counter() - t0))
    rows = [{"variant": name, "median_ms": round(statistics.median(t), 1), "min_ms": round(min(t), 1),
             "max_ms": round(max(t), 1), "max_abs_diff": f"{d:.2e}"} for (name, _, _), t, d in zip(variants, times, diffs)]
    for r in rows:
        print(r, file=sys.stderr)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    trained = "" if info.get("trained", True) else " (RANDOMLY INITIALISED: no trained weights installed)"
    cpu = cpu_model()
    note = (f"{source}, IR {ir.shape[1]}x{ir.shape[0]}; model {Path(str(info.get('source'))).name}{trained}; 10 SPDM steps; "
            f"{args.repeats} interleaved timed rounds after {args.warmup} warm-up calls per variant; {cpu}, "
            f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
            f"1-min load average at the end {load:.1f}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out_dir / "speed_layout.csv", rows)
    base = rows[0]["median_ms"]
    md = ["# CPU memory layout and attention arithmetic, milliseconds per 640x480 pair", "",
          f"{note}.", "",
          "| variant | median ms | min ms | max ms | vs first | max abs diff vs first |", "|---|---:|---:|---:|---:|---:|"]
    md += [f"| {r['variant']} | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} | {r['median_ms'] / base:.2f}x | "
           f"{r['max_abs_diff']} |" for r in rows]
    md += ["", "Max abs diff: of the float outputs in [0, 1]."]
    write_text_atomic(args.out_dir / "speed_layout.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
