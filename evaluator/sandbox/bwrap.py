"""The bubblewrap command line: what the sandboxed child can see, and nothing more.

The child gets new pid/net/ipc/uts (and cgroup) namespaces, read-only binds of
the system libraries, the Python installation and virtualenv, the evaluator's
code (the architecture registry included; no training code), and the one model
folder; a fresh size-capped tmpfs /tmp;
a private /proc and a minimal /dev. Not bound, so not there: the repository's
splits/ (labels), the results store, home directories, /etc (no passwd, no
secrets), the network. The environment is scrubbed by the launcher.

Two ways to drop privilege, chosen by who runs the evaluator:

* an ordinary user: bwrap creates a user namespace too (`--unshare-user
  --disable-userns`), all capabilities are dropped, and RLIMIT_NPROC set inside
  counts only that namespace's processes;
* root: a user namespace would map the child to kernel uid 0, which Linux
  exempts from RLIMIT_NPROC and which still owns root's files. So bwrap runs
  without one, keeps only CAP_SETUID/CAP_SETGID, and the child's first act is to
  switch to an unprivileged uid from a pool (no capabilities left afterwards);
  a pool, so concurrent sandboxes do not share one process count.
"""
from __future__ import annotations

import fcntl
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout, or an installed wheel's sonobench/
# the repository code the child may import: the namespace package with the kernel and the model
# zoo (sonobench/), and the evaluator
CODE_DIRS = ("sonobench", "evaluator")
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/alternatives", "/etc/localtime")
SANDBOX_MODEL_DIR = "/model"
SITE_DIRS = ("site-packages", "dist-packages")
MOUNTED_DIRS = ("/tmp", "/proc", "/dev")  # mounted fresh by bwrap; folders below them are created after
NAMESPACES = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")


def running_as_root() -> bool:
    return os.geteuid() == 0


def installed() -> bool:
    """True when the evaluator runs from an installed wheel (its root is site-packages/sonobench),
    False in a checkout."""
    return REPO_ROOT.name == "sonobench" and REPO_ROOT.parent.name in SITE_DIRS


def import_root() -> Path:
    """The folder the child puts first on its path so that `import sonobench` finds this code:
    the checkout's root, or the site-packages folder holding the installed `sonobench`."""
    return REPO_ROOT.parent if installed() else REPO_ROOT


def python_roots() -> list[str]:
    """What the child imports from (real paths): the interpreter installation, the
    virtualenv and every other site-packages folder on sys.path (a .pth file may add one,
    and a plain sys.path entry such as a home folder is never bound). Never the
    checkout itself or a folder holding it: its code folders are bound one by one, so its
    task data and anything else in it stay out. An installed wheel's site-packages is
    bound whole, with its task data hidden (`hidden_dirs`)."""
    roots = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
             os.path.realpath(os.path.dirname(os.path.dirname(sys.executable)))}
    roots |= {os.path.realpath(p) for p in sys.path
              if p and os.path.isdir(p) and os.path.basename(os.path.realpath(p)) in SITE_DIRS}
    keep = sorted(r for r in roots if r != "/" and (installed() or not REPO_ROOT.is_relative_to(r)))
    return [r for r in keep if not any(r != k and Path(r).is_relative_to(k) for k in keep)]


def hidden_dirs() -> list[str]:
    """Folders inside a bound root that the child must not see: the installed task data."""
    splits = REPO_ROOT / "splits"
    return [str(splits)] if installed() and splits.is_dir() else []


def gpu_device_nodes() -> list[str]:
    """NVIDIA device nodes only: the driver's control, UVM and per-GPU nodes (and MIG caps)."""
    nodes = glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/nvidia-caps/*")
    nodes += [p for p in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
              if os.path.exists(p)]
    return sorted(nodes)


def _ancestors(paths: list[str]) -> list[str]:
    """Parent directories bwrap would otherwise create as 0700 (unreadable to a dropped uid)."""
    out: set[str] = set()
    for p in paths:
        parent = os.path.dirname(p)
        while parent not in ("/", ""):
            out.add(parent)
            parent = os.path.dirname(parent)
    covered = [p for p in paths]
    return sorted((d for d in out if d not in covered and d not in MOUNTED_DIRS
                   and not any(d.startswith(c + "/") for c in covered)), key=lambda d: d.count("/"))


def mounts(model_dir: Path, *, gpu: bool = False, extra_ro: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(kind, source, destination) for every bind; kind is ro, dev, symlink or hide (an
    empty tmpfs over a folder of a bound root)."""
    plan: list[tuple[str, str, str]] = []
    for p in SYSTEM_DIRS:
        if os.path.islink(p):
            plan.append(("symlink", os.readlink(p), p))
        elif os.path.isdir(p):
            plan.append(("ro", p, p))
    plan += [("ro", p, p) for p in SYSTEM_FILES if os.path.exists(p)]
    binds = python_roots() + [str(REPO_ROOT / d) for d in CODE_DIRS if (REPO_ROOT / d).is_dir()]
    binds += [os.path.realpath(p) for p in extra_ro]
    for p in sorted(set(binds)):
        if not any(p == s or p.startswith(s + "/") for k, s, _ in plan if k == "ro" and s in SYSTEM_DIRS):
            plan.append(("ro", p, p))
    plan += [("hide", d, d) for d in hidden_dirs()]
    plan.append(("ro", str(model_dir), SANDBOX_MODEL_DIR))
    if gpu:
        plan += [("dev", n, n) for n in gpu_device_nodes()]
    return plan


def command(model_dir: Path, *, gpu: bool = False, tmpfs_mb: int = 256, as_root: bool | None = None,
            extra_ro: tuple[str, ...] = ()) -> list[str]:
    """The bwrap prefix (ending in `--`) for a child that sees `model_dir` at /model."""
    as_root = running_as_root() if as_root is None else as_root
    args = ["bwrap", *NAMESPACES, "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if as_root:
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    plan = mounts(model_dir, gpu=gpu, extra_ro=extra_ro)
    # /tmp first, then the folders leading to the binds: a checkout or virtualenv under /tmp
    # (a clone in /tmp/x) is then bound inside the private /tmp instead of hidden by it.
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(tmpfs_mb * 1024 * 1024),
             "--tmpfs", "/tmp"]
    for d in _ancestors([dest for _, _, dest in plan]):
        args += ["--perms", "0755", "--dir", d]
    for kind, src, dest in plan:
        if kind == "hide":
            args += ["--perms", "0755", "--size", "4096", "--tmpfs", dest]
            continue
        flag = {"ro": "--ro-bind", "dev": "--dev-bind", "symlink": "--symlink"}[kind]
        args += [flag, src, dest]
    return args + ["--chdir", "/tmp", "--"]


_probe_cache: dict[bool, tuple[bool, str]] = {}


def probe(as_root: bool | None = None) -> tuple[bool, str]:
    """Can bubblewrap run here with our namespaces? (ok, reason when not)."""
    as_root = running_as_root() if as_root is None else as_root
    if as_root in _probe_cache:
        return _probe_cache[as_root]
    if shutil.which("bwrap") is None:
        result = (False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    else:
        with tempfile.TemporaryDirectory(prefix="sonobench-probe-") as d:
            cmd = command(Path(d), as_root=as_root, tmpfs_mb=1) + ["/bin/sh", "-c", "exit 0"]
            try:
                r = subprocess.run(cmd, capture_output=True, timeout=20)
                err = r.stderr.decode(errors="replace").strip().splitlines()
                result = (r.returncode == 0, "" if r.returncode == 0 else
                          f"bubblewrap cannot create its namespaces here ({err[-1] if err else 'exit %d' % r.returncode})")
            except (OSError, subprocess.TimeoutExpired) as e:
                result = (False, f"bubblewrap failed to start: {e}")
    _probe_cache[as_root] = result
    return result


class UidSlot:
    """An unprivileged uid reserved for one sandbox (root only), held through a file lock
    so that concurrent sandboxes, in any process, never share one RLIMIT_NPROC count."""

    def __init__(self, base: int, size: int):
        lock_dir = Path(tempfile.gettempdir()) / "sonobench-sandbox-uids"
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        for i in range(size):
            fd = os.open(lock_dir / f"{base + i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = base + i, fd
            return
        from sonobench.kernel.errors import SandboxFailure

        raise SandboxFailure(f"all {size} sandbox uids ({base}..{base + size - 1}) are in use; "
                             "raise the 'sandbox_uids' setting or run fewer evaluations at once")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
