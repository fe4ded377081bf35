"""``dspfusion demo``: fuse the built-in procedural example (a warm target in a dark, noisy visible image)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_model_args, warn_if_untrained


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="fuse the built-in example pair and write it with its inputs")
    p.add_argument("--out", "-o", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    add_model_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from .. import load
    from ..example import make_example_pair
    from ..io import write_image

    ir, vi = make_example_pair()
    fuser = load(args.checkpoint, device=args.device, steps=args.steps, seed=args.seed)
    warn_if_untrained(fuser.info)
    t0 = time.perf_counter()
    fused = fuser.fuse(ir, vi)
    dt = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    panel = np.concatenate([np.repeat(ir[..., None], 3, 2), vi, fused], axis=1)
    for name, img in (("ir.png", ir), ("vi.png", vi), ("fused.png", fused), ("panel.png", panel)):
        write_image(args.out / name, img, overwrite=True)
    print(f"model: {fuser.info['source']} (step {fuser.info['step']})")
    print(f"fused a {vi.shape[1]}x{vi.shape[0]} pair in {dt:.2f} s on {fuser.device}")
    print(f"wrote {args.out}/ir.png, vi.png, fused.png and panel.png (IR | VI | fused)")
    return 0
