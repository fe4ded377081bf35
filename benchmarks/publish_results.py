"""Copy results of the standalone benchmark scripts into generated sections of docs/BENCHMARKS.md.

The ONNX-speed and tiled-memory measurements come from their own scripts (each measures in fresh processes
and writes ``benchmarks/results/<name>.md``); this puts that Markdown, unchanged, between the markers
``<!-- BEGIN benchmark:<name> -->`` / ``<!-- END benchmark:<name> -->`` of the docs file, headed by the
command that produced it, so the docs carry no hand-typed number.

    python benchmarks/bench_onnx.py && python benchmarks/bench_tiling_memory.py
    python benchmarks/publish_results.py onnx_speed tiling_memory --docs docs/BENCHMARKS.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dspfusion.benchmark.docs import update_section  # noqa: E402

PRODUCERS = {
    "onnx_speed": "python benchmarks/bench_onnx.py",
    "speed_layout": "python benchmarks/bench_layout.py",
    "tiling_memory": "python benchmarks/bench_tiling_memory.py",
    "dataloader": "python benchmarks/bench_dataloader.py",
    "metrics_speed": "python benchmarks/bench_metrics.py",
    "baselines_speed": "python benchmarks/bench_baselines.py",
    "probe": "python benchmarks/fit_probe.py",
    "degraded_paired_qabf": "python benchmarks/paired_differences.py runs/benchmarks/degraded/per_image.csv "
                            "--candidate DSPFusion-lite --against lite-noprior best:+enh --metric Qabf "
                            "--out benchmarks/results/degraded_paired_qabf.md",
    "source_copy": "python benchmarks/source_copy.py --methods DSPFusion-lite lite-noprior GFF+enh Laplacian+enh "
                   "max+enh max --metrics Qabf VIF MI --out benchmarks/results/source_copy.md",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+", choices=sorted(PRODUCERS), help="result files (benchmarks/results/<name>.md)")
    p.add_argument("--docs", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args(argv)
    for name in args.names:
        src = args.results / f"{name}.md"
        if not src.is_file():
            print(f"error: {src} does not exist; run `{PRODUCERS[name]}` first", file=sys.stderr)
            return 2
        text = src.read_text(encoding="utf-8").strip()
        lines = text.splitlines()
        # demote the result file's own title one level so it nests under the docs file's title
        if lines and lines[0].startswith("# "):
            lines[0] = "#" + lines[0]
        shown = src.relative_to(ROOT) if src.is_relative_to(ROOT) else src
        note = f"Produced by `{PRODUCERS[name]}` (copied from `{shown}` by `python benchmarks/publish_results.py {name}`)."
        body = "\n".join(lines[:1] + ["", note] + lines[1:])
        update_section(args.docs, name, body)
        print(f"wrote section {name!r} of {args.docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
