"""Experiment (2026-12-05, fifteenth session): the shipped model on pre-enhanced inputs.

Writes fused images for every degraded input of a quick benchmark run (runs/bench_quick/inputs, the first 10 pairs of
MSRS91 and RoadScene50 under the 12 conditions) in two variants, read back by pre_enhance_quick.yaml's folder methods:

* ``deblur``: the VI input first goes through the blind classical deblurring of the baselines
  (dspfusion.baselines.enhancement.deblur: re-blur sigma estimate, Richardson-Lucy), whatever the condition;
* ``oracle``: each input first goes through the classical enhancer of its known degradation type, as the +enh
  baselines do (oracle type).

    python benchmarks/results/experiments/pre_enhance/pre_enhance.py          # about 6 min on 2 cores
    dspfusion benchmark benchmarks/results/experiments/pre_enhance/pre_enhance_quick.yaml --no-speed
    python benchmarks/compare_methods.py runs/bench_quick/summary.csv --candidate lite27 \
        --against lite27+deblur lite27+oracle Laplacian+enh GFF+enh --metric Qabf \
        --out benchmarks/results/experiments/pre_enhance/pre_enhance_quick.md

The model is ``lite27``, the weights shipped when this experiment ran; ``dspfusion/weights`` holds a later model
since. Restore it first: ``git show 514aefb:dspfusion/weights/dspfusion-lite.safetensors > runs/lite27.safetensors``.
"""
import sys
from pathlib import Path

import dspfusion
from dspfusion.baselines import ENHANCERS
from dspfusion.baselines import enhancement as E
from dspfusion.benchmark.inputs import written_inputs
from dspfusion.degradations import parse_condition
from dspfusion.io import write_image

out = Path("runs/exp_pre_enhance")
fuser = dspfusion.load("runs/lite27.safetensors")  # lite27, shipped when this ran (see the docstring)
variants = sys.argv[1:] or ["deblur", "oracle"]
for ds, cond, stem, ir, vi in written_inputs(Path("runs/bench_quick/inputs"), progress=True):
    vi_t, ir_t = parse_condition(cond)
    for v in variants:
        if v == "deblur":
            vi2, ir2 = E.deblur(vi), ir
        elif v == "oracle":
            ev, ei = ENHANCERS.get(("vi", vi_t)), ENHANCERS.get(("ir", ir_t))  # None for "clean"
            vi2 = ev(vi) if ev else vi
            ir2 = ei(ir) if ei else ir
        write_image(out / v / ds / cond / f"{stem}.png", fuser.fuse(ir2, vi2), overwrite=True)
