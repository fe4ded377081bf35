"""The inference wrapper: messy real-world input in, an 8-bit fused image out.

The network only ever sees RGB float tensors in [0, 1] with sides divisible by 8.
:class:`Fuser` does the rest, following the official test pipeline:

1. read paths / accept arrays or tensors; grey, colour, palette, 16-bit (normalised);
2. IR → one grey channel replicated to 3 (official: IR read as 3-channel);
   VI grey → replicated to 3;
3. reflect-pad bottom/right to a multiple of 8, run every network on the padded
   pair, crop back;
4. the SPDM start x_T is ``torch.randn(shape, generator=torch.Generator().manual_seed(seed))``
   drawn on the CPU, so a given seed gives the same result on every device;
5. clamp to [0, 1], ×255, round → uint8 RGB (grey if VI was grey).

Optional: ``tile=N`` runs the fusion network on overlapping N×N tiles with the
priors computed once per image (:mod:`dspfusion.tiling`) to bound memory on large
images; without it the pipeline above is unchanged.

Optional, off by default: the official test-time min–max stretch of the output
(``stretch=True``). The authors' released results use it; it inflates SD and EN
and changes the image's brightness relative to its sources, so metric
comparisons with other methods are fairer without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UserError
from .io import read_image, to_float
from .models import DSPFusion
from .tiling import DEFAULT_PRIOR_MAX_SIDE, DEFAULT_STAT_PASSES

ImageLike = Union[str, Path, np.ndarray, torch.Tensor]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was requested but no CUDA GPU is available; use --device cpu or auto")
    return dev


def _as_float_array(x: ImageLike, name: str, normalize: str) -> np.ndarray:
    """→ float32 HxW or HxWx3 in [0, 1]."""
    if isinstance(x, (str, Path)):
        arr = read_image(x)
        return to_float(arr, normalize)
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().float()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)
        arr = t.numpy()
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        return to_float(arr, normalize) if arr.max() > 1 or arr.min() < 0 else arr.astype(np.float32)
    if isinstance(x, np.ndarray):
        arr = x
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
            raise UserError(f"{name}: expected an HxW or HxWx3 array, got shape {arr.shape}")
        if arr.dtype == np.uint8 or arr.dtype == np.uint16:
            return to_float(arr, normalize)
        if np.issubdtype(arr.dtype, np.floating):
            if arr.min() < 0 or arr.max() > 1:
                return to_float(arr.astype(np.float32), normalize)
            return arr.astype(np.float32)
        raise UserError(f"{name}: unsupported array dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")
    raise UserError(f"{name}: expected a path, numpy array or torch tensor, got {type(x).__name__}")


def _grey(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else (0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]).astype(np.float32)


def _resize(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(a, (hw[1], hw[0]), interpolation=cv2.INTER_AREA if a.shape[0] > hw[0] else cv2.INTER_CUBIC)


@dataclass
class FusionInputs:
    ir: torch.Tensor  # [1,3,H,W]
    vi: torch.Tensor  # [1,3,H,W]
    vi_is_colour: bool
    size: tuple[int, int]


def prepare_pair(
    ir: ImageLike,
    vi: ImageLike,
    resize_ir_to_vi: bool = False,
    ir_normalize: str = "auto",
    names: tuple[str, str] = ("IR", "VI"),
) -> FusionInputs:
    """Decode and check a pair → RGB tensors in [0, 1] (unpadded)."""
    ir_name = str(ir) if isinstance(ir, (str, Path)) else names[0]
    vi_name = str(vi) if isinstance(vi, (str, Path)) else names[1]
    a_ir = _grey(_as_float_array(ir, ir_name, ir_normalize))
    a_vi = _as_float_array(vi, vi_name, "auto")
    if a_ir.shape[:2] != a_vi.shape[:2]:
        if not resize_ir_to_vi:
            (h1, w1), (h2, w2) = a_ir.shape[:2], a_vi.shape[:2]
            raise UserError(
                f"IR and VI sizes differ: {ir_name} is {w1}x{h1}, {vi_name} is {w2}x{h2} (width x height). "
                "The pair must be registered; pass --resize-ir-to-vi (resize_ir_to_vi=True) to resize the IR image to the VI size."
            )
        a_ir = _resize(a_ir, a_vi.shape[:2])
    h, w = a_vi.shape[:2]
    if min(h, w) < 8:
        raise UserError(f"{ir_name}, {vi_name}: the images are {w}x{h}; DSPFusion needs at least 8 pixels on each side")
    colour = a_vi.ndim == 3 and not (np.array_equal(a_vi[..., 0], a_vi[..., 1]) and np.array_equal(a_vi[..., 1], a_vi[..., 2]))
    vi3 = a_vi if a_vi.ndim == 3 else np.repeat(a_vi[..., None], 3, axis=2)
    ir3 = np.repeat(a_ir[..., None], 3, axis=2)
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()
    return FusionInputs(to_t(ir3), to_t(vi3), colour, (h, w))


def pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """Reflect-pad bottom/right so H and W are multiples of ``multiple`` (official test pipeline)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if (ph < h and pw < w) else "replicate"  # reflect needs pad < size
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def to_uint8(fused: torch.Tensor, stretch: bool = False, colour: bool = True) -> np.ndarray:
    """``[1,3,H,W]`` float → uint8 HxWx3 (or HxW when ``colour`` is False)."""
    f = fused.detach().float().cpu()[0]
    if stretch:  # official test-time trick: global min–max over all channels
        f = (f - f.min()) / (f.max() - f.min()).clamp_min(1e-12)
    arr = f.clamp(0, 1).mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()  # in place: one float copy
    if not colour:
        arr = np.round(arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


class Fuser:
    """Stateful fusion front-end: holds a model, a device and defaults.

    >>> fuser = Fuser(model)                         # doctest: +SKIP
    >>> fused = fuser.fuse("ir.png", "vi.png")       # uint8 HxWx3
    """

    def __init__(self, model: DSPFusion, device: str | torch.device | None = "auto", steps: int | None = None, seed: int = 0,
                 channels_last: bool | None = None) -> None:
        """``channels_last`` (default: on the CPU only): store the model's convolution weights, and feed its
        inputs, in the channels-last memory layout, which oneDNN's CPU convolutions run faster (about a fifth
        less time for the ``lite`` preset at 640×480 on 2 cores; ``benchmarks/results/speed_layout.md``). The
        results equal the default layout's up to float rounding. The model is moved and converted in place."""
        self.device = resolve_device(device)
        self.channels_last = self.device.type == "cpu" if channels_last is None else bool(channels_last)
        self.model = model.to(self.device).eval()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.steps = steps
        self.seed = seed

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @torch.inference_mode()
    def fuse_tensors(
        self,
        ir: torch.Tensor,
        vi: torch.Tensor,
        seed: int | None = None,
        steps: int | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
        progress: bool = False,
        tile_passes: int = DEFAULT_STAT_PASSES,
        prior_max_side: int | None = DEFAULT_PRIOR_MAX_SIDE,
    ) -> torch.Tensor:
        """Unpadded ``[1,3,H,W]`` tensors in [0,1] → fused float ``[1,3,H,W]`` (not clamped).

        ``tile``: run the fusion network on overlapping tiles of this size, after ``tile_passes`` passes
        that gather the image-wide attention statistics, with the priors computed once on the whole image
        (``prior_max_side`` N: on a copy shrunk to a long side of N; see :mod:`dspfusion.tiling`)."""
        h, w = vi.shape[-2:]
        m = self.model.config.fusion.pad_multiple
        seed = self.seed if seed is None else seed
        if tile:
            from .tiling import fuse_tiled

            noise = self.model.initial_noise(ir.shape[0], seed=seed)
            return fuse_tiled(self.model, ir, vi, tile, tile_overlap, steps=steps or self.steps, noise=noise, progress=progress,
                              stat_passes=tile_passes, prior_max_side=prior_max_side)
        if prior_max_side is not None:
            raise UserError("prior_max_side only applies to tiled fusion; pass tile=SIZE as well (or leave it unset)")
        ir_p = self._layout(pad_to_multiple(ir.to(self.device), m))
        vi_p = self._layout(pad_to_multiple(vi.to(self.device), m))
        noise = self.model.initial_noise(ir_p.shape[0], seed=seed)
        out = self.model(ir_p, vi_p, steps=steps or self.steps, noise=noise)
        return out[..., :h, :w]

    def fuse(
        self,
        ir: ImageLike,
        vi: ImageLike,
        seed: int | None = None,
        steps: int | None = None,
        stretch: bool = False,
        resize_ir_to_vi: bool = False,
        ir_normalize: str = "auto",
        tile: int | None = None,
        tile_overlap: int = 32,
        progress: bool = False,
        tile_passes: int = DEFAULT_STAT_PASSES,
        prior_max_side: int | None = DEFAULT_PRIOR_MAX_SIDE,
    ) -> np.ndarray:
        """Fuse one registered pair → uint8 image with VI's size (RGB if VI is colour, else grey)."""
        inp = prepare_pair(ir, vi, resize_ir_to_vi=resize_ir_to_vi, ir_normalize=ir_normalize)
        out = self.fuse_tensors(inp.ir, inp.vi, seed=seed, steps=steps, tile=tile, tile_overlap=tile_overlap, progress=progress,
                                 tile_passes=tile_passes, prior_max_side=prior_max_side)
        return to_uint8(out, stretch=stretch, colour=inp.vi_is_colour)
