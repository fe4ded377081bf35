"""Put lite63's MSRS91 check (runs/bench_msrs63) beside the last ship's full degraded run (runs/benchmarks/degraded:
the shipped model, as lite61, and the +enh baselines) in one summary.csv for benchmarks/compare_methods.py. Same images,
seed, conditions and metric code; only the rows of the check's conditions are kept.

    python benchmarks/results/experiments/lite62/merge_msrs91.py
    python benchmarks/compare_methods.py runs/bench_msrs63/merged_summary.csv --candidate lite63 \\
        --against lite61 GFF+enh Laplacian+enh lite-noprior --metric Qabf VIF MI NIQE
"""
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[4]
check = pd.read_csv(REPO / "runs" / "bench_msrs63" / "summary.csv")
full = pd.read_csv(REPO / "runs" / "benchmarks" / "degraded" / "summary.csv")
full = full[(full.dataset == "MSRS91") & full.condition.isin(set(check.condition))]
full = full[full.method != "max"]  # the check has its own max rows (identical inputs)
full["method"] = full.method.replace({"DSPFusion-lite": "lite61"})
out = REPO / "runs" / "bench_msrs63" / "merged_summary.csv"
pd.concat([full, check[check.method == "lite63"], check[check.method == "max"]]).to_csv(out, index=False)
print(f"wrote {out}")
