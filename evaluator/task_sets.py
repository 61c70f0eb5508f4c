"""Which evaluation sets a task has besides its own test split: its acquisition-shift sets, its
tracked-sweep sets, its private (hidden) test split and, when a request opts in, its corruption
variants; and the request that aims a submission at one of them as a follow-up (not charged)."""
from __future__ import annotations

import dataclasses

from .tasks import Task, children_of


def shift_sets(task: Task) -> list[Task]:
    """The acquisition-shift sets of `task` (none for a shift set itself)."""
    return [] if task.parent else [c for c in children_of(task) if not c.sweeps]


def sweep_sets(task: Task) -> list[Task]:
    """The tracked-sweep sets of `task` (evaluator.sweeps.task): scored for every submission to it,
    but no acquisition shift (no drops, no robustness)."""
    return [] if task.parent else [c for c in children_of(task) if c.sweeps]


def follow_up_sets(task: Task, request) -> list[Task]:
    """What a test submission to `task` is scored on after its main result: every shift set and
    sweep set, then the corruption variants the request opted into (none by default)."""
    from .private_split import split_of

    private = split_of(task)  # the operator's hidden test split: the official ranks (evaluator.private)
    sets = shift_sets(task) + sweep_sets(task) + ([private] if private is not None else [])
    if request.corruptions and not task.parent:
        from .corruptions import suite

        sets += suite(task, request.corruptions)
    return sets


def follow_up(request, child: Task, parent_submission_id: int):
    """The parent's `Request`, aimed at `child` and marked as a follow-up (not charged)."""
    meta = {**request.extra_meta, "follow_up_of": int(parent_submission_id),
            "condition": child.condition.get("name")}
    return dataclasses.replace(request, task=child.ref, split="test", follow_up_of=int(parent_submission_id),
                               corruptions=None, extra_meta=meta)
