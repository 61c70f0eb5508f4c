"""Background evaluations for the Submit page.

An uploaded model is only ever written to a private temp folder and handed to
`sonobench submit ... --json` in a child process: the app process never loads
or runs it (the evaluator then runs it inside its own sandbox). The page polls
the child and the store's submission row to show progress and the outcome.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from evaluator.errors import InvalidSubmission, SonoBenchError
from evaluator.submission import EXTENSIONS, SPEC_KEYS

DEFAULT_MAX_UPLOAD_MB = 256
DEFAULT_MAX_JOBS = 2
_RUNNING: set["Job"] = set()
_LOCK = threading.Lock()


class TooManyJobs(SonoBenchError):
    """The app already runs as many evaluations as this machine allows."""


def max_upload_bytes() -> int:
    return int(float(os.environ.get("SONOBENCH_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)) * 1024 * 1024)


def max_jobs() -> int:
    return int(os.environ.get("SONOBENCH_APP_MAX_JOBS", DEFAULT_MAX_JOBS))


def safe_filename(filename: str) -> str:
    """Basename with only [A-Za-z0-9._-]; the extension must be one the evaluator accepts."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "").name).lstrip(".") or "model"
    ext = Path(base).suffix.lower()
    if ext not in EXTENSIONS:
        raise InvalidSubmission(
            f"'{filename}' has an unsupported extension '{ext or '(none)'}'. Upload one of: "
            f"{', '.join(sorted(EXTENSIONS))}."
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
    workdir: Path
    sha256: str
    task_ref: str
    task_id: str
    model_name: str
    proc: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    _final: tuple | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        if self.proc.poll() is None:
            return True
        self.ended = self.ended or time.monotonic()
        return False

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def outcome(self) -> dict | None:
        """The CLI's JSON answer ({submission_id, status, result}) once it exited 0."""
        return self._finish()[0]

    def error(self) -> str | None:
        """The CLI's own 'Error: ...' message (what happened and what to do), when it failed."""
        return self._finish()[1]

    def _finish(self) -> tuple[dict | None, str | None]:
        """Read the child's answer once it has exited, then delete the upload and its folder."""
        if self.running:
            return None, None
        if self._final is None:
            self._final = (self._read_outcome(), self._read_error())
            self.cleanup()
        return self._final

    def _read_outcome(self) -> dict | None:
        if self.proc.returncode != 0:
            return None
        try:
            return json.loads((self.workdir / "stdout.txt").read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def _read_error(self) -> str | None:
        if self.proc.returncode == 0:
            return None if self._read_outcome() else "the evaluator exited without an answer"
        try:
            lines = (self.workdir / "stderr.txt").read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        errors = [l for l in lines if l.startswith("Error:")]
        if errors:
            return errors[-1].removeprefix("Error:").strip()
        tail = " ".join(lines[-3:]).strip()
        return tail or f"the evaluation process exited with status {self.proc.returncode}"

    def cleanup(self) -> None:
        with _LOCK:
            _RUNNING.discard(self)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def cancel(self) -> None:
        if self.running:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.cleanup()


def start(data: bytes, filename: str, task_ref: str, task_id: str, *, db: Path, name: str = "",
          team: str = "", spec_json: bytes | None = None) -> Job:
    """Save the upload in a fresh private temp dir and start `sonobench submit` on it."""
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
        _RUNNING.difference_update({j for j in _RUNNING if not j.running})
        if len(_RUNNING) >= max_jobs():
            raise TooManyJobs(f"{len(_RUNNING)} evaluations are already running; wait for one to finish and retry.")
        workdir = Path(tempfile.mkdtemp(prefix="sonobench-upload-"))  # mode 0700
        job = _launch(workdir, data, safe, task_ref, task_id, db=db, name=name, team=team, spec=spec)
        _RUNNING.add(job)
    return job


def _launch(workdir: Path, data: bytes, safe: str, task_ref: str, task_id: str, *, db: Path, name: str,
            team: str, spec: dict | None) -> Job:
    model = workdir / safe
    model.write_bytes(data)
    cmd = [sys.executable, "-c", "from evaluator.cli import main; main()", "submit", str(model),
           "--task", task_ref, "--db", str(db), "--json"]
    if name:
        cmd += ["--name", name]
    if team:
        cmd += ["--team", team]
    if spec:
        (workdir / "submission.json").write_text(json.dumps(spec))
        cmd += ["--spec", str(workdir / "submission.json")]
    env = dict(os.environ, SONOBENCH_DB=str(db))
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir, env=env)
    return Job(workdir=workdir, sha256=hashlib.sha256(data).hexdigest(), task_ref=task_ref, task_id=task_id,
               model_name=name or Path(safe).stem, proc=proc)
