"""Experiment (2026-12-05, sixteenth session): test-time flip averaging with the shipped model.

Writes fused images for every degraded input of a quick benchmark run (runs/bench_quick/inputs, the first 10 pairs of
MSRS91 and RoadScene50 under the 12 conditions): the mean of the model's output for the pair and for the pair
mirrored left-right (mirrored back), two passes of the network. Averaging the two keeps what the network derives
from the inputs and halves, in power, detail whose phase it invents (the night-frame grain under VI blur, docs/EXPERIMENTS.md,
"Phase-aware undershoot and more blocks"). Read back by tta_quick.yaml's folder method.

    python benchmarks/results/experiments/tta/tta.py          # about 6 min on 2 cores
    dspfusion benchmark benchmarks/results/experiments/tta/tta_quick.yaml --no-speed
    python benchmarks/compare_methods.py runs/bench_quick/summary.csv --candidate lite27+flip \
        --against lite27 Laplacian+enh GFF+enh max+enh --metric Qabf VIF MI NIQE \
        --out benchmarks/results/experiments/tta/tta_quick.md

The model is ``lite27``, the weights shipped when this experiment ran; ``dspfusion/weights`` holds a later model
since. Restore it first: ``git show 514aefb:dspfusion/weights/dspfusion-lite.safetensors > runs/lite27.safetensors``.
"""
from pathlib import Path

import torch

import dspfusion
from dspfusion.benchmark.inputs import written_inputs
from dspfusion.inference import prepare_pair, to_uint8
from dspfusion.io import write_image

out = Path("runs/exp_tta/flip")
fuser = dspfusion.load("runs/lite27.safetensors")  # lite27, shipped when this ran (see the docstring)
for ds, cond, stem, ir, vi in written_inputs(Path("runs/bench_quick/inputs"), progress=True):
    inp = prepare_pair(ir, vi)
    a = fuser.fuse_tensors(inp.ir, inp.vi)
    b = fuser.fuse_tensors(torch.flip(inp.ir, [-1]), torch.flip(inp.vi, [-1])).flip(-1)
    write_image(out / ds / cond / f"{stem}.png", to_uint8((a + b) / 2, colour=inp.vi_is_colour), overwrite=True)
