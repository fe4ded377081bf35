"""``dspfusion degrade``: build a degraded test set in the official layout from clean IR/VI pairs.

Output (DSPFUSION.md §1.5): ``ir/`` and ``vi/`` (the clean pairs, as PNG), ``vi_<T>/`` for each VI condition (pair
it with ``ir/``), ``ir_<T>/`` for each IR condition (pair it with ``vi/``), and ``<MIXED>/ir`` + ``<MIXED>/vi`` for
each mixed condition; plus ``manifest.json`` with the condition and parameters of every image. Every image's
degradation is drawn from a generator seeded by (seed, condition, file stem), so the output is deterministic and
does not depend on the order, the number of pairs or the other conditions asked for.
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CONDITIONS = (
    "vi_Blur,vi_Rain,vi_LL,vi_OE,vi_RN,vi_haze,ir_LC,ir_RN,ir_SN,LL_LC,LL_SN,Rain_SN"
)


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("degrade", help="synthesise degraded test sets (official layout) from clean pairs",
                       description="Degrade clean registered IR/VI pairs for every requested condition and write "
                                   "the official test layout plus a JSON manifest. Deterministic for a given seed.")
    g = p.add_argument_group("input / output")
    g.add_argument("--input", type=Path, required=True, help="folder holding ir/ + vi/ (or Infrared/ + Visible/)")
    g.add_argument("--out", "-o", type=Path, required=True, help="output folder (must be empty or absent)")
    g.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder, replacing files")
    o = p.add_argument_group("degradation")
    o.add_argument("--conditions", default=DEFAULT_CONDITIONS,
                   help=f"comma-separated conditions (default: all 12: {DEFAULT_CONDITIONS})")
    o.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _folders(condition: str) -> tuple[str, str]:
    """Output sub-folders (for IR, for VI) of a condition."""
    from ..degradations import MIXED

    if condition == "clean":
        return "ir", "vi"
    if condition in MIXED:
        return f"{condition}/ir", f"{condition}/vi"
    return (condition, "vi") if condition.startswith("ir_") else ("ir", condition)


def _load(path: Path, grey: bool):
    """Read a user's image → uint8 (or float in [0,1] for 16-bit data); IR as a single channel."""
    import cv2
    import numpy as np

    from ..io import read_image, to_float

    img = read_image(path)
    if img.dtype != np.uint8:
        img = to_float(img)
    if grey and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img


def _u8(img):
    import numpy as np

    return img if img.dtype == np.uint8 else np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import sys
    import tempfile
    import zlib

    import numpy as np
    from tqdm import tqdm

    from ..degradations import apply_condition, parse_condition
    from ..errors import UserError
    from ..io import find_pair_folders, pair_folders, write_image
    from ..version import __version__

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if not conditions:
        raise UserError("--conditions is empty; give e.g. vi_Blur,ir_SN,LL_SN")
    for c in conditions:
        if c == "clean":
            raise UserError("'clean' is always written (ir/ and vi/); leave it out of --conditions")
        try:
            parse_condition(c)
        except ValueError as exc:
            raise UserError(f"--conditions: {exc}") from None
    conditions = list(dict.fromkeys(conditions))
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"{out}: the folder is not empty; choose another --out or pass --overwrite")

    ir_dir, vi_dir = find_pair_folders(args.input)
    found = pair_folders(ir_dir, vi_dir)
    if not found.pairs:
        raise UserError(f"{args.input}: no IR/VI pairs matched by file stem\n{found.report()}")
    if found.report():
        print(found.report(), file=sys.stderr)

    records, skipped = [], []
    for stem, ir_path, vi_path in tqdm(found.pairs, desc="degrade", unit="pair", disable=args.quiet):
        try:
            ir, vi = _load(ir_path, grey=True), _load(vi_path, grey=False)
        except UserError as exc:
            skipped.append({"name": stem, "reason": str(exc)})
            continue
        name = f"{stem}.png"
        jobs = [("clean", ir, vi, {"condition": "clean", "vi": {"type": "clean"}, "ir": {"type": "clean"}})]
        for c in conditions:
            rng = np.random.default_rng([args.seed, zlib.crc32(c.encode()), zlib.crc32(stem.encode())])
            ir_d, vi_d, params = apply_condition(ir, vi, c, rng)
            jobs.append((c, ir_d, vi_d, params))
        for c, ir_d, vi_d, params in jobs:
            ir_sub, vi_sub = _folders(c)
            if c == "clean" or parse_condition(c)[1] != "clean":
                write_image(out / ir_sub / name, _u8(ir_d), overwrite=args.overwrite)
            if c == "clean" or parse_condition(c)[0] != "clean":
                write_image(out / vi_sub / name, _u8(vi_d), overwrite=args.overwrite)
            records.append({"name": name, "source": {"ir": str(ir_path), "vi": str(vi_path)},
                            "ir_file": f"{ir_sub}/{name}", "vi_file": f"{vi_sub}/{name}", **params})

    manifest = {
        "tool": f"dspfusion {__version__} degrade",
        "seed": args.seed,
        "input": str(args.input),
        "conditions": conditions,
        "folders": {c: dict(zip(("ir", "vi"), _folders(c))) for c in ["clean"] + conditions},
        "images": records,
        "skipped": skipped,
    }
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(manifest, f, indent=1)
        os.replace(tmp, out / "manifest.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    n_ok = len(found.pairs) - len(skipped)
    print(f"wrote {n_ok} pair(s) x {len(conditions)} condition(s) (+ clean) to {out}; "
          f"manifest: {out / 'manifest.json'}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable pair(s):", file=sys.stderr)
        for s in skipped:
            print(f"  {s['name']}: {s['reason']}", file=sys.stderr)
    return 0 if n_ok else 1
