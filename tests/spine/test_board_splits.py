"""Boards never mix splits: a result scored with `--split val` is never on the test board (the
ranking API and the CLI), it has a board of its own, labelled, and one ranking refuses rows of
two splits."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.ranking import MixedSplits, rank
from sonobench.evaluator.ranking.board import rank_stored, split_views
from sonobench.evaluator.store import ReadOnlyStore, Store

TASK = "split-task"


def _add(store, name, values, split="test", kind="submission"):
    db = store.db
    sid = db["submissions"].insert({"file_sha256": name, "filename": "m.onnx", "format": "onnx", "name": name,
                                    "team": "t", "kind": kind, "task_id": TASK, "task_version": 1,
                                    "status": "done", "meta": "{}", "created_at": "x", "updated_at": "x"}).last_pk
    v = np.asarray(values, float)
    rid = db["results"].insert({"submission_id": sid, "task_id": TASK, "task_version": 1, "manifest_digest": "d",
                                "split": split, "n_cases": len(v), "n_failed_cases": 0, "primary_metric": "dice",
                                **{f"{m}_{k}": float(v.mean()) + dk for m in ("dice", "iou", "hd95")
                                   for k, dk in (("mean", 0), ("std", 0.1), ("ci_low", -0.05), ("ci_high", 0.05))},
                                "hd95_unit": "px", "private_cases": 0, "latency_ms": 1.0, "created_at": "x"}).last_pk
    prefix = "v" if split == "val" else "t"
    db["case_results"].insert_all({"result_id": rid, "case_id": f"{prefix}{i:03d}", "class_index": 1,
                                   "dice": float(x), "iou": float(x), "hd95": 0.0, "tp": 1, "fp": 0, "fn": 0,
                                   "failed": 0} for i, x in enumerate(v))
    return sid


@pytest.fixture
def split_store(tmp_path):
    path = tmp_path / "splits.db"
    store = Store(path)
    rng = np.random.default_rng(0)
    base = rng.random(40) * 0.5
    ids = {"a": _add(store, "test-a", base + 0.3), "b": _add(store, "test-b", base + 0.1, kind="baseline"),
           "val": _add(store, "val-best", np.full(30, 0.99), split="val")}  # would lead the test board
    return path, ids


def test_a_val_result_is_never_on_the_test_board(split_store):
    path, ids = split_store
    store = ReadOnlyStore(path)
    rows = store.leaderboard_rows(TASK, 1)
    assert split_views(rows) == ["test", "val"]
    board = rank_stored(store, rows, "dice", "paired", resamples=50)
    assert [r["submission_id"] for r in board.rows] == [ids["a"], ids["b"]]
    assert ids["val"] not in board.tested and board.n_cases == 40
    val = rank_stored(store, rows, "dice", "paired", split="val", resamples=50)
    assert [(r["submission_id"], r["rank"]) for r in val.rows] == [(ids["val"], 1)]


def test_one_ranking_refuses_rows_of_two_splits(split_store):
    path, _ = split_store
    rows = ReadOnlyStore(path).leaderboard_rows(TASK, 1)
    with pytest.raises(MixedSplits, match="--split test"):
        rank(rows, "dice", "mean", stability=False)


def test_cli_boards_by_split(split_store):
    path, ids = split_store
    run = CliRunner().invoke(cli, ["leaderboard", TASK, "--db", str(path), "--format", "json"])
    assert run.exit_code == 0, run.output
    out = json.loads(run.output)
    assert out["split"] == "test" and [r["submission_id"] for r in out["rows"]] == [ids["a"], ids["b"]]
    table = CliRunner().invoke(cli, ["leaderboard", TASK, "--db", str(path)])
    assert table.exit_code == 0, table.output
    assert "TEST split board" in table.output and "val-best" not in table.output
    assert "--split val" in table.output  # says where the val results are
    val = CliRunner().invoke(cli, ["leaderboard", TASK, "--db", str(path), "--split", "val", "--format", "json"])
    assert val.exit_code == 0, val.output
    out = json.loads(val.output)
    assert out["split"] == "val" and [r["submission_id"] for r in out["rows"]] == [ids["val"]]
