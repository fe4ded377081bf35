"""``dspfusion fuse``: one pair, two folders, or a dataset folder → fused PNGs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_model_args, warn_if_untrained


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fuse", help="fuse IR/VI pairs (files or folders)",
                       description="Fuse registered infrared/visible pairs. PATH may be a file or a folder; folders are "
                                   "paired by file stem and unmatched files are reported.")
    g = p.add_argument_group("input / output")
    g.add_argument("--ir", type=Path, help="infrared image or folder")
    g.add_argument("--vi", type=Path, help="visible image or folder")
    g.add_argument("--input", type=Path, help="folder holding ir/ + vi/ (or Infrared/ + Visible/)")
    g.add_argument("--out", "-o", type=Path, required=True, help="output file (single pair) or folder")
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_model_args(p)
    o = p.add_argument_group("options")
    o.add_argument("--resize-ir-to-vi", action="store_true", help="resize IR to the VI size when they differ")
    o.add_argument("--ir-normalize", choices=("auto", "minmax", "percentile", "none"), default="auto",
                   help="how 16-bit / float IR is mapped to [0,1] (default auto = min-max)")
    o.add_argument("--stretch", action="store_true",
                   help="apply the official test-time min-max stretch to the output (off by default: it inflates SD/EN)")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..batch import fuse_pairs
    from ..errors import UserError
    from ..io import find_pair_folders, pair_folders, write_image

    if args.input is not None:
        if args.ir or args.vi:
            raise UserError("use either --input DIR or --ir/--vi, not both")
        args.ir, args.vi = find_pair_folders(args.input)
    if args.ir is None or args.vi is None:
        raise UserError("give --ir and --vi (files or folders), or --input DIR")
    for p in (args.ir, args.vi):
        if not p.exists():
            raise UserError(f"{p}: not found")
    if args.ir.is_dir() != args.vi.is_dir():
        raise UserError(f"--ir {args.ir} and --vi {args.vi} must both be files or both be folders")

    kw = dict(steps=args.steps, stretch=args.stretch, resize_ir_to_vi=args.resize_ir_to_vi, ir_normalize=args.ir_normalize)
    if args.ir.is_file():
        out = args.out / f"{args.vi.stem}.png" if (args.out.is_dir() or not args.out.suffix) else args.out
        if out.exists() and not args.overwrite:
            raise UserError(f"{out}: already exists; choose another --out or pass --overwrite")
        fuser = load(args.checkpoint, device=args.device, steps=args.steps, seed=args.seed)
        warn_if_untrained(fuser.info)
        fused = fuser.fuse(args.ir, args.vi, **kw)
        write_image(out, fused, overwrite=args.overwrite)
        print(f"wrote {out}")
        return 0

    pairing = pair_folders(args.ir, args.vi)
    if pairing.report():
        print(pairing.report(), file=sys.stderr)
    if not pairing.pairs:
        raise UserError(f"no IR/VI pairs with matching file stems in {args.ir} and {args.vi}")
    fuser = load(args.checkpoint, device=args.device, steps=args.steps, seed=args.seed)
    warn_if_untrained(fuser.info)
    res = fuse_pairs(fuser, pairing.pairs, args.out, overwrite=args.overwrite, progress=not args.quiet, **kw)
    print(res.summary())
    return 1 if res.failed else 0
