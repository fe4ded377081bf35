"""What the per-image tone curves and the IR mixing weight do on degraded test pairs (experiment tone_loss).

For each model and condition, over every ``--every``-th pair of the degraded benchmark's seeded inputs: the mean of
the degraded VI and IR inputs, of their clean sources, and of the inputs after the model's own input steps and tone
curves (what its U-Net reads); the share of pixels where the IR mixing weight β (``ir_mix``) is negative (the IR
residual subtracted: the fused image takes the inverse of IR's structure there); and Qabf against the clean sources as
the model fuses and with β clamped at 0 (``tang`` convention, the uint8 image the wrapper writes). Writes a markdown
table.

    python benchmarks/results/experiments/tone_loss/curves.py --model lite65h=lite \
        noprior60h=benchmarks/weights/dspfusion-lite-noprior-61k.safetensors --conditions vi_OE vi_LL LL_LC ir_LC \
        --every 6 --out benchmarks/results/experiments/tone_loss/curves.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # benchmarks/
from prior_oracle import clean_sources, condition_stems, provenance, qabf  # noqa: E402

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.inference import pad_to_multiple, prepare_pair  # noqa: E402
from dspfusion.io import write_or_print  # noqa: E402


@torch.no_grad()
def measure(model, ir: torch.Tensor, vi: torch.Tensor, clamp: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """Unpadded ``[1,3,H,W]`` degraded pair → (fused ``[1,3,H,W]``, {tone_ir, tone_vi, beta_neg})."""
    h, w = ir.shape[-2:]
    m = model.config.fusion.pad_multiple
    ir_p, vi_p = pad_to_multiple(ir, m), pad_to_multiple(vi, m)
    f = model.fusion
    pri = model.compute_priors(ir_p, vi_p, noise=model.initial_noise(1, seed=0) if model.config.use_priors else None)
    a, b = f.prepare_inputs(ir_p, vi_p, pri.deg_ir, pri.deg_vi)
    if f.curve_ir is not None:
        a, b = f.tone(a, pri.deg_ir, f.curve_ir), f.tone(b, pri.deg_vi, f.curve_vi)
    seen = {}

    def hook(_m, _i, out):
        seen["neg"] = float((out < 0).float().mean())
        return out.clamp(min=0) if clamp else out

    handle = f.mix.register_forward_hook(hook)
    try:
        fused = model.fuse_with_priors(ir_p, vi_p, pri)[..., :h, :w]
    finally:
        handle.remove()
    return fused, {"tone_ir": float(a[..., :h, :w].mean()), "tone_vi": float(b[..., :h, :w].mean()),
                   "beta_neg": seen["neg"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", required=True, metavar="NAME=CHECKPOINT")
    ap.add_argument("--inputs", type=Path, default=Path("runs/benchmarks/degraded/inputs"))
    ap.add_argument("--dataset", default="MSRS91")
    ap.add_argument("--conditions", nargs="+", default=["vi_OE", "vi_LL", "LL_LC", "ir_LC"])
    ap.add_argument("--every", type=int, default=6, help="every N-th pair in name order (default 6)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    models = []
    for spec in args.model:
        name, _, src = spec.partition("=")
        model, info = load_model(src or name)
        if model.fusion.mix is None:
            raise SystemExit(f"{spec}: the model has no IR mixing weight (ir_mix)")
        models.append((name, model.eval(), info))
    rows = []
    for cond in args.conditions:
        folder, stems = condition_stems(args.inputs, args.dataset, cond, 10 ** 6)
        stems = stems[:: args.every]
        inputs = []
        for stem in stems:
            clean, ref_ir, ref_vi = clean_sources(args.dataset, stem)
            inputs.append((prepare_pair(folder / "ir" / f"{stem}.png", folder / "vi" / f"{stem}.png"), clean, ref_ir, ref_vi))
        deg_ir = np.mean([float(d.ir.mean()) for d, *_ in inputs])
        deg_vi = np.mean([float(d.vi.mean()) for d, *_ in inputs])
        cl_ir = np.mean([float(c.ir.mean()) for _, c, *_ in inputs])
        cl_vi = np.mean([float(c.vi.mean()) for _, c, *_ in inputs])
        for name, model, _ in models:
            vals = {"tone_ir": [], "tone_vi": [], "beta_neg": [], "q": [], "q0": []}
            for d, _, ref_ir, ref_vi in inputs:
                for clamp in (False, True):
                    fused, v = measure(model, d.ir, d.vi, clamp)
                    vals["q0" if clamp else "q"].append(qabf(fused, d.vi_is_colour, ref_ir, ref_vi))
                    if not clamp:
                        for k in ("tone_ir", "tone_vi", "beta_neg"):
                            vals[k].append(v[k])
            mv = {k: float(np.mean(v)) for k, v in vals.items()}
            rows.append(f"| {name} | {cond} | {len(stems)} | {deg_vi:.3f} | {mv['tone_vi']:.3f} | {cl_vi:.3f} | "
                        f"{deg_ir:.3f} | {mv['tone_ir']:.3f} | {cl_ir:.3f} | {mv['beta_neg']:.2f} | {mv['q']:.4f} | "
                        f"{mv['q0']:.4f} |")
    cmd, steps = provenance("results/experiments/tone_loss/curves", argv, models)
    text = "\n".join([
        "# Tone curves and the IR mixing weight on degraded pairs", "",
        f"Generated by `{cmd}`; do not edit by hand. Models: {steps}. {args.dataset}, every {args.every}th pair of each "
        "condition (seeded degraded benchmark inputs). Means over pixels and pairs, in [0, 1]: the degraded input, the "
        "same after the model's input steps and tone curve (what its U-Net reads), and the clean source; β < 0: share "
        "of pixels whose IR mixing weight is negative; Qabf against the clean sources as fused and with β clamped at "
        "0. Seed 0.", "",
        "| model | condition | pairs | VI in | VI curved | VI clean | IR in | IR curved | IR clean | β < 0 | Qabf | "
        "Qabf, β ≥ 0 |",
        "| :-- | :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
        *rows, ""])
    write_or_print(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
