"""The unpaired schemes: `ci-overlap` and `mean`. Both read only a row's aggregates."""
from __future__ import annotations

from bisect import bisect_left

from ..metrics import METRICS


def _signed(metric: str) -> float:
    """-1 for higher-is-better metrics, so every comparison below is 'smaller is better'."""
    return -1.0 if METRICS.get(metric).higher_is_better else 1.0


def order_by_mean(rows: list[dict], metric: str) -> list[dict]:
    """Rows best first by `<metric>_mean` in the metric's own direction; rows without a mean last."""
    key, sign = f"{metric}_mean", _signed(metric)
    return sorted(rows, key=lambda r: (r.get(key) is None, sign * r[key] if r.get(key) is not None else 0.0))


def ci_overlap_ranks(rows: list[dict], metric: str) -> list[dict]:
    """rank = 1 + the number of rows whose whole 95% interval lies strictly better than this row's
    best interval end. Overlapping rows *can* get different ranks (a row between them may be
    separated from one but not the other): this is not 'shared where intervals overlap'."""
    info, sign = METRICS.get(metric), _signed(metric)
    lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
    worst, best = (lo, hi) if info.higher_is_better else (hi, lo)
    ordered = order_by_mean(rows, metric)
    worst_ends = sorted(sign * o[worst] for o in ordered if o.get(worst) is not None)
    return [dict(r, rank=1 + bisect_left(worst_ends, sign * r[best]) if r.get(best) is not None else None)
            for r in ordered]


def mean_ranks(rows: list[dict], metric: str) -> list[dict]:
    """rank = 1 + the number of rows with a strictly better mean (equal means share a rank)."""
    key, sign = f"{metric}_mean", _signed(metric)
    ordered = order_by_mean(rows, metric)
    means = sorted(sign * r[key] for r in ordered if r.get(key) is not None)
    return [dict(r, rank=1 + bisect_left(means, sign * r[key]) if r.get(key) is not None else None)
            for r in ordered]


__all__ = ["order_by_mean", "ci_overlap_ranks", "mean_ranks"]
