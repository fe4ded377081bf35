"""Degradation-diagnosis probe: the shipped model's ``diagnose`` on strongly degraded inputs, and the probe options.

The built-in example pair needs no shared data; ``benchmarks/fit_probe.py`` measures the probe at scale
(benchmarks/results/probe.md).
"""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from dspfusion.config import PRESETS, DSPFusionConfig, get_preset
from dspfusion.degradations import degrade
from dspfusion.example import make_example_pair
from dspfusion.models import build_model
from dspfusion.models.degradation_probe import IR_CLASSES, VI_CLASSES, DegradationProbe
from dspfusion.models.dspfusion import _tile_grid


@pytest.fixture(scope="module")
def shipped():
    from dspfusion import load
    from dspfusion.checkpoint import shipped_weights

    if shipped_weights("lite") is None:
        pytest.skip("no shipped lite weights in this installation")
    torch.set_num_threads(1)
    return load("lite", device="cpu")


@pytest.fixture(scope="module")
def example():
    ir, vi = make_example_pair(seed=0)
    # approximately undo the example's night rendering (0.22 * v ** 1.6 + noise) → a daylight VI image
    day = np.clip((vi.astype(np.float32) / 255 / 0.22).clip(0, 1) ** (1 / 1.6) * 255, 0, 255).astype(np.uint8)
    assert day.mean() / 255 >= 0.2  # bright enough for LL to be a valid label (the training rule)
    return ir, vi, day


def _top(probs: dict[str, float]) -> str:
    return max(probs, key=probs.get)


@pytest.mark.parametrize(
    "kind,params",
    [("SN", {"sigma": 10.0, "stripe": 9.0}), ("RN", {"sigma": 18.0, "photons": 70.0}), ("LC", {"scale": 0.25, "low": 100.0})],
)
def test_shipped_diagnose_strong_ir(shipped, example, kind, params):
    from dspfusion.commands.diagnose import diagnose

    ir, vi, _ = example
    ir_d = degrade(ir, "ir", kind, np.random.default_rng(1), **params)[0]
    res = diagnose(shipped, ir_d, vi)
    assert set(res) == {"ir", "vi"} and tuple(res["ir"]) == IR_CLASSES and tuple(res["vi"]) == VI_CLASSES
    assert abs(sum(res["ir"].values()) - 1) < 1e-5
    assert _top(res["ir"]) == kind and res["ir"][kind] > 0.5, res["ir"]


# Floors well above chance (1/7) and below what the shipped weights give on these 10 images (LL 10, RN 10, OE 6,
# haze 7; held-out recall over all strengths: benchmarks/results/probe.md). The built-in example is not used for
# VI: its "daylight" version, undone from a noisy night rendering, really is noisy, and the probe says so (RN).
@pytest.mark.parametrize("kind,params,floor", [
    ("LL", {"gamma": 2.2, "gain": 0.3}, 8), ("RN", {"sigma": 12.0, "photons": 65.0}, 8),
    ("OE", {"lift": 130.0, "clip_level": 180.0}, 5), ("haze", {"beta": 0.16}, 5),
])
def test_shipped_diagnose_strong_vi_on_real_images(shipped, kind, params, floor):
    from dspfusion.commands.diagnose import diagnose
    from dspfusion.data.folders import scan_pairs
    from dspfusion.io import read_image

    from conftest import SHARED, need

    hits = []
    for i, pair in enumerate(scan_pairs([need(SHARED / "data" / "test" / "roadscene50")])[:10]):
        vi = read_image(pair.vi)
        vi_d = degrade(vi, "vi", kind, np.random.default_rng(i), **params)[0]
        hits.append(_top(diagnose(shipped, read_image(pair.ir), vi_d)["vi"]))
    assert sum(h == kind for h in hits) >= floor, hits


def test_shipped_model_records_its_probe_settings(shipped):
    cfg = shipped.model.config
    assert cfg.with_probe and cfg.probe_tile >= 0 and cfg.probe_hidden >= 0
    assert isinstance(shipped.model.probe, DegradationProbe)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_keep_the_linear_whole_image_probe(name):
    cfg = get_preset(name)
    assert cfg.probe_hidden == 0 and cfg.probe_tile == 0
    m = build_model(name)
    keys = {k for k in m.state_dict() if k.startswith("probe.")}
    if cfg.with_probe:
        assert keys == {f"probe.{a}.{b}" for a in ("norm", "vi", "ir") for b in ("weight", "bias")}
    else:
        assert not keys


def test_probe_hidden_layer_and_config_roundtrip():
    cfg = get_preset("lite").replace(probe_hidden=16, probe_tile=96)
    assert DSPFusionConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = cfg.to_dict()
    del old["probe_hidden"], old["probe_tile"]  # a checkpoint written before these fields existed
    assert DSPFusionConfig.from_dict(old) == get_preset("lite")
    m = build_model(cfg)
    assert "probe.vi.0.weight" in m.state_dict() and m.probe(torch.rand(3, cfg.fusion.deg_dim), "ir").shape == (3, 4)
    with pytest.raises(ValueError):
        get_preset("lite").replace(probe_tile=8)


def test_tile_grid_covers_the_image():
    img = torch.arange(3 * 100 * 150, dtype=torch.float32).reshape(3, 100, 150)
    t = _tile_grid(img, 48)
    assert t.shape == (3 * 4, 3, 48, 48)  # ceil(100/48) x ceil(150/48)
    assert torch.equal(t[0], img[:, :48, :48]) and torch.equal(t[-1], img[:, -48:, -48:])
    assert _tile_grid(torch.rand(3, 20, 30), 48).shape == (1, 3, 48, 48)  # smaller than a tile: edge-padded


def test_diagnosis_features_whole_image_and_tiles():
    torch.manual_seed(0)
    m = build_model("lite").eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(m.diagnosis_features(x), m.degradation(x)[1])
        m.config = m.config.replace(probe_tile=32)
        f = m.diagnosis_features(x)
        ref = m.degradation(_tile_grid(x[1], 32))[1].mean(0)
    assert f.shape == (2, m.config.fusion.deg_dim) and torch.allclose(f[1], ref, atol=1e-6)


def test_probe_scales_concatenate_one_feature_per_scale():
    """probe_scales (1.0, 0.5): the probe reads the full-size feature, then the feature of the image downscaled 2x
    by area averaging, side by side; the probe is built for that width, and the field round-trips (an old
    checkpoint without it reads (1.0,))."""
    torch.manual_seed(0)
    cfg = get_preset("lite").replace(probe_tile=32, probe_scales=(1.0, 0.5))
    m = build_model(cfg).eval()
    d = cfg.fusion.deg_dim
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        f = m.diagnosis_features(x)
        half = torch.nn.functional.avg_pool2d(x, 2)  # area averaging by 2 on even sides
        full_ref = m.degradation(_tile_grid(x[1], 32))[1].mean(0)
        half_ref = m.degradation(_tile_grid(half[1], 32))[1].mean(0)
        assert m.probe(f, "vi").shape == (2, len(VI_CLASSES))
    assert f.shape == (2, 2 * d)
    assert torch.allclose(f[1, :d], full_ref, atol=1e-6) and torch.allclose(f[1, d:], half_ref, atol=1e-6)
    assert m.probe.norm.normalized_shape == (2 * d,)
    assert DSPFusionConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = cfg.to_dict()
    del old["probe_scales"]
    assert DSPFusionConfig.from_dict(old).probe_scales == (1.0,)
    for bad in ((), (1.0, 1.0), (0.0,), (1.5,)):
        with pytest.raises(ValueError, match="probe_scales"):
            get_preset("lite").replace(probe_scales=bad)


def test_fit_probe_refits_a_two_scale_probe_and_writes_a_model_that_diagnoses_with_it(tmp_path, monkeypatch):
    """benchmarks/fit_probe.py --scales 1 0.5 on tiny synthetic folders: the written model records probe_scales and
    probe_tile, its probe reads both scales' features (twice the type-vector width), every other tensor is the
    source's (checked by the script), and its diagnose reproduces the fitted probe (checked by the script too)."""
    from dspfusion.checkpoint import load_model, save_model
    from dspfusion.io import write_image

    spec = importlib.util.spec_from_file_location("fit_probe", REPO / "benchmarks" / "fit_probe.py")
    fp = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fit_probe", fp)  # its dataclasses look their module up
    spec.loader.exec_module(fp)
    roots = {}
    for name, seeds in (("fitset", range(4)), ("evalset", range(10, 12))):
        roots[name] = tmp_path / name
        for i in seeds:
            ir, vi = make_example_pair(64, 80, seed=i)
            vi = ((vi.astype(np.float32) / 255 / 0.22).clip(0, 1) ** (1 / 1.6) * 255).astype(np.uint8)  # daylight
            write_image(roots[name] / "ir" / f"{i:02d}.png", ir)
            write_image(roots[name] / "vi" / f"{i:02d}.png", vi)
    torch.manual_seed(0)
    src = tmp_path / "src.safetensors"
    save_model(build_model(get_preset("tiny-official").replace(with_probe=True)), src, step=7)
    out = tmp_path / "refit.safetensors"
    torch_threads = torch.get_num_threads()
    try:
        rc = fp.main(["--model", str(src), "--train", str(roots["fitset"]), "--eval", str(roots["evalset"]),
                      "--per-class", "2", "--steps", "20", "--hidden", "0", "--tile", "32", "--scales", "1", "0.5",
                      "--no-figure", "--out-dir", str(tmp_path / "reports"), "--write", str(out)])
    finally:
        torch.set_num_threads(torch_threads)
    assert rc == 0
    model, info = load_model(str(out))
    d = model.config.fusion.deg_dim
    assert model.config.probe_scales == (1.0, 0.5) and model.config.probe_tile == 32 and info["step"] == 7
    assert model.probe.vi.weight.shape == (len(VI_CLASSES), 2 * d)
    report = (tmp_path / "reports" / "probe.md").read_text()
    assert "refit probe, tiles 32, scales 1 + 0.5" in report and f"{2 * d}-d" in report
    with pytest.raises(SystemExit):
        fp.main(["--scales", "1", "1", "--no-figure"])
    # a folder may be fitted on or held out, not both (msrs30 is fitted on only when --eval leaves it out)
    with pytest.raises(SystemExit, match="overlap"):
        fp.main(["--model", str(src), "--train", str(roots["fitset"]), str(roots["evalset"]), "--eval",
                 str(roots["evalset"]), "--no-figure", "--out-dir", str(tmp_path / "reports2")])


def test_copy_parts_takes_a_dpen_parts_file_only_without_equality_checks(tmp_path):
    """benchmarks/copy_parts.py: a DPEN parts file (keys ``degradation.*``, as dpen_capacity.py --save-dir writes,
    no model metadata) goes into a model with ``--require-equal`` given no parts; the output's DPEN is the file's and
    everything else is the target's. With the default equality check, a parts file is refused (it is no model)."""
    from safetensors.torch import save_file

    from dspfusion.checkpoint import load_model, save_model
    from dspfusion.errors import CheckpointError

    spec = importlib.util.spec_from_file_location("copy_parts", REPO / "benchmarks" / "copy_parts.py")
    cp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cp)
    torch.manual_seed(0)
    target = tmp_path / "target.safetensors"
    save_model(build_model(get_preset("tiny-official").replace(with_probe=True)), target, step=11)
    torch.manual_seed(1)
    other = build_model(get_preset("tiny-official").replace(with_probe=True))
    parts = tmp_path / "dpen.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items() if k.startswith("degradation.")}, str(parts))
    out = tmp_path / "out.safetensors"
    assert cp.main(["--source", str(parts), "--target", str(target), "--out", str(out), "--part", "degradation",
                    "--require-equal"]) == 0
    got, info = load_model(str(out))
    before, _ = load_model(str(target))
    assert info["step"] == 11
    for k, v in got.state_dict().items():
        expected = other.state_dict()[k] if k.startswith("degradation.") else before.state_dict()[k]
        assert torch.equal(v, expected), k
    with pytest.raises(CheckpointError, match="without dspfusion metadata"):
        cp.main(["--source", str(parts), "--target", str(target), "--out", str(tmp_path / "x.safetensors"),
                 "--part", "degradation"])


def test_average_weights_writes_the_mean_and_refuses_other_configs(tmp_path):
    """benchmarks/average_weights.py: the output's float tensors are the element-wise mean of the inputs', it keeps
    the largest step and names its sources; two files of different configs, or the output over an input, are refused."""
    from dspfusion.checkpoint import load_model, read_metadata, save_model

    spec = importlib.util.spec_from_file_location("average_weights", REPO / "benchmarks" / "average_weights.py")
    aw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(aw)
    files = []
    for seed, step in ((0, 5), (1, 9)):
        torch.manual_seed(seed)
        files.append(tmp_path / f"m{seed}.safetensors")
        save_model(build_model(get_preset("tiny-official")), files[-1], step=step)
    out = tmp_path / "mean.safetensors"
    assert aw.main([str(f) for f in files] + ["--out", str(out)]) == 0
    got, info = load_model(str(out))
    a, b = (load_model(str(f))[0].state_dict() for f in files)
    assert info["step"] == 9
    assert "m0.safetensors (step 5)" in read_metadata(out)["averaged_from"]
    moved = 0
    for k, v in got.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, (a[k].double() + b[k].double()).div(2).to(v.dtype), atol=1e-7), k
            moved += int(not torch.equal(a[k], b[k]))
        else:
            assert torch.equal(v, a[k]), k
    assert moved > 0  # the two seeds differ, so the mean is a new model
    other = tmp_path / "other.safetensors"
    save_model(build_model(get_preset("tiny-official").replace(with_probe=True)), other, step=1)
    with pytest.raises(SystemExit, match="config differs"):
        aw.main([str(files[0]), str(other), "--out", str(tmp_path / "x.safetensors")])
    with pytest.raises(SystemExit, match="new file"):
        aw.main([str(files[0]), str(files[1]), "--out", str(files[0])])
