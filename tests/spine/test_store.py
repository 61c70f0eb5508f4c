import sqlite3

import pytest

from sonobench.evaluator.store import ReadOnlyStore, Store
from sonobench.evaluator.store.migrations import MIGRATIONS
from sonobench.kernel.errors import AlreadyScored, StoreError


def _result(task):
    base = {"task_id": task.id, "task_version": task.version, "manifest_digest": task.digest, "split": "test",
            "n_cases": 1, "n_failed_cases": 0, "primary_metric": "dice", "hd95_unit": "mm",
            "per_class": {}, "params": 10, "gflops": 0.1, "complexity": {}, "latency_ms": 1.0,
            "peak_memory_mb": 1.0, "hardware": {}, "evaluator_version": "t", "wall_s": 0.1}
    for m in ("dice", "iou", "hd95"):
        base.update({f"{m}_mean": 0.5, f"{m}_std": 0.1, f"{m}_ci_low": 0.4, f"{m}_ci_high": 0.6})
    return base


CASE = {"case_id": "c1", "class_index": 1, "dice": 0.5, "iou": 0.33, "hd95": 2.0, "tp": 1, "fp": 1, "fn": 1, "failed": 0}


def _sub(store, task, sha="a" * 64):
    return store.create_submission(file_sha256=sha, filename="m.onnx", fmt="onnx", task=task, name="m")


def test_wal_and_migrations_recorded(file_store):
    assert file_store.db.journal_mode == "wal"
    names = [r["name"] for r in file_store.db["_migrations"].rows]
    assert names == [n for n, _ in MIGRATIONS]
    Store(file_store.path)  # reopening applies nothing twice
    assert file_store.db["_migrations"].count == len(MIGRATIONS)


def test_result_is_all_or_nothing(file_store, toy_task):
    file_store.register_task(toy_task)
    sid = _sub(file_store, toy_task)
    bad_case = dict(CASE, not_a_column=1)
    with pytest.raises(Exception):
        file_store.write_result(sid, _result(toy_task), [CASE, bad_case])
    assert file_store.counts()["results"] == 0 and file_store.counts()["case_results"] == 0
    assert file_store.submission(sid)["status"] == "running"
    rid = file_store.write_result(sid, _result(toy_task), [CASE])
    assert file_store.submission(sid)["status"] == "done"
    assert file_store.result_for(sid)["id"] == rid and len(file_store.case_results(sid)) == 1
    assert file_store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_same_file_same_task_version_only_once(store, toy_task):
    store.register_task(toy_task)
    sid = _sub(store, toy_task)
    with pytest.raises(AlreadyScored) as e:
        _sub(store, toy_task)
    assert e.value.submission_id == sid
    store.set_status(sid, "failed", "boom")
    assert _sub(store, toy_task) != sid  # a failed attempt may be retried


def test_task_digest_change_is_refused(store, toy_task):
    store.register_task(toy_task)
    from dataclasses import replace
    with pytest.raises(StoreError, match="new task version"):
        store.register_task(replace(toy_task, digest="0" * 64))


def test_read_only_store_cannot_write(file_store, toy_task, tmp_path):
    file_store.register_task(toy_task)
    ro = ReadOnlyStore(file_store.path)
    assert ro.tasks()[0]["id"] == toy_task.id
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.db.execute("delete from tasks")
    with pytest.raises(StoreError, match="No results store"):
        ReadOnlyStore(tmp_path / "missing.db")


def test_private_case_rows_are_hidden_from_readers(file_store, toy_task):
    from sonobench.evaluator.store import queries

    file_store.register_task(toy_task)
    sid = _sub(file_store, toy_task)
    file_store.write_result(sid, dict(_result(toy_task), private_cases=1), [CASE])
    ro = ReadOnlyStore(file_store.path)
    assert ro.case_results(sid) == [] and queries.case_means(ro, sid) == []
    assert ro.result_for(sid)["dice_mean"] == 0.5  # aggregates stay visible
    assert len(file_store.case_results(sid)) == 1  # the operator keeps them for recomputation


def test_m006_adds_the_thin_structure_columns_and_old_rows_stay_missing(tmp_path, toy_task):
    """A store at m005 holding a scored row: opening it applies m006, whose new columns are NULL on
    the old row (missing, never 0) and show through the public per-case view."""
    import json

    import sqlite_utils

    from sonobench.evaluator.store import migrations

    db = sqlite_utils.Database(tmp_path / "old.db")
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, fn in migrations.MIGRATIONS:
        if name.startswith("m006"):
            break
        fn(db)
        db["_migrations"].insert({"name": name, "applied_at": migrations.now()})
    db["submissions"].insert({"id": 1, "file_sha256": "a" * 64, "filename": "m.onnx", "format": "onnx", "name": "m",
                              "task_id": toy_task.id, "task_version": toy_task.version, "status": "done"})
    old_row = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in _result(toy_task).items()}
    rid = db["results"].insert(dict(old_row, submission_id=1)).last_pk
    db["case_results"].insert(dict(CASE, result_id=rid))
    db.conn.commit()
    db.conn.close()

    store = Store(tmp_path / "old.db")  # applies what is pending
    assert "m006_thin_structure_surface_metrics" in [r["name"] for r in store.db["_migrations"].rows]
    row = store.db["results"].get(rid)
    assert row["dice_mean"] == 0.5  # the old numbers are untouched
    assert row["surface_f1_mean"] is None and row["surface_tolerance"] is None
    assert row["mean_dist_ref_to_pred_ci_high"] is None
    case = next(iter(store.db.query("select * from case_results_public where result_id = ?", [rid])))
    assert case["dice"] == 0.5 and "surface_precision" in case and case["surface_precision"] is None


def test_the_store_does_not_import_pandas_and_pandas_still_imports_later():
    from .fresh_python import assert_fresh_python_ok

    assert_fresh_python_ok("import sys\n"
                           "from sonobench.evaluator.store import Store\n"
                           "assert 'pandas' not in sys.modules, 'sqlite_utils pulled in pandas'\n"
                           "s = Store(memory=True); s.close()\n"
                           "import pandas\n"
                           "assert pandas.DataFrame({'a': [1]}).shape == (1, 1)\n")
