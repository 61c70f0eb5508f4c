"""Score one submission on one task: verify the split, run the model in the
sandbox, validate every output, compute metrics, store the result atomically."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import __version__, imageio
from .errors import AlreadyScored, InvalidSubmission, SandboxFailure, SonoBenchError
from .metrics import METRICS, aggregate, score_case
from .sandbox import ModelProcess, SandboxConfig
from .store import Store
from .submission import Submission
from .tasks import Task, verify_task

SCORED_METRICS = ("dice", "iou", "hd95")
Progress = Callable[[int, int], None]


@dataclass
class Outcome:
    submission_id: int
    result: dict
    reused: bool = False  # True when this exact file was already scored on this task version


def hardware(config: SandboxConfig, isolation: str) -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": config.threads, "device": "cpu",
            "isolation": isolation, "python": platform.python_version(), "machine": platform.machine()}


def _summarize(task: Task, per_case: list[dict[int, dict]], unit: str) -> dict:
    """Aggregates over cases: per metric the macro mean over foreground classes, and per class."""
    out: dict = {}
    fg = range(1, task.num_classes)
    for m in SCORED_METRICS:
        agg = aggregate([float(np.mean([case[c][m] for c in fg])) for case in per_case])
        for k in ("mean", "std", "ci_low", "ci_high"):
            out[f"{m}_{k}"] = agg[k]
    out["per_class"] = {
        task.classes[c]: {m: aggregate([case[c][m] for case in per_case]) for m in SCORED_METRICS} for c in fg
    }
    out["hd95_unit"] = unit
    return out


def _infer_and_score(proc: ModelProcess, task: Task, sub: Submission, channels: int, cases, labels_root,
                     progress: Progress | None):
    per_case, rows, latencies = [], [], []
    max_bytes = task.num_classes * task.input_size[0] * task.input_size[1] * 8
    for i, case in enumerate(cases):
        image = imageio.load_gray(task.image_path(case))
        x = imageio.to_input(image, task.input_size, channels)
        resp, y = proc.request({"op": "infer", "case": case.id}, x, max_bytes=max_bytes)
        if not resp.get("ok"):
            raise SandboxFailure(f"the model failed on case {case.id}: {resp.get('error')}")
        if y is None:
            raise InvalidSubmission(f"the model returned no array for case {case.id}")
        try:
            scores = imageio.check_output(y, task.num_classes, task.input_size)
        except InvalidSubmission as e:
            raise InvalidSubmission(f"case {case.id}: {e}") from None
        pred = imageio.to_labels(scores, image.shape, sub.output.value)
        gt = imageio.load_label(task.label_path(case, labels_root))
        if gt.shape != image.shape:
            raise SonoBenchError(f"task {task.ref}: label of case {case.id} is {gt.shape}, image is {image.shape}")
        result = score_case(pred, gt, task.num_classes, spacing=task.spacing_mm)
        per_case.append(result)
        rows += [dict(case_id=case.id, class_index=c, failed=0, **{k: result[c][k] for k in
                      ("dice", "iou", "hd95", "tp", "fp", "fn")}) for c in sorted(result)]
        latencies.append(resp["latency_s"])
        if progress:
            progress(i + 1, len(cases))
    return per_case, rows, latencies


def evaluate(store: Store, task: Task, sub: Submission, *, kind: str = "submission", split: str = "test",
             config: SandboxConfig | None = None, labels_root=None, progress: Progress | None = None,
             extra_meta: dict | None = None) -> Outcome:
    """Score `sub` on `task`'s `split`. Raises AlreadyScored (with the existing id) for a repeat."""
    config = config or SandboxConfig()
    prior = store.find_scored(sub.sha256, task.id, task.version)
    if prior is not None and prior["status"] == "done":
        raise AlreadyScored(
            f"{sub.path.name} (SHA-256 {sub.sha256[:12]}…) was already scored on {task.ref} as submission "
            f"#{prior['id']}; it is not scored twice.", submission_id=prior["id"])
    cases = task.split(split)
    if not cases:
        raise SonoBenchError(f"task {task.ref} has no '{split}' cases")
    verify_task(task, splits=(split,), labels_root=labels_root)  # refuse before anything is stored
    store.register_task(task)
    meta = {"architecture": sub.architecture, "output": sub.output.value, "split": split, **sub.meta,
            **(extra_meta or {})}
    sid = store.create_submission(file_sha256=sub.sha256, filename=sub.path.name, fmt=sub.format.value, task=task,
                                  name=sub.name, team=sub.team, kind=kind, meta=meta)
    t0 = time.monotonic()
    try:
        with ModelProcess(sub.path, sub.format.value, config, sub.architecture) as proc:
            loaded = proc.load(task.input_size)
            channels = loaded["channels"]
            per_case, rows, latencies = _infer_and_score(proc, task, sub, channels, cases, labels_root, progress)
            end, _ = proc.request({"op": "end"})
            isolation = proc.isolation
        unit = METRICS.get("hd95").unit_for(task.spacing_mm)
        cx = loaded["complexity"]
        result = {
            "task_id": task.id, "task_version": task.version, "manifest_digest": task.digest, "split": split,
            "n_cases": len(cases), "n_failed_cases": 0, "primary_metric": task.primary_metric,
            **_summarize(task, per_case, unit),
            "params": cx.get("params"), "gflops": cx.get("gflops"),
            "complexity": {**cx, "input_shape": [1, channels, *task.input_size], "batch": 1},
            "latency_ms": 1000 * statistics.median(latencies), "peak_memory_mb": end.get("peak_rss_mb"),
            "hardware": hardware(config, isolation), "evaluator_version": __version__,
            "wall_s": time.monotonic() - t0,
        }
        store.write_result(sid, result, rows)
    except (SonoBenchError, OSError) as e:
        store.set_status(sid, "failed", str(e))
        raise
    except BaseException as e:  # KeyboardInterrupt etc.: never leave a 'running' row behind
        store.set_status(sid, "failed", f"evaluation interrupted: {type(e).__name__}")
        raise
    return Outcome(submission_id=sid, result=store.result_for(sid))
