"""Background evaluations for the Submit page, through the evaluator's library.

An upload is written to a private temp folder and handed to the evaluator's one
intake (`sonobench.evaluator.intake.submit`, the same function `sonobench submit` calls: the
token decides the team, a refusal is recorded with its reason, repeats and quotas
are refused) which queues it (`sonobench.evaluator.queue.enqueue` copies the files into the
queue's spool); the temp folder is deleted at once. A `.zip` of prediction masks
goes through the same intake and is scored at once (no model runs). A thread
of this process then claims that one job and runs it through the same pipeline
as `sonobench worker` (`process_job`): the model is loaded and run only by the
sandboxed child, never by the app's process. The page follows the submission
row in the store (queued -> running -> done | failed) and shows its result or
its recorded reason; a `sonobench worker` that takes the job first changes
nothing for the page.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sonobench.evaluator.sandbox import sandbox_config
from sonobench.evaluator.submission import EXTENSIONS, SPEC_KEYS
from sonobench.kernel.errors import InvalidSubmission, SonoBenchError

# The architecture JSON the Submit page shows as its example (a test builds it through the registry).
EXAMPLE_ARCHITECTURE = {"name": "unet", "kwargs": {"num_classes": 1}}
PREDICTIONS_EXTENSION = ".zip"  # a zip of per-case masks (evaluator.predictions), not a model
_RUNNING: set["Job"] = set()
_LOCK = threading.Lock()


class TooManyJobs(SonoBenchError):
    """The app already runs as many evaluations as this machine allows."""


def max_upload_bytes() -> int:
    """The app's upload cap (setting app_max_upload_mb, env SONOBENCH_APP_MAX_UPLOAD_MB), at most
    the evaluator's max_upload_mb."""
    from sonobench.kernel.settings import load_settings

    return int(load_settings().app_upload_mb * 1024 * 1024)


def require_auth() -> bool:
    """Whether the Submit page asks for a token. A malformed settings file shows the team field;
    submitting then fails on the settings error itself (closed, not open)."""
    from sonobench.kernel.settings import SettingsError, load_settings
    try:
        return load_settings().require_auth
    except SettingsError:
        return False


def check(data: bytes, filename: str, task_ref: str, *, spec_json: bytes | None = None):
    """Preflight an upload (evaluator.preflight): a report, nothing stored, no quota used."""
    from sonobench.evaluator import tasks as tasks_mod
    from sonobench.evaluator.preflight import preflight
    from sonobench.kernel.settings import load_settings

    settings = load_settings()
    spec = spec_from_json(spec_json) if spec_json else None
    workdir = Path(tempfile.mkdtemp(prefix="sonobench-check-"))
    try:
        model = workdir / safe_filename(filename)
        model.write_bytes(data)
        if model.suffix.lower() == PREDICTIONS_EXTENSION:
            from sonobench.evaluator import predictions

            return predictions.check(tasks_mod.get_task(task_ref), model)
        return preflight(tasks_mod.get_task(task_ref), model, spec=spec, settings=settings,
                         config=sandbox_config(settings))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def max_jobs() -> int:
    """Uploads evaluated at once (setting app_max_jobs, env SONOBENCH_APP_MAX_JOBS)."""
    from sonobench.kernel.settings import load_settings

    return load_settings().app_max_jobs


def safe_filename(filename: str) -> str:
    """Basename with only [A-Za-z0-9._-]; the extension must be one the evaluator accepts."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "").name).lstrip(".") or "model"
    ext = Path(base).suffix.lower()
    if ext not in EXTENSIONS and ext != PREDICTIONS_EXTENSION:
        raise InvalidSubmission(
            f"'{filename}' has an unsupported extension '{ext or '(none)'}'. Upload one of: "
            f"{', '.join(sorted(EXTENSIONS))}, or a {PREDICTIONS_EXTENSION} of prediction masks."
        )
    return base


def spec_from_json(raw: bytes) -> dict:
    """The optional JSON upload: a full submission.json, or just an architecture
    spec {"name": ..., "kwargs": {...}}, which is wrapped into one."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidSubmission(f"The architecture/spec file is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidSubmission("The architecture/spec file must hold a JSON object")
    if "architecture" not in obj and "name" in obj and set(obj) <= {"name", "kwargs"}:
        return {"architecture": obj}
    unknown = set(obj) - SPEC_KEYS
    if unknown:
        raise InvalidSubmission(
            f"The spec file has unknown key(s) {', '.join(sorted(unknown))}. Give either an architecture "
            "{'name': ..., 'kwargs': {...}} or a submission.json with keys " + ", ".join(sorted(SPEC_KEYS))
        )
    return obj


@dataclass(eq=False)
class Job:
    """One upload the app queued (or found already submitted, or saw refused)."""

    db: Path
    task_ref: str
    model_name: str
    submission_id: int | None
    job_id: int | None = None
    verb: str = "Scored"               # what the success message says
    refusal: str | None = None         # the checks refused the file: nothing runs
    thread: threading.Thread | None = field(default=None, repr=False)
    crash: str | None = None           # an error of the app's own thread (not the model's)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def row(self) -> dict | None:
        """The submission row as the store holds it now (not cached)."""
        if self.submission_id is None or not self.db.is_file():
            return None
        from sonobench.evaluator.store import ReadOnlyStore

        with ReadOnlyStore(self.db) as store:
            return store.submission(self.submission_id)

    @property
    def status(self) -> str:
        """queued | running | done | failed, from the store."""
        if self.refusal or self.crash:
            return "failed"
        row = self.row()
        return row["status"] if row else "failed"

    @property
    def running(self) -> bool:
        if self.status in ("queued", "running"):
            return True
        self.ended = self.ended or time.monotonic()
        return False

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def outcome(self) -> dict | None:
        """{submission_id, status, result} once the submission is scored, else None."""
        if self.running or self.status != "done":
            return None
        from sonobench.evaluator.store import ReadOnlyStore

        with ReadOnlyStore(self.db) as store:
            result = store.result_for(self.submission_id)
        return {"submission_id": self.submission_id, "status": self.verb, "result": result}

    def error(self) -> str | None:
        """The evaluator's recorded reason (what happened and what to do), once it failed."""
        if self.refusal or self.crash:
            return self.refusal or self.crash
        if self.running or self.status != "failed":
            return None
        return (self.row() or {}).get("error") or "the evaluation failed without a recorded reason"

    def follow_ups(self) -> list[tuple[int, str]]:
        """(id, task ref) of the submissions that score this upload again (shift sets, the private split)."""
        if self.submission_id is None or not self.db.is_file():
            return []
        from sonobench.evaluator.store import ReadOnlyStore

        with ReadOnlyStore(self.db) as store:
            return follow_up_submissions(store, self.submission_id)

    def _follow_ups(self, store, owner: str, settings) -> None:
        """Run the follow-up jobs the main result queued, one after the other, in this thread
        (a `sonobench worker` that claims one first runs it instead: claim is atomic)."""
        from sonobench.evaluator.queue import process_job
        from sonobench.evaluator.store import jobs as store_jobs

        for job_id in queued_follow_up_jobs(store, self.submission_id):
            job = store_jobs.claim(store, owner, settings.lease_seconds, job_id=job_id)
            if job is not None:
                process_job(store, job, settings, sandbox_config(settings))

    def cleanup(self) -> None:
        with _LOCK:
            _RUNNING.discard(self)

    def _work(self) -> None:
        """Claim this job and evaluate it (the thread's body)."""
        from sonobench.evaluator.queue import process_job
        from sonobench.evaluator.store import Store
        from sonobench.evaluator.store import jobs as store_jobs
        from sonobench.kernel.settings import load_settings

        try:
            settings = load_settings()
            with Store(self.db) as store:
                owner = f"{socket.gethostname()}:{os.getpid()}:app-{self.job_id}"
                job = store_jobs.claim(store, owner, settings.lease_seconds, job_id=self.job_id)
                if job is not None:  # else a `sonobench worker` has it; the page follows the row
                    process_job(store, job, settings, sandbox_config(settings))
                    self._follow_ups(store, owner, settings)
        except Exception as e:  # shown on the page; the job's lease expires and a worker retries it
            self.crash = f"the app could not run the evaluation ({type(e).__name__}: {e}); " \
                         "start `sonobench worker` to finish it"
        finally:
            with _LOCK:
                _RUNNING.discard(self)


def follow_up_submissions(store, submission_id: int) -> list[tuple[int, str]]:
    """(id, task ref) of the submissions queued as follow-ups of `submission_id`, in order."""
    return [(r["submission_id"], r["task"]) for r in store.db.query(
        "select submission_id, json_extract(payload, '$.task') as task from jobs "
        "where json_extract(payload, '$.follow_up_of') = ? order by id", [int(submission_id)])]


def queued_follow_up_jobs(store, submission_id: int) -> list[int]:
    return [r["id"] for r in store.db.query(
        "select id from jobs where status = 'queued' and json_extract(payload, '$.follow_up_of') = ? order by id",
        [int(submission_id)])]


def failed_submissions(db: Path, *, team: str = "", token: str = "", limit: int = 20) -> list[dict]:
    """A team's failed submissions with their reasons, newest first: by the token's team in
    hosted mode (a wrong token shows nothing), else by the team name typed."""
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.evaluator.teams import AuthError, authenticate

    if not Path(db).is_file():
        return []
    with ReadOnlyStore(db) as store:
        if token:
            try:
                where, arg = "team_id = ?", authenticate(store, token).id
            except AuthError:
                return []
        elif team:
            where, arg = "team = ?", team
        else:
            return []
        return [dict(r) for r in store.db.query(
            f"select id, name, task_id, task_version, error, created_at from submissions where status = 'failed' "
            f"and withdrawn_at is null and {where} order by id desc limit ?", [arg, int(limit)])]


def _busy() -> int:
    return sum(1 for j in _RUNNING if j.thread is not None and j.thread.is_alive())


def start(data: bytes, filename: str, task_ref: str, task_id: str = "", *, db: Path, name: str = "",
          team: str = "", spec_json: bytes | None = None, token: str = "") -> Job:
    """Check and queue the upload through the evaluator, then evaluate it in a thread; a .zip of
    prediction masks is scored at once (no model runs)."""
    if len(data) > max_upload_bytes():
        raise InvalidSubmission(
            f"'{filename}' is {len(data) / 1024**2:.1f} MB; uploads are capped at "
            f"{max_upload_bytes() / 1024**2:.0f} MB here. Submit larger models with `sonobench submit`."
        )
    if not data:
        raise InvalidSubmission(f"'{filename}' is empty (0 bytes); upload the complete model file")
    safe = safe_filename(filename)
    spec = spec_from_json(spec_json) if spec_json else None
    with _LOCK:
        if _busy() >= max_jobs():
            raise TooManyJobs(f"{_busy()} evaluations are already running; wait for one to finish and retry.")
        job = _queue(data, safe, task_ref, db=Path(db), name=name, team=team, spec=spec, token=token,
                     predictions=Path(safe).suffix.lower() == PREDICTIONS_EXTENSION)
        if job.job_id is not None:
            job.thread = threading.Thread(target=job._work, name=f"app-job-{job.job_id}", daemon=True)
            _RUNNING.add(job)
            job.thread.start()
    return job


def _queue(data: bytes, safe: str, task_ref: str, *, db: Path, name: str, team: str, spec: dict | None,
           token: str = "", predictions: bool = False) -> Job:
    """Write the upload to a private temp folder and hand it to the evaluator's one intake
    (`sonobench.evaluator.intake.submit`): a model is queued, prediction files are scored at once."""
    from sonobench.evaluator.intake import QUEUED, IntakeRequest
    from sonobench.evaluator.intake import submit as intake_submit
    from sonobench.evaluator.store import Store

    model_name = name or (spec or {}).get("name") or Path(safe).stem
    workdir = Path(tempfile.mkdtemp(prefix="sonobench-upload-"))  # mode 0700
    try:
        model = workdir / safe
        model.write_bytes(data)
        req = IntakeRequest(path=model, task=task_ref, spec=spec, name=name or None, team=team or None,
                            token=token or None, predictions=predictions, enqueue=not predictions)
        with Store(db) as store:
            try:
                out = intake_submit(store, req)
            except InvalidSubmission as e:
                return Job(db=db, task_ref=task_ref, model_name=model_name, submission_id=None, refusal=str(e))
        verb = out.status if out.status != QUEUED else "Scored"
        return Job(db=db, task_ref=out.task.ref, model_name=out.name, submission_id=out.submission_id,
                   job_id=out.job_id, verb=verb)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
