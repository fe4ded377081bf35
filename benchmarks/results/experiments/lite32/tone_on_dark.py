"""Experiment (2026-12-05, fifteenth session): does the VI tone curve brighten the dark MSRS91 frames?

Prints, for four low-light quick-check inputs (runs/bench_quick/inputs, made by the quick benchmark configs), the
mean of the padded VI input before -> after the VI tone curve of lite28, lite30 and lite31 (0-1 scale):

    python benchmarks/results/experiments/lite32/tone_on_dark.py
"""
import torch
from dspfusion.inference import prepare_pair, pad_to_multiple
from dspfusion.checkpoint import load_model
p = 'runs/bench_quick/inputs/MSRS91/'
for name, ck in (("lite28", "runs/lite28/model.safetensors"), ("lite30", "runs/lite30/model.safetensors"), ("lite31", "runs/lite31/model.safetensors")):
    m, _ = load_model(ck); m.eval()
    out = []
    for cond, stem in (("LL_SN", "00055D"), ("vi_LL", "00162D"), ("vi_LL", "00095D"), ("LL_SN", "00182D")):
        pr = prepare_pair(p + f"{cond}/ir/{stem}.png", p + f"{cond}/vi/{stem}.png")
        with torch.no_grad():
            vi = pad_to_multiple(pr.vi, m.config.fusion.pad_multiple)
            deg, _ = m.degradation(vi)
            t = m.fusion.tone(vi, deg, m.fusion.curve_vi)
        out.append(f"{cond}/{stem}: {float(vi.mean()):.3f}->{float(t.mean()):.3f}")
    print(name, out)
