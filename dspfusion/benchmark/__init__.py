"""Benchmark harness: methods × datasets × conditions → per-image CSV, Markdown tables, plots, image grids, speed.

    dspfusion benchmark configs/benchmarks/clean.yaml        # or, from Python:

    from dspfusion.benchmark import load_config, run_benchmark
    res = run_benchmark(load_config("configs/benchmarks/smoke.yaml"), command="...")

Methods are DSPFusion checkpoints or presets, the classical baselines of :mod:`dspfusion.baselines` (with or
without the paper's oracle pre-enhancement), or folders of precomputed results; conditions are clean or the
seeded degradations of :mod:`dspfusion.degradations`; metrics are the calibrated :mod:`dspfusion.metrics`.
Modules: ``config`` (YAML → frozen dataclass), ``inputs`` (pairs, degraded-input cache), ``methods`` (adapters),
``runner`` (the resumable loop), ``report``/``figures``/``docs`` (tables, plots, docs/BENCHMARKS.md sections),
``speed`` (ms per image, memory, parameters, FLOPs), ``provenance`` (date, machine, commit).

Protocol references: the test conditions and the "restore each input, then fuse" comparison of DSPFusion
(Tang et al., arXiv 2503.23355, §IV-A) and EMS (Yi et al.); table layout of CDDFuse (Zhao et al., CVPR 2023).
Deviation: the paper's degraded test sets are fixed image files; ours are synthesised from the clean test pairs
with our seeded generator, so numbers are comparable between methods run here, not with the paper's tables.
"""
from __future__ import annotations

from .config import BenchmarkConfig, DatasetSpec, MethodSpec, SpeedSpec, load_config, parse_config
from .runner import RunResult, run_benchmark

__all__ = ["BenchmarkConfig", "DatasetSpec", "MethodSpec", "SpeedSpec", "load_config", "parse_config",
           "RunResult", "run_benchmark"]
