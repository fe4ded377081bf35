"""dspfusion.data: synthetic and official-layout datasets, contrastive sets, determinism, loaders."""
from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dspfusion.data import OfficialLayoutDataset, SyntheticPairDataset, scan_pairs
from dspfusion.data.augment import dihedral
from dspfusion.data.contrastive import negative_types, positive_choices
from dspfusion.degradations import IR_LABELS, IR_TYPES, VI_LABELS, VI_TYPES
from dspfusion.errors import UserError

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO.parent / "shared" / "data" / "train"
SAMPLE = TRAIN / "dspf_hybrid_sample"
BASE_KEYS = ["lq_ir", "lq_vi", "gt_ir", "gt_vi", "label_ir", "label_vi"]


def texture(seed: int, h: int = 40, w: int = 56, lo: int = 60, hi: int = 200) -> np.ndarray:
    noise = np.random.default_rng(seed).random((h, w)).astype(np.float32)
    t = cv2.GaussianBlur(noise, (0, 0), 2)
    t = (t - t.min()) / (t.max() - t.min())
    return (lo + (hi - lo) * t).round().astype(np.uint8)


@pytest.fixture
def pairs(tmp_path) -> Path:
    """6 pairs, 40x56; VI = IR replicated (so IR/VI alignment is visible); pairs 4 and 5 are dark (night)."""
    root = tmp_path / "set"
    (root / "ir").mkdir(parents=True)
    (root / "vi").mkdir()
    for k in range(6):
        ir = texture(k, lo=5, hi=40) if k >= 4 else texture(k)
        cv2.imwrite(str(root / "ir" / f"s{k}.png"), ir)
        vi = np.repeat(ir[:, :, None], 3, 2)
        if k == 0:  # a JPEG partner: pairs match by stem across extensions
            cv2.imwrite(str(root / "vi" / f"s{k}.jpg"), vi, [cv2.IMWRITE_JPEG_QUALITY, 100])
        else:
            cv2.imwrite(str(root / "vi" / f"s{k}.png"), vi)
    return root


@pytest.fixture(autouse=True)
def _torch_seed():
    """Training-mode draws follow torch's seed (random per process unless set): fix it for reproducible tests."""
    torch.manual_seed(0)


def found_in(patch: np.ndarray, img: np.ndarray) -> bool:
    res = cv2.matchTemplate(img.astype(np.float32), patch.astype(np.float32), cv2.TM_SQDIFF)
    return float(res.min()) < 4.0 * patch.size  # exact up to JPEG error (s0's VI); other scenes differ by ~40


def u8(t: torch.Tensor) -> np.ndarray:
    return (t[0] * 255).round().to(torch.uint8).numpy()


# ------------------------------------------------------------------------------------------------- synthetic
def test_sample_keys_shapes_and_ranges(pairs):
    ds = SyntheticPairDataset([pairs], crop=32, seed=1)
    assert len(ds) == 6
    s = ds[0]
    assert list(s) == BASE_KEYS + ["pos_ir", "pos_vi", "neg", "name"]
    for k in ("lq_ir", "lq_vi", "gt_ir", "gt_vi"):
        assert s[k].shape == (3, 32, 32) and s[k].dtype == torch.float32
        assert 0 <= s[k].min() and s[k].max() <= 1
    assert s["pos_ir"].shape == s["pos_vi"].shape == (3, 3, 32, 32) and s["neg"].shape == (6, 3, 32, 32)
    assert s["label_ir"].dtype == s["label_vi"].dtype == torch.int64 and s["label_ir"].ndim == 0
    assert isinstance(s["name"], str) and s["name"].startswith("set/s")
    for t in (s["lq_ir"], s["gt_ir"], *s["pos_ir"]):
        assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])  # IR grey replicated
    off = SyntheticPairDataset([pairs], crop=32, contrastive=False)[3]
    assert list(off) == BASE_KEYS + ["name"]


def test_labels_say_what_was_degraded(pairs):
    ds = SyntheticPairDataset([pairs], crop=32, contrastive=False, seed=2)
    seen = Counter()
    for i in range(60):
        s = ds[i % len(ds)]
        for m, labels in (("ir", IR_LABELS), ("vi", VI_LABELS)):
            label = labels[int(s[f"label_{m}"])]
            seen[(m, label)] += 1
            same = torch.equal(s[f"lq_{m}"], s[f"gt_{m}"])
            if label != "Blur":  # sigma near 0.2 is a no-op after rounding, as in one real sample (00272D)
                assert same == (label == "clean"), (m, label)
    assert seen[("ir", "clean")] and seen[("vi", "clean")] and len(seen) > 6


def test_pair_alignment_crop_and_dihedral_are_shared(pairs):
    ds = SyntheticPairDataset([pairs], crop=24, seed=3, proportions={"clean": 1.0})
    for i in range(12):
        s = ds[i % 6]
        # VI == IR here (up to JPEG error for s0), so any misalignment of crop or dihedral would show
        assert (s["gt_ir"] - s["gt_vi"]).abs().max() <= 3 / 255
        assert torch.equal(s["lq_ir"], s["gt_ir"]) and int(s["label_ir"]) == int(s["label_vi"]) == 0
        # negatives of a clean/clean anchor: IR LC, RN, SN then VI RN, Rain, Blur, all of the anchor's crop
        src = cv2.imread(str(pairs / "ir" / f"{s['name'].split('/')[1]}.png"), cv2.IMREAD_GRAYSCALE)
        anchor = u8(s["gt_ir"])
        assert any(found_in(dihedral(anchor, m), src) for m in range(8))
        for neg in s["neg"][:3]:  # IR LC, RN, SN always change the image (a VI Blur of sigma 0.2 may not)
            assert not torch.equal(neg, s["gt_ir"])


def test_dihedral_gives_the_eight_symmetries():
    a = np.arange(12).reshape(3, 4)
    outs = {dihedral(a, m).tobytes() + bytes(dihedral(a, m).shape) for m in range(8)}
    assert len(outs) == 8
    assert np.array_equal(dihedral(a, 0), a) and np.array_equal(dihedral(dihedral(a, 2), 2), a)


def test_positives_come_from_other_scenes(pairs):
    ds = SyntheticPairDataset([pairs], crop=24, seed=4, proportions={"clean": 1.0}, dihedral=False)
    imgs = [cv2.imread(str(pairs / "ir" / f"s{k}.png"), cv2.IMREAD_GRAYSCALE) for k in range(6)]
    for i in range(6):
        s = ds[i]
        assert found_in(u8(s["gt_ir"]), imgs[i])
        for pos in list(s["pos_ir"]) + list(s["pos_vi"]):
            p = u8(pos)
            assert not found_in(p, imgs[i]) and any(found_in(p, imgs[k]) for k in range(6) if k != i)


def test_proportions_and_low_light_eligibility(pairs):
    props = {"clean": 0.1, "vi": 0.35, "ir": 0.25, "both": 0.3}
    ds = SyntheticPairDataset([pairs], crop=16, contrastive=False, seed=5, proportions=props)
    groups, ll = Counter(), Counter()
    n = 900
    for i in range(n):
        s = ds[i % 6]
        vi, ir = VI_LABELS[int(s["label_vi"])], IR_LABELS[int(s["label_ir"])]
        groups[{(True, True): "clean", (False, True): "vi", (True, False): "ir", (False, False): "both"}[
            (vi == "clean", ir == "clean")]] += 1
        ll[i % 6 >= 4] += vi == "LL"
    for g, p in props.items():
        assert groups[g] / n == pytest.approx(p, abs=0.05), g
    assert ll[True] == 0 and ll[False] > 10  # dark scenes (luma < 0.2) never get synthetic LL


def test_type_weights_shift_the_type_draws(pairs):
    """``type_weights`` changes which type a degraded modality gets, not how often it is degraded; unnamed types
    weigh 1, a weight of 0 removes a type; None keeps the uniform draws (the same samples as before)."""
    weights = {"vi_Blur": 4.0, "vi_LL": 0.0, "ir_LC": 3.0}
    props = {"clean": 0.0, "vi": 0.5, "ir": 0.5, "both": 0.0}
    ds = SyntheticPairDataset([pairs], crop=16, contrastive=False, seed=5, proportions=props, type_weights=weights)
    vi_n, ir_n = Counter(), Counter()
    n = 1200
    for i in range(n):
        s = ds[i % 4]  # bright scenes only: every VI type is eligible
        vi_n[VI_LABELS[int(s["label_vi"])]] += 1
        ir_n[IR_LABELS[int(s["label_ir"])]] += 1
    vi_deg, ir_deg = n - vi_n["clean"], n - ir_n["clean"]
    assert vi_deg / n == pytest.approx(0.5, abs=0.05) and ir_deg / n == pytest.approx(0.5, abs=0.05)
    assert vi_n["LL"] == 0
    assert vi_n["Blur"] / vi_deg == pytest.approx(4 / 8, abs=0.06)  # Blur 4 + Rain, OE, RN, haze 1 each
    assert vi_n["OE"] / vi_deg == pytest.approx(1 / 8, abs=0.04)
    assert ir_n["LC"] / ir_deg == pytest.approx(3 / 5, abs=0.06)
    plain = SyntheticPairDataset([pairs], crop=16, contrastive=False, seed=5)
    same = SyntheticPairDataset([pairs], crop=16, contrastive=False, seed=5, type_weights=None)
    torch.manual_seed(1)
    a = [plain[i]["lq_vi"] for i in range(6)]
    torch.manual_seed(1)
    b = [same[i]["lq_vi"] for i in range(6)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="unknown type 'vi_Snow'"):
        SyntheticPairDataset([pairs], type_weights={"vi_Snow": 1.0})
    with pytest.raises(ValueError, match="number >= 0"):
        SyntheticPairDataset([pairs], type_weights={"ir_SN": -1.0})
    with pytest.raises(ValueError, match="every IR type weighted 0"):
        SyntheticPairDataset([pairs], type_weights={"ir_LC": 0, "ir_RN": 0, "ir_SN": 0})


def test_grey_vi_makes_some_visible_images_grey(tmp_path):
    """``grey_vi`` p: about p of the samples get a grey VI (luma in all three channels, clean and degraded alike);
    0 draws nothing, so the samples are those of a dataset without the option."""
    root = tmp_path / "colour"
    (root / "ir").mkdir(parents=True)
    (root / "vi").mkdir()
    for k in range(4):
        ir = texture(k)
        cv2.imwrite(str(root / "ir" / f"c{k}.png"), ir)
        vi = np.stack([ir, texture(k + 20), texture(k + 40)], 2)  # three different channels: a colour image
        cv2.imwrite(str(root / "vi" / f"c{k}.png"), vi)
    for k in range(2):  # two night scenes (VI mean luma < 0.2), sorted after the four day ones
        ir = texture(k + 60, lo=5, hi=40)
        cv2.imwrite(str(root / "ir" / f"d{k}.png"), ir)
        cv2.imwrite(str(root / "vi" / f"d{k}.png"), np.stack([ir, texture(k + 70, lo=5, hi=40), ir // 2], 2))
    props = {"clean": 1.0, "vi": 0.0, "ir": 0.0, "both": 0.0}
    ds = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3, proportions=props, grey_vi=0.3)
    n, grey = 400, 0
    for i in range(n):
        s = ds[i % 4]
        is_grey = torch.equal(s["gt_vi"][0], s["gt_vi"][1]) and torch.equal(s["gt_vi"][1], s["gt_vi"][2])
        assert torch.equal(s["lq_vi"], s["gt_vi"])  # clean group: the input is the target
        grey += is_grey
    assert grey / n == pytest.approx(0.3, abs=0.06)
    full = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3, grey_vi=1.0)
    v = full[0]["gt_vi"]
    assert torch.equal(v[0], v[1]) and torch.equal(v[1], v[2])
    plain = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3)
    off = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3, grey_vi=0.0)
    torch.manual_seed(2)
    a = [plain[i]["lq_vi"] for i in range(4)]
    torch.manual_seed(2)
    b = [off[i]["lq_vi"] for i in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="grey_vi"):
            SyntheticPairDataset([root], grey_vi=bad)
    # grey_vi_except: a VI-only LL set drawn grey every time stays colour; the draws are those of plain grey_vi
    ll = {"clean": 0.0, "vi": 1.0, "ir": 0.0, "both": 0.0}
    kept = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3, proportions=ll, vi_types=("LL", "OE"),
                                grey_vi=1.0, grey_vi_except=("LL",))
    every = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3, proportions=ll, vi_types=("LL", "OE"),
                                 grey_vi=1.0)
    seen = Counter()
    for i in range(40):
        torch.manual_seed(i)
        s = kept[i % 4]
        torch.manual_seed(i)
        e = every[i % 4]
        kind = VI_LABELS[int(s["label_vi"])]
        assert kind == VI_LABELS[int(e["label_vi"])]
        g = s["gt_vi"]
        seen[kind, bool(torch.equal(g[0], g[1]) and torch.equal(g[1], g[2]))] += 1
    assert set(seen) == {("LL", False), ("OE", True)}
    with pytest.raises(ValueError, match="grey_vi_except"):
        SyntheticPairDataset([root], grey_vi_except=("Snow",))
    # grey_vi_min_luma: night scenes stay colour, day scenes go grey
    day_only = SyntheticPairDataset([root], crop=16, contrastive=False, seed=3, proportions=props, grey_vi=1.0,
                                    grey_vi_min_luma=0.2)
    for i in range(6):
        g = day_only[i]["gt_vi"]
        assert bool(torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])) == (i < 4), i


def test_sensor_noise_on_some_clean_crops(pairs, tmp_path):
    """``sensor_noise`` p: about p of the clean crops per modality differ from the plain dataset's by Gaussian noise
    of the drawn sigma (grey VI: the same noise in the three channels); 0 draws nothing."""
    props = {"clean": 1.0, "vi": 0.0, "ir": 0.0, "both": 0.0}
    plain = SyntheticPairDataset([pairs], crop=24, contrastive=False, seed=5, proportions=props, dihedral=False)
    noisy = SyntheticPairDataset([pairs], crop=24, contrastive=False, seed=5, proportions=props, dihedral=False,
                                 sensor_noise=0.5, sensor_noise_sigma=(4.0, 4.0))
    changed, sds = {"ir": 0, "vi": 0}, []
    n = 200
    for i in range(n):
        torch.manual_seed(i)
        a = plain[i % 6]
        torch.manual_seed(i)
        b = noisy[i % 6]
        assert torch.equal(b["lq_vi"], b["gt_vi"]) and torch.equal(b["lq_ir"], b["gt_ir"])  # clean: input = target
        for m in ("ir", "vi"):
            d = (b[f"gt_{m}"] - a[f"gt_{m}"]) * 255
            if d.abs().max() > 0:
                changed[m] += 1
                sds.append(float(d.std()))
                if m == "vi":  # the fixture's VI is grey: the noise keeps it grey
                    assert torch.equal(b["gt_vi"][0], b["gt_vi"][1]) and torch.equal(b["gt_vi"][1], b["gt_vi"][2])
    for m in ("ir", "vi"):
        assert changed[m] / n == pytest.approx(0.5, abs=0.1), m
    assert np.median(sds) == pytest.approx(4.0, abs=0.6)  # sigma 4 grey levels (rounding, a little clipping)
    off = SyntheticPairDataset([pairs], crop=24, contrastive=False, seed=5, sensor_noise=0.0)
    fresh = SyntheticPairDataset([pairs], crop=24, contrastive=False, seed=5)  # draws count per dataset: a new one
    torch.manual_seed(1)
    x = [fresh[i]["lq_vi"] for i in range(6)]
    torch.manual_seed(1)
    y = [off[i]["lq_vi"] for i in range(6)]
    assert all(torch.equal(u, v) for u, v in zip(x, y))
    for kw, match in (({"sensor_noise": 1.5}, "sensor_noise"), ({"sensor_noise": True}, "sensor_noise"),
                      ({"sensor_noise_sigma": (3.0, 1.0)}, "sensor_noise_sigma"),
                      ({"sensor_noise_sigma": "x"}, "sensor_noise_sigma")):
        with pytest.raises(ValueError, match=match):
            SyntheticPairDataset([pairs], **kw)


def test_deterministic_validation_mode(pairs):
    a = SyntheticPairDataset([pairs], crop=32, seed=7, deterministic=True)
    b = SyntheticPairDataset([pairs], crop=32, seed=7, deterministic=True)
    c = SyntheticPairDataset([pairs], crop=32, seed=8, deterministic=True)
    for i in (0, 3):
        x, y, z = a[i], b[i], a[i]
        for k in ("lq_ir", "lq_vi", "pos_vi", "neg"):
            assert torch.equal(x[k], y[k]) and torch.equal(x[k], z[k])
    assert any(not torch.equal(a[i]["lq_vi"], c[i]["lq_vi"]) or not torch.equal(a[i]["lq_ir"], c[i]["lq_ir"])
               for i in range(6))
    src = cv2.imread(str(pairs / "ir" / "s1.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(u8(a[1]["gt_ir"]), src[4:36, 12:44])  # centre crop, no dihedral
    train = SyntheticPairDataset([pairs], crop=32, seed=7)
    assert not all(torch.equal(train[2]["gt_ir"], train[2]["gt_ir"]) for _ in range(3))  # training draws vary


def test_subset_padding_and_whole_images(pairs):
    ds = SyntheticPairDataset([pairs], crop=64, seed=0, max_items=3)
    assert ds.index == [0, 2, 5] and len(ds) == 3
    assert ds[0]["lq_vi"].shape == (3, 64, 64)  # reflect-padded from 40x56
    whole = SyntheticPairDataset([pairs], crop=None, contrastive=False, deterministic=True)
    assert whole[1]["gt_ir"].shape == (3, 40, 56)


def test_root_repeat_draws_named_folders_more_often(pairs, tmp_path):
    other = tmp_path / "other"
    (other / "ir").mkdir(parents=True)
    (other / "vi").mkdir()
    for k in range(2):
        cv2.imwrite(str(other / "ir" / f"o{k}.png"), texture(10 + k))
        cv2.imwrite(str(other / "vi" / f"o{k}.png"), np.repeat(texture(10 + k)[:, :, None], 3, 2))
    plain = SyntheticPairDataset([pairs, other], crop=32, seed=0)
    assert len(plain) == 8
    ds = SyntheticPairDataset([pairs, other], crop=32, seed=0, root_repeat={"other": 3})
    folders = Counter(ds.pairs[j].name.split("/")[0] for j in ds.index)
    assert folders == {"set": 6, "other": 6} and len(ds) == 12
    assert ds[len(ds) - 1]["gt_ir"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="not among the training folders"):
        SyntheticPairDataset([pairs], root_repeat={"other": 2})
    with pytest.raises(ValueError, match="integer >= 1"):
        SyntheticPairDataset([pairs], root_repeat={"set": 0})


def test_exclude_leaves_named_pairs_out(pairs):
    full = SyntheticPairDataset([pairs], crop=32, seed=0)
    names = [full.pairs[j].name for j in full.index]
    ds = SyntheticPairDataset([pairs], crop=32, seed=0, exclude={names[0], names[3]}, root_repeat={"set": 2})
    kept = [ds.pairs[j].name for j in ds.index]
    assert len(ds) == 2 * (len(names) - 2) and names[0] not in kept and names[3] not in kept
    assert set(kept) == set(names) - {names[0], names[3]}
    with pytest.raises(ValueError, match="not among these folders"):
        SyntheticPairDataset([pairs], exclude={"set/nope"})
    with pytest.raises(ValueError, match="no pairs"):
        SyntheticPairDataset([pairs], exclude=set(names))


def test_bad_arguments(pairs, tmp_path):
    with pytest.raises(ValueError, match="contrastive"):
        SyntheticPairDataset([pairs], crop=None)
    with pytest.raises(ValueError, match="proportions"):
        SyntheticPairDataset([pairs], proportions={"rain": 1.0})
    with pytest.raises(ValueError, match="vi_types"):
        SyntheticPairDataset([pairs], vi_types=("Snow",))
    with pytest.raises(UserError, match="not found"):
        SyntheticPairDataset([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError):
        SyntheticPairDataset([tmp_path / "empty"])


def test_dataloader_with_workers_after_preload(pairs):
    ds = SyntheticPairDataset([pairs], crop=32, seed=0, preload=True)
    assert len(ds.cache) == 12
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, shuffle=True)
    batch = next(iter(loader))
    assert batch["neg"].shape == (3, 6, 3, 32, 32) and batch["label_vi"].shape == (3,)
    assert len(batch["name"]) == 3


# ------------------------------------------------------------------------------------------------- contrastive
def test_negative_order_is_official():
    all_ir, all_vi = ("clean",) + IR_TYPES, ("clean",) + VI_TYPES
    assert negative_types("clean", "clean", all_ir, all_vi) == [
        ("ir", "LC"), ("ir", "RN"), ("ir", "SN"), ("vi", "RN"), ("vi", "Rain"), ("vi", "Blur")]
    assert negative_types("SN", "Rain", all_ir, all_vi) == [
        ("ir", "LC"), ("ir", "clean"), ("ir", "RN"), ("vi", "clean"), ("vi", "RN"), ("vi", "Blur")]
    # few candidates: repeated cyclically
    assert negative_types("clean", "clean", ("clean", "LC"), ("clean", "RN")) == [("ir", "LC"), ("vi", "RN")] * 3
    shuffled = {tuple(negative_types("clean", "clean", all_ir, all_vi, "shuffled", np.random.default_rng(s)))
                for s in range(20)}
    assert len(shuffled) > 5 and all(n[:3] == (("ir", "LC"), ("ir", "RN"), ("ir", "SN")) for n in shuffled)
    rng = np.random.default_rng(0)
    assert sorted(positive_choices([1, 2, 3, 4], 2, rng)) == [1, 3, 4]
    assert positive_choices([2], 2, rng) == [2, 2, 2]


# ------------------------------------------------------------------------------------------------- official
IR_CODE = {"clean": 0, "LC": 1, "RN": 2, "SN": 3}
VI_CODE = {"clean": 0, "Blur": 1, "Rain": 2, "LL": 3, "OE": 4, "RN": 5, "haze": 6}
OFFICIAL_NAME = {"clean": "Norm"}


@pytest.fixture
def official(tmp_path) -> Path:
    """3 scenes of constant images whose value encodes (type, scene); scene c lacks LL, OE and haze."""
    root = tmp_path / "official" / "train"
    for d in ("IR", "VI", "IR_enhanced", "VI_enhanced"):
        (root / d).mkdir(parents=True)
    for k, scene in enumerate("abc"):
        for t, code in IR_CODE.items():
            value = np.full((40, 48), 20 + 40 * code + k, np.uint8)
            cv2.imwrite(str(root / "IR" / f"{scene}_{OFFICIAL_NAME.get(t, t)}.png"), value)
        for t, code in VI_CODE.items():
            if scene == "c" and t in ("LL", "OE", "haze"):
                continue
            cv2.imwrite(str(root / "VI" / f"{scene}_{OFFICIAL_NAME.get(t, t)}.png"),
                        np.full((40, 48, 3), 20 + 30 * code + k, np.uint8))
        cv2.imwrite(str(root / "IR_enhanced" / f"{scene}.png"), np.full((40, 48), 250 - k, np.uint8))
        cv2.imwrite(str(root / "VI_enhanced" / f"{scene}.jpg"), np.full((40, 48, 3), 240 - k, np.uint8))
    (root / "VI" / "a_Snow.png").write_bytes(b"")  # unknown type: skipped with a warning
    return tmp_path / "official"


def decode_ir(t: torch.Tensor) -> tuple[str, int]:
    v = int(u8(t)[0, 0]) - 20
    return [n for n, c in IR_CODE.items() if c == v // 40][0], v % 40


def decode_vi(t: torch.Tensor) -> tuple[str, int]:
    v = int(u8(t)[0, 0]) - 20
    return [n for n, c in VI_CODE.items() if c == v // 30][0], v % 30


def test_official_layout_semantics(official):
    with pytest.raises(UserError, match="split"):
        OfficialLayoutDataset(official)
    with pytest.warns(UserWarning, match="Snow"):
        ds = OfficialLayoutDataset(official, split="train", crop=16, seed=0)
    assert len(ds) == 7 + 7 + 4  # one item per VI input file
    seen_ir = set()
    for rep in range(3):
        for i in range(len(ds)):
            s = ds[i]
            scene = "abc".index(s["name"])
            vi_t, vi_s = decode_vi(s["lq_vi"])
            ir_t, ir_s = decode_ir(s["lq_ir"])
            assert (vi_s, ir_s) == (scene, scene)
            assert VI_LABELS[int(s["label_vi"])] == vi_t and IR_LABELS[int(s["label_ir"])] == ir_t
            seen_ir.add(ir_t)
            assert int(u8(s["gt_ir"])[0, 0]) == 250 - scene and int(u8(s["gt_vi"])[0, 0]) == 240 - scene
            for p in s["pos_vi"]:
                assert decode_vi(p)[0] == vi_t and decode_vi(p)[1] != scene
            for p in s["pos_ir"]:
                assert decode_ir(p)[0] == ir_t and decode_ir(p)[1] != scene
            expected = negative_types(ir_t, vi_t, set(IR_CODE), set(VI_CODE) - ({"LL", "OE", "haze"}
                                                                                 if scene == 2 else set()))
            for (m, t), n in zip(expected, s["neg"]):
                got = decode_ir(n) if m == "ir" else decode_vi(n)
                assert got == (t, scene), (m, t, got)
    assert seen_ir == set(IR_CODE)  # the IR type is drawn among all of the scene's


@pytest.mark.shared
def test_official_real_sample_and_default_roots():
    if not SAMPLE.is_dir():
        pytest.skip(f"needs {SAMPLE} (the project's shared data folder is not present here)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = OfficialLayoutDataset(SAMPLE, split="val", crop=128, deterministic=True)
    n_vi = sum(1 for p in (SAMPLE / "val" / "VI").iterdir())
    assert len(ds) == n_vi
    s = ds[0]
    assert s["neg"].shape == (6, 3, 128, 128) and VI_LABELS[int(s["label_vi"])] in VI_LABELS
    assert torch.equal(ds[0]["lq_ir"], ds[0]["lq_ir"])  # deterministic
    pairs = scan_pairs()
    roots = {p.name.split("/")[0] for p in pairs}
    assert roots == {"msrs1083", "msrs30", "roadscene171", "llvip32"} and len(pairs) == 1316
    syn = SyntheticPairDataset(max_items=5, contrastive=False, deterministic=True)
    assert len(syn) == 5 and syn[4]["lq_vi"].shape == (3, 128, 128)
