"""Peak memory of tiled fusion (``--tile``) on a 4096x3072 pair, the untiled baseline, and the effect of
computing the priors on a shrunk copy.

Every configuration runs in a fresh child process that reads the two PNG files, fuses them with
``Fuser.fuse`` (the same path as ``dspfusion fuse``) and reports its own peak resident set size
(``ru_maxrss``), its RSS after loading the model (the floor) and the wall time. Results go to
``benchmarks/results/tiling_memory.csv`` and ``.md``.

The tiled-vs-untiled experiment (one child, ``--prior-size``, default 2048x1536) fuses one pair
untiled; tiled with priors from the full-resolution image, once per number of statistics passes
(``--passes``, default 0,1,2,3); and tiled with priors from the copy shrunk to a 1024-pixel long
side (``--prior-max-side 1024``; the default before 2026-12-01). It reports the differences in grey levels and the seam excess, separating the
effect of tiling from the effect of shrinking, and the relative L2 change of each prior tensor.

The pair is an MSRS test scene (../shared/data/test/msrs91) resized with bicubic interpolation when
present, otherwise a seeded procedural scene. The model is ``--checkpoint`` (default: the "lite"
preset: shipped weights when installed, else a seeded random initialisation, noted in the output).

    .venv/bin/python benchmarks/bench_tiling_memory.py [--tiles 256,512,1024] [--untiled 1024x768,2048x1536,4096x3072]

The tiled memory runs compute the priors from the full-resolution pair (the default); ``--shrunk-tiles`` (default
512) repeats those tile sizes with ``--prior-max-side 1024``, to measure the memory that saves. They use the
default ``--tile-passes`` (2): each pass reruns the tiles, so the tiled wall
time is about (passes + 1) times one run over the tiles, while the peak memory does not change.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MSRS = ROOT.parent / "shared" / "data" / "test" / "msrs91"
SHRINK_SIDE = 1024  # the --prior-max-side compared with full-resolution priors


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def make_pair(folder: Path, w: int, h: int) -> tuple[Path, Path, str]:
    """Write ir.png / vi.png of w x h into ``folder``; (ir, vi, description)."""
    ir = cv2.imread(str(MSRS / "ir" / "00055D.png"), cv2.IMREAD_GRAYSCALE)
    vi = cv2.imread(str(MSRS / "vi" / "00055D.png"), cv2.IMREAD_COLOR)
    if ir is not None and vi is not None:
        desc = f"MSRS test 00055D.png resized (bicubic) to {w}x{h}"
        ir, vi = cv2.resize(ir, (w, h), interpolation=cv2.INTER_CUBIC), cv2.resize(vi, (w, h), interpolation=cv2.INTER_CUBIC)
    else:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        vi = np.empty((h, w, 3), np.float32)
        vi[:] = (60 + 80 * xx / w)[:, :, None]
        for _ in range(40):
            y0, x0 = rng.integers(0, h - h // 8), rng.integers(0, w - w // 8)
            vi[y0 : y0 + rng.integers(h // 40, h // 8), x0 : x0 + rng.integers(w // 40, w // 8)] = rng.uniform(10, 220, 3)
        ir = 40 + 30 * yy / h
        ir[(yy - h / 3) ** 2 + (xx - 2 * w / 3) ** 2 < (h / 10) ** 2] = 240
        ir, vi = np.clip(ir, 0, 255).astype(np.uint8), np.clip(vi, 0, 255).astype(np.uint8)
        desc = f"seeded procedural scene {w}x{h} (shared data absent)"
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "ir.png"), ir)
    cv2.imwrite(str(folder / "vi.png"), vi)
    return folder / "ir.png", folder / "vi.png", desc


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _load(checkpoint: str):
    import warnings

    import torch

    from dspfusion.checkpoint import load_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = load_model(checkpoint)
    return model, info


def child_fuse(job: dict) -> dict:
    """Runs in a fresh process: load, fuse two files, report peak RSS."""
    from dspfusion.inference import Fuser

    model, info = _load(job["checkpoint"])
    fuser = Fuser(model, device="cpu", seed=0)
    floor = _rss_mb()
    t0 = time.perf_counter()
    out = fuser.fuse(job["ir"], job["vi"], tile=job["tile"], tile_overlap=job["overlap"],
                     prior_max_side=job.get("prior_max_side"))
    wall = time.perf_counter() - t0
    return {"peak_rss_mb": round(_rss_mb(), 1), "after_load_rss_mb": round(floor, 1), "wall_s": round(wall, 1),
            "out_shape": list(out.shape), "trained": bool(info.get("trained", True)), "source": str(info.get("source"))}


def child_priors(job: dict) -> dict:
    """Untiled vs tiled with 0..N statistics passes (full-resolution priors) vs tiled with shrunk priors, on one pair."""
    import torch

    from dspfusion.inference import Fuser, prepare_pair
    from dspfusion.tiling import DEFAULT_STAT_PASSES, fuse_tiled, prior_image, seam_excess

    model, info = _load(job["checkpoint"])
    m = model.config.fusion.pad_multiple
    inp = prepare_pair(job["ir"], job["vi"])
    noise = model.initial_noise(1, seed=0)
    u8 = lambda t: (t.clamp(0, 1) * 255).round()  # noqa: E731
    d = lambda a, b: (round(float((a - b).abs().max()), 1), round(float((a - b).abs().mean()), 3))  # noqa: E731
    tiled = lambda passes, side: u8(fuse_tiled(model, inp.ir, inp.vi, job["tile"], job["overlap"], noise=noise,  # noqa: E731
                                               prior_max_side=side, stat_passes=passes))
    res = {"passes": []}
    with torch.inference_mode():
        untiled = u8(Fuser(model, device="cpu").fuse_tensors(inp.ir, inp.vi, seed=0))
        for passes in job["passes"]:
            t0 = time.perf_counter()
            full = tiled(passes, None)
            wall = time.perf_counter() - t0
            mx, mean = d(full, untiled)
            res["passes"].append({"passes": passes, "max": mx, "mean": mean, "seam": round(seam_excess(full / 255, untiled / 255), 2),
                                  "wall_s": round(wall, 1)})
            if passes == DEFAULT_STAT_PASSES:
                default_full = full
        if DEFAULT_STAT_PASSES not in job["passes"]:
            default_full = tiled(DEFAULT_STAT_PASSES, None)
        shrunk = tiled(DEFAULT_STAT_PASSES, SHRINK_SIDE)
        p_full = model.compute_priors(prior_image(inp.ir, None, m), prior_image(inp.vi, None, m), None, noise)
        p_small = model.compute_priors(prior_image(inp.ir, SHRINK_SIDE, m), prior_image(inp.vi, SHRINK_SIDE, m), None, noise)
    rel = {k: round(float((getattr(p_small, k) - getattr(p_full, k)).norm() / getattr(p_full, k).norm().clamp_min(1e-12)), 4)
           for k in ("deg_ir", "deg_vi", "sem")}
    res.update({"default_passes": DEFAULT_STAT_PASSES,
                "shrink_max": d(shrunk, default_full)[0], "shrink_mean": d(shrunk, default_full)[1],
                "total_max": d(shrunk, untiled)[0], "total_mean": d(shrunk, untiled)[1],
                "total_seam": round(seam_excess(shrunk / 255, untiled / 255), 2),
                "prior_rel_l2": rel, "trained": bool(info.get("trained", True)), "source": str(info.get("source"))})
    return res


def run_child(job: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(job)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", default="lite", help="model to use (default: lite)")
    parser.add_argument("--size", type=_size, default=(4096, 3072), help="tiled pair size WxH (default 4096x3072)")
    parser.add_argument("--tiles", default="256,512,1024", help="tile sizes to measure")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--shrunk-tiles", default="512",
                        help=f"tile sizes also measured with --prior-max-side {SHRINK_SIDE} (the memory it saves)")
    parser.add_argument("--untiled", default="1024x768,2048x1536,4096x3072", help="sizes to fuse without tiling (baseline)")
    parser.add_argument("--prior-size", type=_size, default=(2048, 1536), help="pair size for the priors experiment ('0x0' skips)")
    parser.add_argument("--prior-tile", type=int, default=512)
    parser.add_argument("--passes", default="0,1,2,3", help="statistics passes compared in the priors experiment")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(child_priors(job) if job.get("kind") == "priors" else child_fuse(job)))
        return 0

    rows, desc = [], ""
    with tempfile.TemporaryDirectory() as tmp:
        jobs = ([(args.size, int(t), None) for t in args.tiles.split(",") if t]
                + [(args.size, int(t), SHRINK_SIDE) for t in args.shrunk_tiles.split(",") if t]
                + [(_size(s), None, None) for s in args.untiled.split(",") if s])
        for (w, h), tile, side in jobs:
            ir, vi, desc_i = make_pair(Path(tmp) / f"{w}x{h}", w, h)
            desc = desc or desc_i
            job = {"checkpoint": args.checkpoint, "ir": str(ir), "vi": str(vi), "tile": tile, "overlap": args.overlap,
                   "prior_max_side": side}
            r = run_child(job)
            print(f"{w}x{h} tile={tile} prior_max_side={side}: {r}", file=sys.stderr, flush=True)
            rows.append({"size": f"{w}x{h}", "megapixels": round(w * h / 1e6, 1), "tile": tile or "none",
                         "overlap": args.overlap if tile else "",
                         "priors": (f"shrunk to {side}" if side else "full resolution") if tile else "",
                         "peak_rss_mb": r.get("peak_rss_mb", "failed"),
                         "after_load_rss_mb": r.get("after_load_rss_mb", ""), "wall_s": r.get("wall_s", ""),
                         "note": r.get("error", "")})
            trained = r.get("trained", True)
            source = r.get("source", args.checkpoint)
        prior = None
        if args.prior_size != (0, 0):
            w, h = args.prior_size
            ir, vi, _ = make_pair(Path(tmp) / f"p{w}x{h}", w, h)
            prior = run_child({"kind": "priors", "checkpoint": args.checkpoint, "ir": str(ir), "vi": str(vi),
                               "tile": args.prior_tile, "overlap": args.overlap,
                               "passes": [int(p) for p in args.passes.split(",") if p]})
            print(f"priors {w}x{h}: {prior}", file=sys.stderr, flush=True)

    import torch

    from dspfusion.benchmark.provenance import cpu_model
    from dspfusion.io import write_csv_atomic, write_text_atomic

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    model_note = source + ("" if trained else " — RANDOMLY INITIALISED (no trained weights installed)")
    info = (f"{desc}; model {model_note}; 10 SPDM steps, seed 0; peak RSS = ru_maxrss of a fresh process that reads the PNGs, "
            f"fuses and converts to uint8; {cpu_model()} ({platform.machine()}), {os.cpu_count()} CPU cores, torch {torch.__version__}; "
            f"1-min load average at the end {load:.1f}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(args.out_dir / "tiling_memory.csv", rows)
    md = ["# Tiled fusion: peak memory (CPU)", "", info + ".", "",
          "| size | MP | tile | overlap | priors | peak RSS MB | RSS after model load MB | wall s | note |",
          "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    md += [f"| {r['size']} | {r['megapixels']} | {r['tile']} | {r['overlap']} | {r['priors']} | {r['peak_rss_mb']} | "
           f"{r['after_load_rss_mb']} | {r['wall_s']} | {r['note']} |" for r in rows]
    if prior and "error" not in prior:
        w, h = args.prior_size
        dp = prior["default_passes"]
        md += ["", f"## Tiled vs untiled output ({w}x{h}, tile {args.prior_tile}, overlap {args.overlap})", "",
               "Differences of the uint8 outputs in grey levels (max / mean over pixels and channels) and the seam excess "
               "(the largest extra jump between neighbouring rows or columns, `dspfusion.tiling.seam_excess`). "
               "Passes = `--tile-passes`, the passes over the tiles that gather the image-wide attention statistics "
               f"before the output pass (default {dp}; 0 = each tile uses its own). Priors from the full-resolution "
               "image (the default), so these rows are the effect of tiling alone:", "",
               "| statistics passes | max | mean | seam excess | wall s |", "|---:|---:|---:|---:|---:|"]
        md += [f"| {r['passes']} | {r['max']} | {r['mean']} | {r['seam']} | {r['wall_s']} |" for r in prior["passes"]]
        md += ["", f"Priors from the copy shrunk to a long side of {SHRINK_SIDE} (`--prior-max-side {SHRINK_SIDE}`), {dp} passes:", "",
               "| comparison | max | mean | seam excess |", "|---|---:|---:|---:|",
               f"| shrunk vs full-resolution priors (effect of shrinking) | {prior['shrink_max']} | {prior['shrink_mean']} | |",
               f"| shrunk priors, tiled vs untiled (both effects) | {prior['total_max']} | {prior['total_mean']} | {prior['total_seam']} |",
               "", "Relative L2 change of the priors (shrunk vs full): "
               + ", ".join(f"{k} {v}" for k, v in prior["prior_rel_l2"].items()) + "."]
    elif prior:
        md += ["", f"Priors experiment failed: {prior['error']}"]
    write_text_atomic(args.out_dir / "tiling_memory.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
