"""Argument groups shared by several subcommands."""
from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--checkpoint", "--model", dest="checkpoint", default=None, metavar="PATH|PRESET",
                   help="preset name, official release folder (net_g/dp/sp/dm.pth), .safetensors or training .pt "
                        "(default: the shipped 'lite' model)")
    g.add_argument("--steps", type=int, default=None, help="SPDM sampling steps (default: the model's, 10)")
    g.add_argument("--seed", type=int, default=0, help="seed of the SPDM starting noise (default 0)")
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")


def warn_if_untrained(info: dict) -> None:
    import sys

    if not info.get("trained", True):
        bar = "!" * 78
        print(f"{bar}\n  WARNING: {info['source']} has no trained weights: the output is NOT a real fusion.\n{bar}", file=sys.stderr)
