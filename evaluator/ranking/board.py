"""Rank a task version's stored results: fetch the per-case values of the rows the chosen scheme
tests (the top `top_n` by mean) and rank. Results are immutable once written, so a ranking is a
pure function of the set of result ids and the scheme's settings; the app caches it by the
store's fingerprint and recomputes only when a result is added or re-scored."""
from __future__ import annotations

from ..store import queries
from . import DEFAULT_ALPHA, DEFAULT_TOP_N, STABILITY_RESAMPLES, Ranked, Scheme, rank
from .overlap import order_by_mean


def rank_stored(store, rows: list[dict], metric: str, scheme=Scheme.PAIRED, *, alpha: float = DEFAULT_ALPHA,
                top_n: int = DEFAULT_TOP_N, stability: bool = True,
                resamples: int = STABILITY_RESAMPLES) -> Ranked:
    """`rows`: leaderboard rows of one task version and split (each with `submission_id`)."""
    scheme = Scheme.parse(scheme)
    needs_cases = stability or scheme is Scheme.PAIRED
    values = None
    if needs_cases:
        tested = [r["submission_id"] for r in order_by_mean(rows, metric)
                  if r.get(f"{metric}_mean") is not None][:top_n]
        values = queries.case_values(store, tested, metric)
    return rank(rows, metric, scheme, case_values=values, alpha=alpha, top_n=top_n, stability=stability,
                resamples=resamples)
