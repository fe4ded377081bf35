"""Tiled fusion (dspfusion.tiling): tile plan, feathering, priors once per image, no seams, CLI options.

The model is the seeded random "tiny-official" layout (pad multiple 8), so the numbers are about
the tiling machinery, not about fusion quality.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dspfusion.cli import main
from dspfusion.errors import UserError
from dspfusion.inference import Fuser
from dspfusion.io import read_image, write_image
from dspfusion.models import build_model
from dspfusion.tiling import DEFAULT_STAT_PASSES, check_tiling, fuse_tiled, plan_axis, prepared_tile, seam_excess


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny-official").eval()


def scene(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth seeded scene with edges: colour ramps, a rectangle, a hot disc in IR."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vi = np.stack([0.3 + 0.4 * xx / w, 0.5 + 0.2 * np.sin(yy / 7), 0.4 + 0.3 * yy / h], 0)
    vi[:, h // 3 : 2 * h // 3, w // 4 : w // 2] = np.array([0.8, 0.2, 0.1])[:, None, None]
    ir = 0.2 + 0.1 * yy / h
    ir[(yy - h / 2) ** 2 + (xx - 0.75 * w) ** 2 < (h / 5) ** 2] = 0.9
    return torch.from_numpy(np.repeat(ir[None], 3, 0))[None], torch.from_numpy(vi)[None]


@pytest.mark.parametrize("size", [8, 40, 48, 64, 65, 200])
def test_plan_covers_the_axis_on_the_lattice(size):
    tile, overlap = check_tiling(48, 16, 8)
    plan = plan_axis(size, tile, overlap)
    n = min(tile, size)
    covered = torch.zeros(size)
    for k, s in enumerate(plan.starts):
        assert s % 8 == 0 or s == size - tile  # padded sizes are multiples of 8, so the flush tile is too
        w = plan.weights(k)
        assert w.shape == (n,) and float(w.min()) > 0 and float(w.max()) <= 1
        covered[s : s + n] += 1
    assert plan.starts[0] == 0 and plan.starts[-1] + n == size
    assert float(covered.min()) >= 1


def test_feather_weights_cross_fade_linearly():
    plan = plan_axis(80, 48, 16)  # starts 0, 32: 16 shared pixels
    assert plan.starts == (0, 32)
    a, b = plan.weights(0), plan.weights(1)
    total = torch.zeros(80)
    total[0:48] += a
    total[32:80] += b
    assert torch.allclose(total, torch.ones(80))  # a partition of unity: pure cross-fade over the overlap
    assert torch.all(a[32:48].diff() < 0) and torch.all(b[:16].diff() > 0)


@pytest.mark.parametrize(
    "tile,overlap,needle",
    [(4, 0, "too small"), (64, -1, "negative"), (64, 40, "too large")],
)
def test_bad_tiling_options(tile, overlap, needle):
    with pytest.raises(UserError, match=needle):
        check_tiling(tile, overlap, 8)


def test_negative_tile_passes():
    with pytest.raises(UserError, match="--tile-passes -1 is negative"):
        check_tiling(64, 16, 8, -1)


def test_tile_and_overlap_snap_to_the_pad_multiple():
    assert check_tiling(100, 10, 16) == (96, 16)
    assert check_tiling(512, 32, 16) == (512, 32)


def test_one_tile_is_bit_identical_to_untiled(model):
    ir, vi = scene(45, 70)
    fuser = Fuser(model, device="cpu", steps=2)
    ref = fuser.fuse_tensors(ir, vi, seed=3)
    assert torch.equal(fuser.fuse_tensors(ir, vi, seed=3, tile=256), ref)


def test_tiled_matches_untiled_without_seams(model):
    """6 tiles of 48 px with 16 px overlap on a 64x112 image vs the untiled result (seeded random model).

    Per-tile statistics (0 passes), measured: mean 0.80 / max 2.5 grey levels, seam excess 0.53 feathered and
    1.55 with hard cuts at the overlap midlines (so the seam measure detects seams). With the default 2 passes of
    image-wide statistics: mean 0.08 / max 0.98."""
    ir, vi = scene(64, 112)
    noise = model.initial_noise(1, seed=0)
    fuser = Fuser(model, device="cpu", steps=2)
    ref = fuser.fuse_tensors(ir, vi, seed=0).clamp(0, 1)
    local = fuse_tiled(model, ir, vi, tile=48, overlap=16, steps=2, noise=noise, stat_passes=0).clamp(0, 1)
    hard = fuse_tiled(model, ir, vi, tile=48, overlap=16, steps=2, noise=noise, feather=False, stat_passes=0).clamp(0, 1)
    tiled = fuse_tiled(model, ir, vi, tile=48, overlap=16, steps=2, noise=noise).clamp(0, 1)
    assert tiled.shape == ref.shape
    d_local, d_tiled = (local - ref).abs() * 255, (tiled - ref).abs() * 255
    assert float(d_local.mean()) < 1.5 and float(d_local.max()) < 5
    assert float(d_tiled.mean()) < 0.3 and float(d_tiled.max()) < 2
    assert float(d_tiled.mean()) < float(d_local.mean()) / 4  # image-wide statistics make tiles agree with untiled
    smooth, cut = seam_excess(local, ref), seam_excess(hard, ref)
    assert smooth < 1.0, f"feathered tiles show a seam of {smooth:.2f} grey levels"
    assert cut > 2 * smooth, (smooth, cut)


def test_trained_weights_tiled_match_untiled():
    """The shipped "lite" weights on the built-in 512x384 example, 3 SPDM steps, 128-px tiles with 32 px overlap.

    Their trained attention temperatures make per-tile statistics visible. Measured with the step-23,500 weights
    (mean / max grey levels, seam excess): 0 passes 5.4 / 48 / 0.63; 1 pass 3.1 / 7.9 / 0.52; 2 passes (default)
    1.36 / 4.1 / 0.00; 3 passes 0.54 / 3.5 / 0.11; 4 passes 0.31 / 3.4 / 0.06. (The step-19,900 weights converged
    faster: 2 passes 0.36 / 3.1. The step-27,100 weights: 2 passes 0.32 / 3.7 / 0.20.) The step-30,200 weights
    (DPEN pretrained for classification, fusion retrained around it) converge more slowly: 0 passes 6.3 / 40 / 0.68;
    2 passes 2.8 / 9.8 / 0.10; 3 passes (default since then) 1.2 / 4.3 / 0.26; 4 passes 0.25 / 2.4 / 0.08. The
    step-31,500 weights (channels-last CPU inference): 0 passes 3.9 / 42 / 0.66; 1 pass 3.2 / 9.8 / 0.38; 2 passes
    1.5 / 5.8 / 0.10; 3 passes 0.98 / 3.7 / 0.16; 4 passes 0.34 / 2.5 / 0.06. The step-35,100 weights converge
    faster again: 0 passes 5.2 / 42 / 0.74; 1 pass 0.62 / 3.6 / 0.23; 2 passes 0.21 / 2.2 / 0.10; 3 passes 0.14 / 2.3 /
    0.07; 4 passes 0.155 / 2.1 / 0.06; 5 passes 0.12 / 2.1 / 0.07: from 3 passes on they sit at a floor of about 0.15
    grey levels, where one more pass moves the mean by a few hundredths either way. The step-36,900 weights: 0 passes
    4.6 / 33 / 0.75; 1 pass 2.1 / 8.2 / 0.26; 2 passes 0.73 / 2.6 / 0.03; 3 passes 0.17 / 2.4 / 0.08; 4 passes 0.13 /
    2.2 / 0.07; 5 passes 0.12 / 2.1 / 0.07. The step-38,700 weights (band mixing weights): 0 passes 4.2 / 16 /
    0.45; 1 pass 2.7 / 8.2 / 0.35; 2 passes 0.60 / 3.0 / 0.04; 3 passes 0.23 / 2.8 / 0.08; 4 passes 0.15 / 2.3 / 0.07;
    5 passes 0.12 / 2.3 / 0.07. The step-40,500 weights (the pyramid term's source chosen over 3x3 windows): 0 passes
    4.5 / 18 / 0.27; 1 pass 2.8 / 7.3 / 0.17; 2 passes 0.29 / 3.2 / 0.07; 3 passes 0.22 / 3.3 / 0.06; 4 passes 0.16 /
    3.2 / 0.07; 5 passes 0.15 / 3.1 / 0.06. The step-44,100 weights (two more runs of the same recipe) converge more
    slowly: 0 passes 3.5 / 20 / 0.31; 1 pass 3.5 / 12 / 0.49; 2 passes 0.78 / 4.8 / 0.19; 3 passes 0.38 / 5.0 / 0.15;
    4 passes 0.31 / 4.4 / 0.08; 5 passes 0.19 / 4.2 / 0.06. The step-47,700 weights (tone curves), from
    ``python benchmarks/tiling_passes.py``: 0 passes 3.0 / 20 / 0.36; 1 pass 3.6 / 16 / 0.37; 2 passes 0.72 / 4.7 /
    0.13; 3 passes 0.78 / 5.3 / 0.11; 4 passes 0.42 / 4.4 / 0.10; 5 passes 0.23 / 3.9 / 0.16. Their 0-pass mean is
    only 3.9 times the 3-pass one, near the test's factor of 3. The step-51,300 weights (the one-sided edge term),
    from the same script: 0 passes 5.1 / 19 / 0.34; 1 pass 1.8 / 11 / 0.11; 2 passes 1.5 / 6.3 / 0.24; 3 passes
    0.74 / 3.9 / 0.08; 4 passes 0.43 / 3.6 / 0.04; 5 passes 0.25 / 2.8 / 0.08 (0 passes 6.9 times 3 passes). The
    step-54,900 weights (destriping gate and sharpening gains; the same whether the whole image or each tile's window
    is prepared, rerun after ``prepared_tile``): 0 passes
    6.9 / 22 / 0.26; 1 pass 1.5 / 6.5 / 0.37; 2 passes 0.69 / 5.2 / 0.41; 3 passes 0.75 / 4.2 / 0.34; 4 passes 0.44 /
    3.7 / 0.25; 5 passes 0.47 / 3.6 / 0.25 (0 passes 9.2 times 3 passes). Their seam excess does not fall with the
    passes (0.26 with none): it is the two tiles' disagreement inside the 32-pixel overlap (rows 117-121 and columns
    108-117 of this image, around the first overlap's middle), which the feathering spreads, not the image-wide
    statistics; the bound is 0.4 grey levels since then (0.3 before; the control lite27c, without the sharpening
    gains, has 0.30 at 3 passes, lite24u 0.08). The step-56,700 weights (lite41, full-resolution MSRS in training):
    0 passes 8.1 / 37 / 0.33; 1 pass 0.84 / 8.0 / 0.36; 2 passes 0.37 / 5.1 / 0.18; 3 passes 0.26 / 3.9 / 0.11; 4
    passes 0.23 / 3.8 / 0.11; 5 passes 0.22 / 3.8 / 0.11 (0 passes 31 times 3 passes). The step-58,500 weights (lite45,
    the differentiable Qabf term): 0 passes 6.1 / 26 / 0.24; 1 pass 1.9 / 8.5 / 0.13; 2 passes 0.60 / 5.2 / 0.18; 3
    passes 0.32 / 4.4 / 0.11; 4 passes 0.27 / 4.2 / 0.08; 5 passes 0.25 / 4.3 / 0.09 (0 passes 19 times 3 passes). The
    step-60,300 weights (lite48, the Qabf term weighted 100): 0 passes 6.5 / 29 / 0.45; 1 pass 1.2 / 8.6 / 0.35; 2 passes
    0.32 / 6.9 / 0.20; 3 passes 0.23 / 5.7 / 0.16; 4 passes 0.22 / 5.8 / 0.16; 5 passes 0.22 / 5.8 / 0.16 (0 passes 28
    times 3 passes). The step-66,900 weights (lite54, the paper-size DPEN): 0 passes 4.6 / 35 / 0.50; 1 pass 1.6 / 9.6 /
    0.18; 2 passes 0.24 / 3.6 / 0.07; 3 passes 0.19 / 3.3 / 0.11; 4 passes 0.15 / 3.1 / 0.09; 5 passes 0.16 / 3.1 / 0.09
    (0 passes 24 times 3 passes). The step-71,700 weights (lite59, ir_LC and vi_Blur drawn more often, then a long Stage
    II): 0 passes 3.1 / 39 / 0.40; 1 pass 1.2 / 6.3 / 0.14; 2 passes 0.31 / 3.5 / 0.00; 3 passes 0.18 / 3.1 / 0.04; 4
    passes 0.16 / 3.1 / 0.04; 5 passes 0.16 / 3.1 / 0.04 (0 passes 17 times 3 passes; benchmarks/results/experiments/
    lite59/tiling_passes.txt). The step-76,500 weights (lite61, the usual draws again): 0 passes 2.6 / 28 / 0.25; 1 pass
    1.8 / 7.0 / 0.17; 2 passes 0.29 / 3.5 / 0.03; 3 passes 0.23 / 3.2 / 0.05; 4 passes 0.15 / 3.3 / 0.05; 5 passes 0.13 /
    3.3 / 0.05 (0 passes 11 times 3 passes; experiments/lite61/tiling_passes.txt)."""
    from dspfusion.checkpoint import load_model
    from dspfusion.example import make_example_pair
    from dspfusion.inference import prepare_pair

    model, info = load_model("lite")
    if not info.get("trained", True):
        pytest.skip("the shipped lite weights are not installed")
    inp = prepare_pair(*make_example_pair(384, 512))
    noise = model.initial_noise(1, seed=0)
    ref = Fuser(model, device="cpu").fuse_tensors(inp.ir, inp.vi, seed=0, steps=3).clamp(0, 1)
    diff = {}
    more = DEFAULT_STAT_PASSES + 1
    for passes in (0, DEFAULT_STAT_PASSES, more):
        out = fuse_tiled(model, inp.ir, inp.vi, 128, 32, steps=3, noise=noise, stat_passes=passes).clamp(0, 1)
        diff[passes] = ((out - ref).abs() * 255, seam_excess(out, ref))
    d_local, (d_tiled, seam) = diff[0][0], diff[DEFAULT_STAT_PASSES]
    assert float(d_tiled.mean()) < 2.0 and float(d_tiled.max()) < 8, (float(d_tiled.mean()), float(d_tiled.max()))
    assert float(d_local.mean()) > 3 * float(d_tiled.mean())
    assert seam < 0.4
    d_more = float(diff[more][0].mean())
    # more passes converge further, or both are already at the floor (a quarter of a grey level)
    assert d_more < min(1.0, float(d_tiled.mean())) or max(d_more, float(d_tiled.mean())) < 0.25


def test_priors_computed_once_on_a_shrunk_copy(model, monkeypatch):
    calls, shapes, seen = [], [], set()
    compute, fuse = model.compute_priors, model.fuse_with_priors

    def spy_compute(ir, vi, *a, **k):
        calls.append(1)
        shapes.append(tuple(ir.shape))
        return compute(ir, vi, *a, **k)

    def spy_fuse(ir, vi, priors, *a):
        seen.add(id(priors))
        return fuse(ir, vi, priors, *a)

    monkeypatch.setattr(model, "compute_priors", spy_compute)
    monkeypatch.setattr(model, "fuse_with_priors", spy_fuse)
    ir, vi = scene(48, 80)
    out = fuse_tiled(model, ir, vi, tile=32, overlap=8, steps=1, noise=model.initial_noise(1, 0), prior_max_side=40)
    assert out.shape == (1, 3, 48, 80)
    assert len(calls) == 1 and len(seen) == 1  # one prior computation shared by every tile
    assert shapes[0] == (1, 3, 24, 40)  # 48x80 shrunk to 24x40 (long side 40), already a multiple of 8


def test_priors_default_to_full_resolution(model, monkeypatch):
    shapes = []
    compute = model.compute_priors

    def spy_compute(ir, vi, *a, **k):
        shapes.append(tuple(ir.shape))
        return compute(ir, vi, *a, **k)

    monkeypatch.setattr(model, "compute_priors", spy_compute)
    ir, vi = scene(44, 80)
    fuse_tiled(model, ir, vi, tile=32, overlap=8, steps=1, noise=model.initial_noise(1, 0))
    assert shapes == [(1, 3, 48, 80)]  # the whole image, padded to the multiple of 8 as the tiles are
    with pytest.raises(UserError, match="--prior-max-side 4 is too small"):
        fuse_tiled(model, ir, vi, tile=32, overlap=8, steps=1, prior_max_side=4)


def test_fuser_prior_max_side(model):
    ir, vi = scene(48, 80)
    fuser = Fuser(model, device="cpu")
    full = fuser.fuse_tensors(ir, vi, steps=1, tile=32, tile_overlap=8)
    shrunk = fuser.fuse_tensors(ir, vi, steps=1, tile=32, tile_overlap=8, prior_max_side=40)
    assert not torch.equal(full, shrunk)  # the shrunk priors reach the output
    with pytest.raises(UserError, match="only applies to tiled fusion"):
        fuser.fuse_tensors(ir, vi, steps=1, prior_max_side=40)


def test_cli_tile_options(tmp_path, capsys):
    from dspfusion import official

    torch.manual_seed(0)
    official.export_official(build_model("tiny-official"), tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    write_image(tmp_path / "ir.png", rng.integers(0, 255, (40, 70), dtype=np.uint8))
    write_image(tmp_path / "vi.png", rng.integers(0, 255, (40, 70, 3), dtype=np.uint8))
    base = ["fuse", "--checkpoint", tmp_path / "ckpt", "--ir", tmp_path / "ir.png", "--vi", tmp_path / "vi.png", "--steps", "1"]
    assert main([str(a) for a in base + ["--out", tmp_path / "t.png", "--tile", "32", "--tile-overlap", "8"]]) == 0
    assert main([str(a) for a in base + ["--out", tmp_path / "p.png", "--tile", "32", "--tile-overlap", "8", "--tile-passes", "0"]]) == 0
    assert not np.array_equal(read_image(tmp_path / "t.png"), read_image(tmp_path / "p.png"))
    assert read_image(tmp_path / "t.png").shape == (40, 70, 3)
    rc = main([str(a) for a in base + ["--out", tmp_path / "u.png", "--tile", "2"]])
    assert rc == 2 and "--tile 2 is too small" in capsys.readouterr().err
    assert not (tmp_path / "u.png").exists()
    assert main([str(a) for a in base + ["--out", tmp_path / "s.png", "--tile", "32", "--tile-overlap", "8",
                                         "--prior-max-side", "40"]]) == 0
    assert not np.array_equal(read_image(tmp_path / "t.png"), read_image(tmp_path / "s.png"))
    rc = main([str(a) for a in base + ["--out", tmp_path / "v.png", "--prior-max-side", "40"]])
    assert rc == 2 and "only applies to tiled fusion; add --tile" in capsys.readouterr().err
    rc = main([str(a) for a in base + ["--out", tmp_path / "v.png", "--tile", "32", "--prior-max-side", "4"]])
    assert rc == 2 and "--prior-max-side 4 is too small" in capsys.readouterr().err
    assert not (tmp_path / "v.png").exists()


def test_tile_passes_defaults_agree():
    import inspect

    import argparse

    from dspfusion.commands.fuse import register
    from dspfusion.tiling import DEFAULT_STAT_PASSES

    from dspfusion.tiling import DEFAULT_PRIOR_MAX_SIDE

    for fn in (Fuser.fuse, Fuser.fuse_tensors, fuse_tiled):
        params = inspect.signature(fn).parameters
        assert params["prior_max_side"].default == DEFAULT_PRIOR_MAX_SIDE is None
        if fn is not fuse_tiled:
            assert params["tile_passes"].default == DEFAULT_STAT_PASSES
    parser = register(argparse.ArgumentParser().add_subparsers())
    args = parser.parse_args(["--ir", "a", "--vi", "b", "--out", "c"])
    assert args.tile_passes == DEFAULT_STAT_PASSES and args.prior_max_side is None


def test_input_gates_see_the_whole_image_in_tiled_inference(monkeypatch):
    """Destriping (a mean down every column) and sharpening (radius 8) look beyond a tile. ``fuse_tiled`` takes the
    column offsets of the whole padded image once and prepares each tile on its window grown by 8 pixels of real
    context (``prepared_tile``), then runs it with ``prepared=True``: every tile's inputs equal the same window of the
    whole prepared image, no prepared copy of the image is kept, and the tiled output stays within the plain model's
    tolerances (``test_tiled_matches_untiled_without_seams``; measured mean 0.08 / max 1.0 grey levels). The column
    offsets gathered in strips of rows (bounded memory) are the whole image's."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    torch.manual_seed(0)
    cfg = get_preset("tiny-official")
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, destripe=True, sharpen=True))).eval()
    with torch.no_grad():
        model.fusion.destripe_gate[-1].bias.fill_(1.0)
        model.fusion.sharpen_gain[-1].bias.copy_(torch.tensor([0.8, 0.4, 0.2]))
    ir, vi = scene(64, 112)
    ir = (ir + 0.05 * torch.randn(1, 1, 1, 112, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    noise = model.initial_noise(1, seed=0)
    with torch.no_grad():
        pri = model.compute_priors(ir, vi)
        f = model.fusion
        whole = f.prepare_inputs(ir, vi, pri.deg_ir, pri.deg_vi)
        for strip in (5, 16, 48):  # the whole image's column offsets, gathered in strips of rows
            assert torch.allclose(f.image_offsets(ir, strip=strip), f.column_offsets(ir), atol=1e-6)
        offsets = f.image_offsets(ir, strip=7)
        rows, cols = plan_axis(64, 48, 16), plan_axis(112, 48, 16)
        assert len(rows.starts) > 1 and len(cols.starts) > 2  # interior edges and image borders both occur
        for y in rows.starts:
            for x in cols.starts:
                ir_t, vi_t = prepared_tile(model, ir, vi, pri, offsets, y, x, 48, 48)
                assert ir_t.shape == vi_t.shape == (1, 3, 48, 48)
                assert torch.allclose(ir_t, whole[0][..., y : y + 48, x : x + 48], atol=1e-6)
                assert torch.allclose(vi_t, whole[1][..., y : y + 48, x : x + 48], atol=1e-6)
        # without the sharpening context the tile's edges would differ: the check above can fail
        f_plain = f.prepare_inputs(ir[..., 16:64, 32:80], vi[..., 16:64, 32:80], pri.deg_ir, pri.deg_vi,
                                   offsets=offsets[..., 32:80])
        assert not torch.allclose(f_plain[1], whole[1][..., 16:64, 32:80], atol=1e-4)
    calls, flags = [], []
    prepare, forward = f.prepare_inputs, f.forward
    monkeypatch.setattr(f, "prepare_inputs", lambda *a, **k: calls.append((tuple(a[0].shape), k.get("offsets") is not None)) or prepare(*a, **k))
    monkeypatch.setattr(f, "forward", lambda *a, **k: flags.append(a[5] if len(a) > 5 else k.get("prepared", False)) or forward(*a, **k))
    ref = Fuser(model, device="cpu", steps=2).fuse_tensors(ir, vi, seed=0).clamp(0, 1)
    calls.clear(), flags.clear()
    tiled = fuse_tiled(model, ir, vi, tile=48, overlap=16, steps=2, noise=noise).clamp(0, 1)
    n_tiles = len(rows.starts) * len(cols.starts)
    assert len(calls) == n_tiles * (DEFAULT_STAT_PASSES + 1) and all(given for _, given in calls)
    assert all(shape[-2] <= 48 + 16 and shape[-1] <= 48 + 16 for shape, _ in calls)  # a window, not the image
    assert flags and all(flags)
    d = (tiled - ref).abs() * 255
    assert float(d.mean()) < 0.3 and float(d.max()) < 2
