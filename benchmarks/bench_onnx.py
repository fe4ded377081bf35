"""onnxruntime vs PyTorch on the CPU: milliseconds per 640x480 pair for the "lite" model, and their difference.

The model (``--checkpoint``, default the "lite" preset: shipped weights when installed, else a seeded
random initialisation, noted in the output) is exported with :func:`dspfusion.onnx_export.export_onnx`
(10 SPDM steps unrolled) to a temporary file. Both runtimes get the same decoded pair and do the same
work per call: reflect-pad to the pad multiple, draw x_T from the seed, run the whole pipeline, crop
(``Fuser.fuse_tensors`` vs ``OnnxFuser.fuse_tensors``). Each is timed ``--repeats`` times after
``--warmup`` untimed calls; median, min and max go to ``benchmarks/results/onnx_speed.csv`` and ``.md``
with the max absolute difference between the two outputs. Both use all CPU cores (PyTorch's default
intra-op threads; onnxruntime's default session options).

The pair is the first daytime MSRS test scene from ../shared/data/test/msrs91 when present,
otherwise a seeded procedural scene of the same size.

    .venv/bin/python benchmarks/bench_onnx.py [--repeats 7] [--warmup 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_baselines import load_pair  # noqa: E402  (same 640x480 pair as the baselines benchmark)
from dspfusion.benchmark.provenance import cpu_model  # noqa: E402
from dspfusion.io import write_csv_atomic, write_text_atomic  # noqa: E402


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
    parser.add_argument("--checkpoint", default="lite", help="model (default: the lite preset)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per runtime (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import onnxruntime
    import torch

    from dspfusion.checkpoint import load_model
    from dspfusion.inference import Fuser, prepare_pair
    from dspfusion.onnx_export import OnnxFuser, export_onnx

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = load_model(args.checkpoint)
    ir, vi, source = load_pair()
    inp = prepare_pair(ir, vi)
    torch_fuser = Fuser(model, device="cpu", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_onnx(model, Path(tmp) / "model.onnx", source=str(info.get("source")))
        export_s = time.perf_counter() - t0
        size_mb = path.stat().st_size / 2**20
        t0 = time.perf_counter()
        ort_fuser = OnnxFuser(path)
        session_s = time.perf_counter() - t0
        diff = float((ort_fuser.fuse_tensors(inp.ir, inp.vi) - torch_fuser.fuse_tensors(inp.ir, inp.vi)).abs().max())
        rows = []
        for name, fn, version in (
            ("PyTorch", lambda: torch_fuser.fuse_tensors(inp.ir, inp.vi), torch.__version__),
            ("onnxruntime", lambda: ort_fuser.fuse_tensors(inp.ir, inp.vi), onnxruntime.__version__),
        ):
            med, lo, hi = time_ms(fn, args.warmup, args.repeats)
            rows.append({"runtime": name, "version": version, "median_ms": round(med, 1), "min_ms": round(lo, 1),
                         "max_ms": round(hi, 1)})
            print(rows[-1], file=sys.stderr, flush=True)

    speedup = rows[0]["median_ms"] / rows[1]["median_ms"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    trained = "" if info.get("trained", True) else " (RANDOMLY INITIALISED: no trained weights installed; speed does not depend on the weights)"
    note = (f"{source}, IR {ir.shape[1]}x{ir.shape[0]}; model {info.get('source')}{trained}; 10 SPDM steps; "
            f"{args.repeats} timed runs after {args.warmup} warm-up; {cpu_model()} ({platform.machine()}), "
            f"{os.cpu_count()} CPU cores, torch {torch.get_num_threads()} threads; 1-min load average at the end {load:.1f}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out_dir / "onnx_speed.csv",
                     [{**r, "max_abs_diff_vs_pytorch": 0.0 if r["runtime"] == "PyTorch" else f"{diff:.2e}"} for r in rows])
    md = ["# ONNX export: onnxruntime vs PyTorch, milliseconds per 640x480 pair (CPU)", "", note + ".", "",
          "| runtime | version | median ms | min ms | max ms |", "|---|---|---:|---:|---:|"]
    md += [f"| {r['runtime']} | {r['version']} | {r['median_ms']} | {r['min_ms']} | {r['max_ms']} |" for r in rows]
    md += ["", f"onnxruntime is {speedup:.2f}x as fast as PyTorch (ratio of the medians). Max |onnxruntime - PyTorch| on this pair: "
           f"{diff:.2e} (float output in [0, 1]). Export took {export_s:.0f} s; the file is {size_mb:.1f} MiB; "
           f"creating the onnxruntime session took {session_s:.1f} s."]
    write_text_atomic(args.out_dir / "onnx_speed.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
