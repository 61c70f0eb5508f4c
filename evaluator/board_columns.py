"""Which metrics a task's leaderboard shows, and its machine-readable columns.

A task declares its board (task.json "metrics", primary first; the registry's default board
otherwise). A board shows a declared metric only where at least one of its rows has a value:
a metric no row has (scored before it existed, or a rate over images the task does not have)
would be a column reading "missing" or "n/a" on every row. The CLI and the app both ask here,
so the terminal table, the CSV and the app's table follow the same task the same way.
"""
from __future__ import annotations

from .metrics import METRICS, MetricKind, tolerance_columns
from .metrics.defaults import DEFAULT_PRIMARY_METRIC, check_task_metrics


def task_metrics(spec: dict | None) -> tuple[str, ...]:
    """The metrics `spec` (a task summary or task.json dict) declares, its primary metric first."""
    spec = spec or {}
    return check_task_metrics(spec.get("metrics"), spec.get("primary_metric") or DEFAULT_PRIMARY_METRIC)


def task_spec(task_id: str, version: int, stored: dict | None = None) -> dict:
    """The task's summary from its folder on this machine (the current declaration), else the
    spec the store recorded when the task was registered (`stored`), else {}."""
    from sonobench.kernel.errors import SonoBenchError

    from . import tasks as tasks_mod

    try:
        return tasks_mod.get_task(f"{task_id}@{version}").summary()
    except SonoBenchError:
        return dict(stored or {})


def has_values(rows: list[dict], metric: str) -> bool:
    """True when some row has a value of `metric` (a mean, or a defined rate)."""
    key = metric if METRICS.get(metric).kind is MetricKind.DETECTION else f"{metric}_mean"
    return any(_present(r.get(key)) for r in rows)


def shown_metrics(spec: dict | None, rows: list[dict], primary: str | None = None) -> list[str]:
    """The board's metrics for `rows`: the declared ones some row has a value of, `primary` (the
    metric ranked by; default the task's) first and always."""
    declared = task_metrics(spec)
    primary = primary or declared[0]
    return [primary] + [m for m in declared if m != primary and has_values(rows, m)]


def metric_fields(metric: str) -> tuple[str, ...]:
    """A metric's numeric result columns: mean, CI ends and std, or rate, CI ends and n."""
    info = METRICS.get(metric)
    if info.kind is MetricKind.DETECTION:
        return info.columns()
    return tuple(f"{metric}_{k}" for k in ("mean", "ci_low", "ci_high", "std"))


RANK_FIELDS = ("rank", "rank_low", "rank_high", "p_rank1", "submission_id", "name", "team", "kind")
TAIL_FIELDS = ("params", "gflops", "latency_ms", "peak_memory_mb", "split", "n_cases", "manifest_digest", "created_at")


def csv_fields(metrics: list[str]) -> list[str]:
    """Every numeric column of a board showing `metrics`, in board order (numbers stay numbers,
    each CI end its own column; distances in the row's `hd95_unit`)."""
    tolerances = [c for c in tolerance_columns() if any(METRICS.get(m).tolerance == c for m in metrics)]
    return [*RANK_FIELDS, *(f for m in metrics for f in metric_fields(m)), "hd95_unit", *tolerances, *TAIL_FIELDS]


def _present(value) -> bool:
    return value is not None and value == value
