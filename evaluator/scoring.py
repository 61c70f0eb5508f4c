"""Run one submission in the sandbox and score it: the compute half of an evaluation.

`run_model` refuses what policy forbids, starts the model process, feeds it every
case of the split, validates each output, scores it against the label and returns
the result, the per-case rows and the validation previews without writing
anything. Orchestration (verification, the store, failures, logs) is in
`sonobench.evaluator.evaluate`, the one pipeline.
"""
from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sonobench.evaluator import summary
from sonobench.kernel import imageio
from sonobench.kernel.errors import InvalidSubmission, SandboxFailure
from sonobench.kernel.settings import Settings

from .result_row import aggregate, result_row, score_prediction  # noqa: F401  (score_prediction: its home before)
from .sandbox import Isolation, ModelProcess, SandboxConfig, isolation_for, policy, reports, watch
from .submission import Submission
from .sweeps import task as sweep_task
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


OVERLAPPED = "overlapped: "  # a phase on another thread, inside the main thread's phases' time


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


def _score_one(task: Task, case, pred, image, labels_root):
    result = score_prediction(task, case, pred, labels_root, image)
    return result, imageio.label_png(pred)  # the PNG is kept so new metrics re-score without the model


_FORKED: tuple | None = None  # (task, labels_root), inherited by the side processes at fork
_FORK_LOCK = threading.Lock()  # two evaluations in one process (threads) must not swap their _FORKED


def _forked_score(case, pred, image):
    task, labels_root = _FORKED
    return _score_one(task, case, pred, image, labels_root)


def _forked_score_batch(items):
    return [_forked_score(*args) for args in items]


def _die_with_parent() -> None:
    """A side process ends when the evaluator does, even by kill -9 (Linux PR_SET_PDEATHSIG);
    without it an orphan would wait on its task queue for ever."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _side_process(parent: int, nice: bool) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the evaluator died before the line above took effect
        os._exit(1)
    if nice:
        os.nice(19)


@dataclass(frozen=True)
class _Item:
    """One case's share of a batch's future."""
    batch: Future
    index: int

    def result(self):
        return self.batch.result()[self.index]


class _SideWork:
    """Where the evaluator's own work during a run happens (each case's metrics, the ONNX
    graph's complexity count): in forked processes, never on a thread of this process, whose
    GIL the inference loop needs.

    When the model's threads take every core (CPU inference with threads >= cores), work
    beside it slows it down more than the work itself costs: metrics computed beside a light
    model's inference made its loop ~2x slower on 2 cores (the model's synchronising threads
    wait for a core each time). Then the work is only collected (`defer`) and run after the
    last case, on every core. Otherwise (a GPU, or cores to spare) it runs while the model
    infers, at low priority (nice 19). The processes are forked before the sandbox and its
    threads start; where forking is unavailable (or the pool breaks) the work runs on one
    thread here, with the same functions."""

    def __init__(self, task: Task, labels_root, workers: int, defer: bool = False):
        global _FORKED
        self.pool: Executor | None = None
        self.defer, self.deferred, self.futures, self.workers = defer, [], {}, workers
        try:
            with _FORK_LOCK:
                _FORKED = (task, labels_root)
                pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                           initializer=_side_process, initargs=(os.getpid(), not defer))
                pool.submit(int).result(timeout=30)  # forks every worker now, before any thread of ours starts
            self.pool = pool
        except Exception:  # no fork here, or a daemonic parent: a thread
            self.pool = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="side-work")
        score = lambda case, pred, image: _score_one(task, case, pred, image, labels_root)  # noqa: E731
        self._local = {_forked_score: score, _forked_score_batch: lambda items: [score(*a) for a in items]}

    def call(self, fn, *args) -> int:
        """Queue `fn(*args)` (a module-level function); returns a handle for `result`."""
        handle = len(self.deferred)
        self.deferred.append((fn, args))
        if not self.defer:
            self.futures[handle] = self._submit(fn, args)
        return handle

    def flush(self) -> None:
        """Start what was deferred: the rest (the complexity count) first, then the cases in a
        few batches per process (one call per case costs more in messages than in metrics)."""
        if not self.defer:
            return
        self.defer = False
        cases = [h for h, (fn, _) in enumerate(self.deferred) if fn is _forked_score]
        for h, (fn, args) in enumerate(self.deferred):
            if fn is not _forked_score:
                self.futures[h] = self._submit(fn, args)
        size = max(1, -(-len(cases) // (2 * self.workers)))
        for k in range(0, len(cases), size):
            handles = cases[k:k + size]
            batch = self._submit(_forked_score_batch, ([self.deferred[h][1] for h in handles],))
            for i, h in enumerate(handles):
                self.futures[h] = _Item(batch, i)

    def _submit(self, fn, args):
        if self.pool is not None:
            try:
                return self.pool.submit(fn, *args)
            except (BrokenProcessPool, RuntimeError):
                self.pool = None
        return self.thread.submit(self._local.get(fn, fn), *args)

    def result(self, handle: int):
        self.flush()
        try:
            return self.futures[handle].result()
        except BrokenProcessPool:  # a side process died (e.g. killed): do it here
            fn, args = self.deferred[handle]
            return self._local.get(fn, fn)(*args)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.thread.shutdown(wait=True, cancel_futures=True)


def _infer(proc: ModelProcess, task: Task, sub: Submission, channels: int, cases,
           progress: Progress | None, phases: Phases, side: _SideWork) -> tuple[list[int], list[float]]:
    """Run every case; returns the side-work handles of their metrics and the latencies. A
    writer thread reads and preprocesses the next images and keeps the sandbox's next input
    waiting in its pipe (`ModelProcess.stream`), this thread checks each output as it arrives,
    and `side` computes the metrics (see `_SideWork`): the sandbox never waits for the evaluator."""
    latencies, pending = [], []
    max_bytes = task.num_classes * task.input_size[0] * task.input_size[1] * 8
    read_s = [0.0]

    def requests():
        for case in cases:
            t0 = time.perf_counter()
            image = task.load_image(case)  # a corruption variant corrupts it here
            x = imageio.to_input(image, task.input_size, channels)
            read_s[0] += time.perf_counter() - t0
            yield {"op": "infer", "case": case.id}, x, (case, image)

    for i, ((case, image), resp, y, seconds) in enumerate(proc.stream(requests(), max_bytes=max_bytes)):
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
        image = None if task.corruption else image  # a corrupted image is not the scan region's source
        pending.append(side.call(_forked_score, case, pred, image))
        phases.lap("cases: validate + resize")
        if i > 0 or len(cases) == 1:  # the first call pays for lazy initialisation: not counted
            latencies.append(seconds)
        if progress:
            progress(i + 1, len(cases))
    phases.seconds[OVERLAPPED + "cases: read + preprocess (writer thread)"] = read_s[0]
    return pending, latencies


def _gather(side: _SideWork, cases, pending) -> tuple[list[dict], list[dict], dict[str, bytes]]:
    """Each case's metrics and prediction PNG, in case order, once the side work has them."""
    rows, predictions, per_case = [], {}, []
    for case, handle in zip(cases, pending):
        result, png = side.result(handle)
        per_case.append(result)
        rows += summary.case_rows(case.id, result)
        predictions[case.id] = png
    return per_case, rows, predictions


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


LATENCY_NOTE = ("median over cases of the evaluator's own clock from the moment the sandbox could start the "
                "case (its image wholly in the pipe, the previous output read back) until the whole output was "
                "read back (the forward pass, batch 1, + the pipe transfers); "
                "the first call (warm-up) is not counted")
MEMORY_NOTE = watch.NOTE  # sampled by the parent: the model cannot reset it (see sandbox/watch.py)


_ONNX_COUNTS: dict[tuple[str, tuple[int, ...]], dict] = {}  # (file sha256, input shape) -> count, per process


def onnx_complexity(path: str, shape: list[int]) -> dict:
    """ONNX params/GFLOPs counted in a trusted process from the graph alone (never run)."""
    from .complexity import count_onnx

    try:
        return {**count_onnx(Path(path).read_bytes(), shape), "error": None, "source": "counted by the evaluator"}
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
    cores = os.cpu_count() or 1
    defer = not config.gpu and config.threads >= cores  # the model takes every core (see _SideWork)
    side = _SideWork(task, labels_root, workers=min(8, cores) if defer else min(2, cores), defer=defer)
    phases.lap("side-work processes (fork)")
    proc = ModelProcess(sub.files, sub.format.value, config, sub.architecture, isolation=iso)
    count = None
    try:
        with proc:
            phases.lap("sandbox start (spawn, child imports, hello)")
            loaded = proc.load(task.input_size, complexity=not is_onnx)
            channels = loaded["channels"]
            shape = [1, channels, *task.input_size]
            cx = loaded["complexity"]
            if is_onnx:  # counted from the graph in a trusted process, off the inference path
                cx = _ONNX_COUNTS.get((sub.sha256, tuple(shape)))
                count = side.call(onnx_complexity, str(sub.path), shape) if cx is None else None
            phases.lap("model load (+ complexity count for PyTorch, child)")
            pending, latencies = _infer(proc, task, sub, channels, cases, progress, phases, side)
            previews = _val_previews(proc, task, sub, channels) if split == "test" else {}
            phases.lap("validation previews")
            peak_mb = proc.peak_memory_mb()
            proc.request({"op": "end"})
            phases.lap("sandbox end")
        if log_sink:
            log_sink(proc.private_log)
            log_sink = None
        per_case, rows, predictions = _gather(side, cases, pending)
        phases.lap("cases: metrics left after the last inference")
        if count is not None:
            cx = side.result(count)
            if not cx.get("error"):
                _ONNX_COUNTS[(sub.sha256, tuple(shape))] = cx
        phases.lap("ONNX complexity count left after the run")
    finally:
        side.close()
        if log_sink:
            log_sink(proc.private_log)
    columns = aggregate(task, per_case, [c.id for c in cases])
    columns.update(sweep_task.result_columns(task, predictions))  # a sweep set's 3D scores ({} elsewhere)
    phases.lap("aggregates + bootstrap CIs")
    result = result_row(
        task, split=split, n_cases=len(cases), columns=columns,
        complexity={**cx, "input_shape": shape, "batch": 1},
        latency_ms=1000 * statistics.median(latencies), peak_memory_mb=peak_mb,
        hardware={**hardware(config, iso.mode, {**proc.facts, "external_data": [f.name for f in sub.companions]}),
                  **({"model_output": loaded["output"]} if loaded.get("output") else {}),
                  **isolation_meta(iso),
                  "latency_measured": LATENCY_NOTE, "memory_measured": MEMORY_NOTE, "phases_s": phases.rounded()},
        wall_s=time.monotonic() - t0, private_cases=private_cases(task, split, settings),
        test_predictions=predictions)
    return result, rows, previews
