"""Store operations for the job queue, quotas and private logs (on top of `Store`).

A job is one row per queued submission: queued -> running -> done | failed.
A worker claims the oldest queued job in a `BEGIN IMMEDIATE` transaction, so two
workers can never claim the same one, and holds it through a lease that its
heartbeat extends. A job whose lease ran out (its worker was killed, or hung)
is put back in the queue until it has used `max_attempts` runs, then marked
failed with the reason. Every write that finishes a job checks, in the same
transaction, that the worker still owns it: a worker that lost its lease can
neither write a result nor overwrite the state that its successor owns.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterable

from sonobench.kernel.errors import EvaluationStopped, StoreError

from . import migrations
from .db import Store, write_transaction

LOG_LIMIT = 64 * 1024


class LeaseLost(StoreError, EvaluationStopped):
    """This worker no longer owns the job (its lease expired and another worker took it)."""


@dataclass(frozen=True)
class Job:
    id: int
    submission_id: int
    attempts: int
    max_attempts: int
    owner: str
    payload: dict


immediate = write_transaction  # the store's one write-lock helper, under the name callers here use


def utc_day() -> str:
    return migrations.now()[:10]


def _count_today(db, team: str, statuses: tuple[str, ...], team_id: int | None = None) -> int:
    """Today's submissions of a team: by its id when it has one (hosted mode), so renaming
    nothing can escape a quota; failures the platform caused (charged = 0) never count."""
    marks = ",".join("?" * len(statuses))
    who, arg = ("team_id = ?", team_id) if team_id is not None else ("team = ? and team_id is null", team)
    sql = (f"select count(*) n from submissions where {who} and kind = 'submission' and charged = 1 "
           f"and substr(created_at, 1, 10) = ? and status in ({marks})")
    return next(db.query(sql, [arg, utc_day(), *statuses]))["n"]


def check_quota(db, settings, team: str, kind: str, team_id: int | None = None) -> None:
    """Raise QuotaExceeded when `team` has used today's submissions or failures."""
    from sonobench.kernel.settings import QuotaExceeded

    if kind != "submission":
        return
    team = team if isinstance(team, str) else ""
    who = f"Team '{team}'" if team else "Submissions without a team"
    if settings.daily_submissions is not None:
        used = _count_today(db, team, ("queued", "running", "done"), team_id)
        if used >= settings.daily_submissions:
            raise QuotaExceeded(f"{who} has used its {settings.daily_submissions} submissions for today (UTC); "
                                "try again tomorrow. Failed runs do not count against this cap.")
    if settings.daily_failures is not None:
        failed = _count_today(db, team, ("failed",), team_id)
        if failed >= settings.daily_failures:
            raise QuotaExceeded(f"{who} has had {failed} failed submissions today (UTC), the daily limit; "
                                "check the model locally (`sonobench submit --split val`) and try again tomorrow.")


def create_submission(store: Store, settings, *, job_payload: dict | None = None, charged: bool = True,
                      **fields) -> tuple[int, int | None]:
    """Quota check + submission row (+ job row when `job_payload` is given), atomically.
    Returns (submission id, job id or None). Raises AlreadyScored for a live duplicate.
    `charged=False` (a follow-up such as a shift-set score of an accepted submission): no
    quota check, and the row never counts against one."""
    status = "queued" if job_payload is not None else "running"
    with immediate(store.db):
        if charged:
            check_quota(store.db, settings, fields.get("team", ""), fields.get("kind", "submission"),
                        fields.get("team_id"))
        sid = store.create_submission(status=status, **fields)  # AlreadyScored on a live duplicate
        if not charged:
            store.db.execute("update submissions set charged = 0 where id = ?", [sid])
        jid = None
        if job_payload is not None:
            jid = store.db["jobs"].insert({
                "submission_id": sid, "status": "queued", "attempts": 0,
                "max_attempts": settings.max_attempts, "payload": json.dumps(job_payload),
                "created_at": migrations.now()}).last_pk
    return sid, jid


def record_rejection(store: Store, *, file_sha256: str, filename: str, task, name: str, team: str,
                     kind: str, reason: str, meta: dict | None = None, team_id: int | None = None) -> int:
    """A failed row for a file refused before it could run (counted as a failure for quotas)."""
    with immediate(store.db) as db:
        sid = store.create_submission(file_sha256=file_sha256, filename=filename, fmt="rejected", task=task,
                                      name=name, team=team, kind=kind, meta=meta, status="failed",
                                      team_id=team_id)
        db.execute("update submissions set error = ? where id = ?", [reason, sid])
    return sid


def mark_failed(store: Store, submission_id: int, reason: str, platform: bool = False) -> None:
    """Like Store.set_status(.., 'failed'), but taking the write lock first: under concurrent
    writers a read-then-write transaction can fail at once with 'database is locked'.
    `platform`: the evaluator or the machine failed, not the model: not charged to the quota."""
    with immediate(store.db) as db:
        db.execute("update submissions set status = 'failed', error = ?, updated_at = ?, "
                   "charged = min(charged, ?) where id = ?",  # a follow-up (charged 0) stays uncharged
                   [reason, migrations.now(), 0 if platform else 1, submission_id])


def register_task(store: Store, task) -> None:
    """Store.register_task under the write lock: two processes registering the same new
    task version at once would otherwise race between its check and its insert."""
    with immediate(store.db):
        store.register_task(task)


def merge_meta(store: Store, submission_id: int, extra: dict) -> None:
    with immediate(store.db) as db:
        row = next(db.query("select meta from submissions where id = ?", [submission_id]))
        meta = json.loads(row["meta"] or "{}")
        meta.update(extra)
        db.execute("update submissions set meta = ? where id = ?", [json.dumps(meta), submission_id])


def save_log(store: Store, submission_id: int, text: str) -> None:
    """The child's output, kept for the operator; never part of a reason shown to users."""
    if not text:
        return
    with immediate(store.db):
        store.db["submission_logs"].upsert({"submission_id": submission_id, "log": text[-LOG_LIMIT:],
                                            "created_at": migrations.now()}, pk="submission_id")


def private_log(store: Store, submission_id: int) -> str | None:
    rows = list(store.db.query("select log from submission_logs where submission_id = ?", [submission_id]))
    return rows[0]["log"] if rows else None


# ------------------------------------------------------------------ queue

def _job(row: dict) -> Job:
    return Job(id=row["id"], submission_id=row["submission_id"], attempts=row["attempts"],
               max_attempts=row["max_attempts"], owner=row["owner"], payload=json.loads(row["payload"] or "{}"))


def _requeue_or_fail(db, row: dict, retry_note: str, give_up: str) -> str:
    """Put an interrupted job back in the queue while it has attempts left, else fail it."""
    if row["attempts"] >= row["max_attempts"]:
        db.execute("update jobs set status = 'failed', error = ?, owner = null, finished_at = ? where id = ?",
                   [give_up, migrations.now(), row["id"]])
        # a lost worker is the platform's failure, not the model's: never charged to a quota
        db.execute("update submissions set status = 'failed', error = ?, updated_at = ?, charged = 0 where id = ?",
                   [give_up, migrations.now(), row["submission_id"]])
        return "failed"
    db.execute("update jobs set status = 'queued', owner = null, error = ? where id = ?", [retry_note, row["id"]])
    db.execute("update submissions set status = 'queued', updated_at = ? where id = ?",
               [migrations.now(), row["submission_id"]])
    return "queued"


def _expire_leases(db, now: float) -> None:
    stale = list(db.query("select * from jobs where status = 'running' and lease_expires < ?", [now]))
    for row in stale:
        _requeue_or_fail(
            db, row, f"lease expired during attempt {row['attempts']} (worker {row['owner']} stopped); retried",
            f"the evaluation was interrupted {row['attempts']} time(s): its worker stopped or hung "
            "and its lease expired; giving up (not counted against your quota; an operator can resubmit)")


def release(store: Store, job: Job, why: str) -> str:
    """The executor lost a running job (a Ray worker process or node died): queue it again while
    it has attempts left, else fail it with the reason. Returns 'queued', 'failed', or 'lost'
    when the job is no longer ours (nothing is written then)."""
    with immediate(store.db) as db:
        if not _owned(db, job):
            return "lost"
        row = dict(next(db.query("select * from jobs where id = ?", [job.id])))
        return _requeue_or_fail(
            db, row, f"attempt {job.attempts} was lost ({why}); retried",
            f"the evaluation was interrupted {job.attempts} time(s), last: {why}; giving up "
            "(an operator can resubmit)")


def claim(store: Store, owner: str, lease_seconds: float, job_id: int | None = None) -> Job | None:
    """Take the oldest queued job (or job `job_id`, if it is queued) after recycling expired
    leases; None when there is none."""
    now = time.time()
    with immediate(store.db) as db:
        _expire_leases(db, now)
        only = " and id = ?" if job_id is not None else ""
        rows = list(db.query(f"select * from jobs where status = 'queued'{only} order by id limit 1",
                             [job_id] if job_id is not None else []))
        if not rows:
            return None
        row = rows[0]
        db.execute("update jobs set status = 'running', owner = ?, attempts = attempts + 1, lease_expires = ?, "
                   "heartbeat_at = ?, started_at = ? where id = ?",
                   [owner, now + lease_seconds, now, migrations.now(), row["id"]])
        db.execute("update submissions set status = 'running', updated_at = ? where id = ?",
                   [migrations.now(), row["submission_id"]])
    return _job(dict(row, owner=owner, attempts=row["attempts"] + 1))


def _owned(db, job: Job) -> bool:
    rows = list(db.query("select owner, attempts, status from jobs where id = ?", [job.id]))
    return bool(rows) and rows[0]["status"] == "running" and rows[0]["owner"] == job.owner \
        and rows[0]["attempts"] == job.attempts


def heartbeat(store: Store, job: Job, lease_seconds: float) -> bool:
    """Extend the lease; False when the job is no longer ours."""
    now = time.time()
    with immediate(store.db) as db:
        cur = db.execute("update jobs set lease_expires = ?, heartbeat_at = ? where id = ? and owner = ? "
                         "and attempts = ? and status = 'running'",
                         [now + lease_seconds, now, job.id, job.owner, job.attempts])
        return cur.rowcount == 1


def complete(store: Store, job: Job, result: dict[str, Any], cases: Iterable[dict],
             val_predictions: dict[str, bytes] | None = None) -> int:
    """Write the result and mark the job done in one transaction, only if the job is still ours."""
    def mark_done(db):
        if not _owned(db, job):
            raise LeaseLost(f"job {job.id} is no longer owned by {job.owner}; its result is discarded")
        db.execute("update jobs set status = 'done', error = null, finished_at = ? where id = ?",
                   [migrations.now(), job.id])

    return store.write_result(job.submission_id, result, cases, also=mark_done, val_predictions=val_predictions)


def fail(store: Store, job: Job, reason: str, platform: bool = False) -> bool:
    """Mark the job and its submission failed; False (and nothing written) if it is no longer ours.
    `platform`: the failure is the evaluator's, not the model's: not charged to the quota."""
    with immediate(store.db) as db:
        if not _owned(db, job):
            return False
        db.execute("update jobs set status = 'failed', error = ?, finished_at = ? where id = ?",
                   [reason, migrations.now(), job.id])
        db.execute("update submissions set status = 'failed', error = ?, updated_at = ?, "
                   "charged = min(charged, ?) where id = ?",  # a follow-up (charged 0) stays uncharged
                   [reason, migrations.now(), 0 if platform else 1, job.submission_id])
    return True


def jobs(store, status: str | None = None) -> list[dict]:
    sql = "select * from jobs" + (" where status = ?" if status else "") + " order by id"
    return [dict(r) for r in store.db.query(sql, [status] if status else [])]


# ------------------------------------------------------------------ visibility

RECENT_JOBS = 20


def _seconds(start: str | None, end: str | None) -> float | None:
    import datetime as dt

    try:
        return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def queue_status(store, submission_id: int) -> dict | None:
    """State, attempts, queue position and an ETA (from the median duration of the last
    RECENT_JOBS finished jobs, one worker assumed) of one submission; None if unknown."""
    import statistics

    sub = store.submission(submission_id)
    if sub is None:
        return None
    out = {"submission_id": submission_id, "name": sub["name"], "team": sub["team"], "state": sub["status"],
           "error": sub.get("error"), "withdrawn": bool(sub.get("withdrawn_at")), "attempts": None,
           "max_attempts": None, "position": None, "eta_seconds": None, "typical_job_seconds": None,
           "workers_active": None}
    rows = list(store.db.query("select * from jobs where submission_id = ?", [submission_id]))
    if not rows:
        return out
    job = rows[0]
    out.update(attempts=job["attempts"], max_attempts=job["max_attempts"])
    recent = [d for d in (_seconds(r["started_at"], r["finished_at"]) for r in store.db.query(
        "select started_at, finished_at from jobs where status = 'done' order by id desc limit ?",
        [RECENT_JOBS])) if d is not None and d >= 0]
    typical = statistics.median(recent) if recent else None
    out["typical_job_seconds"] = typical
    # Nobody is known to run jobs unless some job's lease is live: then no ETA is promised.
    out["workers_active"] = next(store.db.query(
        "select count(distinct owner) n from jobs where status = 'running' and lease_expires > ?", [time.time()]))["n"]
    if not out["workers_active"]:
        typical = None
    if job["status"] == "queued":
        ahead = next(store.db.query("select count(*) n from jobs where status = 'queued' and id < ?", [job["id"]]))["n"]
        running = next(store.db.query("select count(*) n from jobs where status = 'running'"))["n"]
        out["position"] = ahead + 1
        if typical is not None:
            out["eta_seconds"] = typical * (ahead + 1 + (0.5 if running else 0))
    elif job["status"] == "running" and typical is not None:
        started = _seconds(job["started_at"], migrations.now())
        out["eta_seconds"] = max(0.0, typical - (started or 0.0))
    return out
