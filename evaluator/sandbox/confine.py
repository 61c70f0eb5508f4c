"""First thing the sandboxed child does, before it imports numpy or reads a byte
of the model: give up privilege for good.

Order matters: switch to the unprivileged uid (root launches only), re-arm the
parent-death signal (a uid change clears it), set the per-process rlimits that
must be set from inside (RLIMIT_NPROC counts the new uid or namespace), then
install the seccomp filter, which needs no privilege. The result is a dict the
child reports back, so every row records what actually held.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal

_PR_SET_PDEATHSIG = 1


def _drop_uid(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise RuntimeError(f"could not switch to sandbox uid {uid}")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise RuntimeError("the sandbox uid could regain root; refusing to run")


def _capabilities() -> str:
    with open("/proc/self/status") as f:
        return next((l.split()[1] for l in f if l.startswith("CapEff:")), "?")


def confine(spec: dict) -> dict:
    """Apply `spec` (from the launcher) to this process; return the facts as a record."""
    from . import seccomp

    facts: dict = {}
    if spec.get("uid") is not None and os.geteuid() == 0:
        _drop_uid(int(spec["uid"]))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if spec.get("nproc"):
        n = int(spec["nproc"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    facts["uid"] = os.getuid()
    facts["capabilities"] = _capabilities()
    facts["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    facts["seccomp"] = seccomp.install() if spec.get("seccomp", True) else "off"
    return facts


def bootstrap(spec_json: str) -> None:
    """Entry point named in the launcher's `python -c`: confine, then serve."""
    facts = confine(json.loads(spec_json))
    from .child import main

    main(facts)
