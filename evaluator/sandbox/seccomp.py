"""A tiny seccomp-BPF filter, built by hand so no libseccomp is needed.

Inference needs threads, files it already has, and memory; it never needs a
new process, a namespace, a mount or a debugger. The filter therefore lets
`clone` through only with CLONE_THREAD (threads), answers `clone3` with ENOSYS
(glibc then falls back to `clone`), and refuses fork/vfork and the syscalls
that widen the kernel attack surface with EPERM. With no second process, the
address-space rlimit bounds the sandbox's total memory and a fork bomb is
impossible. Memory that RLIMIT_AS does not count is refused too: `memfd_create`
(an anonymous file written with write() stays in shared memory, 64 MB per file
under the file-size limit, as many files as the model likes), `memfd_secret`,
System V `shmget` and POSIX message queues. What remains outside RLIMIT_AS is
bounded by other caps: the private /tmp (tmpfs_mb) and pipe buffers (open_files).

Only x86_64 is encoded (the syscall table is per architecture); elsewhere
`install()` reports that no filter was applied and the rlimits stand alone.
Any syscall made through the 32-bit ABIs (int 0x80, x32) kills the process,
because its numbers would not match the table.
"""
from __future__ import annotations

import ctypes
import errno
import platform
import struct

# BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data (little-endian low word of args[0])

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
X86_64 = {
    "clone": 56, "fork": 57, "vfork": 58, "clone3": 435,
    "ptrace": 101, "syslog": 103, "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442,
    # memory the address-space rlimit does not count: anonymous files and shared-memory segments
    "memfd_create": 319, "memfd_secret": 447, "shmget": 29, "mq_open": 240,
}
DENIED = tuple(n for n in X86_64 if n not in ("clone", "clone3"))


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def build_program(table: dict[str, int] = X86_64, arch: int = _AUDIT_ARCH_X86_64) -> bytes:
    """The filter as raw `struct sock_filter` bytes."""
    eperm = _RET_ERRNO | errno.EPERM
    prog = [
        _insn(_LD_W_ABS, _OFF_ARCH),
        _insn(_JEQ_K, arch, 1, 0),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _OFF_NR),
        _insn(_JGE_K, _X32_SYSCALL_BIT, 0, 1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_JEQ_K, table["clone3"], 0, 1),
        _insn(_RET_K, _RET_ERRNO | errno.ENOSYS),
    ]
    for name in DENIED:
        prog += [_insn(_JEQ_K, table[name], 0, 1), _insn(_RET_K, eperm)]
    prog += [
        _insn(_JEQ_K, table["clone"], 1, 0),  # clone: inspect its flags below
        _insn(_RET_K, _RET_ALLOW),
        _insn(_LD_W_ABS, _OFF_ARG0),
        _insn(_JSET_K, _CLONE_THREAD, 0, 1),
        _insn(_RET_K, _RET_ALLOW),
        _insn(_RET_K, eperm),
    ]
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_NO_NEW_PRIVS = 38
_SYS_SECCOMP_X86_64 = 317
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def install() -> str:
    """Apply the filter to every thread of this process; return what was done (for the record)."""
    if not supported():
        return f"none (no syscall table for {platform.machine()})"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    code = build_program()
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    rc = libc.syscall(_SYS_SECCOMP_X86_64, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC,
                      ctypes.byref(prog))
    if rc != 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER) failed")
    return "no-new-processes"
