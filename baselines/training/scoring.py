"""Dice/IoU of model outputs, computed exactly as the evaluator does: logits at
the input size -> `imageio.to_labels` at each case's native size -> the
evaluator's confusion counts -> Dice/IoU per foreground class (both empty = 1),
macro mean over classes, mean over cases. HD95 is left to the evaluator.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from evaluator import imageio
from evaluator.metrics.case import confusion_counts
from evaluator.metrics.dice import dice_from_counts
from evaluator.metrics.iou import iou_from_counts

from .data import Samples


def case_scores(scores: np.ndarray, label: np.ndarray, num_classes: int) -> tuple[float, float]:
    """Dice and IoU (macro over foreground classes) of one case's K x h x w logits."""
    pred = imageio.to_labels(scores.astype(np.float32, copy=False), label.shape, "logits")
    cm = confusion_counts(pred, label, num_classes)
    dice, iou = [], []
    for c in range(1, num_classes):
        tp = int(cm[c, c]); fp = int(cm[:, c].sum()) - tp; fn = int(cm[c, :].sum()) - tp
        dice.append(dice_from_counts(tp, fp, fn)); iou.append(iou_from_counts(tp, fp, fn))
    return float(np.mean(dice)), float(np.mean(iou))


def summarize(dices: list[float], ious: list[float]) -> dict:
    return {"dice": float(np.mean(dices)), "iou": float(np.mean(ious)), "n": len(dices)}


def torch_logits(model: torch.nn.Module, samples: Samples, batch: int, device: str,
                 tta: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(index, K x h x w float32 logits) per sample, in eval mode without gradients."""
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(samples), batch):
            x = torch.from_numpy(samples.images[start:start + batch]).to(device)
            y = model(x)
            if tta:
                y = (y + model(x.flip(-1)).flip(-1)) / 2
            for j, out in enumerate(y.float().cpu().numpy()):
                yield start + j, out


def score_torch(model, samples: Samples, num_classes: int, batch: int, device: str, tta: bool = False) -> dict:
    pairs = [case_scores(out, samples.labels[i], num_classes)
             for i, out in torch_logits(model, samples, batch, device, tta)]
    return summarize([p[0] for p in pairs], [p[1] for p in pairs])


def onnx_session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def score_onnx(path: str | Path, samples: Samples, num_classes: int, threads: int | None = None) -> dict:
    """Score an exported model case by case (batch 1, like the sandbox) with onnxruntime."""
    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    dices, ious = [], []
    for i in range(len(samples)):
        out = session.run(None, {name: samples.images[i:i + 1]})[0][0]
        d, u = case_scores(out, samples.labels[i], num_classes)
        dices.append(d); ious.append(u)
    return summarize(dices, ious)
