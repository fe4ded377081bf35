"""One Stage I training step on the CPU in the default (NCHW) and the channels-last memory layout.

Times forward + backward + AdamW step of the trainer's Stage I module (``dspfusion.training.trainer.Stage1``) for the
``lite`` preset on a synthetic batch shaped like ``configs/lite.yaml``'s (4 pairs of 96x96 crops; with
``--contrastive`` also the 3 positives per modality and 6 negatives that DPEN then encodes). The layouts are timed
in interleaved rounds after ``--warmup`` untimed steps each, from the same weights and batch, so drifting machine
speed affects both alike. Median, min and max seconds per step go to ``benchmarks/results/train_step_layout.csv``
and ``.md`` (``train_step_layout_contrastive.*`` with ``--contrastive``), with the largest relative difference of the
two layouts' first-step gradients.

    .venv/bin/python benchmarks/bench_train_step.py [--repeats 20] [--warmup 3] [--contrastive]
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--contrastive", action="store_true", help="include the contrastive sets (DPEN not frozen)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)

    import torch

    from dspfusion.benchmark.provenance import cpu_model
    from dspfusion.config import get_preset
    from dspfusion.io import write_csv_atomic, write_text_atomic
    from dspfusion.models import build_model
    from dspfusion.training.config import TrainConfig
    from dspfusion.training.losses import FusionLossWeights
    from dspfusion.training.trainer import Stage1

    torch.manual_seed(0)
    base = build_model(get_preset("lite")).train()
    cfg = TrainConfig()
    B, S = args.batch, args.crop
    g = torch.Generator().manual_seed(0)
    batch = {k: torch.rand(B, 3, S, S, generator=g) for k in ("lq_ir", "lq_vi", "gt_ir", "gt_vi")}
    batch["label_ir"] = torch.randint(0, 4, (B,), generator=g)
    batch["label_vi"] = torch.randint(0, 7, (B,), generator=g)
    if args.contrastive:
        batch.update(pos_ir=torch.rand(B, 3, 3, S, S, generator=g), pos_vi=torch.rand(B, 3, 3, S, S, generator=g),
                     neg=torch.rand(B, 6, 3, S, S, generator=g))

    def cl(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
        if t.dim() == 5:  # [B,K,3,H,W]: the step flattens it to 4-D; keep each crop channels-last
            return t.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
        return t

    variants = []
    for name, last in (("NCHW", False), ("channels-last", True)):
        model = copy.deepcopy(base)
        if last:
            model.to(memory_format=torch.channels_last)
        step = Stage1(model, cfg, FusionLossWeights())
        params = [p for p in step.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        b = {k: cl(v) for k, v in batch.items()} if last else batch
        variants.append((name, step, params, opt, b))

    def run(v) -> list[torch.Tensor]:
        _, step, params, opt, b = v
        opt.zero_grad(set_to_none=True)
        loss, _ = step(b)
        loss.backward()
        grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
        opt.step()
        return grads

    g0, g1 = run(variants[0]), run(variants[1])
    rel = max(float((a - c).abs().max() / a.abs().max().clamp_min(1e-12)) for a, c in zip(g0, g1))
    for v in variants:
        for _ in range(args.warmup):
            run(v)
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(args.repeats):
        for i, v in enumerate(variants):
            t0 = time.perf_counter()
            run(v)
            times[i].append(time.perf_counter() - t0)
    rows = [{"layout": v[0], "median_s": round(statistics.median(t), 4), "min_s": round(min(t), 4),
             "max_s": round(max(t), 4)} for v, t in zip(variants, times)]
    for r in rows:
        print(r, file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = cpu_model()
    what = "with the contrastive sets" if args.contrastive else "without the contrastive sets (as with freeze_dpen)"
    note = (f"`lite` preset, random weights, batch {B} x {S}x{S} crops, {what}; forward + backward + AdamW step of "
            f"Stage I; {args.repeats} interleaved rounds after {args.warmup} warm-up steps each; {cpu}, "
            f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads; 1-min load "
            f"average at the end {load:.1f}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "train_step_layout_contrastive" if args.contrastive else "train_step_layout"
    write_csv_atomic(args.out_dir / f"{stem}.csv", rows)
    md = ["# Stage I training step on the CPU: memory layout", "", f"{note}.", "",
          "| layout | median s/step | min s | max s | vs NCHW |", "|---|---:|---:|---:|---:|"]
    md += [f"| {r['layout']} | {r['median_s']} | {r['min_s']} | {r['max_s']} | {r['median_s'] / rows[0]['median_s']:.2f}x |"
           for r in rows]
    md += ["", f"Largest difference of the first step's gradients between the layouts, relative to each tensor's "
           f"largest gradient: {rel:.1e}."]
    write_text_atomic(args.out_dir / f"{stem}.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
