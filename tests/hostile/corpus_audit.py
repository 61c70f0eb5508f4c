"""Hostile cases of the second hosted-mode audit that end in a refused run: memory held
where the address-space cap does not count it. (Its other findings are not submissions
that fail: they are checked in test_audit_cases.py and tests/spine/test_hosted_audit.py.)"""
from __future__ import annotations

from tests.hostile.corpus import Case, pickle_case

# anonymous files written with write(): shared memory, outside RLIMIT_AS; each under the 64 MB file cap
MEMFD_PAST_CAP = """
import os
fds = []
for i in range(24):
    fd = os.memfd_create('x%d' % i)
    os.write(fd, b'\\x01' * (64 * 2**20))
    fds.append(fd)
"""
# a System V segment: created, attached, filled, detached; it outlives the mapping
SYSV_SEGMENT = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.shmget(0, 512 * 2**20, 0o1000 | 0o600)
if shmid == -1:
    raise PermissionError(ctypes.get_errno(), 'shmget refused')
libc.shmat.restype = ctypes.c_void_p
addr = libc.shmat(shmid, None, 0)
ctypes.memset(addr, 1, 512 * 2**20)
libc.shmdt(ctypes.c_void_p(addr))
"""

AUDIT_CASES: list[Case] = [
    Case("pickle_memfd_past_memory_cap", pickle_case(lambda t: MEMFD_PAST_CAP),
         r"could not be loaded: PermissionError", "seccomp filter (memfd_create refused)", torch=True,
         allow_pickle=True, bwrap_only=True, settings={"memory_mb": 1024}, wall=30),
    Case("pickle_sysv_shared_memory", pickle_case(lambda t: SYSV_SEGMENT),
         r"could not be loaded: PermissionError.*shmget refused", "seccomp filter (shmget refused)", torch=True,
         allow_pickle=True, bwrap_only=True, wall=30),
]
