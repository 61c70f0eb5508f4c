"""The audit's memory findings: a model cannot forge its measured peak (VmHWM reset through
/proc/self/clear_refs) nor hold memory outside the address-space cap (memfd_create, System V
shared memory); a killed launcher's sandbox folder is cleared by the next worker."""
import os
import subprocess
import sys

import numpy as np
import pytest

from sonobench.evaluator.sandbox import ModelProcess, SandboxConfig, seccomp, watch
from sonobench.kernel.errors import SandboxFailure

from .helpers import BWRAP

needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot run here")
ROOT = seccomp.__file__.rsplit("/evaluator/", 1)[0]

# Allocates (and touches) ~600 MB, frees it, then resets the kernel's peak (VmHWM) to the
# current resident size, as the audit's model did.
RESET_PEAK = """
import ctypes
b = b"\\x01" * (600 * 2**20)
del b
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self becomes writable by us
open('/proc/self/clear_refs', 'w').write('5')
"""
# The audit's bypass: anonymous files written with write() are shared memory, which
# RLIMIT_AS does not count (each stays under the 64 MB file-size cap).
MEMFD = """
import os
fds = []
for i in range({n}):
    fd = os.memfd_create('x%d' % i)
    os.write(fd, b'\\x01' * (64 * 2**20))
    fds.append(fd)
"""


def _pickle(tmp_path, src):
    pytest.importorskip("torch")
    from tests.hostile.corpus import MODULE_SRC, Targets, pickle_case

    body = src + MODULE_SRC.format(body="        return x")
    return pickle_case(lambda t: body)(tmp_path, Targets(*[tmp_path] * 4, 0, ""))


def _run_in_seccomp(code: str) -> subprocess.CompletedProcess:
    prog = f"import sys; sys.path.insert(0, {ROOT!r})\nfrom sonobench.evaluator.sandbox import seccomp\nseccomp.install()\n"
    return subprocess.run([sys.executable, "-c", prog + code], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(not seccomp.supported(), reason="no syscall table for this architecture")
def test_memory_outside_the_address_space_cap_is_refused():
    r = _run_in_seccomp(
        "import os, ctypes, errno\n"
        "try:\n    os.memfd_create('x'); print('MEMFD')\nexcept PermissionError:\n    pass\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.shmget(0, 2**20, 0o1000 | 0o600) != -1 or ctypes.get_errno() != errno.EPERM:\n    print('SHM')\n"
        "print('OK')\n")
    assert r.stdout.strip() == "OK", r.stdout + r.stderr


@needs_bwrap
@pytest.mark.slow
def test_memfd_writes_past_the_memory_cap_are_refused(tmp_path):
    """24 x 64 MB = 1.5 GB written to anonymous files under a 1,024 MB cap: refused at the first file."""
    model = _pickle(tmp_path, MEMFD.format(n=24))
    config = SandboxConfig(isolation="bwrap", allow_pickle=True)
    config.limits.memory_mb, config.limits.wall_seconds = 4096, 60
    with pytest.raises(SandboxFailure, match=r"could not be loaded: PermissionError"), \
            ModelProcess(model, "pickle", config) as proc:
        proc.load((64, 64), complexity=False)


@needs_bwrap
@pytest.mark.slow
def test_peak_memory_is_measured_where_the_model_cannot_reset_it(tmp_path):
    model = _pickle(tmp_path, RESET_PEAK)
    config = SandboxConfig(isolation="bwrap", allow_pickle=True)
    config.limits.wall_seconds = 120
    with ModelProcess(model, "pickle", config) as proc:
        proc.load((64, 64), complexity=False)
        resp, _ = proc.request({"op": "infer", "case": "c"}, np.zeros((1, 1, 64, 64), np.float32))
        assert resp["ok"]
        kernel = watch.hwm_mb(watch.process_tree(proc.proc.pid))
        peak = proc.peak_memory_mb()
    assert kernel < 500, f"the reset did not take here (VmHWM {kernel:.0f} MB); the reproduction proves nothing"
    assert peak >= 600, f"the parent's peak {peak:.0f} MB missed the model's 600 MB"


def test_sampler_keeps_the_peak_of_a_process_that_frees_its_memory():
    code = "import time; b = b'\\x01' * (200 * 2**20); time.sleep(0.5); del b; time.sleep(0.5); print('done')"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    sampler = watch.MemorySampler(p.pid).start()
    p.stdout.readline()
    peak = sampler.peak()
    sampler.stop()
    p.wait()
    assert peak >= 200


def test_a_dead_launchers_sandbox_folder_is_cleared_and_a_live_one_kept(tmp_path):
    dead, live = tmp_path / (watch.WORKDIR_PREFIX + "dead"), tmp_path / (watch.WORKDIR_PREFIX + "live")
    for d in (dead, live):
        (d / "model").mkdir(parents=True)
        (d / "model" / "model.pt").write_bytes(b"weights")
        (d / "child.log").write_text("private")
    # a launcher killed with SIGKILL: its lock went with its process
    code = (f"import sys; sys.path.insert(0, {ROOT!r})\nfrom pathlib import Path\n"
            "from sonobench.evaluator.sandbox import watch\n"
            f"watch.hold_workdir(Path({str(dead)!r})); print('held', flush=True)\n"
            "import time; time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    fd = watch.hold_workdir(live)  # a live launcher (this process)
    assert watch.clear_dead_sandboxes(tmp_path) == []  # both held
    holder.kill()
    holder.wait()
    try:
        assert watch.clear_dead_sandboxes(tmp_path) == [str(dead)]
        assert not dead.exists() and (live / "child.log").exists()
    finally:
        os.close(fd)


def test_a_sandbox_folder_is_held_while_its_model_runs_and_gone_after(toy_onnx):
    with ModelProcess(toy_onnx, "onnx", SandboxConfig(isolation="none")) as proc:
        workdir = proc._tmp.name
        assert os.path.exists(os.path.join(workdir, watch.LOCK_NAME))
        assert workdir not in watch.clear_dead_sandboxes(os.path.dirname(workdir))
    assert not os.path.exists(workdir)
