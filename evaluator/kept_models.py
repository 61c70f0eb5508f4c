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
from dataclasses import dataclass, field
from pathlib import Path

from sonobench.kernel.errors import AlreadyScored, SonoBenchError

from .method import method_of
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
    from .evaluate import Request, evaluate
    from .robustness import score_shifts

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
