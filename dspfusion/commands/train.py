"""``dspfusion train CONFIG.yaml``: two-stage training (single process, or DDP under torchrun)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model (Stage I then Stage II); resumes from OUT_DIR/last.pt",
                       description="Two-stage DSPFusion training. Distributed: "
                                   "torchrun --nproc_per_node N -m dspfusion train CONFIG.yaml")
    p.add_argument("config", type=Path, nargs="?", help="YAML of training options (see configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override an option (repeatable)")
    p.add_argument("--no-resume", action="store_true", help="ignore OUT_DIR/last.pt and start from scratch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..training.config import TrainConfig
    from ..training.trainer import Trainer

    cfg = TrainConfig.load(args.config, args.set)
    Trainer(cfg, resume=not args.no_resume, progress=not args.quiet).run()
    return 0
