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
"""
import sys
from pathlib import Path
import cv2
import dspfusion
from dspfusion.baselines import enhancement as E
from dspfusion.baselines import ENHANCERS
from dspfusion.degradations import parse_condition

root = Path("runs/bench_quick/inputs")
out = Path("runs/exp_pre_enhance")
fuser = dspfusion.load("dspfusion/weights/dspfusion-lite.safetensors")
variants = sys.argv[1:] or ["deblur", "oracle"]
for ds in sorted(root.iterdir()):
    for cond in sorted(ds.iterdir()):
        vi_t, ir_t = parse_condition(cond.name)
        for p in sorted((cond / "vi").glob("*.png")):
            vi = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if vi.ndim == 3:
                vi = cv2.cvtColor(vi, cv2.COLOR_BGR2RGB)
            ir = cv2.imread(str(cond / "ir" / p.name), cv2.IMREAD_GRAYSCALE)
            for v in variants:
                if v == "deblur":
                    vi2, ir2 = E.deblur(vi), ir
                elif v == "oracle":
                    ev, ei = ENHANCERS.get(("vi", vi_t)), ENHANCERS.get(("ir", ir_t))  # None for "clean"
                    vi2 = ev(vi) if ev else vi
                    ir2 = ei(ir) if ei else ir
                f = fuser.fuse(ir2, vi2)
                d = out / v / ds.name / cond.name
                d.mkdir(parents=True, exist_ok=True)
                if f.ndim == 3:
                    f = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(d / p.name), f)
        print(ds.name, cond.name, flush=True)
