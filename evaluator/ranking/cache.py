"""Rankings kept beside the store, so a page view never waits for the pairwise tests and the
bootstrap: a stored result is immutable (re-scoring changes its row's means), so a board's
ranking is a pure function of its rows (submission id, mean and case count of the ranking
metric), the evaluator version and the scheme's settings, and is kept under a digest of them in
`<store>.rankings/`. Only what the ranking decided is kept (the order, each row's rank and
stability fields, the scheme's summary); it is joined to the rows as they are now, so a renamed
model shows its new name. `warm` fills it for a task version's default board when a result is
committed; a miss (another metric, scheme or filter) is computed once and kept.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import replace
from pathlib import Path

from .. import __version__
from . import DEFAULT_ALPHA, DEFAULT_TOP_N, STABILITY_RESAMPLES, Ranked, Scheme
from .board import DEFAULT_SPLIT, rank_stored, rows_of_split

FORMAT = 2
RANK_FIELDS = ("rank", "rank_tested", "p_rank1", "rank_median", "rank_low", "rank_high")


def cache_dir(store) -> Path | None:
    """`<store file>.rankings`, or None for an in-memory store."""
    path = getattr(store, "path", None)
    return None if path is None else Path(f"{path}.rankings")


def cache_key(rows: list[dict], metric: str, scheme, *, alpha: float, top_n: int, split: str,
              resamples: int) -> str:
    board = sorted((r["submission_id"], r.get(f"{metric}_mean"), r.get("n_cases"), r.get("kind"))
                   for r in rows_of_split(rows, split))
    blob = json.dumps([FORMAT, __version__, metric, Scheme.parse(scheme).value, alpha, top_n, split, resamples, board],
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def cached_rank(store, rows: list[dict], metric: str, scheme=Scheme.PAIRED, *, alpha: float = DEFAULT_ALPHA,
                top_n: int = DEFAULT_TOP_N, split: str = DEFAULT_SPLIT,
                resamples: int = STABILITY_RESAMPLES) -> Ranked:
    """`board.rank_stored` with stability, read from the cache when this board was ranked before."""
    folder = cache_dir(store)
    key = cache_key(rows, metric, scheme, alpha=alpha, top_n=top_n, split=split, resamples=resamples)
    hit = _load(folder / f"{key}.pkl", rows_of_split(rows, split)) if folder else None
    if hit is not None:
        return hit
    ranked = rank_stored(store, rows, metric, scheme, alpha=alpha, top_n=top_n, split=split, resamples=resamples)
    if folder:
        _save(folder, key, ranked)
    return ranked


def warm(store, task_id: str, version: int, *, alpha: float = DEFAULT_ALPHA, top_n: int = DEFAULT_TOP_N) -> None:
    """Rank the default board of a task version (its primary metric, paired, every kind, test
    split) and keep it: what the next page view asks for first."""
    from ..store import queries, validity

    rows = validity.partition(queries.leaderboard_table_rows(store, task_id, version))[0]
    rows = rows_of_split(rows, DEFAULT_SPLIT)
    if rows:
        cached_rank(store, rows, rows[0]["primary_metric"], Scheme.PAIRED, alpha=alpha, top_n=top_n)


def _load(path: Path, rows: list[dict]) -> Ranked | None:
    try:
        with path.open("rb") as f:
            kept = pickle.load(f)  # written by this module only, in the operator's own store folder
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    by_id = {r["submission_id"]: r for r in rows}
    if not isinstance(kept, dict) or not isinstance(kept.get("ranked"), Ranked) or set(kept["fields"]) != set(by_id):
        return None
    out = [dict(by_id[sid], **kept["fields"][sid]) for sid in kept["order"]]
    return replace(kept["ranked"], rows=out)


def _save(folder: Path, key: str, ranked: Ranked) -> None:
    try:
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{key}.tmp"
        kept = {"ranked": replace(ranked, rows=[]), "order": [r["submission_id"] for r in ranked.rows],
                "fields": {r["submission_id"]: {k: r[k] for k in RANK_FIELDS if k in r} for r in ranked.rows}}
        with tmp.open("wb") as f:
            pickle.dump(kept, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(folder / f"{key}.pkl")  # readers never see half a file
    except OSError:
        pass  # a read-only store folder: the ranking is simply computed again next time


__all__ = ["cache_dir", "cache_key", "cached_rank", "warm"]
