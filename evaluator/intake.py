"""The one intake: what happens to a submission between "here is a file" and the pipeline.

`submit(store, IntakeRequest(...))` is called by `sonobench submit` and by the app's Evaluate
(leaderboard_app/jobs.py); neither repeats any of its rules. In order, it:

1. decides the team: in hosted mode (`require_auth`), or whenever a token is given, the token
   names the team (`sonobench.evaluator.teams.authenticate`); a typed team that differs is refused, and a
   spec's 'team' is ignored. Hosted mode takes no baselines through here;
2. reads the spec (`submission.json`), recording a refusal when the task is known;
3. resolves the task; a team never submits to a private split directly (`private.refuse_direct`);
4. builds the evaluation `Request` and checks an opted-in corruption list;
5. for a model: `prepare_or_reject` (file checks and the preflight `sonobench check` runs, a
   refusal recorded with its reason); for prediction files: `sonobench.evaluator.predictions.load`
   (decoded under hard limits; a bad input stores nothing), scored by `predictions_score`;
6. refuses a repeat ("already scored", per team) and a team over its quota (the store's one rule,
   in `evaluate.start_submission`), then either queues the job (the worker queues the shift-set
   follow-ups after the main result) or scores it now and runs the follow-ups.

It raises the library's named exceptions (AuthError, InvalidSubmission, QuotaExceeded, ...);
"already scored" is not an exception here but an outcome (`IntakeOutcome.status`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sonobench.kernel.errors import AlreadyScored, InvalidSubmission, SonoBenchError
from sonobench.kernel.settings import Settings, load_settings

from . import method_cli
from .evaluate import Request, evaluate, prepare_or_reject, record_refusal
from .outcome import (  # noqa: F401  (re-exported: the intake's answers)
    ALREADY_SCORED,
    ALREADY_SUBMITTED,
    QUEUED,
    SCORED,
    IntakeOutcome,
)
from .store import Store
from .submission import SPEC_FILE, read_spec
from .tasks import Task, get_task


@dataclass(frozen=True)
class IntakeRequest:
    """One submission as its submitter asked for it (the CLI's options, the app's form)."""

    path: Path                          # the model file or folder, or the prediction folder/zip
    task: str | None = None             # task ref; default: the spec's 'task'
    spec_path: Path | None = None       # submission.json; default: the one inside a model folder
    spec: dict | None = None            # an already parsed spec (the app's upload)
    name: str | None = None
    team: str | None = None
    token: str | None = None
    architecture: dict | None = None    # {"name": ..., "kwargs": ...} for a state_dict
    output: str | None = None           # logits | probabilities
    kind: str = "submission"
    predictions: bool = False           # `path` holds per-case masks, not a model
    enqueue: bool = False               # queue for a worker instead of scoring now
    split: str = "test"
    labels_root: str | None = None
    isolation: str | None = None
    gpu: bool = False
    threads: int | None = None
    wall_seconds: float | None = None
    allow_pickle: bool = False
    corruptions: str | None = None
    method: dict | None = None          # method metadata given apart from the spec (the CLI's --description, ...)


@dataclass
class Identity:
    """Who submits: the team name stored on the row and, in hosted mode, its id."""

    team: str | None
    team_id: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.team_id is not None


Progress = Callable[[int, int], None]
Log = Callable[[str], None]


def identify(store: Store, req: IntakeRequest, settings: Settings) -> Identity:
    """The team rule, the same for every caller: the token decides the team when there is one."""
    if settings.require_auth and req.kind == "baseline":
        raise SonoBenchError("In hosted mode (require_auth) baselines are added by the operator with "
                             "`sonobench baselines`, not through `submit`. Nothing was stored.")
    if not (settings.require_auth or req.token):
        return Identity(team=req.team or None)
    from .teams import authenticate

    who = authenticate(store, req.token)  # AuthError: nothing stored
    if req.team and req.team != who.name:
        raise SonoBenchError(f"--team '{req.team}' is not the team of this token ('{who.name}'); the token decides "
                             "the team. Nothing was stored.")
    return Identity(team=who.name, team_id=who.id)


def _spec(store: Store, req: IntakeRequest, who: Identity) -> dict:
    """The submission spec, a refusal recorded when the task is named; a token's team wins."""
    spec_path = req.spec_path
    if spec_path is None and req.spec is None and req.path.is_dir() and (req.path / SPEC_FILE).is_file():
        spec_path = req.path / SPEC_FILE
    try:
        spec = dict(req.spec) if req.spec is not None else read_spec(spec_path)
    except InvalidSubmission as e:
        if req.task and not req.predictions:
            record_refusal(store, get_task(req.task), req.path, str(e), name=req.name, team=who.team,
                           kind=req.kind, team_id=who.team_id)
        raise
    spec = method_cli.merge(spec, req.method or {})  # --description, ... over the file's (a bad one stores nothing)
    if who.authenticated:
        spec.pop("team", None)
    return spec


def _task(req: IntakeRequest, spec: dict, who: Identity) -> Task:
    ref = req.task or spec.get("task")
    if not ref:
        raise SonoBenchError("Name the task: --task TASK (see `sonobench tasks`) or 'task' in submission.json")
    task = get_task(ref)
    if who.authenticated:  # a team never submits to a private split: it follows their public submission
        from .private import refuse_direct

        refuse_direct(task, None)
    return task


def _request(req: IntakeRequest, task: Task) -> Request:
    request = Request.for_task(task, split=req.split, kind=req.kind, labels_root=req.labels_root,
                               isolation=req.isolation, gpu=req.gpu, threads=req.threads,
                               wall_seconds=req.wall_seconds, allow_pickle=req.allow_pickle,
                               corruptions=req.corruptions)
    if req.corruptions:
        from .corruptions import suite

        suite(task, req.corruptions)  # an unknown corruption fails here, before anything is stored
    return request


def submit(store: Store, req: IntakeRequest, *, settings: Settings | None = None,
           progress: Progress | None = None, log: Log | None = None,
           on_result: Callable[[IntakeOutcome], None] | None = None) -> IntakeOutcome:
    """Take one submission in (see the module docstring). `progress(i, n)` follows an inline
    evaluation; `on_result` sees the main outcome before the follow-ups run; `log` gets their lines."""
    settings = settings or load_settings()
    req = dataclasses.replace(req, path=Path(req.path))
    if not req.path.exists():
        raise SonoBenchError(f"No {'prediction' if req.predictions else 'model'} file at {req.path}; check the path")
    who = identify(store, req, settings)
    spec = _spec(store, req, who)
    task = _task(req, spec, who)
    request = _request(req, task)
    if req.predictions:
        from . import predictions_score

        return predictions_score.submit(store, task, req, spec, who, request, settings, log=log, on_result=on_result)
    sub = prepare_or_reject(store, task, req.path, spec=spec, name=req.name, team=who.team,
                            architecture=req.architecture, output=req.output, kind=req.kind,
                            settings=settings, team_id=who.team_id)
    if req.enqueue:
        outcome = _enqueue(store, task, sub, settings, request)
        if on_result:
            on_result(outcome)
        return outcome
    try:
        done = evaluate(store, task, sub, request=request, progress=progress, settings=settings)
        outcome = IntakeOutcome(task, sub.name, SCORED, done.submission_id, done.result)
    except AlreadyScored as e:
        res = store.result_for(e.submission_id)
        outcome = IntakeOutcome(task, sub.name, ALREADY_SCORED if res else ALREADY_SUBMITTED, e.submission_id, res)
    if on_result:
        on_result(outcome)
    if outcome.result and request.split == "test":
        outcome.shifts = run_follow_ups(store, task, sub, request, settings, outcome.submission_id, log)
    return outcome


def _enqueue(store: Store, task: Task, sub, settings: Settings, request: Request) -> IntakeOutcome:
    """Queue the job; the worker that scores it queues its follow-ups (queue.worker.record)."""
    from .queue import enqueue

    try:
        q = enqueue(store, task, sub, settings, request)  # copies the files into the spool
    except AlreadyScored as e:
        return IntakeOutcome(task, sub.name, ALREADY_SUBMITTED, e.submission_id, store.result_for(e.submission_id))
    return IntakeOutcome(task, sub.name, QUEUED, q.submission_id, job_id=q.job_id)


def run_follow_ups(store: Store, task: Task, sub, request: Request, settings: Settings, submission_id: int,
                   log: Log | None) -> list:
    """After an inline main result: the task's shift sets (and opted-in corruptions), one each."""
    from . import follow_ups, task_sets

    sets = task_sets.follow_up_sets(task, request)
    if not sets:
        return []
    if log:
        log(f"Scoring {len(sets)} acquisition-shift / corruption set(s) of {task.ref} "
            "(`sonobench leaderboard TASK --view robustness` shows the drops):")
    return follow_ups.score_shifts(store, task, sub, request, settings, submission_id, log=log)
