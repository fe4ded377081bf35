"""How much of a model's loss on degraded inputs is its restored semantic prior's: Qabf with the SPDM's prior
against Qabf with the clean pair's prior.

At inference the fusion network reads the semantic prior that SPDM restores from the degraded pair (paper §III-D;
``DSPFusion.compute_priors``). Stage I trains the network on the *clean* pair's prior instead (SPEN on the clean
sources), and Stage II trains SPDM to restore it. This script fuses each degraded pair twice with the same DPEN
priors, once with the SPDM prior (what ``dspfusion fuse`` does, seed 0) and once with SPEN on the clean pair (an
oracle no user has), and scores both against the clean sources (Qabf, the benchmark's ``tang`` convention, on the
uint8 fused image the inference wrapper writes). A large gap means the SPDM, not the fusion network, is what a
condition lacks: a DPEN swapped under a trained model, for instance, leaves SPDM conditioned on priors it was not
trained on until Stage II has caught up.

Reads the inputs a benchmark run synthesised (``<run>/inputs/<dataset>/<condition>/{ir,vi}/``) and the clean test
pairs; writes a markdown table of mean Qabf per model, dataset and condition.

    python benchmarks/prior_oracle.py --model lite48=runs/lite48/model.safetensors \\
        lite53=runs/lite53/model.safetensors --inputs runs/bench_quick/inputs --datasets MSRS91 \\
        --conditions LL_SN vi_LL --pairs 10
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qabf_terms import SETS, source_image  # noqa: E402  (the test sets and their file lookup)

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.inference import pad_to_multiple, prepare_pair, to_uint8  # noqa: E402
from dspfusion.io import read_image, write_or_print  # noqa: E402
from dspfusion.metrics import evaluate  # noqa: E402


@functools.lru_cache(maxsize=None)
def clean_sources(ds: str, stem: str):
    """One clean test pair, read once for every condition and model → (prepared as the model sees it, IR and VI
    arrays as the benchmark scores against)."""
    ir, vi = read_image(source_image(SETS[ds] / "ir", stem)), read_image(source_image(SETS[ds] / "vi", stem))
    return prepare_pair(ir, vi), ir, vi


def add_input_args(ap: argparse.ArgumentParser, conditions: list[str], conditions_help: str | None = None) -> None:
    """The models and inputs options this script shares with prior_scale.py."""
    ap.add_argument("--model", nargs="+", required=True, metavar="NAME=CHECKPOINT",
                    help="models with priors, each NAME=checkpoint (or a preset name)")
    ap.add_argument("--inputs", type=Path, default=Path("runs/benchmarks/degraded/inputs"),
                    help="a degraded benchmark run's inputs folder (default: runs/benchmarks/degraded/inputs)")
    ap.add_argument("--datasets", nargs="+", default=["MSRS91", "RoadScene50"], choices=sorted(SETS))
    ap.add_argument("--conditions", nargs="+", default=conditions, help=conditions_help)
    ap.add_argument("--pairs", type=int, default=10, help="first N pairs of each condition")


def load_prior_models(specs: list[str]) -> list[tuple[str, object, dict]]:
    """``NAME=CHECKPOINT`` (or a preset name) → [(name, model, checkpoint info)]; a model without priors (the
    ablation) is refused, since it has no priors to compare."""
    models = []
    for spec in specs:
        name, _, src = spec.partition("=")
        model, info = load_model(src or name)
        if not model.config.use_priors:
            raise SystemExit(f"{spec}: a model without priors (the ablation) has no semantic prior to compare")
        models.append((name, model, info))
    return models


def condition_stems(inputs: Path, ds: str, cond: str, pairs: int) -> tuple[Path, list[str]]:
    """The folder of a degraded benchmark run's inputs of one condition and its first ``pairs`` stems."""
    folder = inputs / ds / cond
    stems = sorted(p.stem for p in (folder / "ir").glob("*.png"))[:pairs]
    if not stems:
        raise SystemExit(f"{folder}/ir: no inputs (run the degraded benchmark with condition {cond} first)")
    return folder, stems


def provenance(script: str, argv: list[str] | None, models: list[tuple[str, object, dict]]) -> tuple[str, str]:
    """The command line that made a report (``python benchmarks/<script>.py ...``) and its models' steps."""
    args = argv if argv is not None else sys.argv[1:]
    cmd = f"python benchmarks/{script}.py " + " ".join(shlex.quote(a) for a in args)
    return cmd, ", ".join(f"`{n}` step {i.get('step')}" for n, _, i in models)


def qabf(fused: torch.Tensor, colour: bool, ref_ir, ref_vi) -> float:
    """Qabf of a fused ``[1,3,H,W]`` tensor as the wrapper writes it (uint8) against the clean sources (``tang``)."""
    return evaluate(to_uint8(fused, colour=colour), None, None, ["Qabf"], "tang", ref_ir=ref_ir, ref_vi=ref_vi)["Qabf"]


@torch.no_grad()
def fuse_both(model, ir: torch.Tensor, vi: torch.Tensor, clean_ir: torch.Tensor, clean_vi: torch.Tensor,
              seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[float, float]]:
    """Unpadded ``[1,3,H,W]`` degraded and clean pairs → ((fused with the SPDM prior, fused with the clean prior),
    (mean |SPDM prior − clean prior|, mean |SPEN(degraded pair) − clean prior|))."""
    h, w = ir.shape[-2:]
    m = model.config.fusion.pad_multiple
    ir_p, vi_p = pad_to_multiple(ir, m), pad_to_multiple(vi, m)
    noise = model.initial_noise(1, seed=seed)
    restored = model.compute_priors(ir_p, vi_p, noise=noise)
    # the same DPEN priors and SPEN(LQ), only the prior the fusion network reads replaced by the clean pair's
    oracle = dataclasses.replace(restored, sem=model.semantic(pad_to_multiple(clean_ir, m), pad_to_multiple(clean_vi, m)))
    fused = (model.fuse_with_priors(ir_p, vi_p, restored)[..., :h, :w],
             model.fuse_with_priors(ir_p, vi_p, oracle)[..., :h, :w])
    # how far each prior is from the clean pair's: mean absolute difference over tokens and channels
    dist = (float((restored.sem - oracle.sem).abs().mean()), float((restored.sem_lq - oracle.sem).abs().mean()))
    return fused, dist


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_args(ap, ["LL_SN", "vi_LL"])
    ap.add_argument("--out", type=Path, help="markdown file (default: print)")
    args = ap.parse_args(argv)
    models = load_prior_models(args.model)
    rows = []
    for ds in args.datasets:
        for cond in args.conditions:
            folder, stems = condition_stems(args.inputs, ds, cond, args.pairs)
            scores = {name: [] for name, _, _ in models}
            dists = {name: [] for name, _, _ in models}
            for stem in stems:
                clean, ref_ir, ref_vi = clean_sources(ds, stem)
                deg = prepare_pair(folder / "ir" / f"{stem}.png", folder / "vi" / f"{stem}.png")
                for name, model, _ in models:
                    fused, dist = fuse_both(model, deg.ir, deg.vi, clean.ir, clean.vi)
                    scores[name].append([qabf(f, deg.vi_is_colour, ref_ir, ref_vi) for f in fused])
                    dists[name].append(dist)
            for name in scores:
                s, d = np.array(scores[name]), np.array(dists[name])
                worst = int(np.argmax(s[:, 1] - s[:, 0]))
                rows.append(f"| {name} | {ds} | {cond} | {len(stems)} | {s[:, 0].mean():.3f} | {s[:, 1].mean():.3f} | "
                            f"{s[:, 1].mean() - s[:, 0].mean():+.3f} | {int((s[:, 1] - s[:, 0] > 0.1).sum())} | "
                            f"{d[:, 0].mean():.3f} | {d[:, 1].mean():.3f} | {stems[worst]} ({s[worst, 0]:.3f} → "
                            f"{s[worst, 1]:.3f}) |")
    cmd, steps = provenance("prior_oracle", argv, models)
    text = "\n".join([
        "# Restored against clean semantic prior", "",
        f"Generated by `{cmd}`; do not edit by hand. Models: {steps}. Mean Qabf against the clean sources of the "
        "first pairs of each condition, fused with the prior SPDM restores from the degraded pair (what `dspfusion "
        "fuse` does, seed 0) and with SPEN's prior of the clean pair (an oracle: what Stage I trains the fusion "
        "network on); the pairs where the oracle gains more than 0.1; the mean absolute difference, over tokens and "
        "channels, between the clean pair's prior and the SPDM's (\"L1, SPDM\") and between it and SPEN's prior of the "
        "degraded pair, the SPDM's condition (\"L1, SPEN(LQ)\"); and the pair where the oracle gains most.", "",
        "| model | dataset | condition | pairs | Qabf, SPDM prior | Qabf, clean prior | gap | gap > 0.1 | L1, SPDM | "
        "L1, SPEN(LQ) | largest gap |",
        "| :-- | :-- | :-- | --: | --: | --: | --: | --: | --: | --: | :-- |",
        *rows, ""])
    write_or_print(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
