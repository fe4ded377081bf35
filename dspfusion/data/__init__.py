"""Training and validation data: paired IR/VI datasets with on-the-fly or real degradations.

    from dspfusion.data import SyntheticPairDataset, OfficialLayoutDataset

    ds = SyntheticPairDataset(crop=128, seed=0)   # clean pairs of ../shared/data/train, degraded on the fly
    val = SyntheticPairDataset(deterministic=True, max_items=64, contrastive=False)
    real = OfficialLayoutDataset("../shared/data/train/dspf_hybrid_sample", split="train")

A sample is a dict of torch tensors: lq_ir, lq_vi, gt_ir, gt_vi (float32 [3,H,W] in [0,1]), label_ir, label_vi
(int64 indices into IR_LABELS / VI_LABELS), and with contrastive=True pos_ir, pos_vi [3,3,H,W] and neg [6,3,H,W]
(DSPFUSION.md §1.4), plus name (str). The dataset classes are imported lazily (they need torch).
"""
from __future__ import annotations

from .folders import OfficialScene, Pair, default_train_root, find_pair_roots, scan_official, scan_pairs

__all__ = [
    "SyntheticPairDataset",
    "OfficialLayoutDataset",
    "Pair",
    "OfficialScene",
    "scan_pairs",
    "scan_official",
    "find_pair_roots",
    "default_train_root",
]


def __getattr__(name: str):
    if name in ("SyntheticPairDataset", "OfficialLayoutDataset"):
        from . import datasets

        return getattr(datasets, name)
    raise AttributeError(name)
