"""Experiment: does fitting the diagnosis probe on clean sources with sensor noise and grey VI help on TNO?

Most held-out VI errors of the shipped probe are on TNO42 (docs/TRAINING.md item 23: 67-72 % against 91-93 % on
MSRS91 and RoadScene50), most of them TNO's clean frames called LL or Rain. TNO's visible frames are grey and
noisier than the training cameras' (benchmarks/results/experiments/probe_fit_data/clean_sources.md: noise sigma 1.9
grey levels against 0.3-0.35). The probe is fitted on clean training pairs degraded with every class
(benchmarks/fit_probe.py); here the clean sources of a share of those samples first get Gaussian sensor noise
(sigma drawn uniformly in a range, per image and channel, both modalities), and optionally more of the VI sources are
made grey, so that "clean" includes mildly noisy grey frames and every degradation starts from them too. DPEN and
everything else stay frozen; the feature is the shipped one (mean DPEN type vector of 96-px tiles at scales 1, 1/2,
1/4); the fit data, seeds, check split and held-out samples are those of the shipped refit (item 22): fitted on
msrs1083, msrs30, roadscene171, llvip32 (600 VI samples per class, seed 0), held out every pair of the three test
sets with every class (seed 1). The noise has its own generator, so every variant draws the same images, crops and
degradations. Nothing is installed.

    OMP_NUM_THREADS=2 python benchmarks/results/experiments/probe_sensor_noise/probe_sensor_noise.py --threads 2
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

TRAIN, EVAL = fp.SHIP_TRAIN, fp.TEST_EVAL
SCALES = (1.0, 0.5, 0.25)
TILE = 96
# (label, share of samples with sensor noise, sigma range in grey levels, p_grey)
VARIANTS = [("as shipped", 0.0, (0.0, 0.0), 0.15), ("noise", 0.5, (0.5, 3.0), 0.15),
            ("noise + grey", 0.5, (0.5, 3.0), 0.4)]


def noisy_augment(p_noise: float, sigma: tuple[float, float], seed: int):
    """fit_probe.augment, then Gaussian noise on the clean pair with probability ``p_noise`` (own generator)."""
    orig = fp.augment
    rng_n = np.random.default_rng(seed)

    def aug(src, rng, p_resize, p_grey):
        ir, vi = orig(src, rng, p_resize, p_grey)
        if rng_n.random() < p_noise:
            s = rng_n.uniform(*sigma)
            ir, vi = (np.clip(np.rint(a + rng_n.normal(0.0, s, a.shape)), 0, 255).astype(np.uint8) for a in (ir, vi))
        return ir, vi

    return aug


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite")
    ap.add_argument("--per-class", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("probe_sensor_noise.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, info = load_model(args.model)
    for p in model.parameters():
        p.requires_grad_(False)
    width = model.config.fusion.deg_dim * len(SCALES)
    train_src, eval_src = fp.load_sources(TRAIN), fp.load_sources(EVAL)
    print(f"{len(train_src)} training pairs, {len(eval_src)} held-out pairs", flush=True)
    ev = fp.build_eval_features(model, eval_src, 1, {"x": (TILE, SCALES)})[0]["x"]
    rows = []
    orig = fp.augment
    for label, p_noise, sigma, p_grey in VARIANTS:
        fp.augment = noisy_augment(p_noise, sigma, 12345)
        try:
            tr = fp.build_train_features(model, train_src, args.per_class, 0, TILE, 0.5, p_grey, scales=SCALES)
        finally:
            fp.augment = orig
        hp = dict(steps=3000, lr=1e-2, weight_decay=1e-2, seed=0)
        h, check = fp.choose_hidden(tr, width, (0, 64), **hp)
        probe = fp.fit_probe(tr, width, hidden=h, **hp)
        row = {"label": label, "p_noise": p_noise, "sigma": sigma, "p_grey": p_grey, "hidden": h, "check": check[h]}
        for m in fp.MODALITIES:
            _, y = ev.arrays(m)
            ok = fp.predict(probe, ev, m) == y
            g = np.asarray(ev.group[m])
            row[m] = (int(ok.sum()), len(ok))
            row[m + "_sets"] = {s: (int(ok[g == s].sum()), int((g == s).sum())) for s in sorted(set(g))}
            row[m + "_clean"] = {s: (int(ok[(g == s) & (y == 0)].sum()), int(((g == s) & (y == 0)).sum()))
                                 for s in sorted(set(g))}
        rows.append(row)
        print(f"{label}: hidden {h}, check VI {check[h]['vi']:.3f} IR {check[h]['ir']:.3f}; held-out VI "
              f"{row['vi'][0] / row['vi'][1]:.3f} IR {row['ir'][0] / row['ir'][1]:.3f}; "
              + ", ".join(f"VI {s} {a / b:.3f}" for s, (a, b) in row["vi_sets"].items())
              + f" ({time.time() - t0:.0f} s)", flush=True)

    sets = sorted(rows[0]["vi_sets"])
    pct = lambda ab: f"{ab[0] / ab[1]:.1%}"  # noqa: E731
    lines = ["# The probe fitted on clean sources with sensor noise and grey VI (experiment)", "",
             f"Generated by `python {Path(__file__).relative_to(REPO)} --threads {args.threads}`; model "
             f"`{args.model}` (step {info['step']}), DPEN frozen, mean type vector of {TILE}-px tiles at scales "
             f"{' + '.join(f'{s:g}' for s in SCALES)}; {args.per_class} VI samples per class fitted on "
             f"{', '.join(r.name for r in TRAIN)} (seed 0); held out: every pair of "
             f"{', '.join(r.name for r in EVAL)} with every class (seed 1), {rows[0]['vi'][1]} VI and "
             f"{rows[0]['ir'][1]} IR samples. Noise: Gaussian, sigma uniform in the range (grey levels), on both "
             f"images of the clean pair before degrading. Hidden width chosen among 0, 64 on the check split. "
             f"Total {time.time() - t0:.0f} s, {args.threads} thread(s).", "",
             "| fit data | noisy share | sigma | grey VI | hidden | check VI | check IR | held-out VI | held-out IR | "
             + " | ".join(f"VI {s}" for s in sets) + " | " + " | ".join(f"VI {s} clean" for s in sets)
             + " | " + " | ".join(f"IR {s}" for s in sets) + " |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (3 * len(sets))]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['p_noise']:g} | {r['sigma'][0]:g}-{r['sigma'][1]:g} | {r['p_grey']:g} | {r['hidden']} | "
            f"{r['check']['vi']:.1%} | {r['check']['ir']:.1%} | **{pct(r['vi'])}** ({r['vi'][0]}/{r['vi'][1]}) | "
            f"**{pct(r['ir'])}** ({r['ir'][0]}/{r['ir'][1]}) | "
            + " | ".join(pct(r["vi_sets"][s]) for s in sets) + " | "
            + " | ".join(f"{r['vi_clean'][s][0]}/{r['vi_clean'][s][1]}" for s in sets) + " | "
            + " | ".join(pct(r["ir_sets"][s]) for s in sets) + " |")
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
