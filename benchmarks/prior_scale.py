"""Fusion quality against the size of the copy the priors are computed on.

The ``lite`` model trains on 96×96 crops, most of them from MSRS pairs stored at 171×128 (``../shared/data``'s
README), while the test pairs are 640×480: SPEN and DPEN see objects several times larger at test time than in
training. This script fuses each degraded pair at full resolution with priors computed on a copy shrunk to a long
side of S pixels (area interpolation, as ``--prior-max-side`` does for tiled fusion), in two ways:

* ``sem@S``: the semantic prior (SPEN on the shrunk copy, restored by SPDM under the shrunk copy's DPEN priors) from
  the copy, the DPEN priors the fusion network reads from the full-resolution pair;
* ``all@S``: every prior from the copy;
* ``mix@S``: the semantic prior the mean of the full-resolution pair's and the copy's (a two-scale prior without
  training: the tokens are ``[B, N, C]`` with the same N at every size), the DPEN priors from the full-resolution pair;
* ``semd@S``: SPEN reads the copy, but SPDM restores its prior under the full-resolution pair's DPEN priors (which
  still see blur and noise that shrinking removes), and the fusion network reads those;

beside ``full`` (every prior at full resolution: what ``dspfusion fuse`` did until now), and scores each against
the clean sources (Qabf, ``tang`` convention, on the uint8 image the wrapper writes); condition ``clean`` fuses
the clean test pair itself. Writes a markdown table of
mean Qabf per model, dataset, condition and setting, with the number of pairs each setting changes by more than
0.1 either way.

    python benchmarks/prior_scale.py --model lite64s=lite \\
        --inputs runs/benchmarks/outliers/inputs --datasets MSRS91 --conditions LL_LC vi_haze --pairs 91 \\
        --settings full sem@256 all@256
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prior_oracle import (  # noqa: E402  (shared with the oracle)
    add_input_args, clean_sources, condition_stems, load_prior_models, provenance, qabf)
from qabf_terms import SETS  # noqa: E402

from dspfusion.inference import pad_to_multiple, prepare_pair  # noqa: E402
from dspfusion.io import write_or_print  # noqa: E402
from dspfusion.tiling import prior_image  # noqa: E402


def clean_stems(ds: str) -> list[str]:
    """The clean test pairs of a set, in name order (TNO25: the 25 pairs ``lists/tno25.txt`` names)."""
    if ds == "TNO25":
        names = (SETS[ds].parent / "lists" / "tno25.txt").read_text(encoding="utf-8").split()
        return sorted(Path(n).stem for n in names)
    return sorted(p.stem for p in (SETS[ds] / "ir").iterdir() if p.is_file())


def parse_setting(text: str) -> tuple[str, int | None]:
    """``full`` → ("full", None); ``sem@256`` / ``all@256`` / ``mix@256`` / ``semd@256`` → (kind, 256)."""
    if text == "full":
        return "full", None
    kind, _, side = text.partition("@")
    if kind not in ("sem", "all", "mix", "semd") or not side.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give full, sem@SIDE, all@SIDE, mix@SIDE or semd@SIDE (e.g. sem@256)")
    return kind, int(side)


@torch.no_grad()
def fuse_settings(model, ir: torch.Tensor, vi: torch.Tensor, settings: list[str], seed: int = 0) -> list[torch.Tensor]:
    """Unpadded ``[1,3,H,W]`` degraded pair → one fused ``[1,3,H,W]`` per setting (full-resolution fusion)."""
    h, w = ir.shape[-2:]
    m = model.config.fusion.pad_multiple
    ir_p, vi_p = pad_to_multiple(ir, m), pad_to_multiple(vi, m)
    full = model.compute_priors(ir_p, vi_p, noise=model.initial_noise(1, seed=seed))
    shrunk = {}  # side → priors of the copy, computed once for sem@S and all@S alike
    out = []
    for text in settings:
        kind, side = parse_setting(text)
        priors = full
        if kind != "full":
            if side not in shrunk:
                shrunk[side] = model.compute_priors(prior_image(ir, side, m), prior_image(vi, side, m),
                                                    noise=model.initial_noise(1, seed=seed))
            small = shrunk[side]
            if kind == "all":
                priors = small
            elif kind == "sem":
                priors = dataclasses.replace(full, sem=small.sem)
            elif kind == "semd":
                priors = dataclasses.replace(full, sem=model.restore_semantic_prior(
                    model.initial_noise(1, seed=seed), small.sem_lq, full.deg_ir, full.deg_vi))
            else:
                priors = dataclasses.replace(full, sem=0.5 * (full.sem + small.sem))
        out.append(model.fuse_with_priors(ir_p, vi_p, priors)[..., :h, :w])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_input_args(ap, ["LL_LC", "vi_haze"], "degraded conditions, or clean (the clean test pair itself)")
    ap.add_argument("--settings", nargs="+", default=["full", "sem@256", "all@256"],
                    help="full, sem@SIDE, all@SIDE, mix@SIDE, semd@SIDE (the first one is the reference of the change counts)")
    ap.add_argument("--out", type=Path, help="markdown file (default: print)")
    args = ap.parse_args(argv)
    for s in args.settings:
        try:
            parse_setting(s)
        except argparse.ArgumentTypeError as exc:
            ap.error(str(exc))
    models = load_prior_models(args.model)
    rows = []
    for ds in args.datasets:
        for cond in args.conditions:
            if cond == "clean":
                folder, stems = SETS[ds], clean_stems(ds)[:args.pairs]
            else:
                folder, stems = condition_stems(args.inputs, ds, cond, args.pairs)
            scores = {name: [] for name, _, _ in models}
            for stem in stems:
                clean, ref_ir, ref_vi = clean_sources(ds, stem)
                deg = clean if cond == "clean" else prepare_pair(folder / "ir" / f"{stem}.png",
                                                                 folder / "vi" / f"{stem}.png")
                for name, model, _ in models:
                    fused = fuse_settings(model, deg.ir, deg.vi, args.settings)
                    scores[name].append([qabf(f, deg.vi_is_colour, ref_ir, ref_vi) for f in fused])
            for name in scores:
                s = np.array(scores[name])
                for j, setting in enumerate(args.settings):
                    d = s[:, j] - s[:, 0]
                    rows.append(f"| {name} | {ds} | {cond} | {len(stems)} | {setting} | {s[:, j].mean():.4f} | "
                                f"{d.mean():+.4f} | {int((d > 0.1).sum())} | {int((d < -0.1).sum())} |")
    cmd, steps = provenance("prior_scale", argv, models)
    text = "\n".join([
        "# Fusion quality against the size the priors are computed at", "",
        f"Generated by `{cmd}`; do not edit by hand. Models: {steps}. Mean Qabf against the clean sources of the first "
        "pairs of each condition, fused at full resolution with priors from a copy shrunk to a long side of S px "
        "(`sem@S`: the semantic prior only; `all@S`: every prior; `mix@S`: the mean of the copy's and the full "
        "pair's semantic prior; `semd@S`: SPEN on the copy, SPDM under the full pair's DPEN priors) or from the "
        "full-resolution pair (`full`); the "
        f"change against `{args.settings[0]}` and the pairs it raises or lowers by more than 0.1. Seed 0.", "",
        "| model | dataset | condition | pairs | setting | Qabf | change | pairs > +0.1 | pairs < −0.1 |",
        "| :-- | :-- | :-- | --: | :-- | --: | --: | --: | --: |",
        *rows, ""])
    write_or_print(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
