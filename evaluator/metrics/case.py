"""Score one case: per foreground class, Dice, IoU, HD95 and the TP/FP/FN pixel counts."""
from __future__ import annotations

import numpy as np

from ._checks import check_label_pair, check_positive_int, check_spacing
from .dice import dice_from_counts
from .hd95 import hd95_unchecked
from .iou import iou_from_counts


def confusion_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """K x K matrix, [g, p] = number of pixels of true class g predicted as class p."""
    flat = gt.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def score_case(pred_labels: np.ndarray, gt_labels: np.ndarray, num_classes: int, spacing=None) -> dict[int, dict]:
    """Per foreground class c in 1..num_classes-1 of one case:
    {"dice", "iou", "hd95" (float), "tp", "fp", "fn" (int pixel counts)}.

    `pred_labels`, `gt_labels`: 2-D integer label maps of equal shape (0 = background).
    `spacing`: (row_mm, col_mm), one number, or None; HD95 is in mm with it, pixels without.
    Empty masks follow the benchmark's policy (see DESIGN.md): never NaN, never skipped."""
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    pred_labels, gt_labels = check_label_pair(pred_labels, gt_labels, num_classes)
    spacing = check_spacing(spacing)
    cm = confusion_counts(pred_labels, gt_labels, num_classes)
    out: dict[int, dict] = {}
    for c in range(1, num_classes):
        tp = int(cm[c, c])
        fp = int(cm[:, c].sum()) - tp
        fn = int(cm[c, :].sum()) - tp
        out[c] = {
            "dice": dice_from_counts(tp, fp, fn),
            "iou": iou_from_counts(tp, fp, fn),
            "hd95": _class_hd95(pred_labels, gt_labels, c, tp + fp, tp + fn, spacing),
            "tp": tp, "fp": fp, "fn": fn,
        }
    return out


def _class_hd95(pred, gt, c, n_pred, n_gt, spacing) -> float:
    if n_pred == 0 and n_gt == 0:  # skip building masks for absent classes
        return 0.0
    return hd95_unchecked(pred == c, gt == c, spacing)
