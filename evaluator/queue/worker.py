"""Workers: claim a job, evaluate it in the sandbox under a heartbeat, commit or fail it.

A job has two halves: `evaluate_job` (prepare, verify, sandboxed run, score: writes
nothing) and `commit_job` (one transaction that checks the lease). The local worker runs
both in one process; the Ray executor (evaluator/scaleout) runs the first on a node and
the second on the driver, the store's only writer.

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

from .. import tasks as tasks_mod
from ..errors import SonoBenchError
from ..evaluate import isolation_meta, plan_isolation, run_model
from ..sandbox import SandboxConfig
from ..settings import Settings
from ..store import Store
from ..store import jobs as store_jobs
from ..store.jobs import Job, LeaseLost
from ..submission import FileLimits, prepare

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
        self._store.db.conn.close()
        return False


def _sandbox_config(base: SandboxConfig, payload: dict) -> SandboxConfig:
    """The worker's config, with the few per-job options an operator may set at submit time."""
    opts = payload.get("sandbox") or {}
    cfg = dataclasses.replace(base, limits=dataclasses.replace(base.limits))
    cfg.allow_pickle = base.allow_pickle or bool(opts.get("allow_pickle"))
    if opts.get("wall_seconds"):
        cfg.limits.wall_seconds = float(opts["wall_seconds"])
    if opts.get("threads"):
        cfg.threads = int(opts["threads"])
    return cfg


@dataclass
class Evaluated:
    """What the compute part of a job produced: a scored result or a failure reason, plus the
    child's private log and the facts to merge into the submission's meta. Nothing is written yet."""

    status: str                      # done | failed
    detail: str = ""
    result: dict | None = None
    rows: list[dict] = field(default_factory=list)
    previews: dict[str, bytes] = field(default_factory=dict)
    log: str = ""
    meta: dict = field(default_factory=dict)


def evaluate_job(payload: dict, settings: Settings, base_config: SandboxConfig, *, spool: Path,
                 expected_sha256: str | None, task=None, labels_root=None, progress=None) -> Evaluated:
    """The compute part of a job, shared by the local worker and the Ray executor: check the
    spooled files, verify the split, run the model in the sandbox and score it. Writes nothing;
    LeaseLost from `progress` propagates (the caller owns the lease)."""
    log: list[str] = []
    meta: dict = {}
    try:
        task = task or tasks_mod.get_task(payload["task"])
        sub = prepare(spool, {}, name=payload.get("name"), team=payload.get("team"),
                      architecture=payload.get("architecture"), output=payload.get("output"),
                      limits=FileLimits.from_settings(settings))
        if expected_sha256 and expected_sha256 != sub.sha256:
            raise SonoBenchError("the spooled files of this job changed since they were queued; resubmit")
        config = _sandbox_config(base_config, payload)
        iso = plan_isolation(config, settings)
        meta = isolation_meta(iso)
        split = payload.get("split", "test")
        tasks_mod.verify_task(task, splits=(split,), labels_root=labels_root)
        result, rows, previews = run_model(task, sub, split=split, config=config, iso=iso, settings=settings,
                                           labels_root=labels_root, progress=progress, log_sink=log.append)
        return Evaluated("done", f"Dice {result['dice_mean']:.4f}", result, rows, previews, "".join(log), meta)
    except LeaseLost:
        raise
    except (SonoBenchError, OSError) as e:
        return Evaluated("failed", str(e), log="".join(log), meta=meta)
    except Exception as e:  # a bug of ours: still a clear, recorded reason
        return Evaluated("failed", f"internal evaluator error: {type(e).__name__}: {e}", log="".join(log), meta=meta)


def commit_job(store: Store, job: Job, ev: Evaluated) -> JobReport:
    """Record a job's outcome in the store: the result (or the failure) in one transaction that
    checks the lease; nothing is written when the job is no longer ours."""
    try:
        if ev.status == "done":
            store_jobs.complete(store, job, ev.result, ev.rows, val_predictions=ev.previews)
        elif not store_jobs.fail(store, job, ev.detail):
            return JobReport(job.id, job.submission_id, "lost", "lease lost before the failure was recorded")
    except LeaseLost as e:
        return JobReport(job.id, job.submission_id, "lost", str(e))
    store_jobs.merge_meta(store, job.submission_id, {**ev.meta, "job": job.id, "attempt": job.attempts})
    store_jobs.save_log(store, job.submission_id, ev.log)
    return JobReport(job.id, job.submission_id, ev.status, ev.detail)


def process_job(store: Store, job: Job, settings: Settings, base_config: SandboxConfig,
                labels_root=None) -> JobReport:
    """Evaluate one claimed job under a heartbeat and record its outcome (unless the lease was lost)."""
    p = job.payload
    with _Heartbeat(store.path, job, settings) as hb:
        def progress(i, n):
            if hb.lost.is_set():
                raise LeaseLost(f"job {job.id}: lease lost at case {i}/{n}; stopping")

        row = store.submission(job.submission_id)
        try:
            ev = evaluate_job(p, settings, base_config, spool=Path(p["spool"]),
                              expected_sha256=row["file_sha256"] if row else None,
                              labels_root=labels_root or p.get("labels_root"), progress=progress)
        except LeaseLost as e:
            return JobReport(job.id, job.submission_id, "lost", str(e))
        return commit_job(store, job, ev)


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
            store.db.conn.close()

    def run(self) -> list[JobReport]:
        threads = [threading.Thread(target=self._loop, args=(i,), name=f"worker-{i}")
                   for i in range(max(1, self.concurrency))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.reports
