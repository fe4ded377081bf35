"""``dspfusion serve``: a local web app (Gradio) to upload or pick a pair, degrade it and see the fusion."""
from __future__ import annotations

import argparse

from ._common import add_model_args, warn_if_untrained


def register(sub) -> argparse.ArgumentParser:
    from ..serve import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB

    p = sub.add_parser("serve", help="local web app: upload IR/VI, degrade, fuse, see detected degradations",
                       description="Serve a local web app (needs Gradio: pip install 'dspfusion[serve]'). Upload an "
                                   "IR/VI pair or use the built-in example, optionally apply a synthetic degradation, "
                                   "and see the fused image, the detected degradations and the time taken.")
    s = p.add_argument_group("server")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    s.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    s.add_argument("--share", action="store_true",
                   help="also open a public gradio.live link (off by default; needs internet)")
    lim = p.add_argument_group("limits")
    lim.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                     help=f"largest accepted file, in MB (default {DEFAULT_MAX_UPLOAD_MB:g})")
    lim.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                     help=f"largest accepted image, width x height in pixels (default {DEFAULT_MAX_PIXELS:,})")
    add_model_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .. import load
    from ..errors import UserError
    from ..serve import _import_gradio, launch

    if args.max_upload_mb <= 0 or args.max_pixels <= 0:
        raise UserError("--max-upload-mb and --max-pixels must be positive")
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: must be between 1 and 65535")
    _import_gradio()  # fail fast, before loading the model, when Gradio is missing
    fuser = load(args.checkpoint, device=args.device, steps=args.steps, seed=args.seed)
    warn_if_untrained(fuser.info)
    print(f"model: {fuser.info['source']} (step {fuser.info['step']}) on {fuser.device}")
    print("starting the web app (Ctrl-C to stop)")
    launch(fuser, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
           share=args.share, block=True)
    return 0
