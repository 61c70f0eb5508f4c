"""The results store: SQLite through sqlite-utils, WAL mode, named migrations.

`Store` is the writer used by the evaluator; `ReadOnlyStore` is what the
leaderboard app and read-only CLI commands use (opened with mode=ro, so they
cannot change anything even by mistake).
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterable

from sonobench.kernel import environment
from sonobench.kernel.errors import AlreadyScored, StoreError

from ..tasks import Task, user_data_dir
from . import migrations
from ._sqlite_utils import sqlite_utils

SUBMISSION_KINDS = ("baseline", "submission", "floor")  # floor: an input-independent no-skill model (baselines/floors.py)
STATUSES = ("queued", "running", "done", "failed")
LIVE_STATUSES = ("queued", "running", "done")  # a file with such a row is not scored again


def default_db_path() -> Path:
    env = environment.get("SONOBENCH_DB")
    return Path(env).expanduser() if env else user_data_dir() / "sonobench.db"


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database):
    """The one write-lock helper: a transaction that takes the write lock up front (BEGIN
    IMMEDIATE), so concurrent writers wait on busy_timeout instead of failing at lock upgrade
    or losing an update between a read and a write. Nested use joins the outer transaction."""
    conn = db.conn
    if conn.in_transaction:  # nested: the outer transaction already holds the lock
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _decode(row: dict | None, *json_cols: str) -> dict | None:
    if row is None:
        return None
    from .validity import decode_json

    row = dict(row)
    for c in json_cols:
        if isinstance(row.get(c), str):
            row[c] = decode_json(row[c])  # None when damaged: readers never crash on a stored row
    return row


def _already(file_sha256: str, task: Task, prior: dict | None, filename: str) -> AlreadyScored:
    pid = prior["id"] if prior else None
    return AlreadyScored(
        f"{filename} (SHA-256 {file_sha256[:12]}…) was already submitted to {task.ref} as submission "
        f"#{pid} ({prior['status'] if prior else 'unknown'}); it is not scored twice.", submission_id=pid)


def _split_method(kind: str, meta: dict | None) -> tuple[dict, dict]:
    """(meta without its 'method', the method columns): the submitter's method fields (checked by
    `submission.prepare`), or for a reference or floor row the method it carries."""
    from ..method import FIELDS, Method, reference_method

    meta = dict(meta or {})
    given = meta.pop("method", None)
    method = reference_method(kind, meta) or Method(**{k: v for k, v in (given or {}).items() if k in FIELDS})
    return meta, method.to_json()


class _Reader:
    """Read API shared by both store classes. No method here writes."""

    db: sqlite_utils.Database
    # Readers see per-case rows through the public view, which hides private test
    # splits (aggregates only); the operator's writable Store sees every row.
    case_table = "case_results_public"

    def tasks(self) -> list[dict]:
        return [_decode(r, "spec") for r in self.db.query("select * from tasks order by id, version")]

    def submission(self, submission_id: int) -> dict | None:
        rows = list(self.db.query("select * from submissions where id = ?", [submission_id]))
        return _decode(rows[0], "meta") if rows else None

    def submissions(self, task_id: str | None = None, status: str | None = None) -> list[dict]:
        where, args = [], []
        if task_id:
            where.append("task_id = ?"); args.append(task_id)
        if status:
            where.append("status = ?"); args.append(status)
        sql = "select * from submissions" + (" where " + " and ".join(where) if where else "") + " order by id"
        return [_decode(r, "meta") for r in self.db.query(sql, args)]

    def result_for(self, submission_id: int) -> dict | None:
        rows = list(self.db.query("select * from results where submission_id = ?", [submission_id]))
        return _decode(rows[0], "per_class", "complexity", "hardware") if rows else None

    def find_scored(self, file_sha256: str, task_id: str, task_version: int,
                    team_id: int | None = None) -> dict | None:
        """The finished (or in-flight) submission of this exact file on this task version by the
        same team (`team_id`; None = the rows without a team id: local use, baselines), if any.
        This is the store's one rule for "already scored": a queued, running or done row counts
        (the unique index `submissions_once_per_team` enforces the same); a failed one may be
        retried. Another team's row is never returned: its result is not the caller's."""
        rows = list(self.db.query(
            "select * from submissions where file_sha256 = ? and task_id = ? and task_version = ? "
            f"and ifnull(team_id, 0) = ? and status in ({','.join(repr(s) for s in LIVE_STATUSES)}) "
            "order by id limit 1",
            [file_sha256, task_id, task_version, team_id or 0],
        ))
        return _decode(rows[0], "meta") if rows else None

    def refuse_duplicate(self, file_sha256: str, task: Task, filename: str = "This file",
                         team_id: int | None = None) -> None:
        """Raise AlreadyScored (carrying the existing id) when `find_scored` has a row."""
        prior = self.find_scored(file_sha256, task.id, task.version, team_id)
        if prior is not None:
            raise _already(file_sha256, task, prior, filename)

    def leaderboard_rows(self, task_id: str, task_version: int | None = None) -> list[dict]:
        """One row per scored submission: result aggregates joined with submission identity."""
        if task_version is None:
            versions = [r["v"] for r in self.db.query(
                "select max(r.task_version) v from results r join submissions s on s.id = r.submission_id "
                "where r.task_id = ? and s.withdrawn_at is null", [task_id])]
            task_version = versions[0] if versions and versions[0] is not None else -1
        sql = (
            f"select r.*, s.name, s.team, s.kind, s.format, s.filename, s.file_sha256, s.meta, {self.method_columns_sql()}, "
            "s.created_at as submitted_at from results r join submissions s on s.id = r.submission_id "
            "where r.task_id = ? and r.task_version = ? and s.status = 'done' and s.withdrawn_at is null order by r.id"
        )
        return [_decode(r, "per_class", "complexity", "hardware", "meta")
                for r in self.db.query(sql, [task_id, task_version])]

    def method_columns_sql(self) -> str:
        """The method columns of `submissions s` for a select list (NULLs in a store that predates
        migration m009: a read-only reader never migrates)."""
        from ..method import FIELDS

        have = self.db["submissions"].columns_dict
        return ", ".join(f"s.{k}" if k in have else f"null as {k}" for k in FIELDS)

    def case_results(self, submission_id: int) -> list[dict]:
        sql = (f"select c.* from {self.case_table} c join results r on r.id = c.result_id "
               "where r.submission_id = ? order by c.case_id, c.class_index")
        return list(self.db.query(sql, [submission_id]))

    def val_predictions(self, submission_id: int) -> dict[str, bytes]:
        """case id -> PNG bytes of the predicted label map, for the few validation cases
        the evaluator kept for overlays (never test cases)."""
        if "val_predictions" not in self.db.table_names():  # a store older than migration m003
            return {}
        rows = self.db.query("select case_id, png from val_predictions where submission_id = ? order by case_id",
                             [submission_id])
        return {r["case_id"]: r["png"] for r in rows}

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("tasks", "submissions", "results", "case_results")}

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        self.db.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class ReadOnlyStore(_Reader):
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_db_path()
        if not self.path.is_file():
            raise StoreError(f"No results store at {self.path}. Score something first (`sonobench submit`) or pass --db.")
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)


class Store(_Reader):
    case_table = "case_results"

    def __init__(self, path: str | os.PathLike | None = None, memory: bool = False):
        if memory:
            self.path = None
            self.db = sqlite_utils.Database(memory=True)
        else:
            self.path = Path(path) if path else default_db_path()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self.db.enable_wal()
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA busy_timeout = 30000")
        migrations.apply(self.db)

    def register_task(self, task: Task) -> None:
        row = {"id": task.id, "version": task.version, "digest": task.digest, "title": task.title,
               "spec": json.dumps(task.summary()), "registered_at": migrations.now()}
        with self.immediate():
            existing = list(self.db.query("select digest from tasks where id = ? and version = ?",
                                          [task.id, task.version]))
            if existing and existing[0]["digest"] != task.digest:
                raise StoreError(
                    f"The store already holds {task.ref} with manifest digest {existing[0]['digest'][:12]}…, "
                    f"but the task on disk has {task.digest[:12]}…. A changed split must be a new task version."
                )
            if not existing:
                self.db["tasks"].insert(row)
            else:  # the spec outside the manifest (e.g. its declared board metrics) may have been edited
                self.db.execute("update tasks set spec = ?, title = ? where id = ? and version = ? and spec != ?",
                                [row["spec"], row["title"], task.id, task.version, row["spec"]])

    def create_submission(self, *, file_sha256: str, filename: str, fmt: str, task: Task, name: str,
                          team: str = "", kind: str = "submission", meta: dict | None = None,
                          status: str = "running", team_id: int | None = None) -> int:
        if kind not in SUBMISSION_KINDS:
            raise StoreError(f"kind must be one of {', '.join(SUBMISSION_KINDS)}, got {kind!r}")
        meta, method = _split_method(kind, meta)
        row = {"file_sha256": file_sha256, "filename": filename, "format": fmt, "name": name, "team": team,
               "kind": kind, "task_id": task.id, "task_version": task.version, "status": status, "error": None,
               "meta": json.dumps(meta), "created_at": migrations.now(), "updated_at": migrations.now(),
               "team_id": team_id, **method}
        try:
            with self.db.atomic():
                return self.db["submissions"].insert(row).last_pk
        except sqlite3.IntegrityError:
            raise _already(file_sha256, task, self.find_scored(file_sha256, task.id, task.version, team_id),
                           filename) from None

    def set_status(self, submission_id: int, status: str, error: str | None = None) -> None:
        if status not in STATUSES:
            raise StoreError(f"status must be one of {', '.join(STATUSES)}")
        with self.immediate():
            self.db["submissions"].update(submission_id, {"status": status, "error": error,
                                                          "updated_at": migrations.now()})

    def write_result(self, submission_id: int, result: dict[str, Any], cases: Iterable[dict],
                     also: Callable[[sqlite_utils.Database], None] | None = None,
                     val_predictions: dict[str, bytes] | None = None) -> int:
        """Result row + per-case rows + status 'done', in one transaction or not at all.
        `also` runs first inside the same transaction (the job queue checks its lease
        and marks its job done there); raising from it writes nothing."""
        result = dict(result, submission_id=submission_id, created_at=migrations.now())
        # a test prediction per case (PNG of the label map at native size), kept for re-scoring
        predictions = result.pop("test_predictions", None) or {}
        for col in ("per_class", "complexity", "hardware"):
            if not isinstance(result.get(col), (str, type(None))):
                result[col] = json.dumps(result[col])
        with self.immediate():
            if also is not None:
                also(self.db)
            rid = self.db["results"].insert(result).last_pk
            self.db["case_results"].insert_all(dict(c, result_id=rid) for c in cases)
            if predictions:
                self.db["predictions"].insert_all(
                    {"result_id": rid, "case_id": k, "png": v} for k, v in predictions.items())
            if val_predictions:
                self.db["val_predictions"].insert_all(
                    {"submission_id": submission_id, "case_id": k, "png": v} for k, v in val_predictions.items())
            self.db["submissions"].update(submission_id, {"status": "done", "error": None,
                                                          "updated_at": migrations.now()})
        return rid

    def immediate(self):
        """The store's write transaction (see `write_transaction`)."""
        return write_transaction(self.db)
