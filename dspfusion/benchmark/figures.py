"""Benchmark figures (matplotlib, Agg): one grouped-bar plot per metric, and image grids of inputs and results.

Bar plots: with several conditions, one PNG per dataset and metric, conditions on the x axis and one bar per
method; with one condition, one PNG per metric with the datasets on the x axis. The bar height is the mean over
the images. Image grids: for the first ``grid_images`` images of each dataset × condition, one row per image:
the IR and VI inputs the methods saw (degraded, for a degraded condition), then every method's result.
Untrained models are labelled as such. Files are written atomically (temporary file, then rename).
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .config import BenchmarkConfig


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _pyplot().close(fig)
    return path


def label(name: str, trained: bool | None) -> str:
    return f"{name} (untrained)" if trained is False else name


def bar_plot(path: Path, title: str, ylabel: str, groups: list[str], series: dict[str, list[float]]) -> Path:
    """Grouped bars: ``series`` maps a legend label to one value per group (NaN = no bar)."""
    plt = _pyplot()
    n = max(len(series), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(4.5, 0.55 * len(groups) * (1 + 0.25 * n)), 3.2))
    x = np.arange(len(groups))
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    for i, (name, values) in enumerate(series.items()):
        vals = np.array([v if v is not None and math.isfinite(v) else np.nan for v in values], dtype=float)
        ax.bar(x + (i - (n - 1) / 2) * width, vals, width, label=name, color=cmap(i % cmap.N),
               hatch="//" if name.endswith("(untrained)") else None, edgecolor="white", linewidth=0.5)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, ncol=min(n, 4), loc="upper center", bbox_to_anchor=(0.5, -0.22 if len(groups) > 4 else -0.12),
              frameon=False)
    return _save(fig, path)


def metric_plots(cfg: BenchmarkConfig, agg: dict, trained: dict[str, bool | None], out_dir: Path
                 ) -> dict[tuple[str | None, str], Path]:
    """→ {(dataset or None, metric): png}."""
    from ..metrics import METRICS

    out: dict[tuple[str | None, str], Path] = {}
    methods = [m.name for m in cfg.methods]
    datasets = [d.name for d in cfg.datasets]
    for metric in cfg.metrics:
        ylabel = f"{metric} {METRICS[metric].arrow}"
        if len(cfg.conditions) > 1:
            for ds in datasets:
                series = {label(m, trained.get(m)): [agg.get((ds, c, m), {}).get(metric, (math.nan,))[0]
                                                     for c in cfg.conditions] for m in methods}
                out[(ds, metric)] = bar_plot(out_dir / f"{ds}-{metric}.png", f"{ds}: {metric} by condition", ylabel,
                                             list(cfg.conditions), series)
        else:
            c = cfg.conditions[0]
            series = {label(m, trained.get(m)): [agg.get((ds, c, m), {}).get(metric, (math.nan,))[0]
                                                 for ds in datasets] for m in methods}
            out[(None, metric)] = bar_plot(out_dir / f"{metric}.png", f"{metric} ({c})", ylabel, datasets, series)
    return out


TILE_WIDTH = 240  # pixels: tiles are downscaled once (area averaging) instead of by matplotlib at draw time


def _tile(path: Path | None) -> np.ndarray | None:
    import cv2

    from ..io import read_image, to_float

    if path is None or not Path(path).is_file():
        return None
    try:
        a = read_image(path)
    except Exception:  # a broken file shows as a blank tile; the metrics step reports it
        return None
    a = a if a.dtype == np.uint8 else np.round(to_float(a) * 255).astype(np.uint8)
    if a.shape[1] > TILE_WIDTH:
        h = max(1, round(a.shape[0] * TILE_WIDTH / a.shape[1]))
        a = cv2.resize(a, (TILE_WIDTH, h), interpolation=cv2.INTER_AREA)
    return a


def image_grid(path: Path, title: str, rows: list[tuple[str, list[tuple[str, Path | None]]]]) -> Path:
    """``rows``: (row label, [(column label, image file or None), ...]); every row has the same columns."""
    plt = _pyplot()
    n_rows, n_cols = len(rows), max(len(r[1]) for r in rows)
    first = next((t for _, cols in rows for _, p in cols if (t := _tile(p)) is not None), None)
    aspect = first.shape[0] / first.shape[1] if first is not None else 0.75
    w = 1.9
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(w * n_cols, w * aspect * n_rows + 0.5), squeeze=False)
    for r, (row_label, cols) in enumerate(rows):
        for c, (col_label, p) in enumerate(cols):
            ax = axes[r][c]
            img = _tile(p)
            if img is None:
                ax.text(0.5, 0.5, "missing", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            elif img.ndim == 2:
                ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            else:
                ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_label, fontsize=8)
            if c == 0:
                ax.set_ylabel(row_label, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def image_grids(cfg: BenchmarkConfig, pairs: dict[str, list[Any]], results: dict[tuple[str, str, str, str], str],
                trained: dict[str, bool | None], out_dir: Path) -> dict[tuple[str, str], Path]:
    """→ {(dataset, condition): png} for the first ``cfg.grid_images`` pairs of each dataset × condition."""
    out: dict[tuple[str, str], Path] = {}
    if cfg.grid_images <= 0:
        return out
    for ds in cfg.datasets:
        chosen = pairs.get(ds.name, [])[: cfg.grid_images]
        if not chosen:
            continue
        for cond in cfg.conditions:
            inp = cfg.output / "inputs" / ds.name / cond
            rows = []
            for pair in chosen:
                ir = pair.ir if cond == "clean" else inp / "ir" / f"{pair.stem}.png"
                vi = pair.vi if cond == "clean" else inp / "vi" / f"{pair.stem}.png"
                cols: list[tuple[str, Path | None]] = [("IR input", ir), ("VI input", vi)]
                for m in cfg.methods:
                    res = results.get((ds.name, cond, m.name, pair.stem))
                    cols.append((label(m.name, trained.get(m.name)), Path(res) if res else None))
                rows.append((pair.stem, cols))
            out[(ds.name, cond)] = image_grid(out_dir / f"{ds.name}-{cond}.png", f"{ds.name} · {cond}", rows)
    return out


__all__ = ["bar_plot", "metric_plots", "image_grid", "image_grids", "label"]
