"""What `sonobench baselines run` trains, declared once (`sonobench.kernel.options`): its
command-line options, the keys of a plan file (`--plan plan.json`) and the fields the command
reads all come from `RunPlan`. A plan file keeps a run reproducible and reviewable:

    {"task": "sim-neck-thyroid@1", "models": ["unet", "unext"], "profile": "full",
     "threads": 2, "update_reference": true}

`sonobench baselines run --plan plan.json --epochs 2` takes the file and overrides its epochs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from sonobench.evaluator.scaleout import Executor
from sonobench.evaluator.scaleout.options import address_field, executor_field
from sonobench.evaluator.tasks import DEFAULT_TASK
from sonobench.kernel.options import option
from sonobench.simulation.style import StyleMethod

# The reference zoo the seeds name: what `baselines run` trains when no model is named.
REFERENCE_MODELS = ("unet", "attunet", "unetpp", "cmunext", "unext", "deeplabv3plus-r50", "fpn-r34", "segformer-b0")


@dataclass(frozen=True)
class RunPlan:
    task: str = field(default=DEFAULT_TASK, metadata=option("Task id or id@version.", show_default=True))
    models: tuple[str, ...] = field(default=(), metadata=option(
        f"Architectures (repeat or comma-separate); default: the seeds' zoo ({', '.join(REFERENCE_MODELS)})."))
    profile: str = field(default="quick", metadata=option(
        "Training profile: quick (CPU smoke), full (the reference setting) or paper (the seeds' GPU recipe).",
        show_default=True))
    folds: int | None = field(default=None, metadata=option(
        "Stratified K-fold CV over train+val (test untouched); every fold model is submitted and mean ± std over "
        "folds is printed."))
    device: str | None = field(default=None, metadata=option(
        "Default: cuda when available.", type=click.Choice(["cpu", "cuda"])))
    epochs: int | None = field(default=None, metadata=option("Override the profile's epoch count (smoke runs)."))
    tta: bool = field(default=False, metadata=option(
        "Bake horizontal-flip test-time augmentation into the exported model."))
    threads: int | None = field(default=None, metadata=option(
        "CPU threads for training (default: the profile's; quick and full use 1 so that reruns are bit-identical; "
        "more threads train faster but land a little apart).", type=click.IntRange(min=1)))
    pretrain: str | None = field(default=None, metadata=option(
        "Pretrain first: a pretraining set (`sonobench pretrain-set list`) trained with --pretrain-profile, or a "
        "local checkpoint file; then fine-tune with --profile.", metavar="SET_OR_CHECKPOINT"))
    pretrain_profile: str = field(default="pretrain", metadata=option(
        "Profile of the pretraining phase.", show_default=True))
    pretrain_epochs: int | None = field(default=None, metadata=option(
        "Override the pretraining profile's epochs.", type=click.IntRange(min=1)))
    init_path: Path | None = field(default=None, metadata=option(
        "Start from a local state_dict (.pt/.pth) or .safetensors file (strict key check).", flag="--init",
        type=click.Path(dir_okay=False, path_type=Path)))
    style_target: Path | None = field(default=None, metadata=option(
        "Folder of unlabelled target-domain images: simulated training images are style-adapted toward it (the "
        "pretraining set with --pretrain SET, else the training split).",
        type=click.Path(exists=True, file_okay=False, path_type=Path)))
    style_method: str = field(default=StyleMethod.FDA.value, metadata=option(
        "fda: Fourier amplitude swap; histogram: histogram matching; speckle: speckle-contrast matching.",
        type=click.Choice([m.value for m in StyleMethod]), show_default=True))
    style_beta: float = field(default=0.01, metadata=option("FDA window (Yang & Soatto 2020).", show_default=True))
    db_path: Path | None = field(default=None, metadata=option(
        "Results store (default: $SONOBENCH_DB or the user data dir).", flag="--db",
        type=click.Path(dir_okay=False, path_type=Path)))
    out_dir: Path | None = field(default=None, metadata=option(
        "Checkpoints, ONNX files, histories (default: <data dir>/baselines).", flag="--out",
        type=click.Path(file_okay=False, path_type=Path)))
    labels_root: Path | None = field(default=None, metadata=option(
        "Folder holding private test labels.", type=click.Path(file_okay=False, path_type=Path)))
    update_reference: bool = field(default=False, metadata=option(
        "Write each result into the task's reference file."))
    reference_dir: Path | None = field(default=None, metadata=option(
        "Folder of reference files (default: the committed baselines/reference).",
        type=click.Path(file_okay=False, path_type=Path)))
    executor: Executor = executor_field()
    address: str | None = address_field()
