"""How small a difference the paired ranking can see on a task: the smallest shift in the mean
primary metric that the one-sided Wilcoxon signed-rank test detects with 80% probability at the
task's number of test cases, estimated by resampling the task's reference results.

Method: for every pair of reference results, the per-case differences of the primary metric are
centred (mean removed), which keeps their real spread, skew and ties but makes the two models
equal on average. A shift delta is added, `n` cases are drawn with replacement `resamples` times,
and the test is run at level alpha on each draw; the power at delta is the share of draws (over
all reference pairs) that reject. The detectable difference is the smallest delta with power >=
the target, found by bisection. It is reported for one pair at alpha and at alpha / (m - 1), the
strictest level Holm's step-down applies when a model is compared with the m - 1 others.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from ..metrics import METRICS
from ..store import queries
from .paired import orient, wilcoxon_normal


def detectable_difference(store, task_id: str, version: int, metric: str | None = None, *, alpha: float = 0.05,
                          power: float = 0.8, resamples: int = 200, seed: int = 0, kind: str = "baseline") -> dict | None:
    rows = [r for r in queries.leaderboard_table_rows(store, task_id, version) if r["kind"] == kind]
    if len(rows) < 2:
        return None
    metric = metric or rows[0]["primary_metric"]
    METRICS.get(metric)
    ids = [r["submission_id"] for r in rows]
    values = queries.case_values(store, ids, metric)
    cases = sorted(set.intersection(*(set(values[i]) for i in ids)))
    if len(cases) < 5:
        return None
    v = orient(np.array([[values[i][c] for c in cases] for i in ids]), metric)
    diffs = np.array([v[a] - v[b] for a, b in combinations(range(len(ids)), 2)])
    centred = diffs - diffs.mean(axis=1, keepdims=True)
    m = len(ids)
    out = {"metric": metric, "n_cases": len(cases), "n_references": m, "alpha": alpha, "power": power,
           "per_case_sd": float(np.median(v.std(axis=1, ddof=1))),
           "paired_sd": float(np.median(diffs.std(axis=1, ddof=1))),
           "delta": _smallest_delta(centred, alpha, power, resamples, seed),
           "delta_holm": _smallest_delta(centred, alpha / max(1, m - 1), power, resamples, seed),
           "method": "centred paired differences of every reference pair, bootstrap of the cases, "
                     f"one-sided Wilcoxon at alpha (and alpha/(m-1)), {resamples} draws per pair"}
    return out


def power_at(centred: np.ndarray, delta: float, alpha: float, resamples: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    n = centred.shape[1]
    idx = rng.integers(0, n, size=(resamples, n))
    greater, _ = wilcoxon_normal(centred[:, idx] + delta)   # pairs x resamples
    return float((greater <= alpha).mean())


def _smallest_delta(centred, alpha, target, resamples, seed) -> float | None:
    spread = float(np.abs(centred).max()) or 1.0
    lo, hi = 0.0, spread
    if power_at(centred, hi, alpha, resamples, seed) < target:
        return None  # not even a shift as large as the biggest per-case difference is detected reliably
    for _ in range(11):  # bisection to ~spread / 2,000
        mid = (lo + hi) / 2
        if power_at(centred, mid, alpha, resamples, seed) >= target:
            hi = mid
        else:
            lo = mid
    return hi
