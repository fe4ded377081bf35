"""What the per-image input gates of a model do: the destriping gate (``destripe``) and the VI sharpening gains
(``sharpen``; models/fusion_net.py).

For the first pairs of each degraded condition a benchmark run synthesised (``<run>/inputs/<dataset>/<condition>/``),
and for the clean test pairs themselves (condition ``clean``), runs DPEN on the padded inputs as the model does and
reports the gate g the IR prior opens, and the stripe residual of the IR luma before and after the subtraction
``ir − g · o`` (o the column-offset estimate): the standard deviation over columns of the column means of
(IR − clean IR), in grey levels (0-255). A gate that works opens (g near 1) for stripe noise (ir_SN and the mixed
conditions with SN) and stays near 0 elsewhere; the residual then falls under SN and stays put elsewhere (a global
change such as LC moves every column mean, so its residual is large before and after). With ``sharpen`` it also
reports the three gains a_0, a_1, a_2 the VI prior gives the VI input's fine bands (σ 1, 1.4, 2 of the binomial
blur): they should rise under blur and stay near 0 (or fall below it) under noise. Means over pairs.

    python benchmarks/input_gates.py --model runs/lite27/model.safetensors --inputs runs/benchmarks/degraded/inputs \\
        --datasets RoadScene50 MSRS91 --conditions clean ir_SN LL_SN Rain_SN ir_RN ir_LC vi_Blur vi_RN --pairs 10 \\
        --out benchmarks/results/experiments/lite27/input_gates_lite27.md
"""
from __future__ import annotations

import argparse
import functools
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qabf_terms import SETS, source_image  # noqa: E402  (the test sets and their file lookup)

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.inference import pad_to_multiple, prepare_pair  # noqa: E402
from dspfusion.io import write_or_print  # noqa: E402
from dspfusion.training.losses import luma  # noqa: E402


@functools.lru_cache(maxsize=None)
def clean_pair(ds: str, stem: str):
    """One clean test pair, prepared as the model sees it (read once for every condition)."""
    return prepare_pair(source_image(SETS[ds] / "ir", stem), source_image(SETS[ds] / "vi", stem))


def stripe_residual(ir: torch.Tensor, clean: torch.Tensor) -> float:
    """Std over columns of the column means of luma(ir − clean), in grey levels. ``[1,3,H,W]`` each."""
    d = luma(ir - clean)[0, 0].mean(0)
    return float(d.std()) * 255


@torch.no_grad()
def gate_stats(model, ir: torch.Tensor, clean_ir: torch.Tensor) -> tuple[float, float, float]:
    """Unpadded ``[1,3,H,W]`` IR input and its clean source → (gate, residual before, residual after)."""
    f = model.fusion
    h, w = ir.shape[-2:]
    xp = pad_to_multiple(ir, model.config.fusion.pad_multiple)
    deg, _ = model.degradation(xp)
    g = f.destripe_gate(deg.mean(1)).clamp(0, 1)  # [1, 1], as FusionNet.forward
    out = (xp - g[:, :, None, None] * f.column_offsets(xp))[..., :h, :w]
    return float(g), stripe_residual(ir, clean_ir), stripe_residual(out, clean_ir)


@torch.no_grad()
def sharpen_gains(model, vi: torch.Tensor) -> list[float]:
    """Unpadded ``[1,3,H,W]`` VI input → the three sharpening gains its prior gives."""
    deg, _ = model.degradation(pad_to_multiple(vi, model.config.fusion.pad_multiple))
    return [float(v) for v in model.fusion.sharpen_gain(deg.mean(1))[0]]


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lite", help="checkpoint or preset with the gate (default: the shipped lite)")
    ap.add_argument("--inputs", type=Path, default=Path("runs/benchmarks/degraded/inputs"),
                    help="a degraded benchmark run's inputs folder")
    ap.add_argument("--datasets", nargs="+", default=["RoadScene50", "MSRS91"], choices=sorted(SETS))
    ap.add_argument("--conditions", nargs="+", default=["clean", "ir_SN", "LL_SN", "Rain_SN", "ir_RN", "ir_LC", "vi_Blur", "vi_RN"],
                    help="degraded conditions of --inputs, and 'clean' for the clean test pairs")
    ap.add_argument("--pairs", type=int, default=10, help="first N pairs of each condition")
    ap.add_argument("--out", type=Path, help="markdown file (default: print)")
    args = ap.parse_args(argv)
    model, info = load_model(args.model)
    model.eval()
    f = model.fusion
    if f.destripe_gate is None and f.sharpen_gain is None:
        raise SystemExit("this model has neither a destriping gate nor sharpening gains (destripe and sharpen are "
                         "false in its config)")
    cols, rule = ["dataset", "condition", "pairs"], [":--", ":--", "--:"]
    if f.destripe_gate is not None:
        cols += ["g mean (min / max)", "stripe residual before → after"]
        rule += [":--", ":--"]
    if f.sharpen_gain is not None:
        cols += ["a_0", "a_1", "a_2"]
        rule += ["--:"] * 3
    lines = ["# What the input gates do", "",
             f"Generated by `python benchmarks/input_gates.py {shlex.join(sys.argv[1:] if argv is None else argv)}`; "
             f"do not edit by hand. Model: `{args.model}` (step {info.get('step')}). Destriping gate g read from the "
             "IR prior (0 = no subtraction, 1 = the whole column-offset estimate), and the stripe residual of the IR "
             "input before → after the subtraction (std over columns of the column means of IR − clean IR, grey "
             "levels); VI sharpening gains a_k read from the VI prior (0 = none); means over the first "
             f"{args.pairs} pairs of each condition (min / max of g beside its mean).", "",
             "| " + " | ".join(cols) + " |", "| " + " | ".join(rule) + " |"]
    for ds in args.datasets:
        for cond in args.conditions:
            if cond == "clean":
                stems = sorted(p.stem for p in (SETS[ds] / "ir").iterdir())[: args.pairs]
            else:
                folder = args.inputs / ds / cond
                if not (folder / "ir").is_dir():
                    raise SystemExit(f"{folder}: no ir/ folder (is --inputs a degraded benchmark run's inputs folder?)")
                stems = sorted(p.stem for p in (folder / "ir").iterdir())[: args.pairs]
            gates, gains = [], []
            for stem in stems:
                clean = clean_pair(ds, stem)
                pair = clean if cond == "clean" else prepare_pair(
                    source_image(folder / "ir", stem), source_image(folder / "vi", stem))
                if f.destripe_gate is not None:
                    gates.append(gate_stats(model, pair.ir, clean.ir))
                if f.sharpen_gain is not None:
                    gains.append(sharpen_gains(model, pair.vi))
            cells = [ds, cond, str(len(stems))]
            if gates:
                a = np.asarray(gates)
                cells += [f"{a[:, 0].mean():.3f} ({a[:, 0].min():.3f} / {a[:, 0].max():.3f})",
                          f"{a[:, 1].mean():.2f} → {a[:, 2].mean():.2f}"]
            if gains:
                cells += [f"{v:.3f}" for v in np.asarray(gains).mean(0)]
            lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    write_or_print(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
