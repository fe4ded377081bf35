"""Interoperability with the official implementation: same weights → same numbers.

Golden data (../shared/golden/official_dspfusion) was produced by the official
code (Linfeng-Tang/DSPFusion @ 84129eb) with a small random checkpoint in the
release layout. Agreement to 1e-5 on every tensor and ±1 grey level on the PNG
is what "the same system" means.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dspfusion import official
from dspfusion.checkpoint import load_model
from dspfusion.cli import main
from dspfusion.config import get_preset
from dspfusion.inference import pad_to_multiple
from dspfusion.io import read_image
from dspfusion.models import build_model, count_parameters

CASES = [("case48x72", 99), ("case45x70", 7)]
TOL = 1e-5


@pytest.fixture(scope="module")
def tiny(request):
    from conftest import GOLDEN_OFFICIAL, need

    model, info = load_model(need(GOLDEN_OFFICIAL / "tiny"))
    return model


def test_config_inferred_from_shapes(golden_official):
    sds = official.read_official_folder(golden_official / "tiny")
    cfg = official.infer_config(sds)
    assert cfg == get_preset("tiny-official")
    want = json.loads((golden_official / "tiny" / "config.json").read_text())["config"]
    assert cfg.fusion.dim == want["g"]["dim"]
    assert list(cfg.fusion.num_blocks) == want["g"]["num_blocks"]
    assert cfg.fusion.num_refinement_blocks == want["g"]["num_refinement_blocks"]
    assert cfg.fusion.sem_dim == 4 * want["g"]["embed_dim"]
    assert cfg.fusion.deg_dim == 4 * want["g"]["type_embed_dim"]


@pytest.mark.parametrize("case,seed", CASES)
def test_every_tensor_reproduced(tiny, golden_official, case, seed):
    t = torch.load(golden_official / case / "tensors.pt", map_location="cpu", weights_only=True)
    assert int(t["seed"]) == seed
    h, w = t["ir"].shape[-2:]
    ir, vi = pad_to_multiple(t["ir"]), pad_to_multiple(t["vi"])
    noise = tiny.initial_noise(1, seed=seed)
    assert torch.equal(noise, t["diffusion_noise"])
    with torch.no_grad():
        pri = tiny.compute_priors(ir, vi, noise=noise)
        cond = torch.cat([pri.sem_lq, pri.deg_ir, pri.deg_vi], dim=-1)
        got = {
            "deg_prior_ir": pri.deg_ir,
            "deg_prior_vi": pri.deg_vi,
            "deg_type_ir": pri.type_ir[0],
            "deg_type_vi": pri.type_vi[0],
            "sem_prior_lq": pri.sem_lq,
            "denoiser_out_t9": tiny.diffusion.denoiser(noise, 9, cond),
            "sem_prior_restored": pri.sem,
            "fused": tiny.fuse_with_priors(ir, vi, pri)[..., :h, :w],
            "fused_with_lq_sem_prior": tiny.fusion(ir, vi, pri.deg_ir, pri.deg_vi, pri.sem_lq)[..., :h, :w],
        }
    for key, value in got.items():
        ref = t[key]
        assert value.shape == ref.shape, key
        err = (value - ref).abs().max().item()
        assert err <= TOL, f"{case}/{key}: max abs error {err:.3g} > {TOL}"


def test_schedule_tables(tiny, golden_official):
    t = torch.load(golden_official / "case48x72" / "tensors.pt", map_location="cpu", weights_only=True)
    sched = tiny.diffusion.schedule
    assert torch.allclose(sched.betas, t["schedule_betas"].double(), atol=1e-6)
    c = [sched.posterior_coefs(i, i - 1) for i in range(10)]
    assert np.allclose([x[0] for x in c], t["posterior_mean_coef1"].double().numpy(), atol=1e-6)
    assert np.allclose([x[1] for x in c], t["posterior_mean_coef2"].double().numpy(), atol=1e-6)


@pytest.mark.parametrize("case,seed", CASES)
def test_cli_reproduces_fused_png(golden_official, tmp_path, case, seed):
    d = golden_official / case
    out = tmp_path / "x.png"
    rc = main(["fuse", "--checkpoint", str(golden_official / "tiny"), "--ir", str(d / "ir.png"), "--vi", str(d / "vi.png"),
               "--out", str(out), "--seed", str(seed), "--device", "cpu", "--quiet"])
    assert rc == 0
    got, ref = read_image(out).astype(int), read_image(d / "fused.png").astype(int)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1


def test_paper_preset_maps_onto_official_keys(golden_official):
    spec = json.loads((golden_official / "paper_config_state_dict_shapes.json").read_text())
    model = build_model("paper")
    assert count_parameters(model) == 14_012_189 == sum(spec["state_dict_shapes"]["param_counts"].values())
    for comp, stem in official.COMPONENT_FILES.items():
        ref = spec["state_dict_shapes"][stem]
        mapping = official.key_map(model, comp)
        assert set(mapping) == set(ref), f"{stem}: {sorted(set(mapping) ^ set(ref))[:5]}"
        ours = getattr(model, comp).state_dict()
        for off, k in mapping.items():
            assert list(ours[k].shape) == ref[off], off
        assert count_parameters(getattr(model, comp)) == spec["state_dict_shapes"]["param_counts"][stem]


def test_official_roundtrip_export(tiny, tmp_path):
    official.export_official(tiny, tmp_path)
    again, _ = load_model(tmp_path)
    for (k, a), (_, b) in zip(tiny.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
