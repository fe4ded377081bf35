"""Paired IR/VI training datasets with degradation labels and the DSPFusion contrastive set.

* :class:`SyntheticPairDataset`: clean ``ir/`` + ``vi/`` folders (default: every such folder under
  ``../shared/data/train``), degraded on the fly with :mod:`dspfusion.degradations` — clean, VI only, IR only or
  both, in configurable proportions. Replaces the paper's EMS training set, which is not available here.
* :class:`OfficialLayoutDataset`: the official layout of real degraded inputs and restored targets
  (``IR/<scene>_<TYPE>``, ``IR_enhanced/<scene>``, …; e.g. ``dspf_hybrid_sample``), read as the official loader
  does (DSPFUSION.md §1.1): one item per VI file, the IR type drawn per fetch among the scene's.

Sample keys: ``lq_ir, lq_vi, gt_ir, gt_vi`` float32 [3,H,W] in [0,1] (IR grey replicated, VI RGB), ``label_ir``,
``label_vi`` int64 indices into IR_LABELS / VI_LABELS, with ``contrastive=True`` also ``pos_ir, pos_vi``
[3,3,H,W] and ``neg`` [6,3,H,W] (see :mod:`.contrastive`), and ``name``.

Randomness: training mode draws from numpy Generators seeded by (seed, torch.initial_seed(), index, call count),
so it follows torch's per-worker, per-epoch seeding (reproducible under torch.manual_seed). ``deterministic=True``
(validation) makes a sample a pure function of (seed, index): centre crop, no dihedral transform.
Deviations from the official loader: synthetic data crops first and degrades the crop (haze keeps the geometry of
the full frame); small images are reflect-padded to the crop; LL is only synthesised on images whose mean luma is
at least ``ll_min_luma`` (darkening a night scene would leave a near-black input with a dark target).
"""
from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..degradations import IR_LABELS, IR_TYPES, VI_LABELS, VI_TYPES, degrade, vi_haze
from ..degradations.ranges import VI_RANGES
from .augment import Box, center_box, crop, dihedral, random_box, to_tensor, to_tensor_stack
from .contrastive import N_POSITIVES, ORDERS, negative_types, positive_choices
from .folders import OfficialScene, Pair, official_roots, scan_official, scan_pairs
from .images import ImageCache

GROUPS = ("clean", "vi", "ir", "both")


def _luma(vi: np.ndarray) -> float:
    return float(cv2.cvtColor(vi, cv2.COLOR_RGB2GRAY).mean() / 255.0)


class _PairDataset(Dataset):
    """Crop, dihedral, seeding, caching and packing shared by both datasets."""

    def __init__(self, n_items: int, crop: int | None, contrastive: bool, seed: int, deterministic: bool,
                 max_items: int | None, dihedral: bool, negatives: str, max_side: int | None, cache_mb: float) -> None:
        if crop is not None and crop < 8:
            raise ValueError(f"crop must be >= 8 pixels or None, got {crop}")
        if crop is None and contrastive:
            raise ValueError("crop=None (whole images) needs contrastive=False: positives come in other sizes")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if negatives not in ORDERS:
            raise ValueError(f"negatives must be 'official' or 'shuffled', got {negatives!r}")
        self.crop, self.contrastive, self.seed = crop, contrastive, int(seed)
        self.deterministic, self.use_dihedral, self.negatives = deterministic, dihedral, negatives
        self.cache = ImageCache(max_side=max_side, budget_mb=cache_mb)
        self.index = self._subset(n_items, max_items)
        self._calls = 0
        self._warned: set[str] = set()

    @staticmethod
    def _subset(n: int, max_items: int | None) -> list[int]:
        """All items, or ``max_items`` of them evenly spaced (a fixed validation subset)."""
        if max_items is None or max_items >= n:
            return list(range(n))
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        return sorted(set(np.linspace(0, n - 1, max_items).round().astype(int).tolist()))

    def __len__(self) -> int:
        return len(self.index)

    _forced_rng: np.random.Generator | None = None

    def sample(self, i: int, rng: np.random.Generator) -> dict:
        """Item ``i`` drawn with the given generator (the trainer makes it a function of seed, epoch and index,
        so that a resumed run draws exactly the samples an uninterrupted one would)."""
        self._forced_rng = rng
        try:
            return self[i]
        finally:
            self._forced_rng = None

    def _rng(self, i: int) -> np.random.Generator:
        # No cv2.setNumThreads in forked workers: when the parent's OpenCV pool was busy (e.g. after preload),
        # reconfiguring the inherited pool blocks forever in pthread_cond_destroy (seen on this machine).
        if self._forced_rng is not None:
            return self._forced_rng
        if self.deterministic:
            return np.random.default_rng([self.seed, i])
        self._calls += 1
        return np.random.default_rng([self.seed, torch.initial_seed(), i, self._calls])

    def _box(self, shape: tuple[int, ...], rng: np.random.Generator, anchor: bool) -> Box:
        if self.crop is None:
            return 0, 0
        if anchor and self.deterministic:
            return center_box(shape, self.crop)
        return random_box(shape, self.crop, rng)

    def _frame(self, shape: tuple[int, ...]) -> tuple[int, int]:
        size = self.crop or 0
        return max(shape[0], size), max(shape[1], size)

    def _match(self, img: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
        if img.shape[:2] == shape[:2]:
            return img
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(f"{what}: size {img.shape[:2]} differs from its pair {shape[:2]}; resized", stacklevel=3)
        return cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)

    def _pack(self, name: str, lq_ir, lq_vi, gt_ir, gt_vi, label_ir: int, label_vi: int,
              pos_ir=None, pos_vi=None, neg=None, mode: int = 0) -> dict:
        def f(im: np.ndarray) -> np.ndarray:
            return dihedral(im, mode) if mode else im

        out = {
            "lq_ir": to_tensor(f(lq_ir)), "lq_vi": to_tensor(f(lq_vi)),
            "gt_ir": to_tensor(f(gt_ir)), "gt_vi": to_tensor(f(gt_vi)),
            "label_ir": torch.tensor(label_ir, dtype=torch.int64),
            "label_vi": torch.tensor(label_vi, dtype=torch.int64),
        }
        if self.contrastive:
            out["pos_ir"] = to_tensor_stack([f(p) for p in pos_ir])
            out["pos_vi"] = to_tensor_stack([f(p) for p in pos_vi])
            out["neg"] = to_tensor_stack([f(n) for n in neg])
        out["name"] = name
        return out

    def _mode(self, rng: np.random.Generator) -> int:
        return int(rng.integers(8)) if self.use_dihedral and not self.deterministic and self.crop else 0


def check_type_weights(weights: Mapping[str, float] | None) -> dict[str, float] | None:
    """Validate a ``type_weights`` mapping (see :class:`SyntheticPairDataset`); returns a plain dict or None."""
    if weights is None:
        return None
    valid = [f"vi_{t}" for t in VI_TYPES] + [f"ir_{t}" for t in IR_TYPES]
    if not isinstance(weights, Mapping):
        raise ValueError(f"type_weights: expected a mapping of {' / '.join(valid)}: number >= 0, got {weights!r}")
    out: dict[str, float] = {}
    for k, v in weights.items():
        if k not in valid:
            raise ValueError(f"type_weights: unknown type {k!r}; choose among {', '.join(valid)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
            raise ValueError(f"type_weights[{k!r}]: expected a number >= 0, got {v!r}")
        out[k] = float(v)
    for modality, types in (("vi", VI_TYPES), ("ir", IR_TYPES)):
        if all(out.get(f"{modality}_{t}", 1.0) == 0 for t in types):
            raise ValueError(f"type_weights: every {modality.upper()} type weighted 0; keep at least one above 0")
    return out


def check_grey_vi(grey_vi: float, grey_vi_except: Sequence[str] = (), grey_vi_min_luma: float = 0.0
                  ) -> tuple[float, tuple[str, ...], float]:
    """Validate the grey-VI options (see :class:`SyntheticPairDataset`); returns them normalised."""
    for name, value, what in (("grey_vi", grey_vi, "a probability"), ("grey_vi_min_luma", grey_vi_min_luma,
                                                                        "a mean luma")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected {what} in [0, 1], got {value!r}")
    if not isinstance(grey_vi_except, (list, tuple)) or set(grey_vi_except) - set(VI_TYPES):
        raise ValueError(f"grey_vi_except: expected a list of VI types among {', '.join(VI_TYPES)}, "
                         f"got {grey_vi_except!r}")
    return float(grey_vi), tuple(grey_vi_except), float(grey_vi_min_luma)


def check_sensor_noise(p: float, sigma: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """Validate the sensor-noise options (see :class:`SyntheticPairDataset`); returns them normalised."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"sensor_noise: expected a probability in [0, 1], got {p!r}")
    try:
        lo, hi = (float(v) for v in sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sensor_noise_sigma: expected (low, high) grey levels, got {sigma!r}") from None
    if not 0.0 <= lo <= hi <= 64.0:
        raise ValueError(f"sensor_noise_sigma: expected 0 <= low <= high <= 64 grey levels, got {sigma!r}")
    return float(p), (lo, hi)


class SyntheticPairDataset(_PairDataset):
    """Clean IR/VI pairs degraded on the fly.

    Args:
        roots: folders with ir/+vi/ (or bases of such folders); None = every pair folder under
            ``../shared/data/train`` (override with $DSPFUSION_TRAIN_DATA).
        crop: square crop size (default 128); None = whole images (needs contrastive=False).
        proportions: weights of the four groups "clean", "vi" (VI degraded only), "ir", "both"; normalised.
        contrastive: add pos_ir, pos_vi, neg (Stage I); False for Stage II and validation.
        seed: base seed (see the module docstring).
        deterministic: validation mode: centre crop, no dihedral, degradations a function of (seed, index).
        max_items: keep only this many pairs, evenly spaced over the sorted list (a fixed subset).
        dihedral: apply one random dihedral transform per sample (training mode only).
        vi_types / ir_types: the degradation types to draw from (uniformly).
        ll_min_luma: LL is drawn only for images whose VI mean luma (0-1) reaches this.
        negatives: "official" candidate order or "shuffled" VI candidates (see :mod:`.contrastive`).
        max_side: downscale images whose longest side exceeds this, once, when loading.
        cache_mb: per-process budget of decoded images kept in RAM.
        preload: decode every image now (before DataLoader workers fork, so they share the memory).
        root_repeat: pair-folder name → integer repeat factor; each pair of that folder appears that many times in
            one epoch, so it is drawn that much more often (e.g. to draw the few sharp, full-resolution pairs more
            often than the 1,083 small MSRS ones). Unnamed folders count once; a name that matches no folder of
            ``roots`` is an error.
        type_weights: ``"vi_<type>"`` / ``"ir_<type>"`` → relative weight of that type when its modality is degraded
            (ours), e.g. ``{"vi_Blur": 2, "vi_LL": 0.5}``; types not named weigh 1; None = uniform, as before (and
            the same random draws). The group proportions are not changed, only the type within a group.
        grey_vi: probability that a sample's visible image is made grey (its luma in all three channels, as the
            inference wrapper feeds a grey VI) before it is degraded (ours): the training sets are colour, while
            TNO and many surveillance and NIR cameras give grey visible images. 0 = never (and the same random
            draws as before).
        grey_vi_except: VI degradation types (of ``VI_TYPES``) whose samples keep their colour even when drawn grey
            (ours), e.g. ``("LL",)``: a dark grey image is then always a real night scene, not a darkened day one.
        grey_vi_min_luma: only scenes whose VI mean luma (0-1) reaches this are drawn grey (ours), e.g. 0.2 (the
            low-light threshold): real night scenes then stay colour. 0 = every scene.
        sensor_noise: probability, per modality and sample, that the clean crop gets Gaussian sensor noise before it
            is degraded (ours): the clean target is then that noisy frame, as a noisier camera would give it. The
            training cameras are quieter than TNO's (noise sigma 0.3 against 1.9 grey levels), so without it a
            noisy clean frame reads as low light, whose synthesis adds noise. 0 = never (and the same random draws
            as before).
        sensor_noise_sigma: (low, high) of the noise's standard deviation in grey levels (0-255), drawn uniformly;
            one value for the whole crop, the same noise in the three channels of a grey VI.
        exclude: pair names (``"<folder>/<stem>"``, as in :attr:`pairs`) to leave out, e.g. the validation pairs of a
            folder that is also trained on; a name that matches no pair is an error.
    """

    def __init__(self, roots: Sequence[str | Path] | None = None, crop: int | None = 128,
                 proportions: Mapping[str, float] = {"clean": 0.1, "vi": 0.35, "ir": 0.25, "both": 0.3},  # noqa: B006
                 contrastive: bool = True, seed: int = 0, *, deterministic: bool = False,
                 max_items: int | None = None, dihedral: bool = True, vi_types: Sequence[str] = VI_TYPES,
                 ir_types: Sequence[str] = IR_TYPES, ll_min_luma: float = 0.2, negatives: str = "official",
                 max_side: int | None = None, cache_mb: float = 2048.0, preload: bool = False,
                 root_repeat: Mapping[str, int] | None = None,
                 type_weights: Mapping[str, float] | None = None, grey_vi: float = 0.0,
                 grey_vi_except: Sequence[str] = (), grey_vi_min_luma: float = 0.0,
                 sensor_noise: float = 0.0, sensor_noise_sigma: tuple[float, float] = (0.5, 3.0),
                 exclude: Collection[str] = ()) -> None:
        self.pairs: list[Pair] = scan_pairs(None if roots is None else list(roots))
        super().__init__(len(self.pairs), crop, contrastive, seed, deterministic, max_items, dihedral, negatives,
                         max_side, cache_mb)
        if exclude:
            self.index = self._exclude(set(exclude))
        if root_repeat:
            self.index = self._repeat(root_repeat)
        bad = set(proportions) - set(GROUPS)
        weights = np.array([float(proportions.get(g, 0.0)) for g in GROUPS])
        if bad or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"proportions: non-negative weights over {GROUPS} with a positive sum, got {proportions}")
        self.proportions = dict(zip(GROUPS, (weights / weights.sum()).tolist()))
        self._p = weights / weights.sum()
        for name, given, valid in (("vi_types", vi_types, VI_TYPES), ("ir_types", ir_types, IR_TYPES)):
            if not given or set(given) - set(valid):
                raise ValueError(f"{name} must be a non-empty subset of {valid}, got {list(given)}")
        self.vi_types, self.ir_types = tuple(vi_types), tuple(ir_types)
        self.type_weights = check_type_weights(type_weights)
        self.grey_vi, self.grey_vi_except, self.grey_vi_min_luma = check_grey_vi(grey_vi, grey_vi_except,
                                                                                 grey_vi_min_luma)
        self.sensor_noise, self.sensor_noise_sigma = check_sensor_noise(sensor_noise, sensor_noise_sigma)
        self.ll_min_luma = float(ll_min_luma)
        self._luma: dict[int, float] = {}
        if preload:
            self.preload()

    def _exclude(self, names: set[str]) -> list[int]:
        known = {p.name for p in self.pairs}
        unknown = sorted(names - known)
        if unknown:
            raise ValueError(f"exclude names {len(unknown)} pair(s) not among these folders' pairs, e.g. {unknown[0]!r}")
        kept = [j for j in self.index if self.pairs[j].name not in names]
        if not kept:
            raise ValueError("exclude leaves no pairs to draw from")
        return kept

    def _repeat(self, root_repeat: Mapping[str, int]) -> list[int]:
        folders = {p.name.split("/", 1)[0] for p in self.pairs}
        unknown = sorted(set(root_repeat) - folders)
        if unknown:
            raise ValueError(f"root_repeat names {unknown}, which are not among the training folders {sorted(folders)}")
        for name, k in root_repeat.items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"root_repeat[{name!r}] must be an integer >= 1, got {k!r}")
        return [j for j in self.index for _ in range(root_repeat.get(self.pairs[j].name.split("/", 1)[0], 1))]

    def preload(self, progress: bool = False) -> None:
        """Decode every pair into the cache (and measure its luma)."""
        from tqdm import tqdm

        for j in tqdm(range(len(self.pairs)), desc="decoding", disable=not progress):
            self._load(j)

    def _load(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        pair = self.pairs[j]
        ir = self.cache.get(pair.ir, grey=True)
        vi = self._match(self.cache.get(pair.vi, grey=False), ir.shape, str(pair.vi))
        if j not in self._luma:
            self._luma[j] = _luma(vi)
        return ir, vi

    def _eligible_vi(self, j: int) -> tuple[str, ...]:
        if self._luma[j] >= self.ll_min_luma:
            return self.vi_types
        return tuple(t for t in self.vi_types if t != "LL") or self.vi_types

    def _condition(self, j: int, rng: np.random.Generator) -> tuple[str, str]:
        group = GROUPS[int(rng.choice(len(GROUPS), p=self._p))]
        vi_types = self._eligible_vi(j)
        vi_type = self._draw("vi", vi_types, rng) if group in ("vi", "both") else "clean"
        ir_type = self._draw("ir", self.ir_types, rng) if group in ("ir", "both") else "clean"
        return vi_type, ir_type

    def _draw(self, modality: str, types: tuple[str, ...], rng: np.random.Generator) -> str:
        if self.type_weights is None:  # uniform: the draws of every earlier run
            return types[int(rng.integers(len(types)))]
        w = np.array([self.type_weights.get(f"{modality}_{t}", 1.0) for t in types], dtype=np.float64)
        if w.sum() <= 0:  # every eligible type weighted 0 (e.g. only LL left and LL off): fall back to uniform
            w = np.ones_like(w)
        return types[int(rng.choice(len(types), p=w / w.sum()))]

    def _sensor_noise(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 HxW or HxWx3 → the same with Gaussian noise, with probability ``sensor_noise`` (else unchanged)."""
        if rng.random() >= self.sensor_noise:
            return img
        sigma = rng.uniform(*self.sensor_noise_sigma)
        grey = img.ndim == 2 or (np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))
        noise = rng.standard_normal(img.shape[:2] if grey else img.shape).astype(np.float32) * sigma
        if grey and img.ndim == 3:
            noise = noise[..., None]
        return np.clip(np.rint(img.astype(np.float32) + noise), 0, 255).astype(np.uint8)

    def _degrade(self, modality: str, kind: str, img: np.ndarray, rng: np.random.Generator,
                 frame: tuple[int, int], box: Box) -> np.ndarray:
        if kind == "clean":
            return img
        if kind == "haze":  # the haze centre lives in the full frame; express it in crop coordinates
            r = VI_RANGES["haze"]
            cy = float(rng.uniform(*r["center_y"])) * frame[0] - box[0]
            cx = float(rng.uniform(*r["center_x"])) * frame[1] - box[1]
            return vi_haze(img, rng, center=(cy, cx), ref_size=max(frame))[0]
        return degrade(img, modality, kind, rng)[0]

    def _positives(self, j: int, modality: str, kind: str, rng: np.random.Generator) -> list[np.ndarray]:
        out = []
        n = len(self.pairs)
        for _ in range(N_POSITIVES):
            k = j
            for _attempt in range(10):  # another scene, one where LL may be synthesised if the type is LL
                k = int(rng.integers(n)) if n > 1 else j
                if k == j and n > 1:
                    continue
                self._load(k)
                if kind != "LL" or "LL" in self._eligible_vi(k):
                    break
            img = self._load(k)[0 if modality == "ir" else 1]
            box = self._box(img.shape, rng, anchor=False)
            out.append(self._degrade(modality, kind, crop(img, box, self.crop), rng, self._frame(img.shape), box))
        return out

    def __getitem__(self, i: int) -> dict:
        j = self.index[i]
        rng = self._rng(j)
        ir, vi = self._load(j)
        box = self._box(ir.shape, rng, anchor=True)
        frame = self._frame(ir.shape)
        gt_ir, gt_vi = crop(ir, box, self.crop), crop(vi, box, self.crop)
        grey = self.grey_vi > 0 and rng.random() < self.grey_vi  # no draw at 0: earlier runs' samples unchanged
        vi_type, ir_type = self._condition(j, rng)
        if grey and vi_type not in self.grey_vi_except and self._luma[j] >= self.grey_vi_min_luma:
            gt_vi = np.repeat(cv2.cvtColor(gt_vi, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
        if self.sensor_noise > 0:  # no draw at 0: earlier runs' samples unchanged
            gt_ir, gt_vi = self._sensor_noise(gt_ir, rng), self._sensor_noise(gt_vi, rng)
        lq_vi = self._degrade("vi", vi_type, gt_vi, rng, frame, box)
        lq_ir = self._degrade("ir", ir_type, gt_ir, rng, frame, box)
        pos_ir = pos_vi = neg = None
        if self.contrastive:
            pos_ir = self._positives(j, "ir", ir_type, rng)
            pos_vi = self._positives(j, "vi", vi_type, rng)
            avail_ir = ("clean",) + self.ir_types
            avail_vi = ("clean",) + self._eligible_vi(j)
            neg = [self._degrade(m, t, gt_ir if m == "ir" else gt_vi, rng, frame, box)
                   for m, t in negative_types(ir_type, vi_type, avail_ir, avail_vi, self.negatives, rng)]
        return self._pack(self.pairs[j].name, lq_ir, lq_vi, gt_ir, gt_vi, IR_LABELS.index(ir_type),
                          VI_LABELS.index(vi_type), pos_ir, pos_vi, neg, self._mode(rng))


class OfficialLayoutDataset(_PairDataset):
    """The official DSPFusion layout with real degraded inputs and restored targets.

    Args:
        root: folder with IR/, VI/, IR_enhanced/, VI_enhanced/ (or its parent, with ``split``).
        split: sub-folder of ``root`` to read ("train", "val").
        Other arguments as in :class:`SyntheticPairDataset`. One item per VI input file (``Norm`` included);
        the IR input type is drawn per fetch among those the scene has (a function of the index when
        deterministic).
    """

    def __init__(self, root: str | Path, crop: int | None = 128, contrastive: bool = True, seed: int = 0, *,
                 split: str | None = None, deterministic: bool = False, max_items: int | None = None,
                 dihedral: bool = True, negatives: str = "official", max_side: int | None = None,
                 cache_mb: float = 2048.0) -> None:
        self.root = official_roots(root, split)
        self.scenes: list[OfficialScene] = scan_official(self.root)
        self.items = [(s, t) for s, scene in enumerate(self.scenes) for t in VI_LABELS if t in scene.vi]
        self.by_type: dict[tuple[str, str], list[int]] = {}
        for s, scene in enumerate(self.scenes):
            for modality in ("ir", "vi"):
                for t in getattr(scene, modality):
                    self.by_type.setdefault((modality, t), []).append(s)
        super().__init__(len(self.items), crop, contrastive, seed, deterministic, max_items, dihedral, negatives,
                         max_side, cache_mb)

    def _get(self, path: Path, grey: bool, shape: tuple[int, ...]) -> np.ndarray:
        return self._match(self.cache.get(path, grey), shape, str(path))

    def __getitem__(self, i: int) -> dict:
        s, vi_type = self.items[self.index[i]]
        scene = self.scenes[s]
        rng = self._rng(self.index[i])
        ir_types = [t for t in IR_LABELS if t in scene.ir]
        ir_type = ir_types[int(rng.integers(len(ir_types)))]
        gt_ir = self.cache.get(scene.gt_ir, grey=True)
        gt_vi = self._get(scene.gt_vi, False, gt_ir.shape)
        box = self._box(gt_ir.shape, rng, anchor=True)

        def window(path: Path, grey: bool) -> np.ndarray:
            return crop(self._get(path, grey, gt_ir.shape), box, self.crop)

        lq_ir, lq_vi = window(scene.ir[ir_type], True), window(scene.vi[vi_type], False)
        pos_ir = pos_vi = neg = None
        if self.contrastive:
            pos_ir, pos_vi = [], []
            for modality, kind, out in (("ir", ir_type, pos_ir), ("vi", vi_type, pos_vi)):
                for k in positive_choices(self.by_type[(modality, kind)], s, rng):
                    img = self.cache.get(getattr(self.scenes[k], modality)[kind], grey=modality == "ir")
                    out.append(crop(img, self._box(img.shape, rng, anchor=False), self.crop))
            neg = [window(getattr(scene, m)[t], m == "ir")
                   for m, t in negative_types(ir_type, vi_type, scene.ir, scene.vi, self.negatives, rng)]
        return self._pack(scene.name, lq_ir, lq_vi, crop(gt_ir, box, self.crop), crop(gt_vi, box, self.crop),
                          IR_LABELS.index(ir_type), VI_LABELS.index(vi_type), pos_ir, pos_vi, neg, self._mode(rng))
