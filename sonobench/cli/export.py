"""`sonobench export`: a thin click wrapper over evaluator/export.py."""
from __future__ import annotations

import click

from sonobench.data.export import ExportFormat
from sonobench.data.export import export as export_task
from sonobench.evaluator.tasks import SPLITS
from sonobench.kernel.clitools import handle_errors
from sonobench.kernel.errors import SonoBenchError


def _size(value: str):
    """--size: "native", "input" or HxW (e.g. 256x256)."""
    if value in ("native", "input"):
        return None if value == "native" else value
    h, sep, w = value.lower().partition("x")
    if sep and h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0:
        return (int(h), int(w))
    raise SonoBenchError(f"--size takes native, input or HxW (e.g. 256x256), not {value!r}")


@click.command("export")
@click.argument("task")
@click.option("--format", "fmt", default=None, type=click.Choice([f.value for f in ExportFormat]),
              help="nnunet: nnU-Net v2 raw dataset; npz: MedSegBench-style arrays; folders: image/mask PNG folders "
              "(the default with --images-only; required otherwise).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write into (for nnunet: your nnUNet_raw; the DatasetNNN_<Name> folder is made in it).")
@click.option("--split", "splits", multiple=True, type=click.Choice(SPLITS),
              help="Split to export (repeatable). Default: every split; a private test split goes out as images only.")
@click.option("--images-only", is_flag=True,
              help="Write images without labels. With --split test, the folders format also writes each "
              "acquisition-shift set's test images under shifts/<set>/images/: what `sonobench submit "
              "--predictions` takes masks for.")
@click.option("--size", "size", default="native", show_default=True,
              help="native, input (the task's model input size) or HxW; images resize bilinearly, masks nearest.")
@click.option("--dataset-id", type=click.IntRange(1, 999), default=501, show_default=True,
              help="nnU-Net dataset id (the NNN of DatasetNNN_<Name>).")
@handle_errors
def export(task, fmt, out, splits, images_only, size, dataset_id):
    """Write TASK's splits (verified against the manifest) for training elsewhere.

    TASK is TASK, TASK@VERSION or pretrain:NAME (a pretraining set). Test labels leave only when
    the task publishes them.
    """
    if fmt is None:
        if not images_only:
            raise SonoBenchError(f"Name the format: --format {'|'.join(f.value for f in ExportFormat)} (only an "
                                 "--images-only export defaults to folders)")
        fmt = ExportFormat.FOLDERS.value
    report = export_task(task, fmt, out, splits=splits or None, images_only=images_only, size=_size(size),
                         dataset_id=dataset_id)
    parts = ", ".join(f"{s} {n}{'' if report.labelled[s] else ' (images only)'}" for s, n in report.counts.items())
    click.echo(f"{report.task}: wrote {parts} cases as {report.format} to {report.path}")
    for note in report.notes:
        click.echo(f"Note: {note}")
    if report.format == "nnunet" and "val" in report.counts:
        click.echo("nnU-Net: copy splits_final.json into nnUNet_preprocessed/<dataset>/ after planning so that "
                   "fold 0 trains on the frozen train split and validates on val.")
