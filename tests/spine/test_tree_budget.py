"""The tracked tree (code, frozen splits, committed references) stays under its data budget: the
GPU machine's transfer carries 64 MiB, and 60 MB leaves room for the working files beside it.
A new task version that would cross it archives an older one first (`sonobench.evaluator.task_archive`)."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUDGET_BYTES = 60_000_000


def test_the_tracked_tree_is_under_60_mb():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    sizes = {name: (REPO / name).stat().st_size for name in filter(None, listed.decode().split("\0"))
             if (REPO / name).is_file()}
    total = sum(sizes.values())
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:5]
    assert total < BUDGET_BYTES, (f"the tracked tree holds {total / 1e6:.1f} MB (budget {BUDGET_BYTES / 1e6:.0f} MB); "
                                  f"largest files: {largest}; archive an old task version (see evaluator/task_archive.py) or make the new one smaller")
