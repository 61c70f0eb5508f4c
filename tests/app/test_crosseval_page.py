"""The Cross-dataset page shows the family matrix with the in-domain cell marked."""
from __future__ import annotations

from .conftest import open_page


def test_crosseval_page_shows_the_matrix(tmp_path, monkeypatch):
    from evaluator.crosseval import ModelSource, score_family
    from evaluator.store import Store
    from evaluator.toy import build_toy_task, threshold_onnx

    root = tmp_path / "tasks"
    build_toy_task(root / "toy-a" / "v1", task_id="toy-a", seed=0, family="toy")
    build_toy_task(root / "toy-b" / "v1", task_id="toy-b", seed=5, n=16, family="toy")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    db = tmp_path / "app.db"
    store = Store(db)
    score_family(store, ModelSource(threshold_onnx(tmp_path / "m.onnx"), "toy-a", "threshold"), "toy",
                 log=lambda m: None)
    store.close()
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    at = open_page("crosseval")
    assert at.title[0].value == "Cross-dataset"
    picker = at.selectbox(key="cx_family")
    assert list(picker.options) == ["breast", "toy"] and picker.value == "toy"  # opens on a scored family
    assert len(at.dataframe) == 1, [i.value for i in at.info] + [e.value for e in at.error] + [w.value for w in at.warning]
    table = at.dataframe[0].value
    assert list(table.columns) == ["trained on", "model", "toy-a@1", "toy-b@1"]
    (row,) = table.to_dict("records")
    assert row["trained on"] == "toy-a@1" and row["model"] == "threshold"
    assert row["toy-a@1"].startswith("★ ") and not row["toy-b@1"].startswith("★")
