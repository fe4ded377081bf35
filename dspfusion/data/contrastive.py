"""Which images make the contrastive set of a sample (DSPFUSION.md §1.4, §4.2; official loader behaviour).

* Positives: 3 per modality, the anchor's degradation type and modality from *other* scenes, each at its own
  random crop. The anchor's own scene is never used unless it is the only one with that type.
* Negatives: the anchor's scene and crop, in the official candidate order IR[LC, Norm, RN, SN] then
  VI[Norm, RN, Rain, Blur, OE, LL, haze], dropping the two anchors' own types and unavailable types, keeping the
  first 6 (repeated cyclically if fewer). They are shared by the IR and VI anchors; the loss adds the other
  modality's anchor as the 7th negative. So in practice: the 3 other IR types + the first 3 other VI types.
  ``order="shuffled"`` (our option, not official) keeps the IR candidates first but shuffles the VI ones, so that
  OE, LL and haze also appear as negatives when every type is available (synthetic data).
"""
from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

N_POSITIVES = 3
N_NEGATIVES = 6
ORDERS = ("official", "shuffled")  # how the negatives' VI candidates are ordered
NEGATIVE_ORDER: tuple[tuple[str, str], ...] = (
    ("ir", "LC"), ("ir", "clean"), ("ir", "RN"), ("ir", "SN"),
    ("vi", "clean"), ("vi", "RN"), ("vi", "Rain"), ("vi", "Blur"), ("vi", "OE"), ("vi", "LL"), ("vi", "haze"),
)


def negative_types(
    ir_type: str,
    vi_type: str,
    ir_available: Collection[str],
    vi_available: Collection[str],
    order: str = "official",
    rng: np.random.Generator | None = None,
    k: int = N_NEGATIVES,
) -> list[tuple[str, str]]:
    """The (modality, type) of the ``k`` shared negatives of an anchor pair with types ``ir_type``/``vi_type``."""
    if order not in ORDERS:
        raise ValueError(f"order must be 'official' or 'shuffled', got {order!r}")
    avail = {"ir": ir_available, "vi": vi_available}
    own = {("ir", ir_type), ("vi", vi_type)}
    ir_c = [c for c in NEGATIVE_ORDER if c[0] == "ir" and c not in own and c[1] in avail["ir"]]
    vi_c = [c for c in NEGATIVE_ORDER if c[0] == "vi" and c not in own and c[1] in avail["vi"]]
    if order == "shuffled":
        if rng is None:
            raise ValueError("order='shuffled' needs an rng")
        vi_c = [vi_c[i] for i in rng.permutation(len(vi_c))]
    cands = ir_c + vi_c
    if not cands:
        raise ValueError(f"no negative candidates for IR {ir_type!r} / VI {vi_type!r}")
    return [cands[i % len(cands)] for i in range(k)]


def positive_choices(
    candidates: Sequence[int], own: int, rng: np.random.Generator, k: int = N_POSITIVES
) -> list[int]:
    """``k`` items of ``candidates`` other than ``own`` (without replacement when there are enough)."""
    others = [c for c in candidates if c != own]
    if not others:
        return [own] * k
    if len(others) >= k:
        return [others[i] for i in rng.choice(len(others), size=k, replace=False)]
    return [others[i] for i in rng.integers(0, len(others), size=k)]
