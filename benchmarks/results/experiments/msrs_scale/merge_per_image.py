"""Join the check's per_image.csv with the +enh baselines' rows of the full degraded benchmark (same seeded inputs),
so that paired_differences.py can set the msrs_scale runs against the best +enh baseline too:

    python benchmarks/results/experiments/msrs_scale/merge_per_image.py runs/benchmarks/msrs_scale/per_image.csv \
        runs/benchmarks/degraded/per_image.csv runs/benchmarks/msrs_scale/per_image_with_enh.csv
"""
import sys

import pandas as pd

check, degraded, out = sys.argv[1:4]
a = pd.read_csv(check)
b = pd.read_csv(degraded)
b = b[b.method.str.endswith("+enh")][[c for c in a.columns if c in b.columns]]
pd.concat([a, b], ignore_index=True).to_csv(out, index=False)
print(f"{out}: {len(a)} rows of the check + {len(b)} +enh rows")
