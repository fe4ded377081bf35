"""Image-wide statistics for tiled inference (ours: neither the paper nor the official code tiles).

Three operations of the fusion network (§III-C) make a pixel's output depend on the whole image,
so running the network on tiles changes them:

* **Transposed (channel) attention** — Restormer's MDTA and DPGM's channel cross-attention:
  per head, q and k ``[C/h, H·W]`` are L2-normalised over H·W and ``A = softmax(τ · q̂ k̂ᵀ)``.
  Since ``q̂ k̂ᵀ = (Σ_p q_p k_pᵀ) / (‖q‖ ‖k‖ᵀ)``, the attention needs only three sums over
  pixels: the Gram matrix ``Σ q kᵀ`` ``[B,h,C/h,C/h]`` and the squared norms ``Σ q²``, ``Σ k²``.
* **DPMM's global average** ``mean_{H,W} x`` ``[B,C]``: a sum and a pixel count.
* **Upsample**: bilinear ×2 with ``align_corners=True`` samples the input at
  ``j · (N−1)/(2N−1)``, a grid that depends on the image size N, not only on the position.

All sums are additive over pixels, so they can be gathered tile by tile. :class:`TileStatistics`
is activated with :func:`collecting` around one tile's forward pass; the functions in
:mod:`.restormer` and :mod:`.prior_modulation` then ask it (via :func:`current`) for those
quantities (:func:`~.restormer.transposed_attention` takes q̂k̂ᵀ from :meth:`TileStatistics.cosine`
and does the rest itself). For every global operation (identified by its call order, which is fixed
for a network) it

* **adds** the tile's sums over the pixels the tile *owns* (a partition of the image into
  rectangles, one per tile, given by :class:`TileWindow`), so each pixel counts once; and
* **uses** the image-wide sums gathered in a previous pass over all tiles (``previous``), or the
  tile's own statistics when there is none.

One pass with per-tile statistics followed by passes that reuse the previous pass's totals is a
fixed-point iteration; :func:`dspfusion.tiling.fuse_tiled` measures how close it gets to the
untiled output. The upsampling grid is always the whole image's. Without an active
:class:`TileStatistics` (training, untiled inference, ONNX export) the network is unchanged.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .common import cosine_from_gram, squared_norms

_ACTIVE: ContextVar["TileStatistics | None"] = ContextVar("dspfusion_tile_statistics", default=None)


@dataclass(frozen=True)
class TileWindow:
    """Where one tile lies in the padded image, in full-resolution pixels.

    ``y, x``: the tile's top-left corner; ``h, w``: its size; ``full_h, full_w``: the padded image;
    ``own``: ``(y0, y1, x0, x1)``, the rectangle of the tile (tile coordinates) whose pixels it
    contributes to the image-wide sums. All values must be multiples of the network's coarsest
    stride (the model's ``pad_multiple``) so that they map to whole feature pixels at every level.
    """

    y: int
    x: int
    h: int
    w: int
    full_h: int
    full_w: int
    own: tuple[int, int, int, int]


class TileStatistics:
    """Gathers image-wide sums over tiles and serves the previous pass's sums to the network."""

    def __init__(self, previous: list[tuple[torch.Tensor, ...]] | None = None, gather: bool = True) -> None:
        self.previous = previous
        self.gather = gather  # False: only serve ``previous`` (the output pass), skip the sums
        self.totals: list[list[torch.Tensor]] = []
        self.window: TileWindow | None = None
        self._calls = 0

    def begin(self, window: TileWindow) -> None:
        """Start a tile: global operations are numbered from 0 again."""
        self.window = window
        self._calls = 0

    # -- helpers ------------------------------------------------------------------------------
    def _factor(self, h: int, w: int) -> int:
        win = self.window
        if win is None:
            raise RuntimeError("TileStatistics.begin(window) must be called before the forward pass")
        f = win.h // h
        if f * h != win.h or f * w != win.w:
            raise RuntimeError(f"feature map {h}x{w} is not a whole fraction of the {win.h}x{win.w} tile")
        return f

    def _owned(self, x: torch.Tensor) -> torch.Tensor:
        """The owned rectangle of a ``[B,C,h,w]`` feature map of this tile."""
        f = self._factor(*x.shape[-2:])
        y0, y1, x0, x1 = (v // f for v in self.window.own)
        return x[..., y0:y1, x0:x1]

    def _record(self, sums: Callable[[], list[torch.Tensor]]) -> tuple[torch.Tensor, ...] | None:
        """Add this call's sums (computed only when ``gather``) to the running totals; return the previous pass's
        totals for this call (or None)."""
        i = self._calls
        self._calls += 1
        if self.gather:
            if i == len(self.totals):
                self.totals.append([t.clone() for t in sums()])
            else:
                for acc, t in zip(self.totals[i], sums()):
                    acc += t
        if self.previous is None:
            return None
        if i >= len(self.previous):
            raise RuntimeError("the network made more global operations than in the previous pass")
        return self.previous[i]

    # -- the three global operations -------------------------------------------------------------
    def cosine(self, q: torch.Tensor, k: torch.Tensor, heads: int) -> torch.Tensor:
        """The image-wide q̂k̂ᵀ of transposed attention. q, k ``[B,C,h,w]`` → ``[B,heads,C/h,C/h]``."""
        split = lambda t: t.reshape(t.shape[0], heads, t.shape[1] // heads, -1)  # noqa: E731
        qo, ko = self._owned(q), self._owned(k)
        prev = self._record(lambda: [split(qo) @ split(ko).transpose(-2, -1), squared_norms(qo, heads), squared_norms(ko, heads)])
        if prev is None:
            gram, nq, nk = split(q) @ split(k).transpose(-2, -1), squared_norms(q, heads), squared_norms(k, heads)
        else:
            gram, nq, nk = prev
        return cosine_from_gram(gram, nq, nk)

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """Image-wide ``mean_{H,W}`` of a ``[B,C,h,w]`` feature map → ``[B,C]``."""
        xo = self._owned(x)
        prev = self._record(lambda: [xo.sum(dim=(2, 3)), torch.full((), float(xo.shape[-2] * xo.shape[-1]),
                                                                     dtype=x.dtype, device=x.device)])
        if prev is None:
            return x.mean(dim=(2, 3))
        total, n = prev
        return total / n

    def upsample2x(self, x: torch.Tensor) -> torch.Tensor:
        """Bilinear ×2 with ``align_corners=True`` on the whole image's grid. ``[B,C,h,w]`` → ``[B,C,2h,2w]``.

        Output pixels whose source lies outside the tile (a fraction of a pixel at its far edges) read
        the tile's edge pixel; the overlap between tiles hides that.
        """
        h, w = x.shape[-2:]
        f = self._factor(h, w)
        win = self.window
        x = _lerp_axis(x, -2, win.y // f, win.full_h // f)
        return _lerp_axis(x, -1, win.x // f, win.full_w // f)


def _lerp_axis(x: torch.Tensor, dim: int, offset: int, full: int) -> torch.Tensor:
    """Upsample axis ``dim`` of a tile ×2; the tile starts at ``offset`` of an axis ``full`` long."""
    n = x.shape[dim]
    scale = (full - 1) / (2 * full - 1) if full > 1 else 0.0
    pos = (torch.arange(2 * n, dtype=torch.float64) + 2 * offset) * scale - offset
    pos = pos.clamp(0, n - 1)
    i0 = pos.floor().long().clamp(max=n - 1)
    i1 = (i0 + 1).clamp(max=n - 1)
    t = (pos - i0).to(x.dtype).to(x.device)
    shape = [1] * x.dim()
    shape[dim] = 2 * n
    a, b = x.index_select(dim, i0.to(x.device)), x.index_select(dim, i1.to(x.device))
    return a + (b - a) * t.reshape(shape)


def current() -> TileStatistics | None:
    """The active :class:`TileStatistics`, or None outside :func:`collecting`."""
    return _ACTIVE.get()


@contextmanager
def collecting(stats: TileStatistics) -> Iterator[TileStatistics]:
    """Route the network's global operations through ``stats`` inside the block."""
    token = _ACTIVE.set(stats)
    try:
        yield stats
    finally:
        _ACTIVE.reset(token)
