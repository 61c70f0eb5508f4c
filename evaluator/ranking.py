"""Leaderboard ordering. The sort direction comes from the metric's metadata,
never from its name; ranks are shared where confidence intervals overlap."""
from __future__ import annotations

from .metrics import METRICS


def rank_rows(rows: list[dict], metric: str) -> list[dict]:
    """Sort rows by `<metric>_mean` (best first) and add `rank`: 1 + the number of
    rows whose whole CI is better than this row's CI, so overlapping CIs tie."""
    info = METRICS.get(metric)
    better = (lambda a, b: a > b) if info.higher_is_better else (lambda a, b: a < b)
    key = f"{metric}_mean"
    ordered = sorted(rows, key=lambda r: (r[key] is None, -r[key] if info.higher_is_better and r[key] is not None else r[key] or 0))
    lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
    out = []
    for r in ordered:
        # this row's worst CI end vs another row's worst CI end
        mine_best = r[hi] if info.higher_is_better else r[lo]
        clearly_better = sum(
            1 for o in ordered if o is not r and better(o[lo] if info.higher_is_better else o[hi], mine_best)
        )
        out.append(dict(r, rank=1 + clearly_better))
    return out
