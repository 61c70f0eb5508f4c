"""Reproducibility: seeds, deterministic kernels, thread counts, and the
provenance recorded with every trained baseline (commit, hardware, versions)."""
from __future__ import annotations

import contextlib
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

from sonobench.kernel.errors import SonoBenchError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVICES = ("cpu", "cuda")


class DeviceUnavailable(SonoBenchError):
    """The requested training device is not present."""


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise DeviceUnavailable(f"Unknown device '{device}'. Valid choices: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("--device cuda was asked for but torch sees no CUDA GPU; "
                                "use --device cpu (the quick profile is sized for it)")
    return device


@contextlib.contextmanager
def deterministic(seed: int, device: str, threads: int | None):
    """Seed every generator and pin deterministic kernels for the duration of a run.

    On CPU, `use_deterministic_algorithms(True)` plus a fixed thread count makes two runs
    bit-identical. On CUDA a few kernels (e.g. upsampling backward) have no deterministic
    variant, so there it only warns; cuDNN autotuning is off either way."""
    import torch.utils.deterministic as det

    prev = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, det.fill_uninitialized_memory)
    if device == "cuda":
        # Written, not read: cuBLAS takes its deterministic workspace from the process environment
        # (it must be set before CUDA starts), so this is the one documented write.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=(device == "cuda"))
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    # Deterministic mode also NaN-fills every torch.empty by default, which made CPU
    # training ~2x slower; our kernels never read memory they did not write.
    det.fill_uninitialized_memory = False
    # Adam's second moments of small gradients fall into the denormal range, where CPU
    # arithmetic is ~100x slower; flushing them to zero is deterministic too.
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev[0])
        torch.use_deterministic_algorithms(prev[1], warn_only=prev[2])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[3], prev[4]
        det.fill_uninitialized_memory = prev[5]
        torch.set_flush_denormal(False)


def git_commit() -> dict:
    """HEAD of the repository and whether the code that trains (baselines/, evaluator/) differs from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "baselines", "evaluator")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()


def hardware(device: str, threads: int | None) -> dict:
    info = {"device": device, "cpu": _cpu_name(), "cores": os.cpu_count(),
            "threads": threads or torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "machine": platform.machine()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def cpu_seconds() -> float:
    """User + system CPU time of this process (a load-independent cost measure)."""
    t = os.times()
    return t.user + t.system
