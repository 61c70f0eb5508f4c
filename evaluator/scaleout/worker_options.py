"""How a worker runs a store's queue, declared once: `sonobench worker` generates its options from
`WorkerOptions`, and the local worker (`queue.Worker`) and the Ray driver
(`scaleout.ray_worker.RayWorker`) take the same loop values from it (`loop()`). Here, beside the
executors it chooses between, above the queue both workers run."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from sonobench.kernel.options import option

from . import Executor
from .options import address_field, executor_field


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int | None = field(default=None, metadata=option(
        "Jobs evaluated at once by this worker, one sandbox each (default: 1; with --executor ray: as many as the "
        "cluster's CPUs allow at --threads CPUs a job).", type=click.IntRange(1, 64)))
    db_path: Path | None = field(default=None, metadata=option(
        "Results store holding the queue (default: $SONOBENCH_DB or the user data dir).", flag="--db",
        type=click.Path(dir_okay=False, path_type=Path)))
    once: bool = field(default=False, metadata=option("Exit as soon as no job is waiting."))
    max_jobs: int | None = field(default=None, metadata=option(
        "Exit after this many jobs.", type=click.IntRange(1)))
    poll_seconds: float = field(default=2.0, metadata=option(
        "Seconds between looks at an empty queue.", flag="--poll", show_default=True))
    labels_root: Path | None = field(default=None, metadata=option(
        "Folder holding private test labels.", type=click.Path(file_okay=False, path_type=Path)))
    lease_seconds: float | None = field(default=None, metadata=option(
        "Lease of a claimed job; a worker silent this long is presumed dead (the settings' lease_seconds)."))
    executor: Executor = executor_field()
    address: str | None = address_field()

    def loop(self) -> dict:
        """The values the local worker and the Ray driver both take."""
        return {"once": self.once, "max_jobs": self.max_jobs, "poll_seconds": self.poll_seconds,
                "labels_root": str(self.labels_root) if self.labels_root else None}
