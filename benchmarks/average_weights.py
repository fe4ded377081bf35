"""Average the weights of several model files of one configuration (a "model soup" of training rounds).

Each training round of the `lite` line ends a cosine schedule at a small learning rate, so the end points of
consecutive rounds of one recipe are the points that stochastic weight averaging with a cyclic schedule averages
(Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization", UAI 2018). This writes their
element-wise mean: every floating-point tensor averaged, integer buffers taken from the first file (they must agree).
The files must hold the same config (model architecture and options); the output keeps the first file's config and
metadata, the largest step, and records its sources under ``averaged_from``.

    python benchmarks/average_weights.py runs/lite65h/model.safetensors runs/lite67s/model.safetensors \\
        --out runs/soup65h67s/model.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def average_state(states: list[dict]) -> dict:
    """The element-wise mean of state dicts with the same keys and shapes; integer tensors must be equal."""
    import torch

    keys = states[0].keys()
    for i, s in enumerate(states[1:], 1):
        if s.keys() != keys:
            raise ValueError(f"model {i} has other tensors than model 0: {sorted(set(s) ^ set(keys))[:5]}")
    out = {}
    for k in keys:
        ts = [s[k] for s in states]
        if any(t.shape != ts[0].shape for t in ts):
            raise ValueError(f"{k}: shapes differ {[tuple(t.shape) for t in ts]}")
        if ts[0].is_floating_point():
            out[k] = torch.stack([t.double() for t in ts]).mean(0).to(ts[0].dtype)
        else:
            if not all(torch.equal(t, ts[0]) for t in ts):
                raise ValueError(f"{k}: integer tensor differs between the models; they cannot be averaged")
            out[k] = ts[0].clone()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="two or more model files of the same config")
    ap.add_argument("--out", type=Path, required=True, help="where to write the mean (.safetensors, a new file)")
    args = ap.parse_args(argv)
    if len(args.models) < 2:
        raise SystemExit("give two or more model files to average")
    if args.out.resolve() in {m.resolve() for m in args.models}:
        raise SystemExit("--out must be a new file, not one of the inputs")

    from dspfusion.checkpoint import extra_metadata, load_model, save_model

    loaded = [load_model(m) for m in args.models]
    first = loaded[0][0].config.to_dict()
    for m, (mdl, _) in zip(args.models[1:], loaded[1:]):
        c = mdl.config.to_dict()
        if c != first:
            diff = sorted(k for k in set(c) | set(first) if c.get(k) != first.get(k))
            raise SystemExit(f"{m}: its config differs from {args.models[0]}'s in {diff}; only one config can be averaged")
    model = loaded[0][0]
    try:
        model.load_state_dict(average_state([mdl.state_dict() for mdl, _ in loaded]))
    except ValueError as e:
        raise SystemExit(f"cannot average {', '.join(map(str, args.models))}: {e}") from None
    extra = extra_metadata(args.models[0])
    steps = [info["step"] for _, info in loaded]
    extra["averaged_from"] = ", ".join(f"{m} (step {s})" for m, s in zip(args.models, steps))
    save_model(model, args.out, step=max((s for s in steps if s is not None), default=None), extra=extra)
    print(f"wrote {args.out}: the mean of {len(args.models)} models ({extra['averaged_from']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
