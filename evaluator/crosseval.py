"""The cross-dataset (zero-shot) matrix: one model scored on every task of a family.

Rows are (model, training set), columns the family's tasks, cells the column
task's primary metric with its bootstrap CI; the in-domain cell (the model's own
training task) is marked. UltraSeg's train->test generalisation gap, generalised
across datasets.

Every cell is an ordinary stored submission scored by the one evaluation
pipeline (`evaluate.evaluate`): `score_family` submits the model file to each task
with `meta.crosseval = {trained_on, family, model_sha256}`, and `family_matrix`
reads the matrix back from the store, so no schema change is needed and the same
numbers appear on each task's leaderboard. A cell's row is attributed to its
training set by, in order: its `crosseval.trained_on`; a baseline's own task
(its `training.manifest_digest` is that task's); a sibling cell of the same model
file that names one. Submissions with no known training set are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sonobench.kernel.errors import AlreadyScored, SonoBenchError

from .tasks import Task, family_tasks, get_task


@dataclass(frozen=True)
class ModelSource:
    """A model file to score, and what it was trained on."""
    path: Path
    trained_on: str            # task ref id@version
    name: str
    team: str = ""
    kind: str = "submission"
    architecture: dict | None = None


def model_key(row: dict) -> str:
    """What identifies one model across its cells: the SHA-256 of its file (a reference row's ONNX)."""
    meta = row.get("meta") or {}
    return ((meta.get("crosseval") or {}).get("model_sha256") or (meta.get("reference") or {}).get("onnx_sha256")
            or row["file_sha256"])


def _own_training_task(row: dict, task: Task) -> str | None:
    meta = row.get("meta") or {}
    cross = (meta.get("crosseval") or {}).get("trained_on")
    if cross:
        return cross
    training = meta.get("training") or {}
    if row.get("kind") == "baseline" and training.get("manifest_digest") == task.digest:
        return task.ref
    return None


def _cell(row: dict, task: Task, trained_on: str) -> dict:
    m = task.primary_metric
    return {"submission_id": row["submission_id"], "metric": m, "mean": row.get(f"{m}_mean"),
            "ci_low": row.get(f"{m}_ci_low"), "ci_high": row.get(f"{m}_ci_high"), "n_cases": row.get("n_cases"),
            "in_domain": trained_on.split("@")[0] == task.id}


def family_matrix(store, family: str, model_sha256: str | None = None) -> dict:
    """The matrix of `family` from the store (optionally one model's rows only)."""
    tasks = family_tasks(family)
    rows_by_task = {t.ref: [r for r in store.leaderboard_rows(t.id, t.version)] for t in tasks}
    known: dict[str, str] = {}  # model key -> a training set named by one of its cells
    for task in tasks:
        for r in rows_by_task[task.ref]:
            own = _own_training_task(r, task)
            if own:
                known.setdefault(model_key(r), own)
    matrix: dict[tuple[str, str], dict] = {}
    for task in tasks:
        for r in rows_by_task[task.ref]:
            key = model_key(r)
            if model_sha256 and key != model_sha256:
                continue
            trained_on = _own_training_task(r, task) or known.get(key)
            if trained_on is None:
                continue
            name = ((r.get("meta") or {}).get("crosseval") or {}).get("model_name") or r["name"]
            entry = matrix.setdefault((key, trained_on), {"model": name, "team": r.get("team") or "",
                                                          "kind": r.get("kind"), "model_sha256": key,
                                                          "trained_on": trained_on, "cells": {}})
            entry["cells"].setdefault(task.ref, _cell(r, task, trained_on))  # the earliest scoring of a cell
    rows = sorted(matrix.values(), key=lambda e: (e["trained_on"], e["model"], e["model_sha256"]))
    for e in rows:
        e["cells"] = {t.ref: e["cells"].get(t.ref) for t in tasks}
    return {"family": family, "columns": [{"task": t.ref, "title": t.title, "primary_metric": t.primary_metric}
                                          for t in tasks], "rows": rows}


def score_family(store, source: ModelSource, family: str, *, labels_root=None, settings=None, log=print) -> dict:
    """Score the model on every task of `family` through the one pipeline; returns
    {task ref: submission id or {'error': reason}} and leaves the cells in the store."""
    from sonobench.kernel.settings import load_settings

    from .evaluate import evaluate, prepare_or_reject

    settings = settings or load_settings()
    trained_on = get_task(source.trained_on).ref  # a task that exists (did-you-mean otherwise), with its version
    out: dict[str, int | dict] = {}
    for task in family_tasks(family):
        # off the diagonal the name says where the model was trained: the cell is also a row of that
        # task's leaderboard, where a zero-shot model must not pass for one trained on the task
        in_domain = task.id == trained_on.split("@")[0]
        name = source.name if in_domain else f"{source.name} [trained on {trained_on}]"
        sub = prepare_or_reject(store, task, source.path, name=name, team=source.team,
                                architecture=source.architecture, kind=source.kind, settings=settings)
        meta = {"crosseval": {"trained_on": trained_on, "family": family, "model_sha256": sub.sha256,
                              "model_name": source.name}}
        try:
            out[task.ref] = evaluate(store, task, sub, kind=source.kind, labels_root=labels_root, extra_meta=meta,
                                     settings=settings).submission_id
            log(f"{task.ref}: scored as #{out[task.ref]}")
        except AlreadyScored as e:
            out[task.ref] = e.submission_id
            log(f"{task.ref}: already scored as #{e.submission_id}; reused")
        except SonoBenchError as e:  # one task the model cannot run on must not hide the others
            out[task.ref] = {"error": str(e)}
            log(f"{task.ref}: failed: {e}")
    return out


def format_cell(cell: dict | None, digits: int = 3) -> str:
    if cell is None:
        return "-"
    if cell["mean"] is None:
        return "n/a"
    ci = f" [{cell['ci_low']:.{digits}f}, {cell['ci_high']:.{digits}f}]" if cell["ci_low"] is not None else ""
    return f"{cell['mean']:.{digits}f}{ci}{' *' if cell['in_domain'] else ''}"


def matrix_table(matrix: dict) -> list[dict]:
    """Display rows: 'trained on' and 'model', then one formatted cell per column task."""
    return [{"trained on": r["trained_on"], "model": r["model"],
             **{c["task"]: format_cell(r["cells"][c["task"]]) for c in matrix["columns"]}} for r in matrix["rows"]]


def source_from_path(path, trained_on: str | None, name: str | None) -> ModelSource:
    """A model file (needs `trained_on`) or a `sonobench baselines run` folder (its run.json names the
    task, the ONNX file and the architecture)."""
    import json

    path = Path(path)
    run = path / "run.json" if path.is_dir() else path.parent / "run.json"
    record = json.loads(run.read_text()) if run.is_file() else None
    if path.is_dir():
        if record is None:
            raise SonoBenchError(f"{path} is a folder without run.json; pass the model file and --trained-on TASK")
        path = Path(record["onnx"]["path"])
    if record and Path(record["onnx"]["path"]).resolve() == path.resolve():
        return ModelSource(path, trained_on or record["task"], name or record["name"], team="SonoBench baselines",
                           kind="baseline", architecture=record.get("architecture"))
    if not trained_on:
        raise SonoBenchError(f"{path}: name the task it was trained on with --trained-on TASK (id@version), so "
                             "its row of the matrix and the in-domain cell are known")
    return ModelSource(path, trained_on, name or path.stem)
