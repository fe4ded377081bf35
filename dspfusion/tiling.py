"""Tiled fusion of large images: bounded memory, feathered blending, priors computed once.

The fusion network's memory grows with the image area (a 4096×3072 pair needs
several GB even for the "lite" preset), so :func:`fuse_tiled` runs it on
overlapping tiles and blends the tiles back with linear feathering:

* **Priors once per image.** SPEN and DPEN pool their features to a fixed 4×4
  grid (:mod:`dspfusion.models.prior_encoder`), so the priors are global image
  descriptors of constant size. They are computed once, on the whole pair (by
  default at full resolution; ``prior_max_side`` N computes them on a copy
  shrunk, area-averaged, to a long side of at most N pixels, which saves memory
  on very large images), and the SPDM sampler runs once; every tile
  then gets the *same* Pd_ir, Pd_vi and Ps. Per-tile priors would describe each
  tile's content instead of the scene and would differ between neighbouring
  tiles, which shows as seams. Deviation (ours): the official code has no tiling.
  Shrunk priors differ from full-resolution ones because the 7×7/stride-4 stem
  sees a coarser image, and with the trained "lite" weights the difference is
  large (the DPEN prior of the VI image changes most);
  ``benchmarks/bench_tiling_memory.py`` measures it and the memory saved.
* **Tiles on the padded lattice.** The pair is reflect-padded to a multiple of
  ``pad_multiple`` exactly as the untiled path does; tile size and overlap are
  multiples of it, so every tile starts on the same pixel-(un)shuffle lattice as
  the whole image. The last tile in each direction is aligned to the far edge.
* **Image-wide statistics.** The Restormer's channel attention L2-normalises q and k over the
  whole image, DPMM averages over it, and the ×2 upsampling grid depends on its size
  (:mod:`dspfusion.models.tile_statistics`). Per-tile statistics make the trained "lite" tiles
  disagree by tens of grey levels (docs/BENCHMARKS.md, tiling section, 0 passes). So
  ``stat_passes`` passes over the tiles first gather those sums over the whole image (each pixel counted once, in the tile that owns it; the first
  pass runs on per-tile statistics, each later pass on the previous pass's sums), and the output
  pass uses the last sums. Every pass costs one run over the tiles; the default 3 passes
  quadruple the time. ``benchmarks/bench_tiling_memory.py`` measures the remaining difference.
* **Feathering.** Each tile's weight ramps linearly from ~0 to 1 across the
  pixels it shares with its neighbour (1 on image borders), and the output is
  ``Σ w·tile / Σ w``. The convolutions still see zero padding at tile borders; the overlap
  and the feathering hide that.

When the padded image fits in one tile and the priors are not shrunk, the result is bit-for-bit
the untiled one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .errors import UserError
from .models.tile_statistics import TileStatistics, TileWindow, collecting

if TYPE_CHECKING:
    from .models.dspfusion import DSPFusion, Priors

DEFAULT_OVERLAP = 32
DEFAULT_PRIOR_MAX_SIDE: int | None = None  # None: priors from the full-resolution image
# 3: with the step-30,200 weights, 2 passes leave 2.8 grey levels (mean) between tiled and untiled output on the
# built-in example with 128-px tiles, 3 passes 1.2, 4 passes 0.25; step 31,500: 1.5, 0.98, 0.34 (tests/test_tiling.py)
DEFAULT_STAT_PASSES = 3
# rows per strip of the column-offset sums over the whole image (destriping; bounds their memory)
PREPARE_STRIP_ROWS = 128


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles go along one padded axis of length ``size``."""

    size: int
    tile: int
    starts: tuple[int, ...]

    def weights(self, index: int, feather: bool = True) -> torch.Tensor:
        """1-D blending weight of tile ``index`` (length ``tile``, or ``size`` for a single tile)."""
        n = min(self.tile, self.size)
        w = torch.ones(n)
        if len(self.starts) == 1:
            return w
        s = self.starts[index]
        lead = self.starts[index - 1] + n - s if index > 0 else 0  # pixels shared with the previous tile
        trail = s + n - self.starts[index + 1] if index + 1 < len(self.starts) else 0
        if not feather:  # hard cut in the middle of each overlap (for comparison only)
            if lead:
                w[: lead // 2] = 0
            if trail:
                w[n - trail + trail // 2 :] = 0
            return w
        pos = torch.arange(n, dtype=torch.float32) + 0.5
        if lead:
            w = torch.minimum(w, pos / lead)
        if trail:
            w = torch.minimum(w, (n - pos) / trail)
        return w

    def owned(self, index: int, multiple: int) -> tuple[int, int]:
        """``(start, end)`` in tile coordinates of the pixels tile ``index`` contributes to image-wide
        statistics: the tiles partition the axis at the middle of each overlap, rounded down to ``multiple``."""
        n = min(self.tile, self.size)
        s = self.starts[index]

        def cut(k: int) -> int:  # boundary between tile k and tile k + 1, in image coordinates
            a, b = self.starts[k + 1], self.starts[k] + n
            return max(a, (a + b) // 2 // multiple * multiple)

        lo = cut(index - 1) if index > 0 else 0
        hi = cut(index) if index + 1 < len(self.starts) else self.size
        return lo - s, hi - s


def plan_axis(size: int, tile: int, overlap: int) -> TilePlan:
    """Tile starts covering ``[0, size)``: stride ``tile - overlap``, the last tile flush with the end."""
    if size <= tile:
        return TilePlan(size, tile, (0,))
    starts = list(range(0, size - tile, tile - overlap)) + [size - tile]
    return TilePlan(size, tile, tuple(dict.fromkeys(starts)))


def check_tiling(tile: int, overlap: int, multiple: int, passes: int = 0,
                 prior_max_side: int | None = None) -> tuple[int, int]:
    """Validate ``--tile``/``--tile-overlap``/``--tile-passes``/``--prior-max-side`` and snap tile and overlap to
    ``multiple`` → (tile, overlap).

    The tile is rounded *down* (it is a memory budget), the overlap *up* (it is a
    minimum), both to multiples of the model's ``pad_multiple``.
    """
    if tile < multiple:
        raise UserError(f"--tile {tile} is too small; this model needs tiles of at least {multiple} pixels (use e.g. --tile 512)")
    if prior_max_side is not None and prior_max_side < multiple:
        raise UserError(f"--prior-max-side {prior_max_side} is too small; use at least {multiple} (or leave it unset for full resolution)")
    if passes < 0:
        raise UserError(f"--tile-passes {passes} is negative; use 0 or more (default {DEFAULT_STAT_PASSES})")
    if overlap < 0:
        raise UserError(f"--tile-overlap {overlap} is negative; use 0 or more (default {DEFAULT_OVERLAP})")
    t = tile // multiple * multiple
    o = -(-overlap // multiple) * multiple
    if 2 * o > t:
        snapped = f" (rounded to multiples of {multiple}: overlap {o}, tile {t})" if (o, t) != (overlap, tile) else ""
        raise UserError(
            f"--tile-overlap {overlap} is too large for --tile {tile}{snapped}; use an overlap of at most half the tile"
        )
    return t, o


def _shrink(x: torch.Tensor, max_side: int | None) -> torch.Tensor:
    h, w = x.shape[-2:]
    if max_side is None or max(h, w) <= max_side:
        return x
    s = max_side / max(h, w)
    return F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")


def prior_image(x: torch.Tensor, max_side: int | None, multiple: int) -> torch.Tensor:
    """The copy of an unpadded ``[1,3,H,W]`` image the priors are computed on: shrunk (unless ``max_side`` is None),
    then padded."""
    from .inference import pad_to_multiple

    return pad_to_multiple(_shrink(x, max_side), multiple)


@torch.inference_mode()
def fuse_tiled(
    model,
    ir: torch.Tensor,
    vi: torch.Tensor,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    steps: int | None = None,
    noise: torch.Tensor | None = None,
    prior_max_side: int | None = DEFAULT_PRIOR_MAX_SIDE,
    feather: bool = True,
    progress: bool = False,
    stat_passes: int = DEFAULT_STAT_PASSES,
) -> torch.Tensor:
    """Unpadded ``[1,3,H,W]`` IR/VI in [0,1] → fused ``[1,3,H,W]`` (float, CPU), one tile at a time.

    ``model`` is a :class:`~dspfusion.models.DSPFusion` in eval mode; ``noise`` is SPDM's x_T
    (``model.initial_noise(1, seed)``). Only one tile's activations are alive at a time; the
    full-size tensors are the inputs, the running weighted sum and the weight map, and the priors are
    computed once on the whole image (``prior_max_side`` N: on a copy shrunk to a long side of N). ``stat_passes``:
    passes over the tiles that gather the image-wide statistics before the output pass (0: each
    tile uses its own).
    """
    from tqdm import tqdm

    from .inference import pad_to_multiple

    if ir.shape[0] != 1 or vi.shape != ir.shape:
        raise ValueError(f"fuse_tiled takes one pair of equal shape [1,3,H,W], got {tuple(ir.shape)} and {tuple(vi.shape)}")
    m = model.config.fusion.pad_multiple
    tile, overlap = check_tiling(tile, overlap, m, stat_passes, prior_max_side)
    dev = model.device
    h, w = vi.shape[-2:]

    priors = model.compute_priors(
        prior_image(ir, prior_max_side, m).to(dev), prior_image(vi, prior_max_side, m).to(dev), steps, noise
    )
    ir_p, vi_p = pad_to_multiple(ir, m), pad_to_multiple(vi, m)
    hp, wp = vi_p.shape[-2:]
    rows, cols = plan_axis(hp, tile, overlap), plan_axis(wp, tile, overlap)
    th, tw = min(tile, hp), min(tile, wp)
    jobs = [(i, j) for i in range(len(rows.starts)) for j in range(len(cols.starts))]
    if len(jobs) == 1:  # no tiling needed: keep the exact untiled numbers
        return model.fuse_with_priors(ir_p.to(dev), vi_p.to(dev), priors).float().cpu()[..., :h, :w]
    # destriping and sharpening (models with them) look beyond a tile: the column offsets are the whole image's, and
    # each tile is sharpened with real context around it (prepared_tile), so tiles see what the untiled network sees
    offsets = model.fusion.image_offsets(ir_p, strip=PREPARE_STRIP_ROWS)

    def window(i: int, j: int) -> TileWindow:
        (y0, y1), (x0, x1) = rows.owned(i, m), cols.owned(j, m)
        return TileWindow(rows.starts[i], cols.starts[j], th, tw, hp, wp, (y0, y1, x0, x1))

    def run(stats: TileStatistics, i: int, j: int) -> torch.Tensor:
        y, x = rows.starts[i], cols.starts[j]
        stats.begin(window(i, j))
        with collecting(stats):
            ir_t, vi_t = prepared_tile(model, ir_p, vi_p, priors, offsets, y, x, th, tw, dev)
            return model.fuse_with_priors(ir_t, vi_t, priors, True).float().cpu()

    bar = tqdm(total=len(jobs) * (stat_passes + 1), desc="tiles", unit="tile", disable=not progress, leave=False)
    previous = None
    for _ in range(stat_passes):  # gather the image-wide statistics, each pass using the last one's
        stats = TileStatistics(previous)
        for i, j in jobs:
            run(stats, i, j)
            bar.update()
        previous = stats.totals
    acc = torch.zeros(1, 3, hp, wp)
    wsum = torch.zeros(hp, wp)
    stats = TileStatistics(previous, gather=False)  # the output pass only uses the sums
    for i, j in jobs:
        y, x = rows.starts[i], cols.starts[j]
        out = run(stats, i, j)
        wt = rows.weights(i, feather)[:, None] * cols.weights(j, feather)[None, :]
        acc[..., y : y + th, x : x + tw] += out * wt
        wsum[y : y + th, x : x + tw] += wt
        del out
        bar.update()
    bar.close()
    acc /= wsum
    return acc[..., :h, :w]


def prepared_tile(
    model: DSPFusion, ir: torch.Tensor, vi: torch.Tensor, priors: Priors, offsets: torch.Tensor | None,
    y: int, x: int, th: int, tw: int, device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``th``×``tw`` tile at (``y``, ``x``) of the padded ``ir``, ``vi`` ``[B,3,H,W]`` after
    ``FusionNet.prepare_inputs``, equal to the same window of the prepared whole image: destriped with the whole
    image's column ``offsets`` (``FusionNet.image_offsets``) and prepared on the window grown by
    ``FusionNet.input_context`` pixels of real context (the image's own border where the window meets it), then
    cropped back. Preparing tile by tile keeps no prepared copy of the whole image in memory."""
    f = model.fusion
    c = f.input_context
    h, w = ir.shape[-2:]
    ya, yb, xa, xb = max(y - c, 0), min(y + th + c, h), max(x - c, 0), min(x + tw + c, w)
    ir_t, vi_t = f.prepare_inputs(
        ir[..., ya:yb, xa:xb].to(device), vi[..., ya:yb, xa:xb].to(device), priors.deg_ir, priors.deg_vi,
        offsets=None if offsets is None else offsets[..., xa:xb].to(device),
    )
    return ir_t[..., y - ya : y - ya + th, x - xa : x - xa + tw], vi_t[..., y - ya : y - ya + th, x - xa : x - xa + tw]


def seam_excess(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Largest extra jump between neighbouring columns or rows of ``out`` ``[B,C,H,W]`` in [0,1] compared
    with ``ref``, in grey levels (0-255).

    A seam is a line where the tiled image jumps more than the untiled one does; the mean absolute
    neighbour difference along every column/row boundary exposes it."""
    worst = 0.0
    for dim, keep in ((-1, (0, 1, 2)), (-2, (0, 1, 3))):
        g = out.diff(dim=dim).abs().mean(dim=keep)
        g_ref = ref.diff(dim=dim).abs().mean(dim=keep)
        worst = max(worst, float((g - g_ref).max()) * 255)
    return worst
