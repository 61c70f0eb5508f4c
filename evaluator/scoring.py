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
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from . import __version__, imageio, summary
from .errors import InvalidSubmission, SandboxFailure, SonoBenchError
from .metrics import score_case
from .sandbox import Isolation, ModelProcess, SandboxConfig, isolation_for, policy, reports
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


class Phases:
    """Wall seconds per phase of one evaluation (written to the result's hardware facts, so
    `benchmarks/evaluator_overhead.py` can print where a submit's fixed cost goes)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._t
        self._t = now

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}


def score_prediction(task: Task, case, pred, labels_root=None, image=None) -> dict[int, dict]:
    """Score one predicted label map of `case` against its label the way the task defines:
    its spacing, NSD and surface tolerances and scan region. `image` (the case's native grey image) is
    read when the task's scan region needs it and it is not given. Every path that scores
    (a submission, a re-score of stored predictions, a GPU pack) calls this, so they agree."""
    gt = imageio.load_label(task.label_path(case, labels_root))
    if gt.shape != pred.shape:
        raise SonoBenchError(f"task {task.ref}: label of case {case.id} is {gt.shape}, prediction is {pred.shape}")
    region = None
    if task.scan_region is not None:
        region = task.region_for(case, imageio.load_gray(task.image_path(case)) if image is None else image)
    return score_case(pred, gt, task.num_classes, spacing=task.spacing_mm, nsd_tolerance=task.nsd_tolerance,
                      region=region, surface_tolerance=task.surface_tolerance)


def _score_one(task: Task, case, pred, image, labels_root):
    result = score_prediction(task, case, pred, labels_root, image)
    return result, imageio.label_png(pred)  # the PNG is kept so new metrics re-score without the model


def _infer_and_score(proc: ModelProcess, task: Task, sub: Submission, channels: int, cases, labels_root,
                     progress: Progress | None, phases: Phases):
    """Each case's metrics are computed on a scoring thread while the sandbox infers the next
    case (numpy and scipy release the GIL), so scoring adds little to the wall time."""
    rows, latencies, predictions, pending = [], [], {}, []
    max_bytes = task.num_classes * task.input_size[0] * task.input_size[1] * 8
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="score") as pool:
        for i, case in enumerate(cases):
            image = task.load_image(case)  # a corruption variant corrupts it here
            x = imageio.to_input(image, task.input_size, channels)
            phases.lap("cases: read + preprocess")
            resp, y, seconds = proc.timed_request({"op": "infer", "case": case.id}, x, max_bytes=max_bytes)
            phases.lap("cases: inference in the sandbox (incl. pipe)")
            if not reports.check_ok(resp, "inference"):
                raise SandboxFailure(f"the model failed on case {case.id}: {proc.model_error(resp)}")
            if y is None:
                raise InvalidSubmission(f"the model returned no array for case {case.id}")
            try:
                scores = imageio.check_output(y, task.num_classes, task.input_size)
            except InvalidSubmission as e:
                raise InvalidSubmission(f"case {case.id}: {e}") from None
            pred = imageio.to_labels(scores, image.shape, sub.output.value)
            pending.append(pool.submit(_score_one, task, case, pred, None if task.corruption else image, labels_root))
            phases.lap("cases: validate + resize")
            if i > 0 or len(cases) == 1:  # the first call pays for lazy initialisation: not counted
                latencies.append(seconds)
            if progress:
                progress(i + 1, len(cases))
        done = [f.result() for f in pending]
        phases.lap("cases: metrics left after the last inference")
    per_case = [result for result, _ in done]
    for case, (result, png) in zip(cases, done):
        rows += summary.case_rows(case.id, result)
        predictions[case.id] = png
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
        if not reports.check_ok(resp, "inference") or y is None:
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


LATENCY_NOTE = ("median over cases of the evaluator's own clock from writing the image to the sandbox pipe "
                "until the whole output was read back (pipe transfer both ways + the forward pass, batch 1); "
                "the first call (warm-up) is not counted")
MEMORY_NOTE = "largest VmHWM (peak resident set) among the sandbox's processes, read by the evaluator from /proc"


def onnx_complexity(sub: Submission, shape: list[int]) -> dict:
    """ONNX params/GFLOPs counted in the trusted process from the graph alone (never run)."""
    from .complexity import count_onnx

    try:
        return {**count_onnx(sub.path.read_bytes(), shape), "error": None, "source": "counted by the evaluator"}
    except Exception as e:  # a graph the counter cannot handle: no numbers, the reason instead
        return {"params": None, "gflops": None, "error": reports.clean_text(f"{type(e).__name__}: {e}"),
                "source": "counted by the evaluator"}


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
            if sub.code_globals[0].startswith("<"):
                why = (f"{sub.path.name} holds a pickle that SonoBench cannot fully parse, so it cannot be sure the "
                       "file holds only tensors: " + why)
            else:
                why = f"{sub.path.name} is a pickled Python object importing {', '.join(sub.code_globals[:3])}: " + why
        raise InvalidSubmission(why)
    cases = task.split(split)
    is_onnx = sub.format.value == "onnx"
    t0 = time.monotonic()
    phases = Phases()
    proc = ModelProcess(sub.files, sub.format.value, config, sub.architecture, isolation=iso)
    counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="complexity")
    try:
        with proc:
            phases.lap("sandbox start (spawn, child imports, hello)")
            loaded = proc.load(task.input_size, complexity=not is_onnx)
            channels = loaded["channels"]
            shape = [1, channels, *task.input_size]
            # The ONNX graph is counted in this (trusted) process while the sandbox infers: off the path.
            counted = counter.submit(onnx_complexity, sub, shape) if is_onnx else None
            phases.lap("model load (+ complexity count for PyTorch, child)")
            per_case, rows, latencies, predictions = _infer_and_score(proc, task, sub, channels, cases, labels_root,
                                                                      progress, phases)
            previews = _val_previews(proc, task, sub, channels) if split == "test" else {}
            phases.lap("validation previews")
            peak_mb = proc.peak_memory_mb()
            proc.request({"op": "end"})
    finally:
        counter.shutdown(wait=False, cancel_futures=True)
        if log_sink:
            log_sink(proc.private_log)
    phases.lap("sandbox end")
    cx = counted.result() if is_onnx else loaded["complexity"]
    phases.lap("ONNX complexity count left after the run (parent)")
    columns = summary.summary_columns(task, per_case)
    phases.lap("aggregates + bootstrap CIs")
    result = {
        "task_id": task.id, "task_version": task.version, "manifest_digest": task.digest, "split": split,
        "n_cases": len(cases), "n_failed_cases": 0, "primary_metric": task.primary_metric,
        **columns,
        "params": cx.get("params"), "gflops": cx.get("gflops"),
        "complexity": {**cx, "input_shape": shape, "batch": 1},
        "latency_ms": 1000 * statistics.median(latencies), "peak_memory_mb": peak_mb,
        "hardware": {**hardware(config, iso.mode, {**proc.facts, "external_data": [f.name for f in sub.companions]}),
                     **isolation_meta(iso),
                     "latency_measured": LATENCY_NOTE, "memory_measured": MEMORY_NOTE, "phases_s": phases.rounded()},
        "evaluator_version": __version__, "wall_s": time.monotonic() - t0,
        "private_cases": int(private_cases(task, split, settings)),
        "test_predictions": predictions,  # popped by Store.write_result into the predictions table
    }
    return result, rows, previews
