"""Copy sub-networks (e.g. the degradation probe) from one model file into another, writing a third.

Used when a run keeps DPEN frozen (``freeze_dpen``): its type vectors are then bitwise those of the model it started
from, so that model's refit probe (``benchmarks/fit_probe.py``) applies unchanged, while Stage I has retrained the
run's own probe on crops. Copying the refit probe back avoids a second refit and keeps the diagnosis identical.
The copy refuses to run unless every ``--require-equal`` part (default: ``degradation``) is bitwise equal in the two
models, and a part that does not fit is an error (``dspfusion.checkpoint.load_parts``). The output keeps the
target's config, step and metadata. With ``--require-equal`` given no parts, the source may also be a parts file
that ``benchmarks/dpen_capacity.py --save-dir`` wrote (DPEN + probe), e.g. to try a retrained DPEN in a model.

    python benchmarks/copy_parts.py --source dspfusion/weights/dspfusion-lite.safetensors \
        --target runs/lite8/model.safetensors --out runs/lite8/model-probe.safetensors --part probe
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="model file to copy the parts from")
    ap.add_argument("--target", type=Path, required=True, help="model file that receives them")
    ap.add_argument("--out", type=Path, required=True, help="where to write the result (.safetensors)")
    ap.add_argument("--part", nargs="+", default=["probe"], help="sub-networks to copy (default: probe)")
    ap.add_argument("--require-equal", nargs="*", default=["degradation"],
                    help="sub-networks that must be bitwise equal in source and target (default: degradation)")
    args = ap.parse_args(argv)
    if args.out.resolve() in (args.source.resolve(), args.target.resolve()):
        raise SystemExit("--out must be a new file, not --source or --target")

    import torch

    from dspfusion.checkpoint import extra_metadata, load_model, load_parts, save_model

    target, info = load_model(args.target)
    # with nothing to compare, the source may also be a parts file (benchmarks/dpen_capacity.py --save-dir)
    source = load_model(args.source)[0] if args.require_equal else None
    for name in args.require_equal:
        a, b = getattr(target, name).state_dict(), getattr(source, name).state_dict()
        if a.keys() != b.keys() or not all(torch.equal(a[k], b[k]) for k in a):
            raise SystemExit(f"{name} differs between {args.source} and {args.target}: copying {args.part} would not be valid")
    for part in args.part:
        load_parts(target, args.source, part, label="--source")
    extra = extra_metadata(args.target)
    extra["copied_parts"] = f"{' '.join(args.part)} from {args.source.name}"
    save_model(target, args.out, step=info["step"], extra=extra)
    print(f"wrote {args.out}: {args.target} with {', '.join(args.part)} from {args.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
