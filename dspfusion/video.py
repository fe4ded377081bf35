"""Fusing frame sequences: IR/VI videos or folders of frames, paired by index.

A *sequence* is a video file (decoded with OpenCV's ``VideoCapture``) or a folder
of images sorted in natural order (``f2.png`` before ``f10.png``). Frame *i* of
the IR sequence is fused with frame *i* of the VI sequence; there is no temporal
alignment, so the two sequences must be registered in time and have the same
length. When the lengths differ the job stops before fusing anything and says
both counts; ``truncate=True`` (``--truncate``) fuses the first min(N_ir, N_vi)
pairs instead.

Every frame uses the same SPDM seed, so a static scene gives the same fused
frame each time (no seed flicker). Output is either

* a video (``.mp4``/``.avi``/``.mov``/``.mkv``: OpenCV ``VideoWriter``, MPEG-4 Part 2
  "mp4v" codec), written to a temporary file in the destination folder and renamed
  into place at the end, so an interrupted or failed job leaves no partial video
  (a bad frame is then an error: dropping it would shift the timing). The codec is
  lossy and its encoder drops the last row/column of odd-sized frames; or
* a folder of PNG frames, written atomically one by one; bad frame pairs are
  skipped and listed in the summary, like folder jobs (:mod:`dspfusion.batch`).
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .batch import BatchResult
from .errors import UserError
from .io import commit_temp, is_image_file, read_image, write_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")
DEFAULT_FPS = 25.0


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers numerically: ``f2`` < ``f10``."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name.lower())]


@dataclass
class FrameSequence:
    """A video file or a frame folder: its length, frame rate and a lazy frame iterator."""

    path: Path
    count: int
    fps: float | None  # None for frame folders
    frames: list[Path] = field(default_factory=list)  # frame folders only
    ignored: list[Path] = field(default_factory=list)  # non-image files in a frame folder

    @property
    def is_video(self) -> bool:
        return self.fps is not None

    def label(self, index: int) -> str:
        return f"{self.frames[index].name}" if self.frames else f"frame {index}"

    def __iter__(self) -> Iterator[np.ndarray | UserError]:
        """Frames as uint8 RGB (or grey) arrays; an unreadable folder frame is yielded as its UserError."""
        if not self.is_video:
            for p in self.frames:
                try:
                    yield read_image(p)
                except UserError as exc:
                    yield exc
            return
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        try:
            for i in range(self.count):
                ok, bgr = cap.read()
                if not ok:
                    raise UserError(
                        f"{self.path}: the video ends (or cannot be decoded) after {i} of the {self.count} frames its "
                        "header announces; the file is probably truncated — re-export it, or pass --truncate with a "
                        "shorter partner"
                    )
                yield np.ascontiguousarray(bgr[..., ::-1])
        finally:
            cap.release()


def open_sequence(path: str | Path) -> FrameSequence:
    """A video file or a frame folder → :class:`FrameSequence` (raises UserError naming the problem)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: not found; check the path")
    if path.is_dir():
        frames, ignored = [], []
        for p in sorted(path.iterdir(), key=lambda q: natural_key(q.name)):
            if p.name.startswith("."):
                continue
            (frames if is_image_file(p) else ignored).append(p)
        if not frames:
            raise UserError(f"{path}: no image frames in this folder (expected .png/.jpg/... files)")
        return FrameSequence(path, len(frames), None, frames, ignored)
    if not is_video_path(path):
        raise UserError(f"{path}: not a video file (expected one of {', '.join(VIDEO_EXTENSIONS)}) or a frame folder")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty (0 bytes); re-export or re-copy it")
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise UserError(f"{path}: cannot open this video (corrupt, truncated or an unsupported codec); re-encode it, e.g. to H.264 or MPEG-4 .mp4")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or DEFAULT_FPS
        if count <= 0:  # some containers do not store the length: count by decoding
            count = 0
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if count == 0:
        raise UserError(f"{path}: the video has no decodable frames; re-encode it")
    return FrameSequence(path, count, fps)


def check_lengths(ir: FrameSequence, vi: FrameSequence, truncate: bool) -> int:
    """→ the number of frame pairs to fuse; a clear error naming both counts when they differ."""
    if ir.count != vi.count and not truncate:
        raise UserError(
            f"the sequences have different lengths: IR {ir.path} has {ir.count} frames, VI {vi.path} has "
            f"{vi.count}. Frames are paired by index, so they must match; trim one, or pass --truncate to fuse "
            f"only the first {min(ir.count, vi.count)} pairs"
        )
    return min(ir.count, vi.count)


class _VideoSink:
    """Writes RGB/grey uint8 frames to a temporary video next to ``path``; ``commit`` renames it into place."""

    def __init__(self, path: Path, fps: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        self.path, self.tmp, self.fps, self.writer = path, Path(tmp), fps, None

    def write(self, frame: np.ndarray) -> None:
        import cv2

        if self.writer is None:
            h, w = self.size = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise UserError(f"{self.path}: OpenCV cannot write this video format; use an .mp4 or .avi output")
        elif frame.shape[:2] != self.size:
            (h0, w0), (h, w) = self.size, frame.shape[:2]
            raise UserError(f"frames change size ({w0}x{h0}, then {w}x{h}); a video needs one size — write frames to a folder instead")
        bgr = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame[..., ::-1]
        self.writer.write(np.ascontiguousarray(bgr))

    def close(self, commit: bool, overwrite: bool) -> None:
        if self.writer is not None:
            self.writer.release()
        if not commit:
            self.tmp.unlink(missing_ok=True)
            return
        if self.path.exists() and not overwrite:
            self.tmp.unlink(missing_ok=True)
            raise UserError(f"{self.path}: appeared while fusing; not replaced (pass --overwrite)")
        commit_temp(self.tmp, self.path)


def fuse_sequences(
    fuser,
    ir: FrameSequence,
    vi: FrameSequence,
    out: Path,
    truncate: bool = False,
    overwrite: bool = False,
    fps: float | None = None,
    progress: bool = True,
    **fuse_kwargs,
) -> BatchResult:
    """Fuse frame *i* of ``ir`` with frame *i* of ``vi`` into a video (``out`` has a video suffix) or a folder."""
    from tqdm import tqdm

    from .inference import prepare_pair, to_uint8

    n = check_lengths(ir, vi, truncate)
    to_video = is_video_path(out)
    if to_video and out.exists() and not overwrite:
        raise UserError(f"{out}: already exists; choose another --out or pass --overwrite")
    if not to_video and out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; give a folder or a video file name (.mp4) as --out")
    prep = {k: fuse_kwargs.pop(k) for k in ("resize_ir_to_vi", "ir_normalize") if k in fuse_kwargs}
    stretch = fuse_kwargs.pop("stretch", False)
    res = BatchResult()
    sink = _VideoSink(out, fps or vi.fps or ir.fps or DEFAULT_FPS) if to_video else None
    ok = False
    try:
        pairs = zip(range(n), ir, vi)
        for i, a, b in tqdm(pairs, total=n, desc="fusing frames", unit="frame", disable=not progress):
            name = vi.label(i) if vi.frames else f"{i:06d}"
            dst = None if to_video else out / f"{Path(name).stem}.png"
            if dst is not None and dst.exists() and not overwrite:
                res.skipped.append((name, f"{dst} exists (pass --overwrite to replace it)"))
                continue
            try:
                for x in (a, b):
                    if isinstance(x, UserError):
                        raise x
                inp = prepare_pair(a, b, names=(f"{ir.path} {ir.label(i)}", f"{vi.path} {vi.label(i)}"), **prep)
                frame = to_uint8(fuser.fuse_tensors(inp.ir, inp.vi, **fuse_kwargs), stretch=stretch, colour=inp.vi_is_colour)
            except UserError as exc:
                if to_video:
                    raise UserError(f"frame {i}: {exc}; no video was written") from None
                res.failed.append((name, str(exc)))
                continue
            if sink is not None:
                sink.write(frame)
            else:
                res.written.append(write_image(dst, frame, overwrite=overwrite))
        ok = True
    finally:
        if sink is not None:
            sink.close(commit=ok, overwrite=overwrite)
    if sink is not None:
        res.written.append(out)
    return res
