"""Experiment (2026-12-05, fifteenth session): what the shipped model's tone curves do to clean pairs.

Fuses the first 25 clean pairs of TNO25, RoadScene50 and MSRS91 with the shipped weights as they are, and with both
tone curves replaced by the identity, and prints the mean Qabf of each (about 3 min on 2 cores):

    python benchmarks/results/experiments/tone_on_clean/tone_on_clean.py

With ``degraded`` instead, it writes fused images for the quick benchmark's degraded inputs (runs/bench_quick/inputs)
with the curve of each source that the condition leaves clean replaced by the identity (not used in the docs).
"""
import sys
from pathlib import Path
import numpy as np, cv2
import dspfusion
from dspfusion.degradations import parse_condition
from dspfusion.metrics import evaluate
from dspfusion.benchmark.inputs import read_list

fuser = dspfusion.load("dspfusion/weights/dspfusion-lite.safetensors")
net = fuser.model.fusion
orig = net.tone
skip = set()
def tone(x, deg, mlp):
    if (mlp is net.curve_ir and "ir" in skip) or (mlp is net.curve_vi and "vi" in skip):
        return x
    return orig(x, deg, mlp)
net.tone = tone

def rd(p, grey):
    a = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_UNCHANGED)
    return a if grey or a.ndim == 2 else cv2.cvtColor(a, cv2.COLOR_BGR2RGB)

if sys.argv[1:] == ["degraded"]:
    root, out = Path("runs/bench_quick/inputs"), Path("runs/exp_tone_on_clean")
    for ds in sorted(root.iterdir()):
        for cond in sorted(ds.iterdir()):
            vi_t, ir_t = parse_condition(cond.name)
            skip.clear()
            skip.update(m for m, t in (("vi", vi_t), ("ir", ir_t)) if t == "clean")
            d = out / ds.name / cond.name
            d.mkdir(parents=True, exist_ok=True)
            for p in sorted((cond / "vi").glob("*.png")):
                f = fuser.fuse(rd(cond / "ir" / p.name, True), rd(p, False))
                cv2.imwrite(str(d / p.name), f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            print(ds.name, cond.name, flush=True)
else:
    base = Path("../shared/data/test")
    for name, folder, lst in (("TNO25", "tno42", "tno25.txt"), ("RoadScene50", "roadscene50", None), ("MSRS91", "msrs91", None)):
        stems = read_list(base / "lists" / lst) if lst else sorted(p.name for p in (base / folder / "ir").iterdir())
        stems = stems[:25]
        res = {}
        for mode in ("shipped", "identity"):
            skip.clear()
            if mode == "identity":
                skip.update(("ir", "vi"))
            q = []
            for s in stems:
                st = Path(s).stem
                ir = rd(next((base / folder / "ir").glob(st + ".*")), True)
                vi = rd(next((base / folder / "vi").glob(st + ".*")), False)
                q.append(evaluate(fuser.fuse(ir, vi), ir, vi, metrics=["Qabf"])["Qabf"])
            res[mode] = float(np.mean(q))
        print(name, len(stems), {k: round(v, 4) for k, v in res.items()}, flush=True)
