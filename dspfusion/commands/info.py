"""``dspfusion info``: presets, parameters and where weights come from."""
from __future__ import annotations

import argparse


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="list presets and describe a checkpoint")
    p.add_argument("--checkpoint", default=None, help="describe this checkpoint (preset, folder or file)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import warnings

    from .. import list_models
    from ..checkpoint import load_model
    from ..config import get_preset
    from ..models import build_model, count_parameters

    if args.checkpoint is None:
        print(f"{'preset':<15} {'params':>12}  weights")
        for name, entry in list_models().items():
            n = count_parameters(build_model(get_preset(name)))
            print(f"{name:<15} {n:>12,}  {entry['weights'] or '-'}\n{'':<15} {entry['description']}")
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = load_model(args.checkpoint)
    print(f"source:     {info['source']}\ntrained:    {info['trained']}\nstep:       {info['step']}\nversion:    {info['version']}")
    for part in ("semantic", "degradation", "diffusion", "fusion", "probe", "sem_gate"):
        if getattr(model, part, None) is not None:  # the probe and the two-scale gate are optional
            print(f"{part:<11} {count_parameters(getattr(model, part)):>12,}")
    print(f"{'total':<11} {count_parameters(model):>12,}")
    print(f"config:     {model.config}")
    return 0
