"""`sonobench private`: the operator's hidden test splits (a thin click wrapper over
simulation.private_split and evaluator.private)."""
from __future__ import annotations

import click

from sonobench.kernel.clitools import db_option, handle_errors


@click.group("private")
def private_group():
    """Hidden test splits regenerated from a task's simulator with a secret seed (operator only)."""


@private_group.command("new-seed")
@click.argument("path", type=click.Path(dir_okay=False))
@handle_errors
def new_seed(path):
    """Write a new secret key (256 random bits, hex, mode 600) to PATH. Keep it out of git."""
    from sonobench.simulation.private_split import new_seed_file

    click.echo(f"Wrote a new 256-bit seed to {new_seed_file(path)} (mode 600); keep it secret and out of git.")


@private_group.command("make")
@click.argument("task_ref")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Cases (300 or more).")
@click.option("--seed-file", type=click.Path(dir_okay=False), required=True,
              help="The secret key (`sonobench private new-seed FILE` writes one).")
@click.option("--force-small", is_flag=True, hidden=True, help="Tests only: allow --n below 300.")
@click.option("--quiet", is_flag=True, help="No progress line per case.")
@db_option
@handle_errors
def make(task_ref, n, seed_file, force_small, quiet, db_path):
    """Generate (or finish) and freeze the private test split of TASK_REF in the data dir."""
    from sonobench.evaluator.tasks import get_task
    from sonobench.simulation.private_split import freeze, generate, read_seed_file

    task = get_task(task_ref)
    key = read_seed_file(seed_file)
    folder = generate(task, key, n, force_small=force_small,
                      progress=None if quiet else lambda i: click.echo(f"  case {i + 1}/{n}", err=True))
    split = freeze(task, folder)
    click.echo(f"Froze {split.ref} ({len(split.cases)} test cases, digest {split.digest[:12]}) in {folder}; "
               "never commit it. Submissions to "
               f"{task.ref} are scored on it as a follow-up; its board gives the official ranks.")
    click.echo(_power_line(task, n, db_path))


@private_group.command("power")
@click.argument("task_ref")
@click.option("--n", "n", type=click.IntRange(min=2), required=True)
@db_option
@handle_errors
def power(task_ref, n, db_path):
    """The paired difference in the primary metric detectable with N private cases."""
    from sonobench.evaluator.tasks import get_task

    click.echo(_power_line(get_task(task_ref), n, db_path))


def _power_line(task, n: int, db_path) -> str:
    """From the references' per-case results on the public test split: the store's, else the
    committed reference file's (loaded into a scratch in-memory store)."""
    from sonobench.cli.table import lazy_hook
    from sonobench.evaluator.private import power_statement
    from sonobench.evaluator.store import ReadOnlyStore, Store, queries
    from sonobench.kernel.errors import SonoBenchError

    def values(store):
        ids = [r["submission_id"] for r in queries.leaderboard_table_rows(store, task.id, task.version)
               if r["kind"] == "baseline"]
        return queries.case_values(store, ids, task.primary_metric)

    found = {}
    try:
        with ReadOnlyStore(db_path) as store:
            found = values(store)
    except SonoBenchError:  # no store yet: the committed references below
        found = {}
    if len([v for v in found.values() if v]) < 2 and lazy_hook("reference_loader"):
        with Store(memory=True) as scratch:
            lazy_hook("reference_loader")(scratch, task, log=lambda *_: None)
            found = values(scratch)
    return power_statement(found, len(task.split("test")), n, task.primary_metric)
