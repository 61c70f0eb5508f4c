"""`sonobench sweeps`: make the simulated tracked-sweep set of the bone task."""
from __future__ import annotations

import time

import click

from sonobench.kernel.clitools import handle_errors


@click.group("sweeps")
def sweeps():
    """Tracked sweeps of simulated 3D bones, scored in 3D for every submission to the bone task."""


@sweeps.command("make")
@click.argument("task_ref", default="sim-bone-surface")
@click.option("--frames", type=click.IntRange(min=2), default=8, show_default=True, help="Frames per sweep.")
@click.option("--backend", type=click.Choice(["kwave", "fast"]), default=None,
              help="Default: the backend the task itself was simulated with.")
@click.option("--image-formation", type=click.IntRange(1, 3), default=None,
              help="Image-formation version (default: the task's own).")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="Task root to write <task>-sweeps/v<version> into (default: beside the task's own folder).")
@handle_errors
def make_cmd(task_ref, frames, backend, image_formation, root):
    """Simulate (resumable) and freeze the sweep set of TASK_REF (a simulated bone-surface task): 5 specimens,
    each swept along and across."""
    from sonobench.evaluator.tasks import get_task

    from .shifts import default_root
    from .sweeps import DIRECTIONS, SPECIMENS, contact_sheet, make_sweep_set, parent_physics, sweep_folder

    parent = get_task(task_ref)
    parent_physics(parent, image_formation)  # refused before any progress is shown
    t0, cpu0 = time.perf_counter(), time.process_time()
    total = len(SPECIMENS) * len(DIRECTIONS) * frames
    with click.progressbar(length=total, label=f"{parent.ref} / sweeps") as bar:
        last = [0]

        def progress(i, _total):
            bar.update(i - last[0]); last[0] = i

        task = make_sweep_set(parent, sweep_folder(root or default_root(parent), parent), backend=backend,
                              image_formation=image_formation, frames=frames, progress=progress)
    sheet = contact_sheet(task, task.folder / "preview.png")
    click.echo(f"froze {task.ref} ({len(task.cases)} frames in {len(task.sweeps['folders'])} sweeps, digest "
               f"{task.digest[:12]}…) in {task.folder}: {time.perf_counter() - t0:.0f} s wall, "
               f"{time.process_time() - cpu0:.0f} s CPU; contact sheet {sheet}")
