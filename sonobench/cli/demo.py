"""`sonobench demo`: the main job end to end on the default benchmark.

Picks the embedded default task (`sim-breast-lesion`) or, where it is absent,
builds the small toy task; loads the committed reference baselines (of every task on
this machine); submits a model through the sandboxed evaluator exactly as a user would,
then scores it on the default task's acquisition-shift sets like any submission.
"""
from __future__ import annotations

from sonobench.cli.toy import build_toy_task, threshold_onnx
from sonobench.evaluator import tasks as tasks_mod
from sonobench.evaluator.evaluate import evaluate
from sonobench.evaluator.store import Store
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.summary import headline_text
from sonobench.evaluator.tasks import DEFAULT_TASK
from sonobench.kernel.errors import AlreadyScored, TaskNotFound

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


def _other_tasks(default: tasks_mod.Task) -> list[tasks_mod.Task]:
    """Every other discoverable task version that is not a shift set, archived ones included
    (their committed reference rows are loaded too, so each task's leaderboard, and an older
    version's, has its baselines)."""
    out = []
    for name, versions in sorted(tasks_mod.discover().items()):
        for version, folder in sorted(versions.items()):
            if (name, version) == (default.id, default.version):
                continue
            try:
                task = tasks_mod.load_task_folder(folder)
            except Exception:  # an unreadable task is `sonobench tasks`' business, not the demo's
                continue
            if not task.parent:
                out.append(task)
    return out


def run_demo(store: Store, log=print, reference_loader=None, settings=None) -> tasks_mod.Task:
    from sonobench.evaluator import follow_ups, task_sets
    from sonobench.evaluator.evaluate import Request
    from sonobench.kernel.settings import load_settings

    task = default_task(log)
    log(f"Task: {task.ref} ({task.title}); {len(task.split('test'))} test cases, digest {task.digest[:12]}")
    n = load_reference_baselines(store, task, reference_loader, log)
    others = sum(load_reference_baselines(store, t, reference_loader, log) for t in _other_tasks(task))
    if n or others:
        log(f"Loaded {n} reference baseline result(s) for {task.ref}" + (f" and {others} for the other tasks" if others else ""))
    model = tasks_mod.user_data_dir() / "demo" / "intensity-threshold.onnx"
    model.parent.mkdir(parents=True, exist_ok=True)
    if not model.exists():
        threshold_onnx(model)
    sub = prepare(model, name="Intensity threshold (demo submission)", team="SonoBench demo")
    try:
        out = evaluate(store, task, sub, progress=None)
        log(f"Scored the demo submission #{out.submission_id}: {headline_text(out.result, 3)}")
        sid = out.submission_id
    except AlreadyScored as e:
        log(f"The demo submission is already on the leaderboard (#{e.submission_id})")
        sid = e.submission_id
    if task_sets.follow_up_sets(task, Request.for_task(task)):  # as for every submission: its shift and sweep sets after the main one
        settings = settings or load_settings()
        outcomes = follow_ups.score_shifts(store, task, sub, Request.for_task(task), settings, sid)
        done = [o for o in outcomes if o.error is None]
        log(f"Scored it on {len(done)} of {len(outcomes)} acquisition-shift set(s) "
            f"(`sonobench leaderboard {task.id} --view robustness`)")
    return task
