"""Experiment: how much do global luma statistics add to the DPEN type vectors, for the probe and for a stronger
classifier?

probe_tokens.py (same folder) found that DPEN's prior tokens add nothing to its type vector for the diagnosis. The
largest VI error of the shipped probe after TNO's frames is over-exposure on MSRS91 read as clean, and over-exposure
lifts the black level, which one global statistic shows and a 96-px tile may not. This script replays the exact
samples of probe_tokens.py (same sources, seeds and order; checked against its saved labels and scenes) and
computes, for each padded image as `dspfusion diagnose` sees it, 11 statistics of the channel-mean luma: the 0.5, 2,
10, 25, 50, 75, 90, 98 and 99.5 % quantiles, the mean and the standard deviation. Then, on the type vectors (scales
1, 1/2, 1/4 as shipped), the statistics, and both side by side, it fits

* fit_probe's probe (LayerNorm, Linear(64) + GELU + Linear per modality, full-batch AdamW; inputs standardised with
  the training mean and standard deviation, since the statistics and the type vectors differ in scale), and
* scikit-learn's HistGradientBoostingClassifier (300 iterations, learning rate 0.1, seed 0),

and reports the held-out top-1 accuracy per modality and per test set. Nothing is installed.

    OMP_NUM_THREADS=2 python benchmarks/results/experiments/probe_tokens/probe_tokens.py --threads 2   # first
    OMP_NUM_THREADS=2 python benchmarks/results/experiments/probe_tokens/probe_stats.py --threads 2
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
sys.path.insert(0, str(Path(__file__).parent))
import fit_probe as fp  # noqa: E402
import probe_tokens as pt  # noqa: E402

from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.io import write_text_atomic  # noqa: E402

QUANTILES = torch.tensor([0.005, 0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98, 0.995])


def luma_stats(x: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """``x [1,3,H,W]`` in [0,1] → ``[1, 11]``: quantiles, mean and standard deviation of the channel mean."""
    y = x[0].mean(0).flatten()
    return torch.cat([torch.quantile(y, QUANTILES), y.mean()[None], y.std()[None]])[None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lite")
    ap.add_argument("--per-class", type=int, default=600)
    ap.add_argument("--features", type=Path, default=REPO / "runs" / "probe_tokens" / "features.npz",
                    help="probe_tokens.py's saved features")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("probe_stats.md"))
    args = ap.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier

    torch.set_num_threads(args.threads)
    t0 = time.time()
    if not args.features.exists():
        raise SystemExit(f"{args.features}: run probe_tokens.py first (it saves the type-vector features there)")
    d = np.load(args.features)
    model, info = load_model(args.model)
    model.diagnosis_features = luma_stats
    train_src, eval_src = fp.load_sources(pt.TRAIN), fp.load_sources(pt.EVAL)
    stats = {"train": fp.build_train_features(model, train_src, args.per_class, 0, pt.TILE, 0.5, 0.15),
             "eval": fp.build_eval_features(model, eval_src, 1, {"x": pt.TILE})[0]["x"]}
    for split, fs in stats.items():
        for m in fp.MODALITIES:
            if not (np.array_equal(fs.arrays(m)[1], d[f"{split}_{m}_y"])
                    and np.array_equal(np.asarray(fs.scene[m]), d[f"{split}_{m}_scene"])):
                raise SystemExit(f"{split} {m}: the replayed samples differ from {args.features}'s")
    t_stats = time.time() - t0
    type_cols = pt.columns(model.config.fusion.deg_dim, ("type",))

    def arrays(split: str, m: str, parts: str) -> np.ndarray:
        t, s = d[f"{split}_{m}_x"][:, type_cols], stats[split].arrays(m)[0]
        return {"type": t, "stats": s, "type + stats": np.concatenate([t, s], 1)}[parts]

    def feature_set(split: str, parts: str, mu: dict, sd: dict) -> fp.FeatureSet:
        fs = fp.FeatureSet()
        for m in fp.MODALITIES:
            x = (arrays(split, m, parts) - mu[m]) / sd[m]
            for row, y, g, sc in zip(x.astype(np.float32), d[f"{split}_{m}_y"], d[f"{split}_{m}_group"],
                                     d[f"{split}_{m}_scene"]):
                fs.add(m, row, int(y), str(g), str(sc))
        return fs

    rows = []
    for parts in ("type", "stats", "type + stats"):
        mu = {m: arrays("train", m, parts).mean(0) for m in fp.MODALITIES}
        sd = {m: arrays("train", m, parts).std(0) + 1e-6 for m in fp.MODALITIES}
        tr, ev = feature_set("train", parts, mu, sd), feature_set("eval", parts, mu, sd)
        width = tr.arrays("vi")[0].shape[1]
        probe = fp.fit_probe(tr, width, hidden=64, steps=3000, lr=1e-2, weight_decay=1e-2, seed=0)
        for clf_name in ("probe (hidden 64)", "gradient boosting"):
            row = {"parts": parts, "width": width, "classifier": clf_name}
            for m in fp.MODALITIES:
                x_tr, y_tr = tr.arrays(m)
                x_ev, y_ev = ev.arrays(m)
                if clf_name.startswith("probe"):
                    pred = fp.predict(probe, ev, m)
                else:
                    pred = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1, random_state=0).fit(
                        x_tr, y_tr).predict(x_ev)
                ok, g = pred == y_ev, np.asarray(ev.group[m])
                row[m] = (int(ok.sum()), len(ok))
                row[m + "_sets"] = {s: float(ok[g == s].mean()) for s in sorted(set(g))}
                if m == "vi":
                    row["vi_cls"] = {c: float(ok[y_ev == k].mean()) for k, c in enumerate(fp.CLASSES["vi"])}
            rows.append(row)
            print(f"{parts:>12} {clf_name:>18}: VI {row['vi'][0] / row['vi'][1]:.3f} IR {row['ir'][0] / row['ir'][1]:.3f} "
                  + ", ".join(f"{s} {v:.3f}" for s, v in row["vi_sets"].items()) + f" ({time.time() - t0:.0f} s)",
                  flush=True)

    sets = sorted(rows[0]["vi_sets"])
    lines = ["# Global luma statistics beside the DPEN type vectors (experiment)", "",
             f"Generated by `python {Path(__file__).relative_to(REPO)} --threads {args.threads}`; model "
             f"`{args.model}` (step {info['step']}); the samples of probe_tokens.py ({args.per_class} VI samples per "
             f"class fitted on {', '.join(r.name for r in pt.TRAIN)}, seed 0; held out every pair of "
             f"{', '.join(r.name for r in pt.EVAL)} with every class, seed 1). `type`: the shipped feature (mean "
             "DPEN type vector of 96-px tiles at scales 1, 1/2, 1/4); `stats`: 11 statistics of the padded image's "
             "channel-mean luma (9 quantiles, mean, standard deviation). Inputs standardised with the training "
             f"mean and standard deviation. Statistics {t_stats:.0f} s, total {time.time() - t0:.0f} s, "
             f"{args.threads} thread(s).", "",
             "| features | width | classifier | held-out VI | held-out IR | " + " | ".join(f"VI {s}" for s in sets)
             + " | " + " | ".join(f"VI {c}" for c in fp.CLASSES["vi"]) + " |",
             "|---|---:|---|---:|---:|" + "---:|" * (len(sets) + len(fp.CLASSES["vi"]))]
    for r in rows:
        lines.append(f"| {r['parts']} | {r['width']} | {r['classifier']} | **{r['vi'][0] / r['vi'][1]:.1%}** "
                     f"({r['vi'][0]}/{r['vi'][1]}) | **{r['ir'][0] / r['ir'][1]:.1%}** ({r['ir'][0]}/{r['ir'][1]}) | "
                     + " | ".join(f"{r['vi_sets'][s]:.1%}" for s in sets) + " | "
                     + " | ".join(f"{r['vi_cls'][c]:.0%}" for c in fp.CLASSES["vi"]) + " |")
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
