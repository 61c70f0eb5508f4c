"""The child really runs confined: facts it reports, the seccomp filter, the tree kill."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from sonobench.evaluator.sandbox import ModelProcess, SandboxConfig, seccomp
from sonobench.kernel.errors import SandboxFailure

from .helpers import BWRAP, alive, descendants

needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot run here")


@needs_bwrap
def test_child_reports_its_confinement(toy_onnx):
    with ModelProcess(toy_onnx, "onnx", SandboxConfig(isolation="bwrap")) as proc:
        facts, launcher = dict(proc.child_facts), dict(proc.facts)
        proc.load((64, 64))
        resp, y = proc.request({"op": "infer", "case": "c"}, np.zeros((1, 1, 64, 64), np.float32))
    assert resp["ok"] and y.shape == (1, 1, 64, 64)
    # what a row records comes from the launcher, not from the child
    assert launcher["isolation"] == "bwrap" and launcher["source"] == "the evaluator's launcher"
    assert facts["capabilities"] == "0000000000000000"
    assert facts["nproc"] == SandboxConfig().limits.processes
    if seccomp.supported():
        assert facts["seccomp"] == "no-new-processes"
    if os.geteuid() == 0:
        assert facts["uid"] >= SandboxConfig().sandbox_uid  # never root inside


@pytest.mark.skipif(not seccomp.supported(), reason="no syscall table for this architecture")
def test_seccomp_refuses_processes_but_not_threads():
    code = (
        "import os, threading, subprocess, sys\n"
        f"sys.path.insert(0, {str(seccomp.__file__.rsplit('/evaluator/', 1)[0])!r})\n"
        "from sonobench.evaluator.sandbox import seccomp\n"
        "seccomp.install()\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "for f in (os.fork, lambda: subprocess.run(['true'])):\n"
        "    try:\n"
        "        f(); print('ESCAPED'); sys.exit(1)\n"
        "    except PermissionError:\n"
        "        pass\n"
        "print('OK')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "OK", r.stdout + r.stderr


@needs_bwrap
@pytest.mark.slow
def test_deadline_kills_the_whole_tree(tmp_path):
    """With the filter off, a payload forks a grandchild (own session) and hangs; the
    deadline kill must take the grandchild too, although it left bwrap's process group."""
    pytest.importorskip("torch")
    from tests.hostile.corpus import Targets, pickle_case

    src = ("import os, time\n"
           "if os.fork() == 0:\n"
           "    os.setsid(); os.execv('/bin/sleep', ['sleep', '300'])\n"
           "time.sleep(300)")
    model = pickle_case(lambda t: src)(tmp_path, Targets(*[tmp_path] * 4, 0, ""))
    config = SandboxConfig(isolation="bwrap", allow_pickle=True, seccomp=False)
    config.limits.wall_seconds = 6
    errors, tree, sleepers = [], set(), set()
    with ModelProcess(model, "pickle", config) as proc:
        def load():
            try:
                proc.load((64, 64))
            except SandboxFailure as e:
                errors.append(str(e))

        loader = threading.Thread(target=load)
        loader.start()
        while loader.is_alive():  # the payload forks during the load
            tree |= descendants(proc.proc.pid)
            sleepers |= {p for p in tree if _cmdline(p).startswith("sleep")}
            time.sleep(0.2)
        loader.join()
    assert errors and "exceeded the wall-clock limit" in errors[0]
    assert sleepers, "the grandchild never started"
    deadline = time.time() + 5
    while alive(tree) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(tree), f"left running: {alive(tree)}"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
