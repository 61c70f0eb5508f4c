"""Rankings computed once when a result is committed and kept beside the store: the next read
of the same board does no ranking work; a new result (another set of rows) is a new key."""
import numpy as np
import pytest

from sonobench.evaluator.ranking import board as board_mod
from sonobench.evaluator.ranking import cache
from sonobench.evaluator.store import ReadOnlyStore, Store, queries

from .test_board_splits import TASK, _add


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "cache.db"
    store = Store(path)
    base = np.random.default_rng(1).random(30)
    _add(store, "a", base + 0.2)
    _add(store, "b", base, kind="baseline")
    return path, store


def test_warm_keeps_the_default_board_and_a_read_does_no_ranking(filled, monkeypatch):
    path, store = filled
    cache.warm(store, TASK, 1)
    kept = list(cache.cache_dir(store).glob("*.pkl"))
    assert len(kept) == 1
    reader = ReadOnlyStore(path)
    rows = queries.leaderboard_table_rows(reader, TASK, 1)
    expected = board_mod.rank_stored(reader, rows, "dice", "paired")

    def no_work(*a, **k):
        raise AssertionError("ranked again although the board was kept")

    monkeypatch.setattr(cache, "rank_stored", no_work)
    got = cache.cached_rank(reader, rows, "dice", "paired")
    assert [(r["submission_id"], r["rank"], r["rank_low"], r["rank_high"]) for r in got.rows] == \
        [(r["submission_id"], r["rank"], r["rank_low"], r["rank_high"]) for r in expected.rows]
    assert np.array_equal(got.bootstrap_ranks, expected.bootstrap_ranks)


def test_a_new_result_or_other_settings_is_another_key(filled):
    _, store = filled
    rows = queries.leaderboard_table_rows(store, TASK, 1)
    kw = {"alpha": 0.05, "top_n": 20, "split": "test", "resamples": 1000}
    key = cache.cache_key(rows, "dice", "paired", **kw)
    assert key == cache.cache_key(list(reversed(rows)), "dice", "paired", **kw)
    assert key != cache.cache_key(rows, "dice", "paired", **{**kw, "top_n": 5})
    assert key != cache.cache_key(rows, "iou", "paired", **kw)
    _add(store, "c", np.full(30, 0.1))
    assert key != cache.cache_key(queries.leaderboard_table_rows(store, TASK, 1), "dice", "paired", **kw)


def test_a_kept_ranking_shows_the_rows_as_they_are_now(filled):
    path, store = filled
    cache.warm(store, TASK, 1)
    store.db.execute("update submissions set name = 'renamed' where name = 'a'")
    store.db.conn.commit()
    rows = queries.leaderboard_table_rows(ReadOnlyStore(path), TASK, 1)
    got = cache.cached_rank(ReadOnlyStore(path), rows, "dice", "paired")
    assert [r["name"] for r in got.rows] == ["renamed", "b"] and got.rows[0]["rank"] == 1
