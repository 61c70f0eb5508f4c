"""Start the model process in isolation and talk to it through two pipes.

Isolation, strongest available first: bubblewrap (see bwrap.py), then
`unshare -n` (no network), then rlimits alone; `policy.py` decides which
formats each may run. Every mode also gets a scrubbed environment, rlimits on
address space, CPU seconds, file size, open files and (under bubblewrap)
processes, the seccomp filter (no new processes), a private copy of the model
files, and a wall-clock deadline after which the whole tree is killed: the
launcher kills bwrap's process group, bwrap's pid-1 dies with it
(--die-with-parent), and the kernel then kills everything left in the pid
namespace, including the child that --new-session moved to its own session.
"""
from __future__ import annotations

import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonobench.kernel import environment
from sonobench.kernel.errors import SandboxFailure
from sonobench.kernel.settings import DEFAULTS as _DEFAULTS

from . import bounds, bwrap, protocol, reports, watch

REPO_ROOT = bwrap.REPO_ROOT
ISOLATION_MODES = ("auto", "bwrap", "unshare", "none")
PRIVATE_LOG_BYTES = 64 * 1024
START_SECONDS = 60.0
STREAM_AHEAD = 2  # inference requests in flight in `stream`: the child's next input is always waiting
GPU_ENV = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")


@dataclass
class Limits:
    """What the model process may use; the defaults are the operator settings' (sonobench/kernel/settings.py)."""
    memory_mb: int = _DEFAULTS.memory_mb  # the address-space cap (RLIMIT_AS), the settings' memory_mb
    cpu_seconds: int = _DEFAULTS.cpu_seconds
    wall_seconds: float = _DEFAULTS.wall_seconds
    file_size_mb: int = _DEFAULTS.file_size_mb
    open_files: int = _DEFAULTS.open_files
    processes: int = _DEFAULTS.processes     # RLIMIT_NPROC inside bubblewrap: threads count, new processes are refused anyway
    tmpfs_mb: int = _DEFAULTS.tmpfs_mb
    load_seconds: float = _DEFAULTS.load_seconds  # wall time allowed for loading + complexity counting


def default_threads() -> int:
    """Threads the model may use: this machine's cores, at most 4 (more rarely helps one image)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class _SendFailed:
    """The writer of `ModelProcess.stream` could not send a request (the child is gone)."""
    error: BaseException


@dataclass
class SandboxConfig:
    isolation: str = "auto"
    threads: int = field(default_factory=default_threads)
    limits: Limits = field(default_factory=Limits)
    allow_pickle: bool = _DEFAULTS.allow_pickle
    gpu: bool = _DEFAULTS.gpu
    onnx_domains: tuple[str, ...] = _DEFAULTS.onnx_domains
    sandbox_uid: int = _DEFAULTS.sandbox_uid   # root only: first uid of the pool the child switches to
    sandbox_uids: int = _DEFAULTS.sandbox_uids
    seccomp: bool = True
    extra_ro_binds: tuple[str, ...] = ()
    # False: reasons name the exception type only (text stays in the log)
    model_error_details: bool = _DEFAULTS.model_error_details


@dataclass(frozen=True)
class Isolation:
    mode: str
    why_not_bwrap: str = ""  # set when bubblewrap was wanted or tried and cannot run


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_unshare_cache: dict[str, bool] = {}


def available(mode: str) -> bool:
    if mode == "none":
        return True
    if mode == "bwrap":
        return bwrap.probe()[0]
    if mode not in _unshare_cache:
        _unshare_cache[mode] = shutil.which("unshare") is not None and _works(["unshare", "-n"])
    return _unshare_cache[mode]


def isolation_for(mode: str) -> Isolation:
    """The isolation a request gets, with the reason bubblewrap is not used when it is not."""
    if mode not in ISOLATION_MODES:
        raise SandboxFailure(f"Unknown isolation mode '{mode}'. Valid: {', '.join(ISOLATION_MODES)}")
    ok, why = bwrap.probe()
    if mode == "bwrap" and not ok:
        raise SandboxFailure(f"Isolation 'bwrap' is required but not available: {why}")
    if mode == "bwrap" or (mode == "auto" and ok):
        return Isolation("bwrap")
    if mode == "auto":
        return Isolation("unshare" if available("unshare") else "none", why)
    if not available(mode):
        raise SandboxFailure(f"Isolation '{mode}' is not available on this machine (install util-linux / bubblewrap)")
    return Isolation(mode, "isolation chosen explicitly")


def _set_limits(limits: Limits):
    def apply():
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _scrubbed_env(home: str, threads: int, gpu: bool) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
    }
    if gpu:
        env.update(environment.passthrough(GPU_ENV))  # the GPU selection, nothing else of ours
    return env


class ModelProcess:
    """A running sandboxed child. Use as a context manager; it is always killed on exit.

    `files` are the model file followed by any companion files (ONNX external
    data); the child sees private copies of exactly these, nothing else.
    """

    def __init__(self, files, fmt: str, config: SandboxConfig, architecture: dict | None = None,
                 isolation: Isolation | None = None):
        files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        self.files = [Path(f).resolve() for f in files]
        self.model_path = self.files[0]
        self.config = config
        self.iso = isolation or isolation_for(config.isolation)
        self.isolation = self.iso.mode
        self.fmt, self.architecture = fmt, architecture
        self.proc: subprocess.Popen | None = None
        self.deadline = 0.0
        self.facts: dict = {}
        self.child_facts: dict = {}
        self.private_log = ""
        self._slot = None
        self._memory: watch.MemorySampler | None = None
        self._alive: int | None = None

    # ------------------------------------------------------------ start
    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix=watch.WORKDIR_PREFIX)
        self._alive = watch.hold_workdir(Path(self._tmp.name))  # a dead launcher's folder is cleared later
        try:
            self._start(Path(self._tmp.name))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _copy_model(self, workdir: Path) -> Path:
        model_dir = workdir / "model"
        model_dir.mkdir()
        for f in self.files:  # private copies: the child never sees the submitter's folder
            shutil.copyfile(f, model_dir / f.name, follow_symlinks=False)
            os.chmod(model_dir / f.name, 0o644)
        os.chmod(model_dir, 0o755)
        return model_dir

    def _command(self, model_dir: Path, spec: dict) -> list[str]:
        boot = (f"import sys; sys.path.insert(0, {str(bwrap.import_root())!r}); "
                "from sonobench.evaluator.sandbox.confine import bootstrap; bootstrap(sys.argv[3])")
        cmd = [sys.executable, "-I", "-c", boot, str(self._req_child), str(self._resp_child), json.dumps(spec)]
        if self.isolation == "bwrap":
            if self.config.gpu and not bwrap.gpu_device_nodes():
                raise SandboxFailure("GPU mode was requested but this machine has no NVIDIA device nodes (/dev/nvidia*)")
            prefix = bwrap.command(model_dir, gpu=self.config.gpu, tmpfs_mb=self.config.limits.tmpfs_mb,
                                   extra_ro=tuple(self.config.extra_ro_binds))
            return prefix + cmd
        if self.isolation == "unshare":
            return ["unshare", "-n", "--"] + cmd
        return cmd

    def _start(self, workdir: Path) -> None:
        model_dir = self._copy_model(workdir)
        in_bwrap = self.isolation == "bwrap"
        self.child_model_path = (Path(bwrap.SANDBOX_MODEL_DIR) if in_bwrap else model_dir) / self.model_path.name
        spec = {"seccomp": self.config.seccomp, "uid": None, "nproc": None}
        if in_bwrap:
            spec["nproc"] = self.config.limits.processes
            if bwrap.running_as_root():
                self._slot = bwrap.UidSlot(self.config.sandbox_uid, self.config.sandbox_uids)
                spec["uid"] = self._slot.uid
        self._req_child, self._req_w = os.pipe()
        self._resp_r, self._resp_child = os.pipe()
        self._log_path = workdir / "child.log"
        self._log = open(self._log_path, "wb")
        home = "/tmp" if in_bwrap else str(workdir)
        self.proc = subprocess.Popen(
            self._command(model_dir, spec), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            pass_fds=(self._req_child, self._resp_child), cwd=workdir,
            env=_scrubbed_env(home, self.config.threads, self.config.gpu),
            preexec_fn=_set_limits(self.config.limits), start_new_session=True, close_fds=True,
        )
        os.close(self._req_child)
        os.close(self._resp_child)
        self.started = time.monotonic()
        self.deadline = self.started + self.config.limits.wall_seconds
        self._await_hello()

    def _await_hello(self) -> None:
        """The child confines itself, then says hello. Until then no model code has run,
        so the log holds only the sandbox's own messages and may be shown."""
        try:
            hello, _ = protocol.recv(self._resp_r, min(self.deadline, time.monotonic() + START_SECONDS))
        except (protocol.Deadline, protocol.ProtocolError) as e:
            self.kill()
            tail = self._log_tail(600) or str(e)
            raise SandboxFailure(f"the sandbox ({self.isolation}) could not start: {tail}") from None
        if hello.get("op") != "hello":
            self.kill()
            raise SandboxFailure("the sandbox child sent an unexpected first message")
        # What the child says about its confinement is kept for tests and the operator's eyes only.
        self.child_facts = hello.get("facts") if isinstance(hello.get("facts"), dict) else {}
        # The facts recorded on a row are what the launcher itself arranged, never what the child
        # (which later runs submitted code) says about itself.
        self.facts = self.launcher_facts()
        self._memory = watch.MemorySampler(self.proc.pid).start()

    def launcher_facts(self) -> dict:
        in_bwrap = self.isolation == "bwrap"
        return {"isolation": self.isolation, "seccomp": "filter requested" if self.config.seccomp else "off",
                "uid": self._slot.uid if self._slot else os.getuid(),
                "nproc": self.config.limits.processes if in_bwrap else None,
                "network": "none" if self.isolation in ("bwrap", "unshare") else "host",
                "source": "the evaluator's launcher", "limits": bounds.limits_record(self.config),
                **({"external_data": [f.name for f in self.files[1:]]} if self.fmt == "onnx" else {})}

    # ------------------------------------------------------------ talk
    def _log_tail(self, n: int = 800) -> str:
        try:
            self._log.flush()
            with open(self._log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self._log_path) - n))
                return f.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def _fail(self, what: str, code: int | None) -> SandboxFailure:
        """`code`: the exit status seen before we killed the process (None if it was alive)."""
        why = what
        if code is not None and code > 128 and self.isolation == "bwrap":
            code = 128 - code  # bwrap exits with 128 + the signal that killed its child
        if code is not None and code < 0 and -code in signal.valid_signals():
            sig = signal.Signals(-code).name
            hint = {"SIGXCPU": "it used up its CPU-time limit", "SIGKILL": "it was killed (memory or time limit)",
                    "SIGSEGV": "it crashed (segmentation fault)", "SIGXFSZ": "it wrote more than its file-size limit",
                    "SIGSYS": "it made a forbidden system call"}.get(sig, "")
            why += f" (model process died with {sig}{': ' + hint if hint else ''})"
        return SandboxFailure(why)

    def stream(self, requests, max_bytes: int | None = None):
        """Send `requests` ((header, array, context) triples, produced lazily: reading and
        preprocessing an image happens here too) from a writer thread, at most `STREAM_AHEAD`
        ahead of the replies, so the child never waits for its next input; yield
        (context, reply, output, seconds) in order.

        `seconds` is the parent's clock for one case: from the moment the child could start it
        (its input was wholly written to the pipe and the previous output had been read back)
        until its whole output was read back. An error while producing a request is raised
        here, in order; a child that stops answering meets the wall-clock deadline."""
        sent: queue.Queue = queue.Queue()
        slots = threading.Semaphore(STREAM_AHEAD)
        stop = threading.Event()

        def write():
            try:
                for header, array, context in requests:
                    slots.acquire()
                    if stop.is_set():
                        return
                    try:
                        protocol.send(self._req_w, header, array)
                    except (protocol.ProtocolError, OSError) as e:
                        sent.put(_SendFailed(e))
                        return
                    sent.put((time.perf_counter(), context))
            except BaseException as e:  # producing a request failed: raised on the reading side, in order
                sent.put(e)
                return
            sent.put(None)

        writer = threading.Thread(target=write, name="sandbox-writer", daemon=True)
        writer.start()
        last = time.perf_counter()
        try:
            while True:
                try:
                    item = sent.get(timeout=max(0.0, self.deadline - time.monotonic()))
                except queue.Empty:
                    raise self._deadline_passed(None) from None
                if item is None:
                    return
                if isinstance(item, _SendFailed):
                    if isinstance(item.error, protocol.ProtocolError):
                        raise SandboxFailure(f"the request to the model process is too large ({item.error})")
                    raise self._child_gone("the model process exited before it read its input")
                if isinstance(item, BaseException):
                    raise item
                written, context = item
                resp, y = self._receive(self.deadline, max_bytes, None)
                now = time.perf_counter()
                yield context, resp, y, now - max(last, written)
                last = now
                slots.release()
        finally:
            stop.set()
            slots.release()  # a writer waiting for a slot wakes, sees `stop` and ends

    def request(self, header: dict, array: np.ndarray | None = None, deadline: float | None = None,
                max_bytes: int | None = None, limit_text: str | None = None):
        try:
            protocol.send(self._req_w, header, array)
        except protocol.ProtocolError as e:  # our own request is too large: nothing was sent
            raise SandboxFailure(f"the request to the model process is too large ({e}); "
                                 "shorten the architecture arguments") from None
        except BrokenPipeError:
            raise self._child_gone("the model process exited before it read its input") from None
        return self._receive(deadline or self.deadline, max_bytes, limit_text)

    def _receive(self, deadline: float, max_bytes: int | None, limit_text: str | None):
        try:
            return protocol.recv(self._resp_r, deadline, max_bytes=max_bytes)
        except protocol.Deadline:
            raise self._deadline_passed(limit_text) from None
        except (protocol.ProtocolError, BrokenPipeError) as e:
            raise self._child_gone(f"the model process failed: {e}") from None

    def _deadline_passed(self, limit_text: str | None) -> SandboxFailure:
        """Kill the tree; the failure that names the limit it ran past (default: the wall clock)."""
        self.kill()
        limit = limit_text or f"the wall-clock limit ({self.config.limits.wall_seconds:g} s)"
        return SandboxFailure(f"the model exceeded {limit} and was killed")

    def _child_gone(self, what: str) -> SandboxFailure:
        """The child stopped talking: kill the tree; the failure with its exit status's meaning."""
        time.sleep(0.05)  # a crashed child: let its exit status arrive before reading it
        code = self.proc.poll()
        self.kill()
        return self._fail(what, code)

    def load(self, input_size, complexity: bool = True) -> dict:
        """Load the model; returns the checked reply ({'channels', 'complexity'}). `complexity`:
        count it inside the sandbox (code formats; the parent counts ONNX from the graph)."""
        load_deadline = time.monotonic() + self.config.limits.load_seconds
        deadline = min(self.deadline, load_deadline)
        limit_text = None if self.deadline <= load_deadline else \
            f"the load-time limit ({self.config.limits.load_seconds:g} s)"
        resp, _ = self.request({"op": "load", "model_path": str(self.child_model_path), "format": self.fmt,
                                "architecture": self.architecture, "input_size": list(input_size),
                                "threads": self.config.threads, "allow_pickle": self.config.allow_pickle,
                                "gpu": self.config.gpu, "onnx_domains": list(self.config.onnx_domains),
                                "complexity": complexity}, deadline=deadline, limit_text=limit_text)
        if not reports.check_ok(resp, "load"):
            raise SandboxFailure(f"the model could not be loaded: {self.model_error(resp)}")
        return reports.load_reply(resp, reported_complexity=complexity)

    def model_error(self, resp: dict) -> str:
        """The child's one-line error (cleaned and bounded), or only its exception type when the
        operator hides model-provided text (the message may come from submitted code)."""
        if self.config.model_error_details or not resp.get("type"):
            return reports.error_text(resp)
        return (f"{reports.error_type(resp)} (the operator hides model messages; run `sonobench check MODEL "
                "--task T` on your own machine to see the full error)")

    def peak_memory_mb(self) -> float | None:
        """The sandbox's peak resident memory as the parent measured it (see watch.py: sampled
        from outside, so the model cannot reset it); None where /proc does not show it."""
        if not self.proc or self.proc.poll() is not None or self._memory is None:
            return None
        return self._memory.peak()

    # ------------------------------------------------------------ stop
    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def __exit__(self, *exc):
        self.kill()
        for name in ("_req_w", "_resp_r"):
            fd = getattr(self, name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if getattr(self, "_log", None):
            self.private_log = self._log_tail(PRIVATE_LOG_BYTES)
            self._log.close()
        if self._memory is not None:
            self._memory.stop()
        if self._slot:
            self._slot.release()
        self._tmp.cleanup()
        if self._alive is not None:
            os.close(self._alive)
            self._alive = None
        return False
