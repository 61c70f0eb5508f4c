"""Score one submission on one task: verify the split, run the model in the
sandbox, validate every output, compute metrics, store the result atomically.

`run_model` is the part shared by inline evaluation (`evaluate`) and the job
queue's workers: it refuses what policy forbids, runs the sandbox and returns
the result without writing it, so each caller commits in its own way (the
queue checks its lease in the same transaction). Failure reasons are the
evaluator's own sentences; what the model printed goes to a private log.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__, imageio, scoring
from .errors import AlreadyScored, InvalidSubmission, SandboxFailure, SonoBenchError
from .metrics import score_case
from .sandbox import Isolation, ModelProcess, SandboxConfig, isolation_for, policy
from .settings import Settings, load_settings
from .store import Store
from .store import jobs as store_jobs
from .submission import FileLimits, Submission, combined_sha256, prepare
from .tasks import Task, sha256_file, verify_task

Progress = Callable[[int, int], None]
LogSink = Callable[[str], None]


@dataclass
class Outcome:
    submission_id: int
    result: dict
    reused: bool = False  # True when this exact file was already scored on this task version


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
        rows += scoring.case_rows(case.id, result)
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
    iso = isolation_for("bwrap" if settings.require_isolation == "bwrap" else config.isolation)
    return iso


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
              log_sink: LogSink | None = None) -> tuple[dict, list[dict]]:
    """Run `sub` in the sandbox on `task`'s `split` and score it; returns (result, per-case rows)."""
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
        **scoring.summary_columns(task, per_case),
        "params": cx.get("params"), "gflops": cx.get("gflops"),
        "complexity": {**cx, "input_shape": [1, channels, *task.input_size], "batch": 1},
        "latency_ms": 1000 * statistics.median(latencies), "peak_memory_mb": end.get("peak_rss_mb"),
        "hardware": {**hardware(config, iso.mode, proc.facts), **isolation_meta(iso)},
        "evaluator_version": __version__, "wall_s": time.monotonic() - t0,
        "private_cases": int(private_cases(task, split, settings)),
        "test_predictions": predictions,
    }
    return result, rows, previews


def evaluate(store: Store, task: Task, sub: Submission, *, kind: str = "submission", split: str = "test",
             config: SandboxConfig | None = None, labels_root=None, progress: Progress | None = None,
             extra_meta: dict | None = None, settings: Settings | None = None) -> Outcome:
    """Score `sub` on `task`'s `split`. Raises AlreadyScored (with the existing id) for a repeat,
    QuotaExceeded when the team is over its daily cap."""
    settings = settings or load_settings()
    config = config or settings.sandbox_config()
    prior = store.find_scored(sub.sha256, task.id, task.version)
    if prior is not None and prior["status"] == "done":
        raise AlreadyScored(
            f"{sub.path.name} (SHA-256 {sub.sha256[:12]}…) was already scored on {task.ref} as submission "
            f"#{prior['id']}; it is not scored twice.", submission_id=prior["id"])
    if not task.split(split):
        raise SonoBenchError(f"task {task.ref} has no '{split}' cases")
    verify_task(task, splits=(split,), labels_root=labels_root)  # refuse before anything is stored
    iso = plan_isolation(config, settings)
    store_jobs.register_task(store, task)
    meta = {"architecture": sub.architecture, "output": sub.output.value, "split": split, **sub.meta,
            **isolation_meta(iso), **(extra_meta or {})}
    sid, _ = store_jobs.create_submission(
        store, settings, file_sha256=sub.sha256, filename=sub.path.name, fmt=sub.format.value, task=task,
        name=sub.name, team=sub.team, kind=kind, meta=meta)
    log: list[str] = []
    try:
        result, rows, previews = run_model(task, sub, split=split, config=config, iso=iso, settings=settings,
                                           labels_root=labels_root, progress=progress, log_sink=log.append)
        store.write_result(sid, result, rows, val_predictions=previews)
    except (SonoBenchError, OSError) as e:
        store_jobs.mark_failed(store, sid, str(e))
        raise
    except BaseException as e:  # KeyboardInterrupt etc.: never leave a 'running' row behind
        store_jobs.mark_failed(store, sid, f"evaluation interrupted: {type(e).__name__}")
        raise
    finally:
        store_jobs.save_log(store, sid, "".join(log))
    return Outcome(submission_id=sid, result=store.result_for(sid))


def _rejected_sha(path: Path) -> str | None:
    if path.is_file() and not path.is_symlink():
        return sha256_file(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.is_symlink())
        return combined_sha256(files) if files else None
    return None


def prepare_or_reject(store: Store, task: Task, path, *, spec: dict | None = None, name: str | None = None,
                      team: str | None = None, architecture=None, output: str | None = None,
                      kind: str = "submission", settings: Settings | None = None) -> Submission:
    """`prepare` the file; one refused by the checks still gets a failed row with the reason
    (so the submitter can read it, and it counts as a failure for the team's quota)."""
    settings = settings or load_settings()
    path = Path(path)
    try:
        return prepare(path, spec, name=name, team=team, architecture=architecture, output=output,
                       limits=FileLimits.from_settings(settings))
    except InvalidSubmission as e:
        sha = _rejected_sha(path)
        if sha is not None:
            spec = spec or {}
            store_jobs.record_rejection(store, file_sha256=sha, filename=path.name, task=task,
                                        name=name or spec.get("name") or path.stem,
                                        team=team or spec.get("team") or "", kind=kind, reason=str(e))
        raise


def evaluate_path(store: Store, task: Task, path, *, spec: dict | None = None, name: str | None = None,
                  team: str | None = None, architecture=None, output: str | None = None,
                  kind: str = "submission", settings: Settings | None = None, **kwargs) -> Outcome:
    """Check the file (recording a refusal), then `evaluate` it."""
    settings = settings or load_settings()
    sub = prepare_or_reject(store, task, path, spec=spec, name=name, team=team, architecture=architecture,
                            output=output, kind=kind, settings=settings)
    return evaluate(store, task, sub, kind=kind, settings=settings, **kwargs)
