"""`sonobench follow-version`: score every stored submission of a task version on a newer one,
from the model files the store kept (evaluator.kept_models). Operator only."""
from __future__ import annotations

import click

from sonobench.kernel.clitools import db_option, handle_errors, pass_settings


@click.command("follow-version")
@click.argument("old_ref")
@click.option("--to", "new_ref", required=True, help="The version to score them on, e.g. toy-lesion@2.")
@db_option
@handle_errors
@pass_settings
def follow_version(old_ref, new_ref, db_path, settings):
    """Score every finished submission of OLD_REF (id@version) on --to, from their kept model files;
    the new rows name the version they were scored on and the row they follow."""
    from sonobench.evaluator import tasks as tasks_mod
    from sonobench.evaluator.follow_ups import follow
    from sonobench.evaluator.store import Store
    from sonobench.kernel.errors import SonoBenchError

    old, new = tasks_mod.get_task(old_ref), tasks_mod.get_task(new_ref)
    if old.id != new.id:
        raise SonoBenchError(f"{old.ref} and {new.ref} are different tasks; follow-version moves submissions to "
                             "another version of the same task")
    with Store(db_path) as store:
        click.echo(f"Scoring the stored submissions of {old.ref} on {new.ref}:")
        out = follow(store, old, new, settings, log=click.echo)
    click.echo(f"{len(out.scored)} scored, {len(out.already)} already there, {len(out.missing)} without a kept "
               f"model file, {len(out.failed)} failed.")
    if out.failed:
        raise SonoBenchError(f"{len(out.failed)} submission(s) failed on {new.ref}; see above")
