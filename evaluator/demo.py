"""`sonobench demo`: the main job end to end on the default benchmark.

Picks the embedded default task (`sim-breast-lesion`) or, where it is absent,
builds the small toy task; loads the committed reference baselines; submits a
model through the sandboxed evaluator exactly as a user would.
"""
from __future__ import annotations

from pathlib import Path

from . import tasks as tasks_mod
from .errors import AlreadyScored, TaskNotFound
from .evaluate import evaluate
from .store import Store
from .submission import prepare
from .toy import build_toy_task, threshold_onnx

DEFAULT_TASK = "sim-breast-lesion"
TOY_TASK = "toy-lesion"


def default_task(log=print) -> tasks_mod.Task:
    try:
        return tasks_mod.get_task(DEFAULT_TASK)
    except TaskNotFound:
        pass
    try:
        return tasks_mod.get_task(TOY_TASK)
    except TaskNotFound:
        folder = tasks_mod.user_data_dir() / "tasks" / TOY_TASK / "v1"
        log(f"The simulated benchmark '{DEFAULT_TASK}' is not present; building the toy task at {folder}")
        return build_toy_task(folder, n=48, size=128)


def load_reference_baselines(store: Store, task: tasks_mod.Task, loader=None, log=print) -> int:
    """Reference rows through `loader(store, task, log=...)` (the CLI passes the one the
    baselines package provides; the evaluator itself never imports training code)."""
    return loader(store, task, log=log) if loader else 0


def run_demo(store: Store, log=print, reference_loader=None) -> tasks_mod.Task:
    task = default_task(log)
    log(f"Task: {task.ref} ({task.title}); {len(task.split('test'))} test cases, digest {task.digest[:12]}")
    n = load_reference_baselines(store, task, reference_loader, log)
    if n:
        log(f"Loaded {n} reference baseline result(s)")
    model = tasks_mod.user_data_dir() / "demo" / "intensity-threshold.onnx"
    model.parent.mkdir(parents=True, exist_ok=True)
    if not model.exists():
        threshold_onnx(model)
    sub = prepare(model, name="Intensity threshold (demo submission)", team="SonoBench demo")
    try:
        out = evaluate(store, task, sub, progress=None)
        log(f"Scored the demo submission #{out.submission_id}: Dice {out.result['dice_mean']:.3f}")
    except AlreadyScored as e:
        log(f"The demo submission is already on the leaderboard (#{e.submission_id})")
    return task
