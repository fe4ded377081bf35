"""Fast image decoding for training (OpenCV) and a per-process cache of decoded images.

Training reads the same small images over and over (msrs1083 is 1,083 pairs of 171x128), so each worker keeps
the decoded uint8 arrays in RAM up to a budget; ``max_side`` downscales big images once, on load (INTER_AREA).
Palette PNGs and greyscale JPEGs decode correctly through OpenCV (checked against Pillow on the sample data).
For reading users' files in the CLI, use :func:`dspfusion.io.read_image` (Pillow; EXIF, 16-bit, alpha).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError


def decode(path: str | Path, grey: bool) -> np.ndarray:
    """Decode ``path`` → uint8 HxW (``grey``) or HxWx3 RGB (grey files replicated). UserError if unreadable."""
    path = Path(path)
    try:
        buf = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode also works with non-ASCII paths
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc}); check the path and permissions") from None
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise UserError(f"{path}: not a decodable image (corrupt, empty or unsupported format); re-export it as PNG")
    if not grey:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img


def limit_side(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale (INTER_AREA, aspect kept) so that the longest side is at most ``max_side``."""
    if max_side is None or max(img.shape[:2]) <= max_side:
        return img
    h, w = img.shape[:2]
    f = max_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


class ImageCache:
    """Decoded images keyed by (path, grey), kept until ``budget_mb`` is used; then images are decoded on
    every request. Arrays are returned read-only: copy before modifying."""

    def __init__(self, max_side: int | None = None, budget_mb: float = 2048.0) -> None:
        self.max_side = max_side
        self.budget = int(budget_mb * 2**20)
        self.used = 0
        self._store: dict[tuple[str, bool], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._store)

    def get(self, path: str | Path, grey: bool) -> np.ndarray:
        key = (str(path), grey)
        img = self._store.get(key)
        if img is None:
            img = limit_side(decode(path, grey), self.max_side)
            img.setflags(write=False)
            if self.used + img.nbytes <= self.budget:
                self._store[key] = img
                self.used += img.nbytes
        return img
