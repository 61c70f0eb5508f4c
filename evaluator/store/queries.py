"""Read-only queries the leaderboard app needs beyond `ReadOnlyStore`'s own.

Withdrawn results (`sonobench admin withdraw`) are left out of every query here.

Each function takes a store (anything with the `_Reader` API; the app passes a
`ReadOnlyStore`) and only runs SELECTs, so the app never holds SQL itself.
"""
from __future__ import annotations

import json
from typing import Any

from ..metrics import always_stored_metrics, per_case_metrics, summary_columns, tolerance_columns
from .db import _Reader

# A class is present in a case when its reference has it (tp + fn > 0); its values apply only then.
_PRESENT = "(c.tp + c.fn > 0)"


def _case_macro(m: str) -> str:
    """SQL for one case's macro value of metric `m`: the mean over the classes present in its
    reference; NULL when it has none (not applicable) or when a present class lacks the value
    (missing: scored before the metric existed), never a mean over part of the classes."""
    return (f"case when sum({_PRESENT} and c.{m} is null) > 0 then null "
            f"else avg(case when {_PRESENT} then c.{m} end) end")


# Per case: the macro mean over the foreground classes its reference has (class 0 is background and
# never scored), the same reduction the evaluator's aggregates use, for every per-case metric of the
# registry; `applicable` = 1 when the reference has a foreground class, so a NULL value reads as
# 'missing' there and 'not applicable' where `applicable` = 0.
_CASE_MEANS = (
    "select c.case_id, " + "".join(f"{_case_macro(m)} as {m}, " for m in per_case_metrics()) +
    f"max({_PRESENT}) as applicable, "
    "sum(c.tp) as tp, sum(c.fp) as fp, sum(c.fn) as fn, max(c.failed) as failed "
    "from {table} c join results r on r.id = c.result_id "
    "where r.submission_id = ? and c.class_index > 0 group by c.case_id order by c.case_id"
)


def scored_tasks(store: _Reader) -> list[dict]:
    """Task versions that have at least one finished result, with the title and spec recorded when
    the task was registered: each task's newest scored version before any older one (a superseded
    version keeps its rows but is not what a reader opens on), then the most contested first,
    then by id."""
    sql = (
        "select r.task_id, r.task_version, count(*) as n_results, t.title, t.spec "
        "from results r join submissions s on s.id = r.submission_id "
        "left join tasks t on t.id = r.task_id and t.version = r.task_version "
        "where s.status = 'done' and s.withdrawn_at is null group by r.task_id, r.task_version "
        "order by n_results desc, r.task_id, r.task_version desc"
    )
    out = []
    for row in store.db.query(sql):
        row = dict(row)
        row["spec"] = json.loads(row["spec"]) if row.get("spec") else {}
        out.append(row)
    newest = {}
    for row in out:
        newest[row["task_id"]] = max(newest.get(row["task_id"], row["task_version"]), row["task_version"])
    return sorted(out, key=lambda r: (r["task_version"] != newest[r["task_id"]], -r["n_results"], r["task_id"],
                                      -r["task_version"]))


_BASE_COLUMNS = ["r.submission_id", "r.task_id", "r.task_version", "r.split", "r.n_cases", "r.n_failed_cases",
                 "r.primary_metric", "r.hd95_unit", "r.params", "r.gflops", "r.latency_ms", "r.peak_memory_mb",
                 "r.manifest_digest", "r.created_at", "s.name", "s.team", "s.kind", "s.format"]
_REQUIRED_COLUMNS = summary_columns(always_stored_metrics())  # kept even when NULL: validity checks them
_OPTIONAL_COLUMNS = [c for c in (*summary_columns(), *tolerance_columns()) if c not in _REQUIRED_COLUMNS]
_BOARD = ("from results r join submissions s on s.id = r.submission_id "
          "where r.task_id = ? and r.task_version = ? and s.status = 'done' and s.withdrawn_at is null")


def _columns_with_values(store: _Reader, task_id: str, task_version: int) -> list[str]:
    """The optional metric columns (and tolerances) that some row of this version has."""
    counts = list(store.db.execute(f"select {', '.join(f'count(r.{c})' for c in _OPTIONAL_COLUMNS)} {_BOARD}",
                                   [task_id, task_version]).fetchone())
    return [c for c, n in zip(_OPTIONAL_COLUMNS, counts) if n]


def leaderboard_table_rows(store: _Reader, task_id: str, task_version: int) -> list[dict]:
    """The scalar columns of `leaderboard_rows` (no JSON blobs to decode): what the leaderboard
    table, its CSV and the efficiency plot show, and the method metadata (the training-data
    filter). Same rows: finished submissions of one version. A metric no row of this version has
    is left out of every row (read a row's metric with `.get`): a board of 10,000 breast results
    reads ~30 columns, not every registered metric's."""
    cols = [*_BASE_COLUMNS, *(f"r.{c}" for c in _REQUIRED_COLUMNS),
            *(f"r.{c}" for c in _columns_with_values(store, task_id, task_version))]
    return [dict(r) for r in store.db.query(f"select {', '.join(cols)}, {store.method_columns_sql()} {_BOARD} "
                                            "order by r.id", [task_id, task_version])]


def submission_choices(store: _Reader, task_id: str, task_version: int) -> list[dict]:
    """A light list of scored submissions (for pickers): id, name, team, kind, split, n_cases,
    primary_metric (the one the result was ranked by) and primary_mean, that metric's mean
    (None when the result was scored before the metric existed)."""
    means = "".join(f"r.{m}_mean, " for m in per_case_metrics())
    sql = (
        f"select s.id, s.name, s.team, s.kind, r.primary_metric, {means}r.split, r.n_cases "
        "from results r join submissions s on s.id = r.submission_id "
        "where r.task_id = ? and r.task_version = ? and s.status = 'done' and s.withdrawn_at is null order by s.id"
    )
    out = []
    for row in store.db.query(sql, [task_id, task_version]):
        row = dict(row)
        means = {m: row.pop(f"{m}_mean") for m in per_case_metrics()}
        out.append({**row, "primary_mean": means.get(row["primary_metric"])})
    return out


def task_spec(store: _Reader, task_id: str, task_version: int) -> dict:
    """The task's summary as the store recorded it when the task was registered ({} if never)."""
    if "tasks" not in store.db.table_names():
        return {}
    rows = list(store.db.query("select spec from tasks where id = ? and version = ?", [task_id, task_version]))
    return _json_or_empty(rows[0]["spec"]) if rows else {}


def main_tasks(tasks: list[dict]) -> list[dict]:
    """The `scored_tasks` entries that are tasks in their own right: not an acquisition-shift set
    (a test-only child re-imaging its parent's phantoms) and not a corruption variant."""
    return [t for t in tasks if not (t.get("spec") or {}).get("parent") and not (t.get("spec") or {}).get("corruption")]


def case_means(store: _Reader, submission_id: int) -> list[dict]:
    """One row per case: each per-case metric averaged over the foreground classes its reference
    has (NULL: not applicable where `applicable` is 0, missing where it is 1), pixel counts summed."""
    return [dict(r) for r in store.db.query(_CASE_MEANS.format(table=store.case_table), [submission_id])]


def class_case_results(store: _Reader, submission_id: int) -> list[dict]:
    """Per case and foreground class (for multi-class detail views)."""
    return [r for r in store.case_results(submission_id) if r["class_index"] > 0]


def paired_case_means(store: _Reader, a: int, b: int) -> list[dict]:
    """Per-case means of two submissions on the applicable cases both were scored on (those whose
    reference has a foreground class: the others have no delineation value), keyed by case."""
    left = {r["case_id"]: r for r in case_means(store, a) if r["applicable"]}
    right = {r["case_id"]: r for r in case_means(store, b) if r["applicable"]}
    return [{"case_id": cid, "a": left[cid], "b": right[cid]} for cid in sorted(left.keys() & right.keys())]


def baseline_rows(store: _Reader, task_id: str, task_version: int) -> list[dict]:
    """Scored baselines of one task version with their meta (training history lives in meta['training'])."""
    sql = (
        "select s.id as submission_id, s.name, s.team, s.meta, r.primary_metric, "
        + "".join(f"r.{m}_mean, " for m in per_case_metrics())
        + "".join(f"r.{m}_ci_low, r.{m}_ci_high, " for m in per_case_metrics()) +
        "r.hd95_unit, r.split, r.params, r.gflops, r.complexity, s.format from results r join submissions s on s.id = r.submission_id "
        "where r.task_id = ? and r.task_version = ? and s.status = 'done' and s.withdrawn_at is null and s.kind = 'baseline' order by s.name, s.id"
    )
    out = []
    for row in store.db.query(sql, [task_id, task_version]):
        row = dict(row)
        row["meta"] = _json_or_empty(row.get("meta"))
        row["complexity"] = _json_or_empty(row.get("complexity"))  # counter details, both parameter counts
        out.append(row)
    return out


def _json_or_empty(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    try:
        decoded = json.loads(value) if value else {}
    except (TypeError, json.JSONDecodeError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def case_values(store: _Reader, submission_ids: list[int], metric: str) -> dict[int, dict[str, float]]:
    """{submission id: {case id: per-case value of `metric`}} (the mean over the foreground classes
    present in the case's reference), for the paired ranking, over the applicable cases only: a case
    whose reference has no foreground class has no value (the same cases for every model of a task
    version, as it depends on the reference alone). It reads the raw per-case table even when a
    result's cases are private: only ranks and test outcomes derived from them are ever shown, never
    the values. A case whose value is missing (a metric added after the result was scored and not
    re-scored yet) leaves that case out for that submission."""
    from ..metrics import METRICS

    METRICS.get(metric)  # an unknown metric name fails here, before it reaches the SQL
    out: dict[int, dict[str, float]] = {int(i): {} for i in submission_ids}
    if not submission_ids:
        return out
    marks = ",".join("?" * len(submission_ids))
    sql = (f"select r.submission_id as sid, c.case_id, avg(case when {_PRESENT} then c.{metric} end) as v, "
           f"sum({_PRESENT} and c.{metric} is not null) as n, sum({_PRESENT}) as k "
           f"from case_results c join results r on r.id = c.result_id "
           f"where r.submission_id in ({marks}) and c.class_index > 0 group by r.submission_id, c.case_id")
    for row in store.db.query(sql, [int(i) for i in submission_ids]):
        if row["k"] and row["n"] == row["k"]:
            out[row["sid"]][row["case_id"]] = row["v"]
    return out


def follow_up_results(store: _Reader, submission_id: int) -> list[dict]:
    """The scored follow-ups of a submission (its acquisition-shift sets, corruption variants, the
    hidden split): submission id, task id and version, oldest first."""
    sql = ("select s.id as submission_id, s.task_id, s.task_version from submissions s "
           "join results r on r.submission_id = s.id where cast(json_extract(s.meta, '$.follow_up_of') as integer) = ? "
           "and s.status = 'done' and s.withdrawn_at is null order by s.id")
    return [dict(r) for r in store.db.query(sql, [int(submission_id)])]
