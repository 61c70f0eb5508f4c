"""Cached loaders: the only way pages read the store and the task folders.

Every loader is keyed on the store path plus a fingerprint of its files
(mtime and size of the database and its WAL), so a result written by the
evaluator shows up on the next rerun without restarting the app: in WAL mode a
commit touches `<db>-wal`, not the main file.
"""
from __future__ import annotations

import contextlib
import hashlib
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from sonobench.evaluator import board_columns, board_filter, floors
from sonobench.evaluator import tasks as tasks_mod
from sonobench.evaluator.metrics.defaults import DEFAULT_PRIMARY_METRIC  # the pages' fallback
from sonobench.evaluator.ranking import Scheme, mean_difference_ci, orient, pairwise_pvalues, significance_matrix
from sonobench.evaluator.ranking.board import DEFAULT_SPLIT, rows_of_split, split_views
from sonobench.evaluator.ranking.cache import cached_rank
from sonobench.evaluator.ranking.compare import compare_results
from sonobench.evaluator.ranking.overlap import order_by_mean
from sonobench.evaluator.store import ReadOnlyStore, default_db_path, queries, validity
from sonobench.kernel.imageio import load_gray, load_label

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


def main_tasks() -> list[dict]:
    """The scored task versions that are tasks in their own right (not shift sets or variants)."""
    return queries.main_tasks(scored_tasks())


def ranking_settings() -> tuple[float, int]:
    """(alpha, top N) of the paired ranking, from the operator's settings (`sonobench settings`)."""
    from sonobench.kernel.settings import load_settings

    s = load_settings()
    return float(s.ranking_alpha), int(s.ranking_top_n)


class _VersionRows(NamedTuple):
    """One task version's stored rows as read once per store state. Shared, never mutated:
    readers copy."""

    valid: tuple[dict, ...]     # rows that can be ranked and shown
    invalid: tuple[dict, ...]   # invalid rows with their problems
    splits: tuple[str, ...]     # the splits with results, test first


@st.cache_resource(show_spinner=False, max_entries=8)
def _version(path: str, fp: Fingerprint, task_id: str, version: int) -> _VersionRows:
    # One query and one validity pass per store state serve the board, the split picker and the
    # invalid-row notice of a page view (a 10,000-row version costs ~0.2 s to read). A resource,
    # not data: nothing is pickled here; the loaders below hand out filtered copies.
    with _reader(path) as store:
        rows = queries.leaderboard_table_rows(store, task_id, version)
    good, bad = validity.partition(rows)  # invalid rows are listed apart (invalid_rows), never ranked
    return _VersionRows(tuple(good), tuple(bad), tuple(split_views(rows)))


@st.cache_resource(show_spinner=False, max_entries=16)
def _rows(path: str, fp: Fingerprint, task_id: str, version: int, kind: str, split: str,
          trained_on: str = "") -> tuple[list[dict], str]:
    """The valid rows of one task version and split (a board holds one split), of one kind and
    training data (`trained_on`: evaluator.board_filter; floors stay), and a digest of their
    content. Shared (a resource: 10,000 rows are not pickled on every read): never mutated."""
    rows = rows_of_split(list(_version(path, fp, task_id, version).valid), split)
    if kind != "all":
        rows = [r for r in rows if r["kind"] == kind]
    rows = board_filter.by_training_data(rows, board_filter.parse_training_data(trained_on))
    return rows, hashlib.sha256(pickle.dumps(rows, protocol=4)).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=16)
def _ranking(path: str, digest: str, task_id: str, version: int, metric: str, kind: str, scheme: str,
             alpha: float, top_n: int, split: str, _rows: list[dict]) -> tuple[pd.DataFrame, dict]:
    # A ranking is a pure function of the stored result rows and these settings, and a stored
    # result never changes once written (re-scoring only fills missing metrics, which changes
    # its row). So the pairwise tests and the 1,000 bootstrap rerankings are keyed on a digest of
    # this task version's rows, not on the store's fingerprint: a write elsewhere in the store
    # (a queued job, another task's result) does not redo them. `_rows` is not hashed by Streamlit.
    # A resource, shared by every session and never mutated by a page: a 10,000-row frame is not
    # pickled on each write and read of the cache.
    if not _rows:
        return pd.DataFrame(), {}
    with _reader(path) as store:
        ranked = cached_rank(store, _rows, metric, scheme, alpha=alpha, top_n=top_n, split=split)
        marked = floors.annotate(store, ranked.rows, metric, alpha)  # references not above the best floor
    info = {"scheme": ranked.scheme.value, "definition": ranked.definition, "alpha": alpha, "top_n": top_n,
            "n_cases": ranked.n_cases, "tested": list(ranked.tested), "kendall_tau": ranked.kendall_tau,
            "kendall_tau_ci": ranked.kendall_tau_ci, "resamples": ranked.resamples,
            "bootstrap_ranks": ranked.bootstrap_ranks, "split": split, "clustered": ranked.clustered}
    return columns.rows_frame(marked), info


def _board(path: str, fp: Fingerprint, task_id: str, version: int, metric: str, kind: str, scheme: str,
           alpha: float, top_n: int, split: str = DEFAULT_SPLIT, trained_on: str = "") -> tuple[pd.DataFrame, dict]:
    rows, digest = _rows(path, fp, task_id, version, kind, split, trained_on)
    return _ranking(path, digest, task_id, version, metric, kind, scheme, alpha, top_n, split, rows)


def board(task_id: str, version: int, metric: str, kind: str = "all", scheme: str = Scheme.PAIRED.value,
          split: str = DEFAULT_SPLIT):
    """(ranked rows best first, ranking info: definition, Kendall's tau, bootstrap ranks of the tested rows)."""
    alpha, top_n = ranking_settings()
    return _board(*_key(), task_id, version, metric, kind, Scheme.parse(scheme).value, alpha, top_n, split)


def splits(task_id: str, version: int) -> list[str]:
    """The splits this task version has results on, test first: each is a board of its own."""
    return list(_version(*_key(), task_id, version).splits)


def invalid_rows(task_id: str, version: int) -> list[dict]:
    """Stored results of one task version whose values cannot be shown: id and the problem."""
    return [dict(r) for r in _version(*_key(), task_id, version).invalid]


def ranked(task_id: str, version: int, metric: str, kind: str = "all") -> pd.DataFrame:
    """Leaderboard rows of one task version (all, or one kind), best first by `metric`, ranked
    by the default (paired) scheme."""
    return board(task_id, version, metric, kind)[0]


PAGE_ROWS = 100  # table rows formatted and sent per page view; longer boards page


@st.cache_data(show_spinner=False, max_entries=64)
def _page(path: str, digest: str, metric: str, scheme: str, spec: dict, page: int, _frame: pd.DataFrame):
    metrics = columns.board_metrics(_frame, spec, metric)
    start = (page - 1) * PAGE_ROWS  # only the shown page is formatted: a 10,000-row board stays fast
    return (*columns.display_table(_frame.iloc[start:start + PAGE_ROWS], scheme, metrics), metrics)


def leaderboard_table(task_id: str, version: int, metric: str, kind: str = "all", scheme: str = "paired",
                      split: str = DEFAULT_SPLIT, page: int = 1, trained_on: str = ""):
    """(ranked rows, ranking info, the formatted table of page `page` (PAGE_ROWS rows a page, best
    first), help text per column, the metrics shown: the task's declared ones some row has,
    `metric` first), cached: reruns skip the ranking and the formatting. `trained_on`:
    comma-separated training-data values to keep (evaluator.board_filter; floors stay), '' for
    every row."""
    alpha, top_n = ranking_settings()
    path, fp = _key()
    scheme = Scheme.parse(scheme).value
    rows, digest = _rows(path, fp, task_id, version, kind, split, trained_on)
    frame, info = _ranking(path, digest, task_id, version, metric, kind, scheme, alpha, top_n, split, rows)
    if frame.empty:
        return frame, info, pd.DataFrame(), {}, [metric]
    return (frame, info, *_page(path, f"{digest}:{alpha}:{top_n}:{kind}:{split}", metric, scheme,
                                task_spec(task_id, version), page, frame))


def pages(n_rows: int) -> int:
    """How many table pages a board of `n_rows` rows has."""
    return max(1, -(-n_rows // PAGE_ROWS))


@st.cache_data(show_spinner=False, max_entries=64, ttl=60)
def _task_spec(path: str, fp: Fingerprint, paths: tuple[str, ...], task_id: str, version: int) -> dict:
    stored = {}
    if Path(path).is_file():
        with _reader(path) as store:
            stored = queries.task_spec(store, task_id, version)
    return board_columns.task_spec(task_id, version, stored)


def task_spec(task_id: str, version: int) -> dict:
    """The task's summary: from its folder on this machine (the current task.json), else as the
    store recorded it. Its "primary_metric" and "metrics" decide what the pages show."""
    return _task_spec(*_key(), _paths(), task_id, version)


def primary_metric(task_id: str, version: int) -> str:
    """The metric the task ranks by (task.json "primary_metric", checked against the registry)."""
    return board_columns.task_metrics(task_spec(task_id, version))[0]


def task_metrics(task_id: str, version: int) -> tuple[str, ...]:
    """The metrics the task declares for its board, primary first."""
    return board_columns.task_metrics(task_spec(task_id, version))


@st.cache_data(show_spinner=False, max_entries=32)
def _significance(path: str, fp: Fingerprint, task_id: str, version: int, metric: str, top_n: int,
                  alpha: float) -> dict:
    split = DEFAULT_SPLIT  # only results on the same cases compare: the test board
    rows = [r for r in order_by_mean(rows_of_split(list(_version(path, fp, task_id, version).valid), split), metric)
            if r.get(f"{metric}_mean") is not None]
    if not rows:
        return {"rows": [], "n_cases": 0}
    rows = rows[:top_n]
    with _reader(path) as store:
        values = queries.case_values(store, [r["submission_id"] for r in rows], metric)
    cases = sorted(set.intersection(*(set(values[r["submission_id"]]) for r in rows)))
    raw = np.array([[values[r["submission_id"]][c] for c in cases] for r in rows]).reshape(len(rows), len(cases))
    m = len(rows)
    out = {"rows": rows, "split": split, "n_cases": len(cases), "alpha": alpha,
           "sign": np.zeros((m, m), int), "p": np.ones((m, m)), "diff": np.zeros((m, m)),
           "low": np.zeros((m, m)), "high": np.zeros((m, m))}
    if len(cases) < 2 or m < 2:
        return out
    better = orient(raw, metric)
    out["sign"] = significance_matrix(better, alpha)
    out["p"] = pairwise_pvalues(better)
    for i in range(m):
        for j in range(i + 1, m):
            d = mean_difference_ci(raw[i], raw[j])  # in the metric's own units: row minus column
            out["diff"][i, j], out["low"][i, j], out["high"][i, j] = d.mean, d.ci_low, d.ci_high
            out["diff"][j, i], out["low"][j, i], out["high"][j, i] = -d.mean, -d.ci_high, -d.ci_low
    return out


def significance(task_id: str, version: int, metric: str, top_n: int = 10) -> dict:
    """The pairwise outcomes of the top `top_n` results by mean: `sign[i, j]` = +1 when row i is
    significantly better than column j (Holm, as the paired ranking), -1 worse, 0 not separable;
    `p[i, j]` the one-sided p-value of "i better than j"; the paired mean difference i − j with
    its 95% bootstrap CI (10,000 resamples, seed 0)."""
    alpha, _ = ranking_settings()
    return _significance(*_key(), task_id, version, metric, int(top_n), alpha)


@st.cache_data(show_spinner=False, max_entries=64)
def _compare(path: str, fp: Fingerprint, a: int, b: int, metric: str, alpha: float) -> dict:
    with _reader(path) as store:
        return compare_results(store, a, b, metric, alpha=alpha)


def compare(a: int, b: int, metric: str) -> dict:
    """The library's one-pair comparison (`sonobench compare A B`): both one-sided p-values, the
    mean difference A − B with its bootstrap CI and the verdict. Raises NotComparable."""
    alpha, _ = ranking_settings()
    return _compare(*_key(), a, b, metric, alpha)


@st.cache_data(show_spinner=False, max_entries=8)
def _consensus(path: str, fp: Fingerprint, alpha: float, top_n: int) -> list[dict]:
    from sonobench.evaluator.ranking import consensus as consensus_mod

    with _reader(path) as store:
        return consensus_mod.overall(store, Scheme.PAIRED, alpha=alpha, top_n=top_n)


def consensus() -> tuple[list[dict], str]:
    """(rows of the overall view: models scored on more than one task, by mean per-task rank, with
    the tasks each lacks; a reason when there is nothing to show)."""
    alpha, top_n = ranking_settings()
    rows = _consensus(*_key(), alpha, top_n)
    if not any(r["n_tasks"] > 1 for r in rows):
        return [], "No model is scored on more than one task yet, so there is no overall ranking."
    return rows, ""


@st.cache_data(show_spinner=False, max_entries=32)
def _power(path: str, fp: Fingerprint, task_id: str, version: int, alpha: float) -> dict | None:
    from sonobench.evaluator.ranking import power as power_mod

    with _reader(path) as store:
        return power_mod.detectable_difference(store, task_id, version, alpha=alpha)


def power(task_id: str, version: int) -> dict | None:
    """The smallest difference in mean primary metric the paired test detects 80% of the time at
    the task's size (from resampling its reference results), or None without 2 references."""
    path = db_path()
    if not path.is_file():
        return None
    alpha, _ = ranking_settings()
    return _power(*_key(), task_id, version, alpha)


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
        rows = validity.partition(queries.baseline_rows(store, task_id, version))[0]
    board = rows_of_split(list(_version(path, fp, task_id, version).valid), DEFAULT_SPLIT)
    metric = board[0]["primary_metric"] if board else DEFAULT_PRIMARY_METRIC
    with _reader(path) as store:
        marks = floors.floor_marks(store, board, metric, ranking_settings()[0]) if board else {}
    return [{**r, floors.MARK: marks.get(r["submission_id"])} for r in rows]  # not above the best floor


def baselines(task_id: str, version: int) -> list[dict]:
    return _baselines(*_key(), task_id, version)


def queue_status(submission_id: int) -> dict | None:
    """Not cached: state, attempts, queue position and ETA of one submission (see store.jobs)."""
    from sonobench.evaluator.store.jobs import queue_status as _status

    path = db_path()
    if not path.is_file():
        return None
    with _reader(str(path)) as store:
        return _status(store, submission_id)


@st.cache_data(show_spinner=False, max_entries=8)
def _audit(path: str, fp: Fingerprint) -> list[dict]:
    from sonobench.evaluator.teams import audit_log

    with _reader(path) as store:
        return audit_log(store)


def audit_log() -> list[dict]:
    """The operator's audit log, newest first (empty for a store without one)."""
    path = db_path()
    return _audit(*_key()) if path.is_file() else []


@st.cache_data(show_spinner=False, max_entries=32)
def _strata(path: str, fp: Fingerprint, paths: tuple[str, ...], submission_id: int) -> dict:
    from sonobench.evaluator.strata import submission_strata

    with _reader(path) as store:
        return submission_strata(store, submission_id)


def strata(submission_id: int) -> dict:
    """The result's metrics by case strata (evaluator/strata.py); raises StrataUnavailable."""
    return _strata(*_key(), _paths(), submission_id)


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


# ------------------------------------------------------------------ cross-dataset matrix

@st.cache_data(show_spinner=False, max_entries=16)
def _crosseval(path: str, fp: Fingerprint, family: str, paths: tuple[str, ...]) -> dict:
    from sonobench.evaluator.crosseval import family_matrix

    with _reader(path) as store:
        return family_matrix(store, family)


def crosseval(family: str) -> dict:
    """The family's cross-dataset matrix (evaluator.crosseval.family_matrix) from the store."""
    return _crosseval(*_key(), family, _paths())


def families() -> list[str]:
    """Families declared by the tasks on this machine (task.json 'family')."""
    return sorted({s["family"] for s in task_summaries()[0] if s.get("family")})
# ------------------------------------------------------------------ robustness

@st.cache_data(show_spinner=False, max_entries=32)
def _robustness(path: str, fp: Fingerprint, task_ref: str, kind: str) -> dict:
    from sonobench.evaluator import robustness
    from sonobench.evaluator.tasks import get_task

    task = get_task(task_ref)
    with _reader(path) as store:
        sets = robustness.conditions_of(store, task)
        conditions, rows = robustness.robustness_rows(store, task, kind, sets)
    return {"task": task.ref, "metric": task.primary_metric, "conditions": conditions,
            "descriptions": {s.condition["name"]: s.condition.get("description", "") for s in sets},
            "sets": {s.condition["name"]: s.ref for s in sets}, "rows": [r.to_json() for r in rows]}


def robustness(task_id: str, version: int, kind: str = "all") -> dict:
    """Per model: primary metric under each acquisition-shift condition, the paired drop, and
    the robustness number (evaluator.robustness); `conditions` is empty without shift sets."""
    return _robustness(*_key(), f"{task_id}@{version}", kind)
