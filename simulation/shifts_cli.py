"""`sonobench shifts`: list the acquisition-shift conditions and make a task's shift sets."""
from __future__ import annotations

import time

import click

from sonobench.kernel.clitools import handle_errors


@click.group("shifts")
def shifts():
    """Acquisition-shift sets: the same test phantoms re-imaged under named conditions."""


@shifts.command("conditions")
def conditions_cmd():
    """List the named conditions."""
    from .shifts import CONDITIONS

    for name, c in CONDITIONS.items():
        click.echo(f"{name:20s} {'(reference) ' if c.reference else ''}{c.description}")
        click.echo(f"{'':20s} claim: {c.claim}")


@shifts.command("make")
@click.argument("task_ref")
@click.option("--conditions", "names", default="all", show_default=True,
              help="Comma-separated condition names (`sonobench shifts conditions`), or all.")
@click.option("--n", "n", type=click.IntRange(min=1), default=50, show_default=True,
              help="How many test phantoms (the first N test cases by id).")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Task root to write <task>-shift-<condition>/v1 into (default: beside the task's own folder).")
@click.option("--backend", type=click.Choice(["kwave", "fast"]), default=None,
              help="Default: the backend the task itself was simulated with.")
@handle_errors
def make_cmd(task_ref, names, n, root, backend):
    """Simulate (resumable) and freeze the shift sets of TASK_REF."""
    from sonobench.evaluator.tasks import get_task

    from .shifts import CONDITIONS, default_root, make_shift_set, shift_folder

    parent = get_task(task_ref)
    chosen = list(CONDITIONS.names()) if names == "all" else [s.strip() for s in names.split(",") if s.strip()]
    for name in chosen:
        CONDITIONS.get(name)  # an unknown name fails before any simulation, naming the valid ones
    root = root or default_root(parent)
    for name in chosen:
        t0, cpu0 = time.perf_counter(), time.process_time()
        with click.progressbar(length=n, label=f"{parent.ref} / {name}") as bar:
            last = [0]

            def progress(i, total):
                bar.update(i - last[0]); last[0] = i

            task = make_shift_set(parent, name, shift_folder(root, parent, name), n=n, backend=backend,
                                  progress=progress)
        click.echo(f"froze {task.ref} ({len(task.cases)} cases, digest {task.digest[:12]}…) in {task.folder}: "
                   f"{time.perf_counter() - t0:.0f} s wall, {time.process_time() - cpu0:.0f} s CPU")


@shifts.command("check")
@click.argument("parent_folder", type=click.Path(exists=True, file_okay=False))
@click.argument("shift_folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@handle_errors
def check_cmd(parent_folder, shift_folders):
    """Measure whether each shift set's condition does what its name claims, against
    PARENT_FOLDER (the parent task's version folder, or its `unshifted` set's)."""
    from .shift_checks import check_folders

    results = check_folders(parent_folder, shift_folders)
    for r in results:
        click.echo(r.line())
    if not all(r.passed for r in results):
        raise click.ClickException("a condition does not do what its name says (see above)")
