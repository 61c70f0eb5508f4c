"""Your first SonoBench model, end to end, on a laptop CPU.

1. load the task's train and val splits with the data API (`sonobench.data.load_split`),
2. train a small U-Net for a few minutes (`--seconds`, default 300),
3. export it to ONNX (the evaluator's model contract: N x 1 x H x W in [0, 1] -> N x K x H x W logits),
4. `sonobench check` it (the contract, on two validation cases; nothing stored),
5. `sonobench submit` it (sandboxed inference on the test split, scored and stored),
6. print its rank on the board and its primary metric against the task's no-skill floors.

    python examples/first_model.py                          # sim-breast-lesion, 5 minutes of training
    python examples/first_model.py --seconds 30 --out my-run     # a quick try
    python examples/first_model.py --epochs 2 --threads 1         # what CI runs (under a minute of training)

The store is `<out>/results.db` unless `--db` names another. The task's committed reference rows
(and its no-skill floors, where the checkout has them) are loaded into it first, as `sonobench demo`
does, so the board shows your row among them (`--no-references` skips this). Floors are the board's
rows of kind "floor"; without any, the all-background prediction is scored here with the
evaluator's own metrics.
Use `--json` to get the outcome as one JSON object on the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sonobench.cli.table import lazy_hook
from sonobench.data import load_split
from sonobench.evaluator.scoring import score_prediction
from sonobench.evaluator.store import Store
from sonobench.evaluator.summary import summary_columns
from sonobench.evaluator.tasks import get_task

# ---------------------------------------------------------------- 1. the data

def load_data(task_ref: str):
    """Train and val at the task's model input size, verified against the frozen manifest."""
    train = load_split(task_ref, "train", size="input")
    val = load_split(task_ref, "val", size="input")
    print(f"[data] {train.task}: {len(train)} train / {len(val)} val images of {train.size[0]}x{train.size[1]}, "
          f"classes {', '.join(train.classes)}, spacing {train.spacing_mm} mm, manifest {train.digest[:12]}")
    return train, val


# ---------------------------------------------------------------- 2. the model and its training

def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """A three-level U-Net that works at a quarter of the input resolution (fast on a CPU) and
    returns full-size logits."""

    def __init__(self, in_channels: int = 1, classes: int = 2, width: int = 16, scale: int = 4):
        super().__init__()
        self.enc1, self.enc2 = block(in_channels, width), block(width, 2 * width)
        self.enc3 = block(2 * width, 4 * width)
        self.dec2, self.dec1 = block(6 * width, 2 * width), block(3 * width, width)
        self.head = nn.Conv2d(width, classes, 1)
        self.scale = scale

    def forward(self, x):
        e1 = self.enc1(F.avg_pool2d(x, self.scale))
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([F.interpolate(e3, scale_factor=2.0, mode="bilinear"), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0, mode="bilinear"), e1], 1))
        return F.interpolate(self.head(d1), scale_factor=float(self.scale), mode="bilinear")


def loss_fn(logits, target, classes: int):
    """Cross-entropy plus soft Dice over the foreground classes (small lesions need the Dice term)."""
    prob = logits.softmax(1)[:, 1:]
    onehot = F.one_hot(target, classes).permute(0, 3, 1, 2)[:, 1:].float()
    dice = (2 * (prob * onehot).sum((0, 2, 3)) + 1) / (prob.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1)
    return F.cross_entropy(logits, target) + (1 - dice.mean())


def val_dice(model, x, y, classes: int) -> float:
    """Mean foreground Dice over the val images that contain the class (a quick training signal)."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 8]).argmax(1) for i in range(0, len(x), 8)])
    scores = []
    for c in range(1, classes):
        p, t = pred == c, y == c
        has = t.flatten(1).any(1)
        inter = (p & t).flatten(1).sum(1).float()
        d = 2 * inter / (p.flatten(1).sum(1) + t.flatten(1).sum(1)).clamp(min=1)
        scores += d[has].tolist()
    return float(np.mean(scores)) if scores else 0.0


def train(train_set, val_set, channels: int, seconds: float, epochs: int | None = None,
          seed: int = 0) -> nn.Module:
    """Adam with flips for a wall-clock budget (or `epochs`, whichever ends first); keeps the
    weights of the best val Dice. Seeded: a fixed number of epochs gives the same model."""
    torch.manual_seed(seed)
    classes = train_set.num_classes
    x, y = torch.from_numpy(train_set.inputs(channels)), torch.from_numpy(train_set.labels.astype(np.int64))
    xv, yv = torch.from_numpy(val_set.inputs(channels)), torch.from_numpy(val_set.labels.astype(np.int64))
    model = SmallUNet(channels, classes)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    best, best_state, epoch, start = -1.0, None, 0, time.monotonic()
    while time.monotonic() - start < seconds and (epochs is None or epoch < epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(4):
            xb, yb = x[idx], y[idx]
            if torch.rand(()) < 0.5:
                xb, yb = xb.flip(-1), yb.flip(-1)
            opt.zero_grad()
            loss_fn(model(xb), yb, classes).backward()
            opt.step()
            if time.monotonic() - start > seconds:
                break
        epoch += 1
        score = val_dice(model, xv, yv, classes)
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
        print(f"[train] epoch {epoch}: val Dice {score:.3f} (best {best:.3f}), {time.monotonic() - start:.0f} s")
    model.load_state_dict(best_state)
    return model.eval()


# ---------------------------------------------------------------- 3. ONNX

def export_onnx(model: nn.Module, path: Path, channels: int, size) -> Path:
    dummy = torch.zeros(1, channels, *size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, opset_version=17, dynamo=False)
    print(f"[onnx] {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


# ---------------------------------------------------------------- 4-5. check and submit

def sonobench(*args: str) -> str:
    """Run `sonobench ARGS` (with this Python, so it uses the same install) and return its stdout."""
    print("$ sonobench " + " ".join(args), flush=True)
    out = subprocess.run([sys.executable, "-c", "from sonobench.cli import main; main()", *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"sonobench {args[0]} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


# ---------------------------------------------------------------- 6. against the floors

def all_background_score(task_ref: str) -> float:
    """The task's primary metric for predicting background everywhere, scored like a submission."""
    task = get_task(task_ref)
    per_case = [score_prediction(task, c, np.zeros_like(img)) for c, img in
                zip(task.split("test"), load_split(task, "test").images)]
    return summary_columns(task, per_case)[f"{task.primary_metric}_mean"]


def load_references(task, db: Path) -> None:
    """The committed reference rows (and floors) of `task`, as `sonobench demo` loads them."""
    loader = lazy_hook("reference_loader")
    if loader is None:
        print("[board] the reference rows are not installed here (baselines package); the board holds your row only")
        return
    added = loader(Store(db), task, log=lambda m: print(f"[board] {m}"))
    print(f"[board] {added} reference row(s) of {task.ref} loaded into {db}")


def report(task_ref: str, submission_id: int, db: Path) -> dict:
    board = json.loads(sonobench("leaderboard", task_ref, "--format", "json", "--db", str(db)))
    metric = board["metric"]
    rows = {r["submission_id"]: r for r in board["rows"]}
    mine = rows[submission_id]
    floors = {r["name"]: (r[f"{metric}_mean"], r.get("rank")) for r in board["rows"] if r.get("kind") == "floor"}
    if not floors:
        floors = {"all background (scored here)": (all_background_score(task_ref), None)}
    value = mine[f"{metric}_mean"]
    print(f"\nYour model: rank {mine.get('rank')} of {len(rows)} on {board['task']}, {metric} {value:.3f}")
    for name, (floor, rank) in floors.items():
        verdict = "above" if value > floor else "NOT above"
        print(f"  {verdict} the floor '{name}': {metric} {floor:.3f}" + (f" (rank {rank})" if rank else ""))
    return {"task": board["task"], "submission_id": submission_id, "metric": metric, "value": value,
            "rank": mine.get("rank"), "floors": {k: v[0] for k, v in floors.items()}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="sim-breast-lesion", help="task id or id@version")
    ap.add_argument("--seconds", type=float, default=300, help="training budget in wall-clock seconds")
    ap.add_argument("--epochs", type=int, default=None, help="stop after this many epochs (if the budget lasts)")
    ap.add_argument("--out", type=Path, default=Path("first-model"), help="folder for the model and the store")
    ap.add_argument("--db", type=Path, default=None, help="results store (default: OUT/results.db)")
    ap.add_argument("--name", default="my-first-model")
    ap.add_argument("--team", default="me")
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--no-references", action="store_true", help="do not load the committed reference rows")
    ap.add_argument("--json", action="store_true", help="print the outcome as JSON on the last line")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.db or args.out / "results.db"

    task = get_task(args.task)
    train_set, val_set = load_data(task.ref)
    model = train(train_set, val_set, task.input_channels, args.seconds, args.epochs)
    onnx_path = export_onnx(model, args.out / f"{args.name}.onnx", task.input_channels, task.input_size)
    print(sonobench("check", str(onnx_path), "--task", task.ref))
    if not args.no_references:
        load_references(task, db)
    submitted = json.loads(sonobench("submit", str(onnx_path), "--task", task.ref, "--name", args.name,
                                     "--team", args.team, "--db", str(db), "--json"))
    outcome = report(task.ref, submitted["submission_id"], db)
    if args.json:
        print(json.dumps(outcome))
    return outcome


if __name__ == "__main__":
    main()
