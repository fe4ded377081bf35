"""Reading and writing images the way users' files actually come.

* :func:`read_image` decodes with Pillow (EXIF orientation applied; palette, LA,
  RGBA, CMYK and 16-bit modes converted) and returns ``uint8`` or, for 16-bit
  thermal data, ``uint16`` arrays, HxW (grey) or HxWx3 (RGB). Every failure is a
  :class:`~dspfusion.errors.UserError` that names the file, the problem and a fix.
* :func:`write_image` never leaves a partial file: it writes a temporary file in
  the destination folder and renames it into place, and refuses to replace an
  existing file unless ``overwrite=True``.
* :func:`pair_folders` matches IR/VI files by stem and reports the unmatched ones.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def read_image(path: str | Path) -> np.ndarray:
    """Decode ``path`` → uint8 (or uint16) array, HxW or HxWx3 RGB. Alpha is dropped (composited on black is *not*
    done: the colour channels are kept as stored, which is what cameras that write RGBA mean)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty (0 bytes); re-export or re-copy it")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            arr = _to_array(im)
    except UnidentifiedImageError:
        raise UserError(
            f"{path}: not a readable image (unknown or corrupt format); supported: {', '.join(IMAGE_EXTENSIONS)}"
        ) from None
    except Image.DecompressionBombError as exc:
        raise UserError(f"{path}: refused: {exc} If the file is genuine, raise PIL.Image.MAX_IMAGE_PIXELS") from None
    except _PixelProblem as exc:
        raise UserError(f"{path}: {exc}") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; make the file readable") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path}: the image is corrupt or truncated ({exc}); re-export or re-copy it") from None
    if arr.size == 0 or min(arr.shape[:2]) == 0:
        raise UserError(f"{path}: the image has no pixels ({arr.shape})")
    return arr


class _PixelProblem(Exception):
    """Decodable, but the pixel values cannot be used as an image (message says why and what to do)."""


def _to_array(im) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16).copy()
    if mode == "I":  # 32-bit int, usually 16-bit data stored wide (e.g. some TIFF/PNG decoders)
        a = np.asarray(im, dtype=np.int64)
        if a.min() >= 0 and a.max() <= 65535:
            return a.astype(np.uint16)
        raise _PixelProblem(
            f"32-bit integer pixels outside 0..65535 (range {a.min()}..{a.max()}); save it as 16-bit or 32-bit float"
        )
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            raise _PixelProblem(
                f"{bad} pixel(s) are NaN or infinite; replace them (e.g. with the minimum valid value) and save again"
            )
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        return ((a - lo) / max(hi - lo, 1e-12) * 65535).round().astype(np.uint16)
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    if mode == "LA":
        return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def to_float(arr: np.ndarray, normalize: str = "auto") -> np.ndarray:
    """uint8/uint16/float array → float32 in [0, 1].

    ``normalize`` applies to 16-bit and float data: ``"auto"`` (16-bit: min–max;
    float: assume [0, 1] if it fits, else min–max), ``"minmax"``, ``"percentile"``
    (1st–99th percentile, clipped; robust to hot pixels), or ``"none"`` (divide
    by the dtype's maximum).
    """
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    a = arr.astype(np.float32)
    if normalize == "none":
        return a / 65535.0 if arr.dtype == np.uint16 else np.clip(a, 0, 1)
    if normalize == "auto" and arr.dtype != np.uint16 and a.min() >= 0 and a.max() <= 1:
        return a
    if normalize == "percentile":
        lo, hi = np.percentile(a, [1, 99])
    else:
        lo, hi = float(a.min()), float(a.max())
    return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def write_image(path: str | Path, arr: np.ndarray, overwrite: bool = False) -> Path:
    """Write a uint8 HxW or HxWx3 RGB array as an image, atomically (temp file + rename)."""
    import cv2

    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path}: already exists; choose another output or pass --overwrite")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give an output file name such as {path / 'fused.png'}")
    if arr.dtype != np.uint8:
        raise ValueError(f"write_image expects uint8, got {arr.dtype}")
    bgr = arr[..., ::-1] if arr.ndim == 3 else arr
    ext = path.suffix.lower() or ".png"
    try:
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr))
    except cv2.error:
        ok = False
    if not ok:
        raise UserError(f"{path}: cannot encode an image with extension {ext!r}; use .png (lossless) or .jpg")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot create the output folder {path.parent} ({exc.strerror}); choose another --out") from None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.tobytes())
        commit_temp(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) atomically: a temporary file in the same folder, then a rename, so a
    reader never sees a half-written file. For reports and logs; user outputs go through :func:`write_image`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        commit_temp(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_or_print(text: str, out: str | Path | None) -> None:
    """The tail of a report script: write ``text`` to ``out`` atomically (creating its folder) and say so, or print
    it when ``out`` is None."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)
        print(f"wrote {out}")
    else:
        print(text)


def write_csv_atomic(path: str | Path, rows: list[dict]) -> Path:
    """Write ``rows`` (dicts with the same keys; the first row's order gives the columns) as CSV with a header,
    atomically as :func:`write_text_atomic` does. For benchmark result tables."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def commit_temp(tmp: str | Path, path: str | Path) -> None:
    """Rename a finished temporary file onto ``path`` with the usual permissions (mkstemp creates 0600 files)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


@dataclass
class Pairing:
    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)  # (stem, ir, vi)
    only_ir: list[Path] = field(default_factory=list)
    only_vi: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # non-image files

    def report(self) -> str:
        lines = []
        if self.only_ir:
            lines.append(f"{len(self.only_ir)} IR file(s) without a VI partner: " + ", ".join(p.name for p in self.only_ir[:10]))
        if self.only_vi:
            lines.append(f"{len(self.only_vi)} VI file(s) without an IR partner: " + ", ".join(p.name for p in self.only_vi[:10]))
        if self.ignored:
            lines.append(f"{len(self.ignored)} non-image file(s) ignored: " + ", ".join(p.name for p in self.ignored[:10]))
        return "\n".join(lines)


def _index(folder: Path, ignored: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if is_image_file(p):
            if p.stem in out:
                raise UserError(f"{folder}: two images share the stem {p.stem!r} ({out[p.stem].name}, {p.name}); rename one")
            out[p.stem] = p
        elif p.is_file():
            ignored.append(p)
    return out


def pair_folders(ir_dir: str | Path, vi_dir: str | Path) -> Pairing:
    """Match images in two folders by file stem (``01.png`` ↔ ``01.jpg``)."""
    ir_dir, vi_dir = Path(ir_dir), Path(vi_dir)
    for d in (ir_dir, vi_dir):
        if not d.is_dir():
            raise UserError(f"{d}: folder not found")
    res = Pairing()
    ir, vi = _index(ir_dir, res.ignored), _index(vi_dir, res.ignored)
    res.pairs = [(s, ir[s], vi[s]) for s in sorted(set(ir) & set(vi))]
    res.only_ir = [ir[s] for s in sorted(set(ir) - set(vi))]
    res.only_vi = [vi[s] for s in sorted(set(vi) - set(ir))]
    return res


def find_pair_folders(root: str | Path) -> tuple[Path, Path]:
    """``DIR`` → (DIR/ir, DIR/vi) or (DIR/Infrared, DIR/Visible) (case-insensitive)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: folder not found")
    names = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for a, b in (("ir", "vi"), ("infrared", "visible")):
        if a in names and b in names:
            return names[a], names[b]
    raise UserError(f"{root}: expected sub-folders ir/ + vi/ or Infrared/ + Visible/; found {sorted(names) or 'none'}")
