"""A submission's follow-ups, run after its main result is stored: the same file scored on each of
its task's follow-up sets (`task_sets.follow_up_sets`: shift sets, sweep sets, the hidden split),
inline, one after another (a queue worker enqueues them instead: `queue.spool.enqueue_shifts`);
and `follow`, which scores every kept submission of an old task version on a new one. Each is an ordinary evaluation through the one
pipeline, never charged to a team's quota."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sonobench.kernel.errors import AlreadyScored, SonoBenchError

from .evaluate import Request, evaluate
from .kept_models import KeptModelMissing, load_kept
from .method import method_of
from .private import is_private
from .task_sets import follow_up, follow_up_sets
from .tasks import Task

Log = Callable[[str], None]


@dataclass
class ShiftOutcome:
    task: str
    condition: str
    submission_id: int | None = None
    primary: float | None = None
    error: str | None = None
    already: bool = False
    state: str | None = None  # of the earlier submission when `already` (queued, running, done, failed)
    hidden: bool = False      # a hidden test split's score, not told to a hosted team


def score_shifts(store, task: Task, sub, request, settings, parent_submission_id: int, *,
                 log: Log | None = None) -> list[ShiftOutcome]:
    """Evaluate `sub` on each follow-up set of `task` (`follow_up_sets`), one after the other,
    after its main result. A failure on one set is recorded on that set's row and does not stop
    the others."""
    out = []
    for child in follow_up_sets(task, request):
        name = child.condition.get("name") or "private test split"
        o = ShiftOutcome(child.ref, name)
        try:
            done = evaluate(store, child, sub, settings=settings, request=follow_up(request, child, parent_submission_id))
            o.submission_id, o.primary = done.submission_id, done.result.get(f"{child.primary_metric}_mean")
            if settings.require_auth and is_private(child):  # a team cannot probe the hidden split's score
                o.primary, o.hidden = None, True
        except AlreadyScored as e:
            o.submission_id, o.already = e.submission_id, True
            o.state = (store.submission(e.submission_id) or {}).get("status")
        except SonoBenchError as e:
            o.error = str(e)
        out.append(o)
        if log:
            log(_outcome_line(o, child))
    return out


_ALREADY = {"done": "already scored", "queued": "already queued, not scored yet: `sonobench worker` runs it",
            "running": "being scored now", "failed": "failed earlier (`sonobench status` says why)"}


def _outcome_line(o: ShiftOutcome, child: Task) -> str:
    what = "tracked sweeps" if child.sweeps else f"shift '{o.condition}'" if child.condition else o.condition
    if o.error:
        return f"  {what} ({o.task}): failed - {o.error}"
    if o.already:
        return f"  {what} ({o.task}): {_ALREADY.get(o.state, 'already submitted')} (submission {o.submission_id})"
    if o.hidden:
        return f"  {what}: scored; its score is hidden (the official board ranks on it)"
    line = f"  {what} ({o.task}): {child.primary_metric} {o.primary:.4f} (submission {o.submission_id})"
    return line + (" - 3D scores: `sonobench leaderboard TASK --view sweeps`" if child.sweeps else "")


@dataclass
class Followed:
    """What one `follow` did, per stored submission of the old version."""

    scored: list[tuple[int, int]] = field(default_factory=list)      # (old id, new id)
    already: list[tuple[int, int]] = field(default_factory=list)     # (old id, existing id)
    missing: list[tuple[int, str]] = field(default_factory=list)     # (old id, why)
    failed: list[tuple[int, str]] = field(default_factory=list)      # (old id, reason)


def follow(store, old_task, new_task, settings, *, log=print) -> Followed:
    """Score every finished (not withdrawn, not follow-up) submission of `old_task` on `new_task`
    from its kept files, through the one pipeline; a follow-up of this kind is not charged."""
    if (old_task.id, old_task.version) == (new_task.id, new_task.version):
        raise SonoBenchError(f"{old_task.ref} is the version to follow from; name another with --to")
    out = Followed()
    rows = [dict(r) for r in store.db.query(
        "select * from submissions where task_id = ? and task_version = ? and status = 'done' "
        "and withdrawn_at is null order by id", [old_task.id, old_task.version])]
    for row in rows:
        row = store.submission(row["id"])
        meta = row.get("meta") or {}
        if meta.get("follow_up_of") is not None or meta.get("split", "test") != "test":
            continue
        try:
            sub = load_kept(store, row, settings)
        except KeptModelMissing as e:
            out.missing.append((row["id"], str(e)))
            log(f"  #{row['id']} {row['name']}: skipped - {e}")
            continue
        extra = {k: meta[k] for k in ("architecture", "training") if k in meta}
        method = method_of(row)
        if any(method.values()):
            extra["method"] = method  # the row's method metadata follows it to the new version
        request = Request.for_task(new_task, kind=row["kind"], follow_up_of=row["id"],
                                   extra_meta={**extra, "followed_from": {"submission_id": row["id"],
                                                                          "task": old_task.ref}})
        try:
            done = evaluate(store, new_task, sub, settings=settings, request=request)
            out.scored.append((row["id"], done.submission_id))
            log(f"  #{row['id']} {row['name']} -> #{done.submission_id} on {new_task.ref}: "
                f"{new_task.primary_metric} {done.result.get(f'{new_task.primary_metric}_mean'):.4f}")
            # and the new version's follow-ups (shift sets, its hidden split), as for a new submission
            score_shifts(store, new_task, sub, request, settings, done.submission_id, log=log)
        except AlreadyScored as e:
            out.already.append((row["id"], e.submission_id))
            log(f"  #{row['id']} {row['name']}: already on {new_task.ref} as #{e.submission_id}")
        except SonoBenchError as e:
            out.failed.append((row["id"], str(e)))
            log(f"  #{row['id']} {row['name']}: failed on {new_task.ref} - {e}")
    return out
