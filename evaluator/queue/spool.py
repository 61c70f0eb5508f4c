"""Enqueue a submission: copy its files into the spool, then create the
submission row (status 'queued') and its job row in one transaction."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import AlreadyScored, StoreError
from ..settings import Settings
from ..store import Store
from ..store import jobs as store_jobs
from ..submission import Submission
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


def enqueue(store: Store, task: Task, sub: Submission, settings: Settings, *, kind: str = "submission",
            split: str = "test", labels_root=None, sandbox: dict | None = None,
            extra_meta: dict | None = None) -> Queued:
    """Queue `sub` for a worker. Raises AlreadyScored for a live duplicate, QuotaExceeded over the cap."""
    prior = store.find_scored(sub.sha256, task.id, task.version)
    if prior is not None:
        raise AlreadyScored(
            f"{sub.path.name} (SHA-256 {sub.sha256[:12]}…) was already submitted to {task.ref} as submission "
            f"#{prior['id']} ({prior['status']}); it is not scored twice.", submission_id=prior["id"])
    folder = _spool_files(store, sub)
    store_jobs.register_task(store, task)
    payload = {"task": task.ref, "split": split, "spool": str(folder), "model": sub.path.name,
               "architecture": sub.architecture, "output": sub.output.value, "name": sub.name, "team": sub.team,
               "labels_root": str(labels_root) if labels_root else None, "sandbox": sandbox or {}}
    meta = {"architecture": sub.architecture, "output": sub.output.value, "split": split, **sub.meta,
            **(extra_meta or {})}
    sid, jid = store_jobs.create_submission(
        store, settings, job_payload=payload, file_sha256=sub.sha256, filename=sub.path.name,
        fmt=sub.format.value, task=task, name=sub.name, team=sub.team, kind=kind, meta=meta, team_id=sub.team_id)
    return Queued(submission_id=sid, job_id=jid)
