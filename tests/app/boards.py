"""A synthetic store with three task kinds, for the board tests: a bone-like task ranked by surface
F1 (its Dice order is the reverse), a lesion-like task with lesion-free images, and a shift set
of it. Rows are written directly (no model runs), every per-case value known in advance."""
from __future__ import annotations

import json

import numpy as np

from sonobench.evaluator.metrics import METRICS, MetricKind, per_case_metrics
from sonobench.evaluator.metrics.defaults import BOARDS
from sonobench.evaluator.store import Store

N_CASES = 30
LONG_NAME = "an-extremely-long-model-name-that-would-wrap-any-terminal-table (converged, seed 7)"
# name -> per-case level of the task's primary metric; Dice runs the other way on the bone task
BONE = {"bone-a": 0.95, "bone-b": 0.85, LONG_NAME: 0.75, "bone-d": 0.55}
LESION = {"bone-a": 0.40, "lesion-x": 0.80, "lesion-y": 0.60}
SPECS = {
    "bone-like": {"primary_metric": "surface_f1", "metrics": list(BOARDS["thin-structure"])},
    "lesion-like": {"primary_metric": "dice", "metrics": list(BOARDS["region"])},
    "lesion-like-shift": {"primary_metric": "dice", "metrics": list(BOARDS["region"]), "parent": "lesion-like@1"},
}


def _values(level: float, k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    return np.clip(level + rng.normal(0, 0.02, N_CASES), 0, 1)


def _register(store: Store, task_id: str) -> None:
    spec = {"id": task_id, "version": 1, **SPECS[task_id]}
    store.db["tasks"].insert({"id": task_id, "version": 1, "digest": f"digest-{task_id}", "title": task_id,
                              "spec": json.dumps(spec), "registered_at": "2026-12-01T00:00:00+00:00"})


def _add(store: Store, task_id: str, name: str, primary: float, k: int, missing=("nsd",)) -> int:
    db = store.db
    sid = db["submissions"].insert({"file_sha256": f"{task_id}-{name}", "filename": "m.onnx", "format": "onnx",
                                    "name": name, "team": "a-team-with-a-rather-long-name", "kind": "submission",
                                    "task_id": task_id, "task_version": 1, "status": "done", "meta": "{}",
                                    "created_at": "2026-12-01", "updated_at": "2026-12-01"}).last_pk
    main = SPECS[task_id]["primary_metric"]
    per_case = {}
    for m in per_case_metrics():
        if m in missing:
            continue
        level = primary if m == main else (1.0 - primary if main != "dice" and m == "dice" else 0.5)
        v = _values(level, k * 100 + len(per_case))
        per_case[m] = v if METRICS.get(m).higher_is_better else 10 * (1 - v)
    row = {"submission_id": sid, "task_id": task_id, "task_version": 1, "manifest_digest": f"digest-{task_id}",
           "split": "test", "n_cases": N_CASES, "n_failed_cases": 0, "primary_metric": main, "hd95_unit": "mm",
           "params": 1_234_567 * (k + 1), "gflops": 1.5 * (k + 1), "latency_ms": 3.0, "private_cases": 0,
           "created_at": "2026-12-01T00:00:00+00:00", "nsd_tolerance": 0.26, "surface_tolerance": 0.5}
    for m, v in per_case.items():
        row.update({f"{m}_mean": float(v.mean()), f"{m}_std": float(v.std()),
                    f"{m}_ci_low": float(v.mean() - 0.01), f"{m}_ci_high": float(v.mean() + 0.01)})
    for m in (m for m in METRICS.names() if METRICS.get(m).kind is MetricKind.DETECTION):
        row.update({m: 0.5 + 0.1 * k, f"{m}_ci_low": 0.3, f"{m}_ci_high": 0.9, f"{m}_n": 8})
    rid = db["results"].insert(row).last_pk
    db["case_results"].insert_all({"result_id": rid, "case_id": f"c{i:03d}", "class_index": 1, "tp": 1, "fp": 0,
                                   "fn": 0, "failed": 0, **{m: float(v[i]) for m, v in per_case.items()}}
                                  for i in range(N_CASES))
    return sid


def build_board_store(path) -> dict:
    """The store at `path`; returns {(task, name): submission id}."""
    store = Store(path)
    for task_id in SPECS:
        _register(store, task_id)
    ids = {}
    for k, (name, level) in enumerate(BONE.items()):
        ids["bone-like", name] = _add(store, "bone-like", name, level, k)
    for k, (name, level) in enumerate(LESION.items()):
        ids["lesion-like", name] = _add(store, "lesion-like", name, level, 10 + k)
        ids["lesion-like-shift", name] = _add(store, "lesion-like-shift", name, level - 0.1, 20 + k)
    store.close()
    return ids
