"""``dspfusion serve``: a local web app (Gradio) for trying the fusion on your own pairs.

Upload an infrared and a visible image (or click *Use built-in example*), optionally apply one of the synthetic
degradations of :mod:`dspfusion.degradations` to either input, and see the fused image beside the inputs as they
were fused, the degradation the model detects in each input (top class and probabilities) and the time taken.

    from dspfusion.serve import build_app, launch
    launch(port=7860)                      # blocks; Ctrl-C stops it
    app = build_app(fuser)                 # a gradio.Blocks, to embed or launch yourself

Uploads are checked before they are decoded: files above ``max_upload_mb`` and images above ``max_pixels`` are
refused with a message in the page, as are IR/VI pairs of different sizes unless *Resize IR to VI* is ticked.

Gradio is an optional dependency (``pip install 'dspfusion[serve]'``); it is imported only when the app is built.
The app makes no network requests of its own: Gradio's analytics are switched off and nothing is shared unless
``share=True``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError

DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_MAX_PIXELS = 2048 * 2048
NONE = "none"
MB = 1024 * 1024

_EXAMPLE_SIZE = (240, 320)  # height, width of the built-in example


@dataclass
class FusionResult:
    """What one press of *Fuse* produces."""

    fused: np.ndarray  # uint8 HxWx3 (HxW for a grey VI)
    ir: np.ndarray  # uint8 HxW, the IR input as fused (after resizing / degradation)
    vi: np.ndarray  # uint8 HxWx3 or HxW, the VI input as fused
    detected: dict[str, dict[str, float]] | None  # {"ir": {label: prob}, "vi": {...}}, None without a probe
    applied: dict[str, dict] = field(default_factory=dict)  # {"vi": {"type": ..., params}, "ir": {...}}
    seconds: float = 0.0  # fusion time
    diagnose_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. "IR resized from 640x512 to 320x240"

    def report(self, info: dict | None = None, device: Any = None) -> str:
        """Markdown summary: time taken, degradations applied and detected."""
        h, w = self.fused.shape[:2]
        lines = [f"**Fused** a {w}×{h} pair in **{self.seconds:.2f} s**"
                 + (f" on {device}" if device is not None else "")
                 + (f" (degradation check {self.diagnose_seconds:.2f} s)" if self.detected is not None else "") + "."]
        if info:
            lines.append(f"Model: `{Path(str(info.get('source', '?'))).name}` (step {info.get('step', '?')}).")
        lines.extend(self.notes)
        applied = [f"{m.upper()} {_describe(self.applied[m])}" for m in ("vi", "ir") if m in self.applied
                   and self.applied[m].get("type", NONE) != NONE]
        lines.append("**Synthetic degradation applied:** " + ("; ".join(applied) if applied else "none") + ".")
        if self.detected is None:
            lines.append("**Detected degradations:** not available (this model has no degradation probe).")
            return "\n\n".join(lines)
        table = ["| input | detected | probabilities |", "|---|---|---|"]
        for m in ("ir", "vi"):
            probs = sorted(self.detected[m].items(), key=lambda kv: -kv[1])
            top, p = probs[0]
            table.append(f"| {m.upper()} | **{top}** ({p:.0%}) | " + " · ".join(f"{k} {v:.2f}" for k, v in probs) + " |")
        lines.append("**Detected degradations:**")
        return "\n\n".join(lines) + "\n\n" + "\n".join(table)


def _describe(params: dict) -> str:
    extra = ", ".join(f"{k}={_fmt(v)}" for k, v in params.items() if k not in ("type", "seed"))
    seed = f"seed {params['seed']}" if "seed" in params else ""
    inner = ", ".join(s for s in (seed, extra) if s)
    return f"{params['type']}" + (f" ({inner})" if inner else "")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


# --------------------------------------------------------------------------------------------- checks and I/O


def check_upload(path: str | Path, name: str, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Refuse a file above ``max_upload_mb`` or an image above ``max_pixels`` *before* decoding it → (width, height).

    Only the image header is read (Pillow opens lazily), so an oversized or decompression-bomb file costs nothing.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{name} image: the uploaded file is missing ({path.name}); upload it again")
    size = path.stat().st_size
    if size > max_upload_mb * MB:
        raise UserError(f"{name} image is too large: {_human(size)}, the limit is {_human(max_upload_mb * MB)}. "
                        "Compress or downscale it (or start the server with a higher --max-upload-mb).")
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError:
        raise UserError(f"{name} image has too many pixels (Pillow refused it as a possible decompression bomb); "
                        f"the limit is {max_pixels:,} pixels. Downscale it.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UserError(f"{name} image ({path.name}) is not a readable image; upload a PNG, JPEG, BMP, TIFF or WebP file") from None
    if w * h > max_pixels:
        raise UserError(f"{name} image is too large: {w}×{h} = {w * h / 1e6:.1f} megapixels, the limit is "
                        f"{max_pixels:,} pixels ({max_pixels / 1e6:.1f} MP). Downscale it "
                        "(or start the server with a higher --max-pixels).")
    return w, h


def _human(n: float) -> str:
    return f"{n / MB:.1f} MB" if n >= 0.1 * MB else f"{n / 1024:.1f} KB"


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    from .io import to_float

    return np.round(to_float(a) * 255.0).astype(np.uint8)


def _grey(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        return a
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)


def load_pair(ir_path: str | Path, vi_path: str | Path, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, np.ndarray]:
    """Check the limits, then decode → (IR uint8 HxW, VI uint8 HxWx3 or HxW). 16-bit data is min–max scaled."""
    from .io import read_image

    check_upload(ir_path, "IR", max_upload_mb, max_pixels)
    check_upload(vi_path, "VI", max_upload_mb, max_pixels)
    ir = _grey(_to_uint8(read_image(ir_path)))
    vi = _to_uint8(read_image(vi_path))
    return ir, vi


# --------------------------------------------------------------------------------------------- processing


def process(fuser, ir: np.ndarray, vi: np.ndarray, vi_degradation: str = NONE, ir_degradation: str = NONE,
            seed: int = 0, resize_ir_to_vi: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> FusionResult:
    """Degrade (optionally), fuse and diagnose one pair of uint8 arrays → :class:`FusionResult`.

    The VI degradation is drawn first, then the IR one, both from ``numpy.random.default_rng(seed)`` (the order
    of :func:`dspfusion.degradations.apply_condition`), so a seed reproduces the same inputs.
    """
    import cv2

    from .commands.diagnose import diagnose
    from .degradations import degrade

    ir = _grey(_to_uint8(np.asarray(ir)))
    vi = _to_uint8(np.asarray(vi))
    if vi.ndim == 3 and vi.shape[2] == 4:
        vi = vi[..., :3]
    if max_pixels is not None:
        for name, a in (("IR", ir), ("VI", vi)):
            h, w = a.shape[:2]
            if h * w > max_pixels:
                raise UserError(f"{name} image is too large: {w}×{h} = {w * h / 1e6:.1f} megapixels, the limit is "
                                f"{max_pixels:,} pixels. Downscale it.")
    notes = []
    if ir.shape[:2] != vi.shape[:2]:
        (h1, w1), (h2, w2) = ir.shape[:2], vi.shape[:2]
        if not resize_ir_to_vi:
            raise UserError(f"IR and VI sizes differ: IR is {w1}×{h1}, VI is {w2}×{h2} (width × height). The pair must "
                            "be registered (same size); tick “Resize IR to VI size” to resize the IR image to the VI size.")
        interp = cv2.INTER_AREA if h1 * w1 > h2 * w2 else cv2.INTER_LINEAR
        ir = cv2.resize(ir, (w2, h2), interpolation=interp)
        notes.append(f"IR resized from {w1}×{h1} to {w2}×{h2}.")
    seed = int(seed or 0)
    rng = np.random.default_rng(seed)
    applied: dict[str, dict] = {}
    for modality, kind in (("vi", vi_degradation), ("ir", ir_degradation)):
        kind = kind or NONE
        if kind.lower() in (NONE, "clean"):
            applied[modality] = {"type": NONE}
            continue
        img = vi if modality == "vi" else ir
        try:
            out, params = degrade(img, modality, kind, rng)
        except ValueError as exc:  # unknown type: a clear message, not a traceback
            raise UserError(str(exc)) from None
        applied[modality] = {"type": kind, "seed": seed, **params}
        if modality == "vi":
            vi = out
        else:
            ir = out
    t0 = time.perf_counter()
    fused = fuser.fuse(ir, vi)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        detected = diagnose(fuser, ir, vi)
    except UserError:  # a model without the degradation probe
        detected = None
    return FusionResult(fused=fused, ir=ir, vi=vi, detected=detected, applied=applied, seconds=seconds,
                        diagnose_seconds=time.perf_counter() - t0, notes=notes)


def fuse_files(fuser, ir_path: str | Path | None, vi_path: str | Path | None, vi_degradation: str = NONE,
               ir_degradation: str = NONE, seed: int = 0, resize_ir_to_vi: bool = False,
               max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, max_pixels: int = DEFAULT_MAX_PIXELS) -> FusionResult:
    """:func:`load_pair` + :func:`process`: what the *Fuse* button runs. Every refusal is a :class:`UserError`."""
    if ir_path is None or vi_path is None:
        missing = " and ".join(n for n, p in (("IR", ir_path), ("VI", vi_path)) if p is None)
        raise UserError(f"no {missing} image: upload both images, or click “Use built-in example”")
    ir, vi = load_pair(ir_path, vi_path, max_upload_mb, max_pixels)
    return process(fuser, ir, vi, vi_degradation, ir_degradation, seed, resize_ir_to_vi, max_pixels)


def example_files(folder: str | Path | None = None) -> tuple[Path, Path]:
    """Write the built-in example pair as PNGs (once) → (ir path, vi path)."""
    from .example import make_example_pair
    from .io import write_image

    folder = Path(folder) if folder is not None else Path(tempfile.gettempdir()) / "dspfusion-serve-example"
    ir_p, vi_p = folder / "example_ir.png", folder / "example_vi.png"
    if not (ir_p.is_file() and vi_p.is_file()):
        ir, vi = make_example_pair(*_EXAMPLE_SIZE)
        write_image(ir_p, ir, overwrite=True)
        write_image(vi_p, vi, overwrite=True)
    return ir_p, vi_p


# --------------------------------------------------------------------------------------------- Gradio app


def _import_gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry / version check at start-up
    try:
        import gradio as gr
    except ImportError:
        raise UserError("the web app needs Gradio, which is not installed: pip install 'dspfusion[serve]'") from None
    return gr


def _supported(callable_, **kwargs) -> dict:
    """Keep only the keyword arguments this Gradio version's ``callable_`` accepts (4.x lacks some)."""
    import inspect

    params = inspect.signature(callable_).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def make_handler(fuser, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, max_pixels: int = DEFAULT_MAX_PIXELS):
    """The *Fuse* callback: (ir path, vi path, vi type, ir type, seed, resize) → (fused, ir, vi, markdown).

    Refusals never raise: the images are cleared and the markdown starts with ``**Error:**`` and says why."""

    def on_fuse(ir_path, vi_path, vi_degradation=NONE, ir_degradation=NONE, seed=0, resize_ir_to_vi=False):
        try:
            r = fuse_files(fuser, ir_path, vi_path, vi_degradation, ir_degradation, seed, bool(resize_ir_to_vi),
                           max_upload_mb, max_pixels)
        except UserError as exc:
            return None, None, None, f"**Error:** {exc}"
        return r.fused, r.ir, r.vi, r.report(getattr(fuser, "info", None), getattr(fuser, "device", None))

    return on_fuse


def build_app(fuser=None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, max_pixels: int = DEFAULT_MAX_PIXELS,
              title: str = "DSPFusion — infrared/visible image fusion"):
    """→ a ``gradio.Blocks`` (not launched). ``fuser``: a :class:`~dspfusion.inference.Fuser` (default: the shipped
    model, loaded now)."""
    gr = _import_gradio()
    from .degradations import IR_TYPES, VI_TYPES

    if fuser is None:
        from . import load

        fuser = load()
    info = getattr(fuser, "info", {}) or {}
    on_fuse = make_handler(fuser, max_upload_mb, max_pixels)

    def on_example():
        from .io import read_image

        ir_p, vi_p = example_files()
        return read_image(ir_p), read_image(vi_p)

    with gr.Blocks(title="DSPFusion", analytics_enabled=False) as app:
        gr.Markdown(f"## {title}\n"
                    "Upload a registered infrared (IR) and visible (VI) pair of the same size, or use the built-in "
                    "example. Optionally degrade either input, then press **Fuse**. "
                    f"Limits: {max_upload_mb:g} MB per file, {max_pixels:,} pixels per image.")
        if not info.get("trained", True):
            gr.Markdown(f"⚠️ **{info.get('source')} has no trained weights: the output is NOT a real fusion.**")
        with gr.Row():
            # type="filepath" with image_mode=None hands over the uploaded file itself (not re-encoded), so its
            # size and pixel count are checked before anything decodes it
            upload = _supported(gr.Image, type="filepath", image_mode=None, format="png", sources=["upload", "clipboard"])
            ir_in = gr.Image(label="Infrared (IR)", elem_id="ir_input", **upload)
            vi_in = gr.Image(label="Visible (VI)", elem_id="vi_input", **upload)
        with gr.Row():
            vi_deg = gr.Dropdown([NONE, *VI_TYPES], value=NONE, label="VI degradation (synthetic)", elem_id="vi_degradation")
            ir_deg = gr.Dropdown([NONE, *IR_TYPES], value=NONE, label="IR degradation (synthetic)", elem_id="ir_degradation")
            seed = gr.Number(value=0, precision=0, label="degradation seed", elem_id="seed")
            resize = gr.Checkbox(value=False, label="Resize IR to VI size", elem_id="resize_ir_to_vi")
        with gr.Row():
            example_btn = gr.Button("Use built-in example", elem_id="example_button")
            fuse_btn = gr.Button("Fuse", variant="primary", elem_id="fuse_button")
        status = gr.Markdown("Upload two images, or use the built-in example.", elem_id="status")
        # png: lossless (Gradio's default is webp); no "share to Hugging Face" button (Gradio 6: buttons, 4/5: show_share_button)
        shown = _supported(gr.Image, format="png", interactive=False, buttons=["download", "fullscreen"],
                           show_share_button=False)
        with gr.Row():
            ir_out = gr.Image(label="IR as fused", elem_id="ir_used", **shown)
            vi_out = gr.Image(label="VI as fused", elem_id="vi_used", **shown)
            fused_out = gr.Image(label="Fused", elem_id="fused", **shown)

        inputs = [ir_in, vi_in, vi_deg, ir_deg, seed, resize]
        outputs = [fused_out, ir_out, vi_out, status]
        fuse_btn.click(on_fuse, inputs, outputs, api_name="fuse")
        example_btn.click(on_example, None, [ir_in, vi_in], api_name=False).then(on_fuse, inputs, outputs, api_name=False)
    app.queue(default_concurrency_limit=1, max_size=32)  # one fusion at a time: bounded memory on a CPU box
    return app


def launch(fuser=None, host: str = "127.0.0.1", port: int | None = 7860, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
           max_pixels: int = DEFAULT_MAX_PIXELS, share: bool = False, block: bool = True, quiet: bool = False, **kwargs):
    """Build the app and serve it. ``block=False`` returns at once (the server runs in a background thread; stop it
    with ``app.close()``). Returns the ``gradio.Blocks``."""
    import inspect

    app = build_app(fuser, max_upload_mb=max_upload_mb, max_pixels=max_pixels)
    kw: dict[str, Any] = dict(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                              quiet=quiet, show_error=True)
    params = inspect.signature(app.launch).parameters
    if "max_file_size" in params:  # Gradio >= 4.26: refuse oversized uploads before they reach the disk
        kw["max_file_size"] = int(max_upload_mb * MB)
    if "ssr_mode" in params:
        kw["ssr_mode"] = False  # plain client-side page: no Node.js needed
    kw.update(kwargs)
    try:
        app.launch(**kw)
    except OSError as exc:
        raise UserError(f"cannot serve on {host}:{port} ({exc}); choose another --port or --host") from None
    return app
