"""The one evaluation pipeline: prepare -> plan -> sandboxed run -> score -> commit (or fail + log).

Whatever starts an evaluation goes through here: the intake (`sonobench.evaluator.intake.submit`,
called by `sonobench submit` and by the app's Evaluate) scores inline with `evaluate` or
queues with `sonobench.evaluator.queue.enqueue`; the queue's workers (`sonobench.evaluator.queue.process_job`)
and a cluster backend run `compute` + `commit`. Prediction submissions
(`sonobench.evaluator.predictions_score`) have no model to run and use `commit` only.
The work has two halves so that a remote node can do the first and the store's
single writer the second:

- `compute(task, sub, request, settings)` verifies the split, plans the isolation,
  runs the model in the sandbox and scores it. It never touches the store and
  never raises for a failed evaluation: it returns an `Attempt` holding the result
  (or the failure), and the model's private log. An `Attempt` pickles.
- `commit(store, submission_id, attempt, job=None)` writes the result in one
  transaction, or records the failure, and saves the log. With a `job`, the
  write happens only while that job's lease is still held.

Every option that changes how a submission is scored (split, labels, isolation,
GPU, threads, wall limit, pickle permission) is a field of `Request`, which is
what an enqueued job carries (`Request.to_payload` / `from_payload`).
Failure reasons are the evaluator's own sentences; what the model printed goes
to the private log only.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from sonobench.evaluator.sandbox import sandbox_config
from sonobench.kernel.errors import EvaluationStopped, InvalidSubmission, SonoBenchError
from sonobench.kernel.settings import Settings, load_settings

from .sandbox import ISOLATION_MODES, SandboxConfig, bounds
from .scoring import Progress, isolation_meta, plan_isolation, run_model
from .store import Store
from .store import jobs as store_jobs
from .submission import FileLimits, Submission, combined_sha256, prepare
from .tasks import Task, sha256_file, verify_task

__all__ = ["Request", "Attempt", "Outcome", "compute", "commit", "evaluate", "evaluate_path",
           "prepare_or_reject", "start_submission"]


@dataclass
class Outcome:
    submission_id: int
    result: dict


@dataclass(frozen=True)
class Request:
    """How to score a submission: everything besides the model files that changes the run.
    `None` means "the scorer's default" (the operator settings, or the worker's own flags)."""

    task: str                       # task ref, id@version
    split: str = "test"
    labels_root: str | None = None
    kind: str = "submission"
    isolation: str | None = None    # auto | bwrap | unshare | none
    gpu: bool = False
    threads: int | None = None
    wall_seconds: float | None = None
    allow_pickle: bool = False
    extra_meta: dict = field(default_factory=dict)
    follow_up_of: int | None = None  # the submission this scores again on a shift set: not charged
    corruptions: str | None = None   # opt-in corruption suite after the main result: "all" or a list

    def __post_init__(self):
        if self.split not in ("test", "val"):
            raise SonoBenchError(f"split must be 'test' or 'val', got {self.split!r}")
        if self.isolation is not None and self.isolation not in ISOLATION_MODES:
            raise SonoBenchError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, got {self.isolation!r}")

    @classmethod
    def for_task(cls, task: Task, **kwargs) -> "Request":
        return cls(task=task.ref, **kwargs)

    def to_payload(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_payload(cls, payload: dict) -> "Request":
        """Also reads the payloads of jobs queued before `Request` existed (options under 'sandbox')."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in payload.items() if k in known}
        legacy = payload.get("sandbox") or {}
        for key in ("allow_pickle", "wall_seconds", "threads"):
            if legacy.get(key) and not values.get(key):
                values[key] = legacy[key]
        return cls(**values)

    def sandbox_config(self, base: SandboxConfig) -> SandboxConfig:
        """`base` (the settings' or the worker's config) with this request's options applied.
        Permissions only widen when asked for: pickle and GPU are `base or request`."""
        cfg = dataclasses.replace(base, limits=dataclasses.replace(base.limits))
        cfg.allow_pickle = base.allow_pickle or self.allow_pickle
        cfg.gpu = base.gpu or self.gpu
        if self.isolation:
            cfg.isolation = self.isolation
        if self.threads:
            cfg.threads = int(self.threads)
        if self.wall_seconds:
            cfg.limits.wall_seconds = float(self.wall_seconds)
        return cfg


@dataclass
class Attempt:
    """What `compute` returns: a scored result, or the failure that stopped it; plus the log."""

    result: dict | None = None
    rows: list[dict] = field(default_factory=list)
    previews: dict[str, bytes] = field(default_factory=dict)
    error: BaseException | None = None   # a SonoBenchError/OSError, or a wrapped internal error
    platform: bool = False               # the evaluator or the machine failed, not the model: not charged
    log: str = ""
    meta: dict = field(default_factory=dict)  # isolation facts for the submission row

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    @property
    def reason(self) -> str:
        return "" if self.error is None else str(self.error)


def compute(task: Task, sub: Submission, request: Request, settings: Settings, *,
            base_config: SandboxConfig | None = None, verify: bool = True,
            progress: Progress | None = None) -> Attempt:
    """Verify, plan, run in the sandbox and score; never writes. An `EvaluationStopped`
    raised by `progress` (a lost lease, a cancel) and KeyboardInterrupt propagate."""
    log: list[str] = []
    attempt = Attempt()
    try:
        config = request.sandbox_config(base_config or sandbox_config(settings))
        iso = plan_isolation(config, settings)
        attempt.meta = isolation_meta(iso)
        if not task.split(request.split):
            raise SonoBenchError(f"task {task.ref} has no '{request.split}' cases")
        if verify:
            verify_task(task, splits=(request.split,), labels_root=request.labels_root)
        attempt.result, attempt.rows, attempt.previews = run_model(
            task, sub, split=request.split, config=config, iso=iso, settings=settings,
            labels_root=request.labels_root, progress=progress, log_sink=log.append)
    except EvaluationStopped:
        raise
    except SonoBenchError as e:
        attempt.error = e
    except OSError as e:  # the machine (disk full, ...), not the model
        attempt.error = SonoBenchError(f"the evaluator hit a system error ({type(e).__name__}); it is not counted "
                                       "against your quota, submit again later")
        attempt.platform = True
    except Exception as e:  # a bug of ours: a clear, recorded reason, not charged; the details for the operator
        import traceback

        log.append(traceback.format_exc())
        attempt.error = SonoBenchError(f"internal evaluator error ({type(e).__name__}); it is not counted against "
                                       "your quota and the operator has the details")
        attempt.platform = True
    finally:
        attempt.log = "".join(log)
    return attempt


def _warm_ranking(store: Store, result: dict) -> None:
    """Rank the result's board once now and keep it (evaluator.ranking.cache), so the next page
    view does not wait for the pairwise tests and the bootstrap. Never fails the commit."""
    from sonobench.kernel.settings import load_settings

    from .ranking.cache import warm

    try:
        settings = load_settings()
        warm(store, result["task_id"], result["task_version"], alpha=settings.ranking_alpha,
             top_n=settings.ranking_top_n)
    except Exception as e:  # noqa: BLE001  (a cache is an optimisation: the page ranks without it)
        import logging

        logging.getLogger(__name__).warning("could not keep the ranking of %s@%s: %s", result.get("task_id"),
                                            result.get("task_version"), e)


def commit(store: Store, submission_id: int, attempt: Attempt, job: store_jobs.Job | None = None) -> bool:
    """Record `attempt` for the submission: its result in one transaction, or its failure;
    then the log. With `job`, nothing is written unless the job is still ours; returns
    False when it was not (the lease was lost), True when the outcome was recorded."""
    recorded = True
    if attempt.ok:
        if job is None:
            store.write_result(submission_id, attempt.result, attempt.rows, val_predictions=attempt.previews)
        else:
            store_jobs.complete(store, job, attempt.result, attempt.rows, val_predictions=attempt.previews)
        _warm_ranking(store, attempt.result)
    elif job is None:
        store_jobs.mark_failed(store, submission_id, attempt.reason or "the evaluation produced no result",
                               platform=attempt.platform)
    else:
        recorded = store_jobs.fail(store, job, attempt.reason or "the evaluation produced no result",
                                   platform=attempt.platform)
    if recorded:
        store_jobs.save_log(store, submission_id, attempt.log)
    return recorded


def submission_meta(sub: Submission, request: Request) -> dict:
    return {"architecture": sub.architecture, "output": sub.output.value, "split": request.split, **sub.meta,
            **request.extra_meta}


def check_operator_limits(request: Request, settings: Settings) -> None:
    """Hosted mode: a team's submission may only narrow the operator's settings (JobOptionRefused)."""
    if settings.require_auth and request.kind == "submission" and request.follow_up_of is None:
        bounds.refuse_widening(request, sandbox_config(settings), hosted=True)


def start_submission(store: Store, task: Task, sub: Submission, request: Request, settings: Settings, *,
                     job_payload: dict | None = None, meta: dict | None = None) -> tuple[int, int | None]:
    """The submission row (and, with `job_payload`, its job), after the store's one duplicate
    rule, the team's quota and, in hosted mode, the operator's limits (a team's options may only
    narrow them). Raises AlreadyScored / QuotaExceeded / JobOptionRefused; writes nothing then."""
    check_operator_limits(request, settings)
    store.refuse_duplicate(sub.sha256, task, sub.path.name, team_id=sub.team_id)
    store_jobs.register_task(store, task)
    ids = store_jobs.create_submission(
        store, settings, job_payload=job_payload, charged=request.follow_up_of is None,
        file_sha256=sub.sha256, filename=sub.path.name,
        fmt=sub.format.value, task=task, name=sub.name, team=sub.team, kind=request.kind,
        meta={**submission_meta(sub, request), **(meta or {})}, team_id=sub.team_id)
    _keep_model(store, sub, settings, ids[0])
    return ids


def _keep_model(store: Store, sub: Submission, settings: Settings, submission_id: int) -> None:
    """The operator's copy of the files, so the row can follow a new task version (kept_models)."""
    from .kept_models import keep

    try:
        kept = keep(store, sub, settings)
    except OSError as e:  # a full disk must not lose the submission itself
        kept = {"kept_model_skipped": f"could not copy the files ({type(e).__name__})"}
    if kept:
        store_jobs.merge_meta(store, submission_id, kept)


def evaluate(store: Store, task: Task, sub: Submission, *, kind: str = "submission", split: str = "test",
             config: SandboxConfig | None = None, labels_root=None, progress: Progress | None = None,
             extra_meta: dict | None = None, settings: Settings | None = None,
             request: Request | None = None) -> Outcome:
    """Score `sub` on `task` now and store the result. Raises AlreadyScored (with the existing
    id) for a repeat, QuotaExceeded over the team's cap, and the failure's own exception
    (after recording it on the submission row) when the evaluation fails."""
    settings = settings or load_settings()
    request = request or Request.for_task(task, split=split, kind=kind, extra_meta=extra_meta or {},
                                          labels_root=str(labels_root) if labels_root else None)
    base = config or sandbox_config(settings)
    check_operator_limits(request, settings)  # before the labels folder is even looked at
    store.refuse_duplicate(sub.sha256, task, sub.path.name, team_id=sub.team_id)
    if not task.split(request.split):
        raise SonoBenchError(f"task {task.ref} has no '{request.split}' cases")
    t0 = time.perf_counter()
    verify_task(task, splits=(request.split,), labels_root=request.labels_root)  # refuse before anything is stored
    verify_s = time.perf_counter() - t0
    iso = plan_isolation(request.sandbox_config(base), settings)
    sid, _ = start_submission(store, task, sub, request, settings, meta=isolation_meta(iso))
    try:
        attempt = compute(task, sub, request, settings, base_config=base, verify=False, progress=progress)
    except BaseException as e:  # KeyboardInterrupt etc.: never leave a 'running' row behind
        store_jobs.mark_failed(store, sid, f"evaluation interrupted: {type(e).__name__}", platform=True)
        raise
    if attempt.ok:
        attempt.result["hardware"].setdefault("phases_s", {})["verify manifest"] = round(verify_s, 4)
    commit(store, sid, attempt)
    if not attempt.ok:
        raise attempt.error
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
                      kind: str = "submission", settings: Settings | None = None,
                      team_id: int | None = None) -> Submission:
    """`prepare` the file; one refused by the checks still gets a failed row with the reason
    (so the submitter can read it, and it counts as a failure for the team's quota)."""
    settings = settings or load_settings()
    path = Path(path)
    try:
        sub = prepare(path, spec, name=name, team=team, architecture=architecture, output=output,
                      limits=FileLimits.from_settings(settings))
    except InvalidSubmission as e:
        record_refusal(store, task, path, str(e), spec=spec, name=name, team=team, kind=kind, team_id=team_id)
        raise
    from .preflight import refusal  # the checks `sonobench check` runs first, with its words

    why = refusal(task, sub)
    if why:
        record_refusal(store, task, path, why, spec=spec, name=name, team=team, kind=kind, team_id=team_id)
        raise InvalidSubmission(why)
    sub.team_id = team_id
    return sub


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def record_refusal(store: Store, task: Task, path, reason: str, *, spec: dict | None = None,
                   name: str | None = None, team: str | None = None, kind: str = "submission",
                   team_id: int | None = None) -> int | None:
    """A failed row (charged as a failure) for a file refused before it ran; None when there is
    no file to name it by."""
    path = Path(path)
    sha = _rejected_sha(path)
    if sha is None:
        return None
    spec = spec if isinstance(spec, dict) else {}
    store_jobs.register_task(store, task)
    return store_jobs.record_rejection(store, file_sha256=sha, filename=path.name, task=task,
                                       name=(_text(name) or _text(spec.get("name")) or path.stem)[:200],
                                       team=(_text(team) or _text(spec.get("team")))[:100], kind=kind,
                                       reason=reason, team_id=team_id)


def evaluate_path(store: Store, task: Task, path, *, spec: dict | None = None, name: str | None = None,
                  team: str | None = None, architecture=None, output: str | None = None,
                  kind: str = "submission", settings: Settings | None = None, **kwargs) -> Outcome:
    """Check the file (recording a refusal), then `evaluate` it."""
    settings = settings or load_settings()
    sub = prepare_or_reject(store, task, path, spec=spec, name=name, team=team, architecture=architecture,
                            output=output, kind=kind, settings=settings)
    return evaluate(store, task, sub, kind=kind, settings=settings, **kwargs)
