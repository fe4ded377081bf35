"""Fit the two-scale semantic prior's gate post hoc on a trained model, every other weight frozen.

:mod:`dspfusion.models.semantic_scale` mixes the restored semantic prior of the pair as given with that of a copy
shrunk to a long side of ``--side`` pixels, by a gate g in [0, 1] read from the DPEN priors. This script adds the
gate to a trained model (``DSPFusionConfig.sem_copy_side``) and fits it alone:

1. **samples** — clean training pairs (``--train``: the folders whose pairs are larger than the copy; the test sets
   are never read) degraded by one of ``--conditions`` (the benchmark's 12 and clean, equally likely; data sets equally
   likely), at their native sizes. For each, the priors (DPEN, SPEN → SPDM with a seeded starting noise) of the full
   pair and of the copy are computed once, under ``torch.no_grad``.
2. **fit** — AdamW on the gate's parameters only (the gradient passes its clamp straight through), with the
   training recipe's fusion loss (``--loss-weights``; the shipped recipe's by default) against the clean sources, on
   a random ``--crop`` of the pair fused with the whole pair's priors (as tiled inference fuses a tile), one sample a
   step. Scenes of the training folders are split
   (seeded) into a fitting and a check part; the check part never moves a weight.
3. **report** — the check samples' mean fusion loss with g = 0 (the model as it was) and with the fitted gate, per
   condition, and the mean g per condition, as markdown (``--report``).
4. ``--write PATH``: the model with the gate as a self-describing safetensors file (config with ``sem_copy_side``,
   same step, metadata ``sem_gate_fit``); every other tensor is checked to be bit-identical to the source.

    OMP_NUM_THREADS=2 python benchmarks/fit_sem_gate.py --model lite --write runs/semgate/model.safetensors \\
        --report benchmarks/results/experiments/sem_gate/fit.md
"""
from __future__ import annotations

import argparse
import ast
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from dspfusion.checkpoint import extra_metadata, load_model, save_model  # noqa: E402
from dspfusion.data.folders import scan_pairs  # noqa: E402
from dspfusion.data.images import decode  # noqa: E402
from dspfusion.degradations import CONDITIONS, apply_condition  # noqa: E402
from dspfusion.inference import pad_to_multiple, prepare_pair  # noqa: E402
from dspfusion.io import write_or_print  # noqa: E402
from dspfusion.models import build_model  # noqa: E402
from dspfusion.models.semantic_scale import mix_semantic_priors  # noqa: E402
from dspfusion.training.losses import FusionLossWeights, fusion_loss  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEFAULT_TRAIN = [SHARED / "train" / n for n in ("msrs30", "roadscene171", "llvip32")]
# the loss of the shipped recipe (benchmarks/results/experiments/msrs_scale/draws.sh; lite45 onwards)
SHIPPED_LOSS = "{'gradient': 25, 'pyramid': 150, 'intensity': 5, 'pyramid_window': 3, 'undershoot': 150, 'qabf': 100}"


def with_gate(model, side: int):
    """A copy of ``model`` with ``sem_copy_side = side`` and an untrained gate (g = 0: the same fusion)."""
    gated = build_model(model.config.replace(sem_copy_side=side))
    missing, unexpected = gated.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("sem_gate.") for k in missing):
        raise SystemExit(f"the model does not take a gate cleanly: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return gated.eval()


def draw_samples(model, pairs, n: int, conditions: list[str], side: int, seed: int) -> list[dict]:
    """``n`` degraded samples with their clean sources and both scales' priors (no gradients)."""
    rng = np.random.default_rng(seed)
    by_set: dict[str, list] = {}
    for p in pairs:
        by_set.setdefault(p.name.split("/")[0], []).append(p)
    sets = sorted(by_set)
    m = model.config.fusion.pad_multiple
    out = []
    for i in range(n):
        pair = by_set[sets[int(rng.integers(len(sets)))]]
        pair = pair[int(rng.integers(len(pair)))]
        cond = conditions[int(rng.integers(len(conditions)))]
        ir, vi = decode(pair.ir, grey=True), decode(pair.vi, grey=False)
        if max(ir.shape[:2]) <= side:
            continue
        ir_d, vi_d, _ = apply_condition(ir, vi, cond, rng)
        deg, clean = prepare_pair(ir_d, vi_d), prepare_pair(ir, vi)
        ir_p, vi_p = pad_to_multiple(deg.ir, m), pad_to_multiple(deg.vi, m)
        noise = model.initial_noise(1, seed=seed + i)
        with torch.no_grad():
            pri = model.compute_priors(ir_p, vi_p, noise=noise)  # g = 0 while untrained: the full pair's prior
            copy = model.semantic_prior_of_copy(ir_p, vi_p, None, noise)
        out.append({"name": pair.name, "cond": cond, "ir": ir_p, "vi": vi_p, "gt_ir": clean.ir, "gt_vi": clean.vi,
                    "size": deg.size, "pri": pri, "copy": copy, "ref": (ir, vi), "colour": deg.vi_is_colour})
    return out


def fused_loss(model, s: dict, g: torch.Tensor, w: FusionLossWeights, box: tuple[int, int, int, int] | None,
               with_fused: bool = False):
    """The fusion loss of sample ``s`` fused with the semantic prior mixed by ``g`` ``[1,1]``, on ``box`` (y, x, h, w)
    of the pair (None: the whole unpadded pair); ``with_fused``: (loss, fused image)."""
    pri = s["pri"]
    sem = mix_semantic_priors(pri.sem, s["copy"], g)
    if box is None:  # the padded pair, cropped back
        y, x, (bh, bw) = 0, 0, s["size"]
        fused = model.fusion(s["ir"], s["vi"], pri.deg_ir, pri.deg_vi, sem)[..., :bh, :bw]
    else:
        y, x, bh, bw = box
        fused = model.fusion(s["ir"][..., y:y + bh, x:x + bw], s["vi"][..., y:y + bh, x:x + bw], pri.deg_ir,
                             pri.deg_vi, sem)
    loss = fusion_loss(fused, s["gt_ir"][..., y:y + bh, x:x + bw], s["gt_vi"][..., y:y + bh, x:x + bw], w)[0]
    return (loss, fused) if with_fused else loss


def gate_of(model, s: dict, straight_through: bool = False) -> torch.Tensor:
    pri = s["pri"]
    return model.sem_gate(pri.deg_ir, pri.deg_vi, max(s["ir"].shape[-2:]), model.config.sem_copy_side, straight_through)


def scan(model, samples: list[dict], args, weights: FusionLossWeights, argv: list[str] | None) -> int:
    """The ``--scan`` report: mean fusion loss and Qabf (against the clean sources, the degraded benchmark's ``tang``
    convention on the uint8 image the wrapper writes) per condition (``--by-dataset``: per data set and condition) at
    each fixed g, samples fused whole."""
    from dspfusion.inference import to_uint8
    from dspfusion.metrics import evaluate

    rows: dict[str, list[list[float]]] = {}
    t0 = time.time()
    with torch.no_grad():
        for i, s in enumerate(samples):
            losses, qs = [], []
            for g in args.scan:
                loss, fused = fused_loss(model, s, torch.full((1, 1), g), weights, None, with_fused=True)
                losses.append(float(loss))
                qs.append(evaluate(to_uint8(fused, colour=s["colour"]), None, None, ["Qabf"], "tang",
                                   ref_ir=s["ref"][0], ref_vi=s["ref"][1])["Qabf"])
            key = f"{s['name'].split('/')[0]} · {s['cond']}" if args.by_dataset else s["cond"]
            rows.setdefault(key, []).append(losses + qs)
            if (i + 1) % 50 == 0:
                print(f"{i + 1}/{len(samples)} samples ({time.time() - t0:.0f} s)", flush=True)
    cmd = " ".join(["python benchmarks/fit_sem_gate.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    k = len(args.scan)
    gs = " | ".join(f"loss, g = {g:g}" for g in args.scan) + " | " + " | ".join(f"Qabf, g = {g:g}" for g in args.scan)
    lines = [f"# The fusion loss against a fixed mix of the two semantic priors (`{args.model}`, copy {args.side} px)", "",
             f"Generated by `{cmd}`; do not edit by hand. {len(samples)} degraded samples of "
             f"{', '.join(p.name for p in args.train)} (fitting and check together), fused whole with the semantic prior "
             "P(full) + g · (P(copy) − P(full)); means of the training recipe's fusion loss (lower is better) and of "
             "Qabf against the clean sources (higher is better), and, in brackets, the samples better than at the first "
             "g.", "",
             f"| {'data set · condition' if args.by_dataset else 'condition'} | samples | {gs} |",
             "| :-- | --: |" + " --: |" * (2 * k)]

    def cells(v: np.ndarray) -> str:
        loss = [f"{v[:, j].mean():.4f} ({int((v[:, j] < v[:, 0]).sum())})" for j in range(k)]
        q = [f"{v[:, k + j].mean():.4f} ({int((v[:, k + j] > v[:, k]).sum())})" for j in range(k)]
        return " | ".join(loss + q)

    for key in sorted(rows):
        v = np.array(rows[key])
        lines.append(f"| {key} | {len(v)} | {cells(v)} |")
    v = np.concatenate([np.array(r) for r in rows.values()])
    lines.append(f"| all | {len(v)} | {cells(v)} |")
    write_or_print("\n".join(lines) + "\n", args.report)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite", help="trained model (preset name or checkpoint; default: shipped lite)")
    ap.add_argument("--side", type=int, default=256, help="long side of the shrunk copy (default 256)")
    ap.add_argument("--train", nargs="+", type=Path, default=DEFAULT_TRAIN, help="folders of clean training pairs")
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument("--samples", type=int, default=300, help="degraded samples drawn (default 300)")
    ap.add_argument("--check", type=float, default=0.2, help="share of scenes kept for the check (default 0.2)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--crop", type=int, default=192, help="side of the fused crop a step trains on (a multiple of the padding multiple)")
    ap.add_argument("--loss-weights", default=SHIPPED_LOSS, help="fusion-loss weights (a Python dict literal)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scan", nargs="+", type=float, metavar="G",
                    help="fit nothing: report the fusion loss of every sample (fitting and check) fused whole at each "
                         "fixed g, per condition (where the loss wants the copy's prior, before any gate)")
    ap.add_argument("--by-dataset", action="store_true", help="--scan: one row per data set and condition")
    ap.add_argument("--write", type=Path, help="write the model with the fitted gate here (.safetensors, a new file)")
    ap.add_argument("--report", type=Path, help="write the markdown report here (default: print it)")
    args = ap.parse_args(argv)
    if args.write and args.write.exists():
        raise SystemExit(f"{args.write} exists; give a new file")
    try:
        weights = FusionLossWeights(**ast.literal_eval(args.loss_weights))
    except (ValueError, SyntaxError, TypeError) as e:
        raise SystemExit(f"--loss-weights {args.loss_weights!r}: {e}") from None
    torch.manual_seed(args.seed)
    base, info = load_model(args.model)
    if not base.config.use_priors:
        raise SystemExit(f"{args.model}: a no-prior model has no semantic prior to mix")
    model = with_gate(base.eval(), args.side)
    m = model.config.fusion.pad_multiple
    if args.crop % m:
        raise SystemExit(f"--crop must be a multiple of {m} (the model's padding multiple), got {args.crop}")
    for p in model.parameters():
        p.requires_grad_(False)
    pairs = scan_pairs(args.train)
    scenes = sorted({p.name for p in pairs})
    rng = np.random.default_rng(args.seed)
    check = set(rng.choice(scenes, size=max(1, int(args.check * len(scenes))), replace=False).tolist())
    t0 = time.time()
    fit = draw_samples(model, [p for p in pairs if p.name not in check], args.samples, args.conditions, args.side, args.seed)
    held = draw_samples(model, [p for p in pairs if p.name in check], max(1, int(args.samples * args.check)),
                        args.conditions, args.side, args.seed + 10 ** 6)
    print(f"{len(fit)} fitting and {len(held)} check samples in {time.time() - t0:.0f} s", flush=True)
    if not fit or not held:
        raise SystemExit(f"no pair of {', '.join(map(str, args.train))} is larger than --side {args.side}")

    if args.scan:
        return scan(model, fit + held, args, weights, argv)
    gate = model.sem_gate
    for p in gate.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(gate.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    t0, run = time.time(), []
    for step in range(args.steps):
        s = fit[int(rng.integers(len(fit)))]
        h, w = s["size"]
        ch, cw = min(args.crop, h - h % m), min(args.crop, w - w % m)
        box = (int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw)
        loss = fused_loss(model, s, gate_of(model, s, straight_through=True), weights, box)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{args.steps}: loss {np.mean(run[-100:]):.4f} ({time.time() - t0:.0f} s)", flush=True)
    for p in gate.parameters():
        p.requires_grad_(False)

    rows: dict[str, list[tuple[float, float, float]]] = {}
    with torch.no_grad():
        for s in held:
            g = gate_of(model, s)
            rows.setdefault(s["cond"], []).append(
                (float(fused_loss(model, s, torch.zeros_like(g), weights, None)), float(fused_loss(model, s, g, weights, None)),
                 float(g)))
    cmd = " ".join(["python benchmarks/fit_sem_gate.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    lines = [f"# The two-scale semantic prior's gate, fitted on `{args.model}` (step {info['step']})", "",
             f"Generated by `{cmd}`; do not edit by hand. Copy: long side {args.side} px. {len(fit)} fitting and "
             f"{len(held)} check samples from {', '.join(p.name for p in args.train)} (scenes split, seed {args.seed}); "
             f"{args.steps} steps on {args.crop}-px crops. Check samples fused whole: the recipe's fusion loss "
             "(lower is better) with g = 0 (the model as it was) and with the fitted gate, and the mean g.", "",
             "| condition | check samples | loss, g = 0 | loss, fitted | change | mean g |", "| :-- | --: | --: | --: | --: | --: |"]
    allv = []
    for cond in sorted(rows):
        v = np.array(rows[cond])
        allv.append(v)
        lines.append(f"| {cond} | {len(v)} | {v[:, 0].mean():.4f} | {v[:, 1].mean():.4f} | {v[:, 1].mean() - v[:, 0].mean():+.4f} "
                     f"| {v[:, 2].mean():.2f} |")
    v = np.concatenate(allv)
    lines.append(f"| all | {len(v)} | {v[:, 0].mean():.4f} | {v[:, 1].mean():.4f} | {v[:, 1].mean() - v[:, 0].mean():+.4f} "
                 f"| {v[:, 2].mean():.2f} |")
    write_or_print("\n".join(lines) + "\n", args.report)

    if args.write:
        before = base.state_dict()
        for k, t in model.state_dict().items():
            if not k.startswith("sem_gate.") and not torch.equal(t, before[k]):
                raise SystemExit(f"{k} changed while fitting the gate; nothing written")
        extra = extra_metadata(args.model) if Path(args.model).is_file() else {}
        extra["sem_gate_fit"] = f"{cmd} (check loss {v[:, 0].mean():.4f} -> {v[:, 1].mean():.4f})"
        save_model(model, args.write, step=info["step"], extra=extra)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
