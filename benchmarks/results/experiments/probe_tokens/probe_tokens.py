"""Experiment: does the diagnosis probe gain from reading DPEN's prior tokens, not only its type vector?

DPEN maps an image to the degradation prior Pd ``[16, C_d]`` (the 16 tokens that modulate the fusion network) and
to the type vector ``[C_d]``, a one-layer projection of Pd over its tokens followed by GELU
(dspfusion/models/degradation_prior.py). `dspfusion diagnose` reads only the type vector: the mean type vector of
the 96x96 tiles covering the image, at image scales 1, 1/2 and 1/4 (benchmarks/fit_probe.py, the shipped probe).
The type vector is a bottleneck of Pd; this script asks whether the probe's VI errors (benchmarks/results/probe.md)
are in DPEN or in that bottleneck. Per scale and per image it computes, from the same DPEN pass over the same tiles:

* ``type``: the mean tile type vector (C_d), what ships;
* ``tok``: the mean over tiles of Pd's per-channel mean and standard deviation over its 16 tokens (2 C_d);
* ``pd``: the mean over tiles of Pd itself, flattened (16 C_d);

and fits fit_probe's probe (LayerNorm, then Linear or Linear(hidden) + GELU + Linear per modality; full-batch
AdamW, classes balanced; the hidden width chosen on fit_probe's check split) on combinations of them, with the data
of the shipped probe's refit (docs/TRAINING.md item 22): fitted on msrs1083, msrs30, roadscene171, llvip32 (600 VI
samples per class, seed 0), held out every pair of the three test sets degraded with every class (seed 1).
DPEN and every other weight stay frozen; nothing is installed.

    OMP_NUM_THREADS=2 python benchmarks/results/experiments/probe_tokens/probe_tokens.py --threads 2 \\
        --features runs/probe_tokens/features.npz

The features are saved to ``--features`` (and read from there when the file exists, so probes can be refit
without recomputing them).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
import fit_probe as fp  # noqa: E402

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.io import write_text_atomic  # noqa: E402
from dspfusion.models.dspfusion import _tile_grid, downscale  # noqa: E402

TRAIN, EVAL = fp.SHIP_TRAIN, fp.TEST_EVAL
SCALES = (1.0, 0.5, 0.25)
TILE = 96
PARTS = ("type", "tok", "pd")


def part_widths(c: int) -> dict[str, int]:
    return {"type": c, "tok": 2 * c, "pd": 16 * c}


@torch.no_grad()
def token_features(model, x: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """``x [1,3,H,W]`` → ``[1, S · (C + 2C + 16C)]``: for each scale, the parts of PARTS side by side."""
    out = []
    for s in SCALES:
        img = (x if s == 1 else downscale(x, s))[0]
        tiles = _tile_grid(img, TILE)
        pds, types = [], []
        for i in range(0, len(tiles), chunk):
            pd, t = model.degradation(tiles[i:i + chunk])
            pds.append(pd)
            types.append(t)
        pd, t = torch.cat(pds), torch.cat(types)  # [T,16,C], [T,C]
        tok = torch.cat([pd.mean(1), pd.std(1)], dim=-1)  # [T,2C]
        out += [t.mean(0), tok.mean(0), pd.mean(0).flatten()]
    return torch.cat(out)[None]


def columns(c: int, parts: tuple[str, ...]) -> np.ndarray:
    w = part_widths(c)
    per_scale = sum(w.values())
    cols = []
    for k in range(len(SCALES)):
        start = k * per_scale
        for p in PARTS:
            if p in parts:
                cols.append(np.arange(start, start + w[p]))
            start += w[p]
    return np.concatenate(cols)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite")
    ap.add_argument("--per-class", type=int, default=600)
    ap.add_argument("--hidden", type=int, nargs="+", default=[0, 64])
    ap.add_argument("--features", type=Path, default=REPO / "runs" / "probe_tokens" / "features.npz")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("probe_tokens.md"))
    ap.add_argument("--variants", nargs="+", default=["type", "type+tok", "pd", "type+pd", "type+tok+pd"],
                    help="feature parts to fit on, joined by + (of type, tok, pd)")
    args = ap.parse_args()
    if any(p not in PARTS for v in args.variants for p in v.split("+")):
        ap.error(f"--variants: parts are {', '.join(PARTS)}, joined by +")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, info = load_model(args.model)
    for p in model.parameters():
        p.requires_grad_(False)
    c = model.config.fusion.deg_dim
    if args.features.exists():
        d = np.load(args.features)
        train_fs, eval_fs = fp.FeatureSet.from_arrays(d, "train"), fp.FeatureSet.from_arrays(d, "eval")
        print(f"features read from {args.features}", flush=True)
    else:
        model.diagnosis_features = lambda x, chunk=32: token_features(model, x, chunk)
        train_src, eval_src = fp.load_sources(TRAIN), fp.load_sources(EVAL)
        print(f"{len(train_src)} training pairs, {len(eval_src)} held-out pairs", flush=True)
        train_fs = fp.build_train_features(model, train_src, args.per_class, 0, TILE, 0.5, 0.15)
        eval_fs = fp.build_eval_features(model, eval_src, 1, {"x": TILE})[0]["x"]
        args.features.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.features, **train_fs.to_arrays("train"), **eval_fs.to_arrays("eval"))
        print(f"features saved to {args.features} ({time.time() - t0:.0f} s)", flush=True)
    t_feat = time.time() - t0

    hp = dict(steps=3000, lr=1e-2, weight_decay=1e-2, seed=0)
    variants = [tuple(v.split("+")) for v in args.variants]
    rows = []
    for parts in variants:
        cols = columns(c, parts)
        full_s, ev_s = train_fs.select(cols), eval_fs.select(cols)
        h, check = fp.choose_hidden(full_s, len(cols), args.hidden, **hp)
        probe = fp.fit_probe(full_s, len(cols), hidden=h, **hp)
        n_params = sum(p.numel() for p in probe.parameters())
        res = {}
        for m in fp.MODALITIES:
            _, y = ev_s.arrays(m)
            pred = fp.predict(probe, ev_s, m)
            groups = np.asarray(ev_s.group[m])
            res[m] = (pred == y)
            res[m + "_sets"] = {g: float(res[m][groups == g].mean()) for g in sorted(set(groups))}
            if m == "vi":
                res["vi_cls"] = {cl: float(res[m][y == k].mean()) for k, cl in enumerate(fp.CLASSES["vi"])}
        row = dict(parts=" + ".join(parts), width=len(cols), hidden=h, params=n_params, check_vi=check[h]["vi"],
                   check_ir=check[h]["ir"], vi=float(res["vi"].mean()), ir=float(res["ir"].mean()),
                   n_vi=int(res["vi"].sum()), n_ir=int(res["ir"].sum()), N_vi=len(res["vi"]), N_ir=len(res["ir"]),
                   vi_sets=res["vi_sets"], ir_sets=res["ir_sets"], vi_cls=res["vi_cls"])
        rows.append(row)
        print(f"{row['parts']:>16} ({row['width']}-d, hidden {h}): check VI {row['check_vi']:.3f} IR "
              f"{row['check_ir']:.3f}; held-out VI {row['vi']:.3f} IR {row['ir']:.3f} "
              f"({time.time() - t0:.0f} s)", flush=True)
        write_table(args, info, rows, t_feat, time.time() - t0)  # after every variant: a stopped run keeps its rows
    return 0


def write_table(args: argparse.Namespace, info: dict, rows: list[dict], t_feat: float, total: float) -> None:
    sets = sorted(rows[0]["vi_sets"])
    lines = ["# Probe on DPEN's prior tokens as well as its type vector (experiment)", "",
             f"Generated by `python {Path(__file__).relative_to(REPO)} {' '.join(sys.argv[1:])}`; model "
             f"`{args.model}` (step {info['step']}), tiles {TILE} at scales {' + '.join(f'{s:g}' for s in SCALES)} "
             f"(per-tile features averaged over the tiles, scales side by side), {args.per_class} VI samples per "
             f"class fitted on {', '.join(r.name for r in TRAIN)} (seed 0); held out: every pair of "
             f"{', '.join(r.name for r in EVAL)} with every class (seed 1), "
             f"{rows[0]['N_vi']} VI and {rows[0]['N_ir']} IR samples. Hidden width chosen among "
             f"{', '.join(map(str, args.hidden))} on the check split. Features {t_feat:.0f} s, total "
             f"{total:.0f} s, {args.threads} thread(s).", "",
             "Parts: `type` the mean tile type vector (what ships); `tok` Pd's per-channel mean and standard "
             "deviation over its 16 tokens; `pd` Pd flattened (16 tokens x C_d), each averaged over the tiles.", "",
             "| parts | width | hidden | probe parameters | check VI | check IR | held-out VI | held-out IR | "
             + " | ".join(f"VI {s}" for s in sets) + " | " + " | ".join(f"VI {k}" for k in fp.CLASSES["vi"]) + " |",
             "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(sets) + len(fp.CLASSES["vi"]))]
    for r in rows:
        lines.append(f"| {r['parts']} | {r['width']} | {r['hidden']} | {r['params']:,} | {r['check_vi']:.1%} | "
                     f"{r['check_ir']:.1%} | **{r['vi']:.1%}** ({r['n_vi']}/{r['N_vi']}) | **{r['ir']:.1%}** "
                     f"({r['n_ir']}/{r['N_ir']}) | " + " | ".join(f"{r['vi_sets'][s]:.1%}" for s in sets) + " | "
                     + " | ".join(f"{r['vi_cls'][k]:.0%}" for k in fp.CLASSES["vi"]) + " |")
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
