"""What the parent watches from outside the sandbox: the model's memory, and its folders.

Peak memory. The kernel's own peak (VmHWM in /proc/PID/status) belongs to the model's
process, which can reset it: `prctl(PR_SET_DUMPABLE, 1)` and writing `5` to
/proc/self/clear_refs set it back to the current resident size, so a model that
allocated 1.4 GB could report 0.3 GB. `MemorySampler` therefore reads the resident
size (VmRSS, shared memory it maps included) of every process of the sandbox from the
parent, every `SAMPLE_SECONDS`, and keeps the largest total itself; the model cannot
touch that number. The peak reported is the larger of the sampled peak and the
kernel's VmHWM (which the model can only lower). A peak held for less than one
sampling interval can be under-reported by at most what the model touches in that time.
Where the sandbox has a cgroup of its own, its memory.peak would be exact; bubblewrap
does not create one and the evaluator does not manage cgroups, so sampling is what holds.

Dead sandboxes. Each sandbox's private folder (the model's copy, the private log) holds
a lock file locked for as long as its launcher lives. A launcher killed with SIGKILL
cannot clean up; `clear_dead_sandboxes` (run by a worker at start) removes every
sandbox folder whose lock nobody holds any more.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path

SAMPLE_SECONDS = 0.01
WORKDIR_PREFIX = "sonobench-sbx-"
LOCK_NAME = ".alive.lock"
NOTE = ("largest total resident memory of the sandbox's processes, sampled by the evaluator from /proc every "
        f"{SAMPLE_SECONDS * 1000:g} ms (the model cannot reset it), or their peak resident set (VmHWM) when larger")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def process_tree(root: int) -> set[int]:
    """`root` and its descendants, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
            parents.setdefault(int(stat[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        kids = parents.get(frontier.pop(), [])
        tree.update(kids)
        frontier += kids
    return tree


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        return 0.0


def hwm_mb(pids) -> float | None:
    """The largest VmHWM among `pids` (None where /proc shows none of them)."""
    peak = None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                kb = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
        except (OSError, ValueError, IndexError):
            continue
        if kb is not None:
            peak = max(peak or 0.0, kb / 1024)
    return peak


class MemorySampler:
    """Samples the resident memory of a process tree from a parent thread until stopped."""

    def __init__(self, root_pid: int, interval: float = SAMPLE_SECONDS):
        self.root, self.interval = root_pid, interval
        self.peak_mb: float | None = None
        self.pids: set[int] = {root_pid}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-memory", daemon=True)

    def start(self) -> MemorySampler:
        # the tree is fixed once the child has said hello: the seccomp filter allows no new process
        self.pids = process_tree(self.root)
        self._thread.start()
        return self

    def sample(self) -> None:
        total = sum(_rss_mb(p) for p in self.pids)
        if total > 0:
            self.peak_mb = max(self.peak_mb or 0.0, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def peak(self) -> float | None:
        """The sampled peak, or the kernel's VmHWM where that is larger (it can only have been lowered)."""
        self.sample()
        hwm = hwm_mb(self.pids)
        values = [v for v in (self.peak_mb, hwm) if v is not None]
        return max(values) if values else None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def hold_workdir(workdir: Path) -> int:
    """Lock `workdir` as alive for as long as the returned descriptor stays open."""
    fd = os.open(workdir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def clear_dead_sandboxes(parent: str | os.PathLike | None = None) -> list[str]:
    """Remove the sandbox folders whose launcher is gone; return their paths."""
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    for d in parent.glob(WORKDIR_PREFIX + "*"):
        if not d.is_dir() or d.is_symlink():
            continue
        try:  # a folder without a lock file is left alone: it is being created, or not ours to judge
            fd = os.open(d / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live launcher holds it
        try:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
        finally:
            os.close(fd)
    return removed
