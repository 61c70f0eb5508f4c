"""Leaderboard ordering. The sort direction comes from the metric's metadata,
never from its name; ranks are shared where confidence intervals overlap."""
from __future__ import annotations

from bisect import bisect_left

from .metrics import METRICS


def rank_rows(rows: list[dict], metric: str) -> list[dict]:
    """Sort rows by `<metric>_mean` (best first) and add `rank`: 1 + the number of
    rows whose worst CI end is better than this row's best CI end, so rows with
    overlapping CIs tie. O(n log n): fine for tens of thousands of results."""
    info = METRICS.get(metric)
    key, lo, hi = f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high"
    sign = -1.0 if info.higher_is_better else 1.0  # compare in lower-is-better space
    ordered = sorted(rows, key=lambda r: (r[key] is None, sign * r[key] if r[key] is not None else 0.0))
    worst, best = (lo, hi) if info.higher_is_better else (hi, lo)
    worst_ends = sorted(sign * o[worst] for o in ordered)
    return [dict(r, rank=1 + bisect_left(worst_ends, sign * r[best])) for r in ordered]
