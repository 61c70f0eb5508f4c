"""Intersection over union (Jaccard index) of two boolean masks."""
from __future__ import annotations

import numpy as np

from ._checks import check_mask_pair


def iou_from_counts(tp: int, fp: int, fn: int) -> float:
    """TP / (TP + FP + FN), with both-empty (all counts 0) defined as 1."""
    union = tp + fp + fn
    return 1.0 if union == 0 else tp / float(union)


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two 2-D boolean masks of equal shape (medpy's `jc`, with both empty -> 1)."""
    pred, gt = check_mask_pair(pred, gt)
    tp = int(np.count_nonzero(pred & gt))
    return iou_from_counts(tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(gt)) - tp)
