"""No-skill floors on a board: which rows are floors (kind "floor": input-independent models
built from a task's train split, see `sonobench baselines floors`), which floor is a task's
best, and which reference rows are *not significantly better* than it.

A reference (kind "baseline") row is marked `not_above_floor` when a one-sided paired Wilcoxon
signed-rank test of its per-case primary metric against the best floor's, on the cases both
were scored on, does not reject "no better" at the operator's `ranking_alpha`. The marks are
computed for every reference row whatever `ranking_top_n` is. This module reads the store
only through `queries.case_values`.
"""
from __future__ import annotations

import math

import numpy as np

from .metrics import METRICS

FLOOR = "floor"
BASELINE = "baseline"
MARK = "not_above_floor"


def is_floor(row) -> bool:
    return (row.get("kind") if isinstance(row, dict) else getattr(row, "kind", None)) == FLOOR


def _oriented(value: float, metric: str) -> float:
    return value if METRICS.get(metric).higher_is_better else -value


def best_floor(rows: list[dict], metric: str) -> dict | None:
    """The floor row with the best mean of `metric` among `rows` (None when there is none)."""
    floors = [r for r in rows if is_floor(r) and r.get(f"{metric}_mean") is not None]
    return max(floors, key=lambda r: _oriented(float(r[f"{metric}_mean"]), metric), default=None)


def paired_p(values: dict[str, float], floor: dict[str, float], metric: str) -> tuple[float, int]:
    """(one-sided p of "this row is better than the floor", number of paired cases) over the cases
    both have; p = 1 when no case differs."""
    from scipy import stats

    common = sorted(values.keys() & floor.keys())
    d = np.array([_oriented(values[c] - floor[c], metric) for c in common], float)
    if not np.any(d != 0):
        return 1.0, len(common)
    return float(stats.wilcoxon(d, alternative="greater", zero_method="wilcox").pvalue), len(common)


def floor_marks(store, rows: list[dict], metric: str, alpha: float) -> dict[int, dict]:
    """{submission id of a reference row: {"p", "n", "floor", "floor_id"}} for every reference row
    NOT significantly better than the task's best floor on `metric` (one-sided paired Wilcoxon)."""
    from .store import queries

    floor = best_floor(rows, metric)
    refs = [r for r in rows if r.get("kind") == BASELINE]
    if floor is None or not refs:
        return {}
    ids = [floor["submission_id"], *(r["submission_id"] for r in refs)]
    values = queries.case_values(store, ids, metric)
    out = {}
    for r in refs:
        p, n = paired_p(values[r["submission_id"]], values[floor["submission_id"]], metric)
        if n and not p < alpha:  # no common case (a metric not re-scored yet): nothing to test
            out[r["submission_id"]] = {"p": p, "n": n, "floor": floor["name"], "floor_id": floor["submission_id"]}
    return out


def annotate(store, rows: list[dict], metric: str, alpha: float) -> list[dict]:
    """`rows` with `not_above_floor` set on each row (None, or the mark's dict) -- what the boards show."""
    marks = floor_marks(store, rows, metric, alpha)
    return [{**r, MARK: marks.get(r.get("submission_id"))} for r in rows]


def mark_words(mark: dict | None, alpha: float) -> str:
    """The mark in words (empty when there is none)."""
    if not mark:
        return ""
    p = "n/a" if mark["p"] is None or math.isnan(mark["p"]) else f"{mark['p']:.3g}"
    return (f"not significantly better than the floor '{mark['floor']}' (one-sided paired Wilcoxon on "
            f"{mark['n']} cases, p = {p} >= alpha {alpha})")
