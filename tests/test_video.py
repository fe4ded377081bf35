"""Video and frame-sequence fusion (dspfusion.video) through ``dspfusion fuse``: 5-frame 64x48 clips, the seeded
random "tiny-official" checkpoint, one SPDM step."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dspfusion import official
from dspfusion.cli import main
from dspfusion.inference import Fuser
from dspfusion.io import read_image, write_image
from dspfusion.models import build_model
from dspfusion.video import natural_key, open_sequence

H, W, N = 48, 64, 5


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt")
    official.export_official(build_model("tiny-official"), d)
    return d


@pytest.fixture(scope="module")
def fuser(ckpt):
    from dspfusion.checkpoint import load_model

    return Fuser(load_model(ckpt)[0], device="cpu", steps=1)


def frames(n: int, seed: int, colour: bool = True) -> list[np.ndarray]:
    """A moving bright square on a ramp: smooth content the mp4v codec keeps well."""
    out = []
    yy, xx = np.mgrid[0:H, 0:W]
    for i in range(n):
        f = (40 + 120 * xx / W + 20 * seed).astype(np.float32)
        f[10:26, 5 + 8 * i : 21 + 8 * i] = 230
        f = np.clip(f, 0, 255).astype(np.uint8)
        out.append(np.stack([f, np.roll(f, 3, 0), 255 - f], -1) if colour else f)
    return out


def write_video(path, imgs, fps=10.0):
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    for im in imgs:
        vw.write(np.ascontiguousarray((cv2.cvtColor(im, cv2.COLOR_GRAY2BGR) if im.ndim == 2 else im[..., ::-1])))
    vw.release()
    return path


def read_video(path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f[..., ::-1].copy())
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return out, fps


def run(*args):
    return main([str(a) for a in args] + ["--steps", "1", "--quiet"])


@pytest.fixture
def clips(tmp_path):
    return write_video(tmp_path / "ir.mp4", frames(N, 0, colour=False)), write_video(tmp_path / "vi.mp4", frames(N, 1))


def no_temp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(".")]


def test_video_to_video(ckpt, clips, tmp_path, capsys):
    ir, vi = clips
    assert main([str(a) for a in ("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", vi, "--out", tmp_path / "f.mp4", "--steps", "1")]) == 0
    cap = capsys.readouterr()
    assert f"({N} frames)" in cap.out and "fusing frames" in cap.err  # summary line and the progress bar
    got, fps = read_video(tmp_path / "f.mp4")
    assert len(got) == N and got[0].shape == (H, W, 3) and fps == pytest.approx(10.0)
    assert no_temp_files(tmp_path)


def test_video_to_frames_is_framewise_fusion(ckpt, fuser, clips, tmp_path):
    ir, vi = clips
    assert run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", vi, "--out", tmp_path / "out") == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"{i:06d}.png" for i in range(N)]
    ir_frames, _ = read_video(ir)
    vi_frames, _ = read_video(vi)
    for i in (0, N - 1):  # frame i of the output is the fusion of frame i of each input, same seed every frame
        want = fuser.fuse(ir_frames[i], vi_frames[i], seed=0)
        assert np.array_equal(read_image(tmp_path / "out" / f"{i:06d}.png"), want)


def test_frame_folders_pair_by_index_in_natural_order(ckpt, fuser, tmp_path):
    ir_imgs, vi_imgs = frames(3, 0, colour=False), frames(3, 1)
    for i, k in enumerate((1, 2, 10)):  # lexical order would put 10 before 2
        write_image(tmp_path / "ir" / f"a{k}.png", ir_imgs[i])
        write_image(tmp_path / "vi" / f"cam_{k}.png", vi_imgs[i])
    (tmp_path / "vi" / "notes.txt").write_text("not a frame")
    assert run("fuse", "--checkpoint", ckpt, "--ir", tmp_path / "ir", "--vi", tmp_path / "vi", "--frames",
               "--out", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cam_1.png", "cam_10.png", "cam_2.png"]
    want = fuser.fuse(tmp_path / "ir" / "a10.png", tmp_path / "vi" / "cam_10.png", seed=0)
    assert np.array_equal(read_image(tmp_path / "out" / "cam_10.png"), want)
    seq = open_sequence(tmp_path / "vi")
    assert [p.name for p in seq.frames] == ["cam_1.png", "cam_2.png", "cam_10.png"] and seq.ignored[0].name == "notes.txt"
    assert sorted(["f10", "f2", "f1"], key=natural_key) == ["f1", "f2", "f10"]


def test_frame_folders_to_video_with_fps(ckpt, tmp_path):
    for i, im in enumerate(frames(3, 0, colour=False)):
        write_image(tmp_path / "ir" / f"{i}.png", im)
    for i, im in enumerate(frames(3, 1)):
        write_image(tmp_path / "vi" / f"{i}.png", im)
    assert run("fuse", "--checkpoint", ckpt, "--input", tmp_path, "--frames", "--out", tmp_path / "f.avi", "--fps", "7") == 0
    got, fps = read_video(tmp_path / "f.avi")
    assert len(got) == 3 and fps == pytest.approx(7.0)


def test_different_lengths_clear_error_then_truncate(ckpt, tmp_path, capsys):
    ir = write_video(tmp_path / "ir.mp4", frames(5, 0, colour=False))
    vi = write_video(tmp_path / "vi.mp4", frames(4, 1))
    rc = run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", vi, "--out", tmp_path / "f.mp4")
    err = capsys.readouterr().err
    assert rc == 2 and "has 5 frames" in err and "has 4" in err and "--truncate" in err
    assert not (tmp_path / "f.mp4").exists() and no_temp_files(tmp_path)
    assert run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", vi, "--out", tmp_path / "f.mp4", "--truncate") == 0
    assert len(read_video(tmp_path / "f.mp4")[0]) == 4


def test_existing_video_not_overwritten(ckpt, clips, tmp_path, capsys):
    ir, vi = clips
    out = tmp_path / "f.mp4"
    out.write_bytes(b"precious")
    rc = run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", vi, "--out", out)
    assert rc == 2 and "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"precious"
    assert run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", vi, "--out", out, "--overwrite") == 0
    assert len(read_video(out)[0]) == N


@pytest.mark.parametrize(
    "content,needle",
    [(b"", "empty"), (b"not a video at all" * 20, "cannot open this video"), ("half", "cannot open this video")],
    ids=["empty", "garbage", "truncated"],
)
def test_unreadable_video(ckpt, clips, tmp_path, capsys, content, needle):
    ir, vi = clips
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(vi.read_bytes()[: vi.stat().st_size // 2] if content == "half" else content)
    rc = run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", bad, "--out", tmp_path / "f.mp4")
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "bad.mp4" in err
    assert not (tmp_path / "f.mp4").exists() and no_temp_files(tmp_path)


def test_bad_frame_video_output_fails_cleanly_folder_output_skips(ckpt, tmp_path, capsys):
    for i, im in enumerate(frames(3, 0, colour=False)):
        write_image(tmp_path / "ir" / f"{i}.png", im)
    for i, im in enumerate(frames(3, 1)):
        write_image(tmp_path / "vi" / f"{i}.png", im)
    (tmp_path / "vi" / "1.png").write_bytes(b"corrupt")
    rc = run("fuse", "--checkpoint", ckpt, "--input", tmp_path, "--frames", "--out", tmp_path / "o" / "f.mp4")
    err = capsys.readouterr().err
    assert rc == 2 and "frame 1" in err and "1.png" in err and "no video was written" in err
    assert not (tmp_path / "o" / "f.mp4").exists() and no_temp_files(tmp_path / "o")
    rc = run("fuse", "--checkpoint", ckpt, "--input", tmp_path, "--frames", "--out", tmp_path / "frames")
    out = capsys.readouterr().out
    assert rc == 1 and "2 fused" in out and "1 failed" in out
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["0.png", "2.png"]


def test_video_mixed_with_an_image_is_refused(ckpt, clips, tmp_path, capsys):
    ir, _ = clips
    write_image(tmp_path / "vi.png", frames(1, 1)[0])
    rc = run("fuse", "--checkpoint", ckpt, "--ir", ir, "--vi", tmp_path / "vi.png", "--out", tmp_path / "f.mp4")
    err = capsys.readouterr().err
    assert rc == 2 and "vi.png" in err and "not a video file" in err
