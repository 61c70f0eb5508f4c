"""Run one submission in the sandbox and score it: the compute half of an evaluation.

`run_model` refuses what policy forbids, starts the model process, feeds it every
case of the split, validates each output, scores it against the label and returns
the result, the per-case rows and the validation previews without writing
anything. Orchestration (verification, the store, failures, logs) is in
`evaluator.evaluate`, the one pipeline.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

from . import __version__, imageio, summary
from .errors import InvalidSubmission, SandboxFailure, SonoBenchError
from .metrics import score_case
from .sandbox import Isolation, ModelProcess, SandboxConfig, isolation_for, policy
from .settings import Settings
from .submission import Submission
from .tasks import Task

Progress = Callable[[int, int], None]
LogSink = Callable[[str], None]


def hardware(config: SandboxConfig, isolation: str, sandbox: dict | None = None) -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": config.threads, "device": "cuda" if config.gpu else "cpu",
            "isolation": isolation, "sandbox": sandbox or {}, "python": platform.python_version(),
            "machine": platform.machine()}


def _infer_and_score(proc: ModelProcess, task: Task, sub: Submission, channels: int, cases, labels_root,
                     progress: Progress | None):
    per_case, rows, latencies, predictions = [], [], [], {}
    max_bytes = task.num_classes * task.input_size[0] * task.input_size[1] * 8
    for i, case in enumerate(cases):
        image = imageio.load_gray(task.image_path(case))
        x = imageio.to_input(image, task.input_size, channels)
        resp, y = proc.request({"op": "infer", "case": case.id}, x, max_bytes=max_bytes)
        if not resp.get("ok"):
            raise SandboxFailure(f"the model failed on case {case.id}: {proc.model_error(resp)}")
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
        result = score_case(pred, gt, task.num_classes, spacing=task.spacing_mm, nsd_tolerance=task.nsd_tolerance)
        per_case.append(result)
        rows += summary.case_rows(case.id, result)
        predictions[case.id] = imageio.label_png(pred)  # kept so new metrics re-score without the model
        if not resp.get("warmup") or len(cases) == 1:
            latencies.append(resp["latency_s"])
        if progress:
            progress(i + 1, len(cases))
    return per_case, rows, latencies, predictions


PREVIEW_CASES = 3  # validation cases whose predictions are kept for the app's overlays


def _val_previews(proc: ModelProcess, task: Task, sub: Submission, channels: int) -> dict[str, bytes]:
    """Predict a few validation cases in the same sandbox and keep their label maps as PNG.
    Only validation cases: test images and predictions are never kept or shown."""
    previews = {}
    max_bytes = task.num_classes * task.input_size[0] * task.input_size[1] * 8
    for case in task.split("val")[:PREVIEW_CASES]:
        image = imageio.load_gray(task.image_path(case))
        resp, y = proc.request({"op": "infer", "case": case.id}, imageio.to_input(image, task.input_size, channels),
                               max_bytes=max_bytes)
        if not resp.get("ok") or y is None:
            raise SandboxFailure(f"the model failed on validation case {case.id}: {proc.model_error(resp)}")
        scores = imageio.check_output(y, task.num_classes, task.input_size)
        previews[case.id] = imageio.label_png(imageio.to_labels(scores, image.shape, sub.output.value))
    return previews


def plan_isolation(config: SandboxConfig, settings: Settings) -> Isolation:
    """The isolation this run gets; an operator's 'bwrap' requirement is enforced here."""
    return isolation_for("bwrap" if settings.require_isolation == "bwrap" else config.isolation)


def isolation_meta(iso: Isolation) -> dict:
    warning = policy.weak_warning(iso.mode)
    meta = {"isolation": iso.mode}
    if warning:
        meta["warnings"] = [warning + (f" ({iso.why_not_bwrap})" if iso.why_not_bwrap else "")]
    return meta


def private_cases(task: Task, split: str, settings: Settings) -> bool:
    return split == "test" and (task.test_labels_private or settings.private_test_split)


def run_model(task: Task, sub: Submission, *, split: str, config: SandboxConfig, iso: Isolation,
              settings: Settings, labels_root=None, progress: Progress | None = None,
              log_sink: LogSink | None = None) -> tuple[dict, list[dict], dict[str, bytes]]:
    """Run `sub` in the sandbox on `task`'s `split` and score it; returns (result, per-case rows,
    validation previews). A case the model fails on (crash, bad output) fails the whole run with
    the case named, so a stored result always has `n_failed_cases` = 0: a benchmark fails loudly
    instead of averaging over the cases that happened to work."""
    why = policy.refusal(sub.format.value, iso.mode, allow_pickle=config.allow_pickle,
                         why_no_bwrap=iso.why_not_bwrap, embedded_code=sub.code_globals)
    if why:
        if sub.format.value == "pickle" and sub.code_globals and not config.allow_pickle:
            why = f"{sub.path.name} is a pickled Python object importing {', '.join(sub.code_globals[:3])}: " + why
        raise InvalidSubmission(why)
    cases = task.split(split)
    t0 = time.monotonic()
    proc = ModelProcess(sub.files, sub.format.value, config, sub.architecture, isolation=iso)
    try:
        with proc:
            loaded = proc.load(task.input_size)
            channels = loaded["channels"]
            per_case, rows, latencies, predictions = _infer_and_score(proc, task, sub, channels, cases, labels_root, progress)
            previews = _val_previews(proc, task, sub, channels) if split == "test" else {}
            end, _ = proc.request({"op": "end"})
    finally:
        if log_sink:
            log_sink(proc.private_log)
    cx = loaded["complexity"]
    result = {
        "task_id": task.id, "task_version": task.version, "manifest_digest": task.digest, "split": split,
        "n_cases": len(cases), "n_failed_cases": 0, "primary_metric": task.primary_metric,
        **summary.summary_columns(task, per_case),
        "params": cx.get("params"), "gflops": cx.get("gflops"),
        "complexity": {**cx, "input_shape": [1, channels, *task.input_size], "batch": 1},
        "latency_ms": 1000 * statistics.median(latencies), "peak_memory_mb": end.get("peak_rss_mb"),
        "hardware": {**hardware(config, iso.mode, proc.facts), **isolation_meta(iso)},
        "evaluator_version": __version__, "wall_s": time.monotonic() - t0,
        "private_cases": int(private_cases(task, split, settings)),
        "test_predictions": predictions,  # popped by Store.write_result into the predictions table
    }
    return result, rows, previews
