"""Regenerate the degradation golden snapshots ON PURPOSE (after an intended change of a degradation).

    .venv/bin/python tests/goldens/degradations/_generate.py

Each case is ``<case>__seed<k>__32x32.npz`` holding the uint8 output (from the uint8 input), the float32 output
(from the same input as float32/255) and the parameters as JSON; the inputs are procedural (:func:`golden_inputs`).
tests/test_degradations.py::test_golden re-runs every case and compares. A failure there means the behaviour of a
degradation changed (or numpy's random streams / OpenCV's kernels did): inspect it, then regenerate here.
Pattern after kornia's tests/augmentation/goldens.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from dspfusion.degradations import IR_TYPES, MIXED, VI_TYPES, apply_condition, degrade  # noqa: E402

SIZE = 32
SEED = 7


def golden_inputs(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(IR uint8 HxW, VI uint8 HxWx3): smooth ramps, a sinusoid and a bright disc — full range, some texture."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    g = 255 * x / (size - 1)
    b = 255 * y / (size - 1)
    vi = np.stack([r, g, b], axis=-1)
    vi[(x - 20) ** 2 + (y - 12) ** 2 < 30] = 250
    vi = np.clip(vi, 0, 255).round().astype(np.uint8)
    ir = np.clip(255 - 0.5 * g - 0.4 * b + 40 * np.sin(y / 2.0), 0, 255).round().astype(np.uint8)
    return ir, vi


def cases() -> list[str]:
    return [f"vi_{t}" for t in VI_TYPES] + [f"ir_{t}" for t in IR_TYPES] + list(MIXED)


def run_case(case: str, as_float: bool) -> tuple[np.ndarray, dict]:
    """The output of ``case`` on the golden inputs: one image (single modality) or IR|VI stacked for a mixed one."""
    ir, vi = golden_inputs()
    if as_float:
        ir, vi = ir.astype(np.float32) / 255, vi.astype(np.float32) / 255
    rng = np.random.default_rng(SEED)
    if case in MIXED:
        ir_d, vi_d, params = apply_condition(ir, vi, case, rng)
        return np.concatenate([np.repeat(ir_d[:, :, None], 3, axis=2), vi_d], axis=1), params
    modality, _, kind = case.partition("_")
    return degrade(vi if modality == "vi" else ir, modality, kind, rng)


def path(case: str) -> Path:
    return HERE / f"{case}__seed{SEED}__{SIZE}x{SIZE}.npz"


def main() -> None:
    for case in cases():
        out_u8, params = run_case(case, as_float=False)
        out_f, _ = run_case(case, as_float=True)
        np.savez_compressed(path(case), uint8=out_u8, float32=out_f.astype(np.float32), params=json.dumps(params))
        print("wrote", path(case).name)


if __name__ == "__main__":
    main()
