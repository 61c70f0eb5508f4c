"""Shared bits for the sandbox and queue tests."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from sonobench.evaluator.sandbox import bwrap

BWRAP = bwrap.probe()[0]
SONOBENCH = [sys.executable, "-c", "from sonobench.cli import main; main()"]


def descendants(pid: int) -> set[int]:
    """Host pids of every process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pids) -> set[int]:
    out = set()
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(p)
    return out


def slow_onnx(path: Path, trips: int = 600_000) -> Path:
    """A valid binary model whose every inference spins a Loop `trips` times first."""
    from tests.spine import onnx_models

    return onnx_models.endless_loop(path, trips=trips)
