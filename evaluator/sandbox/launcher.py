"""Start the model process in isolation and talk to it through two pipes.

Isolation, strongest available first: bubblewrap (new namespaces, no network,
read-only binds, private /tmp), then `unshare -n` (no network), then rlimits
alone. Every mode also gets a scrubbed environment, a private working dir,
rlimits, its own process group, and a wall-clock deadline that kills the group.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SandboxFailure
from . import protocol

REPO_ROOT = Path(__file__).resolve().parents[2]
ISOLATION_MODES = ("auto", "bwrap", "unshare", "none")


@dataclass
class Limits:
    address_space_mb: int = 8192
    cpu_seconds: int = 1800
    wall_seconds: float = 600.0
    file_size_mb: int = 64
    open_files: int = 256
    load_seconds: float = 120.0  # wall time allowed for loading + complexity counting


@dataclass
class SandboxConfig:
    isolation: str = "auto"
    threads: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    limits: Limits = field(default_factory=Limits)
    allow_pickle: bool = False


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_isolation_cache: dict[str, bool] = {}


def available(mode: str) -> bool:
    if mode == "none":
        return True
    if mode not in _isolation_cache:
        probe = {"bwrap": ["bwrap", "--unshare-all", "--dev-bind", "/", "/"], "unshare": ["unshare", "-n"]}[mode]
        _isolation_cache[mode] = shutil.which(probe[0]) is not None and _works(probe)
    return _isolation_cache[mode]


def resolve_isolation(mode: str) -> str:
    if mode not in ISOLATION_MODES:
        raise SandboxFailure(f"Unknown isolation mode '{mode}'. Valid: {', '.join(ISOLATION_MODES)}")
    if mode != "auto":
        if not available(mode):
            raise SandboxFailure(f"Isolation '{mode}' is not available on this machine (install bubblewrap: apt-get install bubblewrap)")
        return mode
    for m in ("bwrap", "unshare"):
        if available(m):
            return m
    return "none"


def _bwrap_prefix(workdir: Path, model_dir: Path) -> list[str]:
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    ro = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/alternatives", "/etc/ld.so.cache",
          sys.prefix, sys.base_prefix, str(REPO_ROOT / "evaluator"), str(REPO_ROOT / "baselines")}
    for site in sys.path:
        if site and Path(site).is_dir() and not Path(site).resolve().is_relative_to(workdir):
            ro.add(site)
    for p in sorted(ro):
        if Path(p).exists():
            args += ["--ro-bind", p, p]
    args += ["--ro-bind", str(model_dir), "/model", "--bind", str(workdir), str(workdir), "--chdir", str(workdir)]
    return args


def _set_limits(limits: Limits):
    def apply():
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits.address_space_mb * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _scrubbed_env(workdir: Path, threads: int) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir), "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
    }


class ModelProcess:
    """A running sandboxed child. Use as a context manager; it is always killed on exit."""

    def __init__(self, model_path: str | os.PathLike, fmt: str, config: SandboxConfig,
                 architecture: dict | None = None):
        self.config = config
        self.isolation = resolve_isolation(config.isolation)
        self.model_path = Path(model_path).resolve()
        self.fmt, self.architecture = fmt, architecture
        self.proc: subprocess.Popen | None = None
        self.deadline = 0.0

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="sonobench-sbx-")
        workdir = Path(self._tmp.name)
        model_dir = workdir / "model"
        model_dir.mkdir()
        # The child sees a private copy of the submitted file(s) only.
        for f in self._model_files():
            shutil.copy2(f, model_dir / f.name)
        self.child_model_path = (Path("/model") if self.isolation == "bwrap" else model_dir) / self.model_path.name
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        # -I ignores PYTHONPATH and the user site; a one-line bootstrap adds the repo root.
        cmd = [sys.executable, "-I", "-c",
               f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); "
               "from evaluator.sandbox.child import main; main()", str(req_r), str(resp_w)]
        if self.isolation == "bwrap":
            cmd = _bwrap_prefix(workdir, model_dir) + ["--"] + cmd
        elif self.isolation == "unshare":
            cmd = ["unshare", "-n", "--"] + cmd
        self._log = open(workdir / "child.log", "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            pass_fds=(req_r, resp_w), cwd=workdir, env=_scrubbed_env(workdir, self.config.threads),
            preexec_fn=_set_limits(self.config.limits), start_new_session=True, close_fds=True,
        )
        os.close(req_r)
        os.close(resp_w)
        self.started = time.monotonic()
        self.deadline = self.started + self.config.limits.wall_seconds
        return self

    def _model_files(self) -> list[Path]:
        files = [self.model_path]
        if self.fmt == "onnx":  # external data travels only from the model's own folder
            for sib in self.model_path.parent.glob(self.model_path.name + ".data"):
                files.append(sib)
        return files

    def _log_tail(self, n: int = 800) -> str:
        try:
            self._log.flush()
            data = (Path(self._tmp.name) / "child.log").read_bytes()[-n:]
            return data.decode(errors="replace").strip()
        except OSError:
            return ""

    def _fail(self, what: str) -> SandboxFailure:
        code = self.proc.poll() if self.proc else None
        why = what
        if code is not None and code < 0:
            sig = signal.Signals(-code).name
            hint = {"SIGXCPU": "it used up its CPU-time limit", "SIGKILL": "it was killed (memory or time limit)",
                    "SIGSEGV": "it crashed (segmentation fault)", "SIGXFSZ": "it wrote more than its file-size limit"}.get(sig, "")
            why += f" (model process died with {sig}{': ' + hint if hint else ''})"
        return SandboxFailure(why)

    def request(self, header: dict, array: np.ndarray | None = None, deadline: float | None = None,
                max_bytes: int | None = None):
        try:
            protocol.send(self._req_w, header, array)
            return protocol.recv(self._resp_r, deadline or self.deadline, max_bytes=max_bytes)
        except protocol.Deadline:
            self.kill()
            limit = self.config.limits.wall_seconds
            raise SandboxFailure(f"the model exceeded the wall-clock limit ({limit:g} s) and was killed") from None
        except (protocol.ProtocolError, BrokenPipeError) as e:
            self.kill()
            raise self._fail(f"the model process failed: {e}") from None

    def load(self, input_size, complexity: bool = True) -> dict:
        deadline = min(self.deadline, time.monotonic() + self.config.limits.load_seconds)
        resp, _ = self.request({"op": "load", "model_path": str(self.child_model_path), "format": self.fmt,
                                "architecture": self.architecture, "input_size": list(input_size),
                                "threads": self.config.threads, "allow_pickle": self.config.allow_pickle,
                                "complexity": complexity}, deadline=deadline)
        if not resp.get("ok"):
            raise SandboxFailure(f"the model could not be loaded: {resp.get('error')}")
        return resp

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def __exit__(self, *exc):
        self.kill()
        for fd in (self._req_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        self._tmp.cleanup()
        return False
