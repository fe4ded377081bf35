"""`dspfusion benchmark`: config validation, seeded degraded inputs, resumable runs, reports, docs sections, speed.

Most tests run on a procedural dataset made in tmp_path (dspfusion.example) with the classical baselines and the
untrained "tiny-official" preset, so the harness is tested without shared data; one test runs
configs/benchmarks/smoke.yaml on ../shared (skipped when absent).
"""
from __future__ import annotations

import argparse
import dataclasses
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from dspfusion.benchmark import load_config, parse_config, run_benchmark
from dspfusion.benchmark import docs as bdocs
from dspfusion.benchmark.config import expand_conditions
from dspfusion.benchmark.inputs import (InputCache, Pair, condition_rng, generator_fingerprint, list_pairs,
                                        load_clean)
from dspfusion.benchmark.methods import make_method
from dspfusion.benchmark.report import aggregate, dataset_table
from dspfusion.benchmark.runner import run_quality
from dspfusion.cli import main
from dspfusion.errors import UserError
from dspfusion.example import make_example_pair
from dspfusion.io import read_image, write_image

from conftest import REPO, SHARED, need

CONFIGS = REPO / "configs" / "benchmarks"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch/OpenCV thread: on a busy 2-core machine, thread contention makes the tiny model 5-10x slower."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(before[0])
    cv2.setNumThreads(before[1])
H, W = 96, 192  # the smallest size NIQE accepts (two 96x96 blocks)


def _dataset(root: Path, n: int = 2, h: int = H, w: int = W) -> Path:
    for i in range(n):
        ir, vi = make_example_pair(h, w, seed=i)
        write_image(root / "ir" / f"{i:02d}.png", ir, overwrite=True)
        write_image(root / "vi" / f"{i:02d}.png", vi, overwrite=True)
    return root


def _config(tmp: Path, **over) -> dict:
    cfg = {
        "name": "toy",
        "output": str(tmp / "out"),
        "docs": str(tmp / "docs" / "BENCHMARKS.md"),
        "docs_figures": ["VIF"],
        "datasets": [{"name": "toy", "root": str(tmp / "data")}],
        "conditions": ["clean", "LL_SN"],
        "methods": [
            {"name": "tiny", "type": "dspfusion", "checkpoint": "tiny-official", "steps": 2},
            {"name": "GFF+enh", "type": "baseline", "fusion": "guided", "pre_enhance": True},
            {"name": "theirs", "type": "folder", "path": str(tmp / "theirs" / "{dataset}" / "{condition}")},
        ],
        "metrics": ["EN", "VIF", "Qabf", "NIQE"],
        "grid_images": 1,
    }
    cfg.update(over)
    return cfg


def _write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------------
# configuration


def test_shipped_configs_validate():
    cfgs = {p.stem: load_config(p) for p in sorted(CONFIGS.glob("*.yaml"))}
    assert {"smoke", "clean", "degraded", "speed"} <= set(cfgs)
    clean = cfgs["clean"]
    assert [d.name for d in clean.datasets] == ["TNO25", "RoadScene50", "MSRS91"]
    assert clean.datasets[0].list is not None and clean.datasets[0].list.name == "tno25.txt"
    assert {"EN", "MI", "VIF", "Qabf", "SD", "SF", "SSIM"} <= set(clean.metrics)
    deg = cfgs["degraded"]
    assert len(deg.conditions) == 12 and "clean" not in deg.conditions
    assert {"LL_LC", "LL_SN", "Rain_SN", "vi_haze", "ir_SN"} <= set(deg.conditions)
    assert deg.reference == "clean" and {"VIF", "Qabf", "MI", "NIQE"} <= set(deg.metrics)
    assert any(m.pre_enhance for m in deg.methods)
    assert cfgs["speed"].speed is not None and cfgs["speed"].speed.size == (640, 480)
    assert cfgs["smoke"].docs is None  # the test config never touches docs/BENCHMARKS.md
    for cfg in cfgs.values():  # the pixel-wise max is always beside DSPFusion
        if any(m.type == "dspfusion" for m in cfg.methods):
            assert any(m.type == "baseline" and m.fusion == "max" and not m.pre_enhance for m in cfg.methods)


def test_condition_groups():
    single = expand_conditions(["single"], "x")
    assert len(single) == 9 and single[0] == "vi_Blur" and single[-1] == "ir_SN"
    assert expand_conditions(["clean", "mixed", "LL_SN"], "x") == ("clean", "LL_LC", "LL_SN", "Rain_SN")
    assert len(expand_conditions(["all"], "x")) == 13


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "unknown key(s) colour"),
    ({"conditions": ["vi_Fog"]}, "unknown condition 'vi_Fog'"),
    ({"metrics": ["EN", "Sharpness"]}, "unknown metric 'Sharpness'"),
    ({"methods": [{"name": "a", "type": "baseline", "fusoin": "max"}]}, "unknown key(s) fusoin"),
    ({"methods": [{"name": "a", "type": "baseline", "fusion": "median"}]}, "'fusion' must be one of"),
    ({"methods": [{"name": "a", "type": "dspfusion"}]}, "needs 'checkpoint'"),
    ({"methods": [{"name": "a", "type": "folder", "path": "r/{model}"}]}, "path uses {model}"),
    ({"methods": [{"name": "a", "type": "baseline", "fusion": "max"},
                  {"name": "A", "type": "baseline", "fusion": "dwt"}]}, "repeated: a"),
    ({"methods": [{"name": "a/b", "type": "baseline", "fusion": "max"}]}, "may only use letters"),
    ({"speed": {"size": [640]}}, "size must be [width, height]"),
    ({"reference": "degraded"}, "reference must be"),
    ({"limit": 0}, "limit must be at least 1"),
    ({"docs_figures": ["SSIM"]}, "not in metrics"),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(UserError) as err:
        parse_config(_config(tmp_path, **change), "bench.yaml")
    assert message in str(err.value) and "bench.yaml" in str(err.value)


def test_max_is_added_beside_dspfusion(tmp_path):
    cfg = parse_config(_config(tmp_path), "bench.yaml")
    assert cfg.added_max and cfg.methods[-1].name == "max" and cfg.methods[-1].fusion == "max"
    only_baselines = _config(tmp_path, methods=[{"name": "g", "type": "baseline", "fusion": "guided"}])
    assert not parse_config(only_baselines).added_max


# ---------------------------------------------------------------------------------------------
# inputs


def test_condition_rng_golden_and_order_free():
    # snapshot: the degraded test sets must not change silently between versions
    assert condition_rng(0, "vi_Blur", "01").integers(0, 2**31, 4).tolist() == [114812556, 1007031038, 349887553,
                                                                               906678130]
    assert condition_rng(7, "LL_SN", "FLIR_00211").random(2).tolist() == pytest.approx([0.4630381089712903,
                                                                                        0.12043661242067882])
    assert condition_rng(0, "vi_Blur", "01").random() != condition_rng(0, "vi_Blur", "02").random()
    assert condition_rng(0, "vi_Blur", "01").random() != condition_rng(1, "vi_Blur", "01").random()


def test_list_file_order_missing_entries_and_limit(tmp_path):
    from dspfusion.benchmark.config import DatasetSpec

    _dataset(tmp_path / "d", n=3, h=48, w=64)
    lst = tmp_path / "list.txt"
    lst.write_text("# subset\n02.png\n00\n\n07.png\n", encoding="utf-8")
    pairs, problems = list_pairs(DatasetSpec("d", tmp_path / "d", lst))
    assert [p.stem for p in pairs] == ["02", "00"]
    assert any("'07'" in p for p in problems)
    assert [p.stem for p in list_pairs(DatasetSpec("d", tmp_path / "d"), limit=2)[0]] == ["00", "01"]
    with pytest.raises(UserError, match="not found"):
        list_pairs(DatasetSpec("x", tmp_path / "nowhere"))


def test_load_clean_rejects_unregistered_pair(tmp_path):
    write_image(tmp_path / "ir.png", np.zeros((10, 12), np.uint8))
    write_image(tmp_path / "vi.png", np.zeros((10, 14, 3), np.uint8))
    with pytest.raises(UserError, match="must be registered"):
        load_clean(Pair("x", tmp_path / "ir.png", tmp_path / "vi.png"))


def test_degraded_inputs_are_cached_and_seed_checked(tmp_path):
    from dspfusion.degradations import apply_condition

    _dataset(tmp_path / "d", n=1, h=32, w=48)
    pair = Pair("00", tmp_path / "d" / "ir" / "00.png", tmp_path / "d" / "vi" / "00.png")
    first = InputCache(tmp_path / "cache", seed=3).get("d", "Rain_SN", pair)
    again = InputCache(tmp_path / "cache", seed=3).get("d", "Rain_SN", pair)  # read back from disk
    ir, vi = load_clean(pair)
    ir_d, vi_d, params = apply_condition(ir, vi, "Rain_SN", condition_rng(3, "Rain_SN", "00"))
    for a in (first, again):
        assert np.array_equal(a.ir, ir_d) and np.array_equal(a.vi, vi_d) and np.array_equal(a.vi_clean, vi)
    assert again.params["vi"] == pytest.approx(params["vi"]) and again.ir_path.is_file()
    with pytest.raises(UserError, match="seed 3"):
        InputCache(tmp_path / "cache", seed=4).get("d", "Rain_SN", pair)
    manifest = tmp_path / "cache" / "d" / "Rain_SN" / "manifest.json"  # as if the generator had changed since
    manifest.write_text(manifest.read_text().replace(generator_fingerprint(), "0" * 16), encoding="utf-8")
    with pytest.raises(UserError, match="another version of the degradation generator"):
        InputCache(tmp_path / "cache", seed=3).get("d", "Rain_SN", pair)
    assert InputCache(tmp_path / "cache", seed=3, overwrite=True).get("d", "Rain_SN", pair).ir_path.is_file()


def test_inputs_only_writes_the_degraded_inputs(tmp_path, capsys):
    _dataset(tmp_path / "data", n=1, h=48, w=64)
    cfg = _config(tmp_path, conditions=["clean", "ir_SN"], docs=None, docs_figures=[])
    assert main(["benchmark", str(_write_yaml(tmp_path / "b.yaml", cfg)), "--inputs-only", "--quiet"]) == 0
    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.*"))
    assert [str(p) for p in written] == ["inputs/toy/ir_SN/ir/00.png", "inputs/toy/ir_SN/manifest.json",
                                         "inputs/toy/ir_SN/params/00.json", "inputs/toy/ir_SN/vi/00.png"]
    pair = Pair("00", tmp_path / "data" / "ir" / "00.png", tmp_path / "data" / "vi" / "00.png")
    got = InputCache(tmp_path / "fresh", seed=0).get("toy", "ir_SN", pair)  # regenerated independently
    assert np.array_equal(read_image(tmp_path / "out/inputs/toy/ir_SN/ir/00.png"), got.ir)


# ---------------------------------------------------------------------------------------------
# report and docs sections


def test_tables_bold_the_best_by_direction_and_mark_untrained(tmp_path):
    cfg = parse_config(_config(tmp_path, metrics=["EN", "NIQE"], docs_figures=[],
                               methods=[{"name": "a", "type": "dspfusion", "checkpoint": "tiny-official"},
                                        {"name": "b", "type": "baseline", "fusion": "dwt"}]))
    rows = [{"dataset": "toy", "condition": "clean", "method": m, "image": i, "EN": en, "NIQE": niqe}
            for m, i, en, niqe in (("a", "0", 7.0, 3.0), ("a", "1", 7.2, 5.0), ("b", "0", 6.0, 2.0),
                                   ("b", "1", 6.0, float("nan")), ("max", "0", 7.1, 4.0), ("max", "1", 7.1, 4.0))]
    agg = aggregate(rows, cfg.metrics)
    assert agg[("toy", "clean", "b")]["NIQE"] == (2.0, 0.0, 1)  # NaN values are left out of the mean
    table = dataset_table(cfg, agg, "toy", "clean", {"a": False, "b": None, "max": None}).splitlines()
    assert table[0] == "| method | n | EN ↑ | NIQE ↓ |"
    assert table[2] == "| a † | 2 | **7.100** | 4.000 |"  # tie with max on the printed digits: both bold
    assert table[3] == "| b | 2 | 6.000 | **2.000** |"
    assert table[4] == "| max | 2 | **7.100** | 4.000 |"


def test_docs_sections_replace_only_their_own(tmp_path):
    path = tmp_path / "B.md"
    bdocs.update_section(path, "one", "first body")
    bdocs.update_section(path, "two", "second body")
    bdocs.update_section(path, "one", "new body")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks") and bdocs.sections(text) == ["one", "two"]
    assert "new body" in text and "first body" not in text and "second body" in text
    path.write_text(text.replace(bdocs.end("two"), ""), encoding="utf-8")
    with pytest.raises(UserError, match="malformed"):
        bdocs.update_section(path, "two", "x")
    assert list(tmp_path.iterdir()) == [path]  # no lock or temporary files left beside the docs


# ---------------------------------------------------------------------------------------------
# end to end on a procedural dataset


@pytest.mark.slow
def test_benchmark_end_to_end_resumable(tmp_path, capsys):
    from dspfusion.baselines import fuse_classical
    from dspfusion.metrics import evaluate

    _dataset(tmp_path / "data")
    theirs = tmp_path / "theirs" / "toy"
    for cond in ("clean", "LL_SN"):  # someone else's results: the IR image; one result missing
        for stem in ("00", "01") if cond == "clean" else ("00",):
            (theirs / cond).mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / "data" / "ir" / f"{stem}.png", theirs / cond / f"{stem}.png")
    cfg_path = _write_yaml(tmp_path / "toy.yaml", _config(tmp_path))
    assert main(["benchmark", str(cfg_path), "--quiet"]) == 1  # one item skipped: the missing folder result
    out = tmp_path / "out"
    err = capsys.readouterr().err
    assert "tiny" in err and "no trained weights" in err

    rows = _rows(out / "per_image.csv")
    assert len(rows) == 2 * 2 * 4 - 1 and {r["method"] for r in rows} == {"tiny", "GFF+enh", "theirs", "max"}
    skipped = _rows(out / "skipped.csv")
    assert [(s["method"], s["condition"], s["image"]) for s in skipped] == [("theirs", "LL_SN", "01")]
    assert "no result for '01'" in skipped[0]["reason"]

    # every method saw the cached degraded bytes; results are what the method gives on them
    ir_d = read_image(out / "inputs" / "toy" / "LL_SN" / "ir" / "01.png")
    vi_d = read_image(out / "inputs" / "toy" / "LL_SN" / "vi" / "01.png")
    mx = read_image(out / "results" / "max" / "toy" / "LL_SN" / "01.png")
    assert np.array_equal(mx, fuse_classical(ir_d, vi_d, "max"))
    # full-reference metrics against the CLEAN sources, NIQE on the fused image
    ir_c, vi_c = read_image(tmp_path / "data" / "ir" / "01.png"), read_image(tmp_path / "data" / "vi" / "01.png")
    want = evaluate(mx, ir_d, vi_d, metrics=["EN", "VIF", "Qabf", "NIQE"], ref_ir=ir_c, ref_vi=vi_c)
    row = next(r for r in rows if (r["method"], r["condition"], r["image"]) == ("max", "LL_SN", "01"))
    for k, v in want.items():
        assert float(row[k]) == pytest.approx(v, rel=1e-6)
    against_inputs = evaluate(mx, ir_d, vi_d, metrics=["VIF"])["VIF"]
    assert abs(against_inputs - want["VIF"]) > 1e-3

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| method | n | EN ↑ | VIF ↑ | Qabf ↑ | NIQE ↓ |" in report and "**" in report
    assert "tiny †" in report and "not a real fusion" in report
    assert "| theirs | 1 |" in report  # n says the folder lacked one image
    for p in ("plots/toy-VIF.png", "plots/toy-NIQE.png", "grids/toy-clean.png", "grids/toy-LL_SN.png"):
        assert (out / p).stat().st_size > 1000, p
    doc = (tmp_path / "docs" / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert bdocs.sections(doc) == ["toy"] and f"dspfusion benchmark {cfg_path}" in doc
    assert "](figures/benchmarks/toy/toy-VIF.png)" in doc
    assert (tmp_path / "docs/figures/benchmarks/toy/toy-VIF.png").is_file()
    assert (tmp_path / "docs/figures/benchmarks/toy/grid-toy-clean.png").is_file()

    # resume (the loop alone, no report): nothing recomputed; a deleted result is the only thing recomputed
    cfg = load_config(cfg_path)
    methods = [make_method(s) for s in cfg.methods]
    res = run_quality(cfg, methods, progress=False)
    assert (res.computed, res.evaluated, len(res.rows)) == (0, 0, 15)
    victim = out / "results" / "GFF+enh" / "toy" / "clean" / "00.png"
    before = victim.read_bytes()
    victim.unlink()
    res = run_quality(cfg, methods, progress=False)
    assert (res.computed, res.evaluated) == (1, 1) and victim.read_bytes() == before

    # the same method name with other options is refused, not mixed
    changed = _config(tmp_path)
    changed["methods"][0]["steps"] = 3
    changed_cfg = parse_config(changed, "x.yaml")
    with pytest.raises(UserError, match="--overwrite"):
        run_quality(changed_cfg, [make_method(s) for s in changed_cfg.methods], progress=False)

    # a second benchmark writes its own docs section beside the first
    doc = (tmp_path / "docs" / "BENCHMARKS.md").read_text(encoding="utf-8")
    other = _config(tmp_path, name="other", output=str(tmp_path / "out2"), conditions=["clean"], metrics=["EN"],
                    docs_figures=[], methods=[{"name": "max", "type": "baseline", "fusion": "max"}])
    assert main(["benchmark", str(_write_yaml(tmp_path / "other.yaml", other)), "--quiet"]) == 0
    doc2 = (tmp_path / "docs" / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert bdocs.sections(doc2) == ["toy", "other"] and doc2.startswith(doc.rstrip("\n"))


# ---------------------------------------------------------------------------------------------
# speed


@pytest.mark.slow
def test_speed_measure_counts_parameters_and_flops():
    from dspfusion.benchmark.speed import measure
    from dspfusion.models import build_model

    spec = {"name": "tiny", "type": "dspfusion", "checkpoint": "tiny-official", "device": "cpu", "steps": 2,
            "seed": 0, "stretch": False, "fusion": None, "pre_enhance": False, "path": None, "note": None}
    job = {"spec": spec, "device": "cpu", "warmup": 0, "runs": 1, "threads": None, "condition": "clean",
           "flops": True}
    small = measure({**job, "size": [64, 48]})
    big = measure({**job, "size": [128, 96]})
    assert small["params"] == sum(p.numel() for p in build_model("tiny-official").parameters())
    assert small["trained"] is False and small["ms_median"] > 0 and small["model_ms_median"] > 0
    assert small["peak_mib"] >= small["idle_mib"] > 0
    # convolutions and attention dominate: FLOPs grow with the pixel count (4x), SPDM's token MLP does not
    assert 3.0 < big["gflops"] / small["gflops"] <= 4.0


@pytest.mark.slow
def test_speed_worker_process_and_missing_cuda(tmp_path):
    import torch

    from dspfusion.benchmark.speed import run_speed

    cfg = parse_config({"name": "s", "output": str(tmp_path / "o"),
                        "methods": [{"name": "max", "type": "baseline", "fusion": "max"},
                                    {"name": "r", "type": "folder", "path": str(tmp_path)}],
                        "speed": {"size": [64, 48], "devices": ["cpu", "cuda"], "warmup": 1, "runs": 3,
                                  "threads": 1, "conditions": ["LL_SN"]}})
    rows = run_speed(cfg, progress=False)
    cpu = [r for r in rows if r["device"] == "cpu"]
    assert len(cpu) == 1 and cpu[0]["method"] == "max" and cpu[0]["condition"] == "clean"  # no enhancer: clean
    assert "note" not in cpu[0], cpu[0]
    assert cpu[0]["threads"] == 1 and 0 < cpu[0]["ms_min"] <= cpu[0]["ms_median"] <= cpu[0]["ms_max"]
    if not torch.cuda.is_available():
        assert any(r["device"] == "cuda" and "not available" in r.get("note", "") for r in rows)


# ---------------------------------------------------------------------------------------------
# real data


@pytest.mark.shared
@pytest.mark.slow
def test_smoke_config_on_shared_data(tmp_path):
    need(SHARED / "data" / "test" / "tno42")
    cfg = load_config(CONFIGS / "smoke.yaml", base=REPO).replace(output=tmp_path / "smoke", limit=1,
                                                                  metrics=("EN", "VIF", "NIQE"))
    res = run_benchmark(cfg, command="dspfusion benchmark configs/benchmarks/smoke.yaml", progress=False)
    assert not res.skipped and not res.problems
    assert [p.stem for p in res.pairs["TNO25"]] == ["01"]  # the first name in lists/tno25.txt
    assert len(res.rows) == 2 * 2 and all(np.isfinite(r["NIQE"]) for r in res.rows)
    assert (tmp_path / "smoke" / "inputs" / "TNO25" / "LL_SN" / "vi" / "01.png").is_file()


def test_changed_method_identity_is_refused_until_its_cache_is_deleted(tmp_path):
    """Cached results made by other weights are never mixed in; deleting them (as the error says) is enough."""
    from types import SimpleNamespace

    from dspfusion.benchmark.runner import _check_identity

    cfg = SimpleNamespace(output=tmp_path)

    def method(sha: str) -> SimpleNamespace:
        return SimpleNamespace(name="m", identity=lambda: {"type": "dspfusion", "sha256": sha})

    _check_identity(cfg, method("a"), overwrite=False)
    (tmp_path / "results" / "m").mkdir(parents=True)
    _check_identity(cfg, method("a"), overwrite=False)  # same identity: fine
    with pytest.raises(UserError, match="Rename the method, delete"):
        _check_identity(cfg, method("b"), overwrite=False)
    (tmp_path / "results" / "m").rmdir()  # the fix the message names
    _check_identity(cfg, method("b"), overwrite=False)
    assert "\"b\"" in (tmp_path / "methods" / "m.json").read_text()


def test_recompute_changed_deletes_only_the_changed_methods_cache(tmp_path, capsys):
    """--recompute-changed (what ship.sh passes after installing new weights): the changed method's cached results
    and metric records go, with a note naming them; an unchanged method's cache is kept and the identity is updated."""
    from types import SimpleNamespace

    from dspfusion.benchmark.runner import _check_identity

    cfg = SimpleNamespace(output=tmp_path)

    def method(name: str, sha: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, identity=lambda: {"type": "dspfusion", "sha256": sha})

    for name in ("new", "same"):
        _check_identity(cfg, method(name, "a"), overwrite=False)
        for sub in ("results", "metrics"):
            (tmp_path / sub / name / "D").mkdir(parents=True)
            (tmp_path / sub / name / "D" / "x.png").write_bytes(b"x")
    _check_identity(cfg, method("same", "a"), overwrite=False, recompute_changed=True)
    _check_identity(cfg, method("new", "b"), overwrite=False, recompute_changed=True)
    assert not (tmp_path / "results" / "new").exists() and not (tmp_path / "metrics" / "new").exists()
    assert (tmp_path / "results" / "same" / "D" / "x.png").is_file() and (tmp_path / "metrics" / "same").is_dir()
    assert "\"b\"" in (tmp_path / "methods" / "new.json").read_text()
    err = capsys.readouterr().err
    assert "'new' changed" in err and "'same'" not in err
    _check_identity(cfg, method("new", "b"), overwrite=False)  # the new identity now binds what it computes


def test_probe_refit_keeps_the_cache_a_fusion_change_does_not(tmp_path, capsys):
    """A weights file whose diagnosis probe was refit (other bytes, the same fusion tensors and config) made the same
    fused images: the benchmark keeps its cached results (same files, a note) and records the new identity; a file
    with other fusion tensors is refused as before; a record written before identities carried ``fusion_sha256`` is
    accepted for the same file and upgraded, and refused for another."""
    import json
    import os

    import torch

    from dspfusion.benchmark.methods import fusion_sha256, weights_identity
    from dspfusion.benchmark.runner import _same_fusion
    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    _dataset(tmp_path / "data")
    cfg = get_preset("tiny-official").replace(with_probe=True)
    torch.manual_seed(0)
    model = build_model(cfg)
    ckpt = tmp_path / "m.safetensors"
    save_model(model, ckpt, step=1)
    before = weights_identity(str(ckpt))
    yaml_path = _write_yaml(tmp_path / "b.yaml", {
        "name": "b", "output": str(tmp_path / "out"), "datasets": [{"name": "toy", "root": str(tmp_path / "data")}],
        "conditions": ["LL_SN"], "metrics": ["Qabf"], "grid_images": 0,
        "methods": [{"name": "m", "type": "dspfusion", "checkpoint": str(ckpt), "steps": 2}]})
    assert main(["benchmark", str(yaml_path), "--quiet"]) == 0
    fused = tmp_path / "out" / "results" / "m" / "toy" / "LL_SN" / "00.png"
    stamp = (os.stat(fused).st_ino, os.stat(fused).st_mtime_ns)

    with torch.no_grad():  # a probe refit: other probe tensors, same fusion tensors
        for name, p in model.named_parameters():
            if name.startswith("probe."):
                p.add_(1.0)
    save_model(model, ckpt, step=1)
    after = weights_identity(str(ckpt))
    assert after["sha256"] != before["sha256"] and after["fusion_sha256"] == before["fusion_sha256"]
    capsys.readouterr()
    assert main(["benchmark", str(yaml_path), "--quiet"]) == 0
    assert "diagnosis probe refit" in capsys.readouterr().err
    assert (os.stat(fused).st_ino, os.stat(fused).st_mtime_ns) == stamp  # not fused again
    record = json.loads((tmp_path / "out" / "methods" / "m.json").read_text())
    assert record["weights"]["sha256"] == after["sha256"]

    with torch.no_grad():  # a fusion tensor changes: another model
        next(p for n, p in model.named_parameters() if not n.startswith("probe.")).add_(1e-3)
    save_model(model, ckpt, step=1)
    assert fusion_sha256(ckpt) != after["fusion_sha256"]
    with pytest.raises(UserError, match="Rename the method"):
        from dspfusion.benchmark.runner import _check_identity

        _check_identity(load_config(yaml_path), make_method(load_config(yaml_path).methods[0]), overwrite=False)

    now = {"type": "dspfusion", "steps": 2, "weights": weights_identity(str(ckpt))}
    old = {**now, "weights": {k: v for k, v in now["weights"].items() if k != "fusion_sha256"}}
    assert _same_fusion(old, now)
    assert not _same_fusion({**old, "weights": {**old["weights"], "sha256": "0" * 64}}, now)
    assert not _same_fusion({**now, "steps": 3}, now)
    untrained = {"kind": "untrained preset", "path": None, "sha256": None, "fusion_sha256": None}
    assert not _same_fusion({**now, "weights": untrained}, {**now, "weights": untrained | {"path": "x"}})


def _benchmark_script(name: str):
    """Import ``benchmarks/<name>.py`` (a script folder, not a package) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _benchmark_inputs(run: Path, condition: str, edit=None, pairs: int = 2) -> None:
    """A degraded benchmark run's input folder ``run/RoadScene50/<condition>/{ir,vi}/`` holding the first ``pairs``
    clean RoadScene50 pairs, each image passed through ``edit(modality, image)`` when given (skips without the
    shared data)."""
    src = SHARED / "data" / "test" / "roadscene50"
    need(src)
    names = sorted(p.stem for p in (src / "ir").iterdir())[:pairs]
    folder = run / "RoadScene50" / condition
    for sub in ("ir", "vi"):
        (folder / sub).mkdir(parents=True)
        for n in names:
            img = read_image(next((src / sub).glob(f"{n}.*")))
            write_image(folder / sub / f"{n}.png", edit(sub, img) if edit else img)


def test_compare_wins_reads_one_methods_row_from_two_reports(tmp_path):
    """benchmarks/compare_wins.py: the method's row from each compare_methods report, the change, and the count of
    conditions that went the better way (down where lower is better); ties at 3 decimals are counted apart."""
    mod = _benchmark_script("compare_wins")

    def report(path, qabf, niqe):
        rows = []
        for title, vals in (("A · Qabf (higher is better)", qabf), ("A · NIQE (lower is better)", niqe)):
            rows += [f"### {title}", "", "| method | c1 | c2 | c3 | mean |", "| :-- | --: | --: | --: | --: |",
                     "| other | 9.000 | 9.000 | 9.000 | 9.000 |",
                     "| ours | " + " | ".join(f"{v:.3f}" for v in vals + [sum(vals) / 3]) + " |", ""]
        path.write_text("\n".join(rows))

    report(tmp_path / "old.md", [0.5, 0.5, 0.5], [4.0, 4.0, 4.0])
    report(tmp_path / "new.md", [0.6, 0.5, 0.4], [3.0, 5.0, 3.5])
    text = mod.compare(tmp_path / "old.md", tmp_path / "new.md", "ours", "before", "after")
    assert "after above before in 1 of 3 conditions (equal at 3 decimals in 1)" in text
    assert "after below before in 2 of 3 conditions (equal at 3 decimals in 0)" in text
    assert "| change | +0.100 | +0.000 | -0.100 | +0.000 |" in text
    with pytest.raises(SystemExit, match="no table has a row"):
        mod.compare(tmp_path / "old.md", tmp_path / "new.md", "missing", "a", "b")
    # --new-method: another row of the new report (here "other", all 9.000) against "ours" of the old one
    text = mod.compare(tmp_path / "old.md", tmp_path / "new.md", "ours", "before", "after", new_method="other")
    assert "| change | +8.500 | +8.500 | +8.500 | +8.500 |" in text and "--new-method other" in text
    assert "after above before in 3 of 3 conditions" in text


def test_qabf_terms_reads_degraded_conditions_against_the_clean_sources(tmp_path):
    """benchmarks/qabf_terms.py --conditions: one table per (set, condition), scored against the clean sources. A
    "fused" image that is the clean IR keeps IR's edges (Q_IR > 0.95 > Q_VI, as in test_qabf_terms_recombine_to_qabf),
    whatever condition folder it sits in; the default (clean) title and layout are kept."""
    src = SHARED / "data" / "test" / "roadscene50"
    need(src)
    mod = _benchmark_script("qabf_terms")
    names = sorted(p.stem for p in (src / "ir").iterdir())[:2]
    for cond in ("clean", "ir_LC"):
        folder = tmp_path / "run" / "results" / "copy" / "RoadScene50" / cond
        folder.mkdir(parents=True)
        for n in names:
            ir = read_image(next((src / "ir").glob(f"{n}.*")))
            write_image(folder / f"{n}.png", ir)
    out = tmp_path / "terms.md"
    args = ["--run", str(tmp_path / "run"), "--methods", "copy", "--datasets", "RoadScene50", "--pairs", "2"]
    assert mod.main(args + ["--conditions", "clean", "ir_LC", "--out", str(out)]) == 0
    text = out.read_text()
    assert "(against the clean sources)" in text
    for cond in ("clean", "ir_LC"):
        row = text.split(f"## RoadScene50 · {cond}")[1].split("| copy | ")[1].split(" |")
        assert float(row[1]) > 0.95 > float(row[2])  # Q_IR, Q_VI
    assert mod.main(args + ["--out", str(out)]) == 0
    assert "(clean test pairs)" in out.read_text() and "## RoadScene50\n" in out.read_text()
    with pytest.raises(SystemExit, match="no fused images"):
        mod.main(args + ["--conditions", "vi_Blur", "--out", str(out)])


def test_source_copy_scores_each_input_as_the_fused_image(tmp_path):
    """benchmarks/source_copy.py: each degraded input the run wrote is scored as the fused image against the clean
    sources (the same value as dspfusion.metrics.evaluate gives directly), beside the summary's methods; a copy is
    counted above every method only where it beats all of them; a method missing from the summary is refused."""
    import cv2

    from dspfusion.metrics import evaluate

    mod = _benchmark_script("source_copy")
    data = _dataset(tmp_path / "data")
    cfg = _write_yaml(tmp_path / "cfg.yaml", _config(tmp_path, conditions=["vi_Blur"]))
    run = tmp_path / "out"
    for stem in ("00", "01"):  # a VI-only condition: the IR input is the clean IR, the VI input is blurred
        ir, vi = read_image(data / "ir" / f"{stem}.png"), read_image(data / "vi" / f"{stem}.png")
        write_image(run / "inputs" / "toy" / "vi_Blur" / "ir" / f"{stem}.png", ir)
        write_image(run / "inputs" / "toy" / "vi_Blur" / "vi" / f"{stem}.png", cv2.GaussianBlur(vi, (0, 0), 3))
    (run / "summary.csv").write_text("dataset,condition,method,metric,mean,std,n\n"
                                     "toy,vi_Blur,weak,Qabf,0.1,0,2\ntoy,vi_Blur,strong,Qabf,0.999,0,2\n")
    out = tmp_path / "copy.md"
    args = ["--config", str(cfg), "--run", str(run), "--metrics", "Qabf", "--jobs", "1", "--out", str(out)]
    mod.main(args + ["--methods", "weak"])
    rows = {r["row"]: float(r["mean"]) for r in _rows(out.with_suffix(".csv"))}
    expect = []
    for stem in ("00", "01"):
        ir, vi = read_image(data / "ir" / f"{stem}.png"), read_image(data / "vi" / f"{stem}.png")
        expect.append(evaluate(ir, ir, vi, metrics=["Qabf"], ref_ir=ir, ref_vi=vi)["Qabf"])
    assert rows["IR input (copied)"] == pytest.approx(np.mean(expect), abs=1e-6)
    assert rows["VI input (copied)"] < rows["IR input (copied)"] and rows["weak"] == 0.1
    text = out.read_text()
    assert "* IR input (copied) above every method listed (weak) in 1 of 1 conditions: vi_Blur" in text
    mod.main(args + ["--methods", "weak", "strong"])
    assert "* IR input (copied) above every method listed (weak, strong) in 0 of 1 conditions" in out.read_text()
    with pytest.raises(SystemExit, match="no method absent"):
        mod.main(args + ["--methods", "absent"])
    # --copies-from: the copies' rows of an earlier CSV, the methods' rows of this run's summary
    kept = tmp_path / "kept.csv"
    kept.write_bytes(out.with_suffix(".csv").read_bytes())
    (run / "summary.csv").write_text("dataset,condition,method,metric,mean,std,n\ntoy,vi_Blur,weak,Qabf,0.2,0,2\n")
    reused = tmp_path / "reused.md"
    mod.main(args[:-1] + [str(reused), "--methods", "weak", "--copies-from", str(kept)])
    again = {r["row"]: float(r["mean"]) for r in _rows(reused.with_suffix(".csv"))}
    assert again == {**{k: v for k, v in rows.items() if "copied" in k}, "weak": 0.2}
    with pytest.raises(SystemExit, match="do not match the run's inputs"):
        mod.main(args + ["--methods", "weak", "--copies-from", str(kept), "--limit", "1"])
    with pytest.raises(SystemExit, match="no copies scored with VIF"):
        mod.main(args + ["--methods", "weak", "--copies-from", str(kept), "--metrics", "VIF"])


def test_tone_curves_reports_what_each_curve_does(tmp_path):
    """benchmarks/tone_curves.py: with the IR curve set to x → 2x (gain segment only) and the VI curve left at the
    identity, the IR contrast and mean double and the VI statistics are unchanged; a model without curves is refused
    with a message that says so."""
    from dataclasses import replace

    import torch

    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    _benchmark_inputs(tmp_path / "inputs", "ir_LC")
    mod = _benchmark_script("tone_curves")
    cfg = get_preset("tiny-official")
    torch.manual_seed(0)
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, tone_curve=4)))
    with torch.no_grad():
        model.fusion.curve_ir[-1].bias[1] = 1.0
    ckpt = save_model(model, tmp_path / "curved.safetensors", step=1)
    out = tmp_path / "curves.md"
    args = ["--inputs", str(tmp_path / "inputs"), "--datasets", "RoadScene50", "--conditions", "ir_LC", "--pairs", "2"]
    assert mod.main(["--model", str(ckpt)] + args + ["--out", str(out)]) == 0
    row = [c.strip() for c in out.read_text().splitlines()[-1].split("|")[3:7]]
    (ir_std, ir_std2), (ir_mean, ir_mean2) = [[float(v) for v in c.split(" (")[0].split(" → ")] for c in row[:2]]
    assert ir_std2 == pytest.approx(2 * ir_std, abs=2e-3) and ir_mean2 == pytest.approx(2 * ir_mean, abs=2e-3)
    for cell in row[2:]:
        a, b = cell.split(" (")[0].split(" → ")
        assert a == b
    save_model(build_model(cfg), tmp_path / "plain.safetensors", step=1)
    with pytest.raises(SystemExit, match="no tone curves"):
        mod.main(["--model", str(tmp_path / "plain.safetensors")] + args)


def test_tiling_passes_prints_one_row_per_pass_count(capsys):
    """benchmarks/tiling_passes.py: one "passes | mean | max | seam" row per requested pass count, with the setup of
    test_trained_weights_tiled_match_untiled (here on the untrained tiny preset, which it runs in seconds)."""
    mod = _benchmark_script("tiling_passes")
    assert mod.main(["--model", "tiny-official", "--passes", "0", "2"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r[:1].isdigit()]
    assert [r.split(" | ")[0] for r in rows] == ["0", "2"]
    for r in rows:
        mean, mx, seam = (float(v) for v in r.split(" | ")[1:])
        assert 0 <= mean <= mx <= 255 and seam >= 0


def test_input_gates_reports_the_gates_and_the_stripe_residual(tmp_path):
    """benchmarks/input_gates.py: with the destriping gate's bias at 1 (g = 1 for every input), column offsets added
    to two clean RoadScene50 IR images are mostly removed (the residual falls), the clean pairs have no residual
    before the subtraction; with sharpening gains biased to (0.5, 0.25, -0.5) those are the reported gains; a model
    with neither is refused with a message that says so."""
    from dataclasses import replace

    import numpy as np
    import torch

    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    rng = np.random.default_rng(0)

    def stripe(sub, img):
        if sub != "ir":
            return img
        stripes = rng.normal(0, 8, size=(1, img.shape[1]) + img.shape[2:])  # grey levels, down each column
        return np.clip(img.astype(np.float64) + stripes, 0, 255).round().astype(np.uint8)

    _benchmark_inputs(tmp_path / "inputs", "ir_SN", stripe)
    mod = _benchmark_script("input_gates")
    cfg = get_preset("tiny-official")
    torch.manual_seed(0)
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, destripe=True, sharpen=True)))
    with torch.no_grad():
        model.fusion.destripe_gate[-1].bias.fill_(1.0)
        model.fusion.sharpen_gain[-1].bias.copy_(torch.tensor([0.5, 0.25, -0.5]))
    ckpt = save_model(model, tmp_path / "gated.safetensors", step=1)
    out = tmp_path / "gate.md"
    args = ["--inputs", str(tmp_path / "inputs"), "--datasets", "RoadScene50", "--conditions", "clean", "ir_SN",
            "--pairs", "2"]
    assert mod.main(["--model", str(ckpt)] + args + ["--out", str(out)]) == 0
    rows = {r.split("|")[2].strip(): [c.strip() for c in r.split("|")[3:9]] for r in out.read_text().splitlines()
            if r.startswith("| RoadScene50")}
    for cond in ("clean", "ir_SN"):
        assert rows[cond][0] == "2" and rows[cond][1].startswith("1.000 (1.000 / 1.000)")
        assert rows[cond][3:] == ["0.500", "0.250", "-0.500"]
    before, after = (float(v) for v in rows["ir_SN"][2].split(" → "))
    assert before > 5 and after < before / 2
    assert float(rows["clean"][2].split(" → ")[0]) == 0
    save_model(build_model(cfg), tmp_path / "plain.safetensors", step=1)
    with pytest.raises(SystemExit, match="neither a destriping gate nor sharpening gains"):
        mod.main(["--model", str(tmp_path / "plain.safetensors")] + args)


def test_prior_oracle_compares_the_restored_and_the_clean_semantic_prior(tmp_path, monkeypatch):
    """benchmarks/prior_oracle.py: the two fusions differ only by the semantic prior (an SPDM that returns the clean
    pair's prior makes them equal); the table has one row per model and condition whose gap is the difference of its
    two Qabf columns; a model without priors is refused."""
    import torch

    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    _benchmark_inputs(tmp_path / "inputs", "vi_LL", lambda sub, img: img // 3 if sub == "vi" else img)
    mod = _benchmark_script("prior_oracle")
    cfg = get_preset("tiny-official")
    torch.manual_seed(0)
    model = build_model(cfg)
    ckpt = save_model(model, tmp_path / "m.safetensors", step=7)
    ir = torch.rand(1, 3, 30, 44)
    vi = torch.rand(1, 3, 30, 44)
    (a, b), (d_spdm, d_lq) = mod.fuse_both(model, ir * 0.3, vi * 0.3, ir, vi)
    assert a.shape == b.shape == (1, 3, 30, 44) and not torch.equal(a, b)
    assert d_spdm > 0 and d_lq > 0
    pm = model.config.fusion.pad_multiple
    oracle = model.semantic(mod.pad_to_multiple(ir, pm), mod.pad_to_multiple(vi, pm))
    lq = model.semantic(mod.pad_to_multiple(ir * 0.3, pm), mod.pad_to_multiple(vi * 0.3, pm))
    assert d_lq == pytest.approx(float((lq - oracle).abs().mean()), rel=1e-5)
    monkeypatch.setattr(model.diffusion, "sample", lambda *args, **kw: oracle)
    (a, b), (d_spdm, _) = mod.fuse_both(model, ir * 0.3, vi * 0.3, ir, vi)
    assert torch.equal(a, b) and d_spdm == 0
    monkeypatch.undo()
    out = tmp_path / "oracle.md"
    args = ["--inputs", str(tmp_path / "inputs"), "--datasets", "RoadScene50", "--conditions", "vi_LL", "--pairs", "2"]
    assert mod.main(["--model", f"one={ckpt}", f"two={ckpt}"] + args + ["--out", str(out)]) == 0
    rows = [r.split("|")[1:-1] for r in out.read_text().splitlines() if r.startswith("| one") or r.startswith("| two")]
    assert [r[0].strip() for r in rows] == ["one", "two"] and "step 7" in out.read_text()
    for r in rows:
        spdm, clean, gap = (float(c) for c in r[4:7])
        assert r[3].strip() == "2" and 0 <= spdm <= 1 and 0 <= clean <= 1
        assert gap == pytest.approx(clean - spdm, abs=1.5e-3)
        assert 0 <= int(r[7]) <= 2 and float(r[8]) > 0 and float(r[9]) > 0
    assert rows[0][4:] == rows[1][4:]  # the same weights, the same seed: the same numbers
    save_model(build_model(cfg.replace(use_priors=False)), tmp_path / "noprior.safetensors", step=1)
    with pytest.raises(SystemExit, match="without priors"):
        mod.main(["--model", f"np={tmp_path / 'noprior.safetensors'}"] + args)


def test_prior_scale_fuses_with_priors_from_a_shrunk_copy(tmp_path):
    """benchmarks/prior_scale.py: ``full`` is what the model's forward computes; a copy no smaller than the image
    changes nothing; a smaller one changes the fusion (sem@S through the semantic prior alone); the table has one
    row per setting, the first one's change zero; bad settings and a model without priors are refused."""
    import torch

    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    mod = _benchmark_script("prior_scale")
    assert mod.parse_setting("full") == ("full", None) and mod.parse_setting("sem@256") == ("sem", 256)
    for bad in ("sem", "half@256", "all@x"):
        with pytest.raises(argparse.ArgumentTypeError, match="full, sem@SIDE, all@SIDE, mix@SIDE or semd@SIDE"):
            mod.parse_setting(bad)
    cfg = get_preset("tiny-official")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    ir, vi = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 40, 56)
    full, same, sem, every = mod.fuse_settings(model, ir, vi, ["full", "sem@64", "sem@24", "all@24"])
    with torch.no_grad():
        ref = model(ir, vi, noise=model.initial_noise(1, seed=0))
    assert full.shape == (1, 3, 40, 56) and torch.allclose(full, ref, atol=1e-6)
    assert torch.equal(full, same) and not torch.equal(full, sem) and not torch.equal(sem, every)
    assert mod.parse_setting("mix@24") == ("mix", 24)
    with torch.no_grad():  # mix@S: the full pair's DPEN priors, the mean of the two semantic priors
        p_full = model.compute_priors(ir, vi, noise=model.initial_noise(1, seed=0))
        p_small = model.compute_priors(mod.prior_image(ir, 24, 8), mod.prior_image(vi, 24, 8),
                                       noise=model.initial_noise(1, seed=0))
        ref_mix = model.fuse_with_priors(ir, vi, dataclasses.replace(p_full, sem=(p_full.sem + p_small.sem) / 2))
    (mix,) = mod.fuse_settings(model, ir, vi, ["mix@24"])
    assert torch.allclose(mix, ref_mix, atol=1e-6) and not torch.equal(mix, full) and not torch.equal(mix, sem)
    with torch.no_grad():  # semd@S: SPEN of the copy, restored by SPDM under the full pair's DPEN priors
        sem_d = model.restore_semantic_prior(model.initial_noise(1, seed=0), p_small.sem_lq, p_full.deg_ir,
                                             p_full.deg_vi)
        ref_d = model.fuse_with_priors(ir, vi, dataclasses.replace(p_full, sem=sem_d))
    (semd,) = mod.fuse_settings(model, ir, vi, ["semd@24"])
    assert torch.allclose(semd, ref_d, atol=1e-6) and not torch.equal(semd, sem) and not torch.equal(semd, full)
    _benchmark_inputs(tmp_path / "inputs", "vi_LL", lambda sub, img: img // 3 if sub == "vi" else img)
    ckpt = save_model(model, tmp_path / "m.safetensors", step=7)
    out = tmp_path / "scale.md"
    args = ["--inputs", str(tmp_path / "inputs"), "--datasets", "RoadScene50", "--conditions", "vi_LL", "--pairs", "2"]
    assert mod.main(["--model", f"one={ckpt}", "--settings", "full", "sem@64", "all@64"] + args + ["--out", str(out)]) == 0
    rows = [r.split("|")[1:-1] for r in out.read_text().splitlines() if r.startswith("| one")]
    assert [r[4].strip() for r in rows] == ["full", "sem@64", "all@64"] and "step 7" in out.read_text()
    assert float(rows[0][6]) == 0 and all(r[3].strip() == "2" and 0 <= float(r[5]) <= 1 for r in rows)
    save_model(build_model(cfg.replace(use_priors=False)), tmp_path / "noprior.safetensors", step=1)
    with pytest.raises(SystemExit, match="without priors"):
        mod.main(["--model", f"np={tmp_path / 'noprior.safetensors'}"] + args)


def test_grey_vi_reports_colour_and_grey_rows(tmp_path):
    """benchmarks/grey_vi.py: one colour and one grey row per colour set, one row for TNO25 (grey as stored), for
    each model and the max baseline; max fusion of a grey VI scores as the metrics say it does on the luma inputs."""
    need(SHARED / "data" / "test" / "roadscene50")
    need(SHARED / "data" / "test" / "tno42")
    mod = _benchmark_script("grey_vi")
    ir, vi = mod.load("RoadScene50", mod.stems_of("RoadScene50", 1)[0], grey=True)
    assert vi.ndim == 2 and vi.shape == ir.shape
    out = tmp_path / "grey.md"
    assert mod.main(["--model", "tiny=tiny-official", "--datasets", "RoadScene50", "TNO25", "--pairs", "1",
                     "--out", str(out)]) == 0
    rows = [[c.strip() for c in r.split("|")[1:-1]] for r in out.read_text().splitlines()
            if r.startswith("| RoadScene50") or r.startswith("| TNO25")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("RoadScene50", "colour", "tiny"), ("RoadScene50", "colour", "max"),
        ("RoadScene50", "grey (luma)", "tiny"), ("RoadScene50", "grey (luma)", "max"),
        ("TNO25", "grey (as stored)", "tiny"), ("TNO25", "grey (as stored)", "max")]
    from dspfusion.baselines import fuse_classical
    from dspfusion.metrics import evaluate

    want = evaluate(fuse_classical(ir, vi, "max"), ir, vi, metrics=["Qabf"])["Qabf"]
    assert float(rows[3][4]) == pytest.approx(want, abs=6e-4)
    assert all(0 <= float(r[4]) <= 1 for r in rows)
    with pytest.raises(SystemExit, match="NAME=CHECKPOINT"):
        mod.main(["--model", "tiny-official", "--pairs", "1"])


def test_day_night_splits_msrs_frames_and_gaps_to_the_best_baseline(tmp_path):
    """benchmarks/day_night.py: MSRS frames ending in D / N are averaged apart per method and condition; the gap row
    is the candidate minus the best "+enh" method of that period; sets without D/N names are left out."""
    mod = _benchmark_script("day_night")
    rows = ["dataset,condition,method,image,VIF,Qabf,MI,NIQE,seconds"]
    vals = {("ours", "1D"): 0.6, ("ours", "2D"): 0.4, ("ours", "3N"): 0.3,
            ("a+enh", "1D"): 0.4, ("a+enh", "2D"): 0.4, ("a+enh", "3N"): 0.5,
            ("b+enh", "1D"): 0.45, ("b+enh", "2D"): 0.45, ("b+enh", "3N"): 0.2}
    for (m, img), v in vals.items():
        rows.append(f"MSRS91,vi_Blur,{m},{img},0,{v},0,0,0")
        rows.append(f"RoadScene50,vi_Blur,{m},FLIR_{img[0]},0,{v},0,0,0")
    path = tmp_path / "per_image.csv"
    path.write_text("\n".join(rows) + "\n")
    text = mod.report(mod.load(path, "Qabf"), "ours", [], "+enh", "Qabf")
    assert "MSRS91 · Qabf by day and night (2 day, 1 night frames)" in text
    assert "RoadScene50" not in text
    assert "| ours | day | 0.500 | 0.500 |" in text
    assert "| ours − best `*+enh` | day | +0.050 | +0.050 |" in text
    assert "| ours − best `*+enh` | night | -0.200 | -0.200 |" in text
    with pytest.raises(SystemExit, match="no method 'missing'"):
        mod.report(mod.load(path, "Qabf"), "missing", [], "+enh", "Qabf")
    with pytest.raises(SystemExit, match="no column"):
        mod.load(path, "SSIM")


def test_written_inputs_reads_a_runs_degraded_pairs_back_in_order(tmp_path):
    """dspfusion.benchmark.inputs.written_inputs: every <dataset>/<condition>/{ir,vi}/<stem>.png under the inputs
    folder, sorted, read as the harness reads them (grey IR, RGB VI); manifests and params are skipped; a missing
    folder is a UserError that says what writes it."""
    from dspfusion.benchmark.inputs import written_inputs
    from dspfusion.io import write_image

    rng = np.random.default_rng(0)
    made = {}
    for ds, cond, stem in [("B", "vi_LL", "2"), ("A", "ir_SN", "9"), ("A", "ir_SN", "1"), ("A", "clean", "5")]:
        ir = rng.integers(0, 256, (8, 12), dtype=np.uint8)
        vi = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
        write_image(tmp_path / ds / cond / "ir" / f"{stem}.png", ir)
        write_image(tmp_path / ds / cond / "vi" / f"{stem}.png", vi)
        (tmp_path / ds / cond / "manifest.json").write_text("{}")
        made[ds, cond, stem] = ir, vi
    got = list(written_inputs(tmp_path))
    assert [g[:3] for g in got] == [("A", "clean", "5"), ("A", "ir_SN", "1"), ("A", "ir_SN", "9"), ("B", "vi_LL", "2")]
    for ds, cond, stem, ir, vi in got:
        assert np.array_equal(ir, made[ds, cond, stem][0]) and np.array_equal(vi, made[ds, cond, stem][1])
    with pytest.raises(UserError, match="run the benchmark config first"):
        list(written_inputs(tmp_path / "missing"))


def test_written_inputs_reports_each_condition_once_its_pairs_are_taken(tmp_path, capsys):
    """written_inputs(progress=True) prints "<dataset> <condition>" after the caller has taken that condition's last
    pair, as the experiment scripts' own loops did."""
    from dspfusion.benchmark.inputs import written_inputs
    from dspfusion.io import write_image

    for ds, cond, stem in [("A", "ir_SN", "1"), ("A", "ir_SN", "2"), ("B", "clean", "3")]:
        write_image(tmp_path / ds / cond / "ir" / f"{stem}.png", np.zeros((4, 4), np.uint8))
        write_image(tmp_path / ds / cond / "vi" / f"{stem}.png", np.zeros((4, 4), np.uint8))
    seen = []
    for ds, cond, stem, _, _ in written_inputs(tmp_path, progress=True):
        seen.append((stem, capsys.readouterr().out))
    assert seen == [("1", ""), ("2", ""), ("3", "A ir_SN\n")]
    assert capsys.readouterr().out == "B clean\n"
    list(written_inputs(tmp_path))
    assert capsys.readouterr().out == ""


def test_write_or_print_writes_atomically_or_prints(tmp_path, capsys):
    from dspfusion.io import write_or_print

    write_or_print("table\n", tmp_path / "new" / "r.md")
    assert (tmp_path / "new" / "r.md").read_text() == "table\n"
    assert capsys.readouterr().out == f"wrote {tmp_path / 'new' / 'r.md'}\n"
    write_or_print("table", None)
    assert capsys.readouterr().out == "table\n"


def test_training_time_sums_seconds_per_step_over_both_stages(tmp_path):
    """benchmarks/training_time.py: each log row's s_per_step covers the steps since the previous row of its stage;
    Stage II restarts its step count; the chain's total is the sum over runs, and the shipped chain's logs give the
    76,500 steps the README states."""
    mod = _benchmark_script("training_time")
    log = tmp_path / "run_log.csv"
    log.write_text("stage,step,lr,loss,s_per_step\n1,10,0,1,0.5\n1,30,0,1,0.25\n2,10,0,1,1.0\n")
    secs, steps = mod.run_seconds(log)
    assert steps == 40 and secs == pytest.approx(10 * 0.5 + 20 * 0.25 + 10 * 1.0)
    with pytest.raises(SystemExit, match="no such log"):
        mod.main(["no-such-run"])
    chain = ("lite lite2 lite3 lite4 lite6 lite7 lite8 lite11 lite14 lite15b lite17 lite18 lite19c lite20 lite21 "
             "lite22 lite23 lite24u lite26 lite27 lite41 lite45 lite48 lite52 lite53 lite54 lite57 lite59 lite60 "
             "lite61").split()
    assert sum(mod.run_seconds(mod.LOGS / f"{n}_log.csv")[1] for n in chain) == 76_500


def test_training_report_finds_a_runs_markers_in_any_training_doc(tmp_path):
    """benchmarks/training_report.py: a run's report is rewritten in whichever training doc holds its markers (the
    first of TRAINING.md, EXPERIMENTS.md, TRAINING_REPORTS.md), and a new run goes to TRAINING_REPORTS.md; every
    report of the repository's docs is found in exactly one of them."""
    mod = _benchmark_script("training_report")
    (tmp_path / "TRAINING.md").write_text("<!-- BEGIN training:a -->\nold\n<!-- END training:a -->\n")
    (tmp_path / "EXPERIMENTS.md").write_text("<!-- BEGIN training:b -->\nold\n<!-- END training:b -->\n")
    (tmp_path / "TRAINING_REPORTS.md").write_text("<!-- BEGIN training:c -->\n")  # an unclosed section is not one
    for name, doc in (("a", "TRAINING.md"), ("b", "EXPERIMENTS.md"), ("c", "TRAINING_REPORTS.md"),
                      ("new", "TRAINING_REPORTS.md")):
        assert mod.report_doc(tmp_path, f"<!-- BEGIN training:{name} -->", f"<!-- END training:{name} -->") \
            == tmp_path / doc
    docs = REPO / "docs"
    texts = {name: (docs / name).read_text() for name in mod.DOCS}
    for name in ("lite", "lite_noprior", "noprior41", "lite4", "lite41", "lite43"):
        holders = [d for d, t in texts.items() if f"<!-- BEGIN training:{name} -->" in t]
        assert len(holders) == 1, (name, holders)


def test_training_report_places_a_new_run_first():
    """benchmarks/training_report.py: an existing section is replaced in place (the text around it kept), and a new
    run's section goes before the first ``## `` section (TRAINING_REPORTS.md is newest first), headed with its name
    and title; a text without sections gets it at the end."""
    mod = _benchmark_script("training_report")
    intro = "# Training reports\n\nIntro.\n\n"
    old = "## `a` (old run)\n\n<!-- BEGIN training:a -->\nold\n<!-- END training:a -->\n"
    text = intro + old
    body_a = "<!-- BEGIN training:a -->\nnew\n<!-- END training:a -->"
    assert mod.place_section(text, "a", body_a) == intro + old.replace("\nold\n", "\nnew\n")
    body_b = "<!-- BEGIN training:b -->\nreport\n<!-- END training:b -->"
    placed = mod.place_section(text, "b", body_b, "a test run")
    assert placed == intro + "## `b` (a test run)\n\n" + body_b + "\n\n" + old
    assert placed.index("training:b") < placed.index("training:a")
    assert mod.place_section(placed, "b", body_b.replace("report", "again")).count("training:b -->") == 2
    assert mod.place_section("# Reports\n", "b", body_b) == "# Reports\n\n## `b`\n\n" + body_b + "\n"


def test_paired_differences_bootstrap_verdicts(tmp_path):
    """benchmarks/paired_differences.py: the paired difference favours the candidate when positive (sign flipped for
    lower-is-better metrics), its bootstrap interval decides above / below / unresolved, best:<suffix> picks the
    suffix's best mean per condition, and the seeded interval is reproducible."""
    mod = _benchmark_script("paired_differences")
    rng = np.random.default_rng(3)
    rows = ["dataset,condition,method,image,Qabf,NIQE"]
    for cond in ("a", "b"):
        for i in range(40):
            base = rng.uniform(0.3, 0.7)
            noise = rng.normal(0, 0.02)
            cand = base + (0.05 if cond == "a" else noise)
            vals = {"ours": cand, "weak+enh": base - 0.1, "strong+enh": base, "rival": base + 0.05}
            for m, v in vals.items():
                rows.append(f"D,{cond},{m},img{i},{v:.6f},{-v:.6f}")
    path = tmp_path / "per_image.csv"
    path.write_text("\n".join(rows) + "\n")
    scores = mod.load(path, "Qabf")
    out = {(r["condition"], r["rival"]): r for r in mod.compare(scores, "ours", ["best:+enh", "rival"], resamples=2000)}
    assert out["a", "best:+enh"]["method"] == "strong+enh"
    assert out["a", "best:+enh"]["verdict"] == "above" and out["a", "best:+enh"]["diff"] == pytest.approx(0.05, abs=1e-5)
    assert out["a", "rival"]["verdict"] == "unresolved" and out["a", "rival"]["wins"] == 0
    assert out["b", "rival"]["verdict"] == "below" and out["b", "rival"]["lo"] < out["b", "rival"]["hi"] < 0
    assert out["b", "best:+enh"]["verdict"] == "unresolved"  # zero-mean noise
    flipped = mod.compare(mod.load(path, "NIQE"), "ours", ["best:+enh"], higher=False, resamples=2000)
    assert [r["verdict"] for r in flipped] == ["above", "unresolved"]  # NIQE = −Qabf here: lower favours ours
    again = mod.compare(scores, "ours", ["best:+enh", "rival"], resamples=2000)
    assert again == mod.compare(scores, "ours", ["best:+enh", "rival"], resamples=2000)
    with pytest.raises(SystemExit, match="no method"):
        mod.compare(scores, "ours", ["nobody"])
    with pytest.raises(SystemExit, match="no column"):
        mod.load(path, "VIF")
    md = tmp_path / "p.md"
    mod.main([str(path), "--candidate", "ours", "--against", "best:+enh", "--out", str(md), "--resamples", "500"])
    text = md.read_text()
    assert "best:+enh (strong+enh)" in text and "above in 1, unresolved in 1, below in 0 of 2" in text


def test_reuse_results_links_a_checked_candidates_results_under_the_installed_name(tmp_path):
    """benchmarks/reuse_results.py: a candidate's fused images from one cache are hard-linked under another method
    name of another cache when the weights hold the same fusion tensors (the probe may differ: a refit) and the
    inputs are the same files; the benchmark then reuses them (same inode after the run) and its Qabf equals the
    source's; other weights, or inputs that are not the same files, are refused before anything is written."""
    import os

    import torch

    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import build_model

    mod = _benchmark_script("reuse_results")
    _dataset(tmp_path / "data")
    cfg = get_preset("tiny-official").replace(with_probe=True)
    torch.manual_seed(0)
    model = build_model(cfg)
    save_model(model, tmp_path / "a.safetensors", step=1)
    assert any(name.startswith("probe.") for name, _ in model.named_parameters())
    with torch.no_grad():  # b: the same model with a refit probe (other probe tensors, as fit_probe.py --install)
        for name, p in model.named_parameters():
            if name.startswith("probe."):
                p.add_(1.0)
    save_model(model, tmp_path / "b.safetensors", step=2)
    torch.manual_seed(1)
    save_model(build_model(cfg), tmp_path / "c.safetensors", step=1)

    def config(out: str, name: str, ckpt: str, metrics: list[str]) -> Path:
        return _write_yaml(tmp_path / f"{out}.yaml", {
            "name": out, "output": str(tmp_path / out), "datasets": [{"name": "toy", "root": str(tmp_path / "data")}],
            "conditions": ["LL_SN"], "metrics": metrics, "grid_images": 0,
            "methods": [{"name": name, "type": "dspfusion", "checkpoint": str(tmp_path / ckpt), "steps": 2}]})

    assert main(["benchmark", str(config("A", "cand", "a.safetensors", ["Qabf"])), "--quiet"]) == 0
    shutil.copytree(tmp_path / "A" / "inputs", tmp_path / "B" / "inputs", copy_function=os.link)
    shutil.copytree(tmp_path / "A" / "inputs", tmp_path / "C" / "inputs")  # same bytes, other files
    with pytest.raises(SystemExit, match="fusion tensors"):
        mod.main(["--config", str(config("B", "shipped", "c.safetensors", ["Qabf"])), "--source",
                  str(tmp_path / "A"), "--map", "cand=shipped"])
    with pytest.raises(SystemExit, match="inputs differ"):
        mod.main(["--config", str(config("C", "shipped", "b.safetensors", ["Qabf"])), "--source",
                  str(tmp_path / "A"), "--map", "cand=shipped"])
    with pytest.raises(SystemExit, match="holds no results of a method 'other'"):
        mod.main(["--config", str(config("B", "shipped", "b.safetensors", ["Qabf"])), "--source",
                  str(tmp_path / "A"), "--map", "other=shipped"])
    assert not (tmp_path / "B" / "results").exists() and not (tmp_path / "C" / "results").exists()

    cfg_b = config("B", "shipped", "b.safetensors", ["Qabf", "VIF"])
    mod.main(["--config", str(cfg_b), "--source", str(tmp_path / "A"), "--map", "cand=shipped"])
    assert main(["benchmark", str(cfg_b), "--quiet"]) == 0
    for stem in ("00", "01"):
        src = tmp_path / "A" / "results" / "cand" / "toy" / "LL_SN" / f"{stem}.png"
        dst = tmp_path / "B" / "results" / "shipped" / "toy" / "LL_SN" / f"{stem}.png"
        assert os.stat(src).st_ino == os.stat(dst).st_ino
    qa = {r["image"]: r["Qabf"] for r in _rows(tmp_path / "A" / "per_image.csv") if r["method"] == "cand"}
    rows_b = [r for r in _rows(tmp_path / "B" / "per_image.csv") if r["method"] == "shipped"]
    assert {r["image"]: r["Qabf"] for r in rows_b} == qa and all(float(r["VIF"]) > 0 for r in rows_b)

    # a classical baseline (no weights) is reused by its options alone; other options are refused
    def baseline(out: str, pre_enhance: bool) -> Path:
        return _write_yaml(tmp_path / f"{out}.yaml", {
            "name": out, "output": str(tmp_path / out), "datasets": [{"name": "toy", "root": str(tmp_path / "data")}],
            "conditions": ["LL_SN"], "metrics": ["Qabf"], "grid_images": 0,
            "methods": [{"name": "base", "type": "baseline", "fusion": "max", "pre_enhance": pre_enhance}]})

    assert main(["benchmark", str(baseline("D", True)), "--quiet"]) == 0
    for out in ("E", "F"):
        shutil.copytree(tmp_path / "D" / "inputs", tmp_path / out / "inputs", copy_function=os.link)
    with pytest.raises(SystemExit, match="pre_enhance"):
        mod.main(["--config", str(baseline("F", False)), "--source", str(tmp_path / "D"), "--map", "base=base"])
    mod.main(["--config", str(baseline("E", True)), "--source", str(tmp_path / "D"), "--map", "base=base"])
    assert main(["benchmark", str(baseline("E", True)), "--quiet"]) == 0
    src = tmp_path / "D" / "results" / "base" / "toy" / "LL_SN" / "00.png"
    assert os.stat(src).st_ino == os.stat(tmp_path / "E" / "results" / "base" / "toy" / "LL_SN" / "00.png").st_ino
