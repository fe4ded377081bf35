"""ONNX export (dspfusion.onnx_export, ``dspfusion export-onnx``): onnxruntime reproduces PyTorch within 1e-4
for sizes other than the traced one, seeds match, metadata is written, bad options are refused.

One export of the seeded random "tiny-official" checkpoint with 2 SPDM steps is shared by the module.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="needs the 'onnx' package: pip install 'dspfusion[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime: pip install 'dspfusion[onnx]'")

from dspfusion import official  # noqa: E402
from dspfusion.checkpoint import load_model  # noqa: E402
from dspfusion.cli import main  # noqa: E402
from dspfusion.inference import Fuser  # noqa: E402
from dspfusion.io import write_image  # noqa: E402
from dspfusion.models import build_model  # noqa: E402
from dspfusion.onnx_export import ExportableAdaptiveAvgPool2d, OnnxFuser  # noqa: E402

TOL = 1e-4
STEPS = 2


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(checkpoint folder, model, onnx path, CLI stdout) — exported through the CLI."""
    import contextlib
    import io

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("onnx")
    official.export_official(build_model("tiny-official"), d / "ckpt")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["export-onnx", "--checkpoint", str(d / "ckpt"), "--out", str(d / "m.onnx"), "--steps", str(STEPS)])
    assert rc == 0, buf.getvalue()
    model, _ = load_model(d / "ckpt")
    return d, model.eval(), d / "m.onnx", buf.getvalue()


@pytest.fixture(scope="module")
def session(exported):
    """One onnxruntime session for the module (creating one takes a few seconds)."""
    return OnnxFuser(exported[2])


def test_cli_export_reports_verification(exported):
    _, _, path, out = exported
    assert path.is_file() and path.stat().st_size > 100_000
    assert "max abs difference" in out and "(ok" in out
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.parametrize("hw", [(45, 70), (64, 48), (96, 136)])
def test_onnxruntime_matches_pytorch_dynamic_size(exported, session, hw):
    _, model, _, _ = exported
    g = torch.Generator().manual_seed(hw[0])
    ir = torch.rand(1, 1, *hw, generator=g).expand(1, 3, *hw)
    vi = torch.rand(1, 3, *hw, generator=g)
    ref = Fuser(model, device="cpu", steps=STEPS).fuse_tensors(ir, vi, seed=5)
    got = session.fuse_tensors(ir, vi, seed=5)
    assert got.shape == ref.shape == (1, 3, *hw)
    assert float((got - ref).abs().max()) < TOL


def test_seed_is_an_input_and_matches(exported, session):
    model, f = exported[1], session
    ir, vi = torch.rand(1, 3, 32, 40), torch.rand(1, 3, 32, 40)
    a, b = f.fuse_tensors(ir, vi, seed=1), f.fuse_tensors(ir, vi, seed=2)
    assert float((a - b).abs().max()) > 1e-3  # the noise input changes the result
    assert np.array_equal(f.initial_noise(1, 7), model.initial_noise(1, seed=7).numpy())


def test_uint8_images_match(exported, session, tmp_path):
    model = exported[1]
    rng = np.random.default_rng(0)
    write_image(tmp_path / "ir.png", rng.integers(0, 255, (37, 53), dtype=np.uint8))
    write_image(tmp_path / "vi.png", rng.integers(0, 255, (37, 53, 3), dtype=np.uint8))
    want = Fuser(model, device="cpu", steps=STEPS).fuse(tmp_path / "ir.png", tmp_path / "vi.png")
    got = session.fuse(tmp_path / "ir.png", tmp_path / "vi.png")
    assert got.shape == want.shape and int(np.abs(got.astype(int) - want).max()) <= 1


def test_real_test_pair(exported, session):
    """A 120x160 crop of an MSRS test pair (shared data), when present."""
    from conftest import SHARED, need

    folder = need(SHARED / "data" / "test" / "msrs91")
    from dspfusion.io import read_image

    name = sorted(p.name for p in (folder / "ir").iterdir())[0]
    ir, vi = read_image(folder / "ir" / name)[:120, :160], read_image(folder / "vi" / name)[:120, :160]
    ref = Fuser(exported[1], device="cpu", steps=STEPS)
    from dspfusion.inference import prepare_pair

    inp = prepare_pair(ir, vi)
    diff = (session.fuse_tensors(inp.ir, inp.vi) - ref.fuse_tensors(inp.ir, inp.vi)).abs().max()
    assert float(diff) < TOL


def test_metadata_batch_and_raw_size_contract(exported, session):
    model, f = exported[1], session
    assert (f.pad_multiple, f.steps, f.noise_shape) == (8, STEPS, model.sem_shape(1)[1:])
    ir, vi = torch.rand(2, 3, 24, 32), torch.rand(2, 3, 24, 32)
    noise = model.initial_noise(2, seed=0)
    with torch.no_grad():
        ref = model(ir, vi, steps=STEPS, noise=noise)
    assert np.abs(f.run(ir.numpy(), vi.numpy(), noise.numpy()) - ref.numpy()).max() < TOL  # dynamic batch
    with pytest.raises(Exception):  # the raw graph needs multiples of pad_multiple (the wrapper pads)
        f.run(torch.rand(1, 3, 30, 30).numpy(), torch.rand(1, 3, 30, 30).numpy(), noise[:1].numpy())


@pytest.mark.parametrize("n", [7, 20, 64, 65])
def test_exportable_pool_equals_adaptive_pool(n):
    x = torch.randn(2, 3, n, n + 5)
    want = torch.nn.AdaptiveAvgPool2d(4)(x)
    assert torch.allclose(ExportableAdaptiveAvgPool2d(4)(x), want, atol=1e-6)


def test_cli_refuses_overwrite_bad_steps_and_suffix(exported, capsys):
    d, _, path, _ = exported
    before = path.read_bytes()
    assert main(["export-onnx", "--checkpoint", str(d / "ckpt"), "--out", str(path)]) == 2
    assert "--overwrite" in capsys.readouterr().err and path.read_bytes() == before
    assert main(["export-onnx", "--checkpoint", str(d / "ckpt"), "--out", str(d / "x.onnx"), "--steps", "0"]) == 2
    assert "--steps 0 is out of range" in capsys.readouterr().err and not (d / "x.onnx").exists()
    assert main(["export-onnx", "--checkpoint", str(d / "ckpt"), "--out", str(d / "x.pt")]) == 2
    assert ".onnx" in capsys.readouterr().err


def test_onnx_fuser_bad_file(tmp_path):
    from dspfusion.errors import UserError

    (tmp_path / "bad.onnx").write_bytes(b"nope")
    with pytest.raises(UserError, match="cannot load"):
        OnnxFuser(tmp_path / "bad.onnx")
    with pytest.raises(UserError, match="not found"):
        OnnxFuser(tmp_path / "missing.onnx")


def _onnx_max_diff(model, path, stripes: bool = False) -> float:
    """Export ``model`` to ``path``, fuse a seeded random 40×56 pair (not the traced size) with PyTorch and with
    onnxruntime, and return the largest difference of the outputs. ``stripes``: add a random offset down each IR
    column."""
    from dspfusion.onnx_export import export_onnx

    path = export_onnx(model, path, steps=STEPS)
    g = torch.Generator().manual_seed(3)
    ir = torch.rand(1, 1, 40, 56, generator=g)
    if stripes:
        ir = ir + 0.05 * torch.rand(1, 1, 1, 56, generator=g)
    ir, vi = ir.expand(1, 3, 40, 56), torch.rand(1, 3, 40, 56, generator=g)
    ref = Fuser(model, device="cpu", steps=STEPS).fuse_tensors(ir, vi, seed=1)
    got = OnnxFuser(path).fuse_tensors(ir, vi, seed=1)
    return float((got - ref).abs().max())


def test_tone_curves_export(tmp_path):
    """A model with tone curves (``tone_curve`` > 0, the shipped layout) exports, and onnxruntime reproduces it at a
    size other than the traced one; the curves' last layers are made non-zero so that they bend the inputs."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    torch.manual_seed(0)
    cfg = get_preset("tiny-official")
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, tone_curve=4))).eval()
    with torch.no_grad():
        for mlp in (model.fusion.curve_ir, model.fusion.curve_vi):
            torch.nn.init.normal_(mlp[-1].weight, std=0.05)
            torch.nn.init.normal_(mlp[-1].bias, std=0.2)
    assert _onnx_max_diff(model, tmp_path / "curves.onnx") < TOL


def test_destripe_exports(tmp_path):
    """A model with the destriping gate (``destripe``) exports, and onnxruntime reproduces it at a size other than
    the traced one, with the gate made non-zero so that it subtracts the column offsets."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    torch.manual_seed(0)
    cfg = get_preset("tiny-official")
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, destripe=True))).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.fusion.destripe_gate[-1].weight, std=0.05)
        model.fusion.destripe_gate[-1].bias.fill_(1.0)
    assert _onnx_max_diff(model, tmp_path / "destripe.onnx", stripes=True) < TOL


def test_sharpen_exports(tmp_path):
    """A model with the VI sharpening gains (``sharpen``; here without ``band_mix``, so the blur filter is its own)
    exports, and onnxruntime reproduces it at a size other than the traced one, with the gains made non-zero."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    torch.manual_seed(0)
    cfg = get_preset("tiny-official")
    assert not cfg.fusion.band_mix
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, sharpen=True))).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.fusion.sharpen_gain[-1].weight, std=0.05)
        model.fusion.sharpen_gain[-1].bias.copy_(torch.tensor([0.8, 0.5, 0.3]))
    assert _onnx_max_diff(model, tmp_path / "sharpen.onnx") < TOL


def test_mix_luma_exports(tmp_path):
    """A model whose IR residual replaces the visible luma only (``mix_luma``) exports, and onnxruntime reproduces it
    at a size other than the traced one, with the IR mixing weight made non-zero."""
    from dataclasses import replace

    from dspfusion.config import get_preset

    torch.manual_seed(0)
    cfg = get_preset("tiny-official")
    model = build_model(cfg.replace(fusion=replace(cfg.fusion, ir_mix=True, mix_luma=True))).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.fusion.mix.weight, std=0.05)
        model.fusion.mix.bias.fill_(0.7)
    assert _onnx_max_diff(model, tmp_path / "mix_luma.onnx") < TOL


def test_two_scale_semantic_prior_is_refused_not_exported_wrong(tmp_path):
    """A model whose semantic prior is read at two scales (``sem_copy_side``) is refused with a clear error: a traced
    graph would fix the copy's size at the traced input's; nothing is written."""
    from dspfusion.config import get_preset
    from dspfusion.errors import UserError
    from dspfusion.onnx_export import export_onnx

    model = build_model(get_preset("tiny-official").replace(sem_copy_side=32)).eval()
    with pytest.raises(UserError, match="two scales"):
        export_onnx(model, tmp_path / "gated.onnx")
    assert not list(tmp_path.iterdir())
