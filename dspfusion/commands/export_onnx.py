"""``dspfusion export-onnx``: the whole pipeline (encoders, unrolled sampler, fusion network) → one ONNX file."""
from __future__ import annotations

import argparse
from pathlib import Path

VERIFY_TOL = 1e-4


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export-onnx",
        help="export the model to ONNX (dynamic height/width)",
        description="Export DSPFusion as one ONNX graph (ir, vi, noise) -> fused with dynamic height and width "
        "(multiples of the model's pad multiple; dspfusion.onnx_export.OnnxFuser pads and crops for you). "
        "The SPDM sampler is unrolled for a fixed number of steps. Needs: pip install 'dspfusion[onnx]'.",
    )
    g = p.add_argument_group("input / output")
    g.add_argument("--out", "-o", type=Path, required=True, help="output .onnx file")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    m = p.add_argument_group("model")
    m.add_argument("--checkpoint", "--model", dest="checkpoint", default=None, metavar="PATH|PRESET",
                   help="preset name, official release folder, .safetensors or training .pt (default: the shipped 'lite' model)")
    m.add_argument("--steps", type=int, default=None, help="SPDM sampling steps baked into the graph (default: the model's, 10)")
    o = p.add_argument_group("options")
    o.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    o.add_argument("--no-verify", action="store_true",
                   help="skip the check that onnxruntime reproduces PyTorch on a test pair (within 1e-4)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from ..checkpoint import load_model
    from ..errors import UserError
    from ..onnx_export import export_onnx
    from ._common import warn_if_untrained

    if args.out.suffix.lower() != ".onnx":
        raise UserError(f"{args.out}: the output should end in .onnx")
    if args.out.exists() and not args.overwrite:
        raise UserError(f"{args.out}: already exists; choose another --out or pass --overwrite")
    model, info = load_model(args.checkpoint, device="cpu")
    warn_if_untrained(info)
    model.eval()
    path = export_onnx(model, args.out, steps=args.steps, opset=args.opset, overwrite=args.overwrite,
                       source=str(info.get("source", "")))
    size_mb = path.stat().st_size / 2**20
    print(f"wrote {path} ({size_mb:.1f} MiB; H and W must be multiples of {model.config.fusion.pad_multiple})")
    if args.no_verify:
        return 0
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime is not installed: skipped the check against PyTorch (pip install 'dspfusion[onnx]')", file=sys.stderr)
        return 0
    diff = verify(model, path, steps=args.steps)
    ok = diff <= VERIFY_TOL
    print(f"onnxruntime vs PyTorch on a 45x70 test pair: max abs difference {diff:.2e} ({'ok' if ok else 'TOO LARGE'}, "
          f"tolerance {VERIFY_TOL:g})")
    return 0 if ok else 1


def verify(model, path: Path, steps: int | None = None, size: tuple[int, int] = (45, 70), seed: int = 0) -> float:
    """Max |onnxruntime − PyTorch| on a seeded random pair whose size is not a multiple of the pad multiple."""
    import torch

    from ..inference import Fuser
    from ..onnx_export import OnnxFuser

    g = torch.Generator().manual_seed(seed)
    ir = torch.rand(1, 1, *size, generator=g).expand(1, 3, *size)
    vi = torch.rand(1, 3, *size, generator=g)
    ref = Fuser(model, device="cpu", steps=steps).fuse_tensors(ir, vi, seed=seed)
    got = OnnxFuser(path).fuse_tensors(ir, vi, seed=seed)
    return float((ref - got).abs().max())
