"""Where two fusion methods' Qabf differs under one degradation: split by region of the degraded input and by source.

Qabf = Σ (Q_IR·g_IR + Q_VI·g_VI) / Σ (g_IR + g_VI) over pixels (``dspfusion.metrics.qabf``; measured against the
clean sources, as the degraded benchmark does). The numerator is a sum over pixels, so one image's difference
between method A and method B splits exactly into (region × source) parts:
ΔQabf = Σ_region Σ_source Σ_pixels ΔQ_source·g_source / Σ (g_IR + g_VI). Regions come from the degraded VI the
methods were given (the benchmark's ``inputs`` folder): ``flat`` (saturated, luma ≥ --sat, with its whole 3×3
neighbourhood, so the input holds no edge there), ``fringe`` (within one pixel of a saturated pixel, not flat),
``bright`` (≥ --bright, not near saturation) and ``rest``. MSRS frames are split by day (``D``) and
night (``N``). Writes a markdown table of means over images.

    python benchmarks/results/experiments/oe_regions/oe_regions.py --run runs/benchmarks/degraded \\
        --methods DSPFusion-lite lite-noprior --condition vi_OE \\
        --out benchmarks/results/experiments/oe_regions/oe_regions_vi_OE.md
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

from dspfusion.io import write_or_print
from dspfusion.metrics.images import load_grey
from dspfusion.metrics.qabf import _q_xf, _strength_angle

REPO = Path(__file__).resolve().parents[4]
SETS = {"MSRS91": "msrs91", "RoadScene50": "roadscene50", "TNO25": "tno42"}


def _image(root: Path, stem: str) -> Path:
    hits = sorted(root.glob(f"{stem}.*"))
    if not hits:
        raise SystemExit(f"{root}: no image named {stem}.* (is this the benchmark run the fused images came from?)")
    return hits[0]


def regions(vi_degraded: np.ndarray, sat: float, bright: float) -> dict[str, np.ndarray]:
    """Masks that partition the image: ``flat`` (saturated with every 3×3 neighbour saturated, so the degraded VI
    has no gradient there), ``fringe`` (the saturated area grown by one pixel, less ``flat``), ``bright`` (not
    saturated) and ``rest``."""
    sat_px = (vi_degraded >= sat).astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    flat = cv2.erode(sat_px, k, borderType=cv2.BORDER_REPLICATE) > 0
    grown = cv2.dilate(sat_px, k) > 0
    b = (vi_degraded >= bright) & ~grown
    return {"flat": flat, "fringe": grown & ~flat, "bright": b, "rest": ~(grown | b)}


def edges(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel strength and angle of a 0-255 grey image, as Qabf computes them (the benchmark's convention)."""
    return _strength_angle(img, False)


def terms(fused: tuple[np.ndarray, np.ndarray], ir: tuple[np.ndarray, np.ndarray],
          vi: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel Q_IR·g_IR and Q_VI·g_VI from the :func:`edges` of the fused image and of the clean sources."""
    return _q_xf(*ir, *fused) * ir[0], _q_xf(*vi, *fused) * vi[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "benchmarks" / "degraded")
    ap.add_argument("--methods", nargs=2, default=["DSPFusion-lite", "lite-noprior"], metavar=("A", "B"))
    ap.add_argument("--dataset", default="MSRS91", choices=list(SETS))
    ap.add_argument("--condition", default="vi_OE")
    ap.add_argument("--sat", type=float, default=250.0, help="degraded VI luma at or above which a pixel is saturated")
    ap.add_argument("--bright", type=float, default=220.0, help="degraded VI luma at or above which it is bright")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    a_name, b_name = args.methods
    clean = REPO.parent / "shared" / "data" / "test" / SETS[args.dataset]
    degraded_vi = args.run / "inputs" / args.dataset / args.condition / "vi"
    folders = [args.run / "results" / m / args.dataset / args.condition for m in args.methods]
    stems = sorted(p.stem for p in folders[0].glob("*.png"))
    if not stems:
        raise SystemExit(f"{folders[0]}: no fused images (run the benchmark with method {a_name!r} first)")
    names = ["flat", "fringe", "bright", "rest"]
    rows: dict[str, list[list[float]]] = {"day": [], "night": [], "all": []}
    for stem in stems:  # every image read once, every edge map computed once
        ir, vi = (edges(load_grey(_image(clean / m, stem)).astype(np.float64)) for m in ("ir", "vi"))
        degraded = load_grey(_image(degraded_vi, stem)).astype(np.float64)
        masks = regions(degraded, args.sat, args.bright)
        fused = [edges(load_grey(_image(f, stem)).astype(np.float64)) for f in folders]
        (qa_ir, qa_vi), (qb_ir, qb_vi) = (terms(f, ir, vi) for f in fused)
        g_ir, g_vi = ir[0], vi[0]
        w = (g_ir + g_vi).sum()
        row = [qa_ir.sum() / w + qa_vi.sum() / w, qb_ir.sum() / w + qb_vi.sum() / w]
        edge = masks["fringe"] & (g_vi > 1.0)
        for g in [f[0] for f in fused] + [edges(degraded)[0]]:
            row.append(float(np.median(g[edge] / g_vi[edge])) if edge.any() else float("nan"))
        for r in names:
            m = masks[r]
            row += [m.mean(), (g_ir[m] + g_vi[m]).sum() / w,
                    (qa_ir[m] - qb_ir[m]).sum() / w, (qa_vi[m] - qb_vi[m]).sum() / w]
        period = {"D": "day", "N": "night"}.get(stem[-1:])
        for key in ([period] if period else []) + ["all"]:
            rows[key].append(row)
    cmd = " ".join(["python benchmarks/results/experiments/oe_regions/oe_regions.py",
                    *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    lines = [f"# {args.dataset} · {args.condition}: {a_name} − {b_name} in Qabf, by region of the degraded VI and by source",
             "", f"Generated by `{cmd}`; do not edit by hand. Means over images. Regions of the degraded VI: flat "
             f"(luma ≥ {args.sat:g} over the whole 3×3 neighbourhood: no input edge), fringe (within 1 px of a "
             f"saturated pixel, not flat), bright ({args.bright:g} ≤ luma, not near saturation), rest. Per region: "
             "its share of pixels, its share of Qabf's weight Σ(g_IR + g_VI), and its part of the difference in Qabf "
             "through the IR term and the VI term (the parts add up to the Qabf difference; positive: A keeps more).",
             "", "| frames | n | Qabf A | Qabf B | A − B | " + " | ".join(
                 f"{r} pixels | {r} weight | {r} ΔIR | {r} ΔVI" for r in names) + " |",
             "| :-- | --: |" + " --: |" * (3 + 4 * len(names))]
    ratios = ["", "Edge strength kept in the fringe: per image, the median over fringe pixels with a clean-VI edge "
              "(Sobel magnitude > 1) of the ratio to the clean VI's edge strength; means over images (1 = as strong as the clean VI).",
              "", f"| frames | n | {a_name} | {b_name} | degraded VI input |", "| :-- | --: | --: | --: | --: |"]
    for key, vals in rows.items():
        if not vals:
            continue
        m = np.nanmean(np.array(vals), axis=0)
        cells = [f"{m[0]:.4f}", f"{m[1]:.4f}", f"{m[0] - m[1]:+.4f}"]
        ratios.append(f"| {key} | {len(vals)} | {m[2]:.2f} | {m[3]:.2f} | {m[4]:.2f} |")
        for i in range(len(names)):
            px, wt, dir_, dvi = m[5 + 4 * i: 9 + 4 * i]
            cells += [f"{px:.1%}", f"{wt:.1%}", f"{dir_:+.4f}", f"{dvi:+.4f}"]
        lines.append(f"| {key} | {len(vals)} | " + " | ".join(cells) + " |")
    write_or_print("\n".join(lines + ratios) + "\n", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
