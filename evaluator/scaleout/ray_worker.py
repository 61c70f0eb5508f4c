"""`sonobench worker --executor ray`: queued jobs run as Ray tasks; the driver alone writes the store.

The driver claims jobs from the queue exactly like a local worker (same leases, same
attempt counter) but only as many as the cluster has free slots for, so a claimed job is
a running Ray task. Each task runs the pipeline's compute half (`sonobench.evaluator.evaluate.compute`:
the same checks, the same bubblewrap sandbox and limits, on the node Ray picked) and
returns its `Attempt`; the driver records it with the worker's `record` (the pipeline's
`commit`), one lease-checked transaction per result. While a task runs, the driver's heartbeat extends its lease, so
Ray's task state is the lease: if the driver dies, Ray stops its tasks and the leases
run out, and any worker picks the jobs up again.

A Ray worker process or node that dies surfaces as a Ray system error for that task:
the driver gives the job back to the queue (`store.jobs.release`), and the next claim
retries it, up to the settings' `max_attempts`; Ray's own task retry is off so that each
attempt is counted in the store and a job is never scored twice. A job whose lease was
lost meanwhile is cancelled and its late result discarded by the lease check.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.settings import Settings

from .. import tasks as tasks_mod
from ..evaluate import Attempt, Request, compute
from ..queue.worker import JobReport, load_spooled, record
from ..sandbox import SandboxConfig, bounds
from ..store import Store
from ..store import jobs as store_jobs
from ..store.jobs import Job
from . import connect, import_ray, taskdata

Log = Callable[[str], None]


class NoGpuOnCluster(SonoBenchError):
    """GPU jobs were asked for, but the cluster has no GPU to run them."""


NO_GPU = "--gpu: no node of the Ray cluster has a GPU, so no job could start."


class NodeCannotEvaluate(SonoBenchError):
    """A Ray node could not run the evaluation code at all (a missing or different install)."""


def evaluate_on_node(payload: dict, model_files: dict[str, bytes], expected_sha256: str, task,
                     bundle_box: list, settings: Settings, config: SandboxConfig) -> Attempt:
    """The body of one Ray task: bring the split's data into this node's cache (verified against
    the manifest), write the model into a private folder, check it, and run the pipeline's
    `compute` on it. Every failure of the submission comes back as the Attempt's error."""
    ray = import_ray()
    request = Request.from_payload(payload)
    with tempfile.TemporaryDirectory(prefix="sonobench-job-") as tmp:
        try:
            # bundle_box hides the reference from Ray's argument resolution: fetched only on a cache miss
            node_task, labels = taskdata.materialize(task, request.split, lambda: ray.get(bundle_box[0]))
            spool = Path(tmp) / "model"
            spool.mkdir(mode=0o700)
            for name, data in model_files.items():
                (spool / Path(name).name).write_bytes(data)
            sub = load_spooled(spool, payload, settings, expected_sha256)
        except (SonoBenchError, OSError) as e:
            return Attempt(error=e)
        attempt = compute(node_task, sub, dataclasses.replace(request, labels_root=str(labels)), settings,
                          base_config=config)
    attempt.meta["ray"] = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                           "pid": os.getpid()}
    return attempt


@dataclass
class RayWorker:
    """A driver over one store. `run()` returns the reports of the jobs it finished; a job given
    back to the queue after a lost attempt is reported as 'retried'."""

    db_path: str
    settings: Settings
    config: SandboxConfig
    address: str | None = None
    concurrency: int | None = None   # jobs in flight; None: what the cluster's CPUs (GPUs) allow
    once: bool = False               # stop when no job can be claimed and none is in flight
    max_jobs: int | None = None      # distinct jobs to take
    poll_seconds: float = 2.0
    labels_root: str | None = None
    log: Log = print
    reports: list[JobReport] = field(default_factory=list)

    def __post_init__(self):
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict = {}     # ObjectRef -> Job
        self._cancelled: set = set()
        self._bundles: dict = {}      # (digest, split, labels root) -> ObjectRef of a TaskBundle
        self._taken: set[int] = set()
        self.owner = f"ray:{socket.gethostname()}:{os.getpid()}"

    @property
    def cpus_per_job(self) -> int:
        return max(1, int(self.config.threads or 1))

    def task_options(self, request: Request | None = None) -> dict:
        """Ray resources of one job: its sandbox's threads as CPUs, and a whole GPU when the
        worker (--gpu) or the submission asks for CUDA."""
        threads = (request.threads if request and request.threads else None) or self.cpus_per_job
        gpu = self.config.gpu or bool(request and request.gpu)
        return {"num_cpus": max(1, int(threads)), **({"num_gpus": 1} if gpu else {})}

    def _check_cluster(self, ray) -> None:
        if self.config.gpu and ray.cluster_resources().get("GPU", 0) < 1:
            raise NoGpuOnCluster(NO_GPU + " Join a GPU node (`ray start --address HEAD_IP:6379` on it) or drop --gpu.")

    def _slots(self, ray) -> int:
        if self.concurrency:
            return self.concurrency
        free = ray.cluster_resources()
        slots = int(free.get("CPU", 0) // self.cpus_per_job)
        if self.config.gpu:
            slots = min(slots, int(free.get("GPU", 0)))
        return max(1, slots)

    def _room(self) -> bool:
        return self.max_jobs is None or len(self._taken) < self.max_jobs

    def _bundle(self, ray, task, split: str, labels):
        key = (task.digest, split, str(labels))
        if key not in self._bundles:
            tasks_mod.verify_task(task, splits=(split,), labels_root=labels)  # the head's copy first
            self._bundles[key] = ray.put(taskdata.make_bundle(task, split, labels))
        return self._bundles[key]

    def _submit(self, ray, remote, store: Store, job: Job):
        request = bounds.bound(Request.from_payload(job.payload), self.config)  # the operator's worker is the ceiling
        p = {**job.payload, **request.to_payload()}
        task = tasks_mod.get_task(request.task)
        bundle = self._bundle(ray, task, request.split, self.labels_root)
        files = {f.name: f.read_bytes() for f in sorted(Path(p["spool"]).iterdir()) if f.is_file()}
        sha = store.submission(job.submission_id)["file_sha256"]
        options = self.task_options(request)
        if options.get("num_gpus") and ray.cluster_resources().get("GPU", 0) < 1:
            raise NoGpuOnCluster(NO_GPU + " This submission asks for CUDA; resubmit it without --gpu, or once a "
                                 "GPU node has joined.")
        return remote.options(**options).remote(p, files, sha, task, [bundle], self.settings, self.config)

    def _fill(self, ray, remote, store: Store) -> None:
        while not self.stop.is_set() and len(self._inflight) < self._slots(ray):
            job = None
            if self._room() or self._retry_waiting(store):
                job = store_jobs.claim(store, self.owner, self.settings.lease_seconds)
            if job is None:
                return
            self._taken.add(job.id)
            try:
                ref = self._submit(ray, remote, store, job)
            except (SonoBenchError, OSError) as e:  # refused on the head: nothing to send
                self._record(record(store, job, Attempt(error=e)))
                continue
            self.log(f"job {job.id} (submission #{job.submission_id}, attempt {job.attempts}): sent to Ray")
            with self._lock:
                self._inflight[ref] = job

    def _retry_waiting(self, store: Store) -> bool:
        """Over max_jobs, still take back the jobs this driver already started (their retries)."""
        rows = store_jobs.jobs(store, "queued")
        return bool(rows) and rows[0]["id"] in self._taken

    def _finish(self, ray, store: Store, ref) -> None:
        with self._lock:
            job = self._inflight.pop(ref)
            cancelled = ref in self._cancelled
        try:
            attempt = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            self._record(JobReport(job.id, job.submission_id, "lost", "lease lost; the Ray task was cancelled"))
            return
        except ray.exceptions.RayTaskError as e:
            # compute turns every failure of a submission into a result, so an exception here is
            # the node's (it cannot import or run SonoBench): not the submitter's fault, and no
            # other job would fare better. Give the job back and stop.
            cause = getattr(e, "cause", None) or e
            status = store_jobs.release(store, job, "a Ray node could not run the evaluation")
            raise NodeCannotEvaluate(
                f"a Ray node could not run the evaluation ({type(cause).__name__}: {str(cause)[:300]}). Every node "
                "needs the same SonoBench install as the head, with the ray extra (see the docs, guides/cluster.md). "
                f"Job {job.id} was {'put back in the queue' if status == 'queued' else status}.") from None
        except ray.exceptions.RayError as e:      # the worker process or its node died
            why = f"its Ray worker or node died ({type(e).__name__})"
            status = store_jobs.release(store, job, why)
            report = "retried" if status == "queued" else status
            self._record(JobReport(job.id, job.submission_id, report, f"attempt {job.attempts}: {why}"))
            return
        if cancelled:
            self._record(JobReport(job.id, job.submission_id, "lost", "lease lost; the late result is discarded"))
            return
        self._record(record(store, job, attempt, self.settings))

    def _record(self, report: JobReport) -> None:
        self.reports.append(report)
        self.log(f"job {report.job_id} (submission #{report.submission_id}): {report.status}"
                 f"{': ' + report.detail if report.detail else ''}")

    def _heartbeat(self, ray, done: threading.Event) -> None:
        """Extend the lease of every job whose Ray task is in flight; cancel those whose lease is gone."""
        store = Store(self.db_path)
        try:
            while not done.wait(self.settings.heartbeat_seconds):
                with self._lock:
                    items = [(r, j) for r, j in self._inflight.items() if r not in self._cancelled]
                for ref, job in items:
                    try:
                        ours = store_jobs.heartbeat(store, job, self.settings.lease_seconds)
                    except Exception:  # a busy database: the next beat retries, the lease has slack
                        continue
                    if not ours:
                        with self._lock:
                            self._cancelled.add(ref)
                        ray.cancel(ref, force=True)
        finally:
            store.close()

    def run(self) -> list[JobReport]:
        ray = connect(self.address)
        self._check_cluster(ray)
        remote = ray.remote(max_retries=0)(evaluate_on_node)
        store = Store(self.db_path)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(ray, done), name="ray-heartbeat", daemon=True)
        beat.start()
        try:
            while True:
                self._fill(ray, remote, store)
                if not self._inflight:
                    if self.stop.is_set() or self.once or not (self._room() or self._retry_waiting(store)):
                        break
                    self.stop.wait(self.poll_seconds)
                    continue
                ready, _ = ray.wait(list(self._inflight), num_returns=1, timeout=self.poll_seconds)
                for ref in ready:
                    self._finish(ray, store, ref)
        finally:
            done.set()
            beat.join()
            store.close()
        return self.reports
