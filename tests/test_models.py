"""Model construction, presets, sampler, checkpoints (no shared data needed)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from dspfusion import official
from dspfusion.checkpoint import load_model, save_model
from dspfusion.config import PRESETS, DSPFusionConfig, get_preset
from dspfusion.errors import CheckpointError
from dspfusion.models import build_model, count_parameters


def test_paper_preset_parameter_count():
    m = build_model("paper")
    assert count_parameters(m) == 14_012_189
    parts = {n: count_parameters(getattr(m, n)) for n in ("fusion", "semantic", "degradation", "diffusion")}
    assert parts == {"fusion": 8_415_099, "semantic": 614_008, "degradation": 117_193, "diffusion": 4_865_889}


def test_deg_dim_decouples_the_prior_width_from_the_dpen_and_the_lite_preset_is_the_shipped_layout():
    """make_config's deg_dim sets the degradation prior's channels everywhere they are read (DPEN output, fusion
    network, SPDM condition) while the DPEN itself takes deg_embed; the lite preset builds exactly the layout of the
    shipped weights (the paper-size DPEN with 64 prior channels), which then load strictly, up to the layout of the
    degradation probe, which is refit post hoc (benchmarks/fit_probe.py) and recorded in the weights' config."""
    from dspfusion.checkpoint import shipped_weights
    from dspfusion.config import make_config

    cfg = make_config(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, sem_embed=16, deg_embed=32, deg_dim=24)
    assert cfg.degradation.embed_dim == 32 and cfg.degradation.out_dim == cfg.fusion.deg_dim == 24
    assert cfg.denoiser.cond_dim == 4 * 16 + 2 * 24
    ir, vi = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert build_model(cfg).eval()(ir, vi, steps=2).shape == (1, 3, 32, 32)
    assert make_config(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, deg_embed=8).fusion.deg_dim == 32
    lite = get_preset("lite")
    assert (lite.degradation.embed_dim, lite.degradation.num_blocks, lite.degradation.stem_dim, lite.fusion.deg_dim) \
        == (32, 4, 48, 64)
    if shipped_weights("lite") is None:
        pytest.skip("no shipped lite weights in this installation")
    shipped, _ = load_model("lite")
    probe_layout = shipped.config.probe_layout()
    assert shipped.config == lite.replace(**probe_layout)
    build_model(lite.replace(**probe_layout)).load_state_dict(shipped.state_dict(), strict=True)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_forward_shapes(name):
    torch.manual_seed(0)
    m = build_model(name).eval()
    ir, vi = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        pri = m.compute_priors(ir, vi)
        out = m.fuse_with_priors(ir, vi, pri)
    c = m.config.fusion
    assert pri.deg_ir.shape == (2, c.prior_tokens, c.deg_dim)
    assert pri.type_ir.shape == (2, c.deg_dim)
    assert pri.sem.shape == (2, c.prior_tokens, c.sem_dim)
    assert out.shape == (2, 3, 32, 48)
    assert 0 <= out.min() and out.max() <= 1


def test_detail_head_starts_as_the_model_without_it():
    """The detail head's last convolution starts at zero: weights without the head, loaded into a model with it,
    give the same output (so training can continue from them); once the head is non-zero it changes the output."""
    torch.manual_seed(0)
    lite = get_preset("lite")
    assert lite.fusion.detail_channels > 0
    plain = build_model(lite.replace(fusion=replace(lite.fusion, detail_channels=0))).eval()
    detail = build_model(lite).eval()
    missing, unexpected = detail.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("fusion.detail.") for k in missing)
    ir, vi = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        a = plain.fuse_with_priors(ir, vi, pri)
        b = detail.fuse_with_priors(ir, vi, pri)
        assert torch.equal(a, b)
        torch.nn.init.normal_(detail.fusion.detail.conv3.weight, std=0.1)
        assert (detail.fuse_with_priors(ir, vi, pri) - a).abs().max() > 1e-3


def test_detail_blocks_start_as_identity():
    """Residual blocks added to a trained detail head start as the identity (their second convolution is zero):
    weights without them give the same output; once a block is non-zero it changes the output."""
    torch.manual_seed(0)
    plain_cfg = get_preset("lite")
    assert plain_cfg.fusion.detail_blocks == 0  # shipped layout; blocks were tried (lite9) and not adopted
    lite = plain_cfg.replace(fusion=replace(plain_cfg.fusion, detail_blocks=2))
    plain = build_model(plain_cfg).eval()
    torch.nn.init.normal_(plain.fusion.detail.conv3.weight, std=0.1)  # a trained, non-zero head
    deep = build_model(lite).eval()
    missing, unexpected = deep.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("fusion.detail.blocks.") for k in missing)
    assert len(deep.fusion.detail.blocks) == lite.fusion.detail_blocks
    ir, vi = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        a = plain.fuse_with_priors(ir, vi, pri)
        assert torch.equal(a, deep.fuse_with_priors(ir, vi, pri))
        torch.nn.init.normal_(deep.fusion.detail.blocks[0].conv2.weight, std=0.1)
        assert (deep.fuse_with_priors(ir, vi, pri) - a).abs().max() > 1e-3


def test_ir_mix_starts_as_the_model_without_it():
    """The IR mixing weight's convolution starts at zero: weights without it give the same output; with β = 1
    everywhere (bias 1) the residual is IR instead of VI, so the output moves by exactly (IR - VI) before the
    squashing."""
    torch.manual_seed(0)
    lite = get_preset("lite")
    assert lite.fusion.ir_mix  # shipped layout (lite11 on)
    lite = lite.replace(fusion=replace(lite.fusion, band_mix=False))  # compare the IR weight alone
    plain = build_model(lite.replace(fusion=replace(lite.fusion, ir_mix=False))).eval()
    mixed = build_model(lite).eval()
    missing, unexpected = mixed.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["fusion.mix.bias", "fusion.mix.weight"]
    ir, vi = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        a = plain.fuse_with_priors(ir, vi, pri)
        assert torch.equal(a, mixed.fuse_with_priors(ir, vi, pri))
        mixed.fusion.mix.bias.fill_(1.0)
        plain.fusion.detail, mixed.fusion.detail = None, None  # compare the pre-detail-head output
        za = torch.atanh(plain.fuse_with_priors(ir, vi, pri) * 2 - 1)
        zb = torch.atanh(mixed.fuse_with_priors(ir, vi, pri) * 2 - 1)
        assert torch.allclose(zb - za, ir - vi, atol=1e-3)


def test_mix_luma_replaces_the_visible_luma_and_keeps_its_chroma():
    """``mix_luma``: with β = 1 everywhere the IR residual moves the output by IR − Y(VI) on every channel (before the
    squashing), so the luma becomes IR's and the chroma differences stay the VI's; with a grey VI it is the RGB
    residual exactly; it adds no parameters, and the training continuation accepts it from weights without it."""
    from dspfusion.training.losses import luma
    from dspfusion.training.trainer import _config_from_init

    torch.manual_seed(0)
    lite = get_preset("lite")
    lite = lite.replace(fusion=replace(lite.fusion, band_mix=False, detail_channels=0))
    rgb = build_model(lite).eval()
    cfg = lite.replace(fusion=replace(lite.fusion, mix_luma=True))
    lum = build_model(cfg).eval()
    lum.load_state_dict(rgb.state_dict())  # strict: the switch adds no tensors (a mismatch raises)
    ir, vi = torch.rand(1, 1, 32, 48).expand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = rgb.compute_priors(ir, vi)
        base = torch.atanh(rgb.fuse_with_priors(ir, vi, pri) * 2 - 1)
        assert torch.equal(base, torch.atanh(lum.fuse_with_priors(ir, vi, pri) * 2 - 1))  # β = 0: the same
        rgb.fusion.mix.bias.fill_(1.0)
        lum.fusion.mix.bias.fill_(1.0)
        z = torch.atanh(lum.fuse_with_priors(ir, vi, pri) * 2 - 1)
        assert torch.allclose(z - base, (ir - luma(vi)).expand_as(z), atol=1e-3)
        assert torch.allclose(luma(z) - luma(base), ir[:, :1] - luma(vi), atol=1e-3)
        assert torch.allclose(z - luma(z), base - luma(base), atol=1e-3)  # chroma differences kept
        zr = torch.atanh(rgb.fuse_with_priors(ir, vi, pri) * 2 - 1)
        assert not torch.allclose(zr, z, atol=1e-2)
        grey = luma(vi).expand(1, 3, 32, 48)
        pg = rgb.compute_priors(ir, grey)
        assert torch.allclose(rgb.fuse_with_priors(ir, grey, pg), lum.fuse_with_priors(ir, grey, pg), atol=1e-6)
    assert _config_from_init(lite, cfg) == cfg and _config_from_init(cfg, lite) == lite


def test_tone_curve_starts_as_the_model_without_it():
    """The tone curves' last layers start at zero: weights without them give the same output. With only the gain
    segment's coefficient c₁ set (bias 1), the curve is x + relu(x) = 2x on [0, 1]; set c₀ (bias 0.25) and it adds
    0.25 everywhere. The curve of a source depends only on its own prior."""
    torch.manual_seed(0)
    lite = get_preset("lite")
    curved_cfg = lite.replace(fusion=replace(lite.fusion, tone_curve=4))
    plain = build_model(lite.replace(fusion=replace(lite.fusion, tone_curve=0))).eval()
    curved = build_model(curved_cfg).eval()
    missing, unexpected = curved.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(("fusion.curve_ir.", "fusion.curve_vi.")) for k in missing)
    ir, vi = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        assert torch.equal(plain.fuse_with_priors(ir, vi, pri), curved.fuse_with_priors(ir, vi, pri))
        f = curved.fusion
        x = torch.linspace(0, 1, 11).view(1, 1, 1, 11)
        assert torch.equal(f.tone(x, pri.deg_ir, f.curve_ir), x)
        f.curve_ir[-1].bias[1] = 1.0
        assert torch.allclose(f.tone(x, pri.deg_ir, f.curve_ir), 2 * x)
        f.curve_ir[-1].bias[0] = 0.25
        assert torch.allclose(f.tone(x, pri.deg_ir, f.curve_ir), 2 * x + 0.25)
        f.curve_ir[-1].bias[3] = -1.0  # the third segment (x > 2/4) flattens the curve: slope 2 - 1 = 1 there
        y = f.tone(x, pri.deg_ir, f.curve_ir)[0, 0, 0]
        expect = 2 * x[0, 0, 0] + 0.25 - torch.relu(x[0, 0, 0] - 0.5)
        assert torch.allclose(y, expect)
        assert not torch.equal(curved.fuse_with_priors(ir, vi, pri), plain.fuse_with_priors(ir, vi, pri))
        assert torch.equal(f.tone(x, pri.deg_vi, f.curve_vi), x)  # the VI curve is still the identity


def test_semantic_scale_gate_starts_as_the_model_without_it_and_mixes_the_copy_prior():
    """models/semantic_scale.py: with the gate's last layer at zero (as built), a model with ``sem_copy_side`` gives
    the semantic prior of the model without it, bit for bit. Opened (bias 1 → g = 1) the prior is the copy's: SPEN and
    SPDM on the pair shrunk to the copy's long side, under the copy's DPEN priors, from the same noise; at 0.5 the
    mean of the two. A pair no larger than the copy is not copied. The config round-trips and rejects bad sides."""
    torch.manual_seed(0)
    cfg = get_preset("tiny-official")
    plain = build_model(cfg).eval()
    gated = build_model(cfg.replace(sem_copy_side=32)).eval()
    missing, unexpected = gated.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("sem_gate.") for k in missing)
    ir, vi = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    noise = plain.initial_noise(1, seed=3)
    with torch.no_grad():
        full = plain.compute_priors(ir, vi, noise=noise)
        assert torch.equal(gated.compute_priors(ir, vi, noise=noise).sem, full.sem)
        small = [torch.nn.functional.interpolate(x, size=(21, 32), mode="area") for x in (ir, vi)]
        small = [torch.nn.functional.pad(x, (0, 0, 0, 3), mode="replicate") for x in small]  # to 24 (multiple 8)
        copy = plain.compute_priors(*small, noise=noise).sem
        assert torch.allclose(gated.semantic_prior_of_copy(ir, vi, None, noise), copy)
        gated.sem_gate.mlp[-1].bias.fill_(1.0)
        assert torch.allclose(gated.compute_priors(ir, vi, noise=noise).sem, copy)
        gated.sem_gate.mlp[-1].bias.fill_(0.5)
        assert torch.allclose(gated.compute_priors(ir, vi, noise=noise).sem, 0.5 * (copy + full.sem), atol=1e-6)
        gated.sem_gate.mlp[-1].bias.fill_(-2.0)  # clamped at 0
        assert torch.equal(gated.compute_priors(ir, vi, noise=noise).sem, full.sem)
        gated.sem_gate.mlp[-1].bias.fill_(1.0)
        tiny = torch.rand(1, 3, 32, 24)
        assert torch.equal(gated.compute_priors(tiny, tiny, noise=noise).sem,
                           plain.compute_priors(tiny, tiny, noise=noise).sem)
    # fitting: the straight-through clamp gives the same value and passes the gradient where the plain one does not
    gate = gated.sem_gate
    gate.mlp[-1].bias.data.fill_(-2.0)
    d_ir, d_vi = full.deg_ir.clone(), full.deg_vi.clone()
    for st, grad_flows in ((False, False), (True, True)):
        gate.zero_grad()
        g = gate(d_ir, d_vi, 96, 32, straight_through=st)
        assert torch.equal(g, torch.zeros(1, 1))
        g.sum().backward()
        assert (gate.mlp[-1].bias.grad.abs().sum() > 0) == grad_flows
    assert DSPFusionConfig.from_dict(json.loads(json.dumps(gated.config.to_dict()))).sem_copy_side == 32
    assert DSPFusionConfig.from_dict({k: v for k, v in plain.config.to_dict().items() if k != "sem_copy_side"}) == plain.config
    for bad in (-1, 16):
        with pytest.raises(ValueError, match="sem_copy_side"):
            cfg.replace(sem_copy_side=bad)
    with pytest.raises(ValueError, match="use_priors"):
        cfg.replace(sem_copy_side=64, use_priors=False)


def test_band_mix_starts_as_the_model_without_it():
    """The band weights' convolution starts at zero: weights without it give the same output. With γ_ir = 1 and
    γ_vi = -1 everywhere (biases), the output moves by exactly hp(IR) − hp(VI) before the squashing, hp being x
    minus its 5×5 binomial blur; on a constant image hp is zero (reflect padding keeps the borders flat)."""
    torch.manual_seed(0)
    lite = get_preset("lite")
    assert lite.fusion.band_mix  # shipped layout (lite17 on)
    plain = build_model(lite.replace(fusion=replace(lite.fusion, band_mix=False))).eval()
    banded = build_model(lite).eval()
    missing, unexpected = banded.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == ["fusion.band.bias", "fusion.band.weight"]
    assert "fusion.blur" not in banded.state_dict()  # a fixed filter, not a weight
    ir, vi = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        a = plain.fuse_with_priors(ir, vi, pri)
        assert torch.equal(a, banded.fuse_with_priors(ir, vi, pri))
        assert banded.fusion.high_pass(torch.full((1, 3, 16, 16), 0.3)).abs().max() < 1e-6
        hp = banded.fusion.high_pass
        blur = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
        # interior pixel by hand: x - Σ k_i k_j x[y+i-2, x+j-2]
        ref = ir[0, 0, 10, 20] - (blur[:, None] * blur[None, :] * ir[0, 0, 8:13, 18:23]).sum()
        assert torch.allclose(hp(ir)[0, 0, 10, 20], ref, atol=1e-6)
        r = lite.fusion.stem_stride
        banded.fusion.band.bias.copy_(torch.tensor([1.0] * r * r + [-1.0] * r * r))
        plain.fusion.detail, banded.fusion.detail = None, None  # compare the pre-detail-head output
        za = torch.atanh(plain.fuse_with_priors(ir, vi, pri) * 2 - 1)
        zb = torch.atanh(banded.fuse_with_priors(ir, vi, pri) * 2 - 1)
        assert torch.allclose(zb - za, hp(ir) - hp(vi), atol=1e-3)


def _lite_without_and_with(option: str, module: str):
    """The shipped ``lite`` layout with the fusion option ``option`` off and on (both in eval mode, seed 0), the
    second loaded with the first's weights: its config survives a JSON round trip, and its only missing keys are
    those of ``fusion.<module>``, the option's own zero-initialised layers."""
    torch.manual_seed(0)
    lite = get_preset("lite")
    assert getattr(lite.fusion, option)  # shipped layout (lite27 on)
    plain = build_model(lite.replace(fusion=replace(lite.fusion, **{option: False}))).eval()
    assert DSPFusionConfig.from_dict(json.loads(json.dumps(lite.to_dict()))) == lite
    grown = build_model(lite).eval()
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(f"fusion.{module}.") for k in missing)
    return plain, grown


def test_destripe_starts_as_the_model_without_it_and_removes_column_offsets():
    """The destriping gate's last layer starts at zero: weights without it give the same output. The column-offset
    estimate returns a column pattern added to a flat image whole (up to the 1×9 box mean of the pattern) and is zero
    on a flat image; with the gate's bias at 1 the IR input the network sees is the striped image minus that
    estimate, so the output equals the plain model's on the destriped input; the gate reads only the IR prior."""
    plain, gated = _lite_without_and_with("destripe", "destripe_gate")
    gated_cfg = gated.config
    f = gated.fusion
    flat = torch.full((1, 3, 24, 40), 0.4)
    assert f.column_offsets(flat).abs().max() < 1e-7
    stripes = 0.03 * torch.randn(1, 1, 1, 40).expand(1, 3, 24, 40)
    box = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(stripes, (4, 4, 0, 0), mode="replicate"), (1, 9), stride=1)
    assert torch.allclose(f.column_offsets(flat + stripes), (stripes - box)[:, :, :1], atol=1e-6)
    big = torch.zeros(1, 1, 8, 20)
    big[..., 10] = 1.0  # a bright vertical line counts at most the clip (0.1) per pixel
    assert float(f.column_offsets(big)[0, 0, 0, 10]) == pytest.approx(0.1, abs=1e-6)
    ir = (torch.rand(1, 1, 32, 48) + 0.03 * torch.randn(1, 1, 1, 48)).clamp(0, 1).expand(1, 3, 32, 48)
    vi = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        assert torch.equal(plain.fuse_with_priors(ir, vi, pri), gated.fuse_with_priors(ir, vi, pri))
        f.destripe_gate[-1].bias.fill_(1.0)
        clean_ir = ir - f.column_offsets(ir)
        assert torch.allclose(gated.fuse_with_priors(ir, vi, pri), plain.fuse_with_priors(clean_ir, vi, pri), atol=1e-6)
        # the gate is clamped to [0, 1]: a bias of 3 subtracts the estimate once, a bias of -1 not at all
        f.destripe_gate[-1].bias.fill_(3.0)
        assert torch.allclose(gated.fuse_with_priors(ir, vi, pri), plain.fuse_with_priors(clean_ir, vi, pri), atol=1e-6)
        f.destripe_gate[-1].bias.fill_(-1.0)
        assert torch.equal(gated.fuse_with_priors(ir, vi, pri), plain.fuse_with_priors(ir, vi, pri))
    # at initialisation (gate output exactly 0) the clamp still passes the gradient to the gate
    fresh = build_model(gated_cfg)
    fresh.fusion.load_state_dict(plain.fusion.state_dict(), strict=False)
    pri = fresh.compute_priors(ir, vi)
    fresh.fuse_with_priors(ir, vi, pri).mean().backward()
    assert float(fresh.fusion.destripe_gate[-1].bias.grad.abs().sum()) > 0


def test_sharpen_starts_as_the_model_without_it_and_adds_the_fine_bands():
    """The VI sharpening gains' last layer starts at zero: weights without it give the same output. With the three
    gains at 1 the bands telescope, so the network sees 2·vi − B⁴ vi (B the 5×5 binomial blur); with only the first
    at 1 it sees vi + (vi − B vi). A constant image is left as it is. The gains are read from the VI prior."""
    plain, sharp = _lite_without_and_with("sharpen", "sharpen_gain")
    f = sharp.fusion
    ir, vi = torch.rand(1, 3, 32, 48), torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        pri = plain.compute_priors(ir, vi)
        assert torch.equal(plain.fuse_with_priors(ir, vi, pri), sharp.fuse_with_priors(ir, vi, pri))
        assert torch.equal(f.sharpen(vi, pri.deg_vi), vi)
        f.sharpen_gain[-1].bias.fill_(1.0)
        b4 = f.blur5(f.blur5(f.blur5(f.blur5(vi))))
        assert torch.allclose(f.sharpen(vi, pri.deg_vi), 2 * vi - b4, atol=1e-6)
        flat = torch.full((1, 3, 16, 16), 0.3)
        assert torch.allclose(f.sharpen(flat, pri.deg_vi), flat, atol=1e-6)
        assert torch.allclose(sharp.fuse_with_priors(ir, vi, pri), plain.fuse_with_priors(ir, 2 * vi - b4, pri), atol=1e-6)
        f.sharpen_gain[-1].bias.copy_(torch.tensor([1.0, 0.0, 0.0]))
        assert torch.allclose(f.sharpen(vi, pri.deg_vi), 2 * vi - f.blur5(vi), atol=1e-6)


def test_config_roundtrip_and_validation():
    cfg = get_preset("lite")
    assert DSPFusionConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="sampling_steps"):
        cfg.replace(sampling_steps=11)


def test_sampler_full_steps_is_official_chain():
    torch.manual_seed(1)
    m = build_model("tiny-official").eval()
    x, cond = torch.randn(1, 16, 64), torch.randn(1, 16, 128)
    sched = m.diffusion.schedule
    betas = sched.betas
    abar = torch.cumprod(1 - betas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
    c1 = betas * abar_prev.sqrt() / (1 - abar)
    c2 = (1 - abar_prev) * (1 - betas).sqrt() / (1 - abar)
    with torch.no_grad():
        ref = x.clone()
        for t in range(9, -1, -1):
            ref = float(c1[t]) * m.diffusion.denoiser(ref, t, cond) + float(c2[t]) * ref
        got = m.diffusion.sample(x, cond, steps=10)
    assert torch.allclose(got, ref, atol=1e-6)
    assert sched.sampling_timesteps(10) == list(range(9, -1, -1))
    assert sched.sampling_timesteps(4) == [9, 6, 3, 0]
    with torch.no_grad():
        fewer = m.diffusion.sample(x, cond, steps=3)
    assert fewer.shape == got.shape and torch.isfinite(fewer).all()


def test_sampler_is_differentiable():
    m = build_model("tiny-official")
    x, cond = torch.randn(2, 16, 64), torch.randn(2, 16, 128)
    m.diffusion.sample(x, cond).square().mean().backward()
    assert m.diffusion.denoiser.input_proj[0].weight.grad.abs().sum() > 0
    assert m.diffusion.denoiser.time_scale.grad is not None


def test_safetensors_roundtrip(tmp_path):
    import os

    torch.manual_seed(0)
    m = build_model("tiny-official").eval()
    umask = os.umask(0o022)
    try:
        path = save_model(m, tmp_path / "m.safetensors", step=123)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others (safetensors itself creates 0600 files)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    m2, info = load_model(path)
    assert info["step"] == 123 and info["trained"]
    assert m2.config == m.config
    ir, vi = torch.rand(1, 3, 16, 24), torch.rand(1, 3, 16, 24)
    noise = m.initial_noise(1, seed=3)
    with torch.no_grad():
        assert torch.equal(m(ir, vi, noise=noise), m2(ir, vi, noise=noise))


def test_load_parts_takes_a_fitting_dpen_and_leaves_a_misfit_probe(tmp_path):
    from safetensors.torch import save_file

    from dspfusion.checkpoint import load_parts
    from dspfusion.errors import UserError

    torch.manual_seed(0)
    src = build_model(replace(get_preset("tiny-official"), with_probe=True))
    dst = build_model(replace(get_preset("tiny-official"), with_probe=True))
    state = {k: v for k, v in src.state_dict().items() if k.startswith("degradation.")}
    probe_key = next(k for k in src.state_dict() if k.startswith("probe."))
    probe_before = dst.state_dict()[probe_key].clone()
    save_file({**state, probe_key: torch.zeros(1)}, str(tmp_path / "dpen.safetensors"))  # a probe of another layout
    assert load_parts(dst, tmp_path / "dpen.safetensors", "degradation", ("probe",)) == ["degradation"]
    for k, v in state.items():
        assert torch.equal(dst.state_dict()[k], v), k
    assert torch.equal(dst.state_dict()[probe_key], probe_before)
    save_file({probe_key: torch.zeros(1)}, str(tmp_path / "probe_only.safetensors"))
    with pytest.raises(UserError, match="no degradation"):
        load_parts(dst, tmp_path / "probe_only.safetensors", "degradation", label="--init")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="not a readable safetensors"):
        load_parts(dst, tmp_path / "junk.safetensors", "degradation")


def test_mismatched_official_checkpoint_names_keys(tmp_path):
    m = build_model("tiny-official")
    official.export_official(m, tmp_path)
    sd = torch.load(tmp_path / "net_g.pth", weights_only=True)
    del sd["params"]["output.weight"]
    sd["params"]["bogus.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "net_g.pth")
    with pytest.raises(CheckpointError, match=r"missing 1 keys: output.weight[\s\S]*bogus.weight"):
        load_model(tmp_path)


def test_checkpoint_that_fits_no_configuration(tmp_path):
    m = build_model("tiny-official")
    official.export_official(m, tmp_path)
    sd = torch.load(tmp_path / "net_dm.pth", weights_only=True)
    sd["params"]["final_layer.0.weight"] = torch.zeros(32, 128)
    sd["params"]["final_layer.0.bias"] = torch.zeros(32)
    torch.save(sd, tmp_path / "net_dm.pth")
    with pytest.raises(CheckpointError, match="do not fit together"):
        load_model(tmp_path)


def test_pickled_checkpoint_is_refused(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"config": Evil(), "model": {}}, f)
    with pytest.raises(CheckpointError, match="weights_only") as exc:
        load_model(p)
    assert "pwned" not in str(exc.value)


def test_untrained_preset_warns():
    from dspfusion.checkpoint import UntrainedModelWarning

    with pytest.warns(UntrainedModelWarning):
        _, info = load_model("paper")
    assert info["trained"] is False


def test_spdm_copy_gate_blends_the_x0_estimate_towards_the_degraded_prior():
    """DenoiserConfig.copy_gate (ours): x̂0 = D + g·(Ps_lq − D) with g = clamp(Linear(h), 0, 1). At g = 0 (its zero
    init) the denoiser is the official one with the same weights; at g = 1 the estimate is the first dim channels of
    cond (SPEN's prior of the degraded pair); in between, the convex blend."""
    from dspfusion.models.prior_diffusion import Denoiser

    cfg = get_preset("tiny-official").denoiser
    torch.manual_seed(0)
    plain = Denoiser(cfg)
    gated = Denoiser(replace(cfg, copy_gate=True))
    gated.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, cfg.tokens, cfg.dim)
    cond = torch.randn(2, cfg.tokens, cfg.cond_dim)
    with torch.no_grad():
        d = plain(x, 3, cond)
        assert torch.equal(gated(x, 3, cond), d)
        gated.copy_gate.bias.fill_(1.0)
        assert torch.allclose(gated(x, 3, cond), cond[..., : cfg.dim])
        gated.copy_gate.bias.fill_(0.25)
        assert torch.allclose(gated(x, 3, cond), d + 0.25 * (cond[..., : cfg.dim] - d), atol=1e-6)
        gated.copy_gate.bias.fill_(7.0)  # clamped to 1
        assert torch.allclose(gated(x, 3, cond), cond[..., : cfg.dim])
    assert "copy_gate.weight" in dict(gated.named_parameters()) and "copy_gate.weight" not in dict(plain.named_parameters())
