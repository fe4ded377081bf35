"""``dspfusion fuse``: one pair, two folders, a dataset folder, or two videos / frame folders → fused output."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_model_args, warn_if_untrained


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fuse", help="fuse IR/VI pairs (files or folders)",
                       description="Fuse registered infrared/visible pairs. PATH may be a file or a folder; folders are "
                                   "paired by file stem and unmatched files are reported. Videos (or folders with "
                                   "--frames) are fused frame by frame, paired by index.")
    g = p.add_argument_group("input / output")
    g.add_argument("--ir", type=Path, help="infrared image, folder or video")
    g.add_argument("--vi", type=Path, help="visible image, folder or video")
    g.add_argument("--input", type=Path, help="folder holding ir/ + vi/ (or Infrared/ + Visible/)")
    g.add_argument("--out", "-o", type=Path, required=True,
                   help="output file (single pair), folder, or video file (.mp4/.avi) for sequences")
    g.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_model_args(p)
    o = p.add_argument_group("options")
    o.add_argument("--resize-ir-to-vi", action="store_true", help="resize IR to the VI size when they differ")
    o.add_argument("--ir-normalize", choices=("auto", "minmax", "percentile", "none"), default="auto",
                   help="how 16-bit / float IR is mapped to [0,1] (default auto = min-max)")
    o.add_argument("--stretch", action="store_true",
                   help="apply the official test-time min-max stretch to the output (off by default: it inflates SD/EN)")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    t = p.add_argument_group("large images")
    t.add_argument("--tile", type=int, default=None, metavar="SIZE",
                   help="fuse in overlapping SIZE x SIZE tiles (bounded memory; priors computed once per image)")
    t.add_argument("--tile-overlap", type=int, default=32, metavar="N", help="overlap between tiles in pixels (default 32)")
    t.add_argument("--tile-passes", type=int, default=3, metavar="N",
                   help="passes over the tiles that gather image-wide attention statistics before the output pass "
                   "(default 3; 0 = per-tile statistics, fastest but tiles differ; see docs/BENCHMARKS.md)")
    t.add_argument("--prior-max-side", type=int, default=None, metavar="N",
                   help="with --tile: compute the priors on a copy shrunk to a long side of N pixels instead of the "
                   "full-resolution image (less memory on very large images, but the output changes; see docs/BENCHMARKS.md)")
    v = p.add_argument_group("video / frame sequences")
    v.add_argument("--frames", action="store_true",
                   help="treat --ir/--vi folders as frame sequences paired by index (natural sort), not by file stem")
    v.add_argument("--truncate", action="store_true", help="when the sequences differ in length, fuse the shorter length")
    v.add_argument("--fps", type=float, default=None, help="frame rate of a video output (default: the input's, or 25)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..batch import fuse_pairs
    from ..errors import UserError
    from ..io import IMAGE_EXTENSIONS, find_pair_folders, pair_folders, write_image

    if args.input is not None:
        if args.ir or args.vi:
            raise UserError("use either --input DIR or --ir/--vi, not both")
        args.ir, args.vi = find_pair_folders(args.input)
    if args.ir is None or args.vi is None:
        raise UserError("give --ir and --vi (files or folders), or --input DIR")
    for p in (args.ir, args.vi):
        if not p.exists():
            raise UserError(f"{p}: not found; check the path")
    kw = dict(steps=args.steps, stretch=args.stretch, resize_ir_to_vi=args.resize_ir_to_vi, ir_normalize=args.ir_normalize,
              tile=args.tile, tile_overlap=args.tile_overlap, tile_passes=args.tile_passes, prior_max_side=args.prior_max_side)
    if args.prior_max_side is not None and args.tile is None:
        raise UserError(f"--prior-max-side {args.prior_max_side} only applies to tiled fusion; add --tile SIZE or drop it")
    if args.tile is not None:
        from ..tiling import check_tiling

        # early check; every model's pad multiple is a multiple of 8
        check_tiling(args.tile, args.tile_overlap, 8, args.tile_passes, args.prior_max_side)
    from ..video import is_video_path

    if args.frames or is_video_path(args.ir) or is_video_path(args.vi):
        return _run_sequences(args, kw)
    if args.ir.is_dir() != args.vi.is_dir():
        raise UserError(f"--ir {args.ir} and --vi {args.vi} must both be files or both be folders")
    if args.ir.is_file():
        out = args.out / f"{args.vi.stem}.png" if (args.out.is_dir() or not args.out.suffix) else args.out
        if out.exists() and not args.overwrite:
            raise UserError(f"{out}: already exists; choose another --out or pass --overwrite")
        if out.suffix.lower() not in IMAGE_EXTENSIONS:
            raise UserError(f"{out}: unsupported output extension {out.suffix!r}; use .png (lossless) or .jpg")
        fuser = load(args.checkpoint, device=args.device, steps=args.steps, seed=args.seed)
        warn_if_untrained(fuser.info)
        fused = fuser.fuse(args.ir, args.vi, progress=not args.quiet, **kw)
        write_image(out, fused, overwrite=args.overwrite)
        print(f"wrote {out}")
        return 0

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"{args.out}: exists and is not a folder; folder jobs need an output folder as --out")
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


def _run_sequences(args: argparse.Namespace, kw: dict) -> int:
    from .. import load
    from ..video import fuse_sequences, open_sequence

    ir, vi = open_sequence(args.ir), open_sequence(args.vi)
    for seq in (ir, vi):
        if seq.ignored:
            print(f"{len(seq.ignored)} non-image file(s) ignored in {seq.path}: " + ", ".join(p.name for p in seq.ignored[:10]),
                  file=sys.stderr)
    fuser = load(args.checkpoint, device=args.device, steps=args.steps, seed=args.seed)
    warn_if_untrained(fuser.info)
    res = fuse_sequences(fuser, ir, vi, args.out, truncate=args.truncate, overwrite=args.overwrite, fps=args.fps,
                         progress=not args.quiet, **kw)
    if res.written == [args.out]:
        print(f"wrote {args.out} ({min(ir.count, vi.count)} frames)")
        return 0
    print(res.summary())
    return 1 if res.failed else 0
