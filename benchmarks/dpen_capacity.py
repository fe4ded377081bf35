"""How well can a DPEN of a given size tell the degradation types apart? A ceiling for the diagnosis probe.

The shipped probe (benchmarks/fit_probe.py) reads the type vectors of the trained model's DPEN, which was trained
for fusion and contrast, not for classification. This script asks what the DPEN *architecture* can do when it is
trained for nothing but classification, for several sizes, to tell how much of the probe's gap to the 95 % target
(issue 5) is the encoder's size:

1. **train** — for each ``--variant NAME=EMBED,BLOCKS,STEM[,OUT]`` (the DPEN's ``embed_dim``, ``num_blocks`` and
   ``stem_dim``; the ``lite`` preset's DPEN is 16,2,24, the paper's 32,4,48), a fresh DPEN and linear probe
   (the modules the model uses) trained from scratch with the class-balanced cross-entropy of both modalities on
   96-pixel crops drawn exactly like Stage I's (``SyntheticPairDataset`` over ../shared/data/train without
   msrs30, groups weighted so that every VI class and every IR class is equally likely). No fusion, no contrastive
   loss. AdamW, cosine schedule, seeded.
2. **held-out evaluation** — exactly fit_probe.py's protocol and code (``build_eval_features`` / ``accuracy``):
   whole held-out images (msrs30 and the three test sets; ``--max-eval-pairs`` per folder), degraded with every
   class under seed 1, feature = mean type vector of 96-pixel tiles.

Outputs: benchmarks/results/dpen_capacity.{csv,md} (one row per variant of this run; ``--out-dir`` elsewhere).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/dpen_capacity.py --variant lite=16,2,24 paper=32,4,48

It is also how the shipped model's DPEN was pretrained for classification (docs/TRAINING.md, ``lite7``):
``--init MODEL`` starts from a model's DPEN instead of from scratch, ``--save-dir DIR`` writes each trained DPEN and
probe to ``DIR/NAME.safetensors``, which ``dspfusion train --set dpen_init=...`` loads. ``--train-roots`` and
``--root-repeat`` change the folders the crops come from (the held-out folders, ``--eval``, are refused).
``--grey-vi`` and ``--sensor-noise`` add camera augmentations to the clean crops (SyntheticPairDataset's options of
the same names): grey visible frames and mild Gaussian sensor noise, as TNO's camera gives them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fit_probe import DEFAULT_EVAL, SHARED, accuracy, build_eval_features, load_sources, predict  # noqa: E402

from dspfusion.config import make_config  # noqa: E402
from dspfusion.io import write_csv_atomic, write_text_atomic  # noqa: E402
from dspfusion.models import build_model  # noqa: E402
from dspfusion.models.build import count_parameters  # noqa: E402
from dspfusion.models.degradation_probe import IR_CLASSES, VI_CLASSES  # noqa: E402

TRAIN_ROOTS = [SHARED / "train" / n for n in ("msrs1083", "roadscene171", "llvip32")]  # msrs30 is held out
# Group weights (clean, VI only, IR only, both) that make the 7 VI classes and the 4 IR classes equally likely:
# P(VI clean) = clean + ir = 1/7, P(IR clean) = clean + vi = 1/4.
PROPORTIONS = {"clean": 0.0, "vi": 0.25, "ir": 1 / 7, "both": 1 - 0.25 - 1 / 7}


def parse_variant(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME=EMBED,BLOCKS,STEM[,OUT]`` → (name, (embed, blocks, stem, out)); OUT (the prior's channels, the
    model's ``deg_dim``) defaults to 4 × EMBED, as ``make_config`` ties them."""
    try:
        name, spec = text.split("=")
        values = [int(v) for v in spec.split(",")]
        if len(values) not in (3, 4):
            raise ValueError
    except ValueError:
        raise SystemExit(f"--variant {text!r}: expected NAME=EMBED,BLOCKS,STEM[,OUT], e.g. lite=16,2,24 or "
                         "paper64=32,4,48,64") from None
    embed, blocks, stem = values[:3]
    return name, (embed, blocks, stem, values[3] if len(values) == 4 else 4 * embed)


def build(embed: int, blocks: int, stem: int, tile: int, out: int | None = None):
    """A lite-like model whose DPEN has the given size (``out``: its prior's channels, default 4 × embed); only its
    DPEN and probe are used here."""
    from dataclasses import replace

    cfg = make_config(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, sem_embed=8, sem_blocks=1, sem_stem=8,
                      deg_embed=embed, deg_blocks=blocks, deg_stem=stem, denoiser_blocks=1, stem_stride=2,
                      with_probe=True)
    if out is not None and out != cfg.degradation.out_dim:
        cfg = cfg.replace(degradation=replace(cfg.degradation, out_dim=out), fusion=replace(cfg.fusion, deg_dim=out),
                          denoiser=replace(cfg.denoiser, cond_dim=cfg.semantic.out_dim + 2 * out))
    return build_model(cfg.replace(probe_tile=tile))


def train_variant(model, steps: int, batch: int, lr: float, seed: int, workers: int, log_every: int,
                  roots: list[Path], root_repeat: dict[str, int] | None, camera: dict | None = None) -> float:
    """``camera``: extra SyntheticPairDataset options (grey_vi, sensor_noise, sensor_noise_sigma); None = none."""
    from torch.utils.data import DataLoader, RandomSampler

    from dspfusion.data import SyntheticPairDataset

    torch.manual_seed(seed)
    ds = SyntheticPairDataset(roots, crop=96, proportions=PROPORTIONS, contrastive=False, seed=seed,
                              max_side=640, root_repeat=root_repeat, **(camera or {}))
    sampler = RandomSampler(ds, replacement=True, num_samples=steps * batch, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0)
    params = list(model.degradation.parameters()) + list(model.probe.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05, anneal_strategy="cos")
    model.train()
    t0, hits, seen, losses = time.time(), {"vi": 0, "ir": 0}, 0, []
    for step, b in enumerate(loader, 1):
        x = torch.cat([b["lq_vi"], b["lq_ir"]])
        _, t = model.degradation(x)
        t_vi, t_ir = t[:batch], t[batch:]
        logit_vi, logit_ir = model.probe(t_vi, "vi"), model.probe(t_ir, "ir")
        loss = F.cross_entropy(logit_vi, b["label_vi"]) + F.cross_entropy(logit_ir, b["label_ir"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        hits["vi"] += int((logit_vi.argmax(-1) == b["label_vi"]).sum())
        hits["ir"] += int((logit_ir.argmax(-1) == b["label_ir"]).sum())
        seen += batch
        if step % log_every == 0 or step == steps:
            print(f"  step {step}/{steps}: loss {np.mean(losses[-log_every:]):.3f}, train-crop accuracy of the last "
                  f"{seen} samples VI {hits['vi'] / seen:.1%} IR {hits['ir'] / seen:.1%} ({time.time() - t0:.0f} s)",
                  flush=True)
            hits, seen = {"vi": 0, "ir": 0}, 0
    model.eval()
    return time.time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", nargs="+", default=["lite=16,2,24", "paper=32,4,48"],
                    help="NAME=EMBED,BLOCKS,STEM[,OUT] of each DPEN to train, OUT its prior's channels (default "
                    "4 x EMBED; the lite model reads 64) (default: lite and paper sizes)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32, help="pairs per step (as many VI and IR crops)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="data-loading processes")
    ap.add_argument("--max-eval-pairs", type=int, default=20, help="held-out pairs per folder (evenly spaced)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=200)
    ap.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--init", type=Path, default=None,
                    help="start every variant's DPEN from this model's DPEN (.safetensors; sizes must match)")
    ap.add_argument("--save-dir", type=Path, default=None,
                    help="write each trained DPEN + probe to SAVE_DIR/NAME.safetensors (for initialising a model)")
    ap.add_argument("--train-roots", nargs="+", type=Path, default=TRAIN_ROOTS,
                    help="clean pair folders to draw training crops from (default: msrs1083, roadscene171, llvip32)")
    ap.add_argument("--root-repeat", nargs="*", default=[], metavar="FOLDER=N",
                    help="draw the pairs of these folders N times per epoch, e.g. roadscene171=6 llvip32=30")
    ap.add_argument("--eval", nargs="+", type=Path, default=DEFAULT_EVAL,
                    help="held-out pair folders (default: msrs30 and the three test sets; fit_probe.TEST_EVAL's "
                    "three test sets when msrs30 is trained on)")
    cam = ap.add_argument_group("camera augmentations (the clean crop, before it is degraded; default: none)")
    cam.add_argument("--grey-vi", type=float, default=0.0, help="probability that a VI crop is made grey")
    cam.add_argument("--sensor-noise", type=float, default=0.0,
                     help="probability, per modality, of Gaussian sensor noise on the clean crop")
    cam.add_argument("--sensor-noise-sigma", type=float, nargs=2, default=(0.5, 3.0), metavar=("LOW", "HIGH"),
                     help="its standard deviation in grey levels, drawn uniformly (default 0.5 3)")
    args = ap.parse_args(argv)
    held = {p.resolve() for p in args.eval}
    if any(p.resolve() in held for p in args.train_roots):
        raise SystemExit("--train-roots: a held-out evaluation folder cannot be used for training")
    try:
        repeat = {k: int(v) for k, v in (item.split("=") for item in args.root_repeat)} or None
    except ValueError:
        raise SystemExit(f"--root-repeat {args.root_repeat}: expected FOLDER=N items") from None
    torch.set_num_threads(args.threads)
    variants = [parse_variant(v) for v in args.variant]
    print(f"loading held-out pairs ({args.max_eval_pairs} per folder)...", flush=True)
    eval_sources = load_sources(args.eval, args.max_eval_pairs)
    camera = {"grey_vi": args.grey_vi, "sensor_noise": args.sensor_noise,
              "sensor_noise_sigma": tuple(args.sensor_noise_sigma)}
    rows, per_class = [], {}
    for name, (embed, blocks, stem, out) in variants:
        torch.manual_seed(args.seed)  # the same initial weights for the same size, whatever ran before
        model = build(embed, blocks, stem, tile=96, out=out)
        n_params = count_parameters(model.degradation)
        if args.init is not None:
            from dspfusion.checkpoint import load_parts, read_metadata

            # a model file or a file this script saved; a DPEN of another size is an error
            load_parts(model, args.init, "degradation", label="--init", hint="pick a --variant of the same size")
            meta = read_metadata(args.init)
            print(f"{name}: DPEN initialised from {args.init} (step {meta.get('step', meta.get('steps'))})", flush=True)
        print(f"{name}: DPEN embed {embed}, blocks {blocks}, stem {stem}, out {out}: {n_params:,} parameters", flush=True)
        train_s = train_variant(model, args.steps, args.batch, args.lr, args.seed, args.workers, args.log_every,
                                args.train_roots, repeat, camera)
        t0 = time.time()
        sets, _ = build_eval_features(model, eval_sources, seed=1, tiles={"t96": 96})
        fs = sets["t96"]
        acc = accuracy(model.probe, fs)
        per_class[name] = {}
        for m, classes in (("vi", VI_CLASSES), ("ir", IR_CLASSES)):
            _, y = fs.arrays(m)
            p = predict(model.probe, fs, m)
            per_class[name][m] = {c: float((p[y == k] == k).mean()) for k, c in enumerate(classes) if (y == k).any()}
        if args.save_dir is not None:
            save_dpen(model, args.save_dir / f"{name}.safetensors", {"embed": embed, "blocks": blocks, "stem": stem, "out": out,
                      "steps": args.steps, "init": str(args.init or ""), "vi_acc": acc["vi"], "ir_acc": acc["ir"]})
        rows.append({"variant": name, "init": args.init.name if args.init else "", "embed": embed, "blocks": blocks, "stem": stem, "out": out, "dpen_params": n_params,
                     "steps": args.steps, "batch": args.batch, "train_min": round(train_s / 60, 1),
                     "vi_acc": round(acc["vi"], 4), "ir_acc": round(acc["ir"], 4),
                     "vi_n": len(fs.y["vi"]), "ir_n": len(fs.y["ir"]), "eval_s": round(time.time() - t0)})
        print(f"{name}: held-out VI {acc['vi']:.1%} IR {acc['ir']:.1%}; "
              + ", ".join(f"{c} {v:.0%}" for c, v in per_class[name]["vi"].items()), flush=True)
        write_results(args, argv, rows, per_class)  # after every variant, so a stopped run keeps what it measured
    return 0


def save_dpen(model, path: Path, meta: dict) -> None:
    """DPEN + probe weights (keys as in the model: ``degradation.*``, ``probe.*``), written atomically."""
    from safetensors.torch import save_file

    from dspfusion.io import commit_temp

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()
             if k.startswith(("degradation.", "probe."))}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata={k: str(v) for k, v in meta.items()})
    commit_temp(tmp, path)
    print(f"wrote {path}", flush=True)


def camera_text(args: argparse.Namespace) -> str:
    """The camera augmentations of this run, as a clause of the results' prose ('' when none)."""
    parts = ([f"{args.grey_vi:g} of VI crops grey"] if args.grey_vi else []) + (
        [f"sensor noise sigma {args.sensor_noise_sigma[0]:g}-{args.sensor_noise_sigma[1]:g} grey levels on "
         f"{args.sensor_noise:g} of clean crops per modality"] if args.sensor_noise else [])
    return f"; camera augmentations: {', '.join(parts)}" if parts else ""


def write_results(args: argparse.Namespace, argv: list[str] | None, rows: list[dict], per_class: dict) -> None:
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out_dir / "dpen_capacity.csv", rows)
    cmd = " ".join(["python", "benchmarks/dpen_capacity.py", *(argv if argv is not None else sys.argv[1:])])
    md = ["# DPEN capacity: degradation classification by DPEN size", "",
          "Generated by `benchmarks/dpen_capacity.py`; do not edit by hand. Command:", "", f"    {cmd}", "",
          f"Each DPEN (with a linear probe) trained {'from ' + str(args.init) + chr(39) + 's DPEN' if args.init else 'from scratch'} "
          f"for classification only, {args.steps} steps of "
          f"{args.batch} VI + {args.batch} IR crops (96 px, Stage I's synthetic degradations, every class equally "
          f"likely) from {', '.join(p.name for p in args.train_roots)}"
          f"{' (repeats ' + ' '.join(args.root_repeat) + ')' if args.root_repeat else ''}"
          f"{camera_text(args)}, AdamW lr {args.lr}, seed {args.seed}. Held out: fit_probe.py's protocol on "
          f"{args.max_eval_pairs} pairs per folder of {', '.join(p.name for p in args.eval)} (whole images, mean "
          "type vector of 96-px tiles). "
          f"Machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {args.threads} thread(s).", "",
          "| variant | DPEN embed / blocks / stem / out | initialised from | DPEN parameters | train min | held-out VI | "
          "held-out IR |",
          "|---|---|---|---:|---:|---:|---:|"]
    md += [f"| {r['variant']} | {r['embed']} / {r['blocks']} / {r['stem']} / {r['out']} | {r['init'] or 'scratch'} | {r['dpen_params']:,} | {r['train_min']} | "
           f"{r['vi_acc']:.1%} ({r['vi_n']}) | {r['ir_acc']:.1%} ({r['ir_n']}) |" for r in rows]
    md += ["", "Held-out recall per class:", "",
           "| variant | " + " | ".join(f"VI {c}" for c in VI_CLASSES) + " | " + " | ".join(f"IR {c}" for c in IR_CLASSES) + " |",
           "|---|" + "---:|" * (len(VI_CLASSES) + len(IR_CLASSES))]
    for name, pc in per_class.items():
        md.append(f"| {name} | " + " | ".join(f"{pc['vi'].get(c, float('nan')):.0%}" for c in VI_CLASSES) + " | "
                  + " | ".join(f"{pc['ir'].get(c, float('nan')):.0%}" for c in IR_CLASSES) + " |")
    write_text_atomic(args.out_dir / "dpen_capacity.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    raise SystemExit(main())
