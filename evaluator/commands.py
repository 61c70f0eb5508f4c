"""The evaluator's own subcommands: tasks, submit, leaderboard, ..."""
from __future__ import annotations

import json

import click

from . import tasks as tasks_mod
from .cli import cli, handle_errors


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handle_errors
def tasks(ctx, as_json):
    """List the benchmark tasks (simulated and imported)."""
    if ctx.invoked_subcommand:
        return
    rows, problems = [], []
    for name, versions in sorted(tasks_mod.discover().items()):
        for version, folder in sorted(versions.items()):
            try:
                rows.append(tasks_mod.load_task_folder(folder).summary())
            except Exception as e:  # one broken task must not hide the others
                problems.append(f"{name}@{version}: {e}")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        if not rows:
            click.echo("No tasks found. Generate one with `sonobench simulate` or import one with `sonobench datasets import`.")
        for r in rows:
            s = r["splits"]
            click.echo(
                f"{r['id']}@{r['version']}  {r['title']}\n"
                f"    classes: {', '.join(r['classes'])} | input {r['input_size'][0]}x{r['input_size'][1]}"
                f" | train/val/test {s['train']}/{s['val']}/{s['test']} | primary metric: {r['primary_metric']}"
                f" | digest {r['digest'][:12]}"
            )
    for p in problems:
        click.echo(f"Warning: skipped unreadable task {p}", err=True)


@tasks.command("verify")
@click.argument("task")
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@handle_errors
def tasks_verify(task, labels_root):
    """Check every file of TASK against its frozen manifest."""
    t = tasks_mod.get_task(task)
    tasks_mod.verify_task(t, labels_root=labels_root)
    click.echo(f"{t.ref}: all {len(t.cases)} cases match the manifest (digest {t.digest}).")
