"""The Tasks page's power statement and the Overall (consensus across tasks) ranking, on a store
filled with synthetic per-case results."""
import numpy as np
import pytest

from sonobench.evaluator.ranking.consensus import overall
from sonobench.evaluator.ranking.power import detectable_difference, power_at
from sonobench.evaluator.store import Store


def _add(store, task, name, team, values, kind="baseline"):
    db = store.db
    sid = db["submissions"].insert({"file_sha256": f"{task}-{name}", "filename": "m.onnx", "format": "onnx",
                                    "name": name, "team": team, "kind": kind, "task_id": task, "task_version": 1,
                                    "status": "done", "meta": "{}", "created_at": "x", "updated_at": "x"}).last_pk
    v = np.asarray(values, float)
    rid = db["results"].insert({"submission_id": sid, "task_id": task, "task_version": 1, "manifest_digest": "d",
                                "split": "test", "n_cases": len(v), "n_failed_cases": 0, "primary_metric": "dice",
                                "dice_mean": float(v.mean()), "dice_ci_low": float(v.mean() - 0.05),
                                "dice_ci_high": float(v.mean() + 0.05), "hd95_unit": "px", "private_cases": 0,
                                "created_at": "x"}).last_pk
    db["case_results"].insert_all({"result_id": rid, "case_id": f"c{i:03d}", "class_index": 1, "dice": float(x),
                                   "iou": float(x), "hd95": 0.0, "tp": 1, "fp": 0, "fn": 0, "failed": 0}
                                  for i, x in enumerate(v))
    return sid


def test_power_at_grows_with_the_shift_and_is_seeded():
    rng = np.random.default_rng(0)
    centred = rng.normal(0, 0.2, (3, 60))
    centred -= centred.mean(axis=1, keepdims=True)
    p = [power_at(centred, d, 0.05, 200, 0) for d in (0.0, 0.05, 0.1, 0.3)]
    assert p[0] < 0.15 and p == sorted(p) and p[-1] > 0.95
    assert power_at(centred, 0.05, 0.05, 200, 0) == p[1]


def test_detectable_difference_from_the_references():
    store = Store(memory=True)
    rng = np.random.default_rng(1)
    base = rng.random(80)
    for k in range(4):
        _add(store, "t", f"m{k}", "ref", np.clip(base + rng.normal(0, 0.1, 80), 0, 1))
    d = detectable_difference(store, "t", 1)
    assert d["n_cases"] == 80 and d["n_references"] == 4
    assert 0 < d["delta"] < d["delta_holm"] < 0.2  # stricter level, larger detectable shift
    assert d["paired_sd"] == pytest.approx(0.14, abs=0.03)
    assert detectable_difference(store, "t", 1, kind="submission") is None  # no references of that kind


def test_overall_ranks_by_mean_task_rank_and_lists_missing_tasks():
    store = Store(memory=True)
    rng = np.random.default_rng(2)
    base = rng.random(60) * 0.5
    for task, shift in (("a", (0.3, 0.15, 0.0)), ("b", (0.0, 0.15, 0.3))):
        for name, s in zip(("x", "y", "z"), shift):
            if task == "b" and name == "z":
                continue  # z is scored on task a only
            _add(store, task, name, "lab", base + s + rng.normal(0, 0.01, 60))
    rows = overall(store)
    by = {r["name"]: r for r in rows}
    assert by["x"]["ranks"] == {"a@1": 1, "b@1": 2} and by["y"]["ranks"] == {"a@1": 2, "b@1": 1}
    assert by["x"]["mean_rank"] == by["y"]["mean_rank"] == 1.5
    assert by["z"]["missing"] == ["b@1"] and by["z"]["n_tasks"] == 1
    assert [r["name"] for r in rows][-1] == "z"  # fewer tasks rank after the models scored on all
