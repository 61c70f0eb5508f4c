"""Submitted model files kept for the operator, so stored submissions can follow a new task
version (`sonobench admin follow-version TASK@N --to N+1`).

Every submission's files are copied, once per file set, to `<store dir>/models/<sha256>/`
(mode 0700, next to the store like the queue's spool: operator-only, never served by the app),
unless they exceed the cap (the operator's `max_model_mb`, the largest file a submission may
be anyway, times the `KEEP_FACTOR` of a model's companion files). The submission row's meta
says what was kept (`kept_model`: sha256, files, bytes) or why not (`kept_model_skipped`), and
the folder name is the combined SHA-256 the evaluator computed, checked again before reuse.

Following a version re-scores each kept model of version N, through the one pipeline, as a new
submission row on version N + 1 (same name, team, kind and architecture; meta `followed_from`
names the original row), charged to nobody. Every result row already records the task version
and manifest digest it was scored on, so rows always say which version they belong to.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from sonobench.kernel.errors import SonoBenchError

from .submission import MB, Submission, prepare

FOLDER = "models"


class KeptModelMissing(SonoBenchError):
    """A stored submission's model files were not kept (or changed since)."""


def models_dir(store) -> Path | None:
    """Where this store keeps model files; None for an in-memory store (nothing is kept)."""
    return None if store.path is None else Path(store.path).resolve().parent / FOLDER


def keep(store, sub: Submission, settings) -> dict:
    """Copy `sub`'s files to the store's model folder (once per file set); returns the meta
    block to record on the submission row."""
    base = models_dir(store)
    if base is None:  # a scratch store (reference reruns, tests): nothing outlives it
        return {}
    size = sum(f.stat().st_size for f in sub.files)
    cap = int(settings.max_model_mb * MB)
    if size > cap:
        return {"kept_model_skipped": f"{size / MB:.0f} MB is over the keep cap of {cap / MB:.0f} MB (max_model_mb)"}
    folder = base / sub.sha256
    if not folder.is_dir():
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = base / f".{sub.sha256}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o700)
        for f in sub.files:
            shutil.copyfile(f, tmp / f.name, follow_symlinks=False)
        os.replace(tmp, folder)
    return {"kept_model": {"sha256": sub.sha256, "model": sub.path.name, "files": [f.name for f in sub.files],
                           "bytes": size}}


def load_kept(store, row: dict, settings) -> Submission:
    """The kept files of submission `row`, checked against its recorded SHA-256."""
    from .submission import FileLimits

    kept = (row.get("meta") or {}).get("kept_model")
    base = models_dir(store)
    if not kept or base is None or not (base / kept["sha256"] / kept["model"]).is_file():
        why = (row.get("meta") or {}).get("kept_model_skipped") or "submitted before model files were kept"
        raise KeptModelMissing(f"submission #{row['id']}: its model file is not kept ({why})")
    folder = base / kept["sha256"]
    meta = row.get("meta") or {}
    target = folder if len(kept["files"]) > 1 else folder / kept["model"]
    sub = prepare(target, {}, name=row["name"], team=row["team"] or "", architecture=meta.get("architecture"),
                  output=meta.get("output"), limits=FileLimits.from_settings(settings))
    if sub.sha256 != row["file_sha256"]:
        raise KeptModelMissing(f"submission #{row['id']}: its kept files do not hash to the stored SHA-256")
    sub.team_id = row.get("team_id")
    return sub
