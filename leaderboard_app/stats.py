"""The Pareto front for the Efficiency page: a pure function of arrays, tested without Streamlit.
Paired statistics (Wilcoxon tests, bootstrap CIs, the significance map) come from
`sonobench.evaluator.ranking`, the same code the CLI and the ranking use."""
from __future__ import annotations

import numpy as np


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
