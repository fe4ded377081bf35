"""``dspfusion metrics``: fusion metrics for a folder of fused images → per-image CSV + summary table (↑/↓).

Files are paired by stem across the folders (``fused/01.png`` ↔ ``ir/01.png`` ↔ ``vi/01.jpg``); images that
miss a partner or fail to load are skipped, reported, and the run finishes. ``--ref-ir/--ref-vi`` point the
full-reference metrics at clean sources (degraded-input evaluation). The computation is
:func:`dspfusion.metrics.evaluate`; see docs/METRICS.md for what each metric and convention means.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

CONVENTION_NAMES = ("tang", "cddfuse", "tang2022")


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "metrics", help="evaluate fused images (EN, SD, SF, AG, MI, CC, SCD, VIF, Qabf, Nabf, SSIM, PSNR, MSE, ...)",
        description="Compute image-fusion metrics of fused images against their infrared and visible sources. "
                    "PATHs are files (one image) or folders (paired by file stem). Prints the mean of each metric "
                    "with its direction (↑ higher is better, ↓ lower is better) and writes per-image values to "
                    "--csv.",
        epilog="Conventions: tang = L. Tang's MATLAB Evaluation-for-Image-Fusion (current; DSPFusion's authors), "
               "cddfuse = CDDFuse utils/Evaluator.py (MI in nats, SSIM summed, PSNR peak max(F)), tang2022 = the "
               "2022 toolbox that produced Metric_TNO.xlsx (its bugs included). Numbers from different conventions "
               "are not comparable. Exit status: 0 all evaluated, 1 some skipped, 2 error.")
    g = p.add_argument_group("input / output")
    g.add_argument("--fused", type=Path, required=True, help="fused image or folder")
    g.add_argument("--ir", type=Path, help="infrared source image or folder")
    g.add_argument("--vi", type=Path, help="visible source image or folder")
    g.add_argument("--ref-ir", type=Path,
                   help="clean infrared reference (full-reference metrics use it instead of --ir)")
    g.add_argument("--ref-vi", type=Path,
                   help="clean visible reference (full-reference metrics use it instead of --vi)")
    g.add_argument("--csv", type=Path, help="write per-image values to this CSV file")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    o = p.add_argument_group("metrics")
    o.add_argument("--convention", choices=CONVENTION_NAMES, default="tang",
                   help="reference implementation to reproduce (default tang)")
    o.add_argument("--metrics", default=None, metavar="LIST",
                   help="comma-separated metric names, or 'all' (adds NIQE, PIQE); default: the 13 fusion metrics")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _index(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """stem -> image file, and stem -> reason for stems that cannot be used (ambiguous)."""
    from ..io import is_image_file

    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if not path.name.startswith(".") and is_image_file(path):
            found.setdefault(path.stem, []).append(path)
    files = {s: ps[0] for s, ps in found.items() if len(ps) == 1}
    bad = {s: f"{folder}: several images share the stem ({', '.join(p.name for p in ps)}); rename one"
           for s, ps in found.items() if len(ps) > 1}
    return files, bad


def _jobs(args: argparse.Namespace, roles: dict[str, Path | None]) -> tuple[list[tuple[str, dict[str, Path]]],
                                                                              list[tuple[str, str]]]:
    """Pair the inputs: (name, {role: path}) jobs and (name, reason) skips."""
    from ..errors import UserError

    given = {r: p for r, p in roles.items() if p is not None}
    for role, path in given.items():
        if not path.exists():
            raise UserError(f"--{role.replace('_', '-')} {path}: not found")
    if args.fused.is_file():
        folders = [r for r, p in given.items() if p.is_dir()]
        if folders:
            raise UserError(f"--fused is a file, so --{folders[0].replace('_', '-')} must be a file too")
        return [(args.fused.name, given)], []
    files = [r for r, p in given.items() if not p.is_dir()]
    if files:
        raise UserError(f"--fused is a folder, so --{files[0].replace('_', '-')} must be a folder too")
    indexes = {r: _index(p) for r, p in given.items()}
    fused_files, fused_bad = indexes["fused"]
    jobs: list[tuple[str, dict[str, Path]]] = []
    skips: list[tuple[str, str]] = [(s, why) for s, why in sorted(fused_bad.items())]
    for stem in sorted(fused_files):
        paths = {"fused": fused_files[stem]}
        reason = None
        for role, (files_r, bad_r) in indexes.items():
            if role == "fused":
                continue
            if stem in bad_r:
                reason = bad_r[stem]
            elif stem not in files_r:
                reason = f"no {role.replace('_', '-')} image with stem {stem!r} in {given[role]}"
            else:
                paths[role] = files_r[stem]
            if reason:
                break
        if reason:
            skips.append((fused_files[stem].name, reason))
        else:
            jobs.append((fused_files[stem].name, paths))
    if not fused_files and not fused_bad:
        raise UserError(f"{args.fused}: no images found")
    return jobs, skips


def _write_csv(path: Path, names: list[str], rows: list[tuple[str, dict[str, float]]]) -> None:
    """Write atomically: a temporary file in the destination folder, then rename."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["image", *names])
            for image, values in rows:
                w.writerow([image, *(f"{values[n]:.10g}" for n in names)])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _arrows_ok() -> bool:
    try:
        "↑↓".encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def summary_table(names: list[str], rows: list[tuple[str, dict[str, float]]]) -> str:
    """Mean, standard deviation and count of the finite values of each metric, with its direction."""
    import numpy as np

    from ..metrics import METRICS

    fancy = _arrows_ok()
    lines = [f"{'metric':<10}{'mean':>14}{'std':>12}{'n':>6}"]
    for n in names:
        vals = np.array([v[n] for _, v in rows], dtype=np.float64)
        ok = vals[np.isfinite(vals)]
        arrow = METRICS[n].arrow if fancy else ("(+)" if METRICS[n].higher_is_better else "(-)")
        mean = f"{ok.mean():.4f}" if ok.size else "nan"
        std = f"{ok.std():.4f}" if ok.size else "nan"
        lines.append(f"{n + ' ' + arrow:<10}{mean:>14}{std:>12}{ok.size:>6}")
    if not fancy:
        lines.append("(+) higher is better, (-) lower is better")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..errors import UserError
    from ..metrics import METRICS, evaluate, get_convention, resolve_metrics

    names = resolve_metrics(args.metrics)
    conv = get_convention(args.convention)
    if args.csv is not None and args.csv.exists() and not args.overwrite:
        raise UserError(f"{args.csv}: already exists; choose another --csv or pass --overwrite")
    roles = {"fused": args.fused, "ir": args.ir, "vi": args.vi, "ref_ir": args.ref_ir, "ref_vi": args.ref_vi}
    needs_sources = any(METRICS[n].needs_sources for n in names)
    if needs_sources and ((args.ir is None and args.ref_ir is None) or (args.vi is None and args.ref_vi is None)):
        raise UserError("full-reference metrics need --ir and --vi (or --ref-ir and --ref-vi)")
    jobs, skips = _jobs(args, roles)

    rows: list[tuple[str, dict[str, float]]] = []
    for name, paths in tqdm(jobs, desc="metrics", unit="img", disable=args.quiet or len(jobs) < 2):
        try:
            values = evaluate(paths["fused"], paths.get("ir"), paths.get("vi"), metrics=names, convention=conv,
                              ref_ir=paths.get("ref_ir"), ref_vi=paths.get("ref_vi"))
        except (UserError, ValueError) as exc:
            skips.append((name, str(exc)))
            continue
        rows.append((name, values))

    refs = [r for r in ("ref_ir", "ref_vi") if roles[r] is not None]
    print(f"convention {conv.name}: {conv.description}")
    if refs:
        print("full-reference metrics compare the fused image with the clean references: "
              + ", ".join("--" + r.replace("_", "-") for r in refs))
    print(f"{len(rows)} image(s) evaluated, {len(skips)} skipped")
    if rows:
        print(summary_table(names, rows))
    for name, why in skips:
        print(f"  skipped {name}: {why}", file=sys.stderr)
    if not rows:
        raise UserError("no image could be evaluated (see the skipped list above)")
    if args.csv is not None:
        _write_csv(args.csv, names, rows)
        print(f"wrote {args.csv}")
    nan_metrics = [n for n in names if any(math.isnan(v[n]) for _, v in rows)]
    if nan_metrics:
        print(f"note: NaN values (undefined, e.g. constant images) in {', '.join(nan_metrics)}", file=sys.stderr)
    return 1 if skips else 0
