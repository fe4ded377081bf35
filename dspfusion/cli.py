"""The ``dspfusion`` command: thin subcommands over the Python API.

Each subcommand lives in ``dspfusion/commands/<name>.py`` and exposes
``register(subparsers) -> argparse.ArgumentParser`` (which sets ``func``) and is
imported lazily, so ``dspfusion --help`` stays fast and an optional dependency of
one command never breaks another.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserError
from .version import __version__

# name of the module in dspfusion.commands, in the order --help lists them
COMMANDS: tuple[str, ...] = (
    "fuse",
    "demo",
    "info",
    "train",
    "diagnose",
    "metrics",
    "benchmark",
    "degrade",
    "export_onnx",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dspfusion",
        description="Infrared/visible image fusion robust to degradations (DSPFusion).",
    )
    parser.add_argument("--version", action="version", version=f"dspfusion {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"dspfusion.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except (UserError, FileNotFoundError, ValueError) as exc:  # clear message, no traceback
        print(f"dspfusion {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
