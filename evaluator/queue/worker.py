"""Workers: claim a job, evaluate it in the sandbox under a heartbeat, commit or fail it.

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


def process_job(store: Store, job: Job, settings: Settings, base_config: SandboxConfig,
                labels_root=None) -> JobReport:
    """Evaluate one claimed job and record its outcome (unless the lease was lost)."""
    p = job.payload
    log: list[str] = []
    with _Heartbeat(store.path, job, settings) as hb:
        def progress(i, n):
            if hb.lost.is_set():
                raise LeaseLost(f"job {job.id}: lease lost at case {i}/{n}; stopping")

        try:
            task = tasks_mod.get_task(p["task"])
            sub = prepare(Path(p["spool"]), {}, name=p.get("name"), team=p.get("team"),
                          architecture=p.get("architecture"), output=p.get("output"),
                          limits=FileLimits.from_settings(settings))
            row = store.submission(job.submission_id)
            if row and row["file_sha256"] != sub.sha256:
                raise SonoBenchError(f"the spooled files of job {job.id} changed since they were queued; resubmit")
            config = _sandbox_config(base_config, p)
            iso = plan_isolation(config, settings)
            store_jobs.merge_meta(store, job.submission_id, {**isolation_meta(iso), "job": job.id,
                                                              "attempt": job.attempts})
            split, labels = p.get("split", "test"), labels_root or p.get("labels_root")
            tasks_mod.verify_task(task, splits=(split,), labels_root=labels)
            result, rows, previews = run_model(task, sub, split=split, config=config, iso=iso, settings=settings,
                                               labels_root=labels, progress=progress, log_sink=log.append)
            store_jobs.complete(store, job, result, rows, val_predictions=previews)
            detail = f"Dice {result['dice_mean']:.4f}"
            status, platform = "done", False
        except LeaseLost as e:
            return JobReport(job.id, job.submission_id, "lost", str(e))
        except (SonoBenchError, OSError) as e:
            status, detail = "failed", str(e)
            platform = isinstance(e, OSError)  # the machine, not the model: not charged
        except Exception as e:  # a bug of ours: still a clear, recorded reason, not charged
            import traceback

            log.append(traceback.format_exc())
            status, detail, platform = "failed", (f"internal evaluator error ({type(e).__name__}); it is not "
                                                  "counted against your quota and the operator has the details"), True
        if status == "failed" and not store_jobs.fail(store, job, detail, platform=platform):
            return JobReport(job.id, job.submission_id, "lost", "lease lost before the failure was recorded")
    store_jobs.save_log(store, job.submission_id, "".join(log))
    return JobReport(job.id, job.submission_id, status, detail)


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
