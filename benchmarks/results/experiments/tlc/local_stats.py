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

The model is ``lite27``, the weights shipped when this experiment ran; ``dspfusion/weights`` holds a later model
since. Restore it first: ``git show 514aefb:dspfusion/weights/dspfusion-lite.safetensors > runs/lite27.safetensors``.
"""
import sys
from pathlib import Path

import dspfusion
from dspfusion.benchmark.inputs import written_inputs
from dspfusion.io import write_image

out = Path("runs/exp_tlc")
tiles = [int(a) for a in sys.argv[1:]] or [128, 192]
fuser = dspfusion.load("runs/lite27.safetensors")  # lite27, shipped when this ran (see the docstring)
for ds, cond, stem, ir, vi in written_inputs(Path("runs/bench_quick/inputs"), progress=True):
    for t in tiles:
        f = fuser.fuse(ir, vi, tile=t, tile_overlap=32, tile_passes=0)
        write_image(out / f"t{t}" / ds / cond / f"{stem}.png", f, overwrite=True)
