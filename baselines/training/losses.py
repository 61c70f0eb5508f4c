"""Dice + BCE (binary, one logit channel) and Dice + class-weighted CE (multi-class).

Soft Dice is taken over the whole batch ("batch Dice"): a per-image soft Dice is
ill-defined on images without lesion, which breast ultrasound sets contain on purpose.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SMOOTH = 1.0


def soft_dice(prob: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """Soft Dice per channel over batch and pixels; prob/onehot: N x K x H x W."""
    dims = (0, 2, 3)
    inter = (prob * onehot).sum(dims)
    return (2 * inter + SMOOTH) / (prob.sum(dims) + onehot.sum(dims) + SMOOTH)


def inverse_frequency_weights(targets: np.ndarray, num_classes: int) -> list[float]:
    """Per-class CE weights ∝ 1 / pixel frequency, normalised to mean 1 (absent classes get 1)."""
    counts = np.bincount(targets.ravel(), minlength=num_classes).astype(np.float64)
    freq = counts / counts.sum()
    w = np.where(freq > 0, 1.0 / np.maximum(freq, 1e-12), 0.0)
    w = w / w[w > 0].mean() if (w > 0).any() else np.ones(num_classes)
    return [float(v) if v > 0 else 1.0 for v in w]


class SegLoss(nn.Module):
    """`num_classes` = the task's class count including background (2 = binary)."""

    def __init__(self, num_classes: int, class_weights: list[float] | None = None, dice: bool = True):
        super().__init__()
        self.num_classes, self.dice = num_classes, dice
        weights = torch.tensor(class_weights or [1.0] * num_classes, dtype=torch.float32)
        self.register_buffer("class_weights", weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.num_classes == 2:
            t = target.unsqueeze(1).float()
            bce = F.binary_cross_entropy_with_logits(logits, t)
            return bce + 1 - soft_dice(torch.sigmoid(logits), t).mean() if self.dice else bce
        ce = F.cross_entropy(logits, target, weight=self.class_weights)
        if not self.dice:
            return ce
        onehot = F.one_hot(target, self.num_classes).permute(0, 3, 1, 2).float()
        dice = soft_dice(torch.softmax(logits, 1), onehot)[1:].mean()
        return ce + 1 - dice


def predict_labels(logits: torch.Tensor) -> torch.Tensor:
    """N x K x H x W logits -> N x H x W class indices (sigmoid > 0.5, i.e. logit > 0, for K = 1)."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(1)


def batch_scores(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> list[dict[str, float]]:
    """Per sample of a (CPU) batch of label maps, the evaluator's count-based scores (Dice, IoU:
    macro over the foreground classes the target has, None without one) from `scoring.label_scores`."""
    from .scoring import label_scores

    return [label_scores(p.numpy(), t.numpy(), num_classes) for p, t in zip(pred, target)]
