"""Where and when a benchmark ran: UTC time, machine (CPU model, cores, GPU), library versions, git commit.

Every generated table carries this, so a number in docs/BENCHMARKS.md can be traced to the command, the code and
the hardware that produced it.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use
    except AttributeError:
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return None


def git_commit(repo: Path | None = None) -> str:
    """Short commit of the checkout that holds the package, '+dirty' with local changes; 'unknown' outside git."""
    repo = repo or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine(probe_gpu: bool = True) -> dict[str, str]:
    """Date, hardware and versions. ``probe_gpu=False`` skips importing torch (a run of classical methods only)."""
    import sys

    import numpy as np

    from ..version import __version__

    gpu = (gpu_name() or "none") if probe_gpu else "not used"
    torch_version = sys.modules["torch"].__version__ if "torch" in sys.modules else _version("torch")
    try:
        load = "%.1f %.1f %.1f" % os.getloadavg()
    except (AttributeError, OSError):
        load = "n/a"
    return {
        "date": utc_now(),
        "cpu": f"{cpu_model()}, {cpu_count()} logical cores",
        "gpu": gpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch_version,
        "numpy": np.__version__,
        "dspfusion": __version__,
        "commit": git_commit(),
        "load_average": load,
    }


def machine_line(info: dict[str, str]) -> str:
    """One Markdown line for a report header."""
    return (f"{info['date']} · CPU: {info['cpu']} · GPU: {info['gpu']} · {info['os']} · Python {info['python']}, "
            f"torch {info['torch']}, dspfusion {info['dspfusion']} (commit {info['commit']}) · "
            f"load average at start {info['load_average']}")


__all__ = ["machine", "machine_line", "git_commit", "utc_now", "cpu_model", "cpu_count", "gpu_name"]
