"""Export the whole DSPFusion pipeline to one ONNX graph, and run it with onnxruntime.

The graph is ``(ir, vi, noise) → fused``:

* ``ir``, ``vi``: float32 ``[B, 3, H, W]`` in [0, 1] (IR replicated to 3 channels), H and W
  **dynamic but multiples of the model's ``pad_multiple``** (8 for the official layout, 16 for
  "lite"); other sizes fail inside onnxruntime. :class:`OnnxFuser` pads and crops like
  :class:`~dspfusion.inference.Fuser`, so use it rather than the raw session.
* ``noise``: SPDM's start x_T, float32 ``[B, N_s, C_s]``. It is an *input*, not a random op
  in the graph, so a seed gives the same result as in PyTorch: :class:`OnnxFuser` draws it
  with ``torch.randn(shape, generator=torch.Generator().manual_seed(seed))``, as
  :meth:`DSPFusion.initial_noise` does.
* ``fused``: float32 ``[B, 3, H, W]`` in (0, 1), not clamped or rounded.

Inside: DPEN on each input, SPEN on the pair, the SPDM sampler *unrolled* for a fixed
``steps`` (a plain sequence of denoiser calls with the posterior-mean coefficients baked in
as constants; no loop operator), then the fusion network. The number of steps is fixed at
export time (``--steps``) and written to the model's metadata with ``pad_multiple``, the
noise shape and the model configuration.

Deviations needed for export (numerically equivalent; onnxruntime matches PyTorch to ~1e-6):
the exporter cannot express ``AdaptiveAvgPool2d`` on an input of unknown size, so the 4×4
pooling of SPEN/DPEN is rewritten as two matrix products with averaging matrices built from
the runtime size using PyTorch's bin rule (bin i covers ``[⌊i·n/g⌋, ⌈(i+1)·n/g⌉)``); and
the channel LayerNorm gets its normalised shape as a constant instead of reading it from the
tensor. Both replacements live in a copy of the model; the model itself is not changed.
We use PyTorch's TorchScript-based exporter (``dynamo=False``), which needs no extra package.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError
from .io import commit_temp
from .version import __version__

INPUT_NAMES = ("ir", "vi", "noise")
OUTPUT_NAMES = ("fused",)
DEFAULT_OPSET = 17


class ExportableAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d(g)`` as ``P_h · x · P_wᵀ`` with averaging matrices built from the input size."""

    def __init__(self, grid: int) -> None:
        super().__init__()
        self.grid = int(grid)

    def _matrix(self, n, like: torch.Tensor) -> torch.Tensor:
        g = self.grid
        i = torch.arange(g, device=like.device)
        start = torch.div(i * n, g, rounding_mode="floor")
        end = torch.div((i + 1) * n + g - 1, g, rounding_mode="floor")
        pos = torch.arange(n, device=like.device)
        inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
        return inside.to(like.dtype) / (end - start).to(like.dtype)[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ph, pw = self._matrix(x.shape[-2], x), self._matrix(x.shape[-1], x)
        return torch.matmul(torch.matmul(ph, x), pw.transpose(0, 1))


class StaticLayerNorm(nn.Module):
    """:class:`dspfusion.models.common.LayerNorm` with its channel count as a Python constant."""

    def __init__(self, ln: nn.Module) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = ln.weight, ln.bias, ln.eps
        self.channels = int(ln.weight.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            y = F.layer_norm(x.permute(0, 2, 3, 1), (self.channels,), self.weight, self.bias, self.eps)
            return y.permute(0, 3, 1, 2)
        return F.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)


def _swap_modules(module: nn.Module) -> None:
    from .models.common import LayerNorm

    for name, child in module.named_children():
        if isinstance(child, nn.AdaptiveAvgPool2d):
            size = child.output_size
            if not isinstance(size, int) and size[0] != size[1]:
                raise NotImplementedError(f"non-square adaptive pooling {size} is not supported by the exporter")
            setattr(module, name, ExportableAdaptiveAvgPool2d(size if isinstance(size, int) else size[0]))
        elif isinstance(child, LayerNorm):
            setattr(module, name, StaticLayerNorm(child))
        else:
            _swap_modules(child)


class OnnxPipeline(nn.Module):
    """``(ir, vi, noise) → fused``: priors, the ``steps``-step SPDM sampler (unrolled by tracing), fusion."""

    def __init__(self, model: nn.Module, steps: int) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).cpu().float().eval()
        _swap_modules(self.model)
        self.steps = int(steps)

    def forward(self, ir: torch.Tensor, vi: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        priors = self.model.compute_priors(ir, vi, self.steps, noise)
        return self.model.fuse_with_priors(ir, vi, priors)


def check_steps(model, steps: int | None) -> int:
    t = model.config.diffusion.timesteps
    steps = model.config.sampling_steps if steps is None else int(steps)
    if not 1 <= steps <= t:
        raise UserError(f"--steps {steps} is out of range; this model's sampler takes 1..{t} steps")
    return steps


def export_onnx(
    model,
    path: str | Path,
    steps: int | None = None,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    source: str = "",
) -> Path:
    """Write ``model`` (a :class:`~dspfusion.models.DSPFusion`) as an ONNX file, atomically (temp file + rename)."""
    import warnings

    try:
        import onnx
    except ImportError:
        raise UserError("exporting to ONNX needs the 'onnx' package: pip install 'dspfusion[onnx]'") from None
    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path}: already exists; choose another --out or pass --overwrite")
    steps = check_steps(model, steps)
    if model.config.sem_copy_side:
        # the copy's size depends on the input's, and a traced graph would fix it at the traced size
        raise UserError(f"{source or 'this model'} reads its semantic prior at two scales (sem_copy_side "
                        f"{model.config.sem_copy_side}), which the ONNX export does not reproduce yet; fuse it with "
                        "PyTorch (dspfusion fuse), or export a model without the gate")
    pipe = OnnxPipeline(model, steps)
    m = model.config.fusion.pad_multiple
    sample = torch.rand(1, 3, 4 * m, 6 * m, generator=torch.Generator().manual_seed(0))
    noise = torch.zeros(model.sem_shape(1))
    dyn = {"ir": {0: "batch", 2: "height", 3: "width"}, "vi": {0: "batch", 2: "height", 3: "width"},
           "noise": {0: "batch"}, "fused": {0: "batch", 2: "height", 3: "width"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python floats/ints becoming constants are expected
            torch.onnx.export(pipe, (sample, sample.flip(-1), noise), tmp, dynamo=False, opset_version=opset,
                              input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), dynamic_axes=dyn)
        proto = onnx.load(tmp)
        meta = {
            "dspfusion_version": __version__,
            "pad_multiple": str(m),
            "steps": str(steps),
            "noise_shape": json.dumps(list(model.sem_shape(1))[1:]),
            "config": json.dumps(model.config.to_dict()),
            "source": source,
        }
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        proto.doc_string = (f"DSPFusion (dspfusion {__version__}): (ir, vi, noise) -> fused; H, W multiples of {m}; "
                            f"SPDM unrolled for {steps} steps")
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        if path.exists() and not overwrite:
            raise UserError(f"{path}: appeared while exporting; not replaced (pass --overwrite)")
        commit_temp(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


class OnnxFuser:
    """Run an exported model with onnxruntime, with :class:`~dspfusion.inference.Fuser`'s pre/post-processing.

    >>> f = OnnxFuser("model.onnx")                 # doctest: +SKIP
    >>> fused = f.fuse("ir.png", "vi.png", seed=0)  # uint8, same as Fuser(model).fuse(...) up to float rounding
    """

    def __init__(self, path: str | Path, threads: int | None = None, seed: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise UserError("running ONNX models needs onnxruntime: pip install 'dspfusion[onnx]'") from None
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: ONNX model not found")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise UserError(f"{path}: onnxruntime cannot load this model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "pad_multiple" not in meta:
            raise UserError(f"{path}: not exported by dspfusion export-onnx (no pad_multiple metadata)")
        self.path = path
        self.pad_multiple = int(meta["pad_multiple"])
        self.steps = int(meta["steps"])
        self.noise_shape = tuple(json.loads(meta["noise_shape"]))
        self.seed = seed

    def initial_noise(self, batch: int, seed: int) -> np.ndarray:
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn((batch, *self.noise_shape), generator=g).numpy()

    def run(self, ir: np.ndarray, vi: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The raw graph: float32 ``[B,3,H,W]`` pairs (H, W multiples of ``pad_multiple``) → ``[B,3,H,W]``."""
        feed = {"ir": np.ascontiguousarray(ir, np.float32), "vi": np.ascontiguousarray(vi, np.float32),
                "noise": np.ascontiguousarray(noise, np.float32)}
        return self.session.run(None, feed)[0]

    def fuse_tensors(self, ir: torch.Tensor, vi: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """Unpadded ``[1,3,H,W]`` tensors in [0,1] → fused float ``[1,3,H,W]`` (pad, run, crop)."""
        from .inference import pad_to_multiple

        h, w = vi.shape[-2:]
        ir_p, vi_p = pad_to_multiple(ir.float().cpu(), self.pad_multiple), pad_to_multiple(vi.float().cpu(), self.pad_multiple)
        noise = self.initial_noise(ir_p.shape[0], self.seed if seed is None else seed)
        out = self.run(ir_p.numpy(), vi_p.numpy(), noise)
        return torch.from_numpy(out[..., :h, :w])

    def fuse(self, ir, vi, seed: int | None = None, stretch: bool = False, resize_ir_to_vi: bool = False,
             ir_normalize: str = "auto") -> np.ndarray:
        """Fuse one registered pair → uint8 image with VI's size, as :meth:`Fuser.fuse` does."""
        from .inference import prepare_pair, to_uint8

        inp = prepare_pair(ir, vi, resize_ir_to_vi=resize_ir_to_vi, ir_normalize=ir_normalize)
        return to_uint8(self.fuse_tensors(inp.ir, inp.vi, seed), stretch=stretch, colour=inp.vi_is_colour)
