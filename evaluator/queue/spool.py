"""Enqueue a submission: copy its files into the spool, then create the
submission row (status 'queued') and its job row in one transaction. The job's
payload is the evaluation `Request` plus where its files are."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sonobench.kernel.errors import AlreadyScored, StoreError
from sonobench.kernel.settings import Settings

from ..evaluate import Request, start_submission
from ..sandbox.bounds import JobOptionRefused
from ..store import Store
from ..submission import Submission
from ..task_sets import follow_up, follow_up_sets
from ..tasks import Task


@dataclass(frozen=True)
class Queued:
    submission_id: int
    job_id: int


def spool_dir(store: Store) -> Path:
    if store.path is None:
        raise StoreError("The job queue needs a store on disk (pass --db or set SONOBENCH_DB), not an in-memory one.")
    return Path(store.path).resolve().parent / "spool"


def _spool_files(store: Store, sub: Submission) -> Path:
    """<spool>/<sha256>/ holding private copies of the model and its companions."""
    folder = spool_dir(store) / sub.sha256
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, mode=0o700)
    for f in sub.files:
        shutil.copyfile(f, tmp / f.name, follow_symlinks=False)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def enqueue(store: Store, task: Task, sub: Submission, settings: Settings, request: Request | None = None, *,
            kind: str = "submission", split: str = "test", labels_root=None,
            extra_meta: dict | None = None) -> Queued:
    """Queue `sub` for a worker, carrying `request` (every option that changes the scoring; the
    worker's own settings bound them, see sandbox/bounds.py). Raises AlreadyScored for a live
    duplicate, QuotaExceeded over the cap, JobOptionRefused for a labels folder (only the
    worker's `--labels-root` is used) or, in hosted mode, an option past the operator's
    settings; writes nothing then."""
    request = request or Request.for_task(task, split=split, kind=kind, extra_meta=extra_meta or {},
                                          labels_root=str(labels_root) if labels_root else None)
    if request.labels_root and request.follow_up_of is None:
        raise JobOptionRefused("A queued job never carries a labels folder (a worker would ignore it): start the "
                               "worker with `sonobench worker --labels-root DIR` instead. Nothing was stored.")
    store.refuse_duplicate(sub.sha256, task, sub.path.name, team_id=sub.team_id)  # before copying anything
    folder = _spool_files(store, sub)
    payload = {**request.to_payload(), "task": task.ref, "spool": str(folder), "model": sub.path.name,
               "architecture": sub.architecture, "output": sub.output.value, "name": sub.name, "team": sub.team}
    sid, jid = start_submission(store, task, sub, request, settings, job_payload=payload)
    return Queued(submission_id=sid, job_id=jid)


def enqueue_shifts(store, task: Task, sub, request, settings, parent_submission_id: int) -> list[int]:
    """Queue one follow-up job per shift set (for a worker); returns the job ids queued."""
    jobs = []
    for child in follow_up_sets(task, request):
        try:
            jobs.append(enqueue(store, child, sub, settings, follow_up(request, child, parent_submission_id)).job_id)
        except AlreadyScored:
            continue
    return jobs
