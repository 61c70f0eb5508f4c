"""Small statistics for the pages: paired comparison and the Pareto front.
Pure functions of arrays, so they are tested without Streamlit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedComparison:
    n: int
    mean_diff: float          # mean of (a - b) over cases
    ci_low: float             # 95% bootstrap CI of that mean
    ci_high: float
    wilcoxon_p: float | None  # None when undefined (fewer than 2 cases)
    note: str = ""


def paired_comparison(a, b, *, resamples: int = 10_000, seed: int = 0) -> PairedComparison:
    """Wilcoxon signed-rank test and a percentile bootstrap CI of mean(a - b), paired by case."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    n = d.size
    if n == 0:
        return PairedComparison(0, float("nan"), float("nan"), float("nan"), None, "no cases in common")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    if not np.any(d):
        # scipy cannot rank all-zero differences; identical scores are "no evidence of a difference"
        return PairedComparison(n, 0.0, 0.0, 0.0, 1.0, "identical scores on every case")
    if n < 2:
        return PairedComparison(n, float(d.mean()), float(lo), float(hi), None, "one case: no test possible")
    p = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
    note = "few cases: the p-value is coarse" if n < 10 else ""
    return PairedComparison(n, float(d.mean()), float(lo), float(hi), p, note)


def pareto_front(cost, quality, *, higher_quality_is_better: bool = True) -> np.ndarray:
    """Indices of the points no other point beats on both axes (lower cost, better quality),
    ordered by cost. Points with a missing value are never on the front."""
    cost = np.asarray(cost, float)
    q = np.asarray(quality, float)
    q = q if higher_quality_is_better else -q
    ok = np.flatnonzero(np.isfinite(cost) & np.isfinite(q))
    order = ok[np.lexsort((-q[ok], cost[ok]))]  # by cost, then best quality first
    front, best = [], -np.inf
    for i in order:
        if q[i] > best:
            front.append(i)
            best = q[i]
    return np.asarray(front, dtype=int)
