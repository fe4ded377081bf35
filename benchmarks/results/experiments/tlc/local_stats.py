"""Experiment (2026-12-05, sixteenth session): the shipped model with attention statistics over training-size windows.

The Restormer's channel attention normalises q and k over the whole image it is given, and the DPMM modulation
averages over it (dspfusion.models.tile_statistics). Training sees 96-pixel crops; a 640×480 test frame gives
statistics over 25 times the area. Chu et al. (ECCV 2022, "Improving Image Restoration by Revisiting Global
Information Aggregation", TLC) found this train/test mismatch costs Restormer-type models quality and computed the
statistics over training-size windows at test time instead. Our tiled path does that when it is told to gather no
image-wide statistics (``tile_passes=0``): each tile uses its own statistics, the priors stay those of the whole
image, and the tiles are feathered together. This writes, for every degraded input of a quick benchmark run
(runs/bench_quick/inputs: the first 10 pairs of MSRS91 and RoadScene50 under 12 conditions), the shipped model's
output tiled that way at the tile sizes given (default 128 and 192, overlap 32); tlc_quick.yaml reads them back.

    python benchmarks/results/experiments/tlc/local_stats.py 192
    dspfusion benchmark benchmarks/results/experiments/tlc/tlc_quick.yaml --no-speed
"""
import sys
from pathlib import Path

import cv2

import dspfusion

root = Path("runs/bench_quick/inputs")
out = Path("runs/exp_tlc")
tiles = [int(a) for a in sys.argv[1:]] or [128, 192]
fuser = dspfusion.load("dspfusion/weights/dspfusion-lite.safetensors")
for ds in sorted(root.iterdir()):
    for cond in sorted(ds.iterdir()):
        for p in sorted((cond / "vi").glob("*.png")):
            vi = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if vi.ndim == 3:
                vi = cv2.cvtColor(vi, cv2.COLOR_BGR2RGB)
            ir = cv2.imread(str(cond / "ir" / p.name), cv2.IMREAD_GRAYSCALE)
            for t in tiles:
                f = fuser.fuse(ir, vi, tile=t, tile_overlap=32, tile_passes=0)
                d = out / f"t{t}" / ds.name / cond.name
                d.mkdir(parents=True, exist_ok=True)
                if f.ndim == 3:
                    f = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(d / p.name), f)
        print(ds.name, cond.name, flush=True)
