"""Speed mode: milliseconds per image, peak memory, parameters and FLOPs, on the CPU and on CUDA when present.

Each (method, device, condition) is measured in a fresh Python process (``python -m dspfusion.benchmark.speed``)
so that its peak memory is its own and the thread settings (``speed.threads``: torch, OpenMP/BLAS, OpenCV) apply
before any library starts. The input is the procedural example pair (:func:`dspfusion.example.make_example_pair`)
at ``speed.size`` (default 640×480), held in memory as uint8 arrays. Pre-enhancement baselines, whose cost depends
on the degradation, are timed under each of ``speed.conditions`` (the pair degraded with the seeded generator);
every other method (fusion rules, DSPFusion: same work whatever the content) on the clean pair.

* ``ms``: one image end to end, uint8 arrays in → uint8 result out (for DSPFusion: decode to tensors, pad, all
  networks and SPDM steps, crop, convert back), median of ``runs`` after ``warmup`` runs; on CUDA the clock
  stops after ``torch.cuda.synchronize()``. ``model ms``: the networks alone on padded tensors already on the
  device (DSPFusion only).
* memory: on CUDA ``peak`` is ``torch.cuda.max_memory_allocated`` over the warm-up and timed runs and ``idle``
  what is allocated before them (the weights); on the CPU ``peak`` is the measuring process's peak resident set
  (``ru_maxrss``: interpreter, libraries, model and the runs) and ``idle`` its resident set just before the first
  run, so ``peak - idle`` bounds what one image needs.
* parameters and FLOPs (DSPFusion only): ``sum(p.numel())`` and :class:`torch.utils.flop_counter.FlopCounterMode`
  over one forward pass (every SPDM step) at ``speed.size`` padded to the model's multiple. FlopCounterMode counts
  matrix multiplications, convolutions and attention, a multiply–add being 2 FLOPs (papers that quote "FLOPs"
  from thop/ptflops count multiply–adds: half of ours).
"""
from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from .config import BenchmarkConfig, MethodSpec

FIELDS = ("method", "type", "device", "condition", "size", "ms_median", "ms_min", "ms_max", "model_ms_median",
          "runs", "warmup", "peak_mib", "idle_mib", "params", "gflops", "threads", "trained", "note")
_MARK = "DSPFUSION-SPEED-RESULT "
WORKER_TIMEOUT_S = 3600


# ---------------------------------------------------------------------------------------------
# inside the worker process


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _maxrss_bytes() -> int:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def _timed(fn, warmup: int, runs: int, sync) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Measure one (method, device, condition); ``job`` is what :func:`run_speed` sends. Runs in the worker."""
    import cv2

    from ..example import make_example_pair
    from .inputs import condition_rng
    from .methods import make_method

    spec = MethodSpec(**{**job["spec"], "device": job["device"]} if job["spec"]["type"] == "dspfusion"
                      else job["spec"])
    threads = job.get("threads")
    if threads:
        cv2.setNumThreads(threads)
    w, h = job["size"]
    ir, vi = make_example_pair(h, w, seed=0)
    cond = job["condition"]
    if cond != "clean":
        from ..degradations import apply_condition

        ir, vi, _ = apply_condition(ir, vi, cond, condition_rng(0, cond, "speed"))
    method = make_method(spec)
    row: dict[str, Any] = {"threads": threads or cv2.getNumThreads()}
    cuda = job["device"] == "cuda"
    sync = lambda: None  # noqa: E731
    model_fn = None
    if spec.type == "dspfusion":
        import torch

        if threads:
            torch.set_num_threads(threads)
        row["threads"] = torch.get_num_threads()
        if cuda:
            sync = torch.cuda.synchronize
        from ..inference import pad_to_multiple, prepare_pair

        fuser = method.fuser  # type: ignore[attr-defined]  (loads the model: not part of the measurement)
        row["trained"] = bool(method.trained)
        inp = prepare_pair(ir, vi)
        m = fuser.model.config.fusion.pad_multiple
        ir_t, vi_t = (pad_to_multiple(t.to(fuser.device), m) for t in (inp.ir, inp.vi))

        def model_fn() -> None:
            fuser.fuse_tensors(ir_t, vi_t, seed=spec.seed, steps=spec.steps)

        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            row["idle_mib"] = torch.cuda.memory_allocated() / 2**20
    method.prepare()  # imports and weights are not part of the measurement
    if not cuda and (rss0 := _rss_bytes()) is not None:
        row["idle_mib"] = rss0 / 2**20
    times = _timed(lambda: method.fuse(ir, vi, cond), job["warmup"], job["runs"], sync)
    if cuda:
        import torch

        row["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        # ru_maxrss and /proc/self/statm are accounted separately and can disagree by a few
        # pages; the peak can never be below the current resident size.
        row["peak_mib"] = max(_maxrss_bytes(), _rss_bytes() or 0, int(row.get("idle_mib", 0) * 2**20)) / 2**20
    row.update(ms_median=statistics.median(times), ms_min=min(times), ms_max=max(times))
    if model_fn is not None:
        row["model_ms_median"] = statistics.median(_timed(model_fn, 1, job["runs"], sync))
        if job.get("flops"):
            from torch.utils.flop_counter import FlopCounterMode

            model = method.fuser.model  # type: ignore[attr-defined]
            row["params"] = int(sum(p.numel() for p in model.parameters()))
            with FlopCounterMode(display=False) as counter:
                model_fn()
            row["gflops"] = counter.get_total_flops() / 1e9
    return row


def _worker_main(argv: list[str]) -> int:
    job = json.loads(argv[0])
    try:
        row = measure(job)
    except Exception as exc:  # reported as a failed measurement by the parent
        row = {"error": f"{type(exc).__name__}: {exc}"}
    print(_MARK + json.dumps(row), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# in the benchmark process


def _env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS"):
            env[var] = str(threads)
    return env


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`measure` in a fresh interpreter; returns its row or {"error": ...}."""
    try:
        proc = subprocess.run([sys.executable, "-m", "dspfusion.benchmark.speed", json.dumps(job)],
                              capture_output=True, text=True, env=_env(job.get("threads")), timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {WORKER_TIMEOUT_S} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"worker exited with status {proc.returncode}: {' | '.join(tail)}"}


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run_speed(cfg: BenchmarkConfig, progress: bool = True) -> list[dict[str, Any]]:
    """Every (method, device, condition) of ``cfg.speed`` → rows of :data:`FIELDS` (a failure is a row with a note)."""
    from tqdm import tqdm

    sp = cfg.speed
    if sp is None:
        return []
    has_cuda = cuda_available()
    jobs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    size = f"{sp.size[0]}x{sp.size[1]}"
    for spec in cfg.methods:
        if spec.type == "folder":
            continue  # precomputed results have no speed
        first = True
        for dev in sp.devices:
            if dev == "cuda" and (spec.type != "dspfusion" or not has_cuda):
                continue
            # only pre-enhancement depends on the degradation: the other methods are timed on the clean pair
            for cond in (sp.conditions if spec.type == "baseline" and spec.pre_enhance else ("clean",)):
                jobs.append({"spec": {k: getattr(spec, k) for k in MethodSpec.__dataclass_fields__},
                             "device": dev, "size": list(sp.size), "warmup": sp.warmup, "runs": sp.runs,
                             "threads": sp.threads, "condition": cond, "flops": first and spec.type == "dspfusion"})
                first = False
    counts: dict[str, tuple[Any, Any]] = {}
    for job in tqdm(jobs, desc=f"speed {cfg.name}", unit="run", disable=not progress):
        out = run_job(job)
        spec = job["spec"]
        row = {"method": spec["name"], "type": spec["type"], "device": job["device"], "condition": job["condition"],
               "size": size, "runs": job["runs"], "warmup": job["warmup"]}
        if "error" in out:
            row["note"] = "failed: " + out["error"]
        else:
            row.update({k: v for k, v in out.items() if k in FIELDS})
            if "params" in out:
                counts[spec["name"]] = (out["params"], out.get("gflops"))
        rows.append(row)
    if "cuda" in sp.devices and not has_cuda:
        rows.append({"method": "(all)", "device": "cuda", "size": size, "note": "CUDA not available on this machine"})
    for row in rows:  # parameters and FLOPs are measured once per method
        if row["method"] in counts:
            row["params"], row["gflops"] = counts[row["method"]]
    return rows


def write_speed_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    from .runner import _write_csv

    return _write_csv(path, list(FIELDS), [[r.get(k) for k in FIELDS] for r in rows])


def read_speed_csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"{path}: no speed results yet; run the benchmark without --report-only first")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        row: dict[str, Any] = {}
        for k, v in r.items():
            if v == "":
                continue
            if k in ("ms_median", "ms_min", "ms_max", "model_ms_median", "peak_mib", "idle_mib", "gflops"):
                row[k] = float(v)
            elif k in ("params", "runs", "warmup", "threads"):
                row[k] = int(float(v))
            elif k == "trained":
                row[k] = v == "True"
            else:
                row[k] = v
        out.append(row)
    return out


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
