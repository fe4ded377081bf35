"""How the degradation probe should pool over the tiles of an image: held-out accuracy of one model's own probe.

``dspfusion diagnose`` (``DSPFusion.diagnosis_features`` with ``probe_tile`` N) feeds the probe the *mean* DPEN type
vector of the N×N tiles covering an image, while Stage I trained the probe on the type vector of one crop. This script
keeps the model and its probe as they are and compares ways of pooling the per-tile evidence, on fit_probe.py's
held-out samples (every pair of msrs30, msrs91, tno42 and roadscene50 degraded with every class, seed 1; the same
images fit_probe.py scores):

* ``mean feature``: the probe on the mean type vector of the tiles (what ``diagnose`` does now);
* ``mean logits``: the mean of the probe's logits of each tile;
* ``mean log-prob``: the mean of each tile's log-softmax (a product of the tiles' distributions);
* ``vote``: the class most tiles pick (ties: the larger summed probability);
* ``mean feature, half size``: the mean type vector of the tiles of the image downscaled 2× (area), then the probe;
* ``mean logits, both sizes``: the mean of the ``mean logits`` of the full and the half-size image.

Nothing is fitted; no output of the fusion network changes. The figures this prints (and writes with ``--out``) are
for choosing a pooling, not the diagnosis accuracy the README reports (benchmarks/results/probe.md).

    OMP_NUM_THREADS=2 python benchmarks/probe_pooling.py --out benchmarks/results/experiments/probe_pooling.md
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.inference import pad_to_multiple, prepare_pair  # noqa: E402
from dspfusion.models.dspfusion import downscale  # noqa: E402
from fit_probe import CLASSES, DEFAULT_EVAL, MODALITIES, eval_samples, load_sources  # noqa: E402

VARIANTS = ("mean feature", "mean logits", "mean log-prob", "vote", "mean feature, half size",
            "mean logits, both sizes")


@torch.no_grad()
def predictions(model, img: torch.Tensor, modality: str, tile: int) -> dict[str, int]:
    """Every variant's predicted class for one padded image ``[1,3,H,W]``."""
    probe = model.probe
    full = model.tile_type_vectors(img[0], tile)
    half_img = pad_to_multiple(downscale(img, 0.5), model.config.fusion.pad_multiple)
    half = model.tile_type_vectors(half_img[0], tile)
    logits = probe(full, modality)  # [T, K]
    logits_half = probe(half, modality)
    votes = torch.bincount(logits.argmax(-1), minlength=logits.shape[-1]).float()
    votes = votes + 1e-3 * logits.softmax(-1).sum(0)  # ties: the larger summed probability
    return {
        "mean feature": int(probe(full.mean(0, keepdim=True), modality).argmax()),
        "mean logits": int(logits.mean(0).argmax()),
        "mean log-prob": int(logits.log_softmax(-1).mean(0).argmax()),
        "vote": int(votes.argmax()),
        "mean feature, half size": int(probe(half.mean(0, keepdim=True), modality).argmax()),
        "mean logits, both sizes": int((logits.mean(0) + logits_half.mean(0)).argmax()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lite", help="checkpoint or preset with a probe (default: the shipped lite)")
    ap.add_argument("--eval", nargs="+", type=Path, default=DEFAULT_EVAL, help="folders of clean held-out pairs")
    ap.add_argument("--max-eval-pairs", type=int, default=None, help="at most this many pairs per folder")
    ap.add_argument("--tile", type=int, default=None, help="tile size (default: the model's probe_tile, else 96)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the held-out degradations (fit_probe's --eval-seed)")
    ap.add_argument("--out", type=Path, help="markdown file (default: print)")
    args = ap.parse_args(argv)

    torch.set_grad_enabled(False)
    model, info = load_model(args.model)
    if model.probe is None:
        raise SystemExit(f"{args.model}: this model has no degradation probe")
    tile = args.tile or model.config.probe_tile or 96
    sources = load_sources(args.eval, args.max_eval_pairs)
    right = {m: {v: np.zeros(len(CLASSES[m]), int) for v in VARIANTS} for m in MODALITIES}
    total = {m: np.zeros(len(CLASSES[m]), int) for m in MODALITIES}
    t0 = time.time()
    for i, src, modality, y, kind, d, params in eval_samples(sources, args.seed):
        ir, vi = (src.ir, d) if modality == "vi" else (d, src.vi)
        inp = prepare_pair(ir, vi, resize_ir_to_vi=True)
        img = pad_to_multiple(inp.vi if modality == "vi" else inp.ir, model.config.fusion.pad_multiple)
        for v, p in predictions(model, img, modality, tile).items():
            right[modality][v][y] += int(p == y)
        total[modality][y] += 1
    seconds = time.time() - t0

    cmd = "python benchmarks/probe_pooling.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    lines = [f"Generated by `{cmd.strip()}`; do not edit by hand. Model `{args.model}` (step "
             f"{info.get('step')}), its own probe, tiles {tile}; held-out samples of "
             f"{', '.join(p.name for p in args.eval)} (seed {args.seed}), {seconds:.0f} s.", "",
             "| pooling | VI | IR | " + " | ".join(f"VI {c}" for c in CLASSES["vi"]) + " |",
             "| :-- | --: | --: | " + " | ".join("--:" for _ in CLASSES["vi"]) + " |"]
    for v in VARIANTS:
        vi_acc = right["vi"][v].sum() / total["vi"].sum()
        ir_acc = right["ir"][v].sum() / total["ir"].sum()
        per = [f"{100 * r / max(n, 1):.1f}" for r, n in zip(right["vi"][v], total["vi"])]
        lines.append(f"| {v} | {100 * vi_acc:.1f}% | {100 * ir_acc:.1f}% | " + " | ".join(per) + " |")
    lines += ["", f"Samples: VI {total['vi'].sum()}, IR {total['ir'].sum()}. IR per class (clean, LC, RN, SN) for "
              "each pooling: " + "; ".join(f"{v}: " + ", ".join(f"{100 * r / max(n, 1):.1f}" for r, n in
                                                               zip(right['ir'][v], total['ir'])) for v in VARIANTS)]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
