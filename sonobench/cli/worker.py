"""`sonobench worker`: evaluate queued submissions (registered lazily by evaluator.cli)."""
from __future__ import annotations

import signal

import click

from sonobench.evaluator.sandbox import sandbox_config
from sonobench.evaluator.scaleout.options import executor_options
from sonobench.kernel.clitools import handle_errors


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Jobs evaluated at once by this worker, one sandbox each (default: 1; with --executor ray: "
                   "as many as the cluster's CPUs allow at --threads CPUs a job).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Results store holding the queue (default: $SONOBENCH_DB or the user data dir).")
@click.option("--once", is_flag=True, help="Exit as soon as no job is waiting.")
@click.option("--max-jobs", type=click.IntRange(1), default=None, help="Exit after this many jobs.")
@click.option("--poll", "poll_seconds", type=float, default=2.0, show_default=True,
              help="Seconds between looks at an empty queue.")
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@click.option("--isolation", type=click.Choice(["auto", "bwrap", "unshare", "none"]), default=None,
              help="Sandbox isolation (default: bubblewrap when it can run; see the settings' require_isolation).")
@click.option("--allow-pickle", is_flag=True, help="Operator only: run pickled models (inside bubblewrap only).")
@click.option("--gpu", is_flag=True, help="Bind the NVIDIA device nodes into the sandbox and infer on CUDA.")
@click.option("--threads", type=int, default=None, help="Inference threads inside each sandbox.")
@click.option("--wall-limit", type=float, default=None, help="Seconds before a model process is killed.")
@click.option("--lease-seconds", type=float, default=None,
              help="Lease of a claimed job; a worker silent this long is presumed dead.")
@executor_options
@handle_errors
def worker(concurrency, db_path, once, max_jobs, poll_seconds, labels_root, isolation, allow_pickle, gpu,
           threads, wall_limit, lease_seconds, executor, address):
    """Evaluate queued submissions (`sonobench submit --enqueue`) until stopped."""
    import dataclasses

    from sonobench.evaluator.queue.worker import Worker
    from sonobench.evaluator.scaleout import Executor
    from sonobench.evaluator.scaleout.options import check_address
    from sonobench.evaluator.store import Store, default_db_path
    from sonobench.kernel.settings import load_settings

    check_address(executor, address)
    on_ray = executor is Executor.RAY
    if on_ray:
        from sonobench.evaluator.scaleout import import_ray

        import_ray()  # fail now, with what to install, rather than after opening the store
    if on_ray and threads is None:
        threads = 1  # each Ray task reserves this many CPUs of its node

    settings = load_settings()
    if lease_seconds:
        settings = dataclasses.replace(settings, lease_seconds=lease_seconds).validate()
    config = sandbox_config(settings, isolation=isolation, threads=threads)
    config.allow_pickle = config.allow_pickle or allow_pickle
    config.gpu = config.gpu or gpu
    if wall_limit:
        config.limits.wall_seconds = wall_limit
    db_path = str(db_path or default_db_path())
    Store(db_path)  # create / migrate once, before the threads start
    common = dict(db_path=db_path, settings=settings, config=config, once=once, max_jobs=max_jobs,
                  poll_seconds=poll_seconds, labels_root=labels_root, log=lambda m: click.echo(m, err=True))
    if on_ray:
        from sonobench.evaluator.scaleout.ray_worker import RayWorker

        w = RayWorker(address=address, concurrency=concurrency, **common)
    else:
        w = Worker(concurrency=concurrency or 1, **common)

    def stop(signum, frame):  # finish the jobs in hand, claim no more
        click.echo(f"worker: signal {signum}, finishing current jobs", err=True)
        w.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    reports = w.run()
    done = sum(r.status == "done" for r in reports)
    retried = sum(r.status == "retried" for r in reports)
    click.echo(f"worker: {len(reports) - retried} job(s) processed, {done} scored, "
               f"{sum(r.status == 'failed' for r in reports)} failed, {sum(r.status == 'lost' for r in reports)} lost"
               + (f", {retried} attempt(s) retried after a lost Ray worker" if retried else ""))
