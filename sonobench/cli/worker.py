"""`sonobench worker`: evaluate queued submissions (registered lazily by evaluator.cli)."""
from __future__ import annotations

import signal

import click

from sonobench.evaluator.sandbox import sandbox_config
from sonobench.evaluator.sandbox.options import SandboxOptions
from sonobench.evaluator.scaleout.worker_options import WorkerOptions
from sonobench.kernel.clitools import handle_errors, pass_settings
from sonobench.kernel.options import options_from


@click.command()
@options_from(WorkerOptions, param="options")
@options_from(SandboxOptions, param="sandbox")
@handle_errors
@pass_settings
def worker(options: WorkerOptions, sandbox: SandboxOptions, settings):
    """Evaluate queued submissions (`sonobench submit --enqueue`) until stopped."""
    import dataclasses

    from sonobench.evaluator.queue.worker import Worker
    from sonobench.evaluator.scaleout import Executor
    from sonobench.evaluator.scaleout.options import check_address
    from sonobench.evaluator.store import Store, default_db_path

    check_address(options.executor, options.address)
    on_ray = options.executor is Executor.RAY
    threads = sandbox.threads
    if on_ray:
        from sonobench.evaluator.scaleout import import_ray

        import_ray()  # fail now, with what to install, rather than after opening the store
    if on_ray and threads is None:
        threads = 1  # each Ray task reserves this many CPUs of its node

    if options.lease_seconds:
        settings = dataclasses.replace(settings, lease_seconds=options.lease_seconds).validate()
    config = sandbox_config(settings, isolation=sandbox.isolation, threads=threads)
    config.allow_pickle = config.allow_pickle or sandbox.allow_pickle
    config.gpu = config.gpu or sandbox.gpu
    if sandbox.wall_seconds:
        config.limits.wall_seconds = sandbox.wall_seconds
    db_path = str(options.db_path or default_db_path())
    Store(db_path)  # create / migrate once, before the threads start
    common = dict(db_path=db_path, settings=settings, config=config, log=lambda m: click.echo(m, err=True),
                  **options.loop())
    if on_ray:
        from sonobench.evaluator.scaleout.ray_worker import RayWorker

        w = RayWorker(address=options.address, concurrency=options.concurrency, **common)
    else:
        w = Worker(concurrency=options.concurrency or 1, **common)

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
