"""Image-wide statistics for tiled inference (dspfusion.models.tile_statistics): each global operation,
gathered over tiles, equals the whole-image operation; outside a tiled run the network is untouched."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dspfusion.models.restormer import Upsample, transposed_attention
from dspfusion.models.tile_statistics import TileStatistics, TileWindow, collecting, current
from dspfusion.tiling import plan_axis


def windows(h: int, w: int, tile: int, overlap: int, multiple: int):
    rows, cols = plan_axis(h, tile, overlap), plan_axis(w, tile, overlap)
    for i, y in enumerate(rows.starts):
        for j, x in enumerate(cols.starts):
            (y0, y1), (x0, x1) = rows.owned(i, multiple), cols.owned(j, multiple)
            yield TileWindow(y, x, min(tile, h), min(tile, w), h, w, (y0, y1, x0, x1))


@pytest.mark.parametrize("size,tile,overlap", [(96, 32, 8), (100, 48, 16), (512, 128, 32), (496, 128, 32), (64, 64, 16)])
def test_owned_ranges_partition_the_axis_on_the_lattice(size, tile, overlap):
    plan = plan_axis(size, tile, overlap)
    ends = 0
    for k, s in enumerate(plan.starts):
        lo, hi = plan.owned(k, 8)
        assert 0 <= lo <= hi <= min(tile, size)  # inside the tile
        assert s + lo == ends  # contiguous, no gap, no double count
        assert (s + lo) % 8 == 0 or k == 0
        ends = s + hi
    assert ends == size


def test_gathered_attention_equals_the_whole_image():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 8, 48, 64, generator=g) for _ in range(3))
    temperature = torch.tensor([0.5, 3.0]).reshape(2, 1, 1)
    full = transposed_attention(q, k, v, 2, temperature)
    wins = list(windows(48, 64, 24, 8, 8))
    assert len(wins) == 12  # 3 rows x 4 columns of 24-px tiles
    gather = TileStatistics()
    local = []
    for win in wins:  # pass 1: per-tile statistics, gathering the sums
        gather.begin(win)
        with collecting(gather):
            local.append(transposed_attention(*(t[..., win.y : win.y + win.h, win.x : win.x + win.w] for t in (q, k, v)),
                                              2, temperature))
    use = TileStatistics(gather.totals)
    for win, loc in zip(wins, local):  # pass 2: the whole image's attention in every tile
        use.begin(win)
        crop = (slice(None), slice(None), slice(win.y, win.y + win.h), slice(win.x, win.x + win.w))
        with collecting(use):
            out = transposed_attention(q[crop], k[crop], v[crop], 2, temperature)
        assert torch.allclose(out, full[crop], atol=1e-5)
        assert not torch.allclose(loc, full[crop], atol=1e-2)  # per-tile statistics really differ
    # every pixel counted once: the gathered squared norms are the whole image's
    assert torch.allclose(gather.totals[0][1], q.reshape(1, 2, 4, -1).square().sum(-1), rtol=1e-5)


def test_gathered_mean_equals_the_whole_image():
    x = torch.randn(2, 5, 32, 48, generator=torch.Generator().manual_seed(1))
    gather = TileStatistics()
    wins = list(windows(32, 48, 16, 8, 8))
    for win in wins:
        gather.begin(win)
        gather.mean(x[..., win.y : win.y + win.h, win.x : win.x + win.w])
    use = TileStatistics(gather.totals)
    use.begin(wins[-1])
    assert torch.allclose(use.mean(x[..., -16:, -16:]), x.mean(dim=(2, 3)), atol=1e-6)


def test_upsample_uses_the_whole_image_grid():
    x = torch.randn(1, 4, 16, 24, generator=torch.Generator().manual_seed(0))
    full = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    stats = TileStatistics()
    stats.begin(TileWindow(8, 8, 16, 32, 32, 48, (0, 16, 0, 32)))  # x[..., 4:12, 4:20] at factor 2 of a 32x48 image
    tile = x[..., 4:12, 4:20]
    tiled = stats.upsample2x(tile)
    plain = F.interpolate(tile, scale_factor=2, mode="bilinear", align_corners=True)  # the tile's own grid
    ref = full[..., 8:24, 8:40]
    assert tiled.shape == ref.shape == (1, 4, 16, 32)
    # only the first and last output rows/columns sample (a fraction of a pixel) outside the tile: they read its edge
    inner = (..., slice(1, -1), slice(1, -1))
    assert torch.allclose(tiled[inner], ref[inner], atol=1e-5)
    assert not torch.allclose(tiled[..., 0, 1:-1], ref[..., 0, 1:-1], atol=1e-5)
    assert not torch.allclose(plain[inner], ref[inner], atol=1e-2)


def test_upsample_module_routes_through_the_statistics():
    torch.manual_seed(0)
    up = Upsample(4).eval()
    x = torch.randn(1, 4, 8, 8)
    stats = TileStatistics()
    stats.begin(TileWindow(0, 0, 8, 8, 8, 8, (0, 8, 0, 8)))  # one tile = the whole image
    with torch.no_grad(), collecting(stats):
        routed = up(x)
    with torch.no_grad():
        assert torch.allclose(routed, up(x), atol=1e-5)


def test_no_statistics_outside_a_tiled_run():
    assert current() is None
    stats = TileStatistics()
    with collecting(stats):
        assert current() is stats
    assert current() is None


def test_more_global_operations_than_the_previous_pass_is_an_error():
    stats = TileStatistics(previous=[])
    stats.begin(TileWindow(0, 0, 8, 8, 8, 8, (0, 8, 0, 8)))
    with pytest.raises(RuntimeError, match="more global operations"):
        stats.mean(torch.zeros(1, 2, 8, 8))
