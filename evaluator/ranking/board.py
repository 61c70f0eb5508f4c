"""Rank a task version's stored results on one split: fetch the per-case values of the rows the
paired scheme tests (the top `top_n` by mean, plus every floor and reference baseline) and rank.

A board never mixes splits: the rows of other splits (a `--split val` run) are left out here, and
`split_views` lists which splits a task version has results on, so val results get a board of
their own. Results are immutable once written, so a ranking is a pure function of the set of
result ids and the scheme's settings.
"""
from __future__ import annotations

from ..store import queries
from . import (
    DEFAULT_ALPHA,
    DEFAULT_TOP_N,
    STABILITY_RESAMPLES,
    Ranked,
    Scheme,
    ids_tested,
    rank,
)

DEFAULT_SPLIT = "test"


def rows_of_split(rows: list[dict], split: str = DEFAULT_SPLIT) -> list[dict]:
    """The rows scored on `split` (rows that do not record one are test rows)."""
    return [r for r in rows if (r.get("split") or DEFAULT_SPLIT) == split]


def split_views(rows: list[dict]) -> list[str]:
    """The splits these rows were scored on, test first: one board each."""
    found = {r.get("split") or DEFAULT_SPLIT for r in rows}
    return sorted(found, key=lambda s: (s != DEFAULT_SPLIT, s))


def task_clusters(task_id: str, version: int) -> dict | None:
    """{case id: cluster} as the task version declares it, or None (no declaration, or the task is
    not on this machine: its stored results still rank, with a plain case bootstrap)."""
    from sonobench.kernel.errors import SonoBenchError

    from .. import tasks as tasks_mod

    try:
        task = tasks_mod.get_task(f"{task_id}@{version}")
    except (SonoBenchError, OSError, ValueError):
        return None
    return task.case_clusters()


def rank_stored(store, rows: list[dict], metric: str, scheme=Scheme.PAIRED, *, alpha: float = DEFAULT_ALPHA,
                top_n: int = DEFAULT_TOP_N, stability: bool = True, resamples: int = STABILITY_RESAMPLES,
                split: str = DEFAULT_SPLIT, clusters: dict | None | bool = True) -> Ranked:
    """`rows`: leaderboard rows of one task version (each with `submission_id`); only those scored
    on `split` are ranked. `clusters`: {case id: cluster}, None for a plain case bootstrap, or True
    to read the task's own declaration."""
    scheme = Scheme.parse(scheme)
    rows = rows_of_split(rows, split)
    values = None
    if stability or scheme is Scheme.PAIRED:
        values = queries.case_values(store, ids_tested(rows, metric, top_n), metric)
    if clusters is True:
        known = stability and rows and "task_id" in rows[0]
        clusters = task_clusters(rows[0]["task_id"], rows[0]["task_version"]) if known else None
    return rank(rows, metric, scheme, case_values=values, alpha=alpha, top_n=top_n, stability=stability,
                resamples=resamples, clusters=clusters)
