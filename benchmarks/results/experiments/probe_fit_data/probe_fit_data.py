"""Experiment: the refit diagnosis probe with full-resolution MSRS in its fitting data, more samples, up to three
image scales, and the tiles' spread beside their mean.

benchmarks/fit_probe.py's default fitting folders hold no full-resolution MSRS frame (msrs30 was held out), and
its refit called most clean 640x480 visible frames "Blur" (docs/EXPERIMENTS.md, "A probe that reads two image
scales"). Now that the diagnosis is measured on the three test sets only (benchmarks/ship.sh), msrs30 can be fitted
on. This script computes, for fit_probe's sample stream over msrs1083 + msrs30 + roadscene171 + llvip32 (seed 0,
fit_probe's augmentation), the mean and the standard deviation of the DPEN type vectors of the 96x96 tiles of the
image at scales 1, 1/2 and 1/4, once, and fits fit_probe's probe on column subsets. Held out: every pair of msrs91,
tno42 and roadscene50 degraded with every class (seed 1), as ship.sh measures the shipped probe.

    OMP_NUM_THREADS=2 python benchmarks/results/experiments/probe_fit_data/probe_fit_data.py --threads 2 \\
        --save-features runs/probe/fit_data_features.npz   # later runs: --features runs/probe/fit_data_features.npz
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "benchmarks"))
import fit_probe as fp  # noqa: E402

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.io import write_text_atomic  # noqa: E402
from dspfusion.models.dspfusion import downscale  # noqa: E402

SCALES = (1.0, 0.5, 0.25)
TRAIN = [fp.SHARED / "train" / n for n in ("msrs1083", "msrs30", "roadscene171", "llvip32")]
EVAL = [fp.SHARED / "test" / n for n in ("msrs91", "tno42", "roadscene50")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite")
    ap.add_argument("--per-class", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("probe_fit_data.md"))
    ap.add_argument("--save-features", type=Path, default=None, help="also keep the features here (.npz)")
    ap.add_argument("--features", type=Path, default=None,
                    help="read the features --save-features kept instead of computing them (same --per-class)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, info = load_model(args.model)
    for p in model.parameters():
        p.requires_grad_(False)
    d = model.config.fusion.deg_dim
    tile = 96

    def stats(x: torch.Tensor, chunk: int = 32) -> torch.Tensor:  # [B, 6*C_d]: (mean, std) per scale
        out = []
        for s in SCALES:
            xs = x if s == 1 else downscale(x, s)
            per = []
            for img in xs:
                t = model.tile_type_vectors(img, tile, chunk)
                per.append(torch.cat([t.mean(0), t.std(0, unbiased=False)]))
            out.append(torch.stack(per))
        return torch.cat(out, dim=1)

    model.diagnosis_features = stats
    train_src, eval_src = fp.load_sources(TRAIN), fp.load_sources(EVAL)
    n_train, n_eval = len(train_src), len(eval_src)
    print(f"{n_train} training pairs, {n_eval} held-out pairs", flush=True)
    if args.features is not None:
        z = np.load(args.features)
        train_fs, eval_fs = fp.FeatureSet(), fp.FeatureSet()
        for split, fs in (("train", train_fs), ("eval", eval_fs)):
            for m in fp.MODALITIES:
                for row in zip(*(z[f"{split}_{m}_{k}"] for k in ("x", "y", "group", "scene", "strength"))):
                    fs.add(m, row[0], int(row[1]), str(row[2]), str(row[3]), str(row[4]))
        if len(train_fs.y["vi"]) != args.per_class * len(fp.VI_CLASSES):
            raise SystemExit(f"{args.features}: not {args.per_class} VI samples per class")
    else:
        train_fs = fp.build_train_features(model, train_src, args.per_class, 0, tile, 0.5, 0.15)
        eval_fs = fp.build_eval_features(model, eval_src, 1, {"x": tile})[0]["x"]
    t_feat = time.time() - t0
    if args.save_features:
        arrays = {}
        for split, fs in (("train", train_fs), ("eval", eval_fs)):
            for m in fp.MODALITIES:
                x, y = fs.arrays(m)
                arrays.update({f"{split}_{m}_x": x, f"{split}_{m}_y": y, f"{split}_{m}_group": np.asarray(fs.group[m]),
                               f"{split}_{m}_scene": np.asarray(fs.scene[m]),
                               f"{split}_{m}_strength": np.asarray(fs.strength[m])})
        args.save_features.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.save_features, **arrays)
    fit_part, check_part = fp.split_by_scene(train_fs, 0.2, 0)

    def cols(scales: tuple[int, ...], spread: bool) -> np.ndarray:
        parts = [np.arange(2 * i * d, (2 * i + 1) * d) for i in scales]
        if spread:
            parts += [np.arange((2 * i + 1) * d, (2 * i + 2) * d) for i in scales]
        return np.concatenate(parts)

    hp = dict(steps=3000, lr=1e-2, weight_decay=1e-2, seed=0)
    lines = ["# The refit probe with full-resolution MSRS fitted on, more samples, three scales, tile spread "
             "(experiment)", "",
             f"Generated by `python {Path(__file__).relative_to(REPO)} --per-class {args.per_class}`; model "
             f"`{args.model}` (step {info['step']}), tiles {tile}. Fit: {n_train} pairs of "
             f"{', '.join(r.name for r in TRAIN)}, {args.per_class} VI samples per class (seed 0, fit_probe's "
             f"augmentation); held out: {n_eval} pairs of {', '.join(r.name for r in EVAL)} (seed 1). "
             "'first 300' fits on the first 300 samples per class only. Feature: mean DPEN type vector of the "
             "image's 96-px tiles at each scale (as `dspfusion diagnose`), '+ spread' adds their standard deviation.",
             "", "| scales | feature | samples/class | hidden | check VI | check IR | held-out VI | held-out IR | "
             "VI clean | Blur | Rain | LL | OE | haze | IR clean | LC | TNO VI | TNO IR |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    runs = [((0, 1), False, None, 64), ((0, 1), False, 300 * 7, 64), ((0,), False, None, 64),
            ((0, 1, 2), False, None, 64), ((0, 1, 2), False, None, 0), ((0, 1, 2), False, None, 128),
            ((0, 1), True, None, 64), ((0, 1, 2), True, None, 64), ((0, 1, 2), True, None, 128)]
    for scales, spread, first, hidden in runs:
        c = cols(scales, spread)
        fit_s, check_s, full_s, ev_s = (f.select(c, first) for f in (fit_part, check_part, train_fs, eval_fs))
        chk = fp.accuracy(fp.fit_probe(fit_s, len(c), hidden=hidden, **hp), check_s)
        probe = fp.fit_probe(full_s, len(c), hidden=hidden, **hp)
        acc = fp.accuracy(probe, ev_s)
        rec = {}
        for m in fp.MODALITIES:
            _, y = ev_s.arrays(m)
            pred = fp.predict(probe, ev_s, m)
            g = np.asarray(ev_s.group[m])
            rec[m] = {c_: float((pred[y == i] == i).mean()) for i, c_ in enumerate(fp.CLASSES[m])}
            rec[m]["tno"] = float((pred[g == "tno42"] == y[g == "tno42"]).mean())
        v, r = rec["vi"], rec["ir"]
        row = (f"| {' + '.join(f'{SCALES[i]:g}' for i in scales)} | {'mean + spread' if spread else 'mean'} | "
               f"{'300' if first else args.per_class} | {hidden} | {chk['vi']:.1%} | {chk['ir']:.1%} | "
               f"**{acc['vi']:.1%}** | **{acc['ir']:.1%}** | {v['clean']:.0%} | {v['Blur']:.0%} | {v['Rain']:.0%} | "
               f"{v['LL']:.0%} | {v['OE']:.0%} | {v['haze']:.0%} | {r['clean']:.0%} | {r['LC']:.0%} | "
               f"{v['tno']:.0%} | {r['tno']:.0%} |")
        print(row, flush=True)
        lines.append(row)
        if (scales, spread, first, hidden) == ((0, 1, 2), False, None, 64):
            detail = (probe, ev_s)
    probe, ev_s = detail
    lines += ["", "Scales 1 + 0.5 + 0.25, mean, hidden 64 (as `fit_probe.py --scales 1 0.5 0.25 --per-class 600` with "
              "these folders fits it), per held-out data set, and what it calls the clean frames:", "",
              "| modality | data set | samples | top-1 | clean frames read as clean | clean frames read as |",
              "|---|---|---|---|---|---|"]
    for m in fp.MODALITIES:
        _, y = ev_s.arrays(m)
        pred, g = fp.predict(probe, ev_s, m), np.asarray(ev_s.group[m])
        for ds in [r.name for r in EVAL] + ["without tno42"]:
            k = g != "tno42" if ds == "without tno42" else g == ds
            kc = k & (y == 0)
            called = np.bincount(pred[kc], minlength=len(fp.CLASSES[m]))
            other = ", ".join(f"{c_} {n}" for c_, n in zip(fp.CLASSES[m], called) if n and c_ != "clean")
            lines.append(f"| {m.upper()} | {ds} | {int(k.sum())} | {(pred[k] == y[k]).mean():.1%} | "
                         f"{int(called[0])} of {int(kc.sum())} | {other or '-'} |")
    lines += ["", f"Features {t_feat:.0f} s, total {time.time() - t0:.0f} s, {args.threads} thread(s)."]
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
