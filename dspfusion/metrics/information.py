"""Information-theoretic fusion metrics: EN (entropy) and MI (mutual information).

References
----------
* EN: Roberts, van Aardt & Ahmed, "Assessment of image fusion procedures using entropy, image quality, and
  multispectral classification", J. Appl. Remote Sens. 2008. Reference code: MATLAB ``entropy`` as called by
  L. Tang's Evaluation-for-Image-Fusion; CDDFuse ``Evaluator.EN``.
* MI: Qu, Yan & Yang, "Information measure for performance of image fusion", Electronics Letters 2002.
  Reference code: Tang's ``MI_evaluation.m`` + ``Hab.m`` (Qu Xiao-bo's code, bits); CDDFuse ``Evaluator.MI``
  (``sklearn.metrics.mutual_info_score``, nats).

Inputs are float arrays of integer grey levels 0-255 (see ``images.py``). Deviation: none in the defaults;
``merge_254_255`` reproduces a bug of the MATLAB reference on purpose (see :func:`mutual_information`).
"""
from __future__ import annotations

import math

import numpy as np


def _levels(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return a.ravel()


def _entropy_of_counts(counts: np.ndarray, log_base: float) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum() / math.log(log_base))


def entropy(fused: np.ndarray, *, log_base: float = 2.0) -> float:
    """EN: Shannon entropy of the 256-bin grey-level histogram of the fused image.

    Formula: EN = -Σ_l p_l log2 p_l over non-empty grey levels l = 0..255 (bits).
    Reference: MATLAB ``entropy`` on uint8 (Tang, T1/T2); CDDFuse ``Evaluator.EN`` (rounds to uint8 first).
    Scale: integer grey levels 0-255 (floats are rounded and clipped first). Typical IVIF values 6-7.5.
    Direction: higher is better (↑).
    """
    counts = np.bincount(_levels(fused), minlength=256)
    return _entropy_of_counts(counts, log_base)


def _joint_entropy(x: np.ndarray, y: np.ndarray, log_base: float, merge: bool) -> float:
    if merge:  # MATLAB Hab.m indexes with uint8(level)+1, which saturates: 254 and 255 share a bin
        x = np.minimum(x, 254)
        y = np.minimum(y, 254)
    joint = np.bincount(x.astype(np.int64) * 256 + y, minlength=256 * 256)
    return _entropy_of_counts(joint, log_base)


def mutual_information(fused: np.ndarray, ir: np.ndarray, vi: np.ndarray, *, log_base: float = 2.0,
                       merge_254_255: bool = True) -> float:
    """MI: mutual information between the fused image and each source, summed over the two sources.

    Formula: MI = MI(A,F) + MI(B,F), MI(X,F) = H(X) + H(F) - H(X,F) from the 256-bin marginal and
    256×256 joint histograms of integer grey levels.
    Reference: Tang's ``MI_evaluation.m``/``Hab.m`` (bits, log_base=2, and ``merge_254_255=True``: the joint
    histogram is indexed with saturating uint8 ``level+1``, merging grey levels 254 and 255, while the
    marginals come from ``entropy`` unmerged; this slightly raises MI where images reach 255). CDDFuse uses
    ``sklearn.metrics.mutual_info_score``: nats (``log_base=math.e``), no merge; multiply by 1/ln 2 for bits.
    Scale: integer grey levels 0-255. Typical IVIF values (bits): 1.5-4.7.
    Direction: higher is better (↑).
    """
    f = _levels(fused)
    h_f = _entropy_of_counts(np.bincount(f, minlength=256), log_base)
    total = 0.0
    for src in (ir, vi):
        s = _levels(src)
        if s.shape != f.shape:
            raise ValueError(f"MI: source has {s.size} pixels, fused image {f.size}")
        h_s = _entropy_of_counts(np.bincount(s, minlength=256), log_base)
        total += h_s + h_f - _joint_entropy(f, s, log_base, merge_254_255)
    return float(total)
