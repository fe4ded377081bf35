"""Tiled against untiled fusion per number of statistics passes, with the setup of tests/test_tiling.py.

``test_trained_weights_tiled_match_untiled`` checks the shipped weights at the default number of passes; its
docstring keeps, for each shipped step, the figures this script prints: the built-in 512x384 example, 3 SPDM steps,
128-px tiles with 32 px overlap, seed 0; per pass count the mean and max absolute difference from the untiled output
in grey levels (0-255) and the seam excess (:func:`dspfusion.tiling.seam_excess`).

    python benchmarks/tiling_passes.py                   # the shipped lite weights, passes 0-5
    python benchmarks/tiling_passes.py --model runs/lite22/model-probe.safetensors --passes 0 2 3
"""
from __future__ import annotations

import argparse

import torch

from dspfusion.checkpoint import load_model
from dspfusion.example import make_example_pair
from dspfusion.inference import Fuser, prepare_pair
from dspfusion.tiling import fuse_tiled, seam_excess


@torch.no_grad()
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lite", help="checkpoint or preset (default: the shipped lite weights)")
    ap.add_argument("--passes", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = ap.parse_args(argv)
    model, info = load_model(args.model)
    inp = prepare_pair(*make_example_pair(384, 512))
    noise = model.initial_noise(1, seed=0)
    ref = Fuser(model, device="cpu").fuse_tensors(inp.ir, inp.vi, seed=0, steps=3).clamp(0, 1)
    print(f"{args.model} (step {info.get('step')}): tiled (128 px, overlap 32) against untiled, 3 SPDM steps")
    print("passes | mean | max | seam excess")
    for passes in args.passes:
        out = fuse_tiled(model, inp.ir, inp.vi, 128, 32, steps=3, noise=noise, stat_passes=passes).clamp(0, 1)
        d = (out - ref).abs() * 255
        print(f"{passes} | {float(d.mean()):.2f} | {float(d.max()):.1f} | {seam_excess(out, ref):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
