"""Named, recorded schema migrations. Never edit one that has shipped: add a new one."""
from __future__ import annotations

import datetime as _dt
from typing import Callable

from ._sqlite_utils import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db["tasks"].create(
        {"id": str, "version": int, "digest": str, "title": str, "spec": str, "registered_at": str},
        pk=("id", "version"),
    )
    db["submissions"].create(
        {
            "id": int, "file_sha256": str, "filename": str, "format": str, "name": str, "team": str,
            "kind": str, "task_id": str, "task_version": int, "status": str, "error": str,
            "meta": str, "created_at": str, "updated_at": str,
        },
        pk="id",
    )
    # One live or finished submission per (file, task version); failed attempts may be retried.
    db.execute(
        "CREATE UNIQUE INDEX submissions_once ON submissions(file_sha256, task_id, task_version) "
        "WHERE status IN ('queued', 'running', 'done')"
    )
    db["submissions"].create_index(["task_id", "task_version", "status"])
    db["results"].create(
        {
            "id": int, "submission_id": int, "task_id": str, "task_version": int, "manifest_digest": str,
            "split": str, "n_cases": int, "n_failed_cases": int, "primary_metric": str,
            "dice_mean": float, "dice_std": float, "dice_ci_low": float, "dice_ci_high": float,
            "iou_mean": float, "iou_std": float, "iou_ci_low": float, "iou_ci_high": float,
            "hd95_mean": float, "hd95_std": float, "hd95_ci_low": float, "hd95_ci_high": float,
            "hd95_unit": str, "per_class": str, "params": int, "gflops": float, "complexity": str,
            "latency_ms": float, "peak_memory_mb": float, "hardware": str, "evaluator_version": str,
            "wall_s": float, "created_at": str,
        },
        pk="id",
        foreign_keys=[("submission_id", "submissions", "id")],
    )
    db.execute("CREATE UNIQUE INDEX results_one_per_submission ON results(submission_id)")
    db["results"].create_index(["task_id", "task_version"])
    db["case_results"].create(
        {
            "result_id": int, "case_id": str, "class_index": int, "dice": float, "iou": float,
            "hd95": float, "tp": int, "fp": int, "fn": int, "failed": int,
        },
        pk=("result_id", "case_id", "class_index"),
        foreign_keys=[("result_id", "results", "id")],
    )


@migration
def m002_jobs_quotas_visibility(db: sqlite_utils.Database) -> None:
    """The job queue (leases, heartbeats), private per-case results, private child logs."""
    db["jobs"].create(
        {
            "id": int, "submission_id": int, "status": str, "attempts": int, "max_attempts": int,
            "owner": str, "lease_expires": float, "heartbeat_at": float, "payload": str, "error": str,
            "created_at": str, "started_at": str, "finished_at": str,
        },
        pk="id",
        foreign_keys=[("submission_id", "submissions", "id")],
    )
    db.execute("CREATE UNIQUE INDEX jobs_one_per_submission ON jobs(submission_id)")
    db["jobs"].create_index(["status", "id"])
    # 1 = per-case rows of this result must never be shown (a private test split): aggregates only.
    db["results"].add_column("private_cases", int, not_null_default=0)
    db.execute(
        "CREATE VIEW case_results_public AS SELECT c.* FROM case_results c "
        "JOIN results r ON r.id = c.result_id WHERE r.private_cases = 0"
    )
    # What the model printed: for the operator only, never shown to the submitter.
    db["submission_logs"].create(
        {"submission_id": int, "log": str, "created_at": str}, pk="submission_id",
        foreign_keys=[("submission_id", "submissions", "id")],
    )
    db["submissions"].create_index(["team", "kind", "created_at"])


@migration
def m003_validation_previews(db: sqlite_utils.Database) -> None:
    # Predicted label maps of a few VALIDATION cases (PNG bytes) for qualitative overlays.
    # Test-split predictions are never stored.
    db["val_predictions"].create(
        {"submission_id": int, "case_id": str, "png": bytes},
        pk=("submission_id", "case_id"),
        foreign_keys=[("submission_id", "submissions", "id")],
    )


@migration
def m004_predictions_surface_detection(db: sqlite_utils.Database) -> None:
    """Stored test predictions (one PNG label map per case, at the case's native size) so that
    a new metric re-scores stored results without running any model; the surface metrics
    (NSD, ASSD) per case and as aggregates; image-level detection rates; re-scoring provenance.
    Rows scored before this migration keep NULL in the new columns (missing, never 0)."""
    db["predictions"].create(
        {"result_id": int, "case_id": str, "png": bytes},
        pk=("result_id", "case_id"),
        foreign_keys=[("result_id", "results", "id")],
    )
    for col in ("nsd", "assd"):
        db["case_results"].add_column(col, float)
    for m in ("nsd", "assd"):
        for k in ("mean", "std", "ci_low", "ci_high"):
            db["results"].add_column(f"{m}_{k}", float)
    for m in ("sensitivity", "specificity"):
        for k in ("", "_ci_low", "_ci_high"):
            db["results"].add_column(f"{m}{k}", float)
        db["results"].add_column(f"{m}_n", int)
    db["results"].add_column("nsd_tolerance", float)
    db["results"].add_column("rescored_at", str)
    db["results"].add_column("rescored_version", str)
    # case_results_public selects c.*: recreate it so the new columns show through the view
    db.execute("DROP VIEW IF EXISTS case_results_public")
    db.execute(
        "CREATE VIEW case_results_public AS SELECT c.* FROM case_results c "
        "JOIN results r ON r.id = c.result_id WHERE r.private_cases = 0"
    )


@migration
def m005_teams_audit(db: sqlite_utils.Database) -> None:
    """Hosted mode: teams with hashed tokens, the team a submission belongs to, whether a failure
    is charged to its quota, withdrawn/verified marks, and the append-only operator audit log."""
    db["teams"].create(
        {"id": int, "name": str, "token_salt": str, "token_hash": str, "kdf": str, "created_at": str,
         "rotated_at": str, "revoked_at": str, "disqualified_at": str},
        pk="id",
    )
    db.execute("CREATE UNIQUE INDEX teams_name ON teams(name)")
    db["submissions"].add_column("team_id", int)
    db["submissions"].add_column("charged", int, not_null_default=1)  # 0: a platform failure, not counted
    db["submissions"].add_column("withdrawn_at", str)
    db["submissions"].add_column("verified_at", str)
    db["submissions"].create_index(["team_id", "kind", "created_at"])
    db["audit_log"].create(
        {"id": int, "at": str, "actor": str, "action": str, "target": str, "reason": str, "detail": str},
        pk="id",
    )
    # Append-only: the log can be added to, never edited or deleted from.
    db.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
               "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")
    db.execute("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
               "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")


@migration
def m006_thin_structure_surface_metrics(db: sqlite_utils.Database) -> None:
    """The thin-structure surface metrics (bone-surface bands): surface precision, recall and F1
    at the task's surface tolerance, and the two one-sided mean distances, per case and as
    aggregates, plus the tolerance each result was scored at. Rows scored before this migration
    keep NULL in the new columns (missing until `sonobench rescore` fills them, never 0)."""
    new = ("surface_precision", "surface_recall", "surface_f1", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred")
    for col in new:
        db["case_results"].add_column(col, float)
    for m in new:
        for k in ("mean", "std", "ci_low", "ci_high"):
            db["results"].add_column(f"{m}_{k}", float)
    db["results"].add_column("surface_tolerance", float)
    # case_results_public selects c.*: recreate it so the new columns show through the view
    db.execute("DROP VIEW IF EXISTS case_results_public")
    db.execute(
        "CREATE VIEW case_results_public AS SELECT c.* FROM case_results c "
        "JOIN results r ON r.id = c.result_id WHERE r.private_cases = 0"
    )


@migration
def m007_hosted_team_duplicates_audit_chain(db: sqlite_utils.Database) -> None:
    """Hosted-mode audit: "already scored" is per team (another team's identical file is scored
    for the caller, never answered with that team's row), and the audit log becomes a chain:
    each entry carries the keyed hash of the previous entry and of itself (evaluator/audit.py;
    entries written before this migration have none and are reported as unprotected)."""
    db.execute("DROP INDEX IF EXISTS submissions_once")
    db.execute(
        "CREATE UNIQUE INDEX submissions_once_per_team ON submissions(file_sha256, task_id, task_version, "
        "ifnull(team_id, 0)) WHERE status IN ('queued', 'running', 'done')"
    )
    db["audit_log"].add_column("prev_hash", str)
    db["audit_log"].add_column("hash", str)


# Protective triggers, checked and re-created on every open (see `ensure_guards`): the audit log
# is append-only (no UPDATE, no DELETE, no INSERT OR REPLACE over an entry) and an entry must
# name the hash of the entry before it. REPLACE deletes the old row without firing DELETE
# triggers (recursive_triggers is off), so the BEFORE INSERT guard is what stops it.
GUARDS = {
    "audit_log_no_update": "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                           "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "audit_log_no_delete": "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
                           "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "audit_log_no_replace": "CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
                            "WHEN NEW.id IS NOT NULL AND NEW.id <= (SELECT ifnull(max(id), 0) FROM audit_log) "
                            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "audit_log_chained": "CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log "
                         "WHEN NEW.hash IS NULL OR NEW.prev_hash IS NOT ifnull((SELECT hash FROM audit_log "
                         "ORDER BY id DESC LIMIT 1), '') "
                         "BEGIN SELECT RAISE(ABORT, 'an audit entry must chain to the one before it'); END",
}


def _stale_guards(db: sqlite_utils.Database) -> list[str]:
    """The protective triggers that are missing or altered (none before the audit chain exists)."""
    if "audit_log" not in db.table_names() or "hash" not in db["audit_log"].columns_dict:
        return []
    have = {r[0]: r[1] for r in db.execute("select name, sql from sqlite_master where type = 'trigger' "
                                            "and tbl_name = 'audit_log'").fetchall()}
    return [name for name, sql in GUARDS.items() if have.get(name) != sql]


def ensure_guards(db: sqlite_utils.Database) -> list[str]:
    """Re-create any protective trigger that was dropped or altered; return the names restored."""
    stale = _stale_guards(db)
    for name in stale:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
        db.execute(GUARDS[name])
    return stale


@migration
def m008_sweep_reconstruction_metrics(db: sqlite_utils.Database) -> None:
    """The 3D reconstruction metrics of tracked sweeps (evaluator/sweeps): sweep accuracy (mean and
    95th percentile, mm), completeness and F-score as aggregates over a result's sweeps, and the
    tolerance τ they were scored at. NULL on a result whose task has no sweeps, and on rows scored
    before this migration."""
    for m in ("sweep_accuracy", "sweep_accuracy_p95", "sweep_completeness", "sweep_fscore"):
        for k in ("mean", "std", "ci_low", "ci_high"):
            db["results"].add_column(f"{m}_{k}", float)
    db["results"].add_column("sweep_tolerance", float)


@migration
def m009_method_metadata(db: sqlite_utils.Database) -> None:
    """Method metadata on submissions (evaluator/method.py): a short description, a paper and a
    code link, and the training data used (train-only | pretraining | external, with the
    pretraining set's name), one column each so a board can filter by training data. Rows stored
    before: a description kept in their meta moves to its column; reference and floor rows get
    the method they carry (train split only, code in this repository); any other row's training
    data stays NULL (not stated)."""
    import json

    from ..method import reference_method

    for col in ("description", "paper_url", "code_url", "training_data", "pretraining_set"):
        db["submissions"].add_column(col, str)
    db["submissions"].create_index(["task_id", "task_version", "training_data"])
    for row in list(db.query("select id, kind, meta from submissions")):
        try:
            meta = json.loads(row["meta"]) if row["meta"] else {}
        except ValueError:
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        method = reference_method(row["kind"], meta)
        fields = method.to_json() if method else {}
        if isinstance(meta.get("description"), str) and not method:
            fields["description"] = meta["description"][:1000]
        if fields:
            db["submissions"].update(row["id"], fields)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _pending(db: sqlite_utils.Database) -> list[tuple[str, Migration]]:
    if "_migrations" not in db.table_names():
        return list(MIGRATIONS)
    done = {r["name"] for r in db["_migrations"].rows}
    return [(n, fn) for n, fn in MIGRATIONS if n not in done]


def apply(db: sqlite_utils.Database) -> list[str]:
    """Apply pending migrations in order under the store's write lock, then restore the
    protective triggers; return the names applied. The lock is taken up front (BEGIN
    IMMEDIATE, waiting on busy_timeout), and what is pending is read again under it, so
    concurrent first opens of a new store wait for one another instead of failing with
    "database is locked" or applying a migration twice."""
    conn = db.conn
    if conn.in_transaction or (not _pending(db) and not _stale_guards(db)):
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "_migrations" not in db.table_names():
            db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
        applied = []
        for name, fn in _pending(db):
            with db.atomic():  # a savepoint: a failing migration undoes itself, and the rest with it
                fn(db)
                db["_migrations"].insert({"name": name, "applied_at": now()})
            applied.append(name)
        ensure_guards(db)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return applied
