"""Cached loaders: the only way pages read the store and the task folders.

Every loader is keyed on the store path plus a fingerprint of its files
(mtime and size of the database and its WAL), so a result written by the
evaluator shows up on the next rerun without restarting the app: in WAL mode a
commit touches `<db>-wal`, not the main file.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from evaluator import tasks as tasks_mod
from evaluator.imageio import load_gray, load_label
from evaluator.ranking import rank_rows
from evaluator.store import ReadOnlyStore, default_db_path, queries, validity

from . import columns

Fingerprint = tuple


def db_path() -> Path:
    """The store the app reads: $SONOBENCH_DB (set by `sonobench app`) or the user default."""
    return default_db_path()


def fingerprint(path: Path) -> Fingerprint:
    parts = []
    for suffix in ("", "-wal"):
        try:
            s = Path(f"{path}{suffix}").stat()
            parts.append((s.st_mtime_ns, s.st_size))
        except FileNotFoundError:
            parts.append(None)
    return tuple(parts)


def _key() -> tuple[str, Fingerprint]:
    path = db_path()
    return str(path), fingerprint(path)


@contextlib.contextmanager
def _reader(path: str):
    store = ReadOnlyStore(path)
    try:
        yield store
    finally:
        store.close()


# ------------------------------------------------------------------ store

@st.cache_data(show_spinner=False, max_entries=64)
def _scored_tasks(path: str, fp: Fingerprint) -> list[dict]:
    with _reader(path) as store:
        return queries.scored_tasks(store)


def scored_tasks() -> list[dict]:
    return _scored_tasks(*_key())


@st.cache_data(show_spinner=False, max_entries=32)
def _ranked(path: str, fp: Fingerprint, task_id: str, version: int, metric: str, kind: str) -> pd.DataFrame:
    with _reader(path) as store:
        rows = queries.leaderboard_table_rows(store, task_id, version)
    if kind != "all":
        rows = [r for r in rows if r["kind"] == kind]
    rows, _ = validity.partition(rows)  # invalid rows are listed apart (invalid_rows), never ranked
    return pd.DataFrame(rank_rows(rows, metric)) if rows else pd.DataFrame()


@st.cache_data(show_spinner=False, max_entries=32)
def _invalid(path: str, fp: Fingerprint, task_id: str, version: int) -> list[dict]:
    with _reader(path) as store:
        return validity.partition(queries.leaderboard_table_rows(store, task_id, version))[1]


def invalid_rows(task_id: str, version: int) -> list[dict]:
    """Stored results of one task version whose values cannot be shown: id and the problem."""
    return _invalid(*_key(), task_id, version)


def ranked(task_id: str, version: int, metric: str, kind: str = "all") -> pd.DataFrame:
    """Leaderboard rows of one task version (all, or one kind), best first by `metric`,
    with a rank shared where 95% CIs overlap."""
    return _ranked(*_key(), task_id, version, metric, kind)


@st.cache_data(show_spinner=False, max_entries=32)
def _table(path: str, fp: Fingerprint, task_id: str, version: int, metric: str, kind: str):
    frame = _ranked(path, fp, task_id, version, metric, kind)
    return (frame, *columns.display_table(frame)) if not frame.empty else (frame, pd.DataFrame(), {})


def leaderboard_table(task_id: str, version: int, metric: str, kind: str = "all"):
    """(ranked rows, the formatted table, help text per column), cached: reruns skip the formatting."""
    return _table(*_key(), task_id, version, metric, kind)


@st.cache_data(show_spinner=False, max_entries=64)
def _choices(path: str, fp: Fingerprint, task_id: str, version: int) -> list[dict]:
    with _reader(path) as store:
        return queries.submission_choices(store, task_id, version)


def submission_choices(task_id: str, version: int) -> list[dict]:
    return _choices(*_key(), task_id, version)


@st.cache_data(show_spinner=False, max_entries=64)
def _detail(path: str, fp: Fingerprint, submission_id: int) -> dict:
    with _reader(path) as store:
        return {
            "submission": store.submission(submission_id),
            "result": store.result_for(submission_id),
            "cases": pd.DataFrame(queries.case_means(store, submission_id)),
            "class_cases": pd.DataFrame(queries.class_case_results(store, submission_id)),
            "val_predictions": store.val_predictions(submission_id),
        }


def submission_detail(submission_id: int) -> dict:
    """Submission row, result row and per-case tables (macro means, and per class)."""
    return _detail(*_key(), submission_id)


@st.cache_data(show_spinner=False, max_entries=64)
def _paired(path: str, fp: Fingerprint, a: int, b: int) -> list[dict]:
    with _reader(path) as store:
        return queries.paired_case_means(store, a, b)


def paired_cases(a: int, b: int) -> list[dict]:
    return _paired(*_key(), a, b)


@st.cache_data(show_spinner=False, max_entries=32)
def _baselines(path: str, fp: Fingerprint, task_id: str, version: int) -> list[dict]:
    with _reader(path) as store:
        return validity.partition(queries.baseline_rows(store, task_id, version))[0]


def baselines(task_id: str, version: int) -> list[dict]:
    return _baselines(*_key(), task_id, version)


def queue_status(submission_id: int) -> dict | None:
    """Not cached: state, attempts, queue position and ETA of one submission (see store.jobs)."""
    from evaluator.store.jobs import queue_status as _status

    path = db_path()
    if not path.is_file():
        return None
    with _reader(str(path)) as store:
        return _status(store, submission_id)


def submission_for_file(sha256: str, task_id: str) -> dict | None:
    """Not cached: the Submit page polls this while an evaluation runs."""
    path = db_path()
    if not path.is_file():
        return None
    with _reader(str(path)) as store:
        return queries.latest_submission_for_file(store, sha256, task_id)


@st.cache_data(show_spinner=False, max_entries=8)
def _audit(path: str, fp: Fingerprint) -> list[dict]:
    from evaluator.teams import audit_log

    with _reader(path) as store:
        return audit_log(store)


def audit_log() -> list[dict]:
    """The operator's audit log, newest first (empty for a store without one)."""
    path = db_path()
    return _audit(*_key()) if path.is_file() else []


# ------------------------------------------------------------------ task folders
# Keyed on the task search path, so a changed SONOBENCH_TASKS_PATH is never served stale.

def _paths() -> tuple[str, ...]:
    return tuple(str(p) for p in tasks_mod.task_search_path())


@st.cache_data(show_spinner=False, ttl=60)
def _task_summaries(paths: tuple[str, ...]) -> tuple[list[dict], list[str]]:
    return tasks_mod.summaries()


def task_summaries() -> tuple[list[dict], list[str]]:
    """Every task version on the search path (summary dicts) and the problems met reading them."""
    return _task_summaries(_paths())


@st.cache_resource(show_spinner=False, ttl=60)
def _task(ref: str, paths: tuple[str, ...]) -> tasks_mod.Task:
    return tasks_mod.get_task(ref)


def task(ref: str) -> tasks_mod.Task:
    """A loaded task (raises TaskNotFound when it is not on this machine)."""
    return _task(ref, _paths())


# The app shows pictures of training and validation cases only: test images stay
# unseen (and a private test set's labels may not even be on this machine).
SHOWABLE_SPLITS = ("train", "val")


@st.cache_data(show_spinner=False, max_entries=256)
def _case_arrays(ref: str, paths: tuple[str, ...], case_id: str, with_label: bool):
    t = _task(ref, paths)
    case = next(c for c in t.cases if c.id == case_id)
    if case.split not in SHOWABLE_SPLITS:
        raise PermissionError(f"case {case_id} is in the {case.split} split; the app never shows test cases")
    image = load_gray(t.image_path(case))
    label = load_label(t.label_path(case)) if with_label else None
    return image, label


def case_arrays(ref: str, case_id: str, with_label: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Image (and label) of one training or validation case."""
    return _case_arrays(ref, _paths(), case_id, with_label)
