"""The job queue: `enqueue` a checked submission, `Worker`s evaluate it in the sandbox.

Jobs live in the results store (table `jobs`, see evaluator/store/jobs.py for
the state machine, leases and heartbeats); the model files are copied into a
spool folder next to the store so a job never depends on the submitter's copy.
"""
from .spool import enqueue, spool_dir
from .worker import Worker, process_job

__all__ = ["enqueue", "spool_dir", "Worker", "process_job"]
