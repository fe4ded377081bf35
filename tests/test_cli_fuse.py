"""`dspfusion fuse` / `demo` / `info` end to end on CPU, with the tiny official-layout model
exported from a seeded random model (no shared data needed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dspfusion import official
from dspfusion.cli import main
from dspfusion.io import read_image, write_image
from dspfusion.models import build_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    official.export_official(build_model("tiny-official"), d)
    return d


def _pair(folder, stem, h=37, w=53, colour=True, seed=0):
    rng = np.random.default_rng(seed)
    (folder / "ir").mkdir(parents=True, exist_ok=True)
    (folder / "vi").mkdir(parents=True, exist_ok=True)
    write_image(folder / "ir" / f"{stem}.png", rng.integers(0, 255, (h, w), dtype=np.uint8), overwrite=True)
    vi = rng.integers(0, 255, (h, w, 3) if colour else (h, w), dtype=np.uint8)
    write_image(folder / "vi" / f"{stem}.png", vi, overwrite=True)


def run(*args):
    return main([str(a) for a in args])


def test_single_pair_odd_size_colour_and_grey(ckpt, tmp_path):
    _pair(tmp_path, "a", colour=True)
    _pair(tmp_path, "b", colour=False)
    for stem, ndim in (("a", 3), ("b", 2)):
        out = tmp_path / f"out_{stem}.png"
        assert run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir" / f"{stem}.png", "--vi", tmp_path / "vi" / f"{stem}.png", "--out", out) == 0
        img = read_image(out)
        assert img.shape[:2] == (37, 53) and img.ndim == ndim and img.dtype == np.uint8


def test_seed_determinism_and_effect(ckpt, tmp_path):
    _pair(tmp_path, "a")
    outs = []
    for i, seed in enumerate((5, 5, 6)):
        out = tmp_path / f"o{i}.png"
        run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir/a.png", "--vi", tmp_path / "vi/a.png", "--out", out, "--seed", seed)
        outs.append(read_image(out))
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_folder_mode_pairs_by_stem_and_reports_unmatched(ckpt, tmp_path, capsys):
    for s in ("01", "02"):
        _pair(tmp_path / "data", s)
    write_image(tmp_path / "data" / "ir" / "03.png", np.zeros((20, 20), np.uint8))
    (tmp_path / "data" / "vi" / "notes.txt").write_text("x")
    rc = run("fuse", "--checkpoint", ckpt, "--input", tmp_path / "data", "--out", tmp_path / "out", "--quiet")
    err = capsys.readouterr()
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["01.png", "02.png"]
    assert "03.png" in err.err and "without a VI partner" in err.err and "notes.txt" in err.err
    # second run: existing outputs are skipped, not overwritten
    before = (tmp_path / "out" / "01.png").stat().st_mtime_ns
    run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "data/ir", "--vi", tmp_path / "data/vi", "--out", tmp_path / "out", "--quiet")
    assert "2 skipped" in capsys.readouterr().out
    assert (tmp_path / "out" / "01.png").stat().st_mtime_ns == before


def test_infrared_visible_layout(ckpt, tmp_path):
    _pair(tmp_path / "d", "x")
    (tmp_path / "d" / "ir").rename(tmp_path / "d" / "Infrared")
    (tmp_path / "d" / "vi").rename(tmp_path / "d" / "Visible")
    assert run("fuse", "--checkpoint", ckpt, "--input", tmp_path / "d", "--out", tmp_path / "o", "--quiet") == 0
    assert (tmp_path / "o" / "x.png").exists()


def test_size_mismatch_message_and_resize_option(ckpt, tmp_path, capsys):
    write_image(tmp_path / "ir.png", np.zeros((30, 40), np.uint8))
    write_image(tmp_path / "vi.png", np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    rc = run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir.png", "--vi", tmp_path / "vi.png", "--out", tmp_path / "f.png")
    err = capsys.readouterr().err
    assert rc == 2 and "40x30" in err and "80x60" in err and "--resize-ir-to-vi" in err
    assert not (tmp_path / "f.png").exists()
    rc = run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir.png", "--vi", tmp_path / "vi.png", "--out", tmp_path / "f.png", "--resize-ir-to-vi")
    assert rc == 0 and read_image(tmp_path / "f.png").shape == (60, 80, 3)


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"this is not an image"), "not a readable image"),
        (lambda p: p.write_bytes(_png_bytes()[:60]), "corrupt or truncated"),
    ],
    ids=["missing", "empty", "garbage", "truncated"],
)
def test_bad_input_files(ckpt, tmp_path, capsys, make, needle):
    write_image(tmp_path / "vi.png", np.zeros((32, 32, 3), np.uint8))
    bad = tmp_path / "ir.png"
    make(bad)
    rc = run("fuse", "--checkpoint", ckpt, "--ir", bad, "--vi", tmp_path / "vi.png", "--out", tmp_path / "f.png")
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "ir.png" in err
    assert not (tmp_path / "f.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def _png_bytes():
    import cv2

    return cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[1].tobytes()


def test_folder_job_skips_bad_pairs_and_summarises(ckpt, tmp_path, capsys):
    _pair(tmp_path / "d", "good")
    _pair(tmp_path / "d", "bad")
    (tmp_path / "d" / "ir" / "bad.png").write_bytes(b"garbage")
    rc = run("fuse", "--checkpoint", ckpt, "--input", tmp_path / "d", "--out", tmp_path / "o", "--quiet")
    out = capsys.readouterr().out
    assert rc == 1 and "1 fused" in out and "1 failed" in out and "bad" in out
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["good.png"]


def test_existing_single_output_not_overwritten(ckpt, tmp_path, capsys):
    _pair(tmp_path, "a")
    out = tmp_path / "f.png"
    out.write_bytes(b"precious")
    rc = run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir/a.png", "--vi", tmp_path / "vi/a.png", "--out", out)
    assert rc == 2 and "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"


def test_bad_checkpoint_path(tmp_path, capsys):
    _pair(tmp_path, "a")
    rc = run("fuse", "--checkpoint", tmp_path / "nope", "--ir", tmp_path / "ir/a.png", "--vi", tmp_path / "vi/a.png", "--out", tmp_path / "f.png")
    assert rc == 2 and "no such checkpoint" in capsys.readouterr().err


def test_stretch_option(ckpt, tmp_path):
    _pair(tmp_path, "a")
    run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir/a.png", "--vi", tmp_path / "vi/a.png", "--out", tmp_path / "s.png", "--stretch")
    img = read_image(tmp_path / "s.png")
    assert img.min() == 0 and img.max() == 255


def test_demo_and_info(tmp_path, capsys):
    assert run("demo", "--checkpoint", "tiny-official", "--out", tmp_path / "demo") == 0
    captured = capsys.readouterr()
    assert "NOT a real fusion" in captured.err
    for name in ("ir.png", "vi.png", "fused.png", "panel.png"):
        assert (tmp_path / "demo" / name).exists()
    assert run("info") == 0
    assert "14,012,189" in capsys.readouterr().out


def test_info_lists_the_optional_parts_and_a_two_scale_model_fuses(tmp_path, capsys):
    """``info`` lists the probe and the two-scale gate with their parameters when a model has them (not otherwise);
    ``fuse`` runs a model with the gate opened, whole and in tiles, and the gate changes the fused image."""
    from dspfusion.checkpoint import save_model
    from dspfusion.config import get_preset
    from dspfusion.models import count_parameters

    torch.manual_seed(0)
    plain = build_model(get_preset("tiny-official"))
    gated = build_model(get_preset("tiny-official").replace(sem_copy_side=32))
    gated.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        gated.sem_gate.mlp[-1].bias.fill_(1.0)  # g = 1: the copy's semantic prior
    save_model(plain, tmp_path / "plain.safetensors", step=1)
    save_model(gated, tmp_path / "gated.safetensors", step=1)
    capsys.readouterr()
    assert run("info", "--checkpoint", tmp_path / "gated.safetensors") == 0
    out = capsys.readouterr().out
    assert f"sem_gate    {count_parameters(gated.sem_gate):>12,}" in out and "sem_copy_side=32" in out
    assert run("info", "--checkpoint", tmp_path / "plain.safetensors") == 0
    assert "sem_gate" not in capsys.readouterr().out.split("config:")[0]
    _pair(tmp_path, "a", h=48, w=72)
    fused = {}
    for name, extra in (("plain", ()), ("gated", ()), ("gated_tiled", ("--tile", "32", "--tile-overlap", "8"))):
        ck = tmp_path / f"{name.split('_')[0]}.safetensors"
        assert run("fuse", "--checkpoint", ck, "--ir", tmp_path / "ir/a.png", "--vi", tmp_path / "vi/a.png",
                   "--out", tmp_path / f"{name}.png", "--quiet", *extra) == 0
        fused[name] = read_image(tmp_path / f"{name}.png").astype(int)
    assert fused["gated"].shape == fused["plain"].shape == (48, 72, 3)
    assert np.abs(fused["gated"] - fused["plain"]).max() > 0
    assert np.abs(fused["gated_tiled"] - fused["gated"]).mean() < 3  # tiles share the whole image's priors
