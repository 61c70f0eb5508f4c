"""The training loop: AdamW (or Adam), ReduceLROnPlateau on validation Dice (or StepLR), early
stopping, best-on-validation-Dice checkpoint, AMP on CUDA only.

History rows (one per epoch): train_loss / train_dice / train_iou are averaged
over the (augmented, possibly cropped) batches the model was trained on;
val_loss / val_dice / val_iou are measured on the whole validation split at
the input size and scored like the evaluator (see scoring.py); val_dice_ema
is the smoothed val Dice that early stopping and the LR schedule follow (the
raw one when the profile's `ema` is 0); lr is the learning rate the epoch ran
with; time_s its wall time.

Early stopping counts the epochs since the smoothed val Dice last beat its best
by more than `min_delta`; the kept checkpoint is the epoch of the best raw val
Dice. With 40 validation cases the raw Dice swings by ~0.1 from one epoch to
the next, so a raw "no new best for N epochs" rule stops on noise; the EMA
follows the trend (baselines/convergence.py judges the curve afterwards).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from sonobench.evaluator.metrics import count_metrics
from sonobench.evaluator.tasks import Task
from sonobench.zoo import create_model

from ..convergence import may_stop
from ..recipes import Profile
from .augment import augment, make_batch
from .data import Samples
from .env import cpu_seconds, deterministic
from .losses import SegLoss, batch_scores, inverse_frequency_weights, predict_labels
from .scoring import case_scores, summarize

MIN_BATCH = 2  # a last batch of one sample is dropped (BatchNorm needs two)


@dataclass
class TrainResult:
    model: nn.Module           # best-on-validation weights, eval mode, on the CPU
    history: list[dict]
    best_epoch: int
    best: dict                 # validation loss / Dice / IoU of the best epoch
    epochs_run: int
    stopped_early: bool
    wall_s: float
    cpu_s: float
    extra: dict = field(default_factory=dict)


def output_channels(task: Task) -> int:
    """One logit channel for a binary task, else one per class (background included)."""
    return 1 if task.num_classes == 2 else task.num_classes


def epoch_order(n: int, samples: int | None, g: torch.Generator) -> list[int]:
    """Indices one epoch visits: a permutation, repeated and cut when `samples` is set."""
    if samples is None:
        return torch.randperm(n, generator=g).tolist()
    order: list[int] = []
    while len(order) < samples:
        order += torch.randperm(n, generator=g).tolist()
    return order[:samples]


def _batches(order: list[int], size: int) -> list[list[int]]:
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    return [c for c in chunks if len(c) >= min(MIN_BATCH, size)]


class _Run:
    """State of one training run; `fit` drives it epoch by epoch."""

    def __init__(self, name: str, train: Samples, val: Samples, task: Task, profile: Profile, device: str,
                 init=None, style=None):
        self.train, self.val, self.task, self.p, self.device = train, val, task, profile, device
        self.model = create_model(name, in_channels=task.input_channels, num_classes=output_channels(task))
        self.init_report = init(self.model) if init is not None else None  # starting weights (transfer.py)
        self.model = self.model.to(device)
        self.style = style  # sim -> real style adaptation of the training batches (transfer.StyleBatches)
        self.layout = torch.channels_last if profile.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.layout)
        weights = inverse_frequency_weights(train.targets, task.num_classes) if task.num_classes > 2 else None
        self.criterion = SegLoss(task.num_classes, weights, dice=profile.loss == "dice+ce").to(device)
        optimizer = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[profile.optimizer]
        self.opt = optimizer(self.model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay, foreach=True)
        if profile.lr_schedule == "step":
            self.sched = torch.optim.lr_scheduler.StepLR(self.opt, step_size=profile.step_size, gamma=profile.step_gamma)
        else:
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.opt, mode="max", factor=profile.plateau_factor, patience=profile.plateau_patience,
                min_lr=profile.min_lr)
        self.amp = profile.amp and device == "cuda"
        self.amp_dtype = getattr(torch, profile.amp_dtype)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.gen = torch.Generator().manual_seed(profile.seed)

    def _autocast(self):
        return torch.autocast("cuda", dtype=self.amp_dtype, enabled=self.amp)

    def train_epoch(self, bar) -> dict:
        self.model.train()
        losses, cases, n = 0.0, [], 0
        for index in _batches(epoch_order(len(self.train), self.p.samples_per_epoch, self.gen), self.p.batch_size):
            x, y = make_batch(self.train.images, self.train.targets, index, self.p.crop, self.p.foreground_crop,
                              self.gen)
            if self.style is not None:
                x = self.style(x, self.gen)
            x, y = x.to(self.device), y.to(self.device)
            if self.p.augment.enabled:
                x, y = augment(x, y, self.p.augment, self.gen)
            x = x.contiguous(memory_format=self.layout)
            with self._autocast():
                logits = self.model(x)
                loss = self.criterion(logits, y)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            losses += float(loss.detach()) * len(index); n += len(index)
            cases += batch_scores(predict_labels(logits.detach()).cpu(), y.cpu(), self.task.num_classes)
            if bar is not None:
                bar.update(1)
        scores = summarize(cases)
        return {"train_loss": losses / max(n, 1), **{f"train_{m}": scores[m] for m in count_metrics()}}

    def validate(self) -> dict:
        self.model.eval()
        loss, cases = 0.0, []
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(self.val), self.p.batch_size):
                stop = min(start + self.p.batch_size, len(self.val))
                x = torch.from_numpy(self.val.images[start:stop]).to(self.device).contiguous(memory_format=self.layout)
                y = torch.from_numpy(self.val.targets[start:stop].astype(np.int64)).to(self.device)
                logits = self.model(x)
                loss += float(self.criterion(logits, y)) * (stop - start)
                # The evaluator's own functions, at each case's native size (scoring.case_scores).
                cases += [case_scores(out, self.val.labels[start + j], self.task.num_classes)
                          for j, out in enumerate(logits.float().cpu().numpy())]
        scores = summarize(cases)
        return {"val_loss": loss / len(self.val), **{f"val_{m}": scores[m] for m in count_metrics()}}


def steps_per_epoch(n_train: int, profile: Profile) -> int:
    return len(_batches(list(range(profile.samples_per_epoch or n_train)), profile.batch_size))


def train_model(name: str, train: Samples, val: Samples, task: Task, profile: Profile, device: str = "cpu",
                bar: Any = None, log: Callable[[str], None] | None = None, init: Callable | None = None,
                style: Callable | None = None, deadline: float | None = None) -> TrainResult:
    """Train architecture `name` with `profile`; `bar` is tqdm-like (update, set_postfix).
    `deadline` (time.monotonic() seconds): no epoch is started that the last one's duration says
    would end after it (a device's time budget); `extra["time_budget"]` then says so.
    `init(model)` sets the starting weights (after the seeded initialisation) and returns a report
    kept in `extra["init"]`; `style(x, generator)` restyles each training batch before augmentation."""
    t0, c0 = time.monotonic(), cpu_seconds()
    with deterministic(profile.seed, device, profile.threads):
        run = _Run(name, train, val, task, profile, device, init=init, style=style)
        history, best, best_state, best_epoch, stale, stopped = [], None, None, 0, 0, False
        smooth, best_smooth, budget_hit = None, None, False
        for epoch in range(1, profile.epochs + 1):
            te = time.monotonic()
            lr = run.opt.param_groups[0]["lr"]
            row = {"epoch": epoch, **run.train_epoch(bar), **run.validate(), "lr": lr}
            smooth = row["val_dice"] if smooth is None else profile.ema * smooth + (1 - profile.ema) * row["val_dice"]
            row["val_dice_ema"] = smooth
            row["time_s"] = time.monotonic() - te
            history.append(row)
            if profile.lr_schedule == "plateau":
                run.sched.step(smooth)
            else:
                run.sched.step()
            if best is None or row["val_dice"] > best["val_dice"]:
                best, best_epoch = row, epoch
                best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
            if best_smooth is None or smooth > best_smooth + profile.min_delta:
                best_smooth, stale = smooth, 0
            else:
                stale += 1
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{row['train_loss']:.3f}", val_dice=f"{row['val_dice']:.3f}",
                                best=f"{best['val_dice']:.3f}@{best_epoch}")
            if log:
                log(f"epoch {epoch}: train loss {row['train_loss']:.4f}, val Dice {row['val_dice']:.4f}")
            if (may_stop(profile.early_stop_patience, epoch, stale, history) if profile.stop_when_converged
                    else stale >= profile.early_stop_patience):
                stopped = True
                break
            if deadline is not None and epoch < profile.epochs and time.monotonic() + row["time_s"] > deadline:
                budget_hit = True  # another epoch would overrun the time budget
                break
        run.model.load_state_dict(best_state)
    model = run.model.cpu().to(memory_format=torch.contiguous_format).eval()
    return TrainResult(model=model, history=history, best_epoch=best_epoch,
                       best={k: best[k] for k in ("val_loss", *(f"val_{m}" for m in count_metrics()))},
                       epochs_run=len(history), stopped_early=stopped,
                       wall_s=time.monotonic() - t0, cpu_s=cpu_seconds() - c0,
                       extra={**({"init": run.init_report} if run.init_report is not None else {}),
                              **({"time_budget": f"stopped after epoch {len(history)}: another epoch would "
                                                 "overrun the time budget"} if budget_hit else {})})
