"""``dspfusion benchmark CONFIG.yaml``: methods × datasets × conditions → CSV, Markdown tables, plots, speed.

The work is :func:`dspfusion.benchmark.run_benchmark`; the configuration format is documented in
:mod:`dspfusion.benchmark.config` and the examples in ``configs/benchmarks/``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "benchmark", help="run a benchmark config: fusion quality (per-image CSV, tables, plots) and speed",
        description="Run the methods of CONFIG (DSPFusion checkpoints, classical baselines, folders of precomputed "
                    "results) on its datasets under its conditions (clean, or degraded with the seeded generator), "
                    "evaluate its metrics, and write per-image CSV, Markdown tables, plots and image grids to its "
                    "output folder; with a 'speed' block also ms per image, peak memory, parameters and FLOPs. "
                    "Interrupted runs resume: existing results and metric records are reused.",
        epilog="Exit status: 0 everything evaluated, 1 some items skipped (listed in skipped.csv), 2 error. "
               "Relative paths in CONFIG are resolved against the current directory.")
    p.add_argument("config", type=Path, metavar="CONFIG.yaml", help="benchmark configuration (configs/benchmarks/)")
    g = p.add_argument_group("what to run")
    g.add_argument("--limit", type=int, default=None, metavar="N",
                   help="at most N images per dataset (quick check; the report says so, and the docs file is left "
                        "alone unless --docs is given)")
    g.add_argument("--output", type=Path, default=None, help="output folder (default: the config's 'output')")
    g.add_argument("--report-only", action="store_true",
                   help="compute nothing: rebuild tables, plots and docs from what the output folder holds")
    g.add_argument("--no-speed", action="store_true", help="skip the config's speed block")
    g.add_argument("--speed-only", action="store_true", help="run only the config's speed block")
    g.add_argument("--inputs-only", action="store_true",
                   help="only write the degraded inputs to OUTPUT/inputs/<dataset>/<condition>/{ir,vi}/ (to run a "
                        "method elsewhere on exactly these bytes and add its results as a 'folder' method)")
    g.add_argument("--overwrite", action="store_true",
                   help="recompute degraded inputs, results and metrics instead of reusing them")
    g.add_argument("--recompute-changed", action="store_true",
                   help="recompute only the methods that changed since their cached results were made (other "
                        "weights, steps or seed), reusing the other methods' results and the degraded inputs")
    o = p.add_argument_group("output")
    o.add_argument("--docs", type=Path, default=None, metavar="FILE.md",
                   help="regenerate this config's section of FILE.md (default: the config's 'docs')")
    o.add_argument("--no-docs", action="store_true", help="do not touch the docs file")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def command_line(args: argparse.Namespace) -> str:
    """The command as a user would retype it (recorded in the report and the docs section)."""
    parts = ["dspfusion", "benchmark", str(args.config)]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.output is not None:
        parts += ["--output", str(args.output)]
    for flag in ("report_only", "no_speed", "speed_only", "inputs_only", "overwrite", "recompute_changed"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    if args.docs is not None:
        parts += ["--docs", str(args.docs)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from ..benchmark import load_config, run_benchmark
    from ..benchmark.runner import print_summary
    from ..errors import UserError

    if args.no_speed and args.speed_only:
        raise UserError("--no-speed and --speed-only exclude each other")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    cfg = load_config(args.config)
    kw: dict = {}
    if args.limit is not None:
        kw["limit"] = args.limit
    if args.output is not None:
        kw["output"] = args.output.resolve()
    if args.no_docs:
        kw["docs"] = None
    elif args.docs is not None:
        kw["docs"] = args.docs.resolve()
    elif args.limit is not None and cfg.docs is not None:  # a quick run must not replace the full numbers
        kw["docs"] = None
        print(f"note: --limit: {cfg.docs} is left alone (pass --docs {cfg.docs} to write a quick-run section)")
    cfg = cfg.replace(**kw)
    if args.speed_only and cfg.speed is None:
        raise UserError(f"{args.config}: --speed-only, but the config has no 'speed' block")
    if args.inputs_only:
        from ..benchmark.runner import prepare_inputs

        if not cfg.degraded or not cfg.datasets:
            raise UserError(f"{args.config}: --inputs-only needs datasets and degraded conditions (clean inputs are "
                            "the dataset files themselves)")
        res = prepare_inputs(cfg, overwrite=args.overwrite, progress=not args.quiet)
        print(f"degraded inputs of {res.computed} pair(s) × condition(s) are in {cfg.output / 'inputs'} "
              f"(<dataset>/<condition>/ir|vi/<stem>.png, parameters in params/); {len(res.skipped)} skipped")
        for s in res.skipped:
            print(f"  skipped {s[0]}/{s[1]}/{s[3]}: {s[4]}", file=sys.stderr)
        return 1 if res.skipped else 0
    if cfg.added_max:
        print("note: added the pixel-wise 'max' baseline (always shown beside DSPFusion)")
    res = run_benchmark(cfg, command=command_line(args), overwrite=args.overwrite, progress=not args.quiet,
                        report_only=args.report_only, speed=not args.no_speed, quality=not args.speed_only,
                        recompute_changed=args.recompute_changed)
    print_summary(cfg, res)
    if res.untrained:
        bar = "!" * 78
        print(f"{bar}\n  WARNING: {', '.join(res.untrained)}: no trained weights (random parameters); its numbers "
              f"are NOT a real fusion\n  (the report marks it with a dagger).\n{bar}", file=sys.stderr)
    print(f"wrote {cfg.output / 'report.md'}" + (f" and the '{cfg.name}' section of {cfg.docs}" if cfg.docs else ""))
    return 1 if res.skipped else 0
