"""Sweep sets as tasks: a test-only child of a bone task whose task.json declares its sweeps,

    "sweeps": {"tolerance_mm": 1.0, "folders": ["sweeps/<sweep id>", ...]}

(folders relative to the task's data root, each written by `write_sweep`; every frame is a test case
with `meta.sweep`). Its frames are scored like any case by the one pipeline; `result_columns` adds
the 3D reconstruction aggregates (`sweep_<metric>_<stat>`, `sweep_tolerance`) to the result row
from the same stored predictions, so a submission to the parent gets its 3D scores as a follow-up."""
from __future__ import annotations

import numbers
from functools import lru_cache
from pathlib import Path

import numpy as np

from .mesh import MeshDistance
from .metrics import SweepScores, reconstruct, score_reconstruction, sweep_columns, visible_surface
from .structure import InvalidSweep, Sweep, read_sweep


def tolerance(task) -> float:
    """The τ (mm) the task's sweeps are scored at."""
    value = task.sweeps.get("tolerance_mm")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise InvalidSweep(f"{task.ref}: task.json 'sweeps.tolerance_mm' must be a positive number of mm, got {value!r}.")
    return float(value)


def task_sweeps(task) -> list[Sweep]:
    """The sweeps `task` declares, read from its data root; each frame must be a test case of it."""
    folders = task.sweeps.get("folders")
    if not isinstance(folders, list) or not folders:
        raise InvalidSweep(f"{task.ref}: task.json 'sweeps.folders' must list the sweep folders (relative to its data "
                           "root), e.g. [\"sweeps/tibia-1-along\"].")
    sweeps = [_read(str(Path(task.data_root) / f)) for f in folders]
    cases = {c.id for c in task.split("test")}
    for s in sweeps:
        missing = [f for f in s.frame_ids if f not in cases]
        if missing:
            raise InvalidSweep(f"{task.ref}: sweep {s.sweep_id} has frames that are not test cases of the task, e.g. "
                               f"{missing[:3]}: regenerate the sweep set.")
    return sweeps


@lru_cache(maxsize=64)
def _read(folder: str) -> Sweep:
    return read_sweep(folder)


@lru_cache(maxsize=64)
def _prepared(folder: str, tol: float) -> tuple[np.ndarray, MeshDistance]:
    """A sweep's visible surface samples and mesh distance (the same for every submission)."""
    sweep = _read(folder)
    return visible_surface(sweep, tol), MeshDistance(sweep.mesh)


def per_sweep(task, masks: dict) -> dict[str, SweepScores]:
    """{sweep id: scores} of predicted label maps `masks` (case id -> native-size array) on `task`'s
    sweeps; a frame without a mask counts as predicting no surface."""
    tol = tolerance(task)
    out = {}
    for folder, sweep in zip(task.sweeps["folders"], task_sweeps(task)):
        visible, distance = _prepared(str(Path(task.data_root) / folder), tol)
        out[sweep.sweep_id] = score_reconstruction(sweep, reconstruct(sweep, masks), visible, tol, distance)
    return out


def decode(predictions: dict) -> dict:
    """case id -> label map, from stored prediction PNGs (bytes) or arrays."""
    from sonobench.kernel.imageio import decode_png

    return {k: (decode_png(v) if isinstance(v, (bytes, bytearray, memoryview)) else np.asarray(v))
            for k, v in predictions.items()}


def result_columns(task, predictions: dict) -> dict:
    """The result row's sweep columns for `predictions` (case id -> PNG bytes or array); {} for a task
    without sweeps."""
    if not task.sweeps:
        return {}
    return sweep_columns(list(per_sweep(task, decode(predictions)).values()))


__all__ = ["decode", "per_sweep", "result_columns", "task_sweeps", "tolerance"]
