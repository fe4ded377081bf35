"""Input robustness through ``dspfusion fuse``: more than 20 kinds of bad input each give exit status 2 and a
message naming the file and the problem, and leave no output or temporary file; folder jobs skip bad pairs,
finish and summarise; unusual but valid inputs (16-bit, RGBA, palette, grey, EXIF-rotated) are handled."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from dspfusion import official
from dspfusion.cli import main
from dspfusion.errors import UserError
from dspfusion.io import read_image, to_float, write_image
from dspfusion.models import build_model

H, W = 32, 48
RNG = np.random.default_rng(0)
GOOD_IR = RNG.integers(0, 255, (H, W), dtype=np.uint8)
GOOD_VI = RNG.integers(0, 255, (H, W, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    official.export_official(build_model("tiny-official"), d)
    return d


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels and has no pixel data."""
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + _chunk(b"IEND", b"")


def encoded(ext: str, arr: np.ndarray) -> bytes:
    return cv2.imencode(ext, arr)[1].tobytes()


def save_pil(path: Path, arr: np.ndarray, mode: str) -> None:
    Image.fromarray(arr, mode=mode).save(path)


# name → (how to make the bad IR file at `p`, words the message must contain). The VI is a good 48x32 PNG.
BAD_IR_FILES = {
    "missing": (lambda p: None, ["not found"]),
    "empty": (lambda p: p.write_bytes(b""), ["empty", "0 bytes"]),
    "garbage": (lambda p: p.write_bytes(b"\x00\x01garbage" * 10), ["not a readable image"]),
    "text-as-jpg": (lambda p: p.with_suffix(".jpg").write_text("hello"), ["not a readable image"]),
    "html-error-page": (lambda p: p.write_text("<html><body>404 Not Found</body></html>"), ["not a readable image"]),
    "truncated-png": (lambda p: p.write_bytes(encoded(".png", GOOD_IR)[:80]), ["corrupt or truncated"]),
    "truncated-jpeg": (lambda p: p.with_suffix(".jpg").write_bytes(encoded(".jpg", GOOD_VI)[:300]), ["corrupt or truncated"]),
    "header-only-png": (lambda p: p.write_bytes(png_header_only(W, H)), ["corrupt or truncated"]),
    "zero-width-png": (lambda p: p.write_bytes(png_header_only(0, H)), ["not a readable image"]),
    "decompression-bomb": (lambda p: p.write_bytes(png_header_only(100_000, 100_000)), ["refused", "MAX_IMAGE_PIXELS"]),
    "nan-float-tiff": (lambda p: save_pil(p.with_suffix(".tif"), np.where(np.eye(H, W) > 0, np.nan, 0.5).astype(np.float32), "F"),
                       ["NaN or infinite"]),
    "inf-float-tiff": (lambda p: save_pil(p.with_suffix(".tif"), np.full((H, W), np.inf, np.float32), "F"), ["NaN or infinite"]),
    "negative-int32-tiff": (lambda p: save_pil(p.with_suffix(".tif"), np.full((H, W), -7, np.int32), "I"), ["outside 0..65535"]),
    "size-mismatch": (lambda p: p.write_bytes(encoded(".png", GOOD_IR[:20, :30])), ["30x20", "48x32", "--resize-ir-to-vi"]),
    "too-small": (lambda p: None, ["at least 8 pixels"]),  # both images 5x4: made below
    "folder-as-file": (lambda p: p.mkdir(), ["must both be files or both be folders"]),
    "broken-symlink": (lambda p: p.symlink_to(p.parent / "nowhere.png"), ["not found"]),
}


def _make_case(tmp_path: Path, name: str) -> tuple[Path, Path]:
    d = tmp_path / "in"
    d.mkdir()
    vi = write_image(d / "vi.png", GOOD_VI)
    ir = d / "ir.png"
    make, _ = BAD_IR_FILES[name]
    make(ir)
    for alt in (".jpg", ".tif"):
        if ir.with_suffix(alt).exists():
            ir = ir.with_suffix(alt)
    if name == "too-small":
        write_image(ir, GOOD_IR[:4, :5])
        write_image(vi, GOOD_VI[:4, :5], overwrite=True)
    return ir, vi


def assert_no_output(out_dir: Path, keep: set[str] = frozenset()) -> None:
    left = [p.name for p in out_dir.rglob("*")] if out_dir.exists() else []
    assert sorted(set(left) - set(keep)) == [], f"left behind: {left}"


@pytest.mark.parametrize("name", list(BAD_IR_FILES))
def test_bad_input_file_single_pair(ckpt, tmp_path, capsys, name):
    ir, vi = _make_case(tmp_path, name)
    rc = main(["fuse", "--checkpoint", str(ckpt), "--ir", str(ir), "--vi", str(vi), "--out", str(tmp_path / "out" / "f.png")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and ir.name in err, err  # names the file
    for word in BAD_IR_FILES[name][1]:
        assert word in err, err
    assert_no_output(tmp_path / "out")
    assert not [p for p in (tmp_path / "in").iterdir() if p.name.startswith(".")]  # no temp files next to inputs


# bad command lines / outputs: (arguments after "fuse --checkpoint CKPT", words in the message)
def _bad_invocations(t: Path) -> dict[str, tuple[list, list[str]]]:
    ir, vi = t / "data" / "ir" / "a.png", t / "data" / "vi" / "a.png"
    return {
        "existing-output": (["--ir", ir, "--vi", vi, "--out", t / "exists.png"], ["already exists", "--overwrite"]),
        "bad-output-extension": (["--ir", ir, "--vi", vi, "--out", t / "out" / "f.xyz"], ["unsupported output extension", ".png"]),
        "output-under-a-file": (["--ir", ir, "--vi", vi, "--out", t / "exists.png" / "f.png"], ["exists.png"]),
        "folder-job-output-is-a-file": (["--input", t / "data", "--out", t / "exists.png"], ["not a folder"]),
        "input-without-ir-vi": (["--input", t / "data" / "ir", "--out", t / "out"], ["expected sub-folders"]),
        "input-and-ir": (["--input", t / "data", "--ir", ir, "--out", t / "out"], ["either --input"]),
        "no-inputs": (["--out", t / "out"], ["give --ir and --vi"]),
        "no-matching-stems": (["--ir", t / "data" / "ir", "--vi", t / "other", "--out", t / "out"], ["no IR/VI pairs"]),
        "duplicate-stems": (["--ir", t / "dup", "--vi", t / "data" / "vi", "--out", t / "out"], ["share the stem"]),
        "empty-frame-folder": (["--ir", t / "empty", "--vi", t / "data" / "vi", "--frames", "--out", t / "out"], ["no image frames"]),
        "garbage-video": (["--ir", t / "bad.mp4", "--vi", t / "bad.mp4", "--out", t / "out" / "f.mp4"], ["cannot open this video"]),
        "bad-tile": (["--ir", ir, "--vi", vi, "--out", t / "out" / "f.png", "--tile", "4"], ["--tile 4 is too small"]),
    }


@pytest.mark.parametrize("name", list(_bad_invocations(Path("."))))
def test_bad_invocation(ckpt, tmp_path, capsys, name):
    for sub in ("ir", "vi"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    write_image(tmp_path / "data" / "ir" / "a.png", GOOD_IR)
    write_image(tmp_path / "data" / "vi" / "a.png", GOOD_VI)
    write_image(tmp_path / "other" / "b.png", GOOD_VI)
    write_image(tmp_path / "dup" / "a.png", GOOD_IR)
    write_image(tmp_path / "dup" / "a.jpg", GOOD_IR)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no frames here")
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 50)
    (tmp_path / "exists.png").write_bytes(b"precious")
    args, words = _bad_invocations(tmp_path)[name]
    rc = main(["fuse", "--checkpoint", str(ckpt)] + [str(a) for a in args])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert (tmp_path / "exists.png").read_bytes() == b"precious"
    assert_no_output(tmp_path / "out")


def test_folder_job_skips_every_bad_pair_and_summarises(ckpt, tmp_path, capsys):
    ir_dir, vi_dir = tmp_path / "d" / "ir", tmp_path / "d" / "vi"
    for stem in ("good1", "good2"):
        write_image(ir_dir / f"{stem}.png", GOOD_IR)
        write_image(vi_dir / f"{stem}.png", GOOD_VI)
    bad = {
        "empty": b"",
        "garbage": b"garbage" * 10,
        "truncated": encoded(".png", GOOD_IR)[:80],
        "mismatch": encoded(".png", GOOD_IR[:20, :30]),
        "bomb": png_header_only(100_000, 100_000),
    }
    for stem, data in bad.items():
        (ir_dir / f"{stem}.png").write_bytes(data)
        write_image(vi_dir / f"{stem}.png", GOOD_VI)
    save_pil(ir_dir / "nan.tif", np.full((H, W), np.nan, np.float32), "F")
    write_image(vi_dir / "nan.png", GOOD_VI)
    (ir_dir / "notes.txt").write_text("x")
    (vi_dir / "Thumbs.db").write_bytes(b"\x00" * 10)
    (vi_dir / "subfolder").mkdir()
    out = tmp_path / "out"
    rc = main(["fuse", "--checkpoint", str(ckpt), "--input", str(tmp_path / "d"), "--out", str(out), "--quiet"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "2 fused, 0 skipped, 6 failed" in cap.out
    for stem in list(bad) + ["nan"]:
        assert f"FAILED  {stem}:" in cap.out
    assert "notes.txt" in cap.err and "Thumbs.db" in cap.err  # non-image files reported, not fatal
    assert sorted(p.name for p in out.iterdir()) == ["good1.png", "good2.png"]  # nothing partial, no temp files


def test_writes_are_atomic(tmp_path, monkeypatch):
    import dspfusion.io as dio

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(dio.os, "replace", boom)
    with pytest.raises(OSError):
        write_image(tmp_path / "f.png", GOOD_VI)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file


def test_written_files_are_readable_by_others(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        p = write_image(tmp_path / "f.png", GOOD_VI)
    finally:
        os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o644


# ---- unusual but valid inputs -------------------------------------------------------------------


def test_sixteen_bit_thermal_png_and_tiff(ckpt, tmp_path):
    raw = (RNG.normal(30000, 200, (H, W))).astype(np.uint16)
    raw[5, 5] = 65535  # a hot pixel
    cv2.imwrite(str(tmp_path / "ir16.png"), raw)
    Image.fromarray(raw).save(tmp_path / "ir16.tif")
    write_image(tmp_path / "vi.png", GOOD_VI)
    for src in ("ir16.png", "ir16.tif"):
        a = read_image(tmp_path / src)
        assert a.dtype == np.uint16 and np.array_equal(a, raw)
    mm, pc = to_float(raw, "minmax"), to_float(raw, "percentile")
    assert mm.min() == 0 and mm.max() == 1 and np.median(mm) < 0.1  # the hot pixel squashes min-max
    assert 0.4 < np.median(pc) < 0.6 and pc[5, 5] == 1  # percentile ignores it (clipped)
    outs = []
    for norm in ("minmax", "percentile"):
        out = tmp_path / f"f_{norm}.png"
        assert main(["fuse", "--checkpoint", str(ckpt), "--ir", str(tmp_path / "ir16.tif"), "--vi", str(tmp_path / "vi.png"),
                     "--out", str(out), "--ir-normalize", norm, "--steps", "1"]) == 0
        outs.append(read_image(out))
    assert not np.array_equal(*outs)


def test_rgba_palette_grey_and_la_visible(tmp_path):
    rgba = np.dstack([GOOD_VI, np.full((H, W), 7, np.uint8)])
    save_pil(tmp_path / "rgba.png", rgba, "RGBA")
    assert np.array_equal(read_image(tmp_path / "rgba.png"), GOOD_VI)
    Image.fromarray(GOOD_VI).quantize(16).save(tmp_path / "pal.png")
    pal = read_image(tmp_path / "pal.png")
    assert pal.shape == (H, W, 3) and pal.dtype == np.uint8
    pal_t = Image.fromarray(GOOD_VI).quantize(16)
    pal_t.info["transparency"] = 0
    pal_t.save(tmp_path / "pal_t.png", transparency=0)
    assert read_image(tmp_path / "pal_t.png").shape == (H, W, 3)
    save_pil(tmp_path / "la.png", np.dstack([GOOD_IR, GOOD_IR]), "LA")
    assert np.array_equal(read_image(tmp_path / "la.png"), GOOD_IR)
    Image.fromarray(GOOD_VI).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert read_image(tmp_path / "cmyk.jpg").shape == (H, W, 3)


def test_exif_orientation_is_applied(ckpt, tmp_path):
    img = Image.fromarray(GOOD_VI)  # 48 wide, 32 high as stored
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img.save(tmp_path / "vi.jpg", exif=exif.tobytes(), quality=95)
    vi = read_image(tmp_path / "vi.jpg")
    assert vi.shape == (W, H, 3)  # displayed upright: 32 wide, 48 high
    write_image(tmp_path / "ir.png", GOOD_IR.T.copy())
    assert main(["fuse", "--checkpoint", str(ckpt), "--ir", str(tmp_path / "ir.png"), "--vi", str(tmp_path / "vi.jpg"),
                 "--out", str(tmp_path / "f.png"), "--steps", "1"]) == 0
    assert read_image(tmp_path / "f.png").shape == (W, H, 3)


def test_grey_visible_gives_grey_output(ckpt, tmp_path):
    write_image(tmp_path / "ir.png", GOOD_IR)
    write_image(tmp_path / "vi.png", GOOD_VI[..., 1].copy())
    assert main(["fuse", "--checkpoint", str(ckpt), "--ir", str(tmp_path / "ir.png"), "--vi", str(tmp_path / "vi.png"),
                 "--out", str(tmp_path / "f.png"), "--steps", "1"]) == 0
    assert read_image(tmp_path / "f.png").shape == (H, W)


def test_read_image_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="is a folder"):
        read_image(tmp_path)


def test_write_text_atomic_replaces_whole_file(tmp_path):
    from dspfusion.io import write_text_atomic

    target = tmp_path / "report.md"
    target.write_text("old")
    assert write_text_atomic(target, "new ünïcode\n") == target
    assert target.read_text(encoding="utf-8") == "new ünïcode\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left behind
