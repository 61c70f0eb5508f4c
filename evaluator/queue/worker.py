"""Workers: claim a job, run it through the evaluation pipeline under a heartbeat.

The pipeline's two halves: `compute` (the sandboxed run and scoring, which writes
nothing) and `record` here (its commit, only while the job's lease is held). The
local worker runs both in one process; the Ray executor (evaluator/scaleout) runs
`compute` on a node and `record` on the driver, the store's only writer.

A worker is a process; `--concurrency N` runs N claim loops as threads, each
with its own store connection and its own sandboxed child (the heavy work is
in the child process, so threads suffice). A heartbeat thread per job extends
the lease; if the lease is lost, the evaluation stops at the next case and
writes nothing. SIGKILL of the worker takes its sandboxes with it (bwrap
--die-with-parent), and the job is retried by another worker once the lease
runs out (see evaluator/store/jobs.py).
"""
from __future__ import annotations

import dataclasses
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.settings import Settings

from .. import tasks as tasks_mod
from ..evaluate import Attempt, Request, commit, compute
from ..sandbox import SandboxConfig, bounds, watch
from ..store import Store
from ..store import jobs as store_jobs
from ..store.jobs import Job, LeaseLost
from ..submission import FileLimits, Submission, prepare
from ..summary import headline_text
from ..tasks import Task

Log = Callable[[str], None]


@dataclass
class JobReport:
    job_id: int
    submission_id: int
    status: str            # done | failed | lost
    detail: str = ""


class _Heartbeat:
    """Extends the lease every `interval` seconds on its own connection; notes when it is lost."""

    def __init__(self, store_path, job: Job, settings: Settings):
        self.job, self.settings = job, settings
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._store = Store(store_path)
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.id}", daemon=True)

    def _run(self):
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                if not store_jobs.heartbeat(self._store, self.job, self.settings.lease_seconds):
                    self.lost.set()
                    return
            except Exception:  # a busy database: try again at the next beat, the lease has slack
                continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._store.close()
        return False


def load_spooled(spool: Path, payload: dict, settings: Settings, expected_sha256: str | None) -> Submission:
    """A job's model files checked again (they must still be the ones that were queued)."""
    sub = prepare(Path(spool), {}, name=payload.get("name"), team=payload.get("team"),
                  architecture=payload.get("architecture"), output=payload.get("output"),
                  limits=FileLimits.from_settings(settings))
    if expected_sha256 and expected_sha256 != sub.sha256:
        raise SonoBenchError("the spooled files of this job changed since they were queued; resubmit")
    return sub


def _prepare(store: Store, job: Job, settings: Settings) -> tuple[Task, Submission, Request]:
    """The job's task, its spooled files checked again, and how to score them."""
    p = job.payload
    request = Request.from_payload(p)
    task = tasks_mod.get_task(request.task)
    row = store.submission(job.submission_id)
    return task, load_spooled(Path(p["spool"]), p, settings, row["file_sha256"] if row else None), request


def record(store: Store, job: Job, attempt: Attempt, settings: Settings | None = None) -> JobReport:
    """Commit a job's attempt (only while its lease is held) and report what happened. With
    `settings`, a stored test result queues the task's shift-set follow-ups after it."""
    if attempt.meta:
        store_jobs.merge_meta(store, job.submission_id, {**attempt.meta, "job": job.id, "attempt": job.attempts})
    try:
        if not commit(store, job.submission_id, attempt, job=job):
            return JobReport(job.id, job.submission_id, "lost", "lease lost before the failure was recorded")
    except LeaseLost as e:
        return JobReport(job.id, job.submission_id, "lost", str(e))
    if attempt.ok:
        try:  # a shift set that does not load must not undo the stored main result
            queued = queue_follow_ups(store, job, settings) if settings is not None else []
            more = f"; {len(queued)} shift-set job(s) queued" if queued else ""
        except (SonoBenchError, OSError) as e:
            more = f"; shift sets not queued: {e}"
        return JobReport(job.id, job.submission_id, "done", f"{headline_text(attempt.result)}{more}")
    return JobReport(job.id, job.submission_id, "failed", attempt.reason)


def queue_follow_ups(store: Store, job: Job, settings: Settings) -> list[int]:
    """The shift-set jobs of a finished test job (none for a follow-up itself)."""
    request = Request.from_payload(job.payload)
    if request.split != "test" or request.follow_up_of is not None:
        return []
    from .spool import enqueue_shifts

    task = tasks_mod.get_task(request.task)
    sub = load_spooled(Path(job.payload["spool"]), job.payload, settings, None)
    parent = store.submission(job.submission_id) or {}
    # the follow-ups belong to the parent's team: its quota never counts them, but a disqualify,
    # a withdraw and `teams list` must find them
    sub = dataclasses.replace(sub, team_id=parent.get("team_id"), team=parent.get("team") or sub.team)
    return enqueue_shifts(store, task, sub, request, settings, job.submission_id)


def process_job(store: Store, job: Job, settings: Settings, base_config: SandboxConfig,
                labels_root=None) -> JobReport:
    """Evaluate one claimed job through the pipeline and record its outcome (unless the
    lease was lost). The job runs under `base_config` (the operator's worker), narrowed by its
    own options where they narrow it (sandbox/bounds.py); labels come from `labels_root` only."""
    with _Heartbeat(store.path, job, settings) as hb:
        def progress(i, n):
            if hb.lost.is_set():
                raise LeaseLost(f"job {job.id}: lease lost at case {i}/{n}; stopping")

        try:
            task, sub, request = _prepare(store, job, settings)
        except (SonoBenchError, OSError) as e:
            return record(store, job, Attempt(error=e))
        # the operator's worker is the ceiling: a job's options only narrow it, its labels folder is never used
        dropped = bounds.widenings(request, base_config)
        request = bounds.bound(request, base_config)
        if labels_root:
            request = dataclasses.replace(request, labels_root=str(labels_root))
        try:
            attempt = compute(task, sub, request, settings, base_config=base_config, progress=progress)
        except LeaseLost as e:
            return JobReport(job.id, job.submission_id, "lost", str(e))
        if dropped:  # said on the row: the job ran under the worker's settings instead
            attempt.meta["options_not_applied"] = dropped
        return record(store, job, attempt, settings)


@dataclass
class Worker:
    """Claim loops over one store. `run()` returns the reports of the jobs it processed."""

    db_path: str
    settings: Settings
    config: SandboxConfig
    concurrency: int = 1
    once: bool = False            # stop when no job can be claimed
    max_jobs: int | None = None   # stop after this many jobs (across threads)
    poll_seconds: float = 2.0
    labels_root: str | None = None
    log: Log = print
    reports: list[JobReport] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._taken = 0
        self.stop = threading.Event()

    def _reserve(self) -> bool:
        with self._lock:
            if self.max_jobs is not None and self._taken >= self.max_jobs:
                return False
            self._taken += 1
            return True

    def _unreserve(self) -> None:
        with self._lock:
            self._taken -= 1

    def _loop(self, index: int) -> None:
        owner = f"{socket.gethostname()}:{os.getpid()}:{index}"
        store = Store(self.db_path)
        try:
            while not self.stop.is_set():
                if not self._reserve():
                    return
                job = store_jobs.claim(store, owner, self.settings.lease_seconds)
                if job is None:
                    self._unreserve()
                    if self.once:
                        return
                    self.stop.wait(self.poll_seconds)
                    continue
                self.log(f"job {job.id} (submission #{job.submission_id}, attempt {job.attempts}): running")
                report = process_job(store, job, self.settings, self.config, self.labels_root)
                with self._lock:
                    self.reports.append(report)
                self.log(f"job {job.id} (submission #{job.submission_id}): {report.status}"
                         f"{': ' + report.detail if report.detail else ''}")
        finally:
            store.close()

    def run(self) -> list[JobReport]:
        # sandboxes of a worker killed with SIGKILL left their folders (model copy, private log)
        removed = watch.clear_dead_sandboxes()
        if removed:
            self.log(f"worker: removed {len(removed)} sandbox folder(s) left by a killed worker")
        threads = [threading.Thread(target=self._loop, args=(i,), name=f"worker-{i}")
                   for i in range(max(1, self.concurrency))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.reports
