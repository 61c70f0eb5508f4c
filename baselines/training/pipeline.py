"""One baseline end to end: train -> export ONNX -> measure the generalization
gaps -> submit through the sandboxed evaluator (kind="baseline"), as any user.

Generalization gaps (seed 001): the exported ONNX file is scored in-process
with onnxruntime on train, val and test, using the evaluator's own
pre-processing and Dice/IoU code (scoring.py). They must be known before the
submission is stored, because the store keeps them in the submission's meta.
The test labels are read only after the checkpoint is frozen; the in-process
test Dice equals the evaluator's result (both run the same file through
onnxruntime), and the record keeps both so that can be checked. Where a
profile sets `train_eval_cases`, the train side uses a fixed stratified subset.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sonobench.evaluator import __version__ as evaluator_version
from sonobench.evaluator.evaluate import Request, evaluate
from sonobench.evaluator.follow_ups import score_shifts
from sonobench.evaluator.metrics import always_stored_metrics, count_metrics
from sonobench.evaluator.sandbox import SandboxConfig
from sonobench.evaluator.store import Store
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.task_sets import follow_up_sets
from sonobench.evaluator.tasks import Task, user_data_dir
from sonobench.kernel.errors import AlreadyScored
from sonobench.kernel.settings import Settings, load_settings
from sonobench.zoo import model_config

from ..convergence import verdict
from ..recipes import Profile
from ..reference import stored_predictions
from .data import Samples, cv_splits, eval_subset, load_split
from .env import git_commit, hardware
from .export import check_parity, export_onnx, exportable
from .loop import train_model
from .scoring import score_onnx

TEAM = "SonoBench baselines"
GAP_METHOD = ("exported ONNX scored in-process with onnxruntime and the evaluator's pre-processing and "
              "Dice/IoU code on train, val and test")
Log = Callable[[str], None]


@dataclass
class TaskData:
    """A task's splits in memory, loaded once for every model of a run."""
    task: Task
    train: Samples
    val: Samples
    test: Samples

    @classmethod
    def load(cls, task: Task, labels_root=None) -> "TaskData":
        return cls(task, load_split(task, "train"), load_split(task, "val"),
                   load_split(task, "test", labels_root))

    def folds(self, k: int, seed: int) -> list[tuple[Samples, Samples]]:
        """Stratified K-fold over train + val; the test split stays out of it."""
        return cv_splits(Samples.concat([self.train, self.val]), k, seed)


def default_out_dir() -> Path:
    return user_data_dir() / "baselines"


def display_name(model: str, profile: Profile, fold: tuple[int, int] | None = None, tag: str | None = None) -> str:
    extras = (["flip TTA"] if profile.tta else []) + ([f"fold {fold[0] + 1}/{fold[1]}"] if fold else []) + (
        [tag] if tag else [])
    return f"{model} ({', '.join([profile.name, *extras])})"


def _gaps(scores: dict) -> dict:
    """Train->test and val->test differences of each metric the trainer scores (the registry's
    count-based ones: dice, iou), e.g. 'train_test_dice'."""
    test = scores["test"]
    return {f"{split}_test_{m}": scores[split][m] - test[m] for m in count_metrics() for split in ("train", "val")}


def _save_checkpoint(folder: Path, model: torch.nn.Module, history: list[dict]) -> None:
    torch.save(model.state_dict(), folder / "best_state_dict.pt")
    (folder / "architecture.json").write_text(json.dumps(model_config(model), indent=2) + "\n")
    (folder / "history.json").write_text(json.dumps(history, indent=1) + "\n")


def _training_meta(data: TaskData, profile: Profile, result, scores, device, split_info) -> dict:
    git = git_commit()
    return {
        "history": result.history, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "convergence": verdict(result.history, profile.to_dict(), result.stopped_early), "profile": profile.name, "recipe": profile.to_dict(),
        "seed": profile.seed, "wall_s": result.wall_s, "cpu_s": result.cpu_s,
        "hardware": hardware(device, profile.threads), "git_commit": git["commit"], "git_dirty": git["dirty"],
        "gaps": _gaps(scores), "gap_scores": scores, "gap_method": GAP_METHOD,
        "data": split_info, "evaluator_version": evaluator_version, "manifest_digest": data.task.digest,
    }


@dataclass
class Trained:
    """A trained, exported baseline, not yet submitted (what a Ray task sends back)."""
    model: str
    profile: Profile
    name: str
    folder: Path
    onnx_path: Path
    architecture: dict
    parity: float
    meta: dict
    wall_s: float
    params_pytorch: int = 0   # sum(p.numel()) of the trained module: the count papers report


def run_tag(start=None, style=None) -> str | None:
    """Folder / name suffix that keeps a pretrained or style-adapted run apart from the scratch one."""
    parts = [start.tag if start is not None else None, style.tag if style is not None else None]
    return "-".join(p for p in parts if p) or None


def run_folder(task: Task, model: str, profile: Profile, out_dir: Path | None = None,
               fold: tuple[int, int] | None = None, tag: str | None = None) -> Path:
    folder = Path(out_dir or default_out_dir()) / task.id / (
        f"{model}-{profile.name}{'-tta' if profile.tta else ''}{f'-{tag}' if tag else ''}")
    return folder / f"fold{fold[0] + 1}of{fold[1]}" if fold else folder


def train_and_export(data: TaskData, model: str, profile: Profile, *, folder: Path, device: str = "cpu",
                     fold: tuple[int, int] | None = None, bar=None, start=None, style=None) -> Trained:
    """Train `model`, save the checkpoint, export ONNX and score the gaps into `folder`.
    `start` (transfer.Start): the starting weights (pretraining / --init); `style`: a
    train-time style adaptation of the batches (simulation.style.StyleBatches)."""
    task = data.task
    train, val = data.folds(fold[1], profile.seed)[fold[0]] if fold else (data.train, data.val)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    result = train_model(model, train, val, task, profile, device, bar=bar, init=start, style=style)
    _save_checkpoint(folder, result.model, result.history)
    net = exportable(result.model, profile.tta)
    onnx_path = export_onnx(net, folder / f"{model}-{profile.name}.onnx", task.input_size, task.input_channels)
    parity = check_parity(net, onnx_path, val.images[:profile.batch_size])
    threads = profile.threads
    scores = {"train": score_onnx(onnx_path, eval_subset(train, profile.train_eval_cases, profile.seed),
                                  task.num_classes, threads),
              "val": score_onnx(onnx_path, val, task.num_classes, threads),
              "test": score_onnx(onnx_path, data.test, task.num_classes, threads)}
    split_info = {"train_cases": len(train), "val_cases": len(val), "test_cases": len(data.test),
                  "train_scored_cases": scores["train"]["n"], "fold": fold[0] + 1 if fold else None,
                  "folds": fold[1] if fold else None,
                  "cv": "stratified K-fold over train+val by mask (empty vs classes present)" if fold else None}
    meta = _training_meta(data, profile, result, scores, device, split_info)
    if start is not None:  # both phases' histories: `history` is the fine-tuning, this the pretraining
        meta["pretraining"] = {**start.record, "fit": result.extra.get("init")}
    if style is not None:
        meta["style"] = style.describe()
    return Trained(model, profile, display_name(model, profile, fold, run_tag(start, style)), folder, onnx_path,
                   model_config(result.model), parity, meta, time.monotonic() - t0, sum(p.numel() for p in result.model.parameters()))


def submit_trained(store: Store, task: Task, trained: Trained, *, sandbox: SandboxConfig | None = None,
                   labels_root=None, log: Log = print, settings: Settings | None = None) -> dict:
    """Submit a trained baseline through the sandboxed evaluator; returns the run record (also run.json).
    `settings`: the operator settings (loaded once here when not given)."""
    t0 = time.monotonic()
    settings = settings or load_settings()
    sub = prepare(trained.onnx_path, name=trained.name, team=TEAM, architecture=trained.architecture)
    request = Request.for_task(task, kind="baseline", extra_meta={"training": trained.meta},
                               labels_root=str(labels_root) if labels_root else None)
    try:
        outcome = evaluate(store, task, sub, settings=settings, config=sandbox, request=request)
        sid, reused = outcome.submission_id, False
    except AlreadyScored as e:  # a bit-identical model is already in this store
        log(f"{trained.name}: this exact ONNX file was already scored as #{e.submission_id}; reusing that result")
        sid, reused = e.submission_id, True
    # Like every submission to a task with acquisition-shift sets: scored on each after the main result.
    shifts = score_shifts(store, task, sub, request, settings, sid, log=log) if follow_up_sets(task, request) else []
    record = {"model": trained.model, "profile": trained.profile.name, "name": trained.name, "task": task.ref,
              "architecture": trained.architecture, "submission_id": sid, "reused": reused,
              "onnx": {"path": str(trained.onnx_path), "sha256": sub.sha256, "bytes": trained.onnx_path.stat().st_size,
                       "parity_rel": trained.parity},
              "result": store.result_for(sid), "cases": store.case_results(sid), "training": trained.meta,
              "params_pytorch": trained.params_pytorch,
              "test_predictions": stored_predictions(store, sid),
              "shifts": shift_records(store, shifts),
              "pipeline_wall_s": trained.wall_s + time.monotonic() - t0}
    (trained.folder / "run.json").write_text(json.dumps({k: v for k, v in record.items() if k not in ("test_predictions", "shifts")},
                                                        indent=1, default=str) + "\n")
    return record


def shift_records(store: Store, outcomes) -> dict[str, dict]:
    """{shift-set task ref: its result, per-case rows and predictions} of the scored shift sets
    (a failed set is left out; its error is on its own submission row)."""
    out = {}
    for o in outcomes:
        result = None if o.submission_id is None else store.result_for(o.submission_id)
        if result is None:
            continue
        out[o.task] = {"result": result, "cases": store.case_results(o.submission_id),
                       "test_predictions": stored_predictions(store, o.submission_id)}
    return out


def run_baseline(data: TaskData, model: str, profile: Profile, *, store: Store, out_dir: Path | None = None,
                 device: str = "cpu", fold: tuple[int, int] | None = None, bar=None,
                 sandbox: SandboxConfig | None = None, labels_root=None, log: Log = print,
                 start=None, style=None, settings: Settings | None = None) -> dict:
    """Train `model`, export, score the gaps, submit. Returns the run record (also run.json)."""
    folder = run_folder(data.task, model, profile, out_dir, fold, run_tag(start, style))
    trained = train_and_export(data, model, profile, folder=folder, device=device, fold=fold, bar=bar,
                               start=start, style=style)
    return submit_trained(store, data.task, trained, sandbox=sandbox, labels_root=labels_root, log=log,
                          settings=settings)


def cv_summary(records: list[dict]) -> dict:
    """Mean ± std over folds of each fold model's test aggregates (seed 002's reporting)."""
    out = {"folds": len(records)}
    for m in always_stored_metrics():  # every result has these, old or new
        values = [r["result"][f"{m}_mean"] for r in records]
        out[m] = {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                  "per_fold": values}
    return out
