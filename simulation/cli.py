"""`sonobench simulate`: a thin click wrapper over simulation.dataset."""
from __future__ import annotations

import click

from sonobench.evaluator.scaleout.options import check_address, executor_options
from sonobench.kernel.clitools import handle_errors

from .physics import IMAGING_PRESETS, imaging_preset
from .presets import PRESETS
from .sample import Backend, NoiseLevel, parse_enum


def _levels(values) -> list[NoiseLevel]:
    names = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return [parse_enum(NoiseLevel, n, "noise level") for n in names] or list(NoiseLevel)


@click.command("simulate")
@click.option("--preset", default="breast-lesion", show_default=True, help=f"Phantom preset: {', '.join(PRESETS.names())}.")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Number of samples (indices 0..n-1).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder (resumable).")
@click.option("--backend", type=click.Choice([b.value for b in Backend]), default="kwave", show_default=True,
              help="kwave: k-Wave wave simulation + beamforming; fast: convolution model.")
@click.option("--noise-levels", multiple=True, default=("low,medium,high",), show_default=True,
              help="Electronic noise levels drawn per sample (comma-separated or repeated): low, medium, high.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel processes (local executor; on Ray the cluster's CPUs are the parallelism).")
@click.option("--seed", type=int, default=0, show_default=True, help="Global seed; sample i uses (seed, i).")
@click.option("--task-folder", type=click.Path(file_okay=False), default=None,
              help="Also freeze the result as a task version folder (task.json + manifest.json).")
@click.option("--task-id", default=None, help="Task id for --task-folder (default: sim-<preset>).")
@click.option("--task-version", type=int, default=1, show_default=True)
@click.option("--imaging", type=click.Choice(list(IMAGING_PRESETS)), default="if2", show_default=True,
              help="Image formation: if2 (the committed tasks' 3 MHz system) or if3-l7-4 (image formation 3: "
                   "L7-4 probe, 5.2 MHz, three compounded plane waves).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@executor_options
@handle_errors
def simulate(preset, n, out, backend, noise_levels, workers, seed, task_folder, task_id, task_version, imaging,
             quiet, executor, address):
    """Simulate B-mode images with exact labels (resumable: finished samples are skipped)."""
    from .dataset import generate

    check_address(executor, address)
    result = generate(preset, n, out, backend=backend, noise_levels=_levels(noise_levels), workers=workers,
                      seed=seed, phys=imaging_preset(imaging), progress=not quiet, executor=executor.value, address=address)
    click.echo(f"{result['done']} samples in {out} ({result['generated']} generated now); index: {result['index']}")
    if task_folder:
        from .task import freeze_task

        task = freeze_task(out, task_folder, task_id or f"sim-{preset}", task_version)
        click.echo(f"Froze task {task.ref} in {task_folder} (digest {task.digest[:12]}); on the task search path, "
                   f"`sonobench baselines floors {task.ref}` builds and scores its no-skill floors")
