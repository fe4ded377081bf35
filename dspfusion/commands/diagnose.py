"""``dspfusion diagnose``: which degradation does each input show? (DPEN type vectors + the trained probe)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._common import warn_if_untrained


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("diagnose", help="report the degradation detected in each input, with probabilities")
    p.add_argument("--ir", type=Path, required=True, help="infrared image")
    p.add_argument("--vi", type=Path, required=True, help="visible image")
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default=None, help="model (default: shipped lite)")
    p.add_argument("--device", default="auto")
    p.add_argument("--resize-ir-to-vi", action="store_true")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)
    return p


def diagnose(fuser, ir, vi, resize_ir_to_vi: bool = False) -> dict[str, dict[str, float]]:
    """→ {"ir": {label: prob}, "vi": {label: prob}} for one pair."""
    import torch

    from ..errors import UserError
    from ..inference import pad_to_multiple, prepare_pair

    model = fuser.model
    if model.probe is None or not model.config.use_priors:
        raise UserError(f"{fuser.info['source']}: this model has no degradation probe; use the shipped model or one trained with it")
    inp = prepare_pair(ir, vi, resize_ir_to_vi=resize_ir_to_vi)
    m = model.config.fusion.pad_multiple
    with torch.inference_mode():
        return model.diagnose(pad_to_multiple(inp.ir.to(fuser.device), m), pad_to_multiple(inp.vi.to(fuser.device), m))


def run(args: argparse.Namespace) -> int:
    from .. import load

    fuser = load(args.checkpoint, device=args.device)
    warn_if_untrained(fuser.info)
    res = diagnose(fuser, args.ir, args.vi, args.resize_ir_to_vi)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    for name, path in (("ir", args.ir), ("vi", args.vi)):
        probs = sorted(res[name].items(), key=lambda kv: -kv[1])
        top, p = probs[0]
        print(f"{name.upper()} {path}: {top} ({p:.0%})")
        print("    " + "  ".join(f"{k} {v:.2f}" for k, v in probs))
    # no figures here: they change with every refit of the probe (benchmarks/fit_probe.py measures them)
    print("note: read the diagnosis as a hint, not a verdict: on held-out synthetic degradations the shipped probe is "
          "wrong most often on mild over-exposure and on clean frames from unfamiliar cameras (per-class accuracy: "
          "benchmarks/results/probe.md in the dspfusion repository)", file=sys.stderr)
    return 0
