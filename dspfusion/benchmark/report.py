"""Benchmark report: summary.csv, Markdown tables (report.md and the docs/BENCHMARKS.md section) and figures.

Tables follow the fusion literature's layout (CDDFuse README; USERS.md §3): one row per method, one column per
metric with its direction (↑ higher is better, ↓ lower is better), the best value of each column in bold (ties
are all bold; the comparison is on the printed digits). Values are means over the images a method was evaluated
on; the ``n`` column says how many (a folder of precomputed results may lack some). With several conditions there
is also one compact table per dataset and metric: methods × conditions, plus the mean over the degraded
conditions. A model without trained weights is marked † in every table and figure.

``report.md`` (in the output folder) has every table; the docs section has the compact ones, links to the figures
copied to ``<docs folder>/figures/benchmarks/<name>/`` and the command, date and machine that produced it.
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .config import BenchmarkConfig
from .methods import Method

Agg = dict[tuple[str, str, str], dict[str, tuple[float, float, int]]]
DAGGER = "†"


def aggregate(rows: list[dict[str, Any]], metrics: tuple[str, ...] | list[str]) -> Agg:
    """(dataset, condition, method) → {metric: (mean, std, n finite)}; key "_n" holds (n images, 0, n images)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["condition"], r["method"]), []).append(r)
    out: Agg = {}
    for key, rs in groups.items():
        entry: dict[str, tuple[float, float, int]] = {"_n": (float(len(rs)), 0.0, len(rs))}
        for m in metrics:
            v = np.array([r[m] for r in rs], dtype=np.float64)
            v = v[np.isfinite(v)]
            entry[m] = (float(v.mean()), float(v.std()), int(v.size)) if v.size else (math.nan, math.nan, 0)
        out[key] = entry
    return out


def fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(v)
    return f"{v:.1f}" if a >= 100 else f"{v:.2f}" if a >= 10 else f"{v:.3f}"


def _best(values: dict[str, float], higher: bool) -> set[str]:
    shown = {k: fmt(v) for k, v in values.items() if v is not None and math.isfinite(v)}
    if not shown:
        return set()
    pick = max if higher else min
    best = pick(float(shown[k]) for k in shown)
    return {k for k, s in shown.items() if float(s) == best}


def _cells(values: dict[str, float], higher: bool) -> dict[str, str]:
    best = _best(values, higher)
    return {k: (f"**{fmt(v)}**" if k in best else fmt(v)) for k, v in values.items()}


def _name(m: str, trained: dict[str, bool | None]) -> str:
    return f"{m} {DAGGER}" if trained.get(m) is False else m


def _md_table(header: list[str], rows: list[list[str]], align: str = "r") -> str:
    sep = [":--"] + [("--:" if align == "r" else ":-:")] * (len(header) - 1)
    return "\n".join("| " + " | ".join(r) + " |" for r in [header, sep, *rows])


def dataset_table(cfg: BenchmarkConfig, agg: Agg, ds: str, cond: str, trained: dict[str, bool | None]) -> str:
    from ..metrics import METRICS

    methods = [m.name for m in cfg.methods]
    cols = {metric: _cells({m: agg.get((ds, cond, m), {}).get(metric, (math.nan,))[0] for m in methods},
                           METRICS[metric].higher_is_better) for metric in cfg.metrics}
    header = ["method", "n", *(f"{metric} {METRICS[metric].arrow}" for metric in cfg.metrics)]
    rows = [[_name(m, trained), str(agg.get((ds, cond, m), {}).get("_n", (0, 0, 0))[2]),
             *(cols[metric][m] for metric in cfg.metrics)] for m in methods]
    return _md_table(header, rows)


def condition_table(cfg: BenchmarkConfig, agg: Agg, ds: str, metric: str, trained: dict[str, bool | None]) -> str:
    """Methods × conditions for one dataset and metric, plus the mean over the degraded conditions."""
    from ..metrics import METRICS

    methods = [m.name for m in cfg.methods]
    higher = METRICS[metric].higher_is_better
    degraded = [c for c in cfg.conditions if c != "clean"]
    per_cond = {c: {m: agg.get((ds, c, m), {}).get(metric, (math.nan,))[0] for m in methods} for c in cfg.conditions}
    means = {m: (float(np.mean([per_cond[c][m] for c in degraded]))
                 if degraded and all(math.isfinite(per_cond[c][m]) for c in degraded) else math.nan) for m in methods}
    cells = {c: _cells(per_cond[c], higher) for c in cfg.conditions}
    mean_cells = _cells(means, higher)
    with_mean = len(degraded) > 1
    mean_label = ["mean (degraded)" if "clean" in cfg.conditions else "mean"] if with_mean else []
    header = ["method", *cfg.conditions, *mean_label]
    rows = [[_name(m, trained), *(cells[c][m] for c in cfg.conditions), *([mean_cells[m]] if with_mean else [])]
            for m in methods]
    return f"**{ds} · {metric} {METRICS[metric].arrow}**\n\n" + _md_table(header, rows)


def speed_table(rows: list[dict[str, Any]]) -> str:
    header = ["method", "device", "condition", "size", "ms / image", "model ms", "peak MiB", "idle MiB",
              "params (M)", "GFLOPs", "threads", "note"]
    out = []
    for r in rows:
        def num(k: str, f: str) -> str:
            v = r.get(k)
            return format(v, f) if isinstance(v, (int, float)) and math.isfinite(v) else "–"

        name = f"{r['method']} {DAGGER}" if r.get("trained") is False else r["method"]
        params = f"{r['params'] / 1e6:.3f}" if isinstance(r.get("params"), (int, float)) else "–"
        out.append([name, r.get("device", ""), r.get("condition", "") or "", r.get("size", ""), num("ms_median", ".1f"),
                    num("model_ms_median", ".1f"), num("peak_mib", ".0f"), num("idle_mib", ".0f"), params, num("gflops", ".1f"),
                    str(r.get("threads", "–")), r.get("note", "") or ""])
    return _md_table(header, out)


SPEED_NOTE = ("ms / image: median of {runs} runs after {warmup} warm-up runs, uint8 arrays in, uint8 result out "
              "(synchronised on CUDA); model ms: the networks alone on padded tensors on the device. Memory: on CUDA, "
              "peak = `max_memory_allocated` during the runs and idle = allocated before them (weights); on the CPU, "
              "peak = the measuring process's peak resident set (Python, libraries, model and runs; each measurement "
              "in a fresh process) and idle = its resident set before the first run. GFLOPs: `torch.utils.flop_counter` at {w}×{h}, every SPDM step, "
              "one multiply–add = 2 FLOPs.")


def _describe_methods(cfg: BenchmarkConfig, methods: list[Method]) -> list[str]:
    out = []
    for m in methods:
        mark = f" {DAGGER}" if m.trained is False else ""
        note = f" ({m.spec.note})" if m.spec.note else ""
        out.append(f"- **{m.name}**{mark}: {m.describe()}{note}")
    return out


def body(cfg: BenchmarkConfig, res, methods: list[Method], run_info: dict[str, Any], agg: Agg,
         plot_links: dict, grid_links: dict, full: bool) -> str:
    """Markdown for report.md (``full``: every table) or for the docs section (compact)."""
    from ..metrics import METRICS
    from .provenance import machine_line

    trained = {m.name: m.trained for m in methods}
    lines = [f"## Benchmark `{cfg.name}`", ""]
    if cfg.description:
        lines += [cfg.description.strip(), ""]
    lines += [f"Produced by `{run_info['command']}`", "", f"*{machine_line(run_info)}*", ""]
    if run_info.get("rebuilt"):
        lines += [f"(Report rebuilt from the stored results on {run_info['rebuilt']}.)", ""]
    if not full:
        out = _display_path(cfg.output)
        lines += [f"Every table, per-image values and image grids: `{out}/report.md`, `{out}/per_image.csv`, "
                  f"`{out}/grids/`.", ""]
    if cfg.datasets:
        counts = ", ".join(f"{d.name} ({len(res.pairs.get(d.name, []))} pairs" + (f", list `{d.list.name}`" if d.list
                                                                                 else "") + ")" for d in cfg.datasets)
        lines.append(f"Datasets: {counts}. Conditions: {', '.join(cfg.conditions)}. "
                     f"Metrics: `{cfg.convention}` convention (docs/METRICS.md).")
        if cfg.limit:
            lines += ["", f"**Quick run: at most {cfg.limit} images per dataset — not the full benchmark.**"]
        if cfg.degraded:
            fr = [n for n in cfg.metrics if METRICS[n].needs_sources]
            nr = [n for n in cfg.metrics if not METRICS[n].needs_sources]
            against = "the clean sources" if cfg.reference == "clean" else "the degraded inputs"
            from .inputs import cached_fingerprints, generator_fingerprint

            prints = sorted(cached_fingerprints(cfg.output / "inputs")) or [generator_fingerprint()]
            lines += ["", f"Degraded inputs: `dspfusion.degradations.apply_condition` (generator fingerprint "
                      f"{', '.join(f'`{p}`' for p in prints)}), seed {cfg.seed}, one random generator "
                      "per (condition, image) seeded from (seed, condition, file stem); every method sees the same "
                      f"cached bytes. Full-reference metrics ({', '.join(fr) or 'none'}) compare the fused image "
                      f"with {against}; {', '.join(nr) or 'no metric'} use{'s' if len(nr) == 1 else ''} the fused "
                      "image alone."]
        lines.append("")
    lines += ["Methods:", *_describe_methods(cfg, methods), ""]
    if any(t is False for t in trained.values()):
        if cfg.datasets:
            lines += [f"{DAGGER} **No trained weights: the model's parameters are random, so its output is not a "
                      "real fusion and its quality numbers only show that the pipeline runs.**", ""]
        else:
            lines += [f"{DAGGER} Random weights: speed, memory, parameters and FLOPs are those of the architecture.",
                      ""]
    for ds in cfg.datasets:
        if not cfg.degraded or full:
            for cond in cfg.conditions:
                n = len(res.pairs.get(ds.name, []))
                lines += [f"### {ds.name} · {cond} ({n} images)", "", dataset_table(cfg, agg, ds.name, cond, trained), ""]
        if len(cfg.conditions) > 1:
            lines += [f"### {ds.name}: metrics by condition", ""]
            for metric in cfg.metrics:
                lines += [condition_table(cfg, agg, ds.name, metric, trained), ""]
    if plot_links:
        lines += ["### Figures", ""] + [f"![{k[1]}{' — ' + k[0] if k[0] else ''}]({v})" for k, v in plot_links.items()]
        lines.append("")
    if grid_links:
        lines += ["Image grids (IR and VI inputs, then each method):", ""]
        lines += [f"![{ds} {cond}]({v})" for (ds, cond), v in grid_links.items()] + [""]
    if res.speed:
        sp = cfg.speed
        lines += ["### Speed", "", speed_table(res.speed), "",
                  SPEED_NOTE.format(runs=sp.runs, warmup=sp.warmup, w=sp.size[0], h=sp.size[1]), ""]
    if full and res.rows:
        lines += ["`per_image.csv` has every value; its `seconds` column is the wall time of the method on that image "
                  "in the run that produced it (not a speed measurement: see the speed benchmark).", ""]
    if res.skipped or res.problems:
        from .runner import group_skipped

        groups = group_skipped(res.skipped)
        lines += [f"Skipped: {len(res.skipped)} item(s), listed in `skipped.csv` of the output folder.", ""]
        lines += [f"- {len(items)}× ({'/'.join(items[0])}{', ...' if len(items) > 1 else ''}): {reason}"
                  for reason, items in groups[: (50 if full else 5)]]
        lines += [f"- note: {p}" for p in res.problems[: (50 if full else 5)]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _display_path(p: Path) -> str:
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:  # outside the current directory
        return str(p)


def _write_text(path: Path, text: str) -> Path:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _copy(src: Path, dst: Path) -> Path:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def write_all(cfg: BenchmarkConfig, res, methods: list[Method], run_info: dict[str, Any]) -> list[Path]:
    """summary.csv, plots/, grids/, report.md and (when ``cfg.docs``) the docs section with its figures."""
    from . import docs, figures
    from .runner import _write_csv

    trained = {m.name: m.trained for m in methods}
    files: list[Path] = []
    agg = aggregate(res.rows, cfg.metrics)
    plots: dict = {}
    grids: dict = {}
    if cfg.datasets:
        summary = [[ds, cond, m, metric, *agg[(ds, cond, m)][metric]] for (ds, cond, m) in sorted(agg)
                   for metric in cfg.metrics]
        files.append(_write_csv(cfg.output / "summary.csv", ["dataset", "condition", "method", "metric", "mean", "std",
                                                             "n"], summary))
        if res.rows:
            plots = figures.metric_plots(cfg, agg, trained, cfg.output / "plots")
            results = {(r["dataset"], r["condition"], r["method"], r["image"]): r["result"] for r in res.rows}
            grids = figures.image_grids(cfg, res.pairs, results, trained, cfg.output / "grids")
        files += list(plots.values()) + list(grids.values())
    rel = lambda p: os.path.relpath(p, cfg.output).replace(os.sep, "/")  # noqa: E731
    report = body(cfg, res, methods, run_info, agg, {k: rel(v) for k, v in plots.items()},
                  {k: rel(v) for k, v in grids.items()}, full=True)
    files.append(_write_text(cfg.output / "report.md", report))
    if cfg.docs is not None:
        fig_dir = cfg.docs.parent / "figures" / "benchmarks" / cfg.name  # this benchmark's own folder
        fig_dir.mkdir(parents=True, exist_ok=True)
        for old in fig_dir.glob("*.png"):  # figures of an earlier run of this benchmark
            old.unlink()
        doc_plots, doc_grids = {}, {}
        for (ds, metric), p in plots.items():
            if metric in cfg.docs_figures:
                doc_plots[(ds, metric)] = _copy(p, fig_dir / p.name)
        wanted = cfg.docs_grids or ((f"{cfg.datasets[0].name}/{cfg.conditions[0]}",) if cfg.datasets else ())
        for key in wanted:
            ds, _, cond = key.partition("/")
            if (ds, cond) in grids:
                doc_grids[(ds, cond)] = _copy(grids[(ds, cond)], fig_dir / f"grid-{ds}-{cond}.png")
        files += list(doc_plots.values()) + list(doc_grids.values())
        drel = lambda p: os.path.relpath(p, cfg.docs.parent).replace(os.sep, "/")  # noqa: E731
        section = body(cfg, res, methods, run_info, agg, {k: drel(v) for k, v in doc_plots.items()},
                       {k: drel(v) for k, v in doc_grids.items()}, full=False)
        files.append(docs.update_section(cfg.docs, cfg.name, section))
    return files


__all__ = ["aggregate", "fmt", "dataset_table", "condition_table", "speed_table", "body", "write_all"]
